//! Multi-seed sweeps: algorithms/presets × envs × seeds (× a hyperparameter grid), each run a
//! `polyak train` process in its own run directory, a pool of them at a time.
//!
//! A sweep directory holds `<env>/<algo>[,key=value…]/seed<k>/` run directories and `logs/`
//! (each run's stderr). Re-running the same command skips finished runs, resumes interrupted
//! ones exactly from their last checkpoint (`polyak train --resume`) and starts the others; a
//! failing run is reported with its error and the rest go on.

use crate::checkpoint::Checkpoint;
use crate::config::{TrainConfig, RESUME_CHANGEABLE};
use crate::error::{Error, Result};
use crate::rundir::{RunDir, RunLock};
use crate::train::state::{can_restart, ResumeState};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Deserializer};
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

#[derive(Clone, Debug, PartialEq)]
pub enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

impl<'de> Deserialize<'de> for Seeds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let expected = "expected a number of seeds (an integer ≥ 1) or a list of seeds (integers ≥ 0)";
        let bad = |v: &dyn std::fmt::Display| serde::de::Error::custom(format!("seeds: {expected}, got {v}"));
        match toml::Value::deserialize(d)? {
            toml::Value::Integer(n) if n >= 1 => Ok(Seeds::Count(n as u64)),
            toml::Value::Array(list) => list
                .iter()
                .map(|v| v.as_integer().filter(|&n| n >= 0).map(|n| n as u64).ok_or_else(|| bad(v)))
                .collect::<std::result::Result<_, _>>()
                .map(Seeds::List),
            other => Err(bad(&other)),
        }
    }
}

impl Default for Seeds {
    fn default() -> Self {
        Seeds::Count(3)
    }
}

impl Seeds {
    /// The seeds, refusing a count beyond [`MAX_RUNS`] before building the list.
    pub fn list(&self) -> Result<Vec<u64>> {
        let list = match self {
            Seeds::Count(n) if *n > MAX_RUNS => {
                return Err(Error::config(
                    "seeds",
                    format!("{n} seeds is more than a sweep may plan ({MAX_RUNS} runs)"),
                ))
            }
            Seeds::Count(n) => (0..*n).collect(),
            Seeds::List(l) => l.clone(),
        };
        if list.is_empty() {
            return Err(Error::config("seeds", "expected at least one seed"));
        }
        if let Some(&s) = list.iter().find(|&&s| s > crate::config::MAX_INTEGER) {
            return Err(Error::config(
                "seeds",
                format!("{s} is beyond the largest seed ({})", crate::config::MAX_INTEGER),
            ));
        }
        Ok(list)
    }
}

/// The most runs one sweep may plan: beyond it a typo (`--seeds 10000000`) would plan for
/// minutes and fill a disk with directories.
pub const MAX_RUNS: u64 = 100_000;

