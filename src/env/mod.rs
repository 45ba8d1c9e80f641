//! Environments: a Gymnasium-like [`Env`] trait, time limits, and the built-in tasks.
//!
//! Implement [`Env`] to train polyak on your own task (see `examples/custom_env.rs`). Built-in
//! environments are created by name with [`make`], which also applies Gymnasium's time limit.

mod classic;
pub mod gym;
pub mod mujoco;
pub mod snapshot;

pub use classic::{MountainCarContinuous, Pendulum};

use crate::error::{Error, Result};
use crate::render::{Frame, View};
use snapshot::{SnapshotReader, SnapshotWriter};

/// A box-shaped space: one `[low, high]` interval per dimension (infinite bounds allowed).
#[derive(Clone, Debug, PartialEq)]
pub struct BoxSpace {
    pub low: Vec<f32>,
    pub high: Vec<f32>,
}

impl BoxSpace {
    pub fn new(low: Vec<f32>, high: Vec<f32>) -> Self {
        assert_eq!(low.len(), high.len(), "box bounds of different lengths");
        BoxSpace { low, high }
    }

    pub fn dim(&self) -> usize {
        self.low.len()
    }

    pub fn contains(&self, x: &[f32]) -> bool {
        x.len() == self.dim() && x.iter().zip(self.low.iter().zip(&self.high)).all(|(v, (l, h))| v >= l && v <= h)
    }
}

/// What one environment step returns (Gymnasium's `(obs, reward, terminated, truncated, info)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub obs: Vec<f32>,
    pub reward: f64,
    /// The episode reached a terminal state of the MDP (the value beyond it is zero).
    pub terminated: bool,
    /// The episode was cut short from outside the MDP, e.g. by a time limit.
    pub truncated: bool,
    /// Named per-step quantities (e.g. reward terms); logged by the training loop.
    pub info: Vec<(&'static str, f64)>,
}

/// A reinforcement-learning environment with continuous (box) observations and actions.
pub trait Env: Send {
    fn observation_space(&self) -> &BoxSpace;
    fn action_space(&self) -> &BoxSpace;
    /// Starts a new episode. `Some(seed)` reseeds the environment's generator (as Gymnasium's
    /// `reset(seed=…)`); `None` continues its stream.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32>;
    /// Advances one step with an action in the environment's own bounds.
    fn step(&mut self, action: &[f32]) -> Step;
    /// The time limit that truncates an episode, if any.
    fn max_episode_steps(&self) -> Option<usize> {
        None
    }
    /// Keys of [`Step::info`] that are terms of the reward (e.g. `reward_forward`,
    /// `reward_ctrl`); the training loop logs their sum over each episode in `metrics.csv`.
    fn reward_terms(&self) -> &'static [&'static str] {
        &[]
    }
    /// Everything that determines the env's future — physics state, step counters, the reset
    /// generator — so that a resumed run continues the current episode exactly. `None` (the
    /// default) means the env cannot do this; a resumed run then starts a fresh episode there and
    /// says so.
    fn snapshot(&self) -> Option<Vec<u8>> {
        None
    }
    /// Puts the env back in a state from [`Env::snapshot`]; a snapshot that does not fit is an
    /// error (never a panic).
    fn restore(&mut self, _snapshot: &[u8]) -> Result<()> {
        Err(Error::env("this environment does not support snapshots"))
    }
    /// The current state as a picture: Gymnasium's `render()` with `render_mode="rgb_array"`
    /// (see [`crate::render`]). An env that cannot draw itself says so (the default).
    fn render(&mut self, _view: &View) -> Result<Frame> {
        Err(Error::env("this environment cannot draw itself"))
    }
    /// Frames per second that show the env in real time (Gymnasium's
    /// `metadata["render_fps"]`).
    fn render_fps(&self) -> f64 {
        30.0
    }
}

