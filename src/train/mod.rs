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
use crate::rundir::{RunDir, RunLock};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod state;
mod video;

pub use video::{record, render_run, resolve_checkpoint, RecordOptions, Recording, RenderOptions};

/// Independent random streams of a run, so that e.g. the evaluation schedule never shifts the
/// training noise.
mod stream {
    pub const EXPLORE: u64 = 1;
    pub const REPLAY: u64 = 2;
    pub const EVAL: u64 = 3;
}

/// How a run reports itself, and where it stops.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// No progress bar or log lines (for scripts and tests).
    pub quiet: bool,
    /// Stop after this step with a resume checkpoint, as an interrupted run would — to train in
    /// slices under a scheduler's time limit, say. `None`: train to `total_steps`.
    pub stop_after: Option<u64>,
    /// Asked once per step, before acting: `true` stops the run after a resume checkpoint at the
    /// current step ([`TrainSummary::interrupted`]) — how the Python package turns Ctrl-C into a
    /// clean stop.
    pub interrupt: Option<Interrupt>,
    /// With `Some(n)`, a log line every `n` training episodes: the step, the episode count, the
    /// mean return and length of those `n` episodes, and env steps/s since the line before
    /// (Stable-Baselines3's `log_interval`). Not with `quiet`.
    pub log_episodes: Option<u64>,
    /// Called at the end of every step, once its updates, evaluation and checkpoint are done,
    /// with the run as it stands ([`StepContext`]): `false` stops the run there with a resume
    /// checkpoint, as an interrupt does. How the Python package runs Stable-Baselines3's
    /// callbacks.
    pub on_step: Option<StepHook>,
}

/// What [`TrainOptions::on_step`] calls after every step: `true` to go on.
#[derive(Clone)]
pub struct StepHook(pub std::sync::Arc<dyn Fn(&mut StepContext<'_>) -> bool + Send + Sync>);

impl std::fmt::Debug for StepHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepHook")
    }
}

/// A finished step, and the run it belongs to, as a [`StepHook`] sees them: the step's
/// transition, the agent as it now stands (after the step's updates), and a checkpoint on demand.
pub struct StepContext<'a> {
    run: &'a mut Run,
    /// The action taken, in the env's bounds.
    pub action: &'a [f32],
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
    /// When the step ended the episode, its last observation (the run has reset the env since).
    last_obs: Option<&'a [f32]>,
    /// The env's named per-step quantities ([`crate::env::Step::info`]).
    pub info: &'a [(&'static str, f64)],
    /// The episode's return and length, when this step ended it.
    pub episode: Option<(f64, u64)>,
}

impl StepContext<'_> {
    /// Env steps done, this one included.
    pub fn step(&self) -> u64 {
        self.run.step
    }

    /// The observation the next step acts on.
    pub fn obs(&self) -> &[f32] {
        &self.run.obs
    }

    /// The observation the step returned: [`StepContext::obs`], or when the step ended the
    /// episode, its last one.
    pub fn next_obs(&self) -> &[f32] {
        self.last_obs.unwrap_or(&self.run.obs)
    }

    /// The agent, with this step's updates made. Acting does not change its state.
    pub fn agent(&mut self) -> &mut dyn Agent {
        self.run.agent.as_mut()
    }

    /// The env's action bounds ([`scale_action`] maps the agent's actions into them).
    pub fn action_space(&self) -> &BoxSpace {
        &self.run.space
    }

    /// Wall-clock seconds of the run so far, earlier processes' included.
    pub fn wall_time(&self) -> f64 {
        self.run.wall_time()
    }

    /// Makes the run directory hold the run as it stands now: a resume checkpoint at this step,
    /// unless its last checkpoint is of this step already. The training loop goes on from the
    /// same state: a checkpoint changes no number.
    fn checkpoint(&mut self) -> Result<()> {
        let run = &mut *self.run;
        let path = if run.step == run.cfg.total_steps { run.dir.final_agent() } else { run.dir.step_agent(run.step) };
        if run.last_good_checkpoint.as_ref() != Some(&path) {
            run.checkpoint(&path)?;
        }
        Ok(())
    }

    /// [`crate::rundir::copy_run`] of the run as it stands now, after a checkpoint at this step
    /// (unless its last checkpoint is of it already): the copy a `save` during training makes.
    /// The checkpoint changes no number of the run.
    pub fn copy_run(&mut self, dst: &Path) -> Result<()> {
        self.checkpoint()?;
        crate::rundir::copy_locked_run(self.run.dir.root(), dst)
    }
}

