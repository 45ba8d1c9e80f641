//! The `polyak` command line: argument parsing and the commands' output. Only the binary knows
//! about the terminal; everything it calls is the library's public API.

use clap::{Parser, Subcommand};
use polyak::config::{Algo, TrainConfig};
use polyak::error::{Error, Result};
use polyak::plot::{plot, Metric};
use polyak::rundir::human_bytes;
use polyak::rundir::RunDir;
use polyak::train::state::{inspect, FileStatus, Resumability, ResumeState};
use polyak::train::{evaluate_run, resume, train, TrainOptions};
use std::path::{Path, PathBuf};

/// `println!` that returns an error instead of panicking when standard output is closed
/// (`polyak list | head -0`) or full (`> /dev/full`); `main` exits quietly on the former.
macro_rules! say {
    ($($arg:tt)*) => { print_line(format_args!($($arg)*))? };
}

fn print_line(args: std::fmt::Arguments) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("standard output", e))
}

/// True for the error a closed pipe gives: a Unix tool ends quietly then.
pub(crate) fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

#[derive(Parser, Debug)]
#[command(
    name = "polyak",
    version,
    about = "Fast, reproducible off-policy deep RL (SAC, TD3, DDPG) for continuous control"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train an agent (default: SAC on Pendulum-v1).
    Train(TrainArgs),
    /// Evaluate a run's checkpoint with deterministic actions.
    Eval(EvalArgs),
    /// Video of a run's agent: deterministic episodes as a GIF (or an MP4 through ffmpeg),
    /// drawn by MuJoCo's own renderer (MuJoCo envs) or as Gymnasium draws the classic envs.
    Render(RenderArgs),
    /// A run's deterministic policy as an ONNX model (observation → action, in the env's
    /// bounds), to run without polyak: onnxruntime, TensorRT, OpenVINO, OpenCV.
    Export(ExportArgs),
    /// List the available algorithms/presets and environments.
    List,
    /// Measure gradient updates/s and env steps/s.
    Bench(BenchArgs),
    /// Run a multi-seed sweep (algorithms × envs × seeds) as a pool of training processes;
    /// re-running the same command skips finished runs and resumes interrupted ones.
    Sweep(SweepArgs),
    /// Learning curves (PNG and SVG) of runs or sweeps: one panel per env, one line per algorithm.
    Plot(PlotArgs),
    /// A Markdown report of runs or a sweep: final/best returns, AUC, steps to threshold, speed.
    Report(ReportArgs),
    /// Show what a run directory holds: config, progress, checkpoints (verified) and their sizes.
    Inspect(InspectArgs),
}

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// A built-in sweep: td3-ablation (TD3, without each trick, DDPG) or sac-vs-td3.
    pub name: Option<String>,
    /// A sweep file (TOML: algos, envs, seeds, steps, set, [grid]).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Algorithms/presets, comma-separated (instead of a built-in sweep).
    #[arg(long, value_delimiter = ',')]
    pub algos: Vec<String>,
    /// Environment (repeatable).
    #[arg(long = "env")]
    pub envs: Vec<String>,
    /// Number of seeds (0..N).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=polyak::sweep::MAX_RUNS))]
    pub seeds: Option<u64>,
    /// Total env steps per run.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=polyak::config::MAX_INTEGER))]
    pub steps: Option<u64>,
    /// Setting for every run: --set key=value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Sweep directory (default: sweeps/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Runs at a time (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Write a Slurm job-array script (DIR/sweep.slurm) instead of running.
    #[arg(long, value_parser = ["slurm"])]
    pub emit: Option<String>,
    /// Run only the run with this index (what each Slurm array task does).
    #[arg(long)]
    pub only: Option<usize>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// Run or sweep directories.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the pictures go (default: the first directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also plot training-episode returns.
    #[arg(long)]
    pub train: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run or sweep directory.
    pub dir: PathBuf,
    /// Where report.md and its pictures go (default: DIR).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Return threshold for "steps to threshold": ENV=VALUE (repeatable).
    #[arg(long = "threshold", value_name = "ENV=VALUE")]
    pub thresholds: Vec<String>,
    /// Bootstrap resamples behind every confidence interval.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub reps: u64,
    /// Seed of the bootstrap: the same runs and seed give the same report.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Run directory.
    pub run: PathBuf,
}

