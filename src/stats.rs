//! Statistics for comparing runs the way Agarwal et al., "Deep Reinforcement Learning at the Edge
//! of the Statistical Precipice" (NeurIPS 2021), recommend, as their `rliable` library (1.2.0)
//! computes them: interquartile mean, mean, median, optimality gap, probability of improvement and
//! performance profiles, with percentile confidence intervals from a stratified bootstrap.
//!
//! One algorithm's scores come as one list per task (env) of its runs' scores. rliable takes a
//! runs × tasks matrix; where every task has the same number of runs, these functions are its
//! definitions (`tests/rliable.rs` checks them against figures recorded from rliable itself).
//! Where tasks have different numbers of runs, what rliable pools over the matrix is pooled over
//! all runs of all tasks, and the bootstrap resamples each task's own runs.

use crate::rng::Rng;

/// Interquartile mean: the mean of the middle half of all runs' scores, pooled over tasks
/// (scipy's `trim_mean(x, 0.25)`: ⌊n/4⌋ scores are cut from each end).
pub fn iqm(scores: &[Vec<f64>]) -> f64 {
    let mut all: Vec<f64> = scores.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let cut = all.len() / 4;
    mean(&all[cut..all.len() - cut])
}

/// The mean over tasks of each task's mean score.
pub fn mean_of_tasks(scores: &[Vec<f64>]) -> f64 {
    mean(&task_means(scores))
}

/// The median over tasks of each task's mean score.
pub fn median_of_tasks(scores: &[Vec<f64>]) -> f64 {
    median(&task_means(scores))
}

/// The median of some values (the mean of the middle two of an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut m = values.to_vec();
    m.sort_by(f64::total_cmp);
    let n = m.len();
    if n % 2 == 1 {
        m[n / 2]
    } else {
        0.5 * (m[n / 2 - 1] + m[n / 2])
    }
}

/// Optimality gap: how far scores fall short of `gamma` on average, scores above it counting as
/// `gamma` (pooled over all runs and tasks). With normalised scores and `gamma` 1, the shortfall
/// from the reference score.
pub fn optimality_gap(scores: &[Vec<f64>], gamma: f64) -> f64 {
    let clipped: Vec<f64> = scores.iter().flatten().map(|&s| s.min(gamma)).collect();
    gamma - mean(&clipped)
}

/// Probability of improvement P(X > Y): per task, the chance that a random run of X scores above
/// a random run of Y, ties counting half (the Mann–Whitney U statistic ÷ n_x·n_y); then the mean
/// over tasks. Tasks pair up by position.
pub fn probability_of_improvement(x: &[Vec<f64>], y: &[Vec<f64>]) -> f64 {
    let per_task: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(xs, ys)| {
            let wins: f64 = xs
                .iter()
                .flat_map(|a| {
                    ys.iter().map(move |b| {
                        if a > b {
                            1.0
                        } else if a == b {
                            0.5
                        } else {
                            0.0
                        }
                    })
                })
                .sum();
            wins / (xs.len() * ys.len()) as f64
        })
        .collect();
    mean(&per_task)
}

/// Score distribution (rliable's performance profile): the fraction of all runs, pooled over
/// tasks, whose score is above each `tau`.
pub fn fraction_above(scores: &[Vec<f64>], taus: &[f64]) -> Vec<f64> {
    let n = scores.iter().map(Vec::len).sum::<usize>() as f64;
    taus.iter().map(|&t| scores.iter().flatten().filter(|&&s| s > t).count() as f64 / n).collect()
}

/// The four aggregates, in this order: IQM, mean, median, optimality gap (to `gamma`).
pub fn aggregates(scores: &[Vec<f64>], gamma: f64) -> [f64; 4] {
    [iqm(scores), mean_of_tasks(scores), median_of_tasks(scores), optimality_gap(scores, gamma)]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn task_means(scores: &[Vec<f64>]) -> Vec<f64> {
    scores.iter().map(|t| mean(t)).collect()
}

/// The `q`-quantile (0 ≤ q ≤ 1) of sorted values, interpolating linearly between neighbours
/// (numpy's default `percentile`). An infinite neighbour gives an infinite quantile.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    let (a, b) = (sorted[lo], sorted[hi]);
    if lo == hi || a == b {
        a
    } else if b.is_infinite() || a.is_infinite() {
        if h > lo as f64 {
            b
        } else {
            a
        }
    } else {
        a + (h - lo as f64) * (b - a)
    }
}

/// A point estimate with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

