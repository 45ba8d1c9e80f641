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
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const RESUME_FILE: &str = "resume.safetensors";
pub const REPLAY_DIR: &str = "replay";

fn segment_name(first: u64, end: u64) -> String {
    format!("{first:012}-{end:012}.safetensors")
}

/// `config`, `step` and `episodes`: what every checkpoint of a run records.
fn run_info(run: &Run) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("config".to_string(), run.cfg.to_toml()),
        ("step".to_string(), run.step.to_string()),
        ("episodes".to_string(), run.episodes.to_string()),
    ])
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

/// Writes the agent to `agent_path` and the whole run to `checkpoints/resume.safetensors`.
pub(super) fn save(run: &mut Run, agent_path: &Path) -> Result<()> {
    let dir = run.ckpt_dir();
    let replay_dir = dir.join(REPLAY_DIR);
    std::fs::create_dir_all(&replay_dir).map_err(|e| Error::io(&replay_dir, e))?;

    // 1. Replay transitions pushed since the last checkpoint.
    let oldest = run.replay.oldest();
    run.segments.retain(|&(_, end)| end > oldest);
    let from = run.segments.last().map_or(oldest, |&(_, end)| end).max(oldest);
    let to = run.replay.pushed();
    if to > from {
        write_segment(run.replay.export(from, to), &replay_dir.join(segment_name(from, to)))?;
        run.segments.push((from, to));
    }

    // 2. The agent alone, for `polyak eval`.
    let info = run_info(run);
    Checkpoint::from_agent(run.agent.as_mut(), info.clone()).save(agent_path)?;

    // 3. The resume file: the commit point.
    let mut c = Checkpoint::from_agent(run.agent.as_mut(), info);
    let segments: Vec<String> = run.segments.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    c.info.insert("run.segments".into(), segments.join(","));
    let mut counters = vec![
        ("run.step".to_string(), run.step),
        ("run.episodes".into(), run.episodes),
        ("run.ep_len".into(), run.ep_len),
        ("run.ep_return".into(), run.ep_return.to_bits()),
        ("run.last_episode_return".into(), run.last_episode_return.unwrap_or(f64::NAN).to_bits()),
        ("run.eval_mean".into(), run.last_eval.0.to_bits()),
        ("run.eval_std".into(), run.last_eval.1.to_bits()),
        ("run.wall_time".into(), run.wall_time().to_bits()),
        ("run.replay_pushed".into(), run.replay.pushed()),
    ];
    for (name, rng) in [("explore", &run.explore_rng), ("replay", &run.replay_rng), ("eval", &run.eval_seeds)] {
        counters.extend(rng.state().iter().enumerate().map(|(i, &w)| (format!("run.rng.{name}.{i}"), w)));
    }
    counters.extend(run.averager.to_counters().map(|(k, v)| (format!("run.avg.{k}"), v)));
    counters.extend(run.ep_terms.iter().enumerate().map(|(i, t)| (format!("run.term.{i}"), t.to_bits())));
    c.counters.extend(counters);
    c.tensors.insert("run.obs".into(), run.obs.clone());
    c.bytes.insert("run.metrics".into(), run.metrics.text().as_bytes().to_vec());
    if let Some(snapshot) = run.env.snapshot() {
        c.bytes.insert("run.env".into(), snapshot);
    }
    c.save(&dir.join(RESUME_FILE))?;

    // 4. Replay files the new resume file no longer names.
    let keep: Vec<String> = run.segments.iter().map(|&(a, b)| segment_name(a, b)).collect();
    if let Ok(entries) = std::fs::read_dir(&replay_dir) {
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if !keep.contains(&name) && !name.starts_with('.') {
                crash_point();
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(())
}

/// A run directory's `config.toml`, with a clear error when the directory does not exist or is
/// not a run.
pub fn run_config(run_dir: &Path) -> Result<TrainConfig> {
    if !run_dir.exists() {
        return Err(Error::Invalid(format!("{} does not exist", run_dir.display())));
    }
    let path = run_dir.join("config.toml");
    if !path.exists() {
        return Err(Error::Invalid(format!("{} is not a polyak run directory (no config.toml)", run_dir.display())));
    }
    TrainConfig::load(&path)
}

/// The agent checkpoints (`step_*.safetensors`, `final.safetensors`) of a run, sorted.
pub fn agent_checkpoints(run_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("checkpoints")) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name == super::FINAL_FILE || (name.starts_with("step_") && name.ends_with(".safetensors"))
        })
        .collect();
    found.sort();
    found
}

/// Whether a run without a resume file may start again from step 0 in place: only when nothing
/// committed is there — no agent checkpoint, or the lone `step_*` file of a first checkpoint that
/// a crash cut short (it is rewritten with the same bytes). A `final.safetensors` or several
/// checkpoints mean the resume file existed and is gone: restarting would overwrite results.
pub fn can_restart(run_dir: &Path) -> std::result::Result<(), String> {
    match agent_checkpoints(run_dir).as_slice() {
        [] => Ok(()),
        [one] if !one.ends_with(super::FINAL_FILE) => Ok(()),
        [.., last] => Err(format!(
            "{} has agent checkpoints ({}) but no {RESUME_FILE}: it cannot continue exactly, and starting it \
             again would overwrite them; evaluate it with `polyak eval`, or start a new run elsewhere",
            run_dir.display(),
            last.display()
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
                run_dir.join("config.toml").display()
            ),
        )),
    }
}