/// Keys the sweep itself sets for each run (from `envs`, `algos` and `seeds`): a `set` or
/// `[grid]` entry for them would be overridden and mislabel the run directories.
const SWEEP_KEYS: [(&str, &str); 3] =
    [("env", "envs / --env"), ("algo", "algos / --algos"), ("seed", "seeds / --seeds")];

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
    /// The run's resolved config.
    pub cfg: TrainConfig,
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
        Self::from_toml(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    /// Parses a sweep file's text. Never panics on malformed input.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Invalid(e.to_string().trim_end().to_string()))
    }

    /// Refuses settings the sweep makes itself (see [`SWEEP_KEYS`]).
    fn check_keys(&self) -> Result<()> {
        let set_keys = self.set.iter().map(|s| s.split_once('=').map_or(s.as_str(), |(k, _)| k).trim());
        for (key, place) in set_keys.map(|k| (k, "set / --set")).chain(self.grid.keys().map(|k| (k.as_str(), "[grid]")))
        {
            if let Some((_, instead)) = SWEEP_KEYS.iter().find(|(k, _)| *k == key) {
                return Err(Error::config(
                    key,
                    format!("is chosen by the sweep for each run (use {instead}), not in {place}"),
                ));
            }
            if key == "total_steps" && self.steps.is_some() {
                return Err(Error::config(key, format!("given twice: in {place} and as the sweep's steps")));
            }
        }
        Ok(())
    }

    /// The runs, each with its config resolved and validated up front, so a typo fails the
    /// sweep before anything starts. Duplicates (a seed, algorithm or env listed twice) are
    /// planned once.
    pub fn plan(&self, out: &Path) -> Result<Vec<PlannedRun>> {
        if self.algos.is_empty() || self.envs.is_empty() {
            return Err(Error::Invalid("a sweep needs at least one algorithm and one env".into()));
        }
        self.check_keys()?;
        let seeds = self.seeds.list()?;
        let points = grid_points(&self.grid)?;
        let count = [self.envs.len(), self.algos.len(), points.len(), seeds.len()]
            .iter()
            .try_fold(1u64, |n, &k| n.checked_mul(k as u64))
            .filter(|&n| n <= MAX_RUNS);
        if count.is_none() {
            let sizes = format!(
                "{} envs × {} algorithms × {} grid points × {} seeds",
                self.envs.len(),
                self.algos.len(),
                points.len(),
                seeds.len()
            );
            return Err(Error::Invalid(format!("the sweep plans {sizes}, more than {MAX_RUNS} runs; plan fewer")));
        }
        let mut runs = Vec::new();
        let mut planned = std::collections::HashSet::new();
        for env in &self.envs {
            crate::env::make(env)?;
            for algo in &self.algos {
                for point in &points {
                    let name = std::iter::once(algo.clone()).chain(point.iter().cloned()).collect::<Vec<_>>().join(",");
                    let mut sets = self.set.clone();
                    sets.extend(point.iter().cloned());
                    sets.push(format!("env=\"{env}\""));
                    if let Some(steps) = self.steps {
                        sets.push(format!("total_steps={steps}"));
                    }
                    // Resolved once per combination; seeds change nothing else.
                    let base = TrainConfig::resolve(Some(algo), None, &sets)?;
                    for &seed in &seeds {
                        let dir = out.join(env).join(&name).join(format!("seed{seed}"));
                        if !planned.insert(dir.clone()) {
                            continue;
                        }
                        let mut sets = sets.clone();
                        sets.push(format!("seed={seed}"));
                        let cfg = TrainConfig { seed, ..base.clone() };
                        let steps = cfg.total_steps;
                        runs.push(PlannedRun { algo: algo.clone(), env: env.clone(), seed, sets, dir, steps, cfg });
                    }
                }
            }
        }
        Ok(runs)
    }
}

/// Writes `<sweep_dir>/sweep.slurm`, a job array of `n_runs` tasks, each running the sweep's own
/// command (`args`, as given to this process) for one run, from the current directory. A script
/// the user has edited since (an account or partition line, say) is refused, not replaced
/// ([`crate::outputs`]).
pub fn emit_slurm(n_runs: usize, sweep_dir: &Path, args: impl IntoIterator<Item = String>) -> Result<PathBuf> {
    let logs = sweep_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let exe = std::env::current_exe().map_err(|e| Error::io("polyak", e))?;
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let line = slurm_command_line(&exe, args);
    let mut files = crate::outputs::Outputs::new(sweep_dir);
    let path = files.add("sweep.slurm", slurm_script(n_runs, &cwd.join(sweep_dir), &cwd, &line).into_bytes());
    files.write()?;
    Ok(path)
}

/// The command line a Slurm array task runs: the sweep's own (`args`, without the program
/// name), less `--emit`, `--jobs` and `--only`, which the script sets itself.
fn slurm_command_line(exe: &Path, args: impl IntoIterator<Item = String>) -> Vec<String> {
    const DROP: [&str; 3] = ["--emit", "--jobs", "--only"];
    let mut line = vec![exe.display().to_string()];
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        if DROP.contains(&a.as_str()) {
            args.next();
        } else if !DROP.iter().any(|d| a.starts_with(&format!("{d}="))) {
            line.push(a);
        }
    }
    line
}

/// Where a run stands on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Reached its total steps: skipped.
    Finished,
    /// Has a resume checkpoint (continued exactly), or stopped before its first one (started
    /// again in place by `--resume`).
    Resumable,
    /// No run there yet: started.
    Fresh,
    /// Something is there that cannot be continued (a damaged resume file, say): reported as
    /// failed, its directory untouched.
    Broken(String),
}

