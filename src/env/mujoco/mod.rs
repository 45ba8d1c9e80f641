//! Gymnasium's MuJoCo v5 environments, and the v4 versions of its five locomotion tasks, on the
//! official MuJoCo C library, reproducing Gymnasium 1.4.0's observations, rewards (term by term,
//! in its float32/float64 arithmetic and NumPy's summation order), terminations, reset noise and
//! time limits, with every keyword argument at its default.
//!
//! The library is loaded at run time ([`library`] says from where); models are Gymnasium's own
//! MJCF files, from the Gymnasium package installed beside it (or `POLYAK_MUJOCO_ASSETS`). Reset noise has Gymnasium's distributions and scales but
//! is drawn from polyak's generator (NumPy's stream cannot be reproduced), so the fixture tests
//! start from states recorded from Gymnasium (`MujocoEnv::reset_to`).

mod library;
mod numpy;
mod render;
mod sim;
#[allow(clippy::all)]
mod sys;
mod tasks;

pub use library::{available, find_library, installation, unavailable_because, use_installation, Installation};
pub use render::{CameraConfig, DEFAULT_SIZE as DEFAULT_RENDER_SIZE};
pub use sim::Sim;

use super::snapshot::{SnapshotReader, SnapshotWriter};
use super::{BoxSpace, Env, Step};
use crate::render::{Frame, View};
use crate::rng::Rng;
use numpy::{norm_with, pairwise_sum};
use std::path::PathBuf;

/// The tasks (listed, with their ids and time limits, in [`super::SPECS`]); here their model
/// files, frame skips and dynamics.
pub use super::MujocoTask as Task;
pub use super::MujocoVersion as Version;

impl Task {
    fn xml(self, version: Version) -> &'static str {
        match self {
            Task::HalfCheetah => "half_cheetah.xml",
            Task::Hopper => "hopper.xml",
            // v5 gave both feet the same friction (walker2d_v5.xml); v4 keeps the old model.
            Task::Walker2d if version == Version::V4 => "walker2d.xml",
            Task::Walker2d => "walker2d_v5.xml",
            Task::Ant => "ant.xml",
            Task::Humanoid => "humanoid.xml",
            Task::Swimmer => "swimmer.xml",
            Task::InvertedPendulum => "inverted_pendulum.xml",
            Task::InvertedDoublePendulum => "inverted_double_pendulum.xml",
            Task::Reacher => "reacher.xml",
            Task::Pusher => "pusher_v5.xml",
        }
    }

    fn frame_skip(self) -> usize {
        match self {
            Task::Hopper | Task::Walker2d | Task::Swimmer => 4,
            Task::InvertedPendulum | Task::Reacher => 2,
            _ => 5,
        }
    }
}

/// Where Gymnasium's MJCF files are read from (`None`: no installation found).
pub fn assets_dir() -> Option<PathBuf> {
    installation().map(|i| i.assets)
}

/// One Gymnasium MuJoCo environment (without its time limit; [`super::make`] adds it).
pub struct MujocoEnv {
    task: Task,
    version: Version,
    /// MuJoCo's renderer, made by the first `render` (as Gymnasium's viewer); declared before
    /// `sim` so that it is dropped before the model it draws.
    renderer: Option<render::Renderer>,
    sim: Sim,
    pub(crate) init_qpos: Vec<f64>,
    init_qvel: Vec<f64>,
    dt: f64,
    rng: Rng,
    /// Body ids the task reads: Reacher (fingertip, target), Pusher (tips_arm, object, goal).
    bodies: Vec<usize>,
    obs_space: BoxSpace,
    act_space: BoxSpace,
    /// `np.linalg.norm`'s dot product fused (see [`numpy::norm_with`]).
    fused_dot: bool,
}

impl MujocoEnv {
    /// The v5 version of a task.
    pub fn new(task: Task) -> crate::Result<Self> {
        Self::versioned(task, Version::V5)
    }