/// Reads a run's resume state and the config to continue with: the saved one, with the changes
/// made in `config.toml` and `sets` — only [`crate::config::RESUME_CHANGEABLE`] keys may change.
/// `None` for the state: the run stopped before its first checkpoint, and starts again in place.
pub fn load_resume(run_dir: &Path, sets: &[String]) -> Result<(TrainConfig, Option<Checkpoint>)> {
    let on_disk = run_config(run_dir)?;
    let config_path = run_dir.join("config.toml");
    let path = run_dir.join("checkpoints").join(RESUME_FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        can_restart(run_dir).map_err(Error::Invalid)?;
        return Ok((on_disk.with_resume_changes(sets, 0)?, None));
    }
    if path.is_dir() {
        return Err(Error::checkpoint(&path, "is a directory, not a resume file"));
    }
    let state = Checkpoint::load(&path)?;
    let saved = embedded_config(&state, &path)?;
    if let Some((key, was, now)) = saved.differences(&on_disk, true).first() {
        return Err(Error::Invalid(format!(
            "{} and {} disagree on `{key}` (resume file: {was}, config.toml: {now}): either config.toml was edited \
             beyond what a resume may change ({}), or the resume file comes from another run",
            path.display(),
            config_path.display(),
            crate::config::RESUME_CHANGEABLE.join(", ")
        )));
    }
    let step = state.counters.get("run.step").copied().ok_or_else(|| Error::checkpoint(&path, "no `run.step`"))?;
    let cfg = on_disk.with_resume_changes(sets, step)?;
    if cfg.total_steps == step {
        let finished = agent_checkpoints(run_dir).iter().any(|p| p.ends_with(super::FINAL_FILE));
        let what = if finished { "is complete" } else { "has reached its total_steps" };
        return Err(Error::Invalid(format!(
            "{} {what} ({step} steps); to train on, extend it: --steps <more than {step}>",
            run_dir.display()
        )));
    }
    Ok((cfg, Some(state)))
}

/// Before an extended run replaces `final.safetensors`, keeps the agent it holds — the one the
/// last evaluation row of `metrics.csv` was measured on — as `step_<its step>.safetensors` (a
/// hard link: no copy, nothing deleted).
pub(super) fn keep_final(run_dir: &Path) -> Result<()> {
    let dir = run_dir.join("checkpoints");
    let final_path = dir.join(super::FINAL_FILE);
    if !final_path.is_file() {
        return Ok(());
    }
    let c = Checkpoint::load(&final_path)?;
    let step = c.info.get("step").and_then(|s| s.parse::<u64>().ok());
    let step = step.ok_or_else(|| Error::checkpoint(&final_path, "no `step` metadata"))?;
    let keep = dir.join(format!("step_{step:09}.safetensors"));
    if keep.exists() {
        return Ok(());
    }
    if std::fs::hard_link(&final_path, &keep).is_err() {
        let bytes = std::fs::read(&final_path).map_err(|e| Error::io(&final_path, e))?;
        crate::fsutil::write_atomic(&keep, &bytes)?;
    }
    Ok(())
}

