//! Exact resume: everything that determines a run's future, saved at every checkpoint.
//!
//! A run directory's `checkpoints/` holds, besides the agent-only `step_*.safetensors` and
//! `final.safetensors` that `polyak eval` reads:
//!
//! - `resume.safetensors` — a checkpoint file (same format, see [`crate::checkpoint`]) with the
//!   agent (online and target networks, Adam moments and step counts, α, the update-noise
//!   generator) plus the loop's state: `run.step`, `run.episodes`, the partial episode's return
//!   and length, the current observation (`run.obs`), the environment's snapshot (`run.env`:
//!   physics state, time-limit counter and reset generator), the exploration, replay-sampling
//!   and evaluation-seed generators (`run.rng.*`), the loss averages of the open metrics window
//!   (`run.avg.*`), the last evaluation, the wall time spent, and `metrics.csv` as written so far
//!   (`run.metrics`). Its `run.segments` entry lists the replay files the buffer is rebuilt from.
//! - `replay/<first>-<end>.safetensors` — replay transitions `first..end` (push order), written
//!   incrementally: a checkpoint writes only the transitions pushed since the previous one, so
//!   its cost grows with `checkpoint_every`, not with the buffer. Files whose transitions the
//!   ring has overwritten are deleted once a newer resume file is in place.
//!
//! Write order makes every crash moment safe: new replay file, agent file, then the resume file
//! (the commit point, an atomic rename), then clean-up. Until the rename the previous resume
//! file and every replay file it names are untouched; a crash leaves at most orphans, which the
//! next checkpoint removes.

use super::Run;
use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::fsutil::{crash_point, remove_stale_temporaries};
use crate::metrics::UpdateAverager;
use crate::replay::Segment;
use crate::rng::Rng;
use crate::rundir::RunDir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `000000000400-000000000800.safetensors` → `(400, 800)`: the names [`RunDir::segment`] gives.
fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let (a, b) = name.strip_suffix(".safetensors")?.split_once('-')?;
    let digits = |s: &str| s.len() == 12 && s.bytes().all(|c| c.is_ascii_digit());
    (digits(a) && digits(b)).then(|| Some((a.parse().ok()?, b.parse().ok()?)))?
}

/// Writes one replay file (atomically).
pub fn write_segment(seg: Segment, path: &Path) -> Result<()> {
    segment_checkpoint(seg).save(path)
}

fn segment_checkpoint(seg: Segment) -> Checkpoint {
    let mut c = Checkpoint {
        info: BTreeMap::from([
            ("first".to_string(), seg.first.to_string()),
            ("end".to_string(), seg.end().to_string()),
        ]),
        counters: BTreeMap::new(),
        tensors: BTreeMap::new(),
        bytes: BTreeMap::new(),
    };
    for (name, data) in [
        ("replay.obs", seg.obs),
        ("replay.actions", seg.actions),
        ("replay.rewards", seg.rewards),
        ("replay.next_obs", seg.next_obs),
    ] {
        c.tensors.insert(name.to_string(), data);
    }
    c.bytes.insert("replay.terminated".into(), seg.terminated);
    c.bytes.insert("replay.truncated".into(), seg.truncated);
    c
}

fn load_segment(path: &Path, first: u64, end: u64) -> Result<Segment> {
    let mut c = Checkpoint::load(path)?;
    let mut take_f32 =
        |name: &str| c.tensors.remove(name).ok_or_else(|| Error::checkpoint(path, format!("no `{name}`")));
    let (obs, actions, rewards, next_obs) = (
        take_f32("replay.obs")?,
        take_f32("replay.actions")?,
        take_f32("replay.rewards")?,
        take_f32("replay.next_obs")?,
    );
    let mut take_u8 = |name: &str| c.bytes.remove(name).ok_or_else(|| Error::checkpoint(path, format!("no `{name}`")));
    let (terminated, truncated) = (take_u8("replay.terminated")?, take_u8("replay.truncated")?);
    let seg = Segment { first, obs, actions, rewards, next_obs, terminated, truncated };
    if seg.end() != end {
        return Err(Error::checkpoint(path, format!("holds transitions {first}..{}, expected ..{end}", seg.end())));
    }
    Ok(seg)
}