#[derive(clap::Args, Debug, Default)]
pub struct TrainArgs {
    /// Algorithm or preset: sac, td3, ddpg, td3-no-twin, td3-no-delay, td3-no-smoothing, td3-paper.
    #[arg(long)]
    pub algo: Option<String>,
    /// Environment id (see `polyak list`).
    #[arg(long)]
    pub env: Option<String>,
    /// Total environment steps.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=polyak::config::MAX_INTEGER))]
    pub steps: Option<u64>,
    /// Random seed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=polyak::config::MAX_INTEGER))]
    pub seed: Option<u64>,
    /// TOML config file with any hyperparameters.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one setting: --set key=value (repeatable; dotted keys for sections, e.g. td3.policy_delay=3).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Run directory (default: runs/<algo>_<env>_s<seed>_<unix time>).
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in DIR exactly where its last checkpoint left it (after a crash, or to
    /// extend a finished run with --steps). Only total_steps, eval_every, eval_episodes,
    /// checkpoint_every and threads may change.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "algo"])]
    pub resume: Option<PathBuf>,
    /// Stop after this env step with a resume checkpoint (continue later with --resume).
    #[arg(long, value_name = "STEP")]
    pub stop_after: Option<u64>,
    /// A log line every N training episodes: their mean return and length, and env steps/s.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub log_episodes: Option<u64>,
    /// No progress bar or log lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the resolved config (every value, per-env defaults applied) and exit.
    #[arg(long, conflicts_with = "resume")]
    pub print_config: bool,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Run directory written by `polyak train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Episodes to evaluate.
    #[arg(long, default_value_t = 10)]
    pub episodes: usize,
    /// Checkpoint: a file, or a name in the run's checkpoints/ (`final`, `step_000050000`, or a
    /// step such as `50000`). Default: the run's final, else its latest.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Seed of the evaluation episodes' resets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Run directory written by `polyak train` (or by the Python package).
    #[arg(long)]
    pub run: PathBuf,
    /// Checkpoint: a file, or a name in the run's checkpoints/ (`final`, `step_000050000`, or a
    /// step such as `50000`). Default: the run's final, else its latest.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// The .onnx file to write (never replaced). Default: RUN/exports/<checkpoint>.onnx.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Run directory written by `polyak train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Checkpoint: a file, or a name in the run's checkpoints/ (`final`, `step_000050000`, or a
    /// step such as `50000`). Default: the run's final, else its latest.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Episodes, one after the other (the episodes of `polyak eval --seed S`).
    #[arg(long, default_value_t = 1)]
    pub episodes: usize,
    /// The video: FILE.gif, or FILE.mp4 (needs the ffmpeg program). Default:
    /// RUN/videos/<checkpoint>.gif. An existing file is never replaced.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Frame width in pixels (default: Gymnasium's, 480 for MuJoCo envs).
    #[arg(long)]
    pub width: Option<usize>,
    /// Frame height in pixels (default: Gymnasium's).
    #[arg(long)]
    pub height: Option<usize>,
    /// MuJoCo camera: a name of the model's (e.g. `track`), an id, `free` (Gymnasium 1.4.0's
    /// default view, which does not follow the agent) or `default` (`track` where the model
    /// has it, else `free`).
    #[arg(long, default_value = "default")]
    pub camera: String,
    /// Frames per second (default: the env's real time, 1 / (timestep × frame skip)).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Seed of the episodes' resets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// End each episode's video after this many steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// No caption (algorithm, env, step, return) in the frames.
    #[arg(long)]
    pub no_caption: bool,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Fewer, shorter rounds.
    #[arg(long)]
    pub quick: bool,
    /// Only env steps/s.
    #[arg(long)]
    pub envs: bool,
    /// Only this algorithm's updates/s at HalfCheetah sizes (e.g. to set beside a training run).
    #[arg(long, conflicts_with = "envs")]
    pub algo: Option<String>,
    /// Threads per update with --algo (0: as `polyak train` chooses).
    #[arg(long, default_value_t = 0, requires = "algo")]
    pub threads: usize,
    /// Only check whether two threads get two whole cores near each other now (a virtual
    /// machine's two vCPUs may share one, or sit far apart), this many times;
    /// scripts/bench/threads.sh brackets its runs with it.
    #[arg(long, value_name = "READINGS", num_args = 0..=1, default_missing_value = "3", conflicts_with_all = ["envs", "algo"])]
    pub cores: Option<usize>,
}

pub fn run(cli: Cli) -> Result<()> {
    polyak::use_simd_from_env().map_err(polyak::Error::Invalid)?;
    match cli.command.unwrap_or(Command::Train(TrainArgs::default())) {
        Command::Train(args) => run_train(args),
        Command::Eval(args) => run_eval(args),
        Command::Render(args) => run_render(args),
        Command::Export(args) => {
            let e = polyak::export::export_run(&args.run, args.checkpoint.as_deref(), args.out.as_deref())?;
            let bounds = |v: &[f32]| v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(", ");
            let name = e.checkpoint.file_stem().unwrap_or_default().to_string_lossy();
            say!("wrote {} from checkpoint {name}", e.path.display());
            say!(
                "  observation: float32 [batch, {}] -> action: float32 [batch, {}], in low [{}], high [{}]",
                e.policy.obs_dim(),
                e.policy.act_dim(),
                bounds(&e.policy.action.low),
                bounds(&e.policy.action.high)
            );
            Ok(())
        }
        Command::List => {
            say!("algorithms and presets (--algo):");
            for a in Algo::ALL {
                say!("  {:<18} {}", a.name(), a.describe());
            }
            say!("environments: {}", polyak::env::available().join(", "));
            say!("per-env defaults (over each algorithm's own; a config file and --set go over them):");
            for spec in polyak::env::SPECS {
                let t = spec.tuned;
                let line = |sets: &[&str]| if sets.is_empty() { "-".to_string() } else { sets.join(" ") };
                say!("  {}", spec.id);
                for (who, sets) in [("every algorithm", t.any), ("sac", t.sac), ("td3, ddpg, ablations", t.td3)] {
                    if !sets.is_empty() {
                        say!("    {who:<21} {}", line(sets));
                    }
                }
            }
            say!("  (td3-paper sets its own; `polyak train --algo A --env E --print-config` shows a resolved config)");
            if let Some(why) = polyak::env::mujoco_unavailable_because() {
                say!("(the MuJoCo envs cannot run here: {why})");
            }
            Ok(())
        }
        Command::Bench(args) => run_bench(args),
        Command::Inspect(args) => run_inspect(&args.run),
        Command::Sweep(args) => run_sweep(args),
        Command::Plot(args) => {
            let out = args.out.clone().unwrap_or_else(|| args.dirs[0].clone());
            refuse_file(&out)?;
            let found = polyak::results::find_runs(&args.dirs)?;
            warn_skipped(&found.skipped);
            let metrics: &[Metric] = if args.train { &[Metric::Eval, Metric::Train] } else { &[Metric::Eval] };
            // Check every requested picture has data before drawing any.
            let (drawable, empty): (Vec<Metric>, Vec<Metric>) =
                metrics.iter().partition(|&&m| polyak::plot::has_data(&found.runs, m));
            if drawable.is_empty() {
                return Err(Error::Invalid(format!("nothing to plot: no run has logged a {} yet", metrics[0].axis())));
            }
            for m in empty {
                eprintln!("polyak: no run has logged a {} yet; {} not drawn", m.axis(), m.file_stem());
            }
            let mut files = polyak::outputs::Outputs::new(&out);
            for m in drawable {
                plot(&found.runs, &mut files, m)?;
            }
            for f in files.write()? {
                say!("wrote {}", f.display());
            }
            Ok(())
        }
        Command::Report(args) => {
            let out = args.out.clone().unwrap_or_else(|| args.dir.clone());
            refuse_file(&out)?;
            let opts = polyak::report::ReportOptions {
                thresholds: polyak::report::parse_thresholds(&args.thresholds)?,
                bootstrap: polyak::stats::Bootstrap { reps: args.reps as usize, seed: args.seed, ..Default::default() },
            };
            let found = polyak::results::find_runs(std::slice::from_ref(&args.dir))?;
            warn_skipped(&found.skipped);
            polyak::report::write_report(&found.runs, &out, &opts, &found.skipped)?;
            say!("wrote {}", out.join("report.md").display());
            Ok(())
        }
    }
}

/// `--out` names a directory for several files; an existing file there is a user's, not ours.
fn refuse_file(out: &Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        return Err(Error::flag(
            "--out",
            format!("{} is a file; expected a directory for the pictures", out.display()),
        ));
    }
    Ok(())
}

