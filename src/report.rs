//! `polyak report`: a Markdown summary of runs (a sweep, or any run directories) per env and
//! algorithm, with the learning-curve pictures, and published figures beside polyak's.
//!
//! Definitions (all on the deterministic evaluation return, `eval_mean`):
//! - **final**: per seed, the mean of its last 3 evaluations; then mean ± std (population) over
//!   seeds;
//! - **best**: the highest point of the seed-mean curve;
//! - **AUC**: the area under the seed-mean curve (trapezoids over the evaluation steps) divided by
//!   the steps it spans, i.e. the average return over training — higher means it learned sooner;
//! - **steps to threshold**: the first evaluation step where the seed-mean reaches the env's
//!   threshold (Gymnasium's registered `reward_threshold` where there is one, −200 for
//!   Pendulum-v1, or `--threshold ENV=VALUE`);
//! - **wall time** and **env-steps/s**: means over seeds, as logged in `metrics.csv`.

use crate::error::{Error, Result};
use crate::plot::{plot, Metric};
use crate::results::{curve, group, mean_std, RunData};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Evaluations averaged per seed for the final return.
pub const LAST_EVALS: usize = 3;

/// Default threshold of an env: its spec's `reward_threshold` ([`crate::env::EnvSpec`]).
pub fn default_threshold(env: &str) -> Option<f64> {
    crate::env::EnvSpec::get(env).ok()?.reward_threshold
}

/// The published figure to show beside a row (the spec's `published`, by the algorithm part of
/// the label).
pub fn published(env: &str, label: &str) -> Option<&'static str> {
    let algo = label.split(',').next().unwrap_or(label);
    crate::env::EnvSpec::get(env).ok()?.published(algo)
}

/// The numbers of one (env, algorithm) row.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub seeds: usize,
    pub final_mean: f64,
    pub final_std: f64,
    pub best: f64,
    pub auc: f64,
    pub steps_to_threshold: Option<u64>,
    pub wall_time: f64,
    pub steps_per_second: f64,
}

/// Summarises the runs of one (env, algorithm); `None` if none has evaluated yet.
pub fn summarise(runs: &[&RunData], threshold: Option<f64>) -> Option<Summary> {
    let finals: Vec<f64> = runs
        .iter()
        .filter(|r| !r.evals.is_empty())
        .map(|r| {
            let last = &r.evals[r.evals.len().saturating_sub(LAST_EVALS)..];
            last.iter().map(|(_, v)| v).sum::<f64>() / last.len() as f64
        })
        .collect();
    if finals.is_empty() {
        return None;
    }
    let (final_mean, final_std) = mean_std(&finals);
    let c = curve(runs, |r| r.evals.clone());
    let best = c.points.iter().map(|p| p.mean).fold(f64::NEG_INFINITY, f64::max);
    let p = &c.points;
    let auc = if p.len() < 2 {
        p[0].mean
    } else {
        let area: f64 = p.windows(2).map(|w| 0.5 * (w[0].mean + w[1].mean) * (w[1].step - w[0].step) as f64).sum();
        area / (p[p.len() - 1].step - p[0].step) as f64
    };
    let steps_to_threshold = threshold.and_then(|t| p.iter().find(|q| q.mean >= t).map(|q| q.step));
    let wall: Vec<f64> = runs.iter().map(|r| r.wall_time).collect();
    let rates: Vec<f64> = runs.iter().map(|r| r.last_step as f64 / r.wall_time.max(1e-9)).collect();
    Some(Summary {
        seeds: runs.len(),
        final_mean,
        final_std,
        best,
        auc,
        steps_to_threshold,
        wall_time: mean_std(&wall).0,
        steps_per_second: mean_std(&rates).0,
    })
}

fn human_steps(s: u64) -> String {
    if s >= 1000 {
        format!("{}k", s as f64 / 1000.0)
    } else {
        s.to_string()
    }
}

