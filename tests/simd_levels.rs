//! The same seed gives the same agent on every CPU: each SIMD level this CPU has (scalar, AVX2,
//! AVX-512), forced in turn in one process, trains to bit-identical weights and metrics.
//! (Its own test binary: the level is process-wide.)

use polyak::checkpoint::Checkpoint;
use polyak::config::TrainConfig;
use polyak::train::{train, TrainOptions};
use polyak::{use_simd, Simd};

mod common;
use common::metrics_without_clock;

fn run(algo: &str, threads: usize) -> (Vec<String>, Checkpoint) {
    let sets = [
        "total_steps=700",
        "learning_starts=300",
        "hidden=[48, 40]",
        "eval_every=350",
        "eval_episodes=1",
        "batch_size=40",
        "seed=5",
    ];
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).chain([format!("threads={threads}")]).collect();
    let cfg = TrainConfig::resolve(Some(algo), None, &sets).unwrap();
    let dir = tempfile::tempdir().unwrap();
    train(&cfg, dir.path(), &TrainOptions { quiet: true, ..Default::default() }).unwrap();
    let ckpt = Checkpoint::load(&dir.path().join("checkpoints/final.safetensors")).unwrap();
    (metrics_without_clock(dir.path()), ckpt)
}

#[test]
fn every_simd_level_trains_the_same_agent_bit_for_bit() {
    let levels: Vec<Simd> = Simd::ALL.into_iter().filter(|s| s.available()).collect();
    eprintln!("levels on this CPU: {levels:?}");
    for algo in ["sac", "td3"] {
        use_simd(Simd::Scalar).unwrap();
        let (m_ref, c_ref) = run(algo, 1);
        assert!(m_ref.len() > 3, "{algo}: too few metric rows");
        for &level in &levels[1..] {
            use_simd(level).unwrap();
            for threads in [1, 2] {
                let (m, c) = run(algo, threads);
                assert_eq!(m, m_ref, "{algo}: {level:?} ({threads} threads) changed the metrics");
                assert!(c.tensors == c_ref.tensors, "{algo}: {level:?} ({threads} threads) changed the weights");
            }
        }
    }
}
