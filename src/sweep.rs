//! Multi-seed sweeps: algorithms/presets × envs × seeds (× a hyperparameter grid), each run a
//! `polyak train` process in its own run directory, a pool of them at a time.
//!
//! A sweep directory holds `<env>/<algo>[,key=value…]/seed<k>/` run directories and `logs/`
//! (each run's stderr). Re-running the same command skips finished runs, resumes interrupted
//! ones exactly from their last checkpoint (`polyak train --resume`) and starts the others; a
//! failing run is reported with its error and the rest go on.

use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::train::state::RESUME_FILE;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The built-in sweeps.
pub fn builtin(name: &str) -> Option<Vec<String>> {
    let algos: &[&str] = match name {
        // TD3 paper, Table 2: remove each trick, and all of them (DDPG).
        "td3-ablation" => &["td3", "td3-no-twin", "td3-no-delay", "td3-no-smoothing", "ddpg"],
        "sac-vs-td3" => &["sac", "td3"],
        _ => return None,
    };
    Some(algos.iter().map(|s| s.to_string()).collect())
}

pub const BUILTIN: [&str; 2] = ["td3-ablation", "sac-vs-td3"];

/// What a sweep runs. As a TOML file: `algos`, `envs`, `seeds` (a count, or a list),
/// `steps`, `set` (a list of `key=value`), and `[grid]` with a list of values per key.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepSpec {
    pub algos: Vec<String>,
    pub envs: Vec<String>,
    pub seeds: Seeds,
    pub steps: Option<u64>,
    pub set: Vec<String>,
    pub grid: toml::Table,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

impl Default for Seeds {
    fn default() -> Self {
        Seeds::Count(3)
    }
}

impl Seeds {
    pub fn list(&self) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (0..*n).collect(),
            Seeds::List(l) => l.clone(),
        }
    }
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    pub algo: String,
    pub env: String,
    pub seed: u64,
    /// `key=value` settings of this run (the sweep's, then its grid point's).
    pub sets: Vec<String>,
    pub dir: PathBuf,
    /// Total steps the run must reach.
    pub steps: u64,
}

impl PlannedRun {
    pub fn label(&self) -> String {
        let grid = self.dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        format!("{}/{}/s{}", self.env, grid.unwrap_or_else(|| self.algo.clone()), self.seed)
    }

    fn log_path(&self, sweep_dir: &Path) -> PathBuf {
        sweep_dir.join("logs").join(format!("{}.log", self.label().replace('/', "_")))
    }
}

/// Every point of the grid as `key=value` lists (one empty point without a grid).
fn grid_points(grid: &toml::Table) -> Result<Vec<Vec<String>>> {
    let mut points = vec![Vec::new()];
    for (key, values) in grid {
        let values = values
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| Error::config(format!("grid.{key}"), "expected a non-empty list of values"))?;
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(format!("{key}={v}"));
                    q
                })
            })
            .collect();
    }
    Ok(points)
}

impl SweepSpec {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    /// The runs, each with its config resolved and validated up front, so a typo fails the
    /// sweep before anything starts.
    pub fn plan(&self, out: &Path) -> Result<Vec<PlannedRun>> {
        if self.algos.is_empty() || self.envs.is_empty() {
            return Err(Error::Invalid("a sweep needs at least one algorithm and one env".into()));
        }
        let seeds = self.seeds.list();
        if seeds.is_empty() {
            return Err(Error::config("seeds", "expected at least one seed"));
        }
        let mut runs = Vec::new();
        for env in &self.envs {
            crate::env::make(env)?;
            for algo in &self.algos {
                for point in grid_points(&self.grid)? {
                    let name = std::iter::once(algo.clone()).chain(point.iter().cloned()).collect::<Vec<_>>().join(",");
                    for &seed in &seeds {
                        let mut sets = self.set.clone();
                        sets.extend(point.iter().cloned());
                        sets.push(format!("env=\"{env}\""));
                        sets.push(format!("seed={seed}"));
                        if let Some(steps) = self.steps {
                            sets.push(format!("total_steps={steps}"));
                        }
                        let cfg = TrainConfig::resolve(Some(algo), None, &sets)?;
                        let dir = out.join(env).join(&name).join(format!("seed{seed}"));
                        let run = PlannedRun {
                            algo: algo.clone(),
                            env: env.clone(),
                            seed,
                            sets,
                            dir,
                            steps: cfg.total_steps,
                        };
                        runs.push(run);
                    }
                }
            }
        }
        Ok(runs)
    }
}