fn warn_skipped(skipped: &[(PathBuf, String)]) {
    for (dir, why) in skipped {
        eprintln!("polyak: warning: skipped {} (unreadable): {why}", dir.display());
    }
}

fn run_train(args: TrainArgs) -> Result<()> {
    let mut sets = args.sets.clone();
    // Dedicated flags are shorthands for --set, applied last.
    if let Some(env) = &args.env {
        sets.push(format!("env=\"{env}\""));
    }
    if let Some(steps) = args.steps {
        sets.push(format!("total_steps={steps}"));
    }
    if let Some(seed) = args.seed {
        sets.push(format!("seed={seed}"));
    }
    let opts = TrainOptions {
        quiet: args.quiet,
        stop_after: args.stop_after,
        log_episodes: args.log_episodes,
        ..Default::default()
    };
    let (summary, run_dir) = match args.resume {
        Some(run_dir) => (resume(&run_dir, &sets, &opts)?, run_dir),
        None => {
            let cfg = TrainConfig::resolve(args.algo.as_deref(), args.config.as_deref(), &sets)?;
            if args.print_config {
                print!("{}", cfg.to_toml());
                return Ok(());
            }
            polyak::env::make(&cfg.env)?; // fail on an unknown env before creating anything
            let run_dir = args.out.unwrap_or_else(|| polyak::rundir::default_run_dir(&cfg));
            if !args.quiet {
                let (a, e, n, s, d) = (&cfg.algo, &cfg.env, cfg.total_steps, cfg.seed, run_dir.display());
                eprintln!("polyak: {a} on {e} for {n} steps, seed {s} → {d}");
                let env_sets = cfg.algo.env_settings(e);
                if !env_sets.is_empty() {
                    eprintln!(
                        "polyak: {e}'s defaults for {a}: {} (a config file or --set overrides them)",
                        env_sets.join(" ")
                    );
                }
            }
            (train(&cfg, &run_dir, &opts)?, run_dir)
        }
    };
    let rate = summary.steps as f64 / summary.wall_time.max(1e-9);
    if summary.complete {
        say!(
            "done: {} steps, {} episodes in {:.1} s ({rate:.0} steps/s{}); final eval {:.2} ± {:.2}; checkpoint {}",
            summary.steps,
            summary.episodes,
            summary.wall_time,
            time_shares(&summary),
            summary.final_eval.0,
            summary.final_eval.1,
            summary.final_checkpoint.display()
        );
    } else {
        say!(
            "stopped at step {} ({} episodes, {:.1} s); continue with: polyak train --resume {}",
            summary.steps,
            summary.episodes,
            summary.wall_time,
            run_dir.display()
        );
    }
    Ok(())
}