impl<E: Env + ?Sized> Env for Box<E> {
    fn observation_space(&self) -> &BoxSpace {
        (**self).observation_space()
    }
    fn action_space(&self) -> &BoxSpace {
        (**self).action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        (**self).reset(seed)
    }
    fn step(&mut self, action: &[f32]) -> Step {
        (**self).step(action)
    }
    fn max_episode_steps(&self) -> Option<usize> {
        (**self).max_episode_steps()
    }
    fn reward_terms(&self) -> &'static [&'static str] {
        (**self).reward_terms()
    }
    fn snapshot(&self) -> Option<Vec<u8>> {
        (**self).snapshot()
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<()> {
        (**self).restore(snapshot)
    }
    fn render(&mut self, view: &View) -> Result<Frame> {
        (**self).render(view)
    }
    fn render_fps(&self) -> f64 {
        (**self).render_fps()
    }
}

/// Gymnasium's `reset(seed=…)`: a seed restarts the env's generator; `None` continues it.
pub(crate) fn reseed(rng: &mut crate::rng::Rng, seed: Option<u64>) {
    if let Some(s) = seed {
        *rng = crate::rng::Rng::new(s);
    }
}

/// Gymnasium's `TimeLimit` wrapper: truncates an episode after `max_steps` steps (a step that
/// terminates at the limit reports both flags, as Gymnasium does).
pub struct TimeLimit<E> {
    env: E,
    max_steps: usize,
    elapsed: usize,
}

impl<E: Env> TimeLimit<E> {
    pub fn new(env: E, max_steps: usize) -> Self {
        TimeLimit { env, max_steps, elapsed: 0 }
    }

    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
}

impl<E: Env> Env for TimeLimit<E> {
    fn observation_space(&self) -> &BoxSpace {
        self.env.observation_space()
    }
    fn action_space(&self) -> &BoxSpace {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        self.elapsed = 0;
        self.env.reset(seed)
    }
    fn step(&mut self, action: &[f32]) -> Step {
        let mut step = self.env.step(action);
        self.elapsed += 1;
        if self.elapsed >= self.max_steps {
            step.truncated = true;
        }
        step
    }
    fn max_episode_steps(&self) -> Option<usize> {
        Some(self.max_steps)
    }
    fn reward_terms(&self) -> &'static [&'static str] {
        self.env.reward_terms()
    }
    fn snapshot(&self) -> Option<Vec<u8>> {
        let inner = self.env.snapshot()?;
        Some(SnapshotWriter::default().u64(self.elapsed as u64).bytes(&inner).finish())
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<()> {
        let mut r = SnapshotReader::new(snapshot);
        let elapsed = r.u64()?;
        let inner = r.bytes()?;
        r.finish()?;
        self.env.restore(inner)?;
        self.elapsed = usize::try_from(elapsed).map_err(|_| Error::env("time-limit counter overflows"))?;
        Ok(())
    }
    fn render(&mut self, view: &View) -> Result<Frame> {
        self.env.render(view)
    }
    fn render_fps(&self) -> f64 {
        self.env.render_fps()
    }
}

/// A built-in environment as Gymnasium registers it: the one table of env facts. Adding an env
/// is one entry here (and its implementation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnvSpec {
    /// Gymnasium's id.
    pub id: &'static str,
    /// Gymnasium's `TimeLimit` (`max_episode_steps`).
    pub max_episode_steps: usize,
    /// The return that counts as solved: Gymnasium's registered `reward_threshold`; for
    /// Pendulum-v1, which registers none, −200, the usual "solved" line. `polyak report`'s
    /// steps-to-threshold.
    pub reward_threshold: Option<f64>,
    /// Published results shown beside polyak's in `polyak report`, as (algorithm, figure): the
    /// TD3 paper's Table 1 (Fujimoto et al. 2018), max average return over 10 trials of 1M steps
    /// on the **-v1** MuJoCo envs — older dynamics and observations, so a reference point. "ddpg"
    /// is the paper's re-tuned DDPG ("Our DDPG").
    pub published: &'static [(&'static str, &'static str)],
    /// How `polyak report` normalises this env's scores to compare them across envs.
    pub scores: Normalisation,
    /// Training defaults for this env ([`Tuned`]).
    pub tuned: Tuned,
    kind: Kind,
}