/// The training loop's part of a resume file — everything but the agent — typed. Its entries
/// are spelled here only: [`ResumeState::write`] and [`ResumeState::read`] mirror each other.
#[derive(Clone, Debug, PartialEq)]
pub struct ResumeState {
    /// Env steps done.
    pub step: u64,
    pub episodes: u64,
    /// Length and return of the episode in progress, and its reward-term sums.
    pub ep_len: u64,
    pub ep_return: f64,
    pub ep_terms: Vec<f64>,
    pub last_episode_return: Option<f64>,
    /// (mean, std) of the last evaluation; NaN before the first.
    pub last_eval: (f64, f64),
    /// Seconds of training over all the run's processes so far.
    pub wall_time: f64,
    /// Generator states: exploration, replay sampling, evaluation seeds.
    pub rngs: [[u64; 4]; 3],
    /// Loss averages of the open metrics window.
    pub averager: UpdateAverager,
    /// The current observation.
    pub obs: Vec<f32>,
    /// `metrics.csv` as written so far.
    pub metrics: String,
    /// The env's snapshot, if it can make one.
    pub env: Option<Vec<u8>>,
    /// Transitions ever pushed to the replay buffer, and the `[first, end)` replay files holding
    /// the ones it keeps.
    pub replay_pushed: u64,
    pub segments: Vec<(u64, u64)>,
}

const RNG_NAMES: [&str; 3] = ["explore", "replay", "eval"];

impl ResumeState {
    /// Adds this state's entries to a checkpoint (next to the agent's).
    pub fn write(&self, c: &mut Checkpoint) {
        let segments: Vec<String> = self.segments.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        c.info.insert("run.segments".into(), segments.join(","));
        let mut counters = vec![
            ("run.step".to_string(), self.step),
            ("run.episodes".into(), self.episodes),
            ("run.ep_len".into(), self.ep_len),
            ("run.ep_return".into(), self.ep_return.to_bits()),
            ("run.last_episode_return".into(), self.last_episode_return.unwrap_or(f64::NAN).to_bits()),
            ("run.eval_mean".into(), self.last_eval.0.to_bits()),
            ("run.eval_std".into(), self.last_eval.1.to_bits()),
            ("run.wall_time".into(), self.wall_time.to_bits()),
            ("run.replay_pushed".into(), self.replay_pushed),
        ];
        for (name, words) in RNG_NAMES.iter().zip(&self.rngs) {
            counters.extend(words.iter().enumerate().map(|(i, &w)| (format!("run.rng.{name}.{i}"), w)));
        }
        counters.extend(self.averager.to_counters().map(|(k, v)| (format!("run.avg.{k}"), v)));
        counters.extend(self.ep_terms.iter().enumerate().map(|(i, t)| (format!("run.term.{i}"), t.to_bits())));
        c.counters.extend(counters);
        c.tensors.insert("run.obs".into(), self.obs.clone());
        c.bytes.insert("run.metrics".into(), self.metrics.as_bytes().to_vec());
        if let Some(snapshot) = &self.env {
            c.bytes.insert("run.env".into(), snapshot.clone());
        }
    }