/// "; 241 updates/s; time: updates 95%, evaluations 3%, checkpoints 1%, the rest 1%": where
/// this process's training time went (empty when it made no update).
fn time_shares(summary: &polyak::train::TrainSummary) -> String {
    if summary.updates == 0 {
        return String::new();
    }
    let s = summary;
    let total = s.seconds_here.max(s.update_seconds + s.eval_seconds + s.checkpoint_seconds).max(1e-9);
    let rest = total - s.update_seconds - s.eval_seconds - s.checkpoint_seconds;
    let pct = |x: f64| 100.0 * x / total;
    format!(
        "; {:.0} updates/s; time: updates {:.1}%, evaluations {:.1}%, checkpoints {:.1}%, the rest {:.1}%",
        s.updates as f64 / s.update_seconds.max(1e-9),
        pct(s.update_seconds),
        pct(s.eval_seconds),
        pct(s.checkpoint_seconds),
        pct(rest)
    )
}

fn run_eval(args: EvalArgs) -> Result<()> {
    if args.episodes == 0 {
        return Err(Error::flag("--episodes", "expected at least 1"));
    }
    let (mean, std, returns) = evaluate_run(&args.run, args.checkpoint.as_deref(), args.episodes, args.seed)?;
    let list: Vec<String> = returns.iter().map(|r| format!("{r:.2}")).collect();
    say!("eval over {} episodes: {mean:.2} ± {std:.2}", returns.len());
    say!("returns: {}", list.join(" "));
    Ok(())
}