/// An env's training defaults, as `key=value` settings (what `--set` takes). They apply over an
/// algorithm's own defaults and under a config file and `--set`, so that `polyak train --algo td3
/// --env HalfCheetah-v5` runs what the literature runs:
/// - every MuJoCo env: 1M steps with 10,000 uniformly random steps first (the TD3 paper's
///   protocol, and rl-baselines3-zoo's);
/// - rl-baselines3-zoo 2.9.2's tuned values (`hyperparams/{sac,td3,ddpg}.yml`) where it has an
///   entry for the env. Its MuJoCo entries are for v4; polyak applies them to v5. Its TD3 and
///   DDPG entries are the same, so `td3` holds for the whole TD3 family (TD3, DDPG and the
///   ablations). `td3-paper` sets its own values instead ([`crate::config::Algo`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuned {
    /// For every algorithm.
    pub any: &'static [&'static str],
    /// For SAC.
    pub sac: &'static [&'static str],
    /// For the TD3 family.
    pub td3: &'static [&'static str],
}

const UNTUNED: Tuned = Tuned { any: &[], sac: &[], td3: &[] };
/// The literature's MuJoCo protocol.
const MUJOCO_RUN: &[&str] = &["total_steps=1000000", "learning_starts=10000"];
/// rl-baselines3-zoo's TD3/DDPG on the MuJoCo locomotion envs.
const ZOO_TD3_MUJOCO: &[&str] =
    &["actor_lr=0.001", "critic_lr=0.001", "batch_size=256", "hidden=[400, 300]", "td3.exploration_noise=0.1"];
const MUJOCO_ZOO: Tuned = Tuned { any: MUJOCO_RUN, sac: &[], td3: ZOO_TD3_MUJOCO };

/// A normalised score is `(score − random) / (reference − random)`: 0 is a uniformly random
/// policy, 1 the reference. Two kinds of reference:
/// - **TD3 at 1M steps**, for the five locomotion envs, with the random scores beside them: the
///   figures TD7 (Fujimoto et al. 2023), MR.Q and SimbaV2 normalise by. They were measured on the
///   **v4** envs; polyak applies them to v5, whose rewards differ in details, so a normalised v5
///   score is close to, not the same as, a published v4 one.
/// - **`reward_threshold`** (the return that counts as solved, above) for the others, with the
///   mean return of 100 uniformly random episodes in Gymnasium 1.4.0's env
///   (`scripts/fixtures/random_scores.py`). A normalised score of 1 is then "solved".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalisation {
    pub random: f64,
    pub reference: f64,
    /// Where the reference comes from, as the report names it.
    pub source: &'static str,
}

impl Normalisation {
    pub fn apply(&self, score: f64) -> f64 {
        (score - self.random) / (self.reference - self.random)
    }
}

const TD3_1M: &str = "TD3 at 1M steps (v4 figures, as TD7 uses)";
const SOLVED: &str = "reward_threshold (solved)";

const fn normalise(random: f64, reference: f64, source: &'static str) -> Normalisation {
    Normalisation { random, reference, source }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Pendulum,
    MountainCar,
    Mujoco(MujocoTask, MujocoVersion),
}

/// Which of Gymnasium's versions of a MuJoCo task: v5 (the current one) or v4, which most
/// published results use. v4 differs in a few rewards (no contact cost; the survival bonus paid
/// on the terminal step too), observations (Ant without contact forces, Humanoid with the world
/// body's entries), Walker2d's model and the info keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MujocoVersion {
    V4,
    V5,
}

/// Gymnasium's MuJoCo v5 tasks (implemented in `env::mujoco`, which needs the MuJoCo library).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MujocoTask {
    HalfCheetah,
    Hopper,
    Walker2d,
    Ant,
    Humanoid,
    Swimmer,
    InvertedPendulum,
    InvertedDoublePendulum,
    Reacher,
    Pusher,
}