    /// A task at a version (v4 exists for HalfCheetah, Hopper, Walker2d, Ant and Humanoid).
    pub fn versioned(task: Task, version: Version) -> crate::Result<Self> {
        let locomotion = matches!(task, Task::HalfCheetah | Task::Hopper | Task::Walker2d | Task::Ant | Task::Humanoid);
        if version == Version::V4 && !locomotion {
            return Err(crate::Error::env(format!("polyak has no v4 version of {task:?}")));
        }
        library::api()?;
        let path = assets_dir().unwrap_or_default().join(task.xml(version));
        if !path.exists() {
            return Err(crate::Error::env(format!(
                "{} not found: install Gymnasium's MuJoCo models with scripts/setup/mujoco.sh (or set \
                 POLYAK_MUJOCO_ASSETS to a directory holding them)",
                path.display()
            )));
        }
        let sim = Sim::from_xml(&path)?;
        let names: &[&str] = match task {
            Task::Reacher => &["fingertip", "target"],
            Task::Pusher => &["tips_arm", "object", "goal"],
            _ => &[],
        };
        let bodies = names.iter().map(|n| sim.body_id(n)).collect::<Result<_, _>>()?;
        let range = sim.ctrlrange();
        let low = range.iter().step_by(2).map(|&v| v as f32).collect();
        let high = range.iter().skip(1).step_by(2).map(|&v| v as f32).collect();
        let mut env = MujocoEnv {
            task,
            version,
            init_qpos: sim.qpos().to_vec(),
            init_qvel: sim.qvel().to_vec(),
            dt: sim.timestep() * task.frame_skip() as f64,
            rng: Rng::new(0),
            bodies,
            obs_space: BoxSpace::new(Vec::new(), Vec::new()),
            act_space: BoxSpace::new(low, high),
            fused_dot: false,
            renderer: None,
            sim,
        };
        let dim = env.observation().len();
        env.obs_space = BoxSpace::new(vec![f32::NEG_INFINITY; dim], vec![f32::INFINITY; dim]);
        Ok(env)
    }

    pub fn task(&self) -> Task {
        self.task
    }

    pub fn version(&self) -> Version {
        self.version
    }

    fn v4(&self) -> bool {
        self.version == Version::V4
    }

    /// Computes `np.linalg.norm` as a NumPy whose dot product fuses (`true`) or rounds each
    /// product (`false`, the default) does; see [`numpy::norm_with`].
    pub fn set_numpy_fused_dot(&mut self, fused: bool) {
        self.fused_dot = fused;
    }

    pub(crate) fn norm(&self, x: &[f64]) -> f64 {
        norm_with(x, self.fused_dot)
    }

    /// The physics, read-only (for tests and analysis).
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    pub(crate) fn sim_mut(&mut self) -> &mut Sim {
        &mut self.sim
    }

    /// The model's reference state (Gymnasium's `init_qpos`, `init_qvel`).
    pub fn init_state(&self) -> (Vec<f64>, Vec<f64>) {
        (self.init_qpos.clone(), self.init_qvel.clone())
    }

    /// Starts an episode from a given state, as Gymnasium's `reset` followed by `set_state`.
    pub fn reset_to(&mut self, qpos: &[f64], qvel: &[f64]) -> Vec<f32> {
        self.sim.reset_data();
        self.sim.set_state(qpos, qvel);
        to_f32(&self.observation())
    }

    pub(crate) fn body_xpos(&self, i: usize) -> [f64; 3] {
        let x = self.sim.xpos();
        let b = self.bodies[i];
        [x[3 * b], x[3 * b + 1], x[3 * b + 2]]
    }

