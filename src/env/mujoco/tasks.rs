//! Each task's reward, termination and reward terms after a step, as Gymnasium 1.4.0's v5 class
//! (and, for the locomotion tasks, its v4 class) computes them (`step` / `_get_rew` /
//! `terminated`), one function per task and version. The arithmetic
//! follows Gymnasium's to the bit: float32 control costs for float32 actions (NumPy's NEP 50),
//! NumPy's pairwise sums, and the order of every addition.

use super::numpy::{sum_of_squares, sum_of_squares_f32};
use super::{MujocoEnv, Sim};

/// Reward, terminated, and the reward terms (Gymnasium's `info`).
pub type Outcome = (f64, bool, Vec<(&'static str, f64)>);

/// The state after a step, as the reward functions read it.
pub struct After<'a> {
    pub env: &'a MujocoEnv,
    pub sim: &'a Sim,
    pub action: &'a [f32],
    /// Velocity of the tracked position (x, and y for planar tasks) over the step.
    pub vx: f64,
    pub vy: f64,
    /// The tracked position after the step (x, and y for planar tasks).
    pub xy: [f64; 2],
}

impl After<'_> {
    /// `weight * np.sum(np.square(action))` with a float32 action stays float32 (NEP 50).
    fn ctrl_cost(&self, weight: f64) -> f64 {
        (weight as f32 * sum_of_squares_f32(self.action)) as f64
    }

    /// Position info of the tasks that move in the plane (Swimmer, Ant, Humanoid).
    fn planar(&self) -> Vec<(&'static str, f64)> {
        let q = self.sim.qpos();
        vec![
            ("x_position", q[0]),
            ("y_position", q[1]),
            ("distance_from_origin", self.env.norm(&q[..2])),
            ("x_velocity", self.vx),
            ("y_velocity", self.vy),
        ]
    }
}

/// HalfCheetah-v5: forward velocity − 0.1·|a|²; never terminates.
pub fn half_cheetah(a: &After) -> Outcome {
    let ctrl = a.ctrl_cost(0.1);
    let x = a.sim.qpos()[0];
    let info = vec![("x_position", x), ("x_velocity", a.vx), ("reward_forward", a.vx), ("reward_ctrl", -ctrl)];
    (a.vx - ctrl, false, info)
}

/// Hopper-v5: healthy while the state is bounded, z > 0.7 and |angle| < 0.2.
pub fn hopper(a: &After) -> Outcome {
    hopping(a, hopper_healthy(a))
}

fn hopper_healthy(a: &After) -> bool {
    let (qpos, qvel) = (a.sim.qpos(), a.sim.qvel());
    let (z, angle) = (qpos[1], qpos[2]);
    let state_ok = qpos[2..].iter().chain(qvel).all(|&v| -100.0 < v && v < 100.0);
    state_ok && 0.7 < z && -0.2 < angle && angle < 0.2
}

/// Walker2d-v5: healthy while 0.8 < z < 2 and |angle| < 1.
pub fn walker2d(a: &After) -> Outcome {
    hopping(a, walker2d_healthy(a))
}

fn walker2d_healthy(a: &After) -> bool {
    let qpos = a.sim.qpos();
    let (z, angle) = (qpos[1], qpos[2]);
    0.8 < z && z < 2.0 && -1.0 < angle && angle < 1.0
}

/// Hopper's and Walker2d's shared reward: forward velocity + 1 while healthy − 0.001·|a|².
fn hopping(a: &After, healthy: bool) -> Outcome {
    let qpos = a.sim.qpos();
    let survive = if healthy { 1.0 } else { 0.0 };
    let ctrl = a.ctrl_cost(0.001);
    let info = vec![
        ("x_position", qpos[0]),
        ("z_distance_from_origin", qpos[1] - a.env.init_qpos[1]),
        ("x_velocity", a.vx),
        ("reward_forward", a.vx),
        ("reward_ctrl", -ctrl),
        ("reward_survive", survive),
    ];
    ((a.vx + survive) - ctrl, !healthy, info)
}

/// Swimmer-v5: forward velocity − 1e-4·|a|²; never terminates.
pub fn swimmer(a: &After) -> Outcome {
    let ctrl = a.ctrl_cost(1e-4);
    let mut info = a.planar();
    info.extend([("reward_forward", a.vx), ("reward_ctrl", -ctrl)]);
    (a.vx - ctrl, false, info)
}