/// Where `run` stands. Only a directory with no run in it (no config, no metrics, no
/// checkpoint) counts as fresh; nothing is ever deleted to make it so.
pub fn progress(run: &PlannedRun) -> Progress {
    let dir = RunDir::new(&run.dir);
    let resume = dir.resume_file();
    if std::fs::symlink_metadata(&resume).is_ok() {
        return match Checkpoint::load(&resume).and_then(|c| ResumeState::read(&c, &resume)) {
            Ok(s) if s.step >= run.steps => Progress::Finished,
            Ok(_) => Progress::Resumable,
            Err(e) => Progress::Broken(format!("{e}; the run directory is left as it is")),
        };
    }
    if let Err(why) = can_restart(&run.dir) {
        return Progress::Broken(why.to_string());
    }
    match (dir.config().exists(), dir.metrics().exists()) {
        (true, _) => Progress::Resumable,
        (false, true) => Progress::Broken(format!("{} has a metrics.csv but no config.toml", run.dir.display())),
        (false, false) => Progress::Fresh,
    }
}

/// Runs already on disk whose settings differ from the plan's (outside what a resume may
/// change): `(run label, differing keys as "key: on disk → planned")`.
pub fn conflicts(runs: &[PlannedRun]) -> Vec<(String, Vec<String>)> {
    runs.iter()
        .filter_map(|run| {
            let on_disk = TrainConfig::load(&RunDir::new(&run.dir).config()).ok()?;
            let diffs: Vec<String> =
                on_disk.differences(&run.cfg, true).into_iter().map(|(k, a, b)| format!("{k}: {a} → {b}")).collect();
            (!diffs.is_empty()).then(|| (run.label(), diffs))
        })
        .collect()
}

fn command(exe: &Path, run: &PlannedRun, progress: &Progress) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["train", "--quiet"]);
    if *progress == Progress::Resumable {
        cmd.arg("--resume").arg(&run.dir).args(["--steps", &run.steps.to_string()]);
        // What a resume may change, as the sweep now says (eval schedule, threads, …).
        let changeable = RESUME_CHANGEABLE.iter().filter(|k| **k != "total_steps");
        let table = toml::Table::try_from(&run.cfg).unwrap_or_default();
        for key in changeable {
            if let Some(v) = table.get(*key) {
                cmd.args(["--set", &format!("{key}={v}")]);
            }
        }
    } else {
        cmd.args(["--algo", &run.algo]).arg("--out").arg(&run.dir);
        for s in &run.sets {
            cmd.args(["--set", s]);
        }
    }
    kill_with_parent(&mut cmd);
    cmd
}

/// A run's process dies with the sweep (`PR_SET_PDEATHSIG`): a killed sweep leaves no orphan
/// writing a run directory that a re-run of the sweep would then fight over.
fn kill_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent died before the prctl took effect: do not start an orphan.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the sweep ended before this run started"));
                }
                Ok(())
            });
        }
    }
}