    /// Reads the entries [`ResumeState::write`] wrote; a missing or malformed one is an error
    /// naming `path`.
    pub fn read(c: &Checkpoint, path: &Path) -> Result<Self> {
        let err = |msg: String| Error::checkpoint(path, msg);
        let get = |k: &str| c.counters.get(k).copied().ok_or_else(|| err(format!("no `{k}`: not a resume file")));
        let getf = |k: &str| get(k).map(f64::from_bits);
        let mut rngs = [[0; 4]; 3];
        for (name, words) in RNG_NAMES.iter().zip(&mut rngs) {
            for (i, w) in words.iter_mut().enumerate() {
                *w = get(&format!("run.rng.{name}.{i}"))?;
            }
        }
        let ep_terms = (0..).map_while(|i| c.counters.get(&format!("run.term.{i}")).map(|&b| f64::from_bits(b)));
        let metrics = c.bytes.get("run.metrics").ok_or_else(|| err("no `run.metrics`: not a resume file".into()))?;
        Ok(ResumeState {
            step: get("run.step")?,
            episodes: get("run.episodes")?,
            ep_len: get("run.ep_len")?,
            ep_return: getf("run.ep_return")?,
            ep_terms: ep_terms.collect(),
            last_episode_return: Some(getf("run.last_episode_return")?).filter(|r| !r.is_nan()),
            last_eval: (getf("run.eval_mean")?, getf("run.eval_std")?),
            wall_time: getf("run.wall_time")?,
            rngs,
            averager: UpdateAverager::from_counters(|k| c.counters.get(&format!("run.avg.{k}")).copied())
                .ok_or_else(|| err("incomplete `run.avg` loss averages".into()))?,
            obs: c.tensors.get("run.obs").cloned().ok_or_else(|| err("no `run.obs`".into()))?,
            metrics: String::from_utf8_lossy(metrics).into_owned(),
            env: c.bytes.get("run.env").cloned(),
            replay_pushed: get("run.replay_pushed")?,
            segments: parse_segments(c.info.get("run.segments").map_or("", String::as_str))
                .ok_or_else(|| err("malformed `run.segments`".into()))?,
        })
    }
}

impl Run {
    /// The loop's state now (see [`ResumeState`]).
    fn resume_state(&self) -> ResumeState {
        ResumeState {
            step: self.step,
            episodes: self.episodes,
            ep_len: self.ep_len,
            ep_return: self.ep_return,
            ep_terms: self.ep_terms.clone(),
            last_episode_return: self.last_episode_return,
            last_eval: self.last_eval,
            wall_time: self.wall_time(),
            rngs: [self.explore_rng.state(), self.replay_rng.state(), self.eval_seeds.state()],
            averager: self.averager.clone(),
            obs: self.obs.clone(),
            metrics: self.metrics.text().to_string(),
            env: self.env.snapshot(),
            replay_pushed: self.replay.pushed(),
            segments: self.segments.clone(),
        }
    }