    /// The observation in float64, exactly as Gymnasium computes it.
    pub fn observation(&self) -> Vec<f64> {
        let s = &self.sim;
        let (qpos, qvel) = (s.qpos(), s.qvel());
        let clip = |v: &[f64], lo: f64, hi: f64| v.iter().map(move |x| x.clamp(lo, hi)).collect::<Vec<_>>();
        match self.task {
            Task::HalfCheetah => [&qpos[1..], qvel].concat(),
            Task::Hopper | Task::Walker2d => [&qpos[1..], &clip(qvel, -10.0, 10.0)[..]].concat(),
            Task::Swimmer => [&qpos[2..], qvel].concat(),
            // v4: no contact forces in Ant's observation, the world body's entries in Humanoid's.
            Task::Ant if self.v4() => [&qpos[2..], qvel].concat(),
            Task::Ant => [&qpos[2..], qvel, &clip(&s.cfrc_ext()[6..], -1.0, 1.0)].concat(),
            Task::Humanoid if self.v4() => {
                [&qpos[2..], qvel, s.cinert(), s.cvel(), s.qfrc_actuator(), s.cfrc_ext()].concat()
            }
            Task::Humanoid => {
                [&qpos[2..], qvel, &s.cinert()[10..], &s.cvel()[6..], &s.qfrc_actuator()[6..], &s.cfrc_ext()[6..]]
                    .concat()
            }
            Task::InvertedPendulum => [qpos, qvel].concat(),
            Task::InvertedDoublePendulum => {
                let mut o = vec![qpos[0]];
                o.extend(qpos[1..].iter().map(|q| q.sin()));
                o.extend(qpos[1..].iter().map(|q| q.cos()));
                o.extend(clip(qvel, -10.0, 10.0));
                o.push(s.qfrc_constraint()[0].clamp(-10.0, 10.0));
                o
            }
            Task::Reacher => {
                let (f, t) = (self.body_xpos(0), self.body_xpos(1));
                let mut o: Vec<f64> = qpos[..2].iter().map(|q| q.cos()).collect();
                o.extend(qpos[..2].iter().map(|q| q.sin()));
                o.extend_from_slice(&qpos[2..]);
                o.extend_from_slice(&qvel[..2]);
                o.extend([f[0] - t[0], f[1] - t[1]]);
                o
            }
            Task::Pusher => {
                let mut o = [&qpos[..7], &qvel[..7]].concat();
                for i in 0..3 {
                    o.extend(self.body_xpos(i));
                }
                o
            }
        }
    }

