//! The shared off-policy training loop: act, step, store, update, evaluate, checkpoint.
//!
//! One loop serves every algorithm (as Stable-Baselines3's `OffPolicyAlgorithm`): the agent only
//! provides `act` and `update`. Networks work on actions in [−1, 1]; the loop rescales them to
//! the env's bounds on the way out and stores the normalised action in the replay buffer.

use crate::algo::{ActMode, Agent, Sac, Td3};
use crate::checkpoint::Checkpoint;
use crate::config::{Family, TrainConfig};
use crate::env::{make, BoxSpace, Env};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::metrics::{MetricsWriter, Row, UpdateAverager};
use crate::replay::{Batch, ReplayBuffer};
use crate::rng::Rng;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Independent random streams of a run, so that e.g. the evaluation schedule never shifts the
/// training noise.
mod stream {
    pub const EXPLORE: u64 = 1;
    pub const REPLAY: u64 = 2;
    pub const EVAL: u64 = 3;
}

/// How a run reports itself.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// No progress bar or log lines (for scripts and tests).
    pub quiet: bool,
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub steps: u64,
    pub episodes: u64,
    /// (mean, std) of the last evaluation.
    pub final_eval: (f64, f64),
    pub wall_time: f64,
    pub final_checkpoint: PathBuf,
}

/// Builds the agent a config asks for.
pub fn build_agent(cfg: &TrainConfig, obs_dim: usize, act_dim: usize) -> Box<dyn Agent> {
    let common = cfg.common();
    match cfg.family() {
        Family::Sac => Box::new(Sac::new(obs_dim, act_dim, &common, cfg.sac.clone(), cfg.seed)),
        Family::Td3 => Box::new(Td3::new(obs_dim, act_dim, &common, cfg.td3.clone(), cfg.seed)),
    }
}

/// Maps a normalised action in [−1, 1] to the env's box: low + (a + 1)/2 · (high − low).
pub fn scale_action(normalised: &[f32], space: &BoxSpace, out: &mut [f32]) {
    for ((o, &a), (&l, &h)) in out.iter_mut().zip(normalised).zip(space.low.iter().zip(&space.high)) {
        *o = l + 0.5 * (a + 1.0) * (h - l);
    }
}

fn check_action_space(space: &BoxSpace, env: &str) -> Result<()> {
    if space.low.iter().chain(&space.high).all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{env}: the action space must be bounded to rescale actions from [-1, 1]")))
    }
}

/// Mean and (population) standard deviation of `episodes` deterministic episodes; each episode's
/// reset seed comes from `seeds`.
pub fn evaluate(agent: &mut dyn Agent, env: &mut dyn Env, episodes: usize, seeds: &mut Rng) -> (f64, f64, Vec<f64>) {
    let space = env.action_space().clone();
    let (mut a, mut scaled) = (vec![0.0; space.dim()], vec![0.0; space.dim()]);
    let mut unused = Rng::new(0);
    let returns: Vec<f64> = (0..episodes)
        .map(|_| {
            let mut obs = env.reset(Some(seeds.next_u64()));
            let mut total = 0.0;
            loop {
                agent.act(&obs, ActMode::Deterministic, &mut unused, &mut a);
                scale_action(&a, &space, &mut scaled);
                let s = env.step(&scaled);
                total += s.reward;
                if s.terminated || s.truncated {
                    return total;
                }
                obs = s.obs;
            }
        })
        .collect();
    let mean = returns.iter().sum::<f64>() / returns.len() as f64;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / returns.len() as f64;
    (mean, var.sqrt(), returns)
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    let template = "{bar:30.cyan/blue} {human_pos}/{human_len} steps  {sps} steps/s  ETA {eta}  {msg}";
    let style = ProgressStyle::with_template(template)
        .map(|s| {
            s.with_key("sps", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}", state.per_sec());
            })
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb
}

/// A line that belongs in the log: above the bar on a terminal, on stderr otherwise.
fn log_line(pb: &ProgressBar, quiet: bool, text: String) {
    if quiet {
        return;
    }
    if pb.is_hidden() {
        eprintln!("{text}");
    } else {
        pb.println(text);
    }
}

