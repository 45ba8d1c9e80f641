//! Run configuration: every hyperparameter in one TOML-serialisable struct.
//!
//! A run's config is resolved in layers — defaults, then the algorithm preset, then a TOML file,
//! then `--set key=value` overrides — and validated as a whole. Unknown keys and bad values are
//! rejected with the key, what was expected, and the closest known key.

use crate::algo::{CommonConfig, SacConfig, Td3Config};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The algorithms and presets `--algo` accepts — the one list of them. A preset is a name for
/// settings of an algorithm: the TD3 ablations switch off one trick each and `ddpg` all three
/// (TD3 paper, Table 2); `td3-paper` is TD3 with the paper's own settings. Adding a preset is
/// one variant and its arms below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algo {
    Sac,
    Td3,
    Ddpg,
    Td3NoTwin,
    Td3NoDelay,
    Td3NoSmoothing,
    Td3Paper,
}

impl Algo {
    pub const ALL: [Algo; 7] =
        [Algo::Sac, Algo::Td3, Algo::Ddpg, Algo::Td3NoTwin, Algo::Td3NoDelay, Algo::Td3NoSmoothing, Algo::Td3Paper];

    /// The name on the command line and in config files.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sac => "sac",
            Algo::Td3 => "td3",
            Algo::Ddpg => "ddpg",
            Algo::Td3NoTwin => "td3-no-twin",
            Algo::Td3NoDelay => "td3-no-delay",
            Algo::Td3NoSmoothing => "td3-no-smoothing",
            Algo::Td3Paper => "td3-paper",
        }
    }

    /// What it is, for `polyak list`.
    pub fn describe(self) -> &'static str {
        match self {
            Algo::Sac => "soft actor-critic, learned temperature (Haarnoja et al. 2018)",
            Algo::Td3 => "twin critics, delayed actor updates, target smoothing (Fujimoto et al. 2018)",
            Algo::Ddpg => "TD3 with all three tricks off",
            Algo::Td3NoTwin => "TD3 without clipped double Q (one critic)",
            Algo::Td3NoDelay => "TD3 with the actor updated every step",
            Algo::Td3NoSmoothing => "TD3 without target policy smoothing",
            Algo::Td3Paper => {
                "TD3 with the paper's settings: 400-300 nets, lr 1e-3, batch 100, 1M steps, 10k random steps on \
                 HalfCheetah/Ant (1k elsewhere); no per-env defaults"
            }
        }
    }

    pub fn from_name(name: &str) -> Result<Algo> {
        Algo::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| Error::UnknownName {
            kind: "algorithm",
            name: name.to_string(),
            available: Algo::ALL.iter().map(|a| a.name().to_string()).collect(),
        })
    }

    /// The algorithm whose published figures stand beside this one's (`td3-paper` is the paper's
    /// TD3, settings and all).
    pub fn published_as(self) -> &'static str {
        match self {
            Algo::Td3Paper => Algo::Td3.name(),
            a => a.name(),
        }
    }

    /// Which update it runs.
    pub fn family(self) -> Family {
        match self {
            Algo::Sac => Family::Sac,
            _ => Family::Td3,
        }
    }

    /// The TD3 switches of a TD3-family preset.
    pub fn td3_config(self) -> Td3Config {
        let mut t = Td3Config::default();
        match self {
            Algo::Sac | Algo::Td3 | Algo::Td3Paper => {}
            Algo::Ddpg => t = Td3Config::ddpg(),
            Algo::Td3NoTwin => t.twin_critics = false,
            Algo::Td3NoDelay => t.policy_delay = 1,
            Algo::Td3NoSmoothing => t.target_noise = 0.0,
        }
        t
    }
}

impl Algo {
    /// The settings this algorithm gets on `env` (`key=value`, applied over its defaults and
    /// under a config file and `--set`): the env's tuned defaults ([`crate::env::Tuned`]) for
    /// its family, or, for `td3-paper`, the TD3 paper's (Fujimoto et al. 2018, section 6.1 and
    /// appendix C): Adam at 1e-3 for both networks, 400-300 ReLU networks, mini-batches of 100,
    /// Gaussian exploration noise of 0.1, and on its MuJoCo envs 1M steps with 10,000 random
    /// steps first on HalfCheetah and Ant and 1,000 on the others. The rest — τ 0.005, γ 0.99,
    /// policy delay 2, smoothing noise 0.2 clipped at 0.5, 1M replay, an evaluation of 10
    /// episodes every 5,000 steps — are TD3's defaults here already.
    pub fn env_settings(self, env: &str) -> Vec<String> {
        let spec = crate::env::EnvSpec::get(env).ok();
        if self == Algo::Td3Paper {
            let mut sets: Vec<String> = [
                "actor_lr=0.001",
                "critic_lr=0.001",
                "hidden=[400, 300]",
                "batch_size=100",
                "td3.exploration_noise=0.1",
            ]
            .map(String::from)
            .to_vec();
            if spec.is_some_and(|s| s.is_mujoco()) {
                let start = if env.starts_with("HalfCheetah") || env.starts_with("Ant") { 10_000 } else { 1_000 };
                sets.extend(["total_steps=1000000".to_string(), format!("learning_starts={start}")]);
            }
            return sets;
        }
        let Some(spec) = spec else { return Vec::new() };
        let family = match self.family() {
            Family::Sac => spec.tuned.sac,
            Family::Td3 => spec.tuned.td3,
        };
        spec.tuned.any.iter().chain(family).map(|s| s.to_string()).collect()
    }
}