    /// Writes the agent to `agent_path` and the whole run to the resume file, in the order that
    /// keeps every crash moment safe (see the module's documentation).
    pub(super) fn save(&mut self, agent_path: &Path) -> Result<()> {
        let replay_dir = self.dir.replay_dir();
        std::fs::create_dir_all(&replay_dir).map_err(|e| Error::io(&replay_dir, e))?;

        // 1. Replay transitions pushed since the last checkpoint.
        let oldest = self.replay.oldest();
        self.segments.retain(|&(_, end)| end > oldest);
        let from = self.segments.last().map_or(oldest, |&(_, end)| end).max(oldest);
        let to = self.replay.pushed();
        if to > from {
            write_segment(self.replay.export(from, to), &self.dir.segment(from, to))?;
            self.segments.push((from, to));
        }

        // 2. The agent alone, for `polyak eval`; `config`, `step` and `episodes` go with it.
        let info = BTreeMap::from([
            ("config".to_string(), self.cfg.to_toml()),
            ("step".to_string(), self.step.to_string()),
            ("episodes".to_string(), self.episodes.to_string()),
        ]);
        Checkpoint::from_agent(self.agent.as_mut(), info.clone()).save(agent_path)?;

        // 3. The resume file: the commit point.
        let mut c = Checkpoint::from_agent(self.agent.as_mut(), info);
        self.resume_state().write(&mut c);
        c.save(&self.dir.resume_file())?;

        // 4. Replay files the new resume file no longer names (only files named as polyak names
        // them: anything else in the folder is not polyak's to remove).
        let keep: Vec<PathBuf> = self.segments.iter().map(|&(a, b)| self.dir.segment(a, b)).collect();
        if let Ok(entries) = std::fs::read_dir(&replay_dir) {
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                let ours = path.file_name().and_then(|n| n.to_str()).and_then(parse_segment_name).is_some();
                if ours && !keep.contains(&path) {
                    crash_point();
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(())
    }

    /// Puts a fresh run back in the state saved in `path`: the agent's part and the loop's. Reads
    /// and checks everything — replay files included — and writes nothing. Returns a note when
    /// the continuation cannot be exact (an env without snapshots).
    pub(super) fn restore(&mut self, agent: &Checkpoint, s: ResumeState, path: &Path) -> Result<Option<String>> {
        let err = |msg: String| Error::checkpoint(path, msg);
        agent.restore(self.agent.as_mut(), path)?;
        if s.obs.len() != self.obs.len() {
            return Err(err(format!("observation has {} values, the env {}", s.obs.len(), self.obs.len())));
        }
        if s.ep_terms.len() != self.ep_terms.len() {
            return Err(err(format!("{} reward terms, the env {}", s.ep_terms.len(), self.ep_terms.len())));
        }
        let rng = |i: usize| {
            Rng::from_state(s.rngs[i]).ok_or_else(|| err(format!("invalid `{}` generator state", RNG_NAMES[i])))
        };
        (self.explore_rng, self.replay_rng, self.eval_seeds) = (rng(0)?, rng(1)?, rng(2)?);
        let segments: Vec<Segment> =
            s.segments.iter().map(|&(a, b)| load_segment(&self.dir.segment(a, b), a, b)).collect::<Result<_>>()?;
        self.replay.restore(s.replay_pushed, &segments).map_err(|m| err(format!("replay buffer: {m}")))?;
        let note = match &s.env {
            Some(snapshot) => {
                self.env.restore(snapshot).map_err(|m| err(m.to_string()))?;
                None
            }
            None => Some(format!(
                "{} cannot snapshot its state: the resumed run starts a fresh episode, so it will not match an \
                 uninterrupted run exactly",
                self.cfg.env
            )),
        };
        (self.step, self.episodes, self.ep_len, self.ep_return) = (s.step, s.episodes, s.ep_len, s.ep_return);
        (self.last_episode_return, self.last_eval, self.wall_before) =
            (s.last_episode_return, s.last_eval, s.wall_time);
        (self.averager, self.obs, self.ep_terms, self.segments) = (s.averager, s.obs, s.ep_terms, s.segments);
        if note.is_some() {
            self.obs = self.env.reset(Some(self.cfg.seed ^ self.step));
            (self.ep_return, self.ep_len) = (0.0, 0);
            self.ep_terms.fill(0.0);
        }
        self.last_good_checkpoint = Some(path.to_path_buf());
        for dir in [self.dir.checkpoints(), self.dir.replay_dir()] {
            remove_stale_temporaries(&dir);
        }
        Ok(note)
    }
}

/// A run directory's `config.toml`, with a clear error when the directory does not exist or is
/// not a run.
pub fn run_config(run_dir: &Path) -> Result<TrainConfig> {
    if !run_dir.exists() {
        return Err(Error::run_dir(run_dir, "does not exist"));
    }
    let path = RunDir::new(run_dir).config();
    if !path.exists() {
        return Err(Error::run_dir(run_dir, "is not a polyak run directory (no config.toml)"));
    }
    TrainConfig::load(&path)
}

/// The agent checkpoints (`step_*.safetensors`, `final.safetensors`) of a run, sorted.
pub fn agent_checkpoints(run_dir: &Path) -> Vec<PathBuf> {
    let dir = RunDir::new(run_dir);
    let Ok(entries) = std::fs::read_dir(dir.checkpoints()) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            *p == dir.final_agent() || (name.starts_with("step_") && name.ends_with(".safetensors"))
        })
        .collect();
    found.sort();
    found
}

/// Whether a run without a resume file may start again from step 0 in place: only when nothing
/// committed is there — no agent checkpoint, or the lone `step_*` file of a first checkpoint that
/// a crash cut short (it is rewritten with the same bytes). A `final.safetensors` or several
/// checkpoints mean the resume file existed and is gone: restarting would overwrite results.
pub fn can_restart(run_dir: &Path) -> Result<()> {
    match agent_checkpoints(run_dir).as_slice() {
        [] => Ok(()),
        [one] if *one != RunDir::new(run_dir).final_agent() => Ok(()),
        [.., last] => Err(Error::run_dir(
            run_dir,
            format!(
                "has agent checkpoints ({}) but no resume file: it cannot continue exactly, and starting it again \
                 would overwrite them; evaluate it with `polyak eval`, or start a new run elsewhere",
                last.display()
            ),
        )),
    }
}