/// Trains a run described by `cfg` into `run_dir` (created if needed): `config.toml`,
/// `metrics.csv`, `checkpoints/`.
pub fn train(cfg: &TrainConfig, run_dir: &Path, opts: &TrainOptions) -> Result<TrainSummary> {
    train_env(cfg, make(&cfg.env)?, make(&cfg.env)?, run_dir, opts)
}

/// [`train`] on environments you provide — your own [`Env`] implementation, say. `eval_env` must
/// be a separate instance of the same task; `cfg.env` is only recorded as its name.
pub fn train_env(
    cfg: &TrainConfig,
    mut env: Box<dyn Env>,
    mut eval_env: Box<dyn Env>,
    run_dir: &Path,
    opts: &TrainOptions,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let (obs_dim, act_dim) = (env.observation_space().dim(), env.action_space().dim());
    let space = env.action_space().clone();
    check_action_space(&space, &cfg.env)?;

    let ckpt_dir = run_dir.join("checkpoints");
    std::fs::create_dir_all(&ckpt_dir).map_err(|e| Error::io(&ckpt_dir, e))?;
    write_atomic(&run_dir.join("config.toml"), cfg.to_toml().as_bytes())?;
    let mut metrics = MetricsWriter::create(&run_dir.join("metrics.csv"))?;

    let mut agent = build_agent(cfg, obs_dim, act_dim);
    let mut replay = ReplayBuffer::new(cfg.buffer_size, obs_dim, act_dim);
    let mut explore_rng = Rng::stream(cfg.seed, stream::EXPLORE);
    let mut replay_rng = Rng::stream(cfg.seed, stream::REPLAY);
    let mut eval_seeds = Rng::stream(cfg.seed, stream::EVAL);
    let mut batch = Batch::default();
    let (mut action, mut scaled) = (vec![0.0f32; act_dim], vec![0.0f32; act_dim]);
    let mut averager = UpdateAverager::default();

    let pb = progress_bar(cfg.total_steps, opts.quiet);
    let start = Instant::now();
    let mut obs = env.reset(Some(cfg.seed));
    let (mut episodes, mut ep_return, mut ep_len) = (0u64, 0.0f64, 0u64);
    let mut last_eval = (f64::NAN, f64::NAN);
    let mut last_episode_return = None;
    let mut last_good_checkpoint: Option<PathBuf> = None;
    let save = |agent: &dyn Agent, path: &Path, step: u64, episodes: u64| -> Result<()> {
        let info = BTreeMap::from([
            ("config".to_string(), cfg.to_toml()),
            ("step".to_string(), step.to_string()),
            ("episodes".to_string(), episodes.to_string()),
        ]);
        Checkpoint::from_agent(agent, info).save(path)
    };
    let non_finite = |step: u64, quantity: &str, last: &Option<PathBuf>| {
        let last = last.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none yet".into());
        Error::NonFinite { step, quantity: format!("{quantity} (last good checkpoint: {last})") }
    };

    for step in 1..=cfg.total_steps {
        if step <= cfg.learning_starts {
            for a in action.iter_mut() {
                *a = explore_rng.uniform_range(-1.0, 1.0) as f32;
            }
        } else {
            agent.act(&obs, ActMode::Explore, &mut explore_rng, &mut action);
        }
        scale_action(&action, &space, &mut scaled);
        let s = env.step(&scaled);
        if !s.reward.is_finite() || s.obs.iter().any(|v| !v.is_finite()) {
            return Err(non_finite(step, "observation or reward from the environment", &last_good_checkpoint));
        }
        replay.push(&obs, &action, s.reward, &s.obs, s.terminated, s.truncated);
        ep_return += s.reward;
        ep_len += 1;
        obs = s.obs;
        if s.terminated || s.truncated {
            episodes += 1;
            let mut row = Row { step, episode: episodes, ..Default::default() };
            row.episode_return = Some(ep_return);
            row.episode_length = Some(ep_len);
            averager.drain_into(&mut row);
            write_row(&mut metrics, &mut row, start, step)?;
            last_episode_return = Some(ep_return);
            pb.set_message(status(last_episode_return, last_eval.0));
            obs = env.reset(None);
            (ep_return, ep_len) = (0.0, 0);
        }
        if step > cfg.learning_starts {
            for _ in 0..cfg.gradient_steps {
                replay.sample(cfg.batch_size, &mut replay_rng, &mut batch);
                let stats = agent.update(&batch);
                let finite = stats.critic_loss.is_finite() && stats.actor_loss.is_none_or(f64::is_finite);
                if !finite {
                    return Err(non_finite(step, "loss", &last_good_checkpoint));
                }
                averager.add(&stats);
            }
        }
        if (cfg.eval_every > 0 && step % cfg.eval_every == 0) || step == cfg.total_steps {
            let (mean, std, _) = evaluate(agent.as_mut(), eval_env.as_mut(), cfg.eval_episodes, &mut eval_seeds);
            last_eval = (mean, std);
            let mut row =
                Row { step, episode: episodes, eval_mean: Some(mean), eval_std: Some(std), ..Default::default() };
            write_row(&mut metrics, &mut row, start, step)?;
            log_line(&pb, opts.quiet, format!("step {step:>8}  eval {mean:9.2} ± {std:.2}"));
            pb.set_message(status(last_episode_return, mean));
        }
        if cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0 && step != cfg.total_steps {
            let path = ckpt_dir.join(format!("step_{step:09}.safetensors"));
            save(agent.as_ref(), &path, step, episodes)?;
            last_good_checkpoint = Some(path);
        }
        if step % 64 == 0 || step == cfg.total_steps {
            pb.set_position(step);
        }
    }
    let final_checkpoint = ckpt_dir.join("final.safetensors");
    save(agent.as_ref(), &final_checkpoint, cfg.total_steps, episodes)?;
    pb.finish_and_clear();
    Ok(TrainSummary {
        steps: cfg.total_steps,
        episodes,
        final_eval: last_eval,
        wall_time: start.elapsed().as_secs_f64(),
        final_checkpoint,
    })
}

