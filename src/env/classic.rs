//! Gymnasium's continuous classic-control tasks, reproducing Gymnasium 1.x arithmetic exactly.
//!
//! NumPy mixes float32 and float64 in these envs (float32 actions and stored state, float64
//! physics, NEP 50 "weak" Python scalars), so each operation below is done in the precision
//! NumPy uses for it; the fixture tests (`tests/classic_fixtures.rs`) compare against trajectories
//! recorded from Gymnasium itself.

use super::snapshot::{SnapshotReader, SnapshotWriter};
use super::{BoxSpace, Env, Step};
use crate::render::{Canvas, Frame, View};
use crate::rng::Rng;
use std::f64::consts::PI;

/// Rounds to float32: NumPy's result for a float32 operation, given the exact f64 result of
/// that operation on float32 inputs (+, −, × of two f32 are exact in f64, so one rounding is
/// the IEEE float32 result).
fn f32r(x: f64) -> f64 {
    x as f32 as f64
}

/// Pendulum-v1: swing a frictionless pendulum up and keep it upright.
/// Obs `[cos θ, sin θ, θ̇]`, action torque in [−2, 2], reward −(θ² + 0.1 θ̇² + 0.001 u²).
pub struct Pendulum {
    theta: f64,
    theta_dot: f64,
    /// The last torque applied (`None` after a reset), drawn as an arrow; it does not change
    /// the dynamics, so snapshots leave it out.
    last_u: Option<f64>,
    rng: Rng,
    obs_space: BoxSpace,
    act_space: BoxSpace,
}

impl Pendulum {
    const MAX_SPEED: f64 = 8.0;
    const MAX_TORQUE: f32 = 2.0;
    const DT: f64 = 0.05;

    pub fn new() -> Self {
        Pendulum {
            theta: 0.0,
            theta_dot: 0.0,
            last_u: None,
            rng: Rng::new(0),
            obs_space: BoxSpace::new(vec![-1.0, -1.0, -8.0], vec![1.0, 1.0, 8.0]),
            act_space: BoxSpace::new(vec![-2.0], vec![2.0]),
        }
    }

    /// Puts the pendulum in a given state (as setting Gymnasium's `env.unwrapped.state`).
    pub fn reset_to(&mut self, theta: f64, theta_dot: f64) -> Vec<f32> {
        self.theta = theta;
        self.theta_dot = theta_dot;
        self.last_u = None;
        self.obs()
    }

    /// Gymnasium's `env.unwrapped.state`: (θ, θ̇).
    pub fn state(&self) -> [f64; 2] {
        [self.theta, self.theta_dot]
    }

    fn obs(&self) -> Vec<f32> {
        vec![self.theta.cos() as f32, self.theta.sin() as f32, self.theta_dot as f32]
    }
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Env for Pendulum {
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        super::reseed(&mut self.rng, seed);
        // Gymnasium: state ~ U([−π, −1], [π, 1]).
        let theta = self.rng.uniform_range(-PI, PI);
        let theta_dot = self.rng.uniform_range(-1.0, 1.0);
        self.reset_to(theta, theta_dot)
    }

    fn step(&mut self, action: &[f32]) -> Step {
        let u = action[0].clamp(-Self::MAX_TORQUE, Self::MAX_TORQUE) as f64; // float32
        self.last_u = Some(u);
        let (th, thdot) = (self.theta, self.theta_dot);
        // `0.001 * u**2` stays float32 in NumPy; the rest is float64.
        let torque_cost = f32r(f32r(u * u) * f32r(0.001));
        // `0.1 * thdot**2`: the square first, then the product (not (0.1·θ̇)·θ̇).
        let cost = angle_normalize(th).powi(2) + 0.1 * (thdot * thdot) + torque_cost;
        let new_thdot = (thdot + (15.0 * th.sin() + f32r(3.0 * u)) * Self::DT).clamp(-Self::MAX_SPEED, Self::MAX_SPEED);
        self.theta = th + new_thdot * Self::DT;
        self.theta_dot = new_thdot;
        Step { obs: self.obs(), reward: -cost, terminated: false, truncated: false, info: Vec::new() }
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(SnapshotWriter::default().f64(self.theta).f64(self.theta_dot).rng(&self.rng).finish())
    }

    fn render(&mut self, view: &View) -> crate::Result<Frame> {
        let size = view.size((Self::SCREEN, Self::SCREEN))?;
        Ok(self.draw().resized(size.0, size.1))
    }

    fn render_fps(&self) -> f64 {
        30.0
    }

