//! `polyak report`: a Markdown summary of runs (a sweep, or any run directories) per env and
//! algorithm, with pictures, the statistics of Agarwal et al. (2021; [`crate::stats`]) across envs,
//! published figures beside polyak's, and the machines the runs trained on.
//!
//! A run's **score** is the mean of its last 3 deterministic evaluations (`eval_mean`). Per env and
//! algorithm:
//! - **final**: mean ± std (population) of the runs' scores; **IQM**: their interquartile mean
//!   with its 95% confidence interval;
//! - **best**: the highest point of the seed-mean curve; **AUC**: the area under the seed-mean
//!   curve (trapezoids over the evaluation steps) divided by the steps it spans, i.e. the average
//!   return over training — higher means it learned sooner;
//! - **steps** and **wall-clock to threshold**: per run, the first evaluation at or above the env's
//!   threshold (Gymnasium's registered `reward_threshold` where there is one, −200 for
//!   Pendulum-v1, or `--threshold ENV=VALUE`); the median over runs with its interval, a run that
//!   has not reached it counting as never;
//! - **wall time** and **env-steps/s**: means over runs, as logged in `metrics.csv`.
//!
//! Across envs, on normalised scores ([`crate::env::Normalisation`]): IQM, mean, median and
//! optimality gap with intervals; the probability of improvement of every pair of algorithms;
//! performance profiles and sample-efficiency curves (`performance_profile.{png,svg}`,
//! `sample_efficiency.{png,svg}`). Every interval is a seeded stratified bootstrap (runs resampled
//! within each env), so the same runs give the same report.

use crate::env::{EnvSpec, Normalisation};
use crate::error::{Error, Result};
use crate::outputs::Outputs;
use crate::plot::{draw_figure, plot, Figure, Line, Metric};
use crate::results::{curve, group, mean_std, RunData};
use crate::stats::{Bootstrap, Interval};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Evaluations averaged per run for its score.
pub const LAST_EVALS: usize = 3;

/// At most this many points of a sample-efficiency curve get an interval (evenly spaced, the
/// last always among them).
pub const CURVE_POINTS: usize = 50;

/// What a report needs besides the runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportOptions {
    /// Return thresholds by env, over the envs' own (`--threshold ENV=VALUE`).
    pub thresholds: BTreeMap<String, f64>,
    /// Resamples, confidence and seed of every interval.
    pub bootstrap: Bootstrap,
}

/// Default threshold of an env: its spec's `reward_threshold` ([`crate::env::EnvSpec`]).
pub fn default_threshold(env: &str) -> Option<f64> {
    EnvSpec::get(env).ok()?.reward_threshold
}

/// The published figure to show beside a row (the spec's `published`, by the algorithm part of
/// the label).
pub fn published(env: &str, label: &str) -> Option<&'static str> {
    let algo = crate::config::Algo::from_name(label.split(',').next().unwrap_or(label)).ok()?;
    EnvSpec::get(env).ok()?.published(algo.published_as())
}

/// A run's score: the mean of its last [`LAST_EVALS`] evaluations; `None` before its first.
pub fn score(run: &RunData) -> Option<f64> {
    let last = &run.evals[run.evals.len().saturating_sub(LAST_EVALS)..];
    (!last.is_empty()).then(|| last.iter().map(|(_, v)| v).sum::<f64>() / last.len() as f64)
}

/// The step and wall time (s) of a run's first evaluation at or above `threshold`.
pub fn first_reaching(run: &RunData, threshold: f64) -> Option<(u64, f64)> {
    let i = run.evals.iter().position(|&(_, v)| v >= threshold)?;
    Some((run.evals[i].0, run.eval_times[i]))
}

/// The numbers of one (env, algorithm) row.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub seeds: usize,
    pub final_mean: f64,
    pub final_std: f64,
    /// Interquartile mean of the runs' scores.
    pub iqm: Interval,
    pub best: f64,
    pub auc: f64,
    /// How many runs reached the threshold, and the medians over runs (∞ where fewer than half
    /// did) of the steps and seconds it took; `None` without a threshold.
    pub reached: Option<usize>,
    pub steps_to_threshold: Option<Interval>,
    pub time_to_threshold: Option<Interval>,
    pub wall_time: f64,
    pub steps_per_second: f64,
}