/// Ant-v5: forward velocity + 1 while healthy − 0.5·|a|² − 5e-4·|clip(cfrc_ext, ±1)|².
pub fn ant(a: &After) -> Outcome {
    let (qpos, qvel) = (a.sim.qpos(), a.sim.qvel());
    let healthy = qpos.iter().chain(qvel).all(|v| v.is_finite()) && 0.2 <= qpos[2] && qpos[2] <= 1.0;
    let survive = if healthy { 1.0 } else { 0.0 };
    let ctrl = a.ctrl_cost(0.5);
    let clipped: Vec<f64> = a.sim.cfrc_ext().iter().map(|f| f.clamp(-1.0, 1.0)).collect();
    let contact = 0.0005 * sum_of_squares(&clipped);
    let mut info = a.planar();
    info.extend([
        ("reward_forward", a.vx),
        ("reward_ctrl", -ctrl),
        ("reward_contact", -contact),
        ("reward_survive", survive),
    ]);
    ((a.vx + survive) - (ctrl + contact), !healthy, info)
}

/// Humanoid-v5: 1.25·(centre-of-mass velocity) + 5 while 1 < z < 2 − 0.1·|ctrl|² − contact cost
/// (capped at 10). Its control cost reads the clamped controls in float64.
pub fn humanoid(a: &After) -> Outcome {
    let z = a.sim.qpos()[2];
    let healthy = 1.0 < z && z < 2.0;
    let survive = if healthy { 5.0 } else { 0.0 };
    let forward = 1.25 * a.vx;
    let ctrl = 0.1 * sum_of_squares(a.sim.ctrl());
    let contact = (5e-7 * sum_of_squares(a.sim.cfrc_ext())).min(10.0);
    let mut info = a.planar();
    info.extend([
        ("reward_survive", survive),
        ("reward_forward", forward),
        ("reward_ctrl", -ctrl),
        ("reward_contact", -contact),
    ]);
    ((forward + survive) - (ctrl + contact), !healthy, info)
}

/// InvertedPendulum-v5: 1 per step until the pole leaves ±0.2 rad (or the state is not finite).
pub fn inverted_pendulum(a: &After) -> Outcome {
    let (qpos, qvel) = (a.sim.qpos(), a.sim.qvel());
    // The observation is (qpos, qvel): check it without building it twice a step.
    let terminated = !qpos.iter().chain(qvel).all(|v| v.is_finite()) || qpos[1].abs() > 0.2;
    let r = if terminated { 0.0 } else { 1.0 };
    (r, terminated, vec![("reward_survive", r)])
}

/// InvertedDoublePendulum-v5: 10 while the tip is above y = 1, minus distance and velocity
/// penalties.
pub fn inverted_double_pendulum(a: &After) -> Outcome {
    let site = a.sim.site_xpos();
    let (x, y) = (site[0], site[2]);
    let terminated = y <= 1.0;
    let qvel = a.sim.qvel();
    let (v1, v2) = (qvel[1], qvel[2]);
    // `x ** 2` is C's pow(x, 2), which is not always x·x rounded once: call it too.
    // (black_box keeps LLVM from rewriting pow(v, 2) as v·v.)
    let sq = |v: f64| v.powf(std::hint::black_box(2.0));
    let dist = 0.01 * sq(x) + sq(y - 2.0);
    let vel = 0.001 * sq(v1) + 0.005 * sq(v2);
    let alive = if terminated { 0.0 } else { 10.0 };
    let info = vec![("reward_survive", alive), ("distance_penalty", -dist), ("velocity_penalty", -vel)];
    ((alive - dist) - vel, terminated, info)
}

/// Reacher-v5: −|fingertip − target| − |a|²; never terminates.
pub fn reacher(a: &After) -> Outcome {
    let (f, t) = (a.env.body_xpos(0), a.env.body_xpos(1));
    let dist = -a.env.norm(&[f[0] - t[0], f[1] - t[1], f[2] - t[2]]);
    let ctrl = -sum_of_squares_f32(a.action) as f64;
    (dist + ctrl, false, vec![("reward_dist", dist), ("reward_ctrl", ctrl)])
}