    fn restore(&mut self, snapshot: &[u8]) -> crate::Result<()> {
        let mut r = SnapshotReader::new(snapshot);
        let (theta, theta_dot, rng) = (r.f64()?, r.f64()?, r.rng()?);
        r.finish()?;
        (self.theta, self.theta_dot, self.rng) = (theta, theta_dot, rng);
        Ok(())
    }

    fn observation_space(&self) -> &BoxSpace {
        &self.obs_space
    }

    fn action_space(&self) -> &BoxSpace {
        &self.act_space
    }
}

/// MountainCarContinuous-v0: drive an under-powered car up a hill (+100 at the flag, −0.1 a²
/// per step). Terminates at position ≥ 0.45 with non-negative velocity.
pub struct MountainCarContinuous {
    position: f64,
    velocity: f64,
    /// Gymnasium keeps the reset state in float64 and every later state in float32; the first
    /// step after a reset therefore runs in float64 and all others in float32.
    state_is_f32: bool,
    rng: Rng,
    obs_space: BoxSpace,
    act_space: BoxSpace,
}

impl MountainCarContinuous {
    const MIN_POSITION: f64 = -1.2;
    const MAX_POSITION: f64 = 0.6;
    const MAX_SPEED: f64 = 0.07;
    const GOAL_POSITION: f64 = 0.45;
    const POWER: f64 = 0.0015;

    pub fn new() -> Self {
        MountainCarContinuous {
            position: 0.0,
            velocity: 0.0,
            state_is_f32: false,
            rng: Rng::new(0),
            obs_space: BoxSpace::new(vec![-1.2, -0.07], vec![0.6, 0.07]),
            act_space: BoxSpace::new(vec![-1.0], vec![1.0]),
        }
    }

    /// Gymnasium's `env.unwrapped.state`: (position, velocity).
    pub fn state(&self) -> [f64; 2] {
        [self.position, self.velocity]
    }

    /// Puts the car in a given (float64) state, as Gymnasium's reset leaves it.
    pub fn reset_to(&mut self, position: f64, velocity: f64) -> Vec<f32> {
        self.position = position;
        self.velocity = velocity;
        self.state_is_f32 = false;
        vec![position as f32, velocity as f32]
    }
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for MountainCarContinuous {
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        super::reseed(&mut self.rng, seed);
        let position = self.rng.uniform_range(-0.6, -0.4);
        self.reset_to(position, 0.0)
    }

    fn step(&mut self, action: &[f32]) -> Step {
        let a = action[0];
        let narrow = |x: f64| if self.state_is_f32 { f32r(x) } else { x };
        let (mut position, mut velocity) = (self.position, self.velocity);
        // `math.cos(3 * position)` evaluates 3·position in the state's precision, cos in float64.
        let slope = 0.0025 * narrow(3.0 * position).cos();
        // Python's min/max keep a float32 action float32 unless it is clipped to a Python float.
        let dv = if (-1.0..=1.0).contains(&a) {
            f32r(f32r(a as f64 * f32r(Self::POWER)) - f32r(slope))
        } else {
            (a.clamp(-1.0, 1.0) as f64) * Self::POWER - slope
        };
        velocity = if self.state_is_f32 { f32r(velocity + f32r(dv)) } else { velocity + dv };
        velocity = velocity.clamp(-Self::MAX_SPEED, Self::MAX_SPEED);
        position = if self.state_is_f32 { f32r(position + f32r(velocity)) } else { position + velocity };
        position = position.clamp(Self::MIN_POSITION, Self::MAX_POSITION);
        if position == Self::MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= Self::GOAL_POSITION && velocity >= 0.0;
        let reward = if terminated { 100.0 } else { 0.0 } - (a as f64).powi(2) * 0.1;
        self.position = f32r(position);
        self.velocity = f32r(velocity);
        self.state_is_f32 = true;
        Step {
            obs: vec![self.position as f32, self.velocity as f32],
            reward,
            terminated,
            truncated: false,
            info: Vec::new(),
        }
    }

    fn render(&mut self, view: &View) -> crate::Result<Frame> {
        let size = view.size((Self::SCREEN_WIDTH, Self::SCREEN_HEIGHT))?;
        Ok(self.draw().resized(size.0, size.1))
    }

    fn render_fps(&self) -> f64 {
        30.0
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        let w = SnapshotWriter::default().f64(self.position).f64(self.velocity);
        Some(w.u64(self.state_is_f32 as u64).rng(&self.rng).finish())
    }