impl std::fmt::Display for Algo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Algo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Algo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Algo::from_name(&name).map_err(serde::de::Error::custom)
    }
}

/// Settings a resumed run may change: how long it goes on, how it is evaluated, checkpointed and
/// parallelised — none changes what the run computed so far or how it learns.
pub const RESUME_CHANGEABLE: [&str; 6] =
    ["total_steps", "eval_every", "eval_episodes", "checkpoint_every", "video_every", "threads"];

/// The checkpoint interval when the config does not set one: a tenth of the run, at most 50k
/// steps (at SAC's ≈ 150 steps/s, ≈ 6 minutes of training to redo after a crash).
pub fn default_checkpoint_every(total_steps: u64) -> u64 {
    total_steps.div_ceil(10).clamp(1, 50_000)
}

/// What each key means, for `help()` in Python and `polyak list`: the one table of key
/// descriptions (a test checks that every key of the config has one).
pub const KEY_DOCS: &[(&str, &str)] = &[
    ("algo", "algorithm or preset (sac, td3, ddpg, td3-no-twin, td3-no-delay, td3-no-smoothing, td3-paper)"),
    ("env", "environment id, e.g. \"Pendulum-v1\""),
    ("seed", "fixes every random choice of the run"),
    ("total_steps", "environment steps to train for"),
    ("learning_starts", "uniform-random warm-up steps before the first update"),
    ("gradient_steps", "gradient updates per environment step"),
    ("batch_size", "transitions per gradient update"),
    ("buffer_size", "replay capacity in transitions"),
    ("gamma", "discount factor γ"),
    ("tau", "Polyak coefficient τ of the target networks (θ' ← τθ + (1−τ)θ')"),
    ("actor_lr", "Adam learning rate of the actor"),
    ("critic_lr", "Adam learning rate of the critics"),
    ("hidden", "hidden layer widths of actor and critics (ReLU)"),
    ("threads", "threads per update: 0 = automatic (2 where there are 2 cores); results are identical for any value"),
    ("eval_every", "evaluate every this many env steps (0 = only at the end)"),
    ("eval_episodes", "deterministic episodes per evaluation"),
    (
        "checkpoint_every",
        "checkpoint every this many env steps (0 = only at the end); unset: a tenth of total_steps, at most 50,000",
    ),
    (
        "video_every",
        "record one deterministic episode as <run>/videos/step_<N>.gif every this many env steps (0 = off)",
    ),
    ("td3.twin_critics", "clipped double Q: two critics, the target takes their minimum (off = one critic)"),
    ("td3.policy_delay", "critic updates per actor and target update, d (1 = no delay)"),
    ("td3.target_noise", "target policy smoothing: std σ̃ of the noise on the target action (0 = off)"),
    ("td3.target_noise_clip", "clip c of the smoothing noise"),
    ("td3.exploration_noise", "std of the Gaussian exploration noise on the normalised action"),
    ("sac.auto_alpha", "learn the temperature α (true) or keep it fixed at initial_alpha"),
    ("sac.initial_alpha", "starting (or fixed) temperature α"),
    ("sac.alpha_lr", "Adam learning rate of log α"),
    ("sac.target_entropy", "entropy the temperature steers towards; unset = −(action dimensions)"),
];

/// Every key of an algorithm's config as `(dotted key, default as TOML, meaning)`, in the order
/// of [`KEY_DOCS`]; keys of the other family's section are left out.
pub fn hyperparameters(algo: Algo) -> Vec<(&'static str, String, &'static str)> {
    let table = toml::Table::try_from(TrainConfig::preset(algo)).unwrap_or_default();
    let other = match algo.family() {
        Family::Sac => "td3.",
        Family::Td3 => "sac.",
    };
    KEY_DOCS
        .iter()
        .filter(|(key, _)| !key.starts_with(other))
        .map(|&(key, meaning)| {
            let value = match key.split_once('.') {
                Some((section, name)) => table.get(section).and_then(|t| t.get(name)),
                None => table.get(key),
            };
            (key, value.map_or_else(|| "unset".to_string(), toml::Value::to_string), meaning)
        })
        .collect()
}

/// The largest integer a config holds: TOML integers are signed 64-bit.
pub const MAX_INTEGER: u64 = i64::MAX as u64;

/// Which update a preset runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Sac,
    Td3,
}

