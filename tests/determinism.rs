//! Same seed, same build → the same metrics.csv, byte for byte, but for wall-clock columns —
//! whatever the thread count and whatever SIMD level the CPU runs the kernels at. And no number
//! in a trained agent is subnormal, which would slow some CPUs' arithmetic down.

use polyak::checkpoint::Checkpoint;
use polyak::config::TrainConfig;
use polyak::train::{train, TrainOptions};
use polyak::{use_simd, Simd};

mod common;
use common::metrics_without_clock;

fn run(algo: &str, seed: u64, threads: usize) -> (Vec<String>, Checkpoint) {
    run_for(algo, 1000, seed, threads)
}

fn run_for(algo: &str, steps: usize, seed: u64, threads: usize) -> (Vec<String>, Checkpoint) {
    let sets: Vec<String> =
        ["learning_starts=300", "hidden=[64, 64]", "eval_every=500", "eval_episodes=2", "batch_size=64"]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("total_steps={steps}"), format!("seed={seed}"), format!("threads={threads}")])
            .collect();
    let cfg = TrainConfig::resolve(Some(algo), None, &sets).unwrap();
    let dir = tempfile::tempdir().unwrap();
    train(&cfg, dir.path(), &TrainOptions { quiet: true, ..Default::default() }).unwrap();
    // Compared as loaded: safetensors writes its metadata map in arbitrary key order.
    let ckpt = Checkpoint::load(&dir.path().join("checkpoints/final.safetensors")).unwrap();
    (metrics_without_clock(dir.path()), ckpt)
}

#[test]
fn same_seed_reproduces_metrics_and_weights_exactly() {
    for algo in ["sac", "td3", "ddpg"] {
        let (m1, c1) = run(algo, 11, 1);
        let (m2, c2) = run(algo, 11, 1);
        assert!(m1.len() > 5, "{algo}: too few rows: {m1:?}");
        assert_eq!(m1, m2, "{algo}: metrics differ");
        assert!(c1 == c2, "{algo}: final weights or counters differ");
        // Threads share an update's rows (3 threads: blocks of 21, 21 and 22 of the 64) and the
        // gradients' rows: identical numbers. Their steps go in place here (the networks are too
        // small to be timed) or, forced, through a copy of the parameters for each thread, as on
        // far cores (`nn::mlp::Writes`): identical numbers too.
        for (threads, copies) in [(2, false), (2, true), (3, false), (3, true)] {
            polyak::force_shared_steps(copies.then_some(true));
            let (m_par, c_par) = run(algo, 11, threads);
            polyak::force_shared_steps(None);
            let how = format!("{threads} threads{}", if copies { " through copies" } else { "" });
            assert_eq!(m1, m_par, "{algo}: {how} changed the metrics");
            // (The embedded config differs: it records `threads`.)
            let same = c1.tensors == c_par.tensors && c1.counters == c_par.counters;
            assert!(same, "{algo}: {how} changed the weights");
        }
        let (m3, _) = run(algo, 12, 1);
        assert_ne!(m1, m3, "{algo}: a different seed should give a different run");
    }
}

/// Every SIMD level this CPU has (scalar, AVX2, AVX-512), forced in turn in one process, trains
/// the same agent bit for bit: the same seed gives the same numbers on any x86-64 CPU with FMA.
/// The level is process-wide, so the other test here may run at any of them meanwhile, which by
/// this very property changes none of its numbers.
#[test]
fn every_simd_level_trains_the_same_agent_bit_for_bit() {
    let levels: Vec<Simd> = Simd::ALL.into_iter().filter(|s| s.available()).collect();
    for algo in ["sac", "td3"] {
        use_simd(Simd::Scalar).unwrap();
        let (m_ref, c_ref) = run(algo, 11, 1);
        for &level in &levels[1..] {
            use_simd(level).unwrap();
            for threads in [1, 2] {
                let (m, c) = run(algo, 11, threads);
                assert_eq!(m, m_ref, "{algo}: {level:?} ({threads} threads) changed the metrics");
                assert!(c.tensors == c_ref.tensors, "{algo}: {level:?} ({threads} threads) changed the weights");
            }
        }
    }
    use_simd(Simd::best()).unwrap();
}

/// No number in a trained agent's state is subnormal. The weights into and out of a dead ReLU
/// unit get a gradient of exactly 0, and their Adam moments shrink by β₁ and β₂ a step into the
/// subnormal range, where (unflushed) they stick, and every later step computes with them:
/// microcode on Intel CPUs (`src/nn/adam.rs`). Unflushed, these runs' actors end with 694 (TD3)
/// and 808 (SAC) subnormal first moments.
#[test]
fn a_trained_agent_holds_no_subnormal_number() {
    for algo in ["td3", "sac"] {
        let (_, ckpt) = run_for(algo, 4000, 3, 1);
        for (name, values) in &ckpt.tensors {
            let subnormal = values.iter().filter(|v| v.is_subnormal()).count();
            assert_eq!(subnormal, 0, "{algo}: {subnormal} subnormal values in `{name}`");
        }
    }
}
