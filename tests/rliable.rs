//! polyak's statistics (`polyak::stats`) against the `rliable` library's own figures on fixed
//! score matrices (`fixtures/rliable.toml`, recorded by `scripts/fixtures/rliable.sh`).
//!
//! Point estimates must agree to rounding. Confidence intervals come from two different random
//! resamplings, so they agree only up to Monte-Carlo error, stated here in probability: rliable's
//! bound at level p (2.5% or 97.5%) must sit at a level of polyak's own bootstrap distribution
//! (50,000 resamples) within 5 standard errors of p, σ = √(p(1 − p)(1/R_rliable + 1/R_polyak)) ≈
//! 0.001, so the band is ±0.5 percentage points.

use polyak::stats::{self, Bootstrap};
use toml::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/rliable.toml")).unwrap();
    text.parse().unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_float().unwrap()).collect()
}

/// A runs × tasks matrix as polyak's per-task lists of runs.
fn by_task(v: &Value) -> Vec<Vec<f64>> {
    let rows: Vec<Vec<f64>> = v.as_array().unwrap().iter().map(floats).collect();
    (0..rows[0].len()).map(|t| rows.iter().map(|r| r[t]).collect()).collect()
}

fn same(ours: f64, theirs: f64, what: &str) {
    assert!((ours - theirs).abs() <= 1e-12 * (1.0 + theirs.abs()), "{what}: polyak {ours}, rliable {theirs}");
}

/// Checks that rliable's bound `theirs` is a `p`-quantile of the sorted `replicates` up to the
/// Monte-Carlo error above.
fn quantile_agrees(replicates: &[f64], theirs: f64, p: f64, reps_theirs: f64, what: &str) {
    let n = replicates.len() as f64;
    let below = replicates.iter().filter(|&&r| r < theirs).count() as f64 / n;
    let at_or_below = replicates.iter().filter(|&&r| r <= theirs).count() as f64 / n;
    let tolerance = 5.0 * (p * (1.0 - p) * (1.0 / reps_theirs + 1.0 / n)).sqrt();
    assert!(
        below - tolerance <= p && p <= at_or_below + tolerance,
        "{what}: rliable's bound {theirs} lies at polyak's levels [{below}, {at_or_below}], not within {tolerance} of {p}"
    );
}

/// Checks points and both bounds of the statistics `stat` on `inputs`.
fn check(
    inputs: &[&[Vec<f64>]],
    stat: impl Fn(&[Vec<Vec<f64>>]) -> Vec<f64> + Copy,
    points: &[f64],
    lows: &[f64],
    highs: &[f64],
    what: &str,
) {
    let f = fixture();
    let reps_theirs = f["reps"].as_integer().unwrap() as f64;
    let b = Bootstrap { reps: 50_000, confidence: f["confidence"].as_float().unwrap(), seed: 1 };
    let given: Vec<Vec<Vec<f64>>> = inputs.iter().map(|x| x.to_vec()).collect();
    let ours = stat(&given);
    let replicates = b.replicates(inputs, stat);
    assert_eq!(ours.len(), points.len());
    for (k, ((&point, (&low, &high)), reps)) in points.iter().zip(lows.iter().zip(highs)).zip(&replicates).enumerate() {
        same(ours[k], point, &format!("{what} [{k}]"));
        quantile_agrees(reps, low, 0.025, reps_theirs, &format!("{what} [{k}] lower bound"));
        quantile_agrees(reps, high, 0.975, reps_theirs, &format!("{what} [{k}] upper bound"));
    }
    // And the intervals polyak reports are those quantiles of the same replicates.
    let tail = (1.0 - b.confidence) / 2.0;
    for (i, reps) in b.intervals(inputs, stat).iter().zip(&replicates) {
        assert_eq!((i.low, i.high), (stats::quantile(reps, tail), stats::quantile(reps, 1.0 - tail)));
    }
}

#[test]
fn aggregates_and_their_intervals_are_rliables() {
    let f = fixture();
    let algos = f["algo"].as_table().unwrap();
    assert_eq!(algos.len(), 4);
    for (name, a) in algos {
        let scores = by_task(&a["scores"]);
        check(
            &[&scores],
            |s| stats::aggregates(&s[0], 1.0).to_vec(),
            &floats(&a["aggregates"]),
            &floats(&a["aggregates_low"]),
            &floats(&a["aggregates_high"]),
            &format!("{name}: IQM, mean, median, optimality gap"),
        );
    }
}

#[test]
fn performance_profiles_and_their_bands_are_rliables() {
    let f = fixture();
    let taus = floats(&f["taus"]);
    for (name, a) in f["algo"].as_table().unwrap() {
        let scores = by_task(&a["scores"]);
        check(
            &[&scores],
            |s| stats::fraction_above(&s[0], &taus),
            &floats(&a["profile"]),
            &floats(&a["profile_low"]),
            &floats(&a["profile_high"]),
            &format!("{name}: profile"),
        );
    }
}

#[test]
fn probability_of_improvement_and_its_interval_are_rliables() {
    let f = fixture();
    let algos = f["algo"].as_table().unwrap();
    let pairs = f["improvement"].as_array().unwrap();
    assert_eq!(pairs.len(), 12);
    for p in pairs {
        let (x, y) = (p["x"].as_str().unwrap(), p["y"].as_str().unwrap());
        let (sx, sy) = (by_task(&algos[x]["scores"]), by_task(&algos[y]["scores"]));
        check(
            &[&sx, &sy],
            |s| vec![stats::probability_of_improvement(&s[0], &s[1])],
            &[p["point"].as_float().unwrap()],
            &[p["low"].as_float().unwrap()],
            &[p["high"].as_float().unwrap()],
            &format!("P({x} > {y})"),
        );
    }
}