/// Stratified bootstrap: each resample draws, for every task, as many runs as the task has, with
/// replacement, from that task's runs (rliable's `StratifiedBootstrap`; with several inputs each
/// is resampled independently, as its `StratifiedIndependentBootstrap`). Intervals are the
/// percentile kind: the bootstrap distribution's (1 − confidence)/2 and (1 + confidence)/2
/// quantiles. Seeded: the same seed gives the same intervals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bootstrap {
    pub reps: usize,
    pub confidence: f64,
    pub seed: u64,
}

impl Default for Bootstrap {
    /// rliable's defaults for interval estimates: 50,000 resamples, 95% intervals.
    fn default() -> Self {
        Bootstrap { reps: 50_000, confidence: 0.95, seed: 0 }
    }
}

impl Bootstrap {
    /// The statistics `stat` returns, on `reps` resamples of `inputs`: one list per statistic,
    /// sorted.
    pub fn replicates(&self, inputs: &[&[Vec<f64>]], stat: impl Fn(&[Vec<Vec<f64>>]) -> Vec<f64>) -> Vec<Vec<f64>> {
        let mut rng = Rng::new(self.seed);
        let mut resample: Vec<Vec<Vec<f64>>> = inputs.iter().map(|x| x.to_vec()).collect();
        let mut out: Vec<Vec<f64>> = Vec::new();
        for _ in 0..self.reps {
            for (input, drawn) in inputs.iter().zip(&mut resample) {
                for (runs, into) in input.iter().zip(drawn.iter_mut()) {
                    for v in into.iter_mut() {
                        *v = runs[rng.below(runs.len() as u64) as usize];
                    }
                }
            }
            let values = stat(&resample);
            out.resize_with(values.len(), || Vec::with_capacity(self.reps));
            for (o, v) in out.iter_mut().zip(values) {
                o.push(v);
            }
        }
        for o in &mut out {
            o.sort_by(f64::total_cmp);
        }
        out
    }

    /// Each statistic `stat` returns on `inputs`, with its confidence interval.
    pub fn intervals(&self, inputs: &[&[Vec<f64>]], stat: impl Fn(&[Vec<Vec<f64>>]) -> Vec<f64>) -> Vec<Interval> {
        let given: Vec<Vec<Vec<f64>>> = inputs.iter().map(|x| x.to_vec()).collect();
        let points = stat(&given);
        let tail = (1.0 - self.confidence) / 2.0;
        self.replicates(inputs, stat)
            .iter()
            .zip(points)
            .map(|(reps, point)| Interval { point, low: quantile(reps, tail), high: quantile(reps, 1.0 - tail) })
            .collect()
    }

    /// [`aggregates`] with their intervals.
    pub fn aggregates(&self, scores: &[Vec<f64>], gamma: f64) -> Vec<Interval> {
        self.intervals(&[scores], |s| aggregates(&s[0], gamma).to_vec())
    }

    /// [`probability_of_improvement`] with its interval (X and Y resampled independently).
    pub fn improvement(&self, x: &[Vec<f64>], y: &[Vec<f64>]) -> Interval {
        self.intervals(&[x, y], |s| vec![probability_of_improvement(&s[0], &s[1])])[0]
    }

    /// [`fraction_above`] each `tau`, with its band.
    pub fn profile(&self, scores: &[Vec<f64>], taus: &[f64]) -> Vec<Interval> {
        self.intervals(&[scores], |s| fraction_above(&s[0], taus))
    }

    /// [`iqm`] with its interval.
    pub fn iqm(&self, scores: &[Vec<f64>]) -> Interval {
        self.intervals(&[scores], |s| vec![iqm(&s[0])])[0]
    }

    /// The [`median`] of one task's runs' values, with its interval.
    pub fn median(&self, values: &[f64]) -> Interval {
        self.intervals(&[&[values.to_vec()]], |s| vec![median(&s[0][0])])[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + b.abs())
    }