/// An env whose normalised score is 1 at its `reward_threshold` (and 0 at `random`).
const fn spec(id: &'static str, max_episode_steps: usize, threshold: f64, random: f64, kind: Kind) -> EnvSpec {
    EnvSpec {
        id,
        max_episode_steps,
        reward_threshold: Some(threshold),
        published: &[],
        scores: normalise(random, threshold, SOLVED),
        tuned: UNTUNED,
        kind,
    }
}

const fn mujoco(id: &'static str, threshold: f64, random: f64, task: MujocoTask) -> EnvSpec {
    let kind = Kind::Mujoco(task, MujocoVersion::V5);
    EnvSpec { tuned: Tuned { any: MUJOCO_RUN, ..UNTUNED }, ..spec(id, 1000, threshold, random, kind) }
}

/// A locomotion env, normalised by TD3 at 1M steps.
const fn locomotion(id: &'static str, threshold: Option<f64>, random: f64, td3: f64, task: MujocoTask) -> EnvSpec {
    EnvSpec {
        id,
        max_episode_steps: 1000,
        reward_threshold: threshold,
        published: &[],
        scores: normalise(random, td3, TD3_1M),
        tuned: MUJOCO_ZOO,
        kind: Kind::Mujoco(task, MujocoVersion::V5),
    }
}

/// The v4 version of a locomotion env ([`MujocoVersion`]).
const fn v4(v5: EnvSpec, id: &'static str) -> EnvSpec {
    let Kind::Mujoco(task, _) = v5.kind else { panic!("v4 exists only for MuJoCo envs") };
    EnvSpec { id, kind: Kind::Mujoco(task, MujocoVersion::V4), ..v5 }
}

const HALF_CHEETAH: EnvSpec = EnvSpec {
    published: &[("td3", "9636.95 ± 859.07"), ("ddpg", "8577.29")],
    ..locomotion("HalfCheetah-v5", Some(4800.0), -289.415, 10574.0, MujocoTask::HalfCheetah)
};
const HOPPER: EnvSpec = EnvSpec {
    published: &[("td3", "3564.07 ± 114.74"), ("ddpg", "1860.02")],
    ..locomotion("Hopper-v5", Some(3800.0), 18.791, 3226.0, MujocoTask::Hopper)
};
const WALKER2D: EnvSpec = EnvSpec {
    published: &[("td3", "4682.82 ± 539.64"), ("ddpg", "3098.11")],
    ..locomotion("Walker2d-v5", None, 2.791, 3946.0, MujocoTask::Walker2d)
};
const ANT: EnvSpec = EnvSpec {
    published: &[("td3", "4372.44 ± 1000.33"), ("ddpg", "888.77")],
    ..locomotion("Ant-v5", Some(6000.0), -70.288, 3942.0, MujocoTask::Ant)
};
const HUMANOID: EnvSpec = EnvSpec {
    tuned: Tuned { any: &["total_steps=2000000", "learning_starts=10000"], ..MUJOCO_ZOO },
    ..locomotion("Humanoid-v5", None, 120.423, 5165.0, MujocoTask::Humanoid)
};