/// Where a run stands on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Reached its total steps: skipped.
    Finished,
    /// Has a resume checkpoint: continued exactly.
    Resumable,
    /// Nothing usable: started from scratch (a partial directory without a checkpoint is cleared).
    Fresh,
}

pub fn progress(run: &PlannedRun) -> Progress {
    let path = run.dir.join("checkpoints").join(RESUME_FILE);
    match Checkpoint::load(&path) {
        Ok(c) if c.counters.get("run.step").copied().unwrap_or(0) >= run.steps => Progress::Finished,
        Ok(_) => Progress::Resumable,
        Err(_) => Progress::Fresh,
    }
}

fn command(exe: &Path, run: &PlannedRun, progress: Progress) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["train", "--quiet"]);
    match progress {
        Progress::Resumable => {
            cmd.arg("--resume").arg(&run.dir).args(["--steps", &run.steps.to_string()]);
        }
        _ => {
            cmd.args(["--algo", &run.algo]).arg("--out").arg(&run.dir);
            for s in &run.sets {
                cmd.args(["--set", s]);
            }
        }
    }
    cmd
}

/// The last `(step, eval mean)` a run has logged, for the overview.
fn last_logged(run: &PlannedRun) -> (u64, Option<f64>) {
    let Ok(text) = std::fs::read_to_string(run.dir.join("metrics.csv")) else { return (0, None) };
    let mut step = 0;
    let mut eval = None;
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        step = cells.first().and_then(|c| c.parse().ok()).unwrap_or(step);
        if let Some(v) = cells.get(6).and_then(|c| c.parse().ok()) {
            eval = Some(v);
        }
    }
    (step, eval)
}

/// How a sweep ended.
#[derive(Clone, Debug, Default)]
pub struct SweepSummary {
    pub finished_before: usize,
    pub completed: usize,
    /// (run label, last line of its log).
    pub failed: Vec<(String, String)>,
}

/// Runs `runs` with at most `jobs` `polyak train` processes at a time (`exe` is the polyak
/// binary), skipping finished runs and resuming interrupted ones.
pub fn execute(runs: &[PlannedRun], sweep_dir: &Path, jobs: usize, exe: &Path, quiet: bool) -> Result<SweepSummary> {
    let logs = sweep_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let mut summary = SweepSummary::default();
    let mut queue: Vec<(&PlannedRun, Progress)> = Vec::new();
    for run in runs {
        match progress(run) {
            Progress::Finished => summary.finished_before += 1,
            p => queue.push((run, p)),
        }
    }
    queue.reverse(); // pop() takes them in plan order
    let pb = if quiet { ProgressBar::hidden() } else { ProgressBar::new(runs.len() as u64) };
    let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} runs done  {msg}  ETA {eta}");
    if let Ok(style) = style {
        pb.set_style(style);
    }
    pb.set_position(summary.finished_before as u64);
    let mut running: Vec<(&PlannedRun, Child)> = Vec::new();
    let mut last_draw = Instant::now() - Duration::from_secs(10);
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1) {
            let Some((run, p)) = queue.pop() else { break };
            if p == Progress::Fresh && run.dir.is_dir() {
                if let Err(e) = std::fs::remove_dir_all(&run.dir) {
                    let why = format!("cannot clear its partial run directory {}: {e}", run.dir.display());
                    pb.println(format!("FAILED {}: {why}", run.label()));
                    summary.failed.push((run.label(), why));
                    pb.inc(1);
                    continue;
                }
            }
            let log_path = run.log_path(sweep_dir);
            let log = std::fs::File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
            let child =
                command(exe, run, p).stdout(Stdio::null()).stderr(log).spawn().map_err(|e| Error::io(exe, e))?;
            running.push((run, child));
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].1.try_wait() {
                Ok(Some(status)) => {
                    let (run, _) = running.swap_remove(i);
                    if status.success() {
                        summary.completed += 1;
                    } else {
                        let log = std::fs::read_to_string(run.log_path(sweep_dir)).unwrap_or_default();
                        let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no output)");
                        let why = format!("{last} (exit {status}; log {})", run.log_path(sweep_dir).display());
                        pb.println(format!("FAILED {}: {why}", run.label()));
                        summary.failed.push((run.label(), why));
                    }
                    pb.inc(1);
                }
                Ok(None) => i += 1,
                Err(e) => return Err(Error::io(exe, e)),
            }
        }
        if last_draw.elapsed() > Duration::from_secs(1) {
            let status: Vec<String> = running
                .iter()
                .map(|(run, _)| {
                    let (step, eval) = last_logged(run);
                    let eval = eval.map(|e| format!(" eval {e:.1}")).unwrap_or_default();
                    format!("{} {:.0}k{eval}", run.label(), step as f64 / 1000.0)
                })
                .collect();
            pb.set_message(format!("{} running, {} queued | {}", running.len(), queue.len(), status.join(" | ")));
            last_draw = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    pb.finish_and_clear();
    Ok(summary)
}