/// Everything that defines a training run. Unknown keys are rejected before deserialising (with
/// the closest known key), so serde's own `deny_unknown_fields` — which cannot be combined with
/// the flattened [`CommonConfig`] — is not needed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Algorithm or preset.
    pub algo: Algo,
    /// Environment id, e.g. "Pendulum-v1".
    pub env: String,
    /// Fixes every random choice of the run.
    pub seed: u64,
    /// Environment steps to train for.
    pub total_steps: u64,
    /// Uniform-random warm-up steps before the first update.
    pub learning_starts: u64,
    /// Gradient updates per environment step.
    pub gradient_steps: u32,
    /// Transitions per gradient update.
    pub batch_size: usize,
    /// Replay capacity in transitions.
    pub buffer_size: usize,
    /// γ, τ, learning rates, network widths and threads (top-level keys in the TOML).
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Evaluate every this many env steps (0 = only at the end).
    pub eval_every: u64,
    /// Deterministic episodes per evaluation.
    pub eval_episodes: usize,
    /// Checkpoint every this many env steps (0 = only at the end; the end is always saved).
    /// Unset, it is a tenth of `total_steps`, at most 50,000 ([`default_checkpoint_every`]), so a
    /// run can be resumed from any moment with at most a tenth of it to redo.
    pub checkpoint_every: u64,
    /// Every this many env steps, one deterministic episode (always from the same reset seed)
    /// is drawn into `<run>/videos/step_<N>.gif` (0 = off). Needs an env that can draw itself
    /// (MuJoCo envs: a headless OpenGL, see [`crate::render::gl`]).
    pub video_every: u64,
    /// TD3/DDPG switches.
    pub td3: Td3Config,
    /// SAC settings.
    pub sac: SacConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            algo: Algo::Sac,
            env: "Pendulum-v1".into(),
            seed: 0,
            total_steps: 20_000,
            learning_starts: 1_000,
            gradient_steps: 1,
            batch_size: 256,
            buffer_size: 1_000_000,
            common: CommonConfig::default(),
            eval_every: 5_000,
            eval_episodes: 10,
            checkpoint_every: default_checkpoint_every(20_000),
            video_every: 0,
            td3: Td3Config::default(),
            sac: SacConfig::default(),
        }
    }
}

impl TrainConfig {
    /// Defaults with a preset's switches applied.
    pub fn preset(algo: Algo) -> Self {
        TrainConfig { algo, td3: algo.td3_config(), ..Default::default() }
    }

    pub fn family(&self) -> Family {
        self.algo.family()
    }