/// Summarises the runs of one (env, algorithm); `None` if none has evaluated yet.
pub fn summarise(runs: &[&RunData], threshold: Option<f64>, bootstrap: &Bootstrap) -> Option<Summary> {
    let finals: Vec<f64> = runs.iter().filter_map(|r| score(r)).collect();
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
    let crossings: Option<Vec<Option<(u64, f64)>>> =
        threshold.map(|t| runs.iter().map(|r| first_reaching(r, t)).collect());
    let median_of = |f: fn((u64, f64)) -> f64| {
        crossings.as_ref().map(|c| bootstrap.median(&c.iter().map(|x| x.map_or(f64::INFINITY, f)).collect::<Vec<_>>()))
    };
    let wall: Vec<f64> = runs.iter().map(|r| r.wall_time).collect();
    let rates: Vec<f64> = runs.iter().map(|r| r.last_step as f64 / r.wall_time.max(1e-9)).collect();
    Some(Summary {
        seeds: runs.len(),
        final_mean,
        final_std,
        iqm: bootstrap.iqm(&[finals]),
        best,
        auc,
        reached: crossings.as_ref().map(|c| c.iter().flatten().count()),
        steps_to_threshold: median_of(|(step, _)| step as f64),
        time_to_threshold: median_of(|(_, seconds)| seconds),
        wall_time: mean_std(&wall).0,
        steps_per_second: mean_std(&rates).0,
    })
}

fn human_steps(s: f64) -> String {
    if s.is_infinite() {
        "not reached".into()
    } else if s >= 1000.0 {
        format!("{}k", s / 1000.0)
    } else {
        format!("{s}")
    }
}

fn seconds(s: f64) -> String {
    if s.is_infinite() {
        "not reached".into()
    } else {
        format!("{s:.0} s")
    }
}

/// `point [low, high]`, each written by `f`; just `point` where every resample agreed (one run,
/// or runs with equal values).
fn with_interval(i: &Interval, f: impl Fn(f64) -> String) -> String {
    let (point, low, high) = (f(i.point), f(i.low), f(i.high));
    if low == point && high == point {
        point
    } else {
        format!("{point} [{low}, {high}]")
    }
}

/// One algorithm's normalised scores across envs: (env, its runs' scores), in env order.
type Tasks = Vec<(String, Vec<f64>)>;

/// Every label's normalised run scores on the built-in envs (others have no normalisation).
fn normalised_scores(runs: &[RunData]) -> BTreeMap<String, Tasks> {
    let mut out: BTreeMap<String, Tasks> = BTreeMap::new();
    for (env, labels) in group(runs) {
        let Ok(spec) = EnvSpec::get(&env) else { continue };
        for (label, rs) in labels {
            let scores: Vec<f64> = rs.iter().filter_map(|r| score(r)).map(|s| spec.scores.apply(s)).collect();
            if !scores.is_empty() {
                out.entry(label).or_default().push((env.clone(), scores));
            }
        }
    }
    out
}

fn only_scores(tasks: &[(String, Vec<f64>)]) -> Vec<Vec<f64>> {
    tasks.iter().map(|(_, s)| s.clone()).collect()
}