/// The last `(step, eval mean)` a run has logged, for the overview.
fn last_logged(run: &PlannedRun) -> (u64, Option<f64>) {
    let Ok(text) = std::fs::read_to_string(RunDir::new(&run.dir).metrics()) else { return (0, None) };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(c_step), Some(c_eval)) = (col("step"), col("eval_mean")) else { return (0, None) };
    let mut step = 0;
    let mut eval = None;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        step = cells.get(c_step).and_then(|c| c.parse().ok()).unwrap_or(step);
        if let Some(v) = cells.get(c_eval).and_then(|c| c.parse().ok()) {
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

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// How the line that opens each attempt in a run's log begins.
const ATTEMPT: &str = "── polyak sweep, ";

/// A run's log, opened for one more attempt at it. Appended to, never truncated: after a failed
/// run is fixed and the sweep re-run, the output of the attempt that failed (its error, say) is
/// still there. Each attempt starts with a line saying when, and whether it resumes.
fn open_log(path: &Path, progress: &Progress) -> Result<std::fs::File> {
    use std::io::Write;
    let io = |e| Error::io(path, e);
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    let how = if *progress == Progress::Resumable { "resumes the run" } else { "starts the run" };
    // An earlier attempt killed mid-line still gets its line ended.
    let gap = if log.metadata().map_err(io)?.len() > 0 { "\n" } else { "" };
    writeln!(log, "{gap}{ATTEMPT}{} UTC: this attempt {how} ──", crate::rundir::utc_now()).map_err(io)?;
    Ok(log)
}

/// How long a run whose directory another process holds waits to start before it is tried (and
/// fails, naming the holder). A sweep killed a moment ago leaves runs whose processes end by
/// `PR_SET_PDEATHSIG` a little after it: a re-run started at once waits for them instead of
/// failing those runs.
const HELD_GRACE: Duration = Duration::from_secs(5);

/// Whether no other process holds the run directory `dir` (or there is none yet).
fn is_free(dir: &Path) -> bool {
    !dir.is_dir() || !matches!(RunLock::acquire(dir), Err(Error::InUse { .. }))
}

/// Runs `runs` with at most `jobs` `polyak train` processes at a time (`exe` is the polyak
/// binary), skipping finished runs and resuming interrupted ones. Refuses, before starting
/// anything, when runs on disk were made with other settings than the plan's.
pub fn execute(runs: &[PlannedRun], sweep_dir: &Path, jobs: usize, exe: &Path, quiet: bool) -> Result<SweepSummary> {
    let clashes = conflicts(runs);
    if !clashes.is_empty() {
        let list: Vec<String> = clashes.iter().take(5).map(|(l, d)| format!("  {l}: {}", d.join(", "))).collect();
        let more = clashes.len().saturating_sub(5);
        let more = if more > 0 { format!("\n  … and {more} more") } else { String::new() };
        return Err(Error::Invalid(format!(
            "{} run(s) in {} were made with other settings than this sweep's (on disk → planned):\n{}{more}\nuse \
             another --out for the new settings, or the settings those runs were made with",
            clashes.len(),
            sweep_dir.display(),
            list.join("\n")
        )));
    }
    let logs = sweep_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let pb = if quiet { ProgressBar::hidden() } else { ProgressBar::new(runs.len() as u64) };
    let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} runs done  {msg}  ETA {eta}");
    if let Ok(style) = style {
        pb.set_style(style);
    }
    let mut summary = SweepSummary::default();
    let skip = |run: &PlannedRun, p: Progress, summary: &mut SweepSummary| match p {
        Progress::Finished => {
            summary.finished_before += 1;
            pb.inc(1);
            None
        }
        Progress::Broken(why) => {
            pb.println(format!("FAILED {}: {why}", run.label()));
            summary.failed.push((run.label(), why));
            pb.inc(1);
            None
        }
        p => Some(p),
    };
    // Each run still to do, in plan order, with when it was first found held by another process.
    let mut queue: std::collections::VecDeque<(&PlannedRun, Option<Instant>)> = Default::default();
    for run in runs {
        if skip(run, progress(run), &mut summary).is_some() {
            queue.push_back((run, None));
        }
    }
    let mut running: Vec<(&PlannedRun, Child)> = Vec::new();
    let mut last_draw = Instant::now() - Duration::from_secs(10);
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1) {
            // The first run whose directory is free, or has been held past the grace (its own
            // `polyak train` then fails, naming the holder); runs held for less wait their turn.
            let now = Instant::now();
            let Some(i) = queue.iter_mut().position(|(run, held_since)| {
                if is_free(&run.dir) {
                    return true;
                }
                now.duration_since(*held_since.get_or_insert(now)) >= HELD_GRACE
            }) else {
                break;
            };
            let Some((run, _)) = queue.remove(i) else { break };
            // Where it stands now: a run held a moment ago may have written another checkpoint.
            let Some(p) = skip(run, progress(run), &mut summary) else { continue };
            let log = open_log(&run.log_path(sweep_dir), &p)?;
            let child =
                command(exe, run, &p).stdout(Stdio::null()).stderr(log).spawn().map_err(|e| Error::io(exe, e))?;
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
                        // The last line this attempt wrote, below its own heading.
                        let attempt = log.rfind(ATTEMPT).map_or(&log[..], |at| &log[at..]);
                        let attempt = attempt.split_once('\n').map_or("", |(_, rest)| rest);
                        let last = attempt.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no output)");
                        let why = format!("{last} ({}; log {})", describe(status), run.log_path(sweep_dir).display());
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
fn slurm_script(n_runs: usize, sweep_dir: &Path, workdir: &Path, command_line: &[String]) -> String {
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
         cd {workdir}\n\
         {cmd} --jobs 1 --only \"$SLURM_ARRAY_TASK_ID\"\n",
        workdir = shell_quote(&workdir.display().to_string()),
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
            set: vec!["batch_size=64".into(), "learning_starts=100".into()],
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
        let s = slurm_script(10, Path::new("/x"), Path::new("/home/me/exp"), &cmd);
        assert!(s.contains("#SBATCH --array=0-9"), "{s}");
        assert!(s.contains("\ncd /home/me/exp\n"), "{s}");
        assert!(
            s.contains("polyak sweep td3-ablation --out 'my sweep' --jobs 1 --only \"$SLURM_ARRAY_TASK_ID\""),
            "{s}"
        );
    }

    #[test]
    fn the_slurm_command_line_drops_the_flags_the_script_sets() {
        let args =
            ["sweep", "x", "--jobs", "4", "--only=2", "--emit", "slurm", "--seeds", "3", "--jobs=2", "--only", "1"];
        let line = slurm_command_line(Path::new("/bin/polyak"), args.map(String::from));
        assert_eq!(line, ["/bin/polyak", "sweep", "x", "--seeds", "3"]);
    }

    fn spec(algos: &[&str], envs: &[&str], seeds: Seeds) -> SweepSpec {
        SweepSpec {
            algos: algos.iter().map(|s| s.to_string()).collect(),
            envs: envs.iter().map(|s| s.to_string()).collect(),
            seeds,
            steps: Some(2000),
            // Below TD3's 10,000 on Pendulum-v1, which would exceed the 2,000 steps.
            set: vec!["learning_starts=500".to_string()],
            ..Default::default()
        }
    }

    #[test]
    fn duplicates_in_the_plan_are_planned_once() {
        let dup = spec(&["td3", "td3", "sac"], &["Pendulum-v1", "Pendulum-v1"], Seeds::List(vec![0, 0, 1]));
        let runs = dup.plan(Path::new("/s")).unwrap();
        assert_eq!(runs.len(), 2 * 2, "{:?}", runs.iter().map(|r| r.label()).collect::<Vec<_>>());
    }

    #[test]
    fn keys_the_sweep_sets_itself_are_refused_in_set_and_grid() {
        for (set, grid, key) in [
            ("env=MountainCarContinuous-v0", "", "`env`"),
            ("algo=sac", "", "`algo`"),
            ("", "seed = [1, 2]", "`seed`"),
            ("total_steps=100", "", "`total_steps`"),
        ] {
            let mut s = spec(&["td3"], &["Pendulum-v1"], Seeds::Count(1));
            s.set = if set.is_empty() { vec![] } else { vec![set.to_string()] };
            s.grid = toml::from_str(grid).unwrap();
            let err = s.plan(Path::new("/s")).unwrap_err().to_string();
            assert!(err.contains(key), "{set}{grid}: {err}");
        }
    }

    #[test]
    fn huge_or_negative_seed_counts_are_clear_errors_at_once() {
        let start = std::time::Instant::now();
        let err = spec(&["td3"], &["Pendulum-v1"], Seeds::Count(10_000_000)).plan(Path::new("/s")).unwrap_err();
        assert!(err.to_string().contains("more than a sweep may plan"), "{err}");
        let err = spec(&["td3", "sac"], &["Pendulum-v1"], Seeds::Count(60_000)).plan(Path::new("/s")).unwrap_err();
        assert!(err.to_string().contains("more than 100000 runs"), "{err}");
        assert!(start.elapsed().as_secs() < 2);
        let err = SweepSpec::from_toml("seeds = -1").unwrap_err().to_string();
        assert!(err.contains("expected a number of seeds") && !err.contains("untagged"), "{err}");
        assert_eq!(SweepSpec::from_toml("seeds = [3, 5]").unwrap().seeds, Seeds::List(vec![3, 5]));
    }

    #[test]
    fn only_an_empty_directory_is_fresh_and_a_damaged_resume_file_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = spec(&["td3"], &["Pendulum-v1"], Seeds::Count(1)).plan(dir.path()).unwrap().remove(0);
        assert_eq!(progress(&run), Progress::Fresh);
        let dir = RunDir::new(&run.dir);
        std::fs::create_dir_all(dir.checkpoints()).unwrap();
        std::fs::write(run.dir.join("notes.txt"), "mine").unwrap();
        assert_eq!(progress(&run), Progress::Fresh);
        std::fs::write(dir.config(), run.cfg.to_toml()).unwrap();
        assert_eq!(progress(&run), Progress::Resumable, "stopped before its first checkpoint");
        std::fs::write(dir.resume_file(), "damaged").unwrap();
        assert!(matches!(progress(&run), Progress::Broken(why) if why.contains("not a valid safetensors")));
        run.cfg.batch_size = 64;
        let c = conflicts(std::slice::from_ref(&run));
        assert_eq!(c[0].1, ["batch_size: 256 → 64"]);
    }
}