    /// Resolves a run's config: defaults → preset of `algo` (or the file's `algo`, else "sac")
    /// → the env's settings for it ([`Algo::env_settings`]) → `file` → `sets` (`key=value`,
    /// dotted keys for sections, e.g. `td3.policy_delay=3`).
    pub fn resolve(algo: Option<&str>, file: Option<&Path>, sets: &[String]) -> Result<Self> {
        let file_table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                text.parse::<toml::Table>()
                    .map_err(|e| Error::Invalid(format!("{}: not valid TOML: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        let overrides = parse_sets(sets)?;
        let algo = match algo {
            Some(a) => a.to_string(),
            None => match get_str(&overrides, "algo")? {
                Some(a) => a,
                None => get_str(&file_table, "algo")?.unwrap_or_else(|| "sac".to_string()),
            },
        };
        let algo = Algo::from_name(&algo)?;
        let base = Self::preset(algo);
        let mut merged = toml::Table::try_from(&base).map_err(|e| Error::Invalid(e.to_string()))?;
        let known = merged.clone();
        let env = match get_str(&overrides, "env")? {
            Some(e) => e,
            None => get_str(&file_table, "env")?.unwrap_or(base.env),
        };
        let env_table = parse_sets(&algo.env_settings(&env))?;
        for layer in [&env_table, &file_table, &overrides] {
            check_known(layer, &known, "")?;
            check_family(layer, algo)?;
            merge(&mut merged, layer);
        }
        merged.insert("algo".into(), toml::Value::String(algo.name().into()));
        if !file_table.contains_key("checkpoint_every") && !overrides.contains_key("checkpoint_every") {
            let steps = merged.get("total_steps").and_then(toml::Value::as_integer).unwrap_or(0).max(0) as u64;
            merged.insert("checkpoint_every".into(), toml::Value::Integer(default_checkpoint_every(steps) as i64));
        }
        let cfg = Self::from_table(merged)?;
        let from_env =
            |key: &str| env_table.contains_key(key) && ![&file_table, &overrides].iter().any(|t| t.contains_key(key));
        if cfg.learning_starts >= cfg.total_steps && from_env("learning_starts") {
            return Err(Error::config(
                "learning_starts",
                format!(
                    "{}, {env}'s default for {algo}, is not below total_steps ({}): the run would never update its \
                     networks; train longer, or set fewer random steps (e.g. --set learning_starts={})",
                    cfg.learning_starts,
                    cfg.total_steps,
                    cfg.total_steps / 10
                ),
            ));
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// This config with `sets` applied, for resuming a run that has done `steps_done` steps:
    /// only [`RESUME_CHANGEABLE`] keys may change, and `total_steps` not below `steps_done`.
    pub fn with_resume_changes(&self, sets: &[String], steps_done: u64) -> Result<Self> {
        let overrides = parse_sets(sets)?;
        let mut table = toml::Table::try_from(self).map_err(|e| Error::Invalid(e.to_string()))?;
        check_known(&overrides, &table.clone(), "")?;
        merge(&mut table, &overrides);
        let cfg = Self::from_table(table)?;
        if cfg.total_steps < steps_done {
            return Err(Error::config(
                "total_steps",
                format!("{} is below the {steps_done} steps the run has already done", cfg.total_steps),
            ));
        }
        cfg.validate()?;
        self.check_resume_change(&cfg)?;
        Ok(cfg)
    }

    /// Fails, naming the first key, if `new` differs from `self` outside [`RESUME_CHANGEABLE`].
    pub fn check_resume_change(&self, new: &Self) -> Result<()> {
        match self.differences(new, true).into_iter().next() {
            None => Ok(()),
            Some((key, old, value)) => Err(Error::config(
                key,
                format!(
                    "cannot change from {old} to {value} on resume: it changes what the run means (a resume may \
                     change only {}); start a new run instead",
                    RESUME_CHANGEABLE.join(", ")
                ),
            )),
        }
    }

    /// The (dotted) keys whose values differ, as `(key, value here, value in other)`; with
    /// `fixed_only`, only keys outside [`RESUME_CHANGEABLE`].
    pub fn differences(&self, other: &Self, fixed_only: bool) -> Vec<(String, String, String)> {
        let flat = |c: &Self| {
            let mut out = Vec::new();
            for (k, v) in toml::Table::try_from(c).unwrap_or_default() {
                match v {
                    toml::Value::Table(section) => {
                        out.extend(section.into_iter().map(|(s, v)| (format!("{k}.{s}"), v)))
                    }
                    v => out.push((k, v)),
                }
            }
            out
        };
        let (mine, theirs) = (flat(self), flat(other));
        let value = |list: &[(String, toml::Value)], key: &str| {
            list.iter().find(|(k, _)| k == key).map_or_else(|| "(unset)".to_string(), |(_, v)| v.to_string())
        };
        let keys: Vec<&String> = mine.iter().chain(&theirs).map(|(k, _)| k).collect();
        let mut seen = std::collections::BTreeSet::new();
        keys.into_iter()
            .filter(|key| seen.insert(key.as_str()))
            .filter(|key| !fixed_only || !RESUME_CHANGEABLE.contains(&key.as_str()))
            .filter_map(|key| {
                let (a, b) = (value(&mine, key), value(&theirs, key));
                (a != b).then(|| (key.clone(), a, b))
            })
            .collect()
    }

    /// Reads a resolved config (as written to a run directory).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    /// Parses and validates a complete config from TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        let table = text.parse::<toml::Table>().map_err(|e| Error::Invalid(format!("not valid TOML: {e}")))?;
        let algo = Algo::from_name(&get_str(&table, "algo")?.unwrap_or_else(|| "sac".into()))?;
        let mut merged = toml::Table::try_from(Self::preset(algo)).map_err(|e| Error::Invalid(e.to_string()))?;
        check_known(&table, &merged.clone(), "")?;
        check_family(&table, algo)?;
        merge(&mut merged, &table);
        let cfg = Self::from_table(merged)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn from_table(table: toml::Table) -> Result<Self> {
        TrainConfig::deserialize(table.clone()).map_err(|e| {
            let key = locate_bad_key(&table).unwrap_or_else(|| "config".into());
            Error::config(key, e.to_string().lines().next().unwrap_or("").to_string())
        })
    }

    /// The resolved config as TOML, with only the section of the algorithm family in use.
    pub fn to_toml(&self) -> String {
        let mut table = toml::Table::try_from(self).expect("config serialises");
        table.remove(match self.family() {
            Family::Sac => "td3",
            Family::Td3 => "sac",
        });
        toml::to_string_pretty(&table).expect("config serialises")
    }

    /// Range checks, each naming the key and what it expects.
    pub fn validate(&self) -> Result<()> {
        fn check(ok: bool, key: &str, expected: &str, got: impl std::fmt::Display) -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(Error::config(key, format!("expected {expected}, got {got}")))
            }
        }
        let finite_pos = |x: f64| x.is_finite() && x > 0.0;
        check(!self.env.is_empty(), "env", "an environment id", "\"\"")?;
        // TOML integers are signed: anything larger could not be written to config.toml.
        for (key, v) in [
            ("seed", self.seed),
            ("total_steps", self.total_steps),
            ("learning_starts", self.learning_starts),
            ("eval_every", self.eval_every),
            ("checkpoint_every", self.checkpoint_every),
            ("video_every", self.video_every),
            ("batch_size", self.batch_size as u64),
            ("buffer_size", self.buffer_size as u64),
            ("eval_episodes", self.eval_episodes as u64),
            ("threads", self.common.threads as u64),
        ] {
            check(v <= MAX_INTEGER, key, &format!("at most {MAX_INTEGER}"), v)?;
        }
        check(self.total_steps >= 1, "total_steps", "at least 1", self.total_steps)?;
        check(self.gradient_steps >= 1, "gradient_steps", "at least 1", self.gradient_steps)?;
        check(self.batch_size >= 1, "batch_size", "at least 1", self.batch_size)?;
        check(self.buffer_size >= 1, "buffer_size", "at least 1", self.buffer_size)?;
        let c = &self.common;
        check((0.0..=1.0).contains(&c.gamma), "gamma", "a discount in [0, 1]", c.gamma)?;
        check(c.tau > 0.0 && c.tau <= 1.0, "tau", "a coefficient in (0, 1]", c.tau)?;
        check(finite_pos(c.actor_lr), "actor_lr", "a positive learning rate", c.actor_lr)?;
        check(finite_pos(c.critic_lr), "critic_lr", "a positive learning rate", c.critic_lr)?;
        check(
            !c.hidden.is_empty() && c.hidden.iter().all(|&h| h > 0),
            "hidden",
            "a non-empty list of positive layer widths",
            format!("{:?}", c.hidden),
        )?;
        check(self.eval_episodes >= 1, "eval_episodes", "at least 1", self.eval_episodes)?;
        check(
            self.learning_starts < self.total_steps,
            "learning_starts",
            &format!("fewer than total_steps ({}), or the run never updates its networks", self.total_steps),
            self.learning_starts,
        )?;
        let t = &self.td3;
        check(t.policy_delay >= 1, "td3.policy_delay", "at least 1", t.policy_delay)?;
        check(t.target_noise >= 0.0 && t.target_noise.is_finite(), "td3.target_noise", "≥ 0", t.target_noise)?;
        let finite_nonneg = |x: f64| x.is_finite() && x >= 0.0;
        check(finite_nonneg(t.target_noise_clip), "td3.target_noise_clip", "a finite value ≥ 0", t.target_noise_clip)?;
        check(finite_nonneg(t.exploration_noise), "td3.exploration_noise", "a finite value ≥ 0", t.exploration_noise)?;
        let s = &self.sac;
        check(finite_pos(s.initial_alpha), "sac.initial_alpha", "a positive temperature", s.initial_alpha)?;
        check(finite_pos(s.alpha_lr), "sac.alpha_lr", "a positive learning rate", s.alpha_lr)?;
        if let Some(h) = s.target_entropy {
            check(h.is_finite(), "sac.target_entropy", "a finite number", h)?;
        }
        Ok(())
    }
}

/// `key=value` overrides as a TOML table (dotted keys become sections).
fn parse_sets(sets: &[String]) -> Result<toml::Table> {
    let mut overrides = toml::Table::new();
    for set in sets {
        let (key, value) = set.split_once('=').filter(|(k, _)| !k.trim().is_empty()).ok_or_else(|| {
            Error::flag("--set", format!("expected key=value, e.g. --set batch_size=128; got `{set}`"))
        })?;
        let (key, value) = (key.trim(), value.trim());
        if value.parse::<i128>().is_ok_and(|v| v > i64::MAX as i128 || v < i64::MIN as i128) {
            return Err(Error::config(
                key,
                format!("{value} is beyond the largest integer a config holds ({MAX_INTEGER})"),
            ));
        }
        set_dotted(&mut overrides, key, parse_value(value));
    }
    Ok(overrides)
}

/// A string setting, if present; any other type is an error naming the key.
fn get_str(table: &toml::Table, key: &str) -> Result<Option<String>> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::config(
            key,
            format!("expected a string naming an algorithm ({}), got {other}", Algo::ALL.map(Algo::name).join(", ")),
        )),
    }
}

