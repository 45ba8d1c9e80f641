//! Learning tests: each algorithm solves Pendulum-v1 (mean deterministic eval return ≥ −200 over
//! 10 episodes) for a fixed seed with the settings a user gets without asking: the algorithm's
//! defaults under Pendulum-v1's own (20,000 steps; for the TD3 family rl-baselines3-zoo's tuned
//! values, 10,000 of them random). Run with optimisations: `cargo test --release`.

use polyak::config::TrainConfig;
use polyak::train::{train, TrainOptions};

fn solves_pendulum(algo: &str) {
    let sets = vec!["seed=0".to_string(), "checkpoint_every=0".to_string()];
    let cfg = TrainConfig::resolve(Some(algo), None, &sets).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&cfg, dir.path(), &TrainOptions { quiet: true, ..Default::default() }).unwrap();
    let (mean, std) = summary.final_eval;
    let steps = cfg.total_steps;
    eprintln!("{algo}: Pendulum-v1 eval after {steps} steps {mean:.1} ± {std:.1} ({:.0} s)", summary.wall_time);
    assert!(mean >= -200.0, "{algo} did not solve Pendulum-v1: {mean:.1} ± {std:.1}");
}

#[test]
fn sac_solves_pendulum() {
    solves_pendulum("sac");
}

#[test]
fn td3_solves_pendulum() {
    solves_pendulum("td3");
}

#[test]
fn ddpg_solves_pendulum() {
    solves_pendulum("ddpg");
}
