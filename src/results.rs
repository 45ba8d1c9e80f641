//! Reading finished (or running) runs back for plots and reports: evaluation curves and
//! training-episode returns from each run's `metrics.csv`, grouped by env and algorithm.

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One run's logged results.
#[derive(Clone, Debug, PartialEq)]
pub struct RunData {
    pub dir: PathBuf,
    pub env: String,
    /// The algorithm or preset, with the grid point when the run is part of a grid sweep
    /// (the sweep's directory name, e.g. `td3,td3.policy_delay=3`).
    pub label: String,
    pub seed: u64,
    /// (env step, mean deterministic eval return).
    pub evals: Vec<(u64, f64)>,
    /// The wall time (s) of each of `evals`.
    pub eval_times: Vec<f64>,
    /// (env step at the episode's end, training-episode return).
    pub episodes: Vec<(u64, f64)>,
    /// Last logged step and its wall time (s).
    pub last_step: u64,
    pub wall_time: f64,
    /// Where it trained (`machine.toml`), oldest process first; empty for runs from before
    /// polyak recorded it.
    pub machines: Vec<crate::rundir::Machine>,
    /// Why `machine.toml` could not be read, if it could not.
    pub machine_error: Option<String>,
}

/// The runs found under some directories, and those that could not be read.
#[derive(Clone, Debug)]
pub struct Found {
    pub runs: Vec<RunData>,
    /// (run directory, why it was skipped).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Finds every run directory (holding `config.toml` and `metrics.csv`) under `roots`. An
/// unreadable run is skipped and listed, so one damaged run does not hide the others; it is an
/// error only when no run at all can be read.
pub fn find_runs(roots: &[PathBuf]) -> Result<Found> {
    let mut dirs = Vec::new();
    for root in roots {
        if !root.exists() {
            return Err(Error::Invalid(format!("{} does not exist", root.display())));
        }
        collect(root, &mut dirs);
    }
    dirs.sort();
    let (mut runs, mut skipped) = (Vec::new(), Vec::new());
    for d in dirs {
        match read_run(&d) {
            Ok(r) => runs.push(r),
            Err(e) => skipped.push((d, e.to_string())),
        }
    }
    if runs.is_empty() {
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        let why: Vec<String> = skipped.iter().map(|(d, e)| format!("\n  {}: {e}", d.display())).collect();
        return Err(Error::Invalid(format!(
            "no readable runs (config.toml + metrics.csv) under {}{}",
            list.join(", "),
            why.concat()
        )));
    }
    Ok(Found { runs, skipped })
}

/// Every run directory under `dir`, the directory itself included — and below a run too, since
/// a run may have been trained into a directory that holds others (a sweep's root, say).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let run = crate::rundir::RunDir::new(dir);
    if run.config().is_file() && run.metrics().is_file() {
        out.push(dir.to_path_buf());
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect(&e.path(), out);
            }
        }
    }
}

/// Reads one run directory.
pub fn read_run(dir: &Path) -> Result<RunData> {
    let run_dir = crate::rundir::RunDir::new(dir);
    let cfg = TrainConfig::load(&run_dir.config())?;
    let path = run_dir.metrics();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let bad = || Error::Invalid(format!("{}: not a polyak metrics.csv (header {header:?})", path.display()));
    let (c_step, c_wall, c_ret, c_eval) = (
        col("step").ok_or_else(bad)?,
        col("wall_time").ok_or_else(bad)?,
        col("episode_return").ok_or_else(bad)?,
        col("eval_mean").ok_or_else(bad)?,
    );
    let parent = dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    let name = cfg.algo.name();
    let is_grid_point = |p: &String| p == name || p.strip_prefix(name).is_some_and(|rest| rest.starts_with(','));
    let label = parent.filter(is_grid_point).unwrap_or_else(|| name.to_string());
    let (machines, machine_error) = match crate::rundir::Machine::read(&run_dir) {
        Ok(m) => (m, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let mut run = RunData {
        dir: dir.to_path_buf(),
        env: cfg.env.clone(),
        label,
        seed: cfg.seed,
        evals: Vec::new(),
        eval_times: Vec::new(),
        episodes: Vec::new(),
        last_step: 0,
        wall_time: 0.0,
        machines,
        machine_error,
    };
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let at = |what: &str| Error::Invalid(format!("{}: line {}: {what}", path.display(), i + 2));
        let num = |c: usize, name: &str| -> Result<Option<f64>> {
            match cells.get(c).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(Some)
                    .ok_or_else(|| at(&format!("`{name}` is {s:?}, not a finite number"))),
            }
        };
        let step_text = cells.get(c_step).copied().unwrap_or("");
        let step: u64 = step_text.parse().map_err(|_| at(&format!("`step` is {step_text:?}, not a step count")))?;
        if step > cfg.total_steps {
            return Err(at(&format!("step {step} is beyond the run's total_steps ({})", cfg.total_steps)));
        }
        if step < run.last_step {
            return Err(at(&format!("step {step} goes back from {}", run.last_step)));
        }
        run.last_step = step;
        if let Some(w) = num(c_wall, "wall_time")? {
            if w < 0.0 {
                return Err(at(&format!("`wall_time` is {w}, below 0")));
            }
            run.wall_time = w;
        }
        if let Some(v) = num(c_eval, "eval_mean")? {
            run.evals.push((step, v));
            run.eval_times.push(run.wall_time);
        }
        if let Some(v) = num(c_ret, "episode_return")? {
            run.episodes.push((step, v));
        }
    }
    Ok(run)
}

/// Runs grouped by env, then by label (sorted).
pub fn group(runs: &[RunData]) -> BTreeMap<String, BTreeMap<String, Vec<&RunData>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<&RunData>>> = BTreeMap::new();
    for r in runs {
        out.entry(r.env.clone()).or_default().entry(r.label.clone()).or_default().push(r);
    }
    out
}

/// A curve over seeds: at each step some seed logged, the mean and the standard deviation
/// (population, over the seeds that have that step) and how many seeds contributed.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub points: Vec<CurvePoint>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    pub step: u64,
    pub mean: f64,
    pub std: f64,
    pub seeds: usize,
}

pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Mean ± std over seeds of `series(run)` at each step.
pub fn curve(runs: &[&RunData], series: impl Fn(&RunData) -> Vec<(u64, f64)>) -> Curve {
    let mut at: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for (s, v) in series(r) {
            at.entry(s).or_default().push(v);
        }
    }
    let points = at
        .into_iter()
        .map(|(step, v)| {
            let (mean, std) = mean_std(&v);
            CurvePoint { step, mean, std, seeds: v.len() }
        })
        .collect();
    Curve { points }
}

/// Training-episode returns averaged in `bins` equal windows of env steps (a step axis every
/// seed shares, so seeds can be averaged); each point sits at its window's end.
pub fn binned_episodes(run: &RunData, total: u64, bins: u64) -> Vec<(u64, f64)> {
    let width = (total / bins.max(1)).max(1);
    let mut sums: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    for &(s, v) in &run.episodes {
        let end = s.div_ceil(width) * width;
        let e = sums.entry(end).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    sums.into_iter().map(|(s, (sum, n))| (s, sum / n as f64)).collect()
}