/// IQM of normalised evaluation returns against env steps, with its interval, at the steps every
/// run of the label evaluated at (at most [`CURVE_POINTS`] of them).
fn sample_efficiency(runs: &[RunData], label: &str, bootstrap: &Bootstrap) -> Option<Line> {
    let mine: Vec<(&RunData, Normalisation)> =
        runs.iter().filter(|r| r.label == label).filter_map(|r| Some((r, EnvSpec::get(&r.env).ok()?.scores))).collect();
    let mut steps: BTreeSet<u64> = mine.first()?.0.evals.iter().map(|e| e.0).collect();
    for (r, _) in &mine {
        let here: BTreeSet<u64> = r.evals.iter().map(|e| e.0).collect();
        steps = steps.intersection(&here).copied().collect();
    }
    let steps: Vec<u64> = steps.into_iter().collect();
    if steps.is_empty() {
        return None;
    }
    let stride = steps.len().div_ceil(CURVE_POINTS);
    let chosen = steps.iter().rev().step_by(stride).rev();
    let points = chosen
        .map(|&step| {
            let mut by_env: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
            for (r, n) in &mine {
                let v = r.evals.iter().find(|e| e.0 == step).map(|e| n.apply(e.1));
                by_env.entry(&r.env).or_default().extend(v);
            }
            let i = bootstrap.iqm(&by_env.into_values().collect::<Vec<_>>());
            (step as f64, i.point, i.low, i.high)
        })
        .collect();
    Some(Line { label: label.to_string(), points })
}

