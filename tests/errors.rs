//! Training stops with a clear error instead of learning from garbage.

use polyak::config::TrainConfig;
use polyak::env::{BoxSpace, Env, Step};
use polyak::train::{train_env, TrainOptions};
use polyak::Error;

/// Returns a NaN observation from step `bad_at` on.
struct Poisoned {
    t: u64,
    bad_at: u64,
    space: BoxSpace,
}

impl Env for Poisoned {
    fn observation_space(&self) -> &BoxSpace {
        &self.space
    }
    fn action_space(&self) -> &BoxSpace {
        &self.space
    }
    fn reset(&mut self, _seed: Option<u64>) -> Vec<f32> {
        vec![0.0]
    }
    fn step(&mut self, _action: &[f32]) -> Step {
        self.t += 1;
        let x = if self.t >= self.bad_at { f32::NAN } else { 0.5 };
        Step { obs: vec![x], reward: 0.0, terminated: false, truncated: self.t.is_multiple_of(50), info: Vec::new() }
    }
}

#[test]
fn a_nan_observation_stops_training_naming_the_step_and_last_checkpoint() {
    let make =
        || -> Box<dyn Env> { Box::new(Poisoned { t: 0, bad_at: 250, space: BoxSpace::new(vec![-1.0], vec![1.0]) }) };
    let sets: Vec<String> =
        ["total_steps=400", "learning_starts=50", "hidden=[16]", "checkpoint_every=100", "batch_size=16"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let cfg = TrainConfig::resolve(Some("td3"), None, &sets).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err =
        train_env(&cfg, make(), make(), dir.path(), &TrainOptions { quiet: true, ..Default::default() }).unwrap_err();
    assert!(matches!(err, Error::NonFinite { step: 250, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("step 250") && msg.contains("step_000000200.safetensors"), "{msg}");
    // The metrics written before the failure are kept.
    let metrics = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 4, "{metrics}");
}