    /// One step with the observation in float64, as Gymnasium returns it: (obs, reward,
    /// terminated, info).
    pub fn step_f64(&mut self, action: &[f32]) -> (Vec<f64>, f64, bool, Vec<(&'static str, f64)>) {
        let before = self.xy();
        if let Err(msg) = self.sim.step(action, self.task.frame_skip()) {
            // A MuJoCo error leaves the physics undefined: end the episode with a NaN the
            // training loop reports (it names the step and stops).
            eprintln!("polyak: {msg}");
            return (vec![f64::NAN; self.obs_space.dim()], f64::NAN, true, Vec::new());
        }
        let (reward, terminated, info) = self.outcome(action, before);
        (self.observation(), reward, terminated, info)
    }

    /// Gymnasium's `_get_reset_info()`: what `reset` returns beside the observation.
    pub fn reset_info(&self) -> Vec<(&'static str, f64)> {
        let q = self.sim.qpos();
        if self.v4() {
            return Vec::new(); // v4 keeps MujocoEnv's empty reset info
        }
        match self.task {
            Task::HalfCheetah => vec![("x_position", q[0])],
            Task::Hopper | Task::Walker2d => {
                vec![("x_position", q[0]), ("z_distance_from_origin", q[1] - self.init_qpos[1])]
            }
            Task::Ant | Task::Swimmer | Task::Humanoid => {
                vec![("x_position", q[0]), ("y_position", q[1]), ("distance_from_origin", self.norm(&q[..2]))]
            }
            _ => Vec::new(),
        }
    }

    /// Info entries that are arrays (Humanoid's tendon lengths and velocities), after a step and
    /// after a reset.
    pub fn array_info(&self) -> Vec<(&'static str, Vec<f64>)> {
        match self.task {
            Task::Humanoid if !self.v4() => {
                vec![
                    ("tendon_length", self.sim.ten_length().to_vec()),
                    ("tendon_velocity", self.sim.ten_velocity().to_vec()),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// Gymnasium's `state_vector()`: qpos and qvel, concatenated.
    pub fn state_vector(&self) -> Vec<f64> {
        [self.sim.qpos(), self.sim.qvel()].concat()
    }

    /// The simulated time between two steps (timestep × frame skip), Gymnasium's `dt`.
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// Gymnasium's `mass_center`: the mass-weighted mean of the bodies' centres of mass (x, y).
    fn mass_center(&self) -> [f64; 2] {
        let (mass, xipos) = (self.sim.body_mass(), self.sim.xipos());
        let total = pairwise_sum(mass);
        let along = |j: usize| mass.iter().enumerate().fold(0.0, |acc, (b, m)| acc + m * xipos[3 * b + j]) / total;
        [along(0), along(1)]
    }

    /// The x (and y) position the forward reward differentiates.
    fn xy(&self) -> [f64; 2] {
        let q = self.sim.qpos();
        match self.task {
            Task::Ant => [self.sim.xpos()[3], self.sim.xpos()[4]],
            Task::Humanoid => self.mass_center(),
            Task::Swimmer => [q[0], q[1]],
            _ => [q[0], 0.0],
        }
    }

    /// Gymnasium's reset distribution of each task (`reset_model`).
    fn sample_reset(&mut self) -> (Vec<f64>, Vec<f64>) {
        let fused = self.fused_dot;
        let norm = |x: &[f64]| norm_with(x, fused);
        let rng = &mut self.rng;
        let (nq, nv) = (self.init_qpos.len(), self.init_qvel.len());
        let uniform = |base: &[f64], scale: f64, rng: &mut Rng| -> Vec<f64> {
            base.iter().map(|b| b + rng.uniform_range(-scale, scale)).collect()
        };
        let normal = |base: &[f64], scale: f64, rng: &mut Rng| -> Vec<f64> {
            base.iter().map(|b| b + scale * rng.normal()).collect()
        };
        let (qpos, qvel) = (&self.init_qpos, &self.init_qvel);
        match self.task {
            Task::HalfCheetah | Task::Ant | Task::InvertedDoublePendulum => {
                (uniform(qpos, 0.1, rng), normal(qvel, 0.1, rng))
            }
            Task::Hopper | Task::Walker2d => (uniform(qpos, 0.005, rng), uniform(qvel, 0.005, rng)),
            Task::Humanoid | Task::InvertedPendulum => (uniform(qpos, 0.01, rng), uniform(qvel, 0.01, rng)),
            Task::Swimmer => (uniform(qpos, 0.1, rng), uniform(qvel, 0.1, rng)),
            Task::Reacher => {
                let mut qpos = uniform(qpos, 0.1, rng);
                let goal = loop {
                    let g = [rng.uniform_range(-0.2, 0.2), rng.uniform_range(-0.2, 0.2)];
                    if norm(&g) < 0.2 {
                        break g;
                    }
                };
                qpos[nq - 2..].copy_from_slice(&goal);
                let mut qvel = uniform(qvel, 0.005, rng);
                qvel[nv - 2..].fill(0.0);
                (qpos, qvel)
            }
            Task::Pusher => {
                let mut qpos = qpos.clone();
                let cylinder = loop {
                    let c = [rng.uniform_range(-0.3, 0.0), rng.uniform_range(-0.2, 0.2)];
                    if norm(&c) > 0.17 {
                        break c;
                    }
                };
                qpos[nq - 4..nq - 2].copy_from_slice(&cylinder);
                qpos[nq - 2..].fill(0.0);
                let mut qvel = uniform(qvel, 0.005, rng);
                qvel[nv - 4..].fill(0.0);
                (qpos, qvel)
            }
        }
    }

    /// Reward, termination and the reward terms, from the state after the step: one function
    /// per task in [`tasks`].
    fn outcome(&self, action: &[f32], before: [f64; 2]) -> tasks::Outcome {
        let after = self.xy();
        let v = [(after[0] - before[0]) / self.dt, (after[1] - before[1]) / self.dt];
        let a = tasks::After { env: self, sim: &self.sim, action, vx: v[0], vy: v[1], xy: after };
        match (self.task, self.version) {
            (Task::HalfCheetah, Version::V4) => tasks::half_cheetah_v4(&a),
            (Task::Hopper, Version::V4) => tasks::hopper_v4(&a),
            (Task::Walker2d, Version::V4) => tasks::walker2d_v4(&a),
            (Task::Ant, Version::V4) => tasks::ant_v4(&a),
            (Task::Humanoid, Version::V4) => tasks::humanoid_v4(&a),
            (task, _) => self.outcome_v5(task, &a),
        }
    }

    fn outcome_v5(&self, task: Task, a: &tasks::After) -> tasks::Outcome {
        match task {
            Task::HalfCheetah => tasks::half_cheetah(a),
            Task::Hopper => tasks::hopper(a),
            Task::Walker2d => tasks::walker2d(a),
            Task::Swimmer => tasks::swimmer(a),
            Task::Ant => tasks::ant(a),
            Task::Humanoid => tasks::humanoid(a),
            Task::InvertedPendulum => tasks::inverted_pendulum(a),
            Task::InvertedDoublePendulum => tasks::inverted_double_pendulum(a),
            Task::Reacher => tasks::reacher(a),
            Task::Pusher => tasks::pusher(a),
        }
    }
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

impl Env for MujocoEnv {
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        super::reseed(&mut self.rng, seed);
        let (qpos, qvel) = self.sample_reset();
        self.reset_to(&qpos, &qvel)
    }

    fn step(&mut self, action: &[f32]) -> Step {
        let (obs, reward, terminated, info) = self.step_f64(action);
        Step { obs: to_f32(&obs), reward, terminated, truncated: false, info }
    }

    fn reward_terms(&self) -> &'static [&'static str] {
        if self.v4() {
            // v4's info names; Hopper and Walker2d report no terms.
            return match self.task {
                Task::HalfCheetah => &["reward_run", "reward_ctrl"],
                Task::Ant => &["reward_forward", "reward_ctrl", "reward_survive"],
                Task::Humanoid => &["reward_linvel", "reward_quadctrl", "reward_alive"],
                _ => &[],
            };
        }
        match self.task {
            Task::HalfCheetah | Task::Swimmer => &["reward_forward", "reward_ctrl"],
            Task::Hopper | Task::Walker2d => &["reward_forward", "reward_ctrl", "reward_survive"],
            Task::Ant | Task::Humanoid => &["reward_forward", "reward_ctrl", "reward_contact", "reward_survive"],
            Task::InvertedPendulum => &["reward_survive"],
            Task::InvertedDoublePendulum => &["reward_survive", "distance_penalty", "velocity_penalty"],
            Task::Reacher => &["reward_dist", "reward_ctrl"],
            Task::Pusher => &["reward_dist", "reward_ctrl", "reward_near"],
        }
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(SnapshotWriter::default().rng(&self.rng).bytes(&self.sim.snapshot()).finish())
    }

    fn restore(&mut self, snapshot: &[u8]) -> crate::Result<()> {
        let mut r = SnapshotReader::new(snapshot);
        let rng = r.rng()?;
        let sim = r.bytes()?;
        r.finish()?;
        self.sim.restore(sim)?;
        self.rng = rng;
        Ok(())
    }

    fn render(&mut self, view: &View) -> crate::Result<Frame> {
        if self.renderer.as_ref().is_none_or(|r| r.view != *view) {
            self.renderer = None;
            self.renderer = Some(render::Renderer::new(&mut self.sim, self.task, view)?);
        }
        match self.renderer.as_mut() {
            Some(r) => r.frame(&mut self.sim),
            None => Err(crate::Error::env("the renderer could not be made")),
        }
    }

    /// Real time: one frame per env step of `dt` = timestep × frame skip seconds.
    fn render_fps(&self) -> f64 {
        1.0 / self.dt
    }

    fn observation_space(&self) -> &BoxSpace {
        &self.obs_space
    }

    fn action_space(&self) -> &BoxSpace {
        &self.act_space
    }
}