/// Rejects settings of the other algorithm family (`td3.*` on SAC, `sac.*` on TD3/DDPG): they
/// would be ignored, and a run that silently ignores a setting is not the run that was asked for.
fn check_family(layer: &toml::Table, algo: Algo) -> Result<()> {
    let (other, users) = match algo.family() {
        Family::Sac => ("td3", "td3, ddpg and the td3-* presets"),
        Family::Td3 => ("sac", "sac"),
    };
    match layer.get(other) {
        Some(toml::Value::Table(t)) if !t.is_empty() => {
            let key = t.keys().next().map(|k| format!("{other}.{k}")).unwrap_or_default();
            Err(Error::config(key, format!("is a setting of {users}; algo `{algo}` does not use it")))
        }
        _ => Ok(()),
    }
}

/// `--set` values are TOML (`3`, `1e-3`, `[64, 64]`, `true`); anything else is a string, so
/// `--set env=Pendulum-v1` needs no quotes.
fn parse_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        Some((head, rest)) => {
            let entry = table.entry(head).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(sub) = entry {
                set_dotted(sub, rest, value);
            }
        }
        None => {
            table.insert(key.to_string(), value);
        }
    }
}

/// Rejects keys the config does not have, suggesting the closest one. Optional keys that the
/// defaults leave unset are listed here explicitly.
fn check_known(layer: &toml::Table, known: &toml::Table, prefix: &str) -> Result<()> {
    const OPTIONAL: [&str; 1] = ["sac.target_entropy"];
    for (key, value) in layer {
        let path = format!("{prefix}{key}");
        match known.get(key) {
            Some(toml::Value::Table(sub)) => match value {
                toml::Value::Table(v) => check_known(v, sub, &format!("{path}."))?,
                _ => return Err(Error::config(&path, "expected a table of settings")),
            },
            Some(_) => {}
            None if OPTIONAL.contains(&path.as_str()) => {}
            None => {
                let mut available: Vec<String> = known.keys().map(|k| format!("{prefix}{k}")).collect();
                available.extend(OPTIONAL.iter().filter(|o| o.starts_with(prefix)).map(|o| o.to_string()));
                return Err(Error::UnknownName { kind: "config key", name: path, available });
            }
        }
    }
    Ok(())
}