fn run_render(args: RenderArgs) -> Result<()> {
    use polyak::train::{render_run, RenderOptions};
    if args.episodes == 0 {
        return Err(Error::flag("--episodes", "expected at least 1"));
    }
    if args.max_steps == Some(0) {
        return Err(Error::flag("--max-steps", "expected at least 1"));
    }
    let options = RenderOptions {
        checkpoint: args.checkpoint,
        out: args.out,
        episodes: args.episodes,
        seed: args.seed,
        view: polyak::render::View { width: args.width, height: args.height, camera: args.camera.parse()? },
        fps: args.fps,
        max_steps: args.max_steps,
        caption: !args.no_caption,
    };
    let r = render_run(&args.run, &options)?;
    for (i, ((ret, len), done)) in r.returns.iter().zip(&r.lengths).zip(&r.complete).enumerate() {
        let cut = if *done { "" } else { " (cut by --max-steps)" };
        say!("episode {}: return {ret:.2} over {len} steps{cut}", i + 1);
    }
    say!(
        "wrote {}: {} frames at {:.4} fps; {:.1} frames/s drawn ({:.1} s drawing, {:.1} s in all)",
        r.path.display(),
        r.frames,
        r.fps,
        r.frames as f64 / r.draw_seconds.max(1e-9),
        r.draw_seconds,
        r.seconds
    );
    Ok(())
}