/// Performance profiles: the fraction of runs whose normalised score is above τ, over τ.
fn profiles(scores: &BTreeMap<String, Tasks>, bootstrap: &Bootstrap) -> Vec<Line> {
    let all = scores.values().flat_map(|t| t.iter().flat_map(|(_, s)| s.iter().copied()));
    let (lo, hi) = all.fold((0.0f64, 1.0f64), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let taus: Vec<f64> = (0..=100).map(|k| lo + (hi - lo) * k as f64 / 100.0).collect();
    scores
        .iter()
        .map(|(label, tasks)| {
            let band = bootstrap.profile(&only_scores(tasks), &taus);
            let points = taus.iter().zip(band).map(|(&t, i)| (t, i.point, i.low, i.high)).collect();
            Line { label: label.clone(), points }
        })
        .collect()
}

/// The section across envs: normalisation, aggregates, improvement, pictures.
fn across_envs(md: &mut String, runs: &[RunData], out: &mut Outputs, bootstrap: &Bootstrap) -> Result<()> {
    let scores = normalised_scores(runs);
    if scores.is_empty() {
        return Ok(());
    }
    let pct = bootstrap.confidence * 100.0;
    let _ = writeln!(
        md,
        "## Across envs: normalised scores
"
    );
    let _ = writeln!(
        md,
        "A run's normalised score is (score − random) / (reference − random) on its env: 0 is a uniformly random \
         policy, 1 the reference. Aggregates as rliable computes them (Agarwal et al., NeurIPS 2021): **IQM**, the mean \
         of the middle half of all runs' scores; **mean** and **median** of the per-env means; **optimality gap**, the \
         average shortfall from 1 (scores above 1 count as 1). Intervals: {pct}% stratified bootstrap, runs resampled \
         within each env ({} resamples, seed {}).\n",
        bootstrap.reps, bootstrap.seed
    );
    let envs: BTreeSet<&str> = scores.values().flat_map(|t| t.iter().map(|(e, _)| e.as_str())).collect();
    let _ = writeln!(md, "| env | random | reference | reference from |\n|---|---|---|---|");
    for env in &envs {
        let n = EnvSpec::get(env)?.scores;
        let _ = writeln!(md, "| {env} | {} | {} | {} |", n.random, n.reference, n.source);
    }
    let _ = writeln!(
        md,
        "\n| algorithm | envs | runs | IQM | mean | median | optimality gap |\n|---|---|---|---|---|---|---|"
    );
    for (label, tasks) in &scores {
        let a = bootstrap.aggregates(&only_scores(tasks), 1.0);
        let runs: usize = tasks.iter().map(|(_, s)| s.len()).sum();
        let cells: Vec<String> = a.iter().map(|i| with_interval(i, |x| format!("{x:.3}"))).collect();
        let _ = writeln!(md, "| {label} | {} | {runs} | {} |", tasks.len(), cells.join(" | "));
    }
    md.push('\n');
    let labels: Vec<&String> = scores.keys().collect();
    if labels.len() > 1 {
        let _ = writeln!(
            md,
            "**Probability of improvement** P(X > Y): the chance that a run of X scores above a run of Y on the same env \
             (ties count half; the Mann–Whitney U statistic ÷ n_X·n_Y), averaged over the envs both ran. \
             P(Y > X) = 1 − P(X > Y).\n"
        );
        let _ = writeln!(md, "| X | Y | envs | P(X > Y) |\n|---|---|---|---|");
        for (i, x) in labels.iter().enumerate() {
            for y in &labels[i + 1..] {
                let (tx, ty) = (&scores[*x], &scores[*y]);
                let common: Vec<&String> =
                    tx.iter().map(|(e, _)| e).filter(|e| ty.iter().any(|(f, _)| f == *e)).collect();
                if common.is_empty() {
                    continue;
                }
                let pick = |t: &Tasks| -> Vec<Vec<f64>> {
                    common.iter().map(|e| t.iter().find(|(f, _)| f == *e).unwrap().1.clone()).collect()
                };
                let p = bootstrap.improvement(&pick(tx), &pick(ty));
                let _ = writeln!(md, "| {x} | {y} | {} | {} |", common.len(), with_interval(&p, |v| format!("{v:.2}")));
            }
        }
        md.push('\n');
    }
    let profile = Figure {
        title: format!("performance profile — fraction of runs above τ, {pct}% band"),
        x_desc: "normalised score τ".into(),
        y_desc: "fraction of runs with score > τ".into(),
        x_steps: false,
        panels: vec![("all envs".into(), profiles(&scores, bootstrap))],
    };
    let files = draw_figure(&profile, out, "performance_profile")?;
    let _ = writeln!(md, "![performance profile]({})\n", file_name(&files[0]));
    let curves: Vec<Line> = labels.iter().filter_map(|l| sample_efficiency(runs, l, bootstrap)).collect();
    if !curves.is_empty() {
        let efficiency = Figure {
            title: format!("sample efficiency — IQM of normalised evaluation returns, {pct}% band"),
            x_desc: "env steps".into(),
            y_desc: "IQM normalised score".into(),
            x_steps: true,
            panels: vec![("all envs".into(), curves)],
        };
        let files = draw_figure(&efficiency, out, "sample_efficiency")?;
        let _ = writeln!(md, "![sample efficiency]({})\n", file_name(&files[0]));
    }
    Ok(())
}

/// The section naming the machines the runs trained on, since wall-clock figures depend on them.
fn machines(md: &mut String, runs: &[RunData]) {
    let mut by_machine: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in runs {
        let mut seen: Vec<String> = Vec::new();
        for m in &r.machines {
            let d = m.describe();
            if seen.last() != Some(&d) {
                seen.push(d);
            }
        }
        let key = match (&r.machine_error, seen.is_empty()) {
            (Some(e), _) => format!("unreadable: {e}"),
            (None, true) => "not recorded (trained by a polyak from before machine.toml)".into(),
            (None, false) => seen.join(", then "),
        };
        *by_machine.entry(key).or_default().entry(format!("{} on {}", r.label, r.env)).or_default() += 1;
    }
    let _ = writeln!(md, "## Machines\n\nWall-clock figures depend on the machine; these runs trained on:\n");
    let _ = writeln!(md, "| machine (CPU, logical CPUs, threads per update, SIMD, C library) | runs |\n|---|---|");
    for (machine, groups) in by_machine {
        let list: Vec<String> = groups.into_iter().map(|(g, n)| format!("{g} ×{n}")).collect();
        let _ = writeln!(md, "| {machine} | {} |", list.join(", "));
    }
    md.push('\n');
}

/// Writes `<out>/report.md` and its pictures (`eval_return`, `train_return`,
/// `performance_profile` and `sample_efficiency`, each `.png` and `.svg`) for `runs`, all or
/// none: a name that holds anything but polyak's own unchanged output is an error
/// ([`crate::outputs`]).
/// `skipped` lists runs that could not be read (directory, why); the report names them.
pub fn write_report(
    runs: &[RunData],
    out: &Path,
    opts: &ReportOptions,
    skipped: &[(std::path::PathBuf, String)],
) -> Result<String> {
    let mut files = Outputs::new(out);
    // A sweep in its first minutes has no evaluation yet: the report says so per row.
    let eval = plot(runs, &mut files, Metric::Eval).ok();
    let train = plot(runs, &mut files, Metric::Train).ok();
    let b = &opts.bootstrap;
    let pct = b.confidence * 100.0;
    let mut md = String::from("# polyak report\n\n");
    let _ = writeln!(
        md,
        "{} runs. A run's score is the mean of its last {LAST_EVALS} deterministic evaluations (`eval_mean`). \
         **final**: mean ± std of the scores over runs; **IQM**: their interquartile mean, {pct}% interval; **best**: \
         highest point of the seed-mean curve; **AUC**: average of the seed-mean curve over the steps it spans; \
         **to threshold**: per run, the first evaluation at or above it, then the median over runs with its {pct}% \
         interval (a run that has not reached it counts as never). Intervals: percentile bootstrap over runs, {} \
         resamples, seed {}. Curves: mean over seeds, band ± 1 std over seeds.\n",
        runs.len(),
        b.reps,
        b.seed
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
        let threshold = opts.thresholds.get(&env).copied().or_else(|| default_threshold(&env));
        let _ = writeln!(md, "## {env}\n");
        let _ = writeln!(
            md,
            "| algorithm | seeds | final | IQM | best | AUC | wall time | env-steps/s | published (TD3 paper, v1) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        for (label, rs) in labels {
            let published = published(&env, &label);
            any_published |= published.is_some();
            let Some(s) = summarise(&rs, threshold, b) else {
                let _ = writeln!(md, "| {label} | {} | no evaluation yet | | | | | | |", rs.len());
                continue;
            };
            let _ = writeln!(
                md,
                "| {label} | {} | {:.1} ± {:.1} | {} | {:.1} | {:.1} | {:.0} s | {:.0} | {} |",
                s.seeds,
                s.final_mean,
                s.final_std,
                with_interval(&s.iqm, |x| format!("{x:.1}")),
                s.best,
                s.auc,
                s.wall_time,
                s.steps_per_second,
                published.unwrap_or("–")
            );
            rows.push((label, s));
        }
        md.push('\n');
        if let (Some(t), false) = (threshold, rows.is_empty()) {
            let _ = writeln!(md, "| algorithm | reached {t} | steps to {t} | wall-clock to {t} |\n|---|---|---|---|");
            for (label, s) in &rows {
                let (Some(reached), Some(steps), Some(time)) = (s.reached, &s.steps_to_threshold, &s.time_to_threshold)
                else {
                    continue;
                };
                let _ = writeln!(
                    md,
                    "| {label} | {reached} of {} | {} | {} |",
                    s.seeds,
                    with_interval(steps, human_steps),
                    with_interval(time, seconds)
                );
            }
            md.push('\n');
        }
    }
    if any_published {
        md.push_str(
            "Published: Fujimoto et al. 2018 (TD3), Table 1 — max average return over 10 trials of 1M steps on the \
             -v1 MuJoCo envs (\"DDPG\" is the paper's re-tuned DDPG). v1 differs from v5 in dynamics details and \
             observations, and a max over training is not a final return: a reference point, not a like-for-like \
             comparison.\n\n",
        );
    }
    across_envs(&mut md, runs, &mut files, b)?;
    machines(&mut md, runs);
    files.add("report.md", md.clone().into_bytes());
    files.write()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_figures_follow_the_algorithm_part_of_the_label() {
        assert_eq!(published("HalfCheetah-v5", "td3"), Some("9636.95 ± 859.07"));
        assert_eq!(published("HalfCheetah-v4", "td3-paper"), Some("9636.95 ± 859.07"));
        assert_eq!(published("Hopper-v5", "ddpg,ddpg.tau=0.01"), Some("1860.02"));
        assert_eq!((published("Hopper-v5", "sac"), published("Pendulum-v1", "td3")), (None, None));
    }
}