    fn restore(&mut self, snapshot: &[u8]) -> crate::Result<()> {
        let mut r = SnapshotReader::new(snapshot);
        let (position, velocity, is_f32, rng) = (r.f64()?, r.f64()?, r.u64()?, r.rng()?);
        r.finish()?;
        if is_f32 > 1 {
            return Err(crate::Error::env("snapshot is not a MountainCarContinuous one"));
        }
        (self.position, self.velocity, self.state_is_f32, self.rng) = (position, velocity, is_f32 == 1, rng);
        Ok(())
    }

    fn observation_space(&self) -> &BoxSpace {
        &self.obs_space
    }

    fn action_space(&self) -> &BoxSpace {
        &self.act_space
    }
}

/// pygame's `Vector2.rotate_rad`.
fn rotate((x, y): (f64, f64), angle: f64) -> (f64, f64) {
    let (sin, cos) = angle.sin_cos();
    (x * cos - y * sin, x * sin + y * cos)
}

impl Pendulum {
    const SCREEN: usize = 500;

    /// Gymnasium's picture (`PendulumEnv.render`), step by step: the rod and its two round
    /// ends in (204, 77, 77), an arrow for the last torque (Gymnasium blits its
    /// `clockwise.png`; here a drawn arc of the same size and direction), the black axle, then
    /// the flip that makes y point up.
    pub fn draw(&self) -> Frame {
        const ROD: [u8; 3] = [204, 77, 77];
        let dim = Self::SCREEN;
        let mut c = Canvas::new(dim, dim, [255; 3]);
        let scale = dim as f64 / (2.2 * 2.0);
        let offset = (dim / 2) as f64;
        let (rod_length, rod_width) = (scale, 0.2 * scale);
        let (l, r, t, b) = (0.0, rod_length, rod_width / 2.0, -rod_width / 2.0);
        let angle = self.theta + PI / 2.0;
        let corners = [(l, b), (l, t), (r, t), (r, b)].map(|p| {
            let (x, y) = rotate(p, angle);
            (x + offset, y + offset)
        });
        c.polygon(&corners, ROD);
        let radius = (rod_width / 2.0) as i64;
        c.circle(offset as i64, offset as i64, radius, ROD);
        let end = rotate((rod_length, 0.0), angle);
        c.circle((end.0 + offset) as i64, (end.1 + offset) as i64, radius, ROD);
        if let Some(u) = self.last_u {
            for piece in torque_arrow(offset, scale * u.abs() / 2.0, u > 0.0) {
                c.polygon(&piece, [0; 3]);
            }
        }
        c.circle(offset as i64, offset as i64, (0.05 * scale) as i64, [0; 3]);
        c.into_flipped()
    }
}

/// Gymnasium's `clockwise.png` drawn as shapes, in a `size` × `size` square around (`centre`,
/// `centre`): a thin arc of radius 0.46·size from the top, 265° round, with a head pointing on —
/// clockwise for u ≤ 0, and mirrored (counter-clockwise) for u > 0, as Gymnasium flips the
/// image. The canvas's y points up once it is flipped, so angles are the usual ones.
fn torque_arrow(centre: f64, size: f64, positive: bool) -> Vec<Vec<(f64, f64)>> {
    let (radius, width, head_len, head_half) = (0.46 * size, (0.035 * size).max(1.5), 0.14 * size, 0.07 * size);
    // The counter-clockwise arrow; the clockwise one is its mirror image in x.
    let at = |x: f64, y: f64| (if positive { centre + x } else { centre - x }, centre + y);
    let polar = |deg: f64, r: f64| {
        let (s, c) = deg.to_radians().sin_cos();
        at(c * r, s * r)
    };
    let (start, end, steps) = (90.0, 355.0, 64);
    let degs: Vec<f64> = (0..=steps).map(|i| start + (end - start) * i as f64 / steps as f64).collect();
    let mut arc: Vec<(f64, f64)> = degs.iter().map(|&d| polar(d, radius + width / 2.0)).collect();
    arc.extend(degs.iter().rev().map(|&d| polar(d, radius - width / 2.0)));
    // The head: its base across the arc's end, its tip along the direction of turning.
    let (s, c) = f64::to_radians(end).sin_cos();
    let (bx, by) = (c * radius, s * radius);
    let head = vec![
        at(bx + c * head_half, by + s * head_half),
        at(bx - s * head_len, by + c * head_len),
        at(bx - c * head_half, by - s * head_half),
    ];
    vec![arc, head]
}

impl MountainCarContinuous {
    const SCREEN_WIDTH: usize = 600;
    const SCREEN_HEIGHT: usize = 400;