fn run_sweep(args: SweepArgs) -> Result<()> {
    use polyak::sweep::{builtin, emit_slurm, execute, Seeds, SweepSpec, BUILTIN};
    let mut spec = match &args.file {
        Some(path) => SweepSpec::load(path)?,
        None => SweepSpec::default(),
    };
    let name = match &args.name {
        Some(name) => {
            spec.algos = builtin(name).ok_or_else(|| Error::UnknownName {
                kind: "sweep",
                name: name.clone(),
                available: BUILTIN.iter().map(|s| s.to_string()).collect(),
            })?;
            name.clone()
        }
        None => args.file.as_ref().and_then(|f| f.file_stem()).map_or("sweep".into(), |s| s.to_string_lossy().into()),
    };
    if !args.algos.is_empty() {
        spec.algos = args.algos.clone();
    }
    if !args.envs.is_empty() {
        spec.envs = args.envs.clone();
    }
    if spec.envs.is_empty() {
        spec.envs = vec![TrainConfig::default().env];
    }
    if let Some(n) = args.seeds {
        spec.seeds = Seeds::Count(n);
    }
    if args.steps.is_some() {
        spec.steps = args.steps;
    }
    spec.set.extend(args.sets.iter().cloned());
    if args.jobs == Some(0) {
        return Err(Error::flag("--jobs", "expected at least 1"));
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Several runs at a time already use the cores: one update thread each (results do not
    // depend on it), unless the sweep says otherwise.
    if jobs > 1 && args.only.is_none() && !spec.set.iter().any(|s| s.trim_start().starts_with("threads")) {
        spec.set.push("threads=1".into());
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("sweeps").join(&name));
    let mut runs = spec.plan(&out)?;
    if args.emit.is_some() {
        let path = emit_slurm(runs.len(), &out, std::env::args().skip(1))?;
        say!("wrote {} ({} array tasks); submit with: sbatch {}", path.display(), runs.len(), path.display());
        return Ok(());
    }
    if let Some(k) = args.only {
        if k >= runs.len() {
            return Err(Error::flag(
                "--only",
                format!("{k} is not a run of this sweep: it has {} runs (0..{})", runs.len(), runs.len()),
            ));
        }
        runs = vec![runs.swap_remove(k)];
    }
    let exe = std::env::current_exe().map_err(|e| Error::io("polyak", e))?;
    if !args.quiet {
        eprintln!("polyak sweep: {} runs, {jobs} at a time → {}", runs.len(), out.display());
    }
    let summary = execute(&runs, &out, jobs, &exe, args.quiet)?;
    say!(
        "sweep {}: {} runs; {} already finished, {} completed now, {} failed",
        out.display(),
        runs.len(),
        summary.finished_before,
        summary.completed,
        summary.failed.len()
    );
    for (label, why) in &summary.failed {
        say!("  FAILED {label}: {why}");
    }
    if summary.failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{} of {} runs failed (see above)", summary.failed.len(), runs.len())))
    }
}

fn run_inspect(run_dir: &Path) -> Result<()> {
    let report = inspect(run_dir)?;
    let dir = RunDir::new(run_dir);
    say!("run {}", run_dir.display());
    match TrainConfig::load(&dir.config()) {
        Ok(c) => say!("config: {} on {}, seed {}, total_steps {}", c.algo, c.env, c.seed, c.total_steps),
        Err(e) => say!("config: unreadable ({e})"),
    }
    let resume = dir.resume_file();
    if let Ok(s) = polyak::checkpoint::Checkpoint::load(&resume).and_then(|c| ResumeState::read(&c, &resume)) {
        let eval = if s.last_eval.0.is_finite() { format!("{:.2}", s.last_eval.0) } else { "none yet".into() };
        say!(
            "progress: step {} ({} episodes, {:.1} s of training), last eval {eval}, {} transitions seen",
            s.step,
            s.episodes,
            s.wall_time,
            s.replay_pushed
        );
    }
    let rows = std::fs::read_to_string(dir.metrics()).map(|t| t.lines().count().saturating_sub(1));
    say!("metrics.csv: {}", rows.map(|n| format!("{n} rows")).unwrap_or_else(|e| format!("unreadable ({e})")));
    let (mut total, mut bad) = (0u64, 0usize);
    say!("files:");
    for f in &report.files {
        total += f.bytes;
        let name = f.path.strip_prefix(run_dir).unwrap_or(&f.path).display();
        let status = match &f.status {
            FileStatus::Valid { step: Some(step) } => format!("ok, step {step}"),
            FileStatus::Valid { step: None } => "ok".to_string(),
            FileStatus::Invalid(e) => {
                bad += 1;
                format!("INVALID: {e}")
            }
        };
        say!("  {name:<58} {:>10}  {status}", human_bytes(f.bytes));
    }
    say!("  {} files, {}", report.files.len(), human_bytes(total));
    match &report.resumable {
        Resumability::FromStep(step) => say!("resumable: yes, from step {step}"),
        Resumability::Restart => {
            say!("resumable: yes — no checkpoint yet: `--resume` starts it again from step 0, in place")
        }
        Resumability::No(why) => say!("resumable: NO — {why}"),
    }
    match (&report.resumable, bad) {
        (Resumability::No(why), _) => Err(Error::run_dir(run_dir, format!("cannot be resumed: {why}"))),
        (_, 0) => Ok(()),
        (_, n) => Err(Error::run_dir(run_dir, format!("has {n} invalid checkpoint files (of {})", report.files.len()))),
    }
}

fn run_bench(args: BenchArgs) -> Result<()> {
    if let Some(readings) = args.cores {
        return polyak::bench::print_cores(readings);
    }
    if let Some(name) = &args.algo {
        let algo = polyak::config::Algo::from_name(name)?;
        return polyak::bench::print_updates(algo, args.threads, args.quick);
    }
    polyak::bench::print_report(args.quick, args.envs)
}