impl Run {
    /// Puts a fresh run back in the state saved in `state` (read from `path`). Returns a note
    /// when the continuation cannot be exact (an env without snapshots).
    pub(super) fn restore(&mut self, state: &Checkpoint, path: &Path) -> Result<Option<String>> {
        let err = |msg: String| Error::checkpoint(path, msg);
        let get = |k: &str| state.counters.get(k).copied().ok_or_else(|| err(format!("no `{k}`: not a resume file")));
        let getf = |k: &str| get(k).map(f64::from_bits);
        state.restore(self.agent.as_mut(), path)?;
        self.step = get("run.step")?;
        self.episodes = get("run.episodes")?;
        self.ep_len = get("run.ep_len")?;
        self.ep_return = getf("run.ep_return")?;
        self.last_episode_return = Some(getf("run.last_episode_return")?).filter(|r| !r.is_nan());
        self.last_eval = (getf("run.eval_mean")?, getf("run.eval_std")?);
        self.wall_before = getf("run.wall_time")?;
        let rng = |name: &str| -> Result<Rng> {
            let words = [0, 1, 2, 3].map(|i| get(&format!("run.rng.{name}.{i}")));
            let [a, b, c, d] = words;
            Rng::from_state([a?, b?, c?, d?]).ok_or_else(|| err(format!("invalid `{name}` generator state")))
        };
        (self.explore_rng, self.replay_rng, self.eval_seeds) = (rng("explore")?, rng("replay")?, rng("eval")?);
        self.averager = UpdateAverager::from_counters(|k| state.counters.get(&format!("run.avg.{k}")).copied())
            .ok_or_else(|| err("incomplete `run.avg` loss averages".into()))?;
        for (i, t) in self.ep_terms.iter_mut().enumerate() {
            *t = getf(&format!("run.term.{i}"))?;
        }
        let obs = state.tensors.get("run.obs").ok_or_else(|| err("no `run.obs`".into()))?;
        if obs.len() != self.obs.len() {
            return Err(err(format!("observation has {} values, the env {}", obs.len(), self.obs.len())));
        }
        self.obs.clone_from(obs);

        self.segments = parse_segments(state.info.get("run.segments").map_or("", String::as_str))
            .ok_or_else(|| err("malformed `run.segments`".into()))?;
        let replay_dir = self.ckpt_dir().join(REPLAY_DIR);
        let segments: Vec<Segment> = self
            .segments
            .iter()
            .map(|&(a, b)| load_segment(&replay_dir.join(segment_name(a, b)), a, b))
            .collect::<Result<_>>()?;
        self.replay.restore(get("run.replay_pushed")?, &segments).map_err(|m| err(format!("replay buffer: {m}")))?;

        let note = match state.bytes.get("run.env") {
            Some(snapshot) => {
                self.env.restore(snapshot).map_err(|m| err(format!("environment state: {m}")))?;
                None
            }
            None => {
                self.obs = self.env.reset(Some(self.cfg.seed ^ self.step));
                (self.ep_return, self.ep_len) = (0.0, 0);
                self.ep_terms.fill(0.0);
                Some(format!(
                    "{} cannot snapshot its state: the resumed run starts a fresh episode, so it will not \
                     match an uninterrupted run exactly",
                    self.cfg.env
                ))
            }
        };
        self.last_good_checkpoint = Some(path.to_path_buf());
        for dir in [self.ckpt_dir(), replay_dir] {
            remove_stale_temporaries(&dir);
        }
        Ok(note)
    }
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
    /// `Ok(step)` for a valid checkpoint of this run (its step, if recorded), `Err(problem)`
    /// otherwise.
    pub status: std::result::Result<Option<u64>, String>,
}

/// What `polyak inspect` finds: every file, verified, and whether the run can be resumed.
#[derive(Clone, Debug)]
pub struct Inspection {
    pub files: Vec<FileReport>,
    /// `Ok(how)` when `polyak train --resume` can continue the run, `Err(why not)` otherwise.
    pub resumable: std::result::Result<String, String>,
}

/// Every checkpoint and replay file of a run, each verified (checksum, and that it belongs to
/// this run), and whether the resume file and the replay files it names make a resumable run.
pub fn inspect(run_dir: &Path) -> Result<Inspection> {
    let cfg = run_config(run_dir)?;
    let dir = run_dir.join("checkpoints");
    let mut paths = Vec::new();
    for d in [dir.clone(), dir.join(REPLAY_DIR)] {
        if let Ok(entries) = std::fs::read_dir(&d) {
            paths.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| *p != dir.join(REPLAY_DIR)));
        }
    }
    paths.sort();
    let files: Vec<FileReport> = paths
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path);
            let bytes = meta.as_ref().map(|m| m.len()).unwrap_or(0);
            let status = if meta.is_ok_and(|m| m.is_dir()) {
                Err("a directory where a checkpoint file belongs".to_string())
            } else {
                verify_file(&path, &cfg, run_dir)
            };
            FileReport { path, bytes, status }
        })
        .collect();
    let resumable = resumability(run_dir, &files);
    Ok(Inspection { files, resumable })
}

fn verify_file(path: &Path, cfg: &TrainConfig, run_dir: &Path) -> std::result::Result<Option<u64>, String> {
    let c = Checkpoint::load(path).map_err(|e| e.to_string())?;
    if c.info.contains_key("config") {
        check_belongs(&c, cfg, path, run_dir).map_err(|e| e.to_string())?;
    }
    Ok(c.info.get("step").and_then(|s| s.parse().ok()))
}

fn resumability(run_dir: &Path, files: &[FileReport]) -> std::result::Result<String, String> {
    let resume = run_dir.join("checkpoints").join(RESUME_FILE);
    let status = |p: &Path| files.iter().find(|f| f.path == p).map(|f| f.status.clone());
    match status(&resume) {
        None => {
            can_restart(run_dir).map(|()| "no checkpoint yet: `--resume` starts it again from step 0, in place".into())
        }
        Some(Err(e)) => Err(format!("{RESUME_FILE} is invalid: {e}")),
        Some(Ok(_)) => {
            let c = Checkpoint::load(&resume).map_err(|e| e.to_string())?;
            let segments = parse_segments(c.info.get("run.segments").map_or("", String::as_str))
                .ok_or_else(|| "malformed `run.segments` in the resume file".to_string())?;
            let replay = run_dir.join("checkpoints").join(REPLAY_DIR);
            for (a, b) in segments {
                let path = replay.join(segment_name(a, b));
                match status(&path) {
                    None => return Err(format!("replay file {} is missing", path.display())),
                    Some(Err(e)) => return Err(format!("replay file {} is invalid: {e}", path.display())),
                    Some(Ok(_)) => {}
                }
            }
            let step = c.counters.get("run.step").copied().unwrap_or(0);
            Ok(format!("from step {step}"))
        }
    }
}