/// Writes `<out>/report.md` and its pictures (`eval_return.{png,svg}`, and
/// `train_return.{png,svg}`) for `runs`.
/// `skipped` lists runs that could not be read (directory, why); the report names them.
pub fn write_report(
    runs: &[RunData],
    out: &Path,
    thresholds: &BTreeMap<String, f64>,
    skipped: &[(std::path::PathBuf, String)],
) -> Result<String> {
    // A sweep in its first minutes has no evaluation yet: the report says so per row.
    let eval = plot(runs, out, Metric::Eval).ok();
    let train = plot(runs, out, Metric::Train).ok();
    let mut md = String::from("# polyak report\n\n");
    let _ = writeln!(
        md,
        "{} runs. Returns are deterministic evaluation returns (`eval_mean`). **final**: mean of each seed's last \
         {LAST_EVALS} evaluations, then mean ± std over seeds; **best**: highest point of the seed-mean curve; **AUC**: \
         average of the seed-mean curve over the steps it spans; **to threshold**: first step where the seed-mean \
         reaches it. Curves: mean over seeds, band ± 1 std over seeds.\n",
        runs.len()
    );
    if let Some(e) = &eval {
        let _ = writeln!(md, "![evaluation return]({})\n", file_name(&e.files[0]));
    }
    if !skipped.is_empty() {
        let _ = writeln!(md, "**{} run(s) could not be read and are left out:**\n", skipped.len());
        for (dir, why) in skipped {
            let _ = writeln!(md, "- `{}`: {why}", dir.display());
        }
        md.push('\n');
    }
    if let Some(t) = &train {
        let _ = writeln!(md, "![training-episode return]({})\n", file_name(&t.files[0]));
    }
    let mut any_published = false;
    for (env, labels) in group(runs) {
        let threshold = thresholds.get(&env).copied().or_else(|| default_threshold(&env));
        let t = threshold.map(|t| format!(" (threshold {t})")).unwrap_or_default();
        let _ = writeln!(md, "## {env}\n");
        let _ = writeln!(
            md,
            "| algorithm | seeds | final | best | AUC | to threshold{t} | wall time | env-steps/s | published (TD3 paper, v1) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for (label, rs) in labels {
            let published = published(&env, &label);
            any_published |= published.is_some();
            let Some(s) = summarise(&rs, threshold) else {
                let _ = writeln!(md, "| {label} | {} | no evaluation yet | | | | | | |", rs.len());
                continue;
            };
            let reached = s.steps_to_threshold.map(human_steps).unwrap_or_else(|| "not reached".into());
            let _ = writeln!(
                md,
                "| {label} | {} | {:.1} ± {:.1} | {:.1} | {:.1} | {reached} | {:.0} s | {:.0} | {} |",
                s.seeds,
                s.final_mean,
                s.final_std,
                s.best,
                s.auc,
                s.wall_time,
                s.steps_per_second,
                published.unwrap_or("–")
            );
        }
        md.push('\n');
    }
    if any_published {
        md.push_str(
            "Published: Fujimoto et al. 2018 (TD3), Table 1 — max average return over 10 trials of 1M steps on the \
             -v1 MuJoCo envs (\"DDPG\" is the paper's re-tuned DDPG). v1 differs from v5 in dynamics details and \
             observations, and a max over training is not a final return: a reference point, not a like-for-like \
             comparison.\n",
        );
    }
    let path = out.join("report.md");
    crate::fsutil::write_atomic(&path, md.as_bytes())?;
    Ok(md)
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Parses `--threshold ENV=VALUE` arguments: a known env and a finite number.
pub fn parse_thresholds(args: &[String]) -> Result<BTreeMap<String, f64>> {
    args.iter()
        .map(|a| {
            let (env, v) = a
                .split_once('=')
                .ok_or_else(|| Error::flag("--threshold", format!("expected ENV=VALUE, got `{a}`")))?;
            let known = crate::env::available();
            if !known.iter().any(|k| k == env) {
                return Err(Error::UnknownName { kind: "environment", name: env.to_string(), available: known });
            }
            let v = v.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                Error::flag("--threshold", format!("expected a finite number after `{env}=`, got `{v}`"))
            })?;
            Ok((env.to_string(), v))
        })
        .collect()
}