/// The config a checkpoint was written with.
fn embedded_config(c: &Checkpoint, path: &Path) -> Result<TrainConfig> {
    let text = c.info.get("config").ok_or_else(|| Error::checkpoint(path, "no `config` metadata"))?;
    TrainConfig::from_toml(text).map_err(|e| Error::checkpoint(path, format!("config: {e}")))
}

/// Fails unless checkpoint `c` (read from `path`) was written by the run in `run_dir`, whose
/// config is `cfg`: same settings but for those a resume may change.
pub fn check_belongs(c: &Checkpoint, cfg: &TrainConfig, path: &Path, run_dir: &Path) -> Result<()> {
    let theirs = embedded_config(c, path)?;
    match cfg.differences(&theirs, true).first() {
        None => Ok(()),
        Some((key, ours, theirs)) => Err(Error::checkpoint(
            path,
            format!(
                "belongs to another run: its `{key}` is {theirs}, while {} has {ours}",
                RunDir::new(run_dir).config().display()
            ),
        )),
    }
}

/// Reads a run's resume state and the config to continue with: the saved one, with the changes
/// made in `config.toml` and `sets` — only [`crate::config::RESUME_CHANGEABLE`] keys may change.
/// With the resume file's agent part and loop part; `None`: the run stopped before its first
/// checkpoint, and starts again in place.
pub fn load_resume(run_dir: &Path, sets: &[String]) -> Result<(TrainConfig, Option<(Checkpoint, ResumeState)>)> {
    let on_disk = run_config(run_dir)?;
    let dir = RunDir::new(run_dir);
    let (config_path, path) = (dir.config(), dir.resume_file());
    if std::fs::symlink_metadata(&path).is_err() {
        can_restart(run_dir)?;
        return Ok((on_disk.with_resume_changes(sets, 0)?, None));
    }
    if path.is_dir() {
        return Err(Error::checkpoint(&path, "is a directory, not a resume file"));
    }
    let state = Checkpoint::load(&path)?;
    let saved = embedded_config(&state, &path)?;
    if let Some((key, was, now)) = saved.differences(&on_disk, true).first() {
        return Err(Error::checkpoint(
            &path,
            format!(
                "disagrees with {} on `{key}` (resume file: {was}, config.toml: {now}): either config.toml was \
                 edited beyond what a resume may change ({}), or the resume file comes from another run",
                config_path.display(),
                crate::config::RESUME_CHANGEABLE.join(", ")
            ),
        ));
    }
    let loop_state = ResumeState::read(&state, &path)?;
    let step = loop_state.step;
    let cfg = on_disk.with_resume_changes(sets, step)?;
    if cfg.total_steps == step {
        let finished = dir.final_agent().exists();
        let what = if finished { "is complete" } else { "has reached its total_steps" };
        return Err(Error::run_dir(
            run_dir,
            format!("{what} ({step} steps); to train on, extend it: --steps <more than {step}>"),
        ));
    }
    Ok((cfg, Some((state, loop_state))))
}

/// The env steps a run has done, by its resume file (0 when it has none yet).
pub fn steps_done(run_dir: &Path) -> Result<u64> {
    run_config(run_dir)?;
    let path = RunDir::new(run_dir).resume_file();
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(0);
    }
    Ok(ResumeState::read(&Checkpoint::load(&path)?, &path)?.step)
}

/// Before an extended run replaces `final.safetensors`, keeps the agent it holds — the one the
/// last evaluation row of `metrics.csv` was measured on — as `step_<its step>.safetensors` (a
/// hard link: no copy, nothing deleted).
pub(super) fn keep_final(run_dir: &Path) -> Result<()> {
    let dir = RunDir::new(run_dir);
    let final_path = dir.final_agent();
    if !final_path.is_file() {
        return Ok(());
    }
    let c = Checkpoint::load(&final_path)?;
    let step = c.info.get("step").and_then(|s| s.parse::<u64>().ok());
    let step = step.ok_or_else(|| Error::checkpoint(&final_path, "no `step` metadata"))?;
    let keep = dir.step_agent(step);
    if keep.exists() {
        return Ok(());
    }
    if std::fs::hard_link(&final_path, &keep).is_err() {
        let bytes = std::fs::read(&final_path).map_err(|e| Error::io(&final_path, e))?;
        crate::fsutil::write_atomic(&keep, &bytes)?;
    }
    Ok(())
}