/// A question the training loop asks once per step: should it stop now?
#[derive(Clone)]
pub struct Interrupt(pub std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interrupt")
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub steps: u64,
    pub episodes: u64,
    /// (mean, std) of the last evaluation.
    pub final_eval: (f64, f64),
    /// Seconds of training, over all the processes of the run.
    pub wall_time: f64,
    /// The last checkpoint written.
    pub final_checkpoint: PathBuf,
    /// False when the run stopped early (`stop_after` or an interrupt) and can be resumed.
    pub complete: bool,
    /// True when [`TrainOptions::interrupt`] stopped the run.
    pub interrupted: bool,
    /// Seconds of training in this process, and where they went: its gradient updates (how many,
    /// and their seconds), evaluations and checkpoints. The rest is the loop around the updates:
    /// acting, env steps, replay, logging.
    pub seconds_here: f64,
    pub updates: u64,
    pub update_seconds: f64,
    pub eval_seconds: f64,
    pub checkpoint_seconds: f64,
}

/// Builds the agent a config asks for.
pub fn build_agent(cfg: &TrainConfig, obs_dim: usize, act_dim: usize) -> Box<dyn Agent> {
    let common = &cfg.common;
    match cfg.family() {
        Family::Sac => Box::new(Sac::new(obs_dim, act_dim, common, cfg.sac.clone(), cfg.seed)),
        Family::Td3 => Box::new(Td3::new(obs_dim, act_dim, common, cfg.td3.clone(), cfg.seed)),
    }
}