/// Pusher-v5: −|object − goal| − 0.1·|a|² − 0.5·|object − arm tip|; never terminates.
pub fn pusher(a: &After) -> Outcome {
    let (tips, object, goal) = (a.env.body_xpos(0), a.env.body_xpos(1), a.env.body_xpos(2));
    let diff = |p: [f64; 3], q: [f64; 3]| [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
    let near = -a.env.norm(&diff(object, tips)) * 0.5;
    let dist = -a.env.norm(&diff(object, goal));
    let ctrl = (-sum_of_squares_f32(a.action) * 0.1f32) as f64;
    let info = vec![("reward_dist", dist), ("reward_ctrl", ctrl), ("reward_near", near)];
    ((dist + ctrl) + near, false, info)
}

/// v4's survival bonus: paid on every step, the terminal one included (`float(is_healthy or
/// terminate_when_unhealthy)` with termination on); v5 pays it only while healthy.
const V4_SURVIVE: f64 = 1.0;

/// v4's position info of Ant and Humanoid: the tracked position itself (torso, centre of mass),
/// where v5 reports `qpos`; and the forward reward again, as `forward_reward`.
fn planar_v4(a: &After, forward: f64) -> Vec<(&'static str, f64)> {
    vec![
        ("x_position", a.xy[0]),
        ("y_position", a.xy[1]),
        ("distance_from_origin", a.env.norm(&a.xy)),
        ("x_velocity", a.vx),
        ("y_velocity", a.vy),
        ("forward_reward", forward),
    ]
}

/// HalfCheetah-v4: v5's reward, with the forward term named `reward_run`.
pub fn half_cheetah_v4(a: &After) -> Outcome {
    let ctrl = a.ctrl_cost(0.1);
    let info =
        vec![("x_position", a.sim.qpos()[0]), ("x_velocity", a.vx), ("reward_run", a.vx), ("reward_ctrl", -ctrl)];
    (a.vx - ctrl, false, info)
}

/// Hopper-v4: as v5, but the survival bonus is paid on the terminal step too.
pub fn hopper_v4(a: &After) -> Outcome {
    hopping_v4(a, hopper_healthy(a))
}

/// Walker2d-v4: as v5 (on the v4 model), with v4's survival bonus.
pub fn walker2d_v4(a: &After) -> Outcome {
    hopping_v4(a, walker2d_healthy(a))
}

fn hopping_v4(a: &After, healthy: bool) -> Outcome {
    let ctrl = a.ctrl_cost(0.001);
    let info = vec![("x_position", a.sim.qpos()[0]), ("x_velocity", a.vx)];
    ((a.vx + V4_SURVIVE) - ctrl, !healthy, info)
}

/// Ant-v4: forward velocity + 1 (always) − 0.5·|a|²; no contact cost (`use_contact_forces` is
/// off by default).
pub fn ant_v4(a: &After) -> Outcome {
    let (qpos, qvel) = (a.sim.qpos(), a.sim.qvel());
    let healthy = qpos.iter().chain(qvel).all(|v| v.is_finite()) && 0.2 <= qpos[2] && qpos[2] <= 1.0;
    let ctrl = a.ctrl_cost(0.5);
    let mut info = vec![("reward_forward", a.vx), ("reward_ctrl", -ctrl), ("reward_survive", V4_SURVIVE)];
    info.extend(planar_v4(a, a.vx));
    ((a.vx + V4_SURVIVE) - ctrl, !healthy, info)
}

/// Humanoid-v4: 1.25·(centre-of-mass velocity) + 5 (always) − 0.1·|ctrl|²; no contact cost.
pub fn humanoid_v4(a: &After) -> Outcome {
    let z = a.sim.qpos()[2];
    let healthy = 1.0 < z && z < 2.0;
    let survive = 5.0 * V4_SURVIVE;
    let forward = 1.25 * a.vx;
    let ctrl = 0.1 * sum_of_squares(a.sim.ctrl());
    let mut info = vec![("reward_linvel", forward), ("reward_quadctrl", -ctrl), ("reward_alive", survive)];
    info.extend(planar_v4(a, forward));
    ((forward + survive) - ctrl, !healthy, info)
}