/// Every built-in environment.
pub const SPECS: [EnvSpec; 17] = [
    EnvSpec {
        tuned: Tuned {
            any: &[],
            sac: &["actor_lr=0.001", "critic_lr=0.001", "sac.alpha_lr=0.001"],
            td3: &[
                "gamma=0.98",
                "buffer_size=200000",
                "learning_starts=10000",
                "actor_lr=0.001",
                "critic_lr=0.001",
                "hidden=[400, 300]",
                "td3.exploration_noise=0.1",
            ],
        },
        ..spec("Pendulum-v1", 200, -200.0, -1207.555, Kind::Pendulum)
    },
    EnvSpec {
        // The zoo's TD3/DDPG explore with Ornstein–Uhlenbeck noise of σ 0.5, polyak's with
        // Gaussian noise of that σ. Its SAC entry is left out: it is tuned around gSDE
        // (state-dependent exploration), which polyak does not have, and without it those values
        // (50k steps, batch 512, α fixed at 0.1, γ 0.9999, 64-64 networks, …) ended at the
        // do-nothing optimum here (final evaluation −0.00 after 50k steps, seed 0).
        tuned: Tuned {
            any: &[],
            sac: &[],
            td3: &[
                "total_steps=300000",
                "actor_lr=0.001",
                "critic_lr=0.001",
                "batch_size=256",
                "hidden=[400, 300]",
                "td3.exploration_noise=0.5",
            ],
        },
        ..spec("MountainCarContinuous-v0", 999, 90.0, -33.252, Kind::MountainCar)
    },
    HALF_CHEETAH,
    HOPPER,
    WALKER2D,
    ANT,
    HUMANOID,
    EnvSpec {
        tuned: Tuned {
            any: MUJOCO_RUN,
            sac: &["gamma=0.999"],
            td3: &[
                "actor_lr=0.001",
                "critic_lr=0.001",
                "batch_size=256",
                "hidden=[400, 300]",
                "td3.exploration_noise=0.1",
                "gamma=0.9999",
            ],
        },
        ..mujoco("Swimmer-v5", 360.0, 0.803, MujocoTask::Swimmer)
    },
    mujoco("InvertedPendulum-v5", 950.0, 5.230, MujocoTask::InvertedPendulum),
    mujoco("InvertedDoublePendulum-v5", 9100.0, 49.090, MujocoTask::InvertedDoublePendulum),
    EnvSpec { max_episode_steps: 50, ..mujoco("Reacher-v5", -3.75, -43.292, MujocoTask::Reacher) },
    EnvSpec { max_episode_steps: 100, ..mujoco("Pusher-v5", 0.0, -149.223, MujocoTask::Pusher) },
    // Gymnasium 1.4.0's v4 classes: same ids' thresholds and time limits, same TD3-at-1M scores
    // (measured on v4), same per-env defaults.
    v4(HALF_CHEETAH, "HalfCheetah-v4"),
    v4(HOPPER, "Hopper-v4"),
    v4(WALKER2D, "Walker2d-v4"),
    v4(ANT, "Ant-v4"),
    v4(HUMANOID, "Humanoid-v4"),
];

impl EnvSpec {
    /// Looks an env up by its Gymnasium id, suggesting the closest on a typo.
    pub fn get(id: &str) -> Result<&'static EnvSpec> {
        if let Some(name) = id.strip_prefix(PYTHON_ENV_PREFIX) {
            return Err(Error::Env(format!(
                "this run trained on a Python environment ({name}), which only Python can step: continue or \
                 evaluate it from Python, passing the env again: polyak.load(run_dir, env=...)"
            )));
        }
        SPECS.iter().find(|s| s.id == id).ok_or_else(|| Error::UnknownName {
            kind: "environment",
            name: id.to_string(),
            available: available(),
        })
    }

    /// Whether it runs on MuJoCo.
    pub fn is_mujoco(&self) -> bool {
        matches!(self.kind, Kind::Mujoco(..))
    }

    /// The MuJoCo task behind a MuJoCo env.
    pub fn mujoco_task(&self) -> Option<MujocoTask> {
        match self.kind {
            Kind::Mujoco(t, _) => Some(t),
            _ => None,
        }
    }

    /// Which version of its MuJoCo task it is.
    pub fn mujoco_version(&self) -> Option<MujocoVersion> {
        match self.kind {
            Kind::Mujoco(_, v) => Some(v),
            _ => None,
        }
    }

    /// The published figure for `algo` on this env, if any.
    pub fn published(&self, algo: &str) -> Option<&'static str> {
        self.published.iter().find(|(a, _)| *a == algo).map(|(_, f)| *f)
    }

    /// The env with Gymnasium's time limit.
    pub fn make(&self) -> Result<Box<dyn Env>> {
        let limit = self.max_episode_steps;
        Ok(match self.kind {
            Kind::Pendulum => Box::new(TimeLimit::new(Pendulum::new(), limit)),
            Kind::MountainCar => Box::new(TimeLimit::new(MountainCarContinuous::new(), limit)),
            Kind::Mujoco(task, version) => make_mujoco(self.id, task, version, limit)?,
        })
    }
}