/// The (dotted) key whose value alone makes deserialisation fail: serde's error says what was
/// expected but not where.
fn locate_bad_key(table: &toml::Table) -> Option<String> {
    let base = toml::Table::try_from(TrainConfig::default()).ok()?;
    let fails = |key: &str, value: &toml::Value| {
        let mut t = base.clone();
        set_dotted(&mut t, key, value.clone());
        TrainConfig::deserialize(t).is_err()
    };
    for (key, value) in table {
        match value {
            toml::Value::Table(sub) => {
                for (k, v) in sub {
                    let path = format!("{key}.{k}");
                    if fails(&path, v) {
                        return Some(path);
                    }
                }
            }
            _ if fails(key, value) => return Some(key.clone()),
            _ => {}
        }
    }
    None
}

fn merge(base: &mut toml::Table, layer: &toml::Table) {
    for (key, value) in layer {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(l)) => merge(b, l),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_config_has_a_description_and_no_description_is_stale() {
        for algo in Algo::ALL {
            let documented: Vec<&str> = hyperparameters(algo).iter().map(|(k, _, _)| *k).collect();
            let table = toml::Table::try_from(TrainConfig::preset(algo)).unwrap();
            for (key, value) in &table {
                match value {
                    toml::Value::Table(_) if (key == "td3") != (algo.family() == Family::Td3) => {}
                    toml::Value::Table(section) => {
                        for name in section.keys() {
                            let dotted = format!("{key}.{name}");
                            assert!(documented.contains(&dotted.as_str()), "{algo}: `{dotted}` has no description");
                        }
                    }
                    _ => assert!(documented.contains(&key.as_str()), "{algo}: `{key}` has no description"),
                }
            }
            for (key, default, _) in hyperparameters(algo) {
                let known = key == "sac.target_entropy" || default != "unset";
                assert!(known, "{algo}: described key `{key}` is not in the config");
            }
        }
        let td3 = hyperparameters(Algo::Ddpg);
        assert!(td3.iter().any(|(k, v, _)| *k == "td3.policy_delay" && v == "1"), "ddpg's preset shows: {td3:?}");
        assert!(!td3.iter().any(|(k, _, _)| k.starts_with("sac.")));
    }

    fn sets(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn presets_switch_the_td3_tricks() {
        let ddpg = TrainConfig::resolve(Some("ddpg"), None, &[]).unwrap();
        assert_eq!((ddpg.td3.twin_critics, ddpg.td3.policy_delay, ddpg.td3.target_noise), (false, 1, 0.0));
        assert!(!TrainConfig::resolve(Some("td3-no-twin"), None, &[]).unwrap().td3.twin_critics);
        assert_eq!(TrainConfig::resolve(Some("td3-no-delay"), None, &[]).unwrap().td3.policy_delay, 1);
        assert_eq!(TrainConfig::resolve(Some("td3-no-smoothing"), None, &[]).unwrap().td3.target_noise, 0.0);
        let td3 = TrainConfig::resolve(Some("td3"), None, &[]).unwrap();
        assert_eq!(td3.td3, Td3Config::default());
        assert_eq!(td3.family(), Family::Td3);
    }

    #[test]
    fn each_env_brings_its_defaults_under_a_file_and_set() {
        let on = |algo: &str, env: &str, more: &[&str]| {
            let mut all = sets(more);
            all.push(format!("env=\"{env}\""));
            TrainConfig::resolve(Some(algo), None, &all).unwrap()
        };
        // rl-baselines3-zoo's TD3 on MuJoCo: 10k random steps, 400-300, 1e-3, for the whole family.
        for algo in ["td3", "ddpg", "td3-no-twin"] {
            let c = on(algo, "HalfCheetah-v5", &[]);
            assert_eq!((c.total_steps, c.learning_starts, c.batch_size), (1_000_000, 10_000, 256), "{algo}");
            assert_eq!((c.common.hidden.clone(), c.common.actor_lr, c.common.critic_lr), (vec![400, 300], 1e-3, 1e-3));
            assert_eq!(c.td3.exploration_noise, 0.1);
        }
        assert_eq!(on("ddpg", "HalfCheetah-v5", &[]).td3, Td3Config::ddpg(), "the preset's switches stay");
        // SAC there: only the warm-up and length; its own 256-256 and 3e-4.
        let sac = on("sac", "HalfCheetah-v5", &[]);
        assert_eq!(
            (sac.learning_starts, sac.common.hidden.clone(), sac.common.actor_lr),
            (10_000, vec![256, 256], 3e-4)
        );
        assert_eq!(on("sac", "Humanoid-v5", &[]).total_steps, 2_000_000);
        assert_eq!(
            (on("sac", "Swimmer-v5", &[]).common.gamma, on("td3", "Swimmer-v5", &[]).common.gamma),
            (0.999, 0.9999)
        );
        // An env the zoo does not tune still gets the MuJoCo protocol.
        assert_eq!(on("td3", "Reacher-v5", &[]).learning_starts, 10_000);
        assert_eq!(on("td3", "Reacher-v5", &[]).common.hidden, vec![256, 256]);
        // Pendulum: the zoo's TD3 and SAC values; none for SAC on MountainCar (see its entry).
        let td3 = on("td3", "Pendulum-v1", &[]);
        assert_eq!((td3.common.gamma, td3.buffer_size, td3.learning_starts), (0.98, 200_000, 10_000));
        assert_eq!(on("sac", "Pendulum-v1", &[]).sac.alpha_lr, 1e-3);
        let plain = TrainConfig { env: "MountainCarContinuous-v0".into(), ..TrainConfig::preset(Algo::Sac) };
        assert_eq!(on("sac", "MountainCarContinuous-v0", &[]), plain);
        // A config file and --set go over the env's defaults.
        assert_eq!(on("td3", "HalfCheetah-v5", &["learning_starts=5000"]).learning_starts, 5000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "env = \"Hopper-v5\"\nhidden = [64, 64]\n").unwrap();
        let c = TrainConfig::resolve(Some("td3"), Some(&path), &[]).unwrap();
        assert_eq!((c.common.hidden, c.learning_starts, c.common.actor_lr), (vec![64, 64], 10_000, 1e-3));
        // A short run below the env's warm-up is told where the warm-up came from.
        let err = TrainConfig::resolve(Some("td3"), None, &sets(&["total_steps=5000"])).unwrap_err().to_string();
        assert!(err.contains("10000, Pendulum-v1's default for td3, is not below total_steps (5000)"), "{err}");
        assert!(err.contains("--set learning_starts=500"), "{err}");
        // Every env's defaults are valid settings for every algorithm.
        for spec in crate::env::SPECS {
            for algo in Algo::ALL {
                on(algo.name(), spec.id, &[]);
            }
        }
    }

    #[test]
    fn td3_paper_takes_the_papers_settings_and_no_env_defaults() {
        let on =
            |env: &str| TrainConfig::resolve(Some("td3-paper"), None, &sets(&[&format!("env=\"{env}\"")])).unwrap();
        for (env, start) in
            [("HalfCheetah-v5", 10_000), ("Ant-v5", 10_000), ("Hopper-v5", 1_000), ("Walker2d-v5", 1_000)]
        {
            let c = on(env);
            assert_eq!((c.total_steps, c.learning_starts, c.batch_size), (1_000_000, start, 100), "{env}");
            assert_eq!((c.common.hidden.clone(), c.common.actor_lr, c.common.critic_lr), (vec![400, 300], 1e-3, 1e-3));
            assert_eq!((c.common.gamma, c.common.tau, c.buffer_size), (0.99, 0.005, 1_000_000));
            assert_eq!(c.td3, Td3Config::default());
            assert_eq!((c.eval_every, c.eval_episodes), (5000, 10));
        }
        // Not the zoo's Swimmer γ, nor Pendulum's; Pendulum keeps the general length.
        assert_eq!(on("Swimmer-v5").common.gamma, 0.99);
        let pendulum = on("Pendulum-v1");
        assert_eq!((pendulum.common.gamma, pendulum.total_steps, pendulum.batch_size), (0.99, 20_000, 100));
    }

    #[test]
    fn layers_apply_in_order_file_then_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "algo = \"td3\"\nbatch_size = 64\nseed = 3\n[td3]\npolicy_delay = 4\n").unwrap();
        let cfg =
            TrainConfig::resolve(None, Some(&path), &sets(&["seed=9", "td3.target_noise=0.1", "hidden=[64, 32]"]))
                .unwrap();
        assert_eq!(cfg.algo, Algo::Td3);
        assert_eq!((cfg.batch_size, cfg.seed, cfg.td3.policy_delay), (64, 9, 4));
        assert_eq!(cfg.td3.target_noise, 0.1);
        assert_eq!(cfg.common.hidden, vec![64, 32]);
        // --algo on the command line wins over the file; the file's TD3 settings then have no
        // algorithm to apply to, which is an error rather than silently ignored.
        let err = TrainConfig::resolve(Some("sac"), Some(&path), &[]).unwrap_err().to_string();
        assert!(err.contains("`td3.policy_delay`") && err.contains("does not use it"), "{err}");
        std::fs::write(&path, "algo = \"td3\"\nbatch_size = 64\n").unwrap();
        assert_eq!(TrainConfig::resolve(Some("sac"), Some(&path), &[]).unwrap().algo, Algo::Sac);
    }

    #[test]
    fn unknown_keys_and_names_are_rejected_with_a_suggestion() {
        let err = TrainConfig::resolve(None, None, &sets(&["batchsize=3"])).unwrap_err().to_string();
        assert!(err.contains("unknown config key `batchsize`") && err.contains("did you mean `batch_size`"), "{err}");
        let err = TrainConfig::resolve(None, None, &sets(&["td3.policy_dely=3"])).unwrap_err().to_string();
        assert!(err.contains("did you mean `td3.policy_delay`"), "{err}");
        let err = TrainConfig::resolve(Some("td4"), None, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown algorithm `td4`") && err.contains("did you mean `td3`"), "{err}");
        let err = TrainConfig::resolve(None, None, &sets(&["seed"])).unwrap_err().to_string();
        assert!(err.contains("key=value"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_expectation() {
        let cases = [
            ("gamma=1.5", "gamma", "[0, 1]"),
            ("tau=0", "tau", "(0, 1]"),
            ("actor_lr=-1e-3", "actor_lr", "positive"),
            ("hidden=[]", "hidden", "non-empty"),
            ("td3.policy_delay=0", "td3.policy_delay", "at least 1"),
            ("sac.initial_alpha=0", "sac.initial_alpha", "positive"),
            ("seed=\"abc\"", "seed", "u64"),
            ("batch_size=-4", "batch_size", ""),
        ];
        for (set, key, expect) in cases {
            let algo = if set.starts_with("td3.") { "td3" } else { "sac" };
            let err = TrainConfig::resolve(Some(algo), None, &sets(&[set])).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")) && err.contains(expect), "{set}: {err}");
        }
    }

    #[test]
    fn resolved_toml_round_trips_and_keeps_only_the_family_section() {
        let cfg = TrainConfig::resolve(Some("td3-no-delay"), None, &sets(&["seed=4"])).unwrap();
        let text = cfg.to_toml();
        assert!(text.contains("[td3]") && !text.contains("[sac]"), "{text}");
        assert_eq!(TrainConfig::from_toml(&text).unwrap(), cfg);
        let sac = TrainConfig::resolve(None, None, &sets(&["sac.target_entropy=-2.5"])).unwrap();
        assert_eq!(TrainConfig::from_toml(&sac.to_toml()).unwrap().sac.target_entropy, Some(-2.5));
    }

    #[test]
    fn arbitrary_bytes_and_mutated_configs_never_panic() {
        let good = TrainConfig::resolve(Some("td3"), None, &[]).unwrap().to_toml().into_bytes();
        let mut rng = crate::rng::Rng::new(3);
        let mut accepted = 0;
        for round in 0..3000 {
            let bytes: Vec<u8> = if round % 3 == 0 {
                (0..rng.below(200)).map(|_| rng.next_u64() as u8).collect()
            } else {
                let mut b = good.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len() as u64) as usize;
                    // Mostly printable mutations, so many still parse as TOML and reach validation.
                    b[i] = if rng.below(2) == 0 {
                        b" =[]\"0123456789.-e,\nabz"[rng.below(23) as usize]
                    } else {
                        rng.next_u64() as u8
                    };
                }
                b
            };
            let text = String::from_utf8_lossy(&bytes);
            if TrainConfig::from_toml(&text).is_ok() {
                accepted += 1;
            }
            let _ = TrainConfig::resolve(None, None, &[text.replace('\n', "")]);
        }
        assert!(accepted > 0 && accepted < 3000, "the fuzzer should reach both outcomes: {accepted}");
    }

    #[test]
    fn resume_changes_are_limited_to_the_allowed_keys() {
        let cfg = TrainConfig::resolve(Some("sac"), None, &[]).unwrap();
        let longer = cfg.with_resume_changes(&sets(&["total_steps=99999", "threads=1", "eval_every=7"]), 0).unwrap();
        assert_eq!((longer.total_steps, longer.common.threads, longer.eval_every), (99999, 1, 7));
        for (set, key) in [("tau=0.01", "`tau`"), ("sac.auto_alpha=false", "`sac.auto_alpha`"), ("algo=td3", "`algo`")]
        {
            let err = cfg.with_resume_changes(&sets(&[set]), 0).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("cannot change"), "{set}: {err}");
        }
        let err = cfg.with_resume_changes(&sets(&["taux=1"]), 0).unwrap_err().to_string();
        assert!(err.contains("did you mean `tau`"), "{err}");
    }
}