/// A training step's env step and the first update after it. The batch is drawn first, with the
/// draws [`ReplayBuffer::sample`] would make after the env step, and the update runs beside the
/// env step ([`Agent::update_beside`]) unless the batch drew the transition the env step stores;
/// then it waits for it. So the numbers are those of `env_step`, `sample`, `update`, in that
/// order. `env_step` steps the env, stores its transition in `replay` and says whether it did
/// (a non-finite one is not stored). `None`: the update waited for a transition that was not
/// stored, and did not run.
pub fn env_step_and_update(
    agent: &mut dyn Agent,
    replay: &mut ReplayBuffer,
    rng: &mut Rng,
    size: usize,
    batch: &mut Batch,
    pending: &mut Vec<usize>,
    mut env_step: impl FnMut(&mut ReplayBuffer) -> bool,
) -> Option<crate::algo::UpdateStats> {
    replay.sample_before_push(size, rng, batch, pending);
    if pending.is_empty() {
        return Some(agent.update_beside(batch, &mut || {
            env_step(replay);
        }));
    }
    if !env_step(replay) {
        return None;
    }
    replay.fill_pushed(batch, pending);
    Some(agent.update(batch))
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
        Err(Error::env(format!("{env}: the action space must be bounded to rescale actions from [-1, 1]")))
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

/// What to say when a run's threads are more than the CPUs this process may use (as `machine`
/// records them): the update's threads then take turns on them, and wait for each other.
fn more_threads_than_cpus(machine: &crate::rundir::Machine) -> Option<String> {
    let (threads, cpus) = (machine.threads, machine.logical_cpus);
    (threads > cpus).then(|| {
        format!(
            "threads = {threads} is more than the {cpus} CPU{} this process may use: the update's threads take turns on \
             them and wait for each other; set threads to at most {cpus} (the numbers are the same on any thread count)",
            if cpus == 1 { "" } else { "s" }
        )
    })
}

/// What to say when a resumed run goes on where the env's arithmetic may round otherwise than
/// where its steps so far ran (`before`, the last machine `machine.toml` records): under another
/// C library, or on a CPU without AVX2 and FMA (`here_avx2_fma`) after one with them (glibc picks
/// its math functions' code by the CPU; README, "Reproducibility"). The envs' dynamics call those
/// functions; polyak's own arithmetic does not, and gives the same numbers on any x86-64 CPU. The
/// run goes on either way: only its bit-for-bit match with a run that never stopped is at stake.
fn env_math_may_differ(
    before: &crate::rundir::Machine,
    here: &crate::rundir::Machine,
    here_avx2_fma: bool,
) -> Option<String> {
    let why = if !before.libc.is_empty() && before.libc != here.libc {
        format!(
            "this process runs under {}, the run's steps from {} under {}",
            here.libc, before.from_step, before.libc
        )
    } else if before.simd != crate::Simd::Scalar.name() && !here_avx2_fma {
        // AVX2 or AVX-512 kernels then: that CPU had AVX2 and FMA.
        format!(
            "this CPU does not have both AVX2 and FMA, and the run's steps from {} ran on one with them ({})",
            before.from_step, before.cpu
        )
    } else {
        return None;
    };
    Some(format!(
        "{why}: the env's dynamics call the C library's math functions, which may round differently here, so from \
         step {} on the run may not match bit for bit one that never stopped (README, \"Reproducibility\")",
        here.from_step
    ))
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
///
/// Everything is checked before the directory is created; a directory that already holds a run
/// is refused (continue it with [`resume`]), and so is one another process is writing.
pub fn train_env(
    cfg: &TrainConfig,
    env: Box<dyn Env>,
    eval_env: Box<dyn Env>,
    run_dir: &Path,
    opts: &TrainOptions,
) -> Result<TrainSummary> {
    cfg.validate()?;
    check_action_space(env.action_space(), &cfg.env)?;
    check_memory(cfg, env.as_ref())?;
    if opts.stop_after == Some(0) {
        return Err(Error::flag("--stop-after", "expected a step of at least 1"));
    }
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let _lock = RunLock::acquire(run_dir)?;
    refuse_existing_run(run_dir)?;
    start(cfg, (env, eval_env), run_dir, opts)
}

/// Starts a run from step 0 in `run_dir`, which the caller has locked, on `(env, eval_env)`.
fn start(
    cfg: &TrainConfig,
    envs: (Box<dyn Env>, Box<dyn Env>),
    run_dir: &Path,
    opts: &TrainOptions,
) -> Result<TrainSummary> {
    let (env, eval_env) = envs;
    let dir = RunDir::new(run_dir);
    std::fs::create_dir_all(dir.checkpoints()).map_err(|e| Error::io(dir.checkpoints(), e))?;
    write_atomic(&dir.config(), cfg.to_toml().as_bytes())?;
    let metrics = MetricsWriter::create(&dir.metrics(), env.reward_terms())?;
    let mut run = Run::new(cfg.clone(), env, eval_env, run_dir, metrics);
    run.obs = run.env.reset(Some(cfg.seed));
    run.go(opts)
}

/// A run directory is never silently overwritten, nor a file of anyone else's where a new run
/// would write one of its own.
fn refuse_existing_run(dir: &Path) -> Result<()> {
    let run = RunDir::new(dir);
    if run.config().exists() {
        let how = format!("continue it with `polyak train --resume {}`, or choose another --out", dir.display());
        return Err(Error::run_dir(dir, format!("already holds a run; {how}")));
    }
    if let Some(taken) = run.taken().first() {
        let name = taken.strip_prefix(dir).unwrap_or(taken).display();
        let why = format!(
            "holds `{name}`, where a new run would write its own; polyak leaves it as it is: choose another --out"
        );
        return Err(Error::run_dir(dir, why));
    }
    Ok(())
}

/// Bytes a run will hold in memory — the replay buffer dominates — so that an impossible size is
/// refused before anything is allocated or written. `None` if the figure overflows.
pub fn memory_needed(cfg: &TrainConfig, obs_dim: usize, act_dim: usize) -> Option<u64> {
    let (o, a) = (obs_dim as u64, act_dim as u64);
    let per_transition = o.checked_mul(8)?.checked_add(a * 4 + 6)?;
    let replay = (cfg.buffer_size as u64).checked_mul(per_transition)?;
    // Parameters of the actor (mean and log σ heads for SAC) and two critics.
    let params = |input: u64, output: u64| -> Option<u64> {
        let mut widths = vec![input];
        widths.extend(cfg.common.hidden.iter().map(|&h| h as u64));
        widths.push(output);
        widths.windows(2).try_fold(0u64, |sum, w| sum.checked_add(w[0].checked_mul(w[1])?.checked_add(w[1])?))
    };
    let nets = params(o, 2 * a)?.checked_add(params(o + a, 1)?.checked_mul(2)?)?;
    // Online, target, two Adam moments and a gradient per parameter, in f32.
    let weights = nets.checked_mul(5 * 4)?;
    // Activations and their gradients: a batch through every layer of the four networks an
    // update touches, with room for the batch itself.
    let width: u64 = cfg.common.hidden.iter().try_fold(o + a + 2, |s, &h| s.checked_add(h as u64))?;
    let activations = (cfg.batch_size as u64).checked_mul(width)?.checked_mul(4 * 4 * 3)?;
    let eval = (cfg.eval_episodes as u64).checked_mul(8)?;
    replay.checked_add(weights)?.checked_add(activations)?.checked_add(eval)
}

fn check_memory(cfg: &TrainConfig, env: &dyn Env) -> Result<()> {
    let needed = memory_needed(cfg, env.observation_space().dim(), env.action_space().dim());
    crate::rundir::check_memory(
        &format!(
            "this run (buffer_size {}, batch_size {}, hidden {:?})",
            cfg.buffer_size, cfg.batch_size, cfg.common.hidden
        ),
        needed,
        "lower buffer_size, batch_size or hidden",
    )
}

/// Continues an interrupted (or finished, to extend it) run from its resume checkpoint, exactly
/// as if it had never stopped. `sets` may change only what does not alter the run's meaning
/// (see [`RESUME_CHANGEABLE`](crate::config::RESUME_CHANGEABLE)), e.g. `total_steps=200000`.
/// A run that stopped before its first checkpoint starts again from step 0 in place.
pub fn resume(run_dir: &Path, sets: &[String], opts: &TrainOptions) -> Result<TrainSummary> {
    let env = state::run_config(run_dir)?.env;
    resume_env(run_dir, sets, make(&env)?, make(&env)?, opts)
}

/// [`resume`] on environments you provide (as [`train_env`]). Everything is read and verified
/// before any file is written: a refused or failed resume leaves the directory as it was.
pub fn resume_env(
    run_dir: &Path,
    sets: &[String],
    env: Box<dyn Env>,
    eval_env: Box<dyn Env>,
    opts: &TrainOptions,
) -> Result<TrainSummary> {
    state::run_config(run_dir)?; // "no such run" before anything else
    let _lock = RunLock::acquire(run_dir)?;
    let (cfg, saved) = state::load_resume(run_dir, sets)?;
    check_action_space(env.action_space(), &cfg.env)?;
    check_memory(&cfg, env.as_ref())?;
    let step = saved.as_ref().map_or(0, |(_, s)| s.step);
    if let Some(stop) = opts.stop_after.filter(|&s| s <= step) {
        return Err(Error::flag("--stop-after", format!("{stop} is not after the run's current step {step}")));
    }
    let Some((agent_state, loop_state)) = saved else {
        if !opts.quiet {
            eprintln!(
                "polyak: {} has no checkpoint yet (it stopped before its first one): starting it again from step 0 \
                 in place; the same seed gives the same run",
                run_dir.display()
            );
        }
        return start(&cfg, (env, eval_env), run_dir, opts);
    };
    if !opts.quiet {
        let d = run_dir.display();
        eprintln!("polyak: resuming {} on {} at step {step} of {} → {d}", cfg.algo, cfg.env, cfg.total_steps);
    }
    let dir = RunDir::new(run_dir);
    let metrics = MetricsWriter::resume(&dir.metrics(), &loop_state.metrics);
    let mut run = Run::new(cfg.clone(), env, eval_env, run_dir, metrics);
    let note = run.restore(&agent_state, loop_state, &dir.resume_file())?;
    // Everything has loaded: from here on the run's files may change.
    state::keep_final(run_dir)?;
    write_atomic(&dir.config(), cfg.to_toml().as_bytes())?;
    run.metrics.open()?;
    if let Some(note) = note {
        if !opts.quiet {
            eprintln!("polyak: {note}");
        }
    }
    run.go(opts)
}

/// Everything a run is made of while it trains; [`state`] saves and restores all of it.
struct Run {
    cfg: TrainConfig,
    dir: RunDir,
    env: Box<dyn Env>,
    eval_env: Box<dyn Env>,
    space: BoxSpace,
    agent: Box<dyn Agent>,
    replay: ReplayBuffer,
    explore_rng: Rng,
    replay_rng: Rng,
    eval_seeds: Rng,
    averager: UpdateAverager,
    metrics: MetricsWriter,
    /// Env steps done.
    step: u64,
    episodes: u64,
    ep_return: f64,
    ep_len: u64,
    /// This episode's sums of the env's reward terms ([`Env::reward_terms`]).
    ep_terms: Vec<f64>,
    obs: Vec<f32>,
    last_eval: (f64, f64),
    last_episode_return: Option<f64>,
    /// Wall-clock seconds spent by earlier processes of this run (before a resume).
    wall_before: f64,
    start: Instant,
    /// Updates made in this process, and the time spent in them, in evaluations and in
    /// checkpoints.
    updates: u64,
    update_time: Duration,
    eval_time: Duration,
    checkpoint_time: Duration,
    /// Replay transitions already on disk, as `[first, end)` segments.
    segments: Vec<(u64, u64)>,
    last_good_checkpoint: Option<PathBuf>,
}

impl Run {
    fn new(
        cfg: TrainConfig,
        env: Box<dyn Env>,
        eval_env: Box<dyn Env>,
        run_dir: &Path,
        metrics: MetricsWriter,
    ) -> Self {
        let (obs_dim, act_dim) = (env.observation_space().dim(), env.action_space().dim());
        let terms = env.reward_terms().len();
        Run {
            agent: build_agent(&cfg, obs_dim, act_dim),
            replay: ReplayBuffer::new(cfg.buffer_size, obs_dim, act_dim),
            explore_rng: Rng::stream(cfg.seed, stream::EXPLORE),
            replay_rng: Rng::stream(cfg.seed, stream::REPLAY),
            eval_seeds: Rng::stream(cfg.seed, stream::EVAL),
            averager: UpdateAverager::default(),
            space: env.action_space().clone(),
            dir: RunDir::new(run_dir),
            env,
            eval_env,
            metrics,
            step: 0,
            episodes: 0,
            ep_return: 0.0,
            ep_len: 0,
            ep_terms: vec![0.0; terms],
            obs: vec![0.0; obs_dim],
            last_eval: (f64::NAN, f64::NAN),
            last_episode_return: None,
            wall_before: 0.0,
            start: Instant::now(),
            updates: 0,
            update_time: Duration::ZERO,
            eval_time: Duration::ZERO,
            checkpoint_time: Duration::ZERO,
            segments: Vec::new(),
            last_good_checkpoint: None,
            cfg,
        }
    }

    fn non_finite(&self, quantity: &str) -> Error {
        let last = self.last_good_checkpoint.as_ref().map(|p| p.display().to_string());
        let last = last.unwrap_or_else(|| "none yet".into());
        Error::NonFinite { step: self.step, quantity: format!("{quantity} (last good checkpoint: {last})") }
    }

    /// Trains from the current step to `total_steps` (or `opts.stop_after`).
    fn go(&mut self, opts: &TrainOptions) -> Result<TrainSummary> {
        let cfg = self.cfg.clone();
        let act_dim = self.space.dim();
        let (mut batch, mut pending) = (Batch::default(), Vec::new());
        let (mut action, mut scaled) = (vec![0.0f32; act_dim], vec![0.0f32; act_dim]);
        let pb = progress_bar(cfg.total_steps, opts.quiet);
        pb.set_position(self.step);
        pb.reset_eta();
        pb.set_message(status(self.last_episode_return, self.last_eval.0));
        // A report's wall-clock figures name the machine they came from. Not knowing it is no
        // reason to stop training, so a damaged record only gets a warning.
        let here = crate::rundir::Machine::here(self.step, cfg.common.resolved_threads());
        let before =
            crate::rundir::Machine::read(&self.dir).ok().and_then(|m| m.into_iter().rfind(|m| m.from_step < self.step));
        if let Some(why) = before.and_then(|b| env_math_may_differ(&b, &here, crate::Simd::Avx2.available())) {
            pb.suspend(|| eprintln!("polyak: warning: {why}"));
        }
        if let Err(e) = here.record(&self.dir) {
            pb.suspend(|| eprintln!("polyak: warning: {e}"));
        }
        if let Some(why) = more_threads_than_cpus(&here) {
            pb.suspend(|| eprintln!("polyak: warning: {why}"));
        }
        if cfg.video_every > 0 {
            video::check_can_render(self.eval_env.as_mut())?;
        }
        self.start = Instant::now();
        let stop = opts.stop_after.unwrap_or(cfg.total_steps).min(cfg.total_steps);
        let mut interrupted = false;
        let mut since_log = EpisodeLog::new(self.step);

        while self.step < stop {
            if opts.interrupt.as_ref().is_some_and(|i| (i.0)()) {
                interrupted = true;
                self.resume_checkpoint()?;
                break;
            }
            self.step += 1;
            let step = self.step;
            if step <= cfg.learning_starts {
                for a in action.iter_mut() {
                    *a = self.explore_rng.uniform_range(-1.0, 1.0) as f32;
                }
            } else {
                self.agent.act(&self.obs, ActMode::Explore, &mut self.explore_rng, &mut action);
            }
            if action.iter().any(|v| !v.is_finite()) {
                self.check_parameters()?;
                return Err(self.non_finite("action from the actor"));
            }
            scale_action(&action, &self.space, &mut scaled);
            let learn = step > cfg.learning_starts && cfg.gradient_steps > 0;
            let mut stepped = None;
            let (env, obs) = (&mut self.env, &self.obs);
            let mut env_step = |replay: &mut ReplayBuffer| {
                let s = env.step(&scaled);
                // A non-finite transition is never stored: training stops below.
                let stored = s.reward.is_finite() && s.obs.iter().all(|v| v.is_finite());
                if stored {
                    replay.push(obs, &action, s.reward, &s.obs, s.terminated, s.truncated);
                }
                stepped = Some(s);
                stored
            };
            let mut first = None;
            if learn {
                let clock = Instant::now();
                let (agent, replay, rng) = (self.agent.as_mut(), &mut self.replay, &mut self.replay_rng);
                first = env_step_and_update(agent, replay, rng, cfg.batch_size, &mut batch, &mut pending, env_step);
                self.update_time += clock.elapsed();
            } else {
                env_step(&mut self.replay);
            }
            let s = stepped.expect("the env stepped");
            if !s.reward.is_finite() || s.obs.iter().any(|v| !v.is_finite()) {
                return Err(self.non_finite("observation or reward from the environment"));
            }
            self.ep_return += s.reward;
            self.ep_len += 1;
            let terms = self.env.reward_terms();
            for &(key, value) in &s.info {
                if let Some(i) = terms.iter().position(|t| *t == key) {
                    self.ep_terms[i] += value;
                }
            }
            let mut ended = None;
            self.obs = s.obs;
            if s.terminated || s.truncated {
                self.episodes += 1;
                let mut row = Row { step, episode: self.episodes, ..Default::default() };
                row.episode_return = Some(self.ep_return);
                row.episode_length = Some(self.ep_len);
                row.terms = self.ep_terms.iter().map(|&t| Some(t)).collect();
                self.averager.drain_into(&mut row);
                self.write_row(&mut row)?;
                self.last_episode_return = Some(self.ep_return);
                pb.set_message(status(self.last_episode_return, self.last_eval.0));
                if let Some(line) = since_log.add(opts.log_episodes, step, self.episodes, self.ep_return, self.ep_len) {
                    log_line(&pb, opts.quiet, line);
                }
                let last = std::mem::replace(&mut self.obs, self.env.reset(None));
                ended = Some((last, self.ep_return, self.ep_len));
                (self.ep_return, self.ep_len) = (0.0, 0);
                self.ep_terms.fill(0.0);
            }
            if learn {
                for _ in 0..cfg.gradient_steps {
                    let stats = match first.take() {
                        Some(stats) => stats,
                        None => {
                            self.replay.sample(cfg.batch_size, &mut self.replay_rng, &mut batch);
                            let clock = Instant::now();
                            let stats = self.agent.update(&batch);
                            self.update_time += clock.elapsed();
                            stats
                        }
                    };
                    self.updates += 1;
                    if !(stats.critic_loss.is_finite() && stats.actor_loss.is_none_or(f64::is_finite)) {
                        return Err(self.non_finite("loss"));
                    }
                    self.averager.add(&stats);
                }
            }
            if (cfg.eval_every > 0 && step.is_multiple_of(cfg.eval_every)) || step == cfg.total_steps {
                self.check_parameters()?;
                let clock = Instant::now();
                let (mean, std, _) =
                    evaluate(self.agent.as_mut(), self.eval_env.as_mut(), cfg.eval_episodes, &mut self.eval_seeds);
                self.eval_time += clock.elapsed();
                self.last_eval = (mean, std);
                let mut row = Row {
                    step,
                    episode: self.episodes,
                    eval_mean: Some(mean),
                    eval_std: Some(std),
                    ..Default::default()
                };
                self.write_row(&mut row)?;
                log_line(&pb, opts.quiet, format!("step {step:>8}  eval {mean:9.2} ± {std:.2}"));
                pb.set_message(status(self.last_episode_return, mean));
            }
            if cfg.video_every > 0 && step.is_multiple_of(cfg.video_every) {
                self.record_video(step, &pb, opts.quiet);
            }
            let periodic = cfg.checkpoint_every > 0 && step.is_multiple_of(cfg.checkpoint_every);
            if step == cfg.total_steps {
                self.checkpoint(&self.dir.final_agent())?;
            } else if periodic || step == stop {
                self.checkpoint(&self.dir.step_agent(step))?;
            }
            if step.is_multiple_of(64) || step == stop {
                pb.set_position(step);
            }
            if let Some(hook) = &opts.on_step {
                let (last_obs, episode) = match &ended {
                    Some((last, ret, len)) => (Some(last.as_slice()), Some((*ret, *len))),
                    None => (None, None),
                };
                let (reward, terminated, truncated) = (s.reward, s.terminated, s.truncated);
                let mut ctx = StepContext {
                    run: self,
                    action: &scaled,
                    reward,
                    terminated,
                    truncated,
                    last_obs,
                    info: &s.info,
                    episode,
                };
                if !(hook.0)(&mut ctx) {
                    if step < cfg.total_steps {
                        interrupted = true;
                        self.resume_checkpoint()?;
                    }
                    break;
                }
            }
        }
        pb.finish_and_clear();
        Ok(TrainSummary {
            steps: self.step,
            episodes: self.episodes,
            final_eval: self.last_eval,
            wall_time: self.wall_time(),
            final_checkpoint: self.last_good_checkpoint.clone().unwrap_or_else(|| self.dir.final_agent()),
            complete: self.step == cfg.total_steps,
            interrupted,
            seconds_here: self.start.elapsed().as_secs_f64(),
            updates: self.updates,
            update_seconds: self.update_time.as_secs_f64(),
            eval_seconds: self.eval_time.as_secs_f64(),
            checkpoint_seconds: self.checkpoint_time.as_secs_f64(),
        })
    }

    /// The checkpoint an early stop leaves to resume from: at the current step, unless the last
    /// checkpoint is of it already.
    fn resume_checkpoint(&mut self) -> Result<()> {
        if self.step > 0 && self.last_good_checkpoint.as_ref() != Some(&self.dir.step_agent(self.step)) {
            self.checkpoint(&self.dir.step_agent(self.step))?;
        }
        Ok(())
    }

    fn wall_time(&self) -> f64 {
        self.wall_before + self.start.elapsed().as_secs_f64()
    }

    /// `video_every`: one deterministic episode into `videos/step_<N>.gif`, on the evaluation
    /// env (evaluations reseed every episode, so this changes no result). A video already there
    /// (from before a resume) is kept; a failed one costs a warning, never the run.
    fn record_video(&mut self, step: u64, pb: &ProgressBar, quiet: bool) {
        let path = self.dir.step_video(step);
        if path.exists() {
            return;
        }
        let clock = Instant::now();
        let options = RecordOptions {
            seeds: vec![video::training_video_seed()],
            view: crate::render::View::default(),
            fps: None,
            max_steps: None,
            title: Some(format!("{} · {} · step {step}", self.cfg.algo.name(), self.cfg.env)),
        };
        let recorded = record(self.agent.as_mut(), self.eval_env.as_mut(), &path, &options);
        self.eval_time += clock.elapsed();
        match recorded {
            Ok(r) => log_line(pb, quiet, format!("step {step:>8}  video {} ({} frames)", r.path.display(), r.frames)),
            Err(e) => pb.suspend(|| eprintln!("polyak: warning: no video at step {step}: {e}")),
        }
    }

    fn write_row(&mut self, row: &mut Row) -> Result<()> {
        row.terms.resize(self.ep_terms.len(), None);
        row.wall_time = self.wall_time();
        row.sps = self.step as f64 / row.wall_time.max(1e-9);
        self.metrics.write(row)
    }

    /// A NaN/Inf weight would make every later number garbage: stop, naming the tensor.
    fn check_parameters(&mut self) -> Result<()> {
        match crate::algo::first_non_finite(self.agent.as_mut()) {
            Some(name) => Err(self.non_finite(&format!("parameter in `{name}`"))),
            None => Ok(()),
        }
    }

    /// Saves the agent to `path` (for `polyak eval`) and the whole run to the resume file.
    fn checkpoint(&mut self, path: &Path) -> Result<()> {
        let clock = Instant::now();
        self.check_parameters()?;
        let saved = self.save(path);
        self.checkpoint_time += clock.elapsed();
        saved.map_err(|e| {
            let last = self.last_good_checkpoint.as_ref().map(|p| p.display().to_string());
            Error::Invalid(format!(
                "{e}\ntraining stopped at step {}; the last good checkpoint ({}) is intact: fix the cause and \
                 continue with `polyak train --resume {}`",
                self.step,
                last.unwrap_or_else(|| "none yet".into()),
                self.dir.root().display()
            ))
        })?;
        self.last_good_checkpoint = Some(path.to_path_buf());
        Ok(())
    }
}

/// The training episodes since the last episode log line ([`TrainOptions::log_episodes`]).
struct EpisodeLog {
    episodes: u64,
    returns: f64,
    lengths: u64,
    /// Where the last line was written.
    step: u64,
    clock: Instant,
}

impl EpisodeLog {
    fn new(step: u64) -> Self {
        EpisodeLog { episodes: 0, returns: 0.0, lengths: 0, step, clock: Instant::now() }
    }

    /// Counts an episode that ended at `step`; the line, when `every` episodes are in.
    fn add(&mut self, every: Option<u64>, step: u64, episodes: u64, ret: f64, len: u64) -> Option<String> {
        let every = every.filter(|&n| n > 0)?;
        (self.episodes, self.returns, self.lengths) = (self.episodes + 1, self.returns + ret, self.lengths + len);
        if self.episodes < every {
            return None;
        }
        let n = self.episodes as f64;
        let rate = (step - self.step) as f64 / self.clock.elapsed().as_secs_f64().max(1e-9);
        let line = format!(
            "step {step:>8}  episodes {episodes:>6}  return {:9.2}  length {:6.1}  {rate:.0} steps/s",
            self.returns / n,
            self.lengths as f64 / n
        );
        *self = EpisodeLog::new(step);
        Some(line)
    }
}

/// The progress bar's message: last training-episode return and last evaluation mean.
fn status(episode_return: Option<f64>, eval_mean: f64) -> String {
    let show = |v: Option<f64>| v.filter(|x| x.is_finite()).map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into());
    format!("episode {}  eval {}", show(episode_return), show(Some(eval_mean)))
}

/// The checkpoint `polyak eval` uses by default: `final`, else the latest periodic one.
pub fn latest_checkpoint(run_dir: &Path) -> Result<PathBuf> {
    // Agent checkpoints sort by step, and `final` is the newest of all.
    let dir = RunDir::new(run_dir);
    let found = state::agent_checkpoints(run_dir);
    let final_path = dir.final_agent();
    let latest = if found.contains(&final_path) { Some(final_path) } else { found.last().cloned() };
    latest.ok_or_else(|| Error::run_dir(run_dir, "has no checkpoint"))
}

/// An agent as a checkpoint of its run holds it.
pub struct LoadedAgent {
    pub agent: Box<dyn Agent>,
    /// The checkpoint file.
    pub path: PathBuf,
    /// The env step it was written at, where the file says.
    pub step: Option<u64>,
}

/// A run's agent from a checkpoint (`None`: [`latest_checkpoint`]), checked to belong to the
/// run, for an env with these observation and action sizes.
pub fn load_agent(run_dir: &Path, checkpoint: Option<&Path>, obs_dim: usize, act_dim: usize) -> Result<LoadedAgent> {
    let cfg = state::run_config(run_dir)?;
    let path = match checkpoint {
        Some(p) => p.to_path_buf(),
        None => latest_checkpoint(run_dir)?,
    };
    let ckpt = Checkpoint::load(&path)?;
    state::check_belongs(&ckpt, &cfg, &path, run_dir)?;
    let mut agent = build_agent(&cfg, obs_dim, act_dim);
    ckpt.restore(agent.as_mut(), &path)?;
    let step = ckpt.info.get("step").and_then(|s| s.parse().ok());
    Ok(LoadedAgent { agent, path, step })
}

/// The reset seeds of the episodes [`evaluate_run`] plays with evaluation seed `seed` (what
/// `polyak eval --seed` sets), so that others can replay its episodes.
pub fn eval_seeds(seed: u64, episodes: usize) -> Vec<u64> {
    let mut seeds = Rng::stream(seed, stream::EVAL);
    (0..episodes).map(|_| seeds.next_u64()).collect()
}

/// Reloads a run's checkpoint (a file, or a name [`resolve_checkpoint`] finds in the run) and
/// evaluates it deterministically.
pub fn evaluate_run(
    run_dir: &Path,
    checkpoint: Option<&Path>,
    episodes: usize,
    seed: u64,
) -> Result<(f64, f64, Vec<f64>)> {
    let cfg = state::run_config(run_dir)?;
    crate::rundir::check_memory(
        &format!("{episodes} evaluation episodes"),
        (episodes as u64).checked_mul(8),
        "evaluate fewer episodes",
    )?;
    let checkpoint = checkpoint.map(|c| resolve_checkpoint(run_dir, c)).transpose()?;
    let mut env = make(&cfg.env)?;
    let (obs_dim, act_dim) = (env.observation_space().dim(), env.action_space().dim());
    let mut agent = load_agent(run_dir, checkpoint.as_deref(), obs_dim, act_dim)?.agent;
    Ok(evaluate(agent.as_mut(), env.as_mut(), episodes, &mut Rng::stream(seed, stream::EVAL)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_under_another_c_library_or_without_avx2_and_fma_is_told_its_env_may_round_otherwise() {
        let machine = |from_step, simd: &str, libc: &str| crate::rundir::Machine {
            from_step,
            cpu: "AMD EPYC (family 25, model 17)".into(),
            logical_cpus: 2,
            threads: 2,
            simd: simd.into(),
            libc: libc.into(),
        };
        let before = machine(0, "AVX-512", "glibc 2.36");
        // The same C library on a CPU with AVX2 and FMA, whichever kernels: nothing to say.
        assert_eq!(env_math_may_differ(&before, &machine(500, "AVX2", "glibc 2.36"), true), None);
        assert_eq!(env_math_may_differ(&before, &machine(500, "scalar", "glibc 2.36"), true), None);
        let libc = env_math_may_differ(&before, &machine(500, "AVX-512", "glibc 2.39"), true).unwrap();
        assert!(libc.contains("glibc 2.39") && libc.contains("glibc 2.36") && libc.contains("step 500"), "{libc}");
        let cpu = env_math_may_differ(&before, &machine(500, "scalar", "glibc 2.36"), false).unwrap();
        assert!(cpu.contains("not have both AVX2 and FMA") && cpu.contains("family 25, model 17"), "{cpu}");
        // Scalar kernels before say nothing of that CPU (they may have been asked for), and a
        // record from before polyak kept the C library says nothing of it.
        assert_eq!(
            env_math_may_differ(&machine(0, "scalar", "glibc 2.36"), &machine(500, "scalar", "glibc 2.36"), false),
            None
        );
        assert_eq!(env_math_may_differ(&machine(0, "AVX2", ""), &machine(500, "AVX2", "glibc 2.39"), true), None);
    }

    #[test]
    fn actions_are_rescaled_to_the_env_bounds() {
        let space = BoxSpace::new(vec![-2.0, 0.0], vec![2.0, 10.0]);
        let mut out = [0.0; 2];
        scale_action(&[-1.0, 1.0], &space, &mut out);
        assert_eq!(out, [-2.0, 10.0]);
        scale_action(&[0.5, 0.0], &space, &mut out);
        assert_eq!(out, [1.0, 5.0]);
    }

    #[test]
    fn a_non_finite_parameter_stops_training_naming_the_tensor_and_step() {
        let cfg = TrainConfig::resolve(Some("td3"), None, &["hidden=[8]".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let metrics = MetricsWriter::create(&dir.path().join("metrics.csv"), &[]).unwrap();
        let mut run = Run::new(cfg, make("Pendulum-v1").unwrap(), make("Pendulum-v1").unwrap(), dir.path(), metrics);
        run.step = 1234;
        assert!(run.check_parameters().is_ok());
        struct Poison;
        impl crate::algo::StateVisitor for Poison {
            fn tensor(&mut self, name: &str, values: &mut [f32]) {
                if name == "critic1_target" {
                    values[3] = f32::INFINITY;
                }
            }
            fn counter(&mut self, _: &str, _: &mut u64) {}
        }
        run.agent.visit_state(&mut Poison);
        let err = run.checkpoint(&dir.path().join("x.safetensors")).unwrap_err().to_string();
        assert!(err.contains("`critic1_target`") && err.contains("step 1234"), "{err}");
        assert!(!dir.path().join("x.safetensors").exists(), "garbage was saved");
    }
}
