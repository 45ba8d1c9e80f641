//! A built-in environment exactly as Gymnasium's Python API shows it — what the Python package
//! hands to `gymnasium` users: observations in Gymnasium's dtype (float64 for MuJoCo, float32
//! for classic control), the complete `info` of `reset` and `step` (array entries too), the
//! time limit of `gymnasium.make`, and the state accessors of Gymnasium's classes (`set_state`
//! / `state_vector` of MuJoCo envs, `state` of classic ones).

use super::{Env, EnvSpec, Kind, MountainCarContinuous, Pendulum};
use crate::error::{Error, Result};

/// One value of an `info` dict.
#[derive(Clone, Debug, PartialEq)]
pub enum InfoValue {
    Scalar(f64),
    Array(Vec<f64>),
}

/// An `info` dict, in Gymnasium's key order.
pub type Info = Vec<(&'static str, InfoValue)>;

/// What `step` returns: `(obs, reward, terminated, truncated, info)`.
#[derive(Clone, Debug, PartialEq)]
pub struct GymStep {
    pub obs: Vec<f64>,
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
    pub info: Info,
}

enum Task {
    Pendulum(Pendulum),
    MountainCar(MountainCarContinuous),
    Mujoco(Box<super::mujoco::MujocoEnv>),
}

static NUMPY_FUSED_DOT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the NumPy these envs are compared with fuses the products of its dot product (the
/// Python package asks NumPy at import): MuJoCo envs made afterwards compute `np.linalg.norm`
/// the same way ([`super::mujoco::MujocoEnv::set_numpy_fused_dot`]). Training envs keep the
/// default, the same on every CPU.
pub fn set_numpy_fused_dot(fused: bool) {
    NUMPY_FUSED_DOT.store(fused, std::sync::atomic::Ordering::Relaxed);
}

/// A built-in env with Gymnasium's `TimeLimit`.
pub struct GymEnv {
    spec: &'static EnvSpec,
    task: Task,
    elapsed: usize,
}

fn scalars(info: Vec<(&'static str, f64)>) -> Info {
    info.into_iter().map(|(k, v)| (k, InfoValue::Scalar(v))).collect()
}

fn widen(obs: Vec<f32>) -> Vec<f64> {
    obs.into_iter().map(f64::from).collect()
}

impl GymEnv {
    pub fn new(id: &str) -> Result<GymEnv> {
        let spec = EnvSpec::get(id)?;
        let task = match spec.kind {
            Kind::Pendulum => Task::Pendulum(Pendulum::new()),
            Kind::MountainCar => Task::MountainCar(MountainCarContinuous::new()),
            Kind::Mujoco(task, version) => {
                let mut env = super::mujoco::MujocoEnv::versioned(task, version).map_err(|e| match e {
                    Error::Env(why) => Error::Env(format!("{id}: {why}")),
                    other => other,
                })?;
                env.set_numpy_fused_dot(NUMPY_FUSED_DOT.load(std::sync::atomic::Ordering::Relaxed));
                Task::Mujoco(Box::new(env))
            }
        };
        Ok(GymEnv { spec, task, elapsed: 0 })
    }

    pub fn spec(&self) -> &'static EnvSpec {
        self.spec
    }

    fn env(&self) -> &dyn Env {
        match &self.task {
            Task::Pendulum(e) => e,
            Task::MountainCar(e) => e,
            Task::Mujoco(e) => e.as_ref(),
        }
    }

    pub fn observation_space(&self) -> &super::BoxSpace {
        self.env().observation_space()
    }

    pub fn action_space(&self) -> &super::BoxSpace {
        self.env().action_space()
    }

    /// Gymnasium's observation dtype: float64 for the MuJoCo envs, float32 for classic control.
    pub fn obs_is_f64(&self) -> bool {
        matches!(self.task, Task::Mujoco(_))
    }

    /// `reset(seed=…)`: a seed restarts the env's generator, `None` continues it.
    pub fn reset(&mut self, seed: Option<u64>) -> (Vec<f64>, Info) {
        self.elapsed = 0;
        match &mut self.task {
            Task::Pendulum(e) => (widen(e.reset(seed)), Vec::new()),
            Task::MountainCar(e) => (widen(e.reset(seed)), Vec::new()),
            Task::Mujoco(e) => {
                e.reset(seed);
                (e.observation(), Self::mujoco_info(e, e.reset_info()))
            }
        }
    }

    fn mujoco_info(e: &super::mujoco::MujocoEnv, scalars_first: Vec<(&'static str, f64)>) -> Info {
        // Gymnasium's order: positions, the tendon arrays (Humanoid), then the rest.
        let mut info = Vec::with_capacity(scalars_first.len() + 2);
        let split = scalars_first.iter().position(|(k, _)| *k == "distance_from_origin");
        let arrays: Vec<_> = e.array_info().into_iter().map(|(k, v)| (k, InfoValue::Array(v))).collect();
        match split {
            Some(at) if !arrays.is_empty() => {
                let mut rest = scalars(scalars_first);
                let tail = rest.split_off(at);
                info.extend(rest);
                info.extend(arrays);
                info.extend(tail);
            }
            _ => {
                info.extend(scalars(scalars_first));
                info.extend(arrays);
            }
        }
        info
    }

    /// `step(action)`, with the action in the env's own bounds (float32, the action space's
    /// dtype).
    pub fn step(&mut self, action: &[f32]) -> GymStep {
        let (obs, reward, terminated, info) = match &mut self.task {
            Task::Pendulum(e) => {
                let s = e.step(action);
                (widen(s.obs), s.reward, s.terminated, Vec::new())
            }
            Task::MountainCar(e) => {
                let s = e.step(action);
                (widen(s.obs), s.reward, s.terminated, Vec::new())
            }
            Task::Mujoco(e) => {
                let (obs, reward, terminated, info) = e.step_f64(action);
                let info = Self::mujoco_info(e, info);
                (obs, reward, terminated, info)
            }
        };
        self.elapsed += 1;
        let truncated = self.elapsed >= self.spec.max_episode_steps;
        GymStep { obs, reward, terminated, truncated, info }
    }

    fn mujoco(&self, what: &str) -> Result<&super::mujoco::MujocoEnv> {
        match &self.task {
            Task::Mujoco(e) => Ok(e),
            _ => Err(Error::env(format!("{}: {what} is for MuJoCo envs", self.spec.id))),
        }
    }

    /// MujocoEnv's `set_state(qpos, qvel)` (after which `step` continues from that state).
    pub fn set_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<Vec<f64>> {
        let e = self.mujoco("set_state")?;
        let (nq, nv) = (e.sim().nq(), e.sim().nv());
        if qpos.len() != nq || qvel.len() != nv {
            return Err(Error::env(format!(
                "{}: set_state expects qpos of length {nq} and qvel of length {nv}, got {} and {}",
                self.spec.id,
                qpos.len(),
                qvel.len()
            )));
        }
        let Task::Mujoco(e) = &mut self.task else { unreachable!("checked above") };
        e.sim_mut().set_state(qpos, qvel);
        Ok(e.observation())
    }

    /// MujocoEnv's `state_vector()`.
    pub fn state_vector(&self) -> Result<Vec<f64>> {
        Ok(self.mujoco("state_vector")?.state_vector())
    }

    /// (qpos, qvel) of a MuJoCo env.
    pub fn qpos_qvel(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let e = self.mujoco("qpos/qvel")?;
        Ok((e.sim().qpos().to_vec(), e.sim().qvel().to_vec()))
    }

    /// The init_qpos / init_qvel of a MuJoCo env (the model's reference state).
    pub fn init_qpos_qvel(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let e = self.mujoco("init_qpos")?;
        Ok(e.init_state())
    }

    /// Gymnasium's `dt` of a MuJoCo env, or the classic envs' integration step.
    pub fn dt(&self) -> f64 {
        match &self.task {
            Task::Pendulum(_) => 0.05,
            Task::MountainCar(_) => 1.0,
            Task::Mujoco(e) => e.dt(),
        }
    }

    /// `env.unwrapped.state` of a classic-control env.
    pub fn classic_state(&self) -> Result<[f64; 2]> {
        match &self.task {
            Task::Pendulum(e) => Ok(e.state()),
            Task::MountainCar(e) => Ok(e.state()),
            Task::Mujoco(_) => Err(Error::env(format!("{}: use qpos/qvel and set_state on MuJoCo envs", self.spec.id))),
        }
    }

    /// Sets `env.unwrapped.state` of a classic-control env (float64, as Gymnasium's reset
    /// leaves it); returns the observation of that state.
    pub fn set_classic_state(&mut self, state: [f64; 2]) -> Result<Vec<f64>> {
        match &mut self.task {
            Task::Pendulum(e) => Ok(widen(e.reset_to(state[0], state[1]))),
            Task::MountainCar(e) => Ok(widen(e.reset_to(state[0], state[1]))),
            Task::Mujoco(_) => Err(Error::env(format!("{}: use set_state(qpos, qvel) on MuJoCo envs", self.spec.id))),
        }
    }

    /// Steps taken in this episode (the time limit's counter).
    pub fn elapsed_steps(&self) -> usize {
        self.elapsed
    }
}
