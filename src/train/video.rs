//! Videos of an agent: deterministic episodes drawn frame by frame ([`record`]), for
//! `polyak render` ([`render_run`]) and training's `video_every`.

use super::{eval_seeds, load_agent, scale_action, state, LoadedAgent};
use crate::algo::{ActMode, Agent};
use crate::env::{make, Env};
use crate::error::{Error, Result};
use crate::render::{Video, View};
use crate::rng::Rng;
use crate::rundir::RunDir;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What [`render_run`] draws.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// A checkpoint file, or a name in the run's `checkpoints/` (`final`, `step_000050000`, or a
    /// step: `50000`). `None`: the one `polyak eval` uses ([`super::latest_checkpoint`]).
    pub checkpoint: Option<PathBuf>,
    /// The video (`.gif` or `.mp4`); `None`: `<run>/videos/<checkpoint>.gif`.
    pub out: Option<PathBuf>,
    /// Episodes, one after the other; their reset seeds are those of `polyak eval --seed`.
    pub episodes: usize,
    pub seed: u64,
    pub view: View,
    /// `None`: the env's real time.
    pub fps: Option<f64>,
    /// Ends each episode's video after this many steps.
    pub max_steps: Option<usize>,
    /// Writes the algorithm, env, checkpoint, step and running return into the frames.
    pub caption: bool,
}

/// A checkpoint named as `polyak render --checkpoint` and `polyak eval --checkpoint` take it: a
/// file, or a name in the run's `checkpoints/` with or without `.safetensors`, or a step number.
pub fn resolve_checkpoint(run_dir: &Path, name: &Path) -> Result<PathBuf> {
    if name.is_file() {
        return Ok(name.to_path_buf());
    }
    let dir = RunDir::new(run_dir);
    let text = name.to_string_lossy();
    let mut candidates = vec![dir.checkpoints().join(&*text), dir.checkpoints().join(format!("{text}.safetensors"))];
    if let Ok(step) = text.parse::<u64>() {
        candidates.push(dir.step_agent(step));
    }
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Ok(found);
    }
    let available = state::agent_checkpoints(run_dir)
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    Err(Error::UnknownName { kind: "checkpoint", name: text.into_owned(), available })
}

/// Plays deterministic episodes of a run's agent and writes them as a video.
pub fn render_run(run_dir: &Path, options: &RenderOptions) -> Result<Recording> {
    let cfg = state::run_config(run_dir)?;
    let checkpoint = options.checkpoint.as_deref().map(|c| resolve_checkpoint(run_dir, c)).transpose()?;
    let mut env = make(&cfg.env)?;
    let (obs_dim, act_dim) = (env.observation_space().dim(), env.action_space().dim());
    let LoadedAgent { mut agent, path, .. } = load_agent(run_dir, checkpoint.as_deref(), obs_dim, act_dim)?;
    let stem = path.file_stem().map_or_else(|| "agent".into(), |s| s.to_string_lossy().into_owned());
    let out = options.out.clone().unwrap_or_else(|| RunDir::new(run_dir).videos().join(format!("{stem}.gif")));
    let record_options = RecordOptions {
        seeds: eval_seeds(options.seed, options.episodes),
        view: options.view.clone(),
        fps: options.fps,
        max_steps: options.max_steps,
        title: options.caption.then(|| format!("{} · {} · {stem}", cfg.algo.name(), cfg.env)),
    };
    record(agent.as_mut(), env.as_mut(), &out, &record_options)
}

/// The episode training's `video_every` records: the first evaluation episode of seed 0, the
/// same start at every step, so the videos show the agent's progress on one situation.
pub(super) fn training_video_seed() -> u64 {
    eval_seeds(0, 1)[0]
}

/// Checks, before training starts, that `env` can draw itself, so that `video_every` fails
/// at once rather than after hours of training.
pub(super) fn check_can_render(env: &mut dyn Env) -> Result<()> {
    env.reset(Some(training_video_seed()));
    env.render(&View::default())
        .map(|_| ())
        .map_err(|e| Error::config("video_every", format!("this run cannot record videos: {e}")))
}