/// The progress bar's message: last training-episode return and last evaluation mean.
fn status(episode_return: Option<f64>, eval_mean: f64) -> String {
    let show = |v: Option<f64>| v.filter(|x| x.is_finite()).map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into());
    format!("episode {}  eval {}", show(episode_return), show(Some(eval_mean)))
}

fn write_row(metrics: &mut MetricsWriter, row: &mut Row, start: Instant, step: u64) -> Result<()> {
    row.wall_time = start.elapsed().as_secs_f64();
    row.sps = step as f64 / row.wall_time.max(1e-9);
    metrics.write(row)
}

/// The checkpoint `polyak eval` uses by default: `final`, else the latest periodic one.
pub fn latest_checkpoint(run_dir: &Path) -> Result<PathBuf> {
    let dir = run_dir.join("checkpoints");
    let final_path = dir.join("final.safetensors");
    if final_path.exists() {
        return Ok(final_path);
    }
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("step_") && n.ends_with(".safetensors"))
        })
        .max()
        .ok_or_else(|| Error::Invalid(format!("{}: no checkpoint found", dir.display())))
}

/// Reloads a run's checkpoint and evaluates it deterministically.
pub fn evaluate_run(
    run_dir: &Path,
    checkpoint: Option<&Path>,
    episodes: usize,
    seed: u64,
) -> Result<(f64, f64, Vec<f64>)> {
    let cfg = TrainConfig::load(&run_dir.join("config.toml"))?;
    let path = match checkpoint {
        Some(p) => p.to_path_buf(),
        None => latest_checkpoint(run_dir)?,
    };
    let ckpt = Checkpoint::load(&path)?;
    let mut env = make(&cfg.env)?;
    let mut agent = build_agent(&cfg, env.observation_space().dim(), env.action_space().dim());
    ckpt.restore(agent.as_mut(), &path)?;
    Ok(evaluate(agent.as_mut(), env.as_mut(), episodes, &mut Rng::stream(seed, stream::EVAL)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_rescaled_to_the_env_bounds() {
        let space = BoxSpace::new(vec![-2.0, 0.0], vec![2.0, 10.0]);
        let mut out = [0.0; 2];
        scale_action(&[-1.0, 1.0], &space, &mut out);
        assert_eq!(out, [-2.0, 10.0]);
        scale_action(&[0.5, 0.0], &space, &mut out);
        assert_eq!(out, [1.0, 5.0]);
    }
}