/// `"0-400,400-800"` → `[(0, 400), (400, 800)]`; `None` if malformed.
fn parse_segments(text: &str) -> Option<Vec<(u64, u64)>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (a, b) = s.split_once('-')?;
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a < b).then_some((a, b))
        })
        .collect()
}

/// One file of a run directory as `polyak inspect` reports it.
#[derive(Clone, Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub status: FileStatus,
}

/// Whether a checkpoint file is sound and belongs to its run.
#[derive(Clone, Debug, PartialEq)]
pub enum FileStatus {
    /// Verified (checksum, and the run's config where the file records one); its step, if any.
    Valid { step: Option<u64> },
    /// What is wrong with it.
    Invalid(String),
}

/// Whether `polyak train --resume` can continue a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Resumability {
    /// Exactly, from this step.
    FromStep(u64),
    /// It has no checkpoint yet: `--resume` starts it again from step 0, in place.
    Restart,
    /// It cannot, and why.
    No(String),
}

/// What `polyak inspect` finds: every file, verified, and whether the run can be resumed.
#[derive(Clone, Debug)]
pub struct Inspection {
    pub files: Vec<FileReport>,
    pub resumable: Resumability,
}

/// Every checkpoint and replay file of a run, each verified (checksum, and that it belongs to
/// this run), and whether the resume file and the replay files it names make a resumable run.
pub fn inspect(run_dir: &Path) -> Result<Inspection> {
    let cfg = run_config(run_dir)?;
    let dir = RunDir::new(run_dir);
    let mut paths = Vec::new();
    for d in [dir.checkpoints(), dir.replay_dir()] {
        if let Ok(entries) = std::fs::read_dir(&d) {
            paths.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| *p != dir.replay_dir()));
        }
    }
    paths.sort();
    let files: Vec<FileReport> = paths
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path);
            let bytes = meta.as_ref().map(|m| m.len()).unwrap_or(0);
            let status = if meta.is_ok_and(|m| m.is_dir()) {
                FileStatus::Invalid("a directory where a checkpoint file belongs".to_string())
            } else {
                verify_file(&path, &cfg, run_dir)
            };
            FileReport { path, bytes, status }
        })
        .collect();
    let resumable = resumability(run_dir, &files);
    Ok(Inspection { files, resumable })
}

fn verify_file(path: &Path, cfg: &TrainConfig, run_dir: &Path) -> FileStatus {
    let checked = Checkpoint::load(path).and_then(|c| {
        if c.info.contains_key("config") {
            check_belongs(&c, cfg, path, run_dir)?;
        }
        Ok(c.info.get("step").and_then(|s| s.parse().ok()))
    });
    match checked {
        Ok(step) => FileStatus::Valid { step },
        Err(e) => FileStatus::Invalid(e.to_string()),
    }
}

fn resumability(run_dir: &Path, files: &[FileReport]) -> Resumability {
    let dir = RunDir::new(run_dir);
    let resume = dir.resume_file();
    let status = |p: &Path| files.iter().find(|f| f.path == p).map(|f| f.status.clone());
    match status(&resume) {
        None => match can_restart(run_dir) {
            Ok(()) => Resumability::Restart,
            Err(e) => Resumability::No(e.to_string()),
        },
        Some(FileStatus::Invalid(e)) => Resumability::No(format!("its resume file is invalid: {e}")),
        Some(FileStatus::Valid { .. }) => {
            let state = match Checkpoint::load(&resume).and_then(|c| ResumeState::read(&c, &resume)) {
                Ok(s) => s,
                Err(e) => return Resumability::No(e.to_string()),
            };
            for (a, b) in state.segments {
                let path = dir.segment(a, b);
                match status(&path) {
                    None => return Resumability::No(format!("replay file {} is missing", path.display())),
                    Some(FileStatus::Invalid(e)) => {
                        return Resumability::No(format!("replay file {} is invalid: {e}", path.display()))
                    }
                    Some(FileStatus::Valid { .. }) => {}
                }
            }
            Resumability::FromStep(state.step)
        }
    }
}