    #[test]
    fn aggregates_match_the_hand_computation() {
        // Two tasks of four runs: pooled 1..=8; the middle half 3, 4, 5, 6.
        let s = vec![vec![4.0, 1.0, 3.0, 2.0], vec![8.0, 5.0, 7.0, 6.0]];
        assert!(close(iqm(&s), 4.5));
        // Task means 2.5 and 6.5.
        assert!(close(mean_of_tasks(&s), 4.5));
        assert!(close(median_of_tasks(&s), 4.5));
        // Five pooled scores: ⌊5/4⌋ = 1 cut from each end, as scipy does.
        assert!(close(iqm(&[vec![10.0, 0.0, 1.0], vec![2.0, 3.0]]), 2.0));
        // Three tasks: the median is the middle task mean, not the mean of all.
        let three = vec![vec![0.0, 2.0], vec![10.0], vec![3.0, 5.0]];
        assert!(close(median_of_tasks(&three), 4.0));
        assert!(close(mean_of_tasks(&three), 5.0));
        // Scores above γ count as γ: 1 − mean(0.5, 1, 0.8).
        assert!(close(optimality_gap(&[vec![0.5, 1.5], vec![0.8]], 1.0), 1.0 - 2.3 / 3.0));
    }

    #[test]
    fn improvement_counts_wins_and_half_ties_per_task() {
        // Task 1: 3 beats both 2s; 1 beats neither → 2/4. Task 2: 2 vs 2 ties (½), the other
        // three pairs are wins → 3.5/4.
        let x = vec![vec![1.0, 3.0], vec![2.0, 3.0]];
        let y = vec![vec![2.0, 2.0], vec![2.0, 1.0]];
        assert!(close(probability_of_improvement(&x, &y), (0.5 + 0.875) / 2.0));
        assert!(close(probability_of_improvement(&y, &x), (0.5 + 0.125) / 2.0));
        assert!(close(probability_of_improvement(&x, &x), 0.5));
    }

    #[test]
    fn profile_counts_scores_strictly_above() {
        let s = vec![vec![0.0, 0.5], vec![1.0, 0.5]];
        assert_eq!(fraction_above(&s, &[-1.0, 0.0, 0.5, 1.0]), vec![1.0, 0.75, 0.25, 0.0]);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert!(close(quantile(&v, 0.0), 1.0));
        assert!(close(quantile(&v, 0.5), 3.0));
        assert!(close(quantile(&v, 0.9), 6.8));
        assert_eq!(quantile(&[1.0, f64::INFINITY], 0.5), f64::INFINITY);
        assert_eq!(quantile(&[f64::INFINITY, f64::INFINITY], 0.3), f64::INFINITY);
    }

    #[test]
    fn the_bootstrap_resamples_runs_within_each_task() {
        let b = Bootstrap { reps: 20_000, confidence: 0.95, seed: 7 };
        // One task, runs 0 and 1: a resample's mean is 0, ½ or 1 with chances ¼, ½, ¼.
        let reps = &b.replicates(&[&[vec![0.0, 1.0]]], |s| vec![mean_of_tasks(&s[0])])[0];
        let share = |v: f64| reps.iter().filter(|&&r| r == v).count() as f64 / reps.len() as f64;
        // 5 standard errors of a share near ½ over 20,000 draws is 0.018.
        assert!((share(0.0) - 0.25).abs() < 0.018 && (share(0.5) - 0.5).abs() < 0.018, "{}", share(0.5));
        let ci = b.intervals(&[&[vec![0.0, 1.0]]], |s| vec![mean_of_tasks(&s[0])])[0];
        assert_eq!((ci.point, ci.low, ci.high), (0.5, 0.0, 1.0));
        // Stratified: task A's runs never stand in for task B's, so the pooled mean never moves
        // (an unstratified resample of the four runs would).
        let two = [vec![0.0, 0.0], vec![1.0, 1.0]];
        let pooled = &b.replicates(&[&two], |s| vec![s[0].iter().flatten().sum::<f64>() / 4.0])[0];
        assert!(pooled.iter().all(|&p| p == 0.5));
        // One run per task: every resample is the data.
        let one = b.aggregates(&[vec![0.3], vec![0.9]], 1.0);
        assert!(one.iter().all(|i| i.low == i.point && i.high == i.point));
    }

    #[test]
    fn the_same_seed_gives_the_same_intervals() {
        let s = vec![vec![0.1, 0.7, 0.4, 0.9, 0.2], vec![1.2, 0.8, 0.3, 0.5, 1.1]];
        let b = Bootstrap { reps: 2_000, confidence: 0.95, seed: 3 };
        assert_eq!(b.aggregates(&s, 1.0), b.aggregates(&s, 1.0));
        assert_ne!(b.aggregates(&s, 1.0), Bootstrap { seed: 4, ..b }.aggregates(&s, 1.0));
        for i in b.aggregates(&s, 1.0) {
            assert!(i.low <= i.point && i.point <= i.high, "{i:?}");
        }
    }
}