/// How a run on an environment written in Python (stepped through the Python package) records
/// its `env`: `python:<its Gymnasium id or class name>`.
pub const PYTHON_ENV_PREFIX: &str = "python:";

/// Names [`make`] accepts.
pub fn available() -> Vec<String> {
    SPECS.iter().map(|s| s.id.to_string()).collect()
}

/// True when the MuJoCo library can be loaded, so the MuJoCo envs can be made.
pub fn mujoco_available() -> bool {
    mujoco::available()
}

/// Why the MuJoCo envs cannot be made here (the library missing, another version of it, a CPU
/// it cannot run on), or `None` when they can.
pub fn mujoco_unavailable_because() -> Option<String> {
    mujoco::unavailable_because()
}

/// Creates a built-in environment by its Gymnasium id, with Gymnasium's time limit.
pub fn make(id: &str) -> Result<Box<dyn Env>> {
    EnvSpec::get(id)?.make()
}

fn make_mujoco(id: &str, task: MujocoTask, version: MujocoVersion, limit: usize) -> Result<Box<dyn Env>> {
    let env = mujoco::MujocoEnv::versioned(task, version).map_err(|e| match e {
        Error::Env(why) => Error::Env(format!("{id}: {why}")),
        other => other,
    })?;
    Ok(Box::new(TimeLimit::new(env, limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limit_truncates_at_the_limit_and_reset_restarts_the_count() {
        let mut env = make("Pendulum-v1").unwrap();
        assert_eq!(env.max_episode_steps(), Some(200));
        for round in 0..2 {
            env.reset(Some(round));
            for t in 1..=200 {
                let s = env.step(&[0.0]);
                assert!(!s.terminated);
                assert_eq!(s.truncated, t == 200, "step {t}");
            }
        }
    }

    #[test]
    fn snapshot_restore_continues_every_env_exactly() {
        for name in available() {
            let Ok(mut env) = make(&name) else { continue }; // MuJoCo envs in builds without it
            env.reset(Some(3));
            let mut rng = crate::rng::Rng::new(1);
            let action = |rng: &mut crate::rng::Rng| [rng.uniform_range(-1.0, 1.0) as f32];
            for _ in 0..150 {
                env.step(&action(&mut rng));
            }
            let snap = env.snapshot().unwrap();
            let mut twin = make(&name).unwrap();
            twin.restore(&snap).unwrap();
            // Past the time limit and through resets that draw from the env's own generator.
            for t in 0..1200 {
                let a = action(&mut rng);
                let (x, y) = (env.step(&a), twin.step(&a));
                assert_eq!(
                    (x.obs.clone(), x.reward, x.terminated, x.truncated),
                    (y.obs, y.reward, y.terminated, y.truncated),
                    "{name} step {t}"
                );
                if x.terminated || x.truncated {
                    assert_eq!(env.reset(None), twin.reset(None));
                }
            }
        }
    }

    #[test]
    fn malformed_snapshots_are_errors() {
        let mut env = make("Pendulum-v1").unwrap();
        let good = env.snapshot().unwrap();
        let mut rng = crate::rng::Rng::new(0);
        for _ in 0..500 {
            let len = rng.below(good.len() as u64 + 16) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let _ = env.restore(&bytes);
        }
        assert!(env.restore(&good[..good.len() - 1]).is_err());
        let mut longer = good.clone();
        longer.push(0);
        assert!(env.restore(&longer).unwrap_err().to_string().contains("trailing"));
    }

    #[test]
    fn unknown_env_suggests_the_closest() {
        let err = make("pendulum").err().unwrap().to_string();
        assert!(err.contains("did you mean `Pendulum-v1`"), "{err}");
    }
}