    fn height(x: f64) -> f64 {
        (3.0 * x).sin() * 0.45 + 0.55
    }

    /// Gymnasium's picture (`Continuous_MountainCarEnv.render`): the hill as a black line, the
    /// car (black, tilted with the slope) with two grey wheels, the goal's flag pole and yellow
    /// flag, then the flip that makes y point up.
    pub fn draw(&self) -> Frame {
        let (w, h) = (Self::SCREEN_WIDTH, Self::SCREEN_HEIGHT);
        let mut c = Canvas::new(w, h, [255; 3]);
        let (min, max) = (Self::MIN_POSITION, Self::MAX_POSITION);
        let scale = w as f64 / (max - min);
        let (car_width, car_height, clearance) = (40.0, 20.0, 10.0);
        let pos = self.position;
        let hill: Vec<(f64, f64)> = (0..100)
            .map(|i| {
                let x = min + (max - min) * i as f64 / 99.0;
                ((x - min) * scale, Self::height(x) * scale)
            })
            .collect();
        c.polyline(&hill, [0; 3]);
        let tilt = (3.0 * pos).cos();
        let (l, r, t, b) = (-car_width / 2.0, car_width / 2.0, car_height, 0.0);
        let at = |p: (f64, f64)| {
            let (x, y) = rotate(p, tilt);
            (x + (pos - min) * scale, y + clearance + Self::height(pos) * scale)
        };
        c.polygon(&[(l, b), (l, t), (r, t), (r, b)].map(at), [0; 3]);
        for wheel in [(car_width / 4.0, 0.0), (-car_width / 4.0, 0.0)] {
            let (x, y) = at(wheel);
            c.circle(x as i64, y as i64, (car_height / 2.5) as i64, [128; 3]);
        }
        let flag_x = ((Self::GOAL_POSITION - min) * scale) as i64;
        let flag_y1 = (Self::height(Self::GOAL_POSITION) * scale) as i64;
        let flag_y2 = flag_y1 + 50;
        c.vline(flag_x, flag_y1, flag_y2, [0; 3]);
        let (fx, fy) = (flag_x as f64, flag_y2 as f64);
        c.polygon(&[(fx, fy), (fx, fy - 10.0), (fx + 25.0, fy - 5.0)], [204, 204, 0]);
        c.into_flipped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pendulum_reset_covers_gymnasium_ranges() {
        let mut env = Pendulum::new();
        let (mut max_th, mut max_w) = (0.0f64, 0.0f64);
        for s in 0..500 {
            let obs = env.reset(Some(s));
            assert!(env.theta.abs() <= PI && env.theta_dot.abs() <= 1.0);
            assert!((obs[0] as f64 - env.theta.cos()).abs() < 1e-7);
            max_th = max_th.max(env.theta.abs());
            max_w = max_w.max(env.theta_dot.abs());
        }
        assert!(max_th > 3.0 && max_w > 0.95, "reset should span the ranges: {max_th} {max_w}");
    }

    #[test]
    fn pendulum_hand_computed_step() {
        let mut env = Pendulum::new();
        env.reset_to(0.5, -0.25);
        let s = env.step(&[3.0]); // clipped to 2.0
        let thdot = -0.25 + (15.0 * 0.5f64.sin() + 6.0) * 0.05;
        let th = 0.5 + thdot * 0.05;
        let cost = 0.25 + 0.1 * 0.0625 + (0.004f32 as f64);
        assert!((s.reward + cost).abs() < 1e-7, "{} vs {}", s.reward, -cost);
        assert!((s.obs[2] as f64 - thdot).abs() < 1e-6 && (s.obs[1] as f64 - th.sin()).abs() < 1e-6);
    }

    #[test]
    fn mountain_car_reaches_goal_and_terminates_with_bonus() {
        let mut env = MountainCarContinuous::new();
        env.reset_to(0.44, 0.06);
        let s = env.step(&[1.0]);
        assert!(s.terminated);
        assert!((s.reward - (100.0 - 0.1)).abs() < 1e-12);
        // Left wall: velocity is zeroed when the car hits it going left.
        env.reset_to(-1.19, -0.05);
        let s = env.step(&[-1.0]);
        assert_eq!(s.obs, vec![-1.2f32, 0.0]);
        assert!(!s.terminated);
    }

    #[test]
    fn mountain_car_reset_range() {
        let mut env = MountainCarContinuous::new();
        for s in 0..200 {
            let obs = env.reset(Some(s));
            assert!((-0.6..-0.4).contains(&obs[0]) && obs[1] == 0.0);
        }
    }
}