/// What to record.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// The reset seed of each episode (see [`crate::train::eval_seeds`]: the episodes of
    /// `polyak eval --seed`, so the returns agree).
    pub seeds: Vec<u64>,
    pub view: View,
    /// Frames per second of the video; `None`: the env's real time ([`Env::render_fps`]).
    pub fps: Option<f64>,
    /// Stops an episode's video after this many steps (the return shown is then partial).
    pub max_steps: Option<usize>,
    /// A first caption line (e.g. the algorithm, env and step); the episode and its running
    /// return are added below it. `None`: no caption.
    pub title: Option<String>,
}

/// What was recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    pub path: PathBuf,
    /// Frames drawn (the first of each episode is the state after reset).
    pub frames: usize,
    /// Each episode's return and length (up to `max_steps`).
    pub returns: Vec<f64>,
    pub lengths: Vec<usize>,
    /// Whether each episode ended by itself (terminated or truncated by its time limit) rather
    /// than by `max_steps`.
    pub complete: Vec<bool>,
    pub fps: f64,
    /// Seconds spent drawing frames (the env's renderer), and in total.
    pub draw_seconds: f64,
    pub seconds: f64,
}

/// Plays `options.seeds.len()` deterministic episodes of `agent` in `env` and writes them, one
/// after the other, as the video `out` (`.gif` or `.mp4`).
pub fn record(agent: &mut dyn Agent, env: &mut dyn Env, out: &Path, options: &RecordOptions) -> Result<Recording> {
    if options.seeds.is_empty() {
        return Err(Error::flag("--episodes", "expected at least 1"));
    }
    let start = Instant::now();
    let fps = options.fps.unwrap_or_else(|| env.render_fps());
    let space = env.action_space().clone();
    let (mut a, mut scaled) = (vec![0.0; space.dim()], vec![0.0; space.dim()]);
    let mut unused = Rng::new(0);
    let mut video: Option<Video> = None;
    let mut draw_seconds = 0.0;
    let (mut returns, mut lengths, mut complete) = (Vec::new(), Vec::new(), Vec::new());
    let episodes = options.seeds.len();
    let mut frame =
        |env: &mut dyn Env, video: &mut Option<Video>, episode: usize, ret: f64, steps: usize| -> Result<()> {
            let t = Instant::now();
            let mut f = env.render(&options.view)?;
            draw_seconds += t.elapsed().as_secs_f64();
            if let Some(title) = &options.title {
                let ep = if episodes > 1 { format!("episode {}/{episodes} · ", episode + 1) } else { String::new() };
                f.caption(&[title.clone(), format!("{ep}step {steps} · return {ret:.1}")])?;
            }
            if video.is_none() {
                *video = Some(Video::create(out, fps, f.width, f.height)?);
            }
            video.as_mut().map_or(Ok(()), |v| v.push(&f))
        };
    for (episode, &seed) in options.seeds.iter().enumerate() {
        let mut obs = env.reset(Some(seed));
        let (mut total, mut steps, mut ended) = (0.0, 0usize, false);
        frame(&mut *env, &mut video, episode, total, steps)?;
        while options.max_steps.is_none_or(|m| steps < m) {
            agent.act(&obs, ActMode::Deterministic, &mut unused, &mut a);
            scale_action(&a, &space, &mut scaled);
            let s = env.step(&scaled);
            total += s.reward;
            steps += 1;
            frame(&mut *env, &mut video, episode, total, steps)?;
            if s.terminated || s.truncated {
                ended = true;
                break;
            }
            obs = s.obs;
        }
        returns.push(total);
        lengths.push(steps);
        complete.push(ended);
    }
    let video = video.ok_or_else(|| Error::Invalid("no frame was drawn".into()))?;
    let frames = video.frames();
    let path = video.finish()?;
    Ok(Recording {
        path,
        frames,
        returns,
        lengths,
        complete,
        fps,
        draw_seconds,
        seconds: start.elapsed().as_secs_f64(),
    })
}
