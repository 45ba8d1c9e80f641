//! The `polyak` command line: argument parsing and the commands' output. Only this module and
//! `main` know about the terminal; everything they call is library code.

use crate::config::{TrainConfig, PRESETS};
use crate::error::{Error, Result};
use crate::train::{evaluate_run, train, TrainOptions};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

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
    /// List the available algorithms/presets and environments.
    List,
    /// Measure gradient updates/s and env steps/s.
    Bench(BenchArgs),
}

#[derive(clap::Args, Debug, Default)]
pub struct TrainArgs {
    /// Algorithm or preset: sac, td3, ddpg, td3-no-twin, td3-no-delay, td3-no-smoothing.
    #[arg(long)]
    pub algo: Option<String>,
    /// Environment id (see `polyak list`).
    #[arg(long)]
    pub env: Option<String>,
    /// Total environment steps.
    #[arg(long)]
    pub steps: Option<u64>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// TOML config file with any hyperparameters.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one setting: --set key=value (repeatable; dotted keys for sections, e.g. td3.policy_delay=3).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Run directory (default: runs/<algo>_<env>_s<seed>_<unix time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar or log lines.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Run directory written by `polyak train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Episodes to evaluate.
    #[arg(long, default_value_t = 10)]
    pub episodes: usize,
    /// Checkpoint file (default: the run's final, else its latest).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Seed of the evaluation episodes' resets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Fewer, shorter rounds.
    #[arg(long)]
    pub quick: bool,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command.unwrap_or(Command::Train(TrainArgs::default())) {
        Command::Train(args) => run_train(args),
        Command::Eval(args) => run_eval(args),
        Command::List => {
            println!("algorithms: {}", PRESETS.join(", "));
            println!("environments: {}", crate::env::available().join(", "));
            Ok(())
        }
        Command::Bench(args) => run_bench(args),
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
    let cfg = TrainConfig::resolve(args.algo.as_deref(), args.config.as_deref(), &sets)?;
    crate::env::make(&cfg.env)?; // fail on an unknown env before creating anything
    let run_dir = match args.out {
        Some(dir) => dir,
        None => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            PathBuf::from("runs").join(format!("{}_{}_s{}_{now}", cfg.algo, cfg.env, cfg.seed))
        }
    };
    refuse_existing_run(&run_dir)?;
    if !args.quiet {
        eprintln!(
            "polyak: {} on {} for {} steps, seed {} → {}",
            cfg.algo,
            cfg.env,
            cfg.total_steps,
            cfg.seed,
            run_dir.display()
        );
    }
    let summary = train(&cfg, &run_dir, &TrainOptions { quiet: args.quiet })?;
    println!(
        "done: {} steps, {} episodes in {:.1} s ({:.0} steps/s); final eval {:.2} ± {:.2}; checkpoint {}",
        summary.steps,
        summary.episodes,
        summary.wall_time,
        summary.steps as f64 / summary.wall_time,
        summary.final_eval.0,
        summary.final_eval.1,
        summary.final_checkpoint.display()
    );
    Ok(())
}

/// A run directory is never silently overwritten.
fn refuse_existing_run(dir: &Path) -> Result<()> {
    if dir.join("metrics.csv").exists() || dir.join("config.toml").exists() {
        return Err(Error::Invalid(format!(
            "{} already holds a run; choose another --out or remove it",
            dir.display()
        )));
    }
    Ok(())
}

fn run_eval(args: EvalArgs) -> Result<()> {
    if args.episodes == 0 {
        return Err(Error::config("--episodes", "expected at least 1"));
    }
    let (mean, std, returns) = evaluate_run(&args.run, args.checkpoint.as_deref(), args.episodes, args.seed)?;
    let list: Vec<String> = returns.iter().map(|r| format!("{r:.2}")).collect();
    println!("eval over {} episodes: {mean:.2} ± {std:.2}", returns.len());
    println!("returns: {}", list.join(" "));
    Ok(())
}

fn run_bench(args: BenchArgs) -> Result<()> {
    crate::bench::print_report(args.quick)
}