/// A Slurm job-array script running each run of the sweep as one array task, with the same
/// command line (`--only <task id>`).
pub fn slurm_script(n_runs: usize, sweep_dir: &Path, command_line: &[String]) -> String {
    let quoted: Vec<String> = command_line.iter().map(|a| shell_quote(a)).collect();
    format!(
        "#!/bin/bash\n\
         # polyak sweep as a Slurm job array: one task per run; submit with `sbatch {script}`.\n\
         # Re-submitting is safe: finished runs are skipped, interrupted ones resume exactly.\n\
         #SBATCH --job-name=polyak-sweep\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --cpus-per-task=2\n\
         #SBATCH --output={logs}/slurm-%A_%a.out\n\
         set -euo pipefail\n\
         {cmd} --jobs 1 --only \"$SLURM_ARRAY_TASK_ID\"\n",
        script = shell_quote(&sweep_dir.join("sweep.slurm").display().to_string()),
        last = n_runs.saturating_sub(1),
        logs = sweep_dir.join("logs").display(),
        cmd = quoted.join(" "),
    )
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_crosses_algos_envs_grid_and_seeds() {
        let grid: toml::Table = toml::from_str("\"td3.policy_delay\" = [1, 3]").unwrap();
        let spec = SweepSpec {
            algos: vec!["td3".into(), "ddpg".into()],
            envs: vec!["Pendulum-v1".into()],
            seeds: Seeds::Count(2),
            steps: Some(500),
            set: vec!["batch_size=64".into()],
            grid,
        };
        let runs = spec.plan(Path::new("/s")).unwrap();
        assert_eq!(runs.len(), 2 * 2 * 2);
        assert_eq!(runs[0].dir, Path::new("/s/Pendulum-v1/td3,td3.policy_delay=1/seed0"));
        assert_eq!(runs[7].label(), "Pendulum-v1/ddpg,td3.policy_delay=3/s1");
        assert!(runs.iter().all(|r| r.steps == 500 && r.sets.contains(&"batch_size=64".to_string())));
        let bad = SweepSpec { algos: vec!["td4".into()], ..spec.clone() };
        assert!(bad.plan(Path::new("/s")).unwrap_err().to_string().contains("did you mean `td3`"));
    }

    #[test]
    fn slurm_script_is_one_array_task_per_run() {
        let cmd: Vec<String> = ["polyak", "sweep", "td3-ablation", "--out", "my sweep"].map(String::from).to_vec();
        let s = slurm_script(10, Path::new("/x"), &cmd);
        assert!(s.contains("#SBATCH --array=0-9"), "{s}");
        assert!(
            s.contains("polyak sweep td3-ablation --out 'my sweep' --jobs 1 --only \"$SLURM_ARRAY_TASK_ID\""),
            "{s}"
        );
    }
}
