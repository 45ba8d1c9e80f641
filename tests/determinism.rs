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
/// the same agent bit for bit: the same seed gives the same numbers on any x86-64 CPU with AVX2
/// and FMA (the envs' C library rounds alike on those; `scripts/checks/emulated-cpus.sh`).
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

/// The bits one machine recorded, checked on whichever machine runs the tests (CI's, a
/// developer's, a device machine's): the agent's own arithmetic — products, Adam, Polyak
/// averaging, the elementary functions, the random streams — gives the same numbers on any
/// x86-64 CPU (one without FMA at its scalar level) and under any C library, at every SIMD level
/// it has and on one thread or two. HalfCheetah's sizes (17 → 6, 256-256, batch 256), so the kernels' full tiles, edge tiles
/// and the batch's split between threads all take part; the batches are drawn with polyak's own
/// functions alone (no `tanh` from the C library). Recorded on an AMD EPYC (Zen 4), glibc 2.36.
/// A change to the arithmetic made on purpose changes these values: the failure prints the new
/// ones to record.
#[test]
fn updates_give_the_recorded_bits_on_any_cpu() {
    use polyak::algo::{ActMode, CommonConfig, StateVisitor};
    use polyak::config::Algo;
    use polyak::replay::Batch;
    use polyak::rng::Rng;

    /// FNV-1a, 64 bits: stable and defined here, where std's hashers promise neither.
    struct Fnv(u64);
    impl Fnv {
        fn bytes(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
            }
        }
        fn floats(&mut self, values: &[f32]) {
            for v in values {
                self.bytes(&v.to_bits().to_le_bytes());
            }
        }
    }
    impl StateVisitor for Fnv {
        fn tensor(&mut self, name: &str, values: &mut [f32]) {
            self.bytes(name.as_bytes());
            self.floats(values);
        }
        fn counter(&mut self, name: &str, value: &mut u64) {
            self.bytes(name.as_bytes());
            self.bytes(&value.to_le_bytes());
        }
    }

    let (obs_dim, act_dim, size) = (17, 6, 256);
    let fingerprint = |algo: Algo, threads: usize| -> u64 {
        let mut rng = Rng::new(5);
        let mut normals = |n: usize| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        let (obs, rewards, next_obs) = (normals(size * obs_dim), normals(size), normals(size * obs_dim));
        let actions = (0..size * act_dim).map(|_| rng.uniform_range(-1.0, 1.0) as f32).collect();
        let terminated = (0..size).map(|i| if i % 50 == 7 { 1.0 } else { 0.0 }).collect();
        let batch = Batch { size, obs, actions, rewards, next_obs, terminated };
        let mut agent = polyak::bench::build(algo, obs_dim, act_dim, &CommonConfig { threads, ..Default::default() });
        let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
        let mut action = vec![0.0; act_dim];
        for i in 0..16 {
            let stats = agent.update(&batch);
            hash.bytes(&stats.critic_loss.to_bits().to_le_bytes());
            // Both kinds of action, from the observations the updates learn on.
            let obs = &batch.obs[i * obs_dim..(i + 1) * obs_dim];
            for mode in [ActMode::Explore, ActMode::Deterministic] {
                agent.act(obs, mode, &mut rng, &mut action);
                hash.floats(&action);
            }
        }
        agent.visit_state(&mut hash);
        hash.0
    };

    let recorded = [
        (Algo::Sac, 0x236a_3e98_c1af_df07_u64),
        (Algo::Td3, 0xdfa6_b208_b1d7_4df4),
        (Algo::Ddpg, 0xab64_c244_a608_4452),
    ];
    // Every level this CPU has, or only the one `POLYAK_SIMD` names: under an emulated CPU
    // (`scripts/checks/emulated-cpus.sh`), where the scalar level alone would take many minutes.
    let levels: Vec<Simd> = match polyak::use_simd_from_env().unwrap() {
        Some(level) => vec![level],
        None => Simd::ALL.into_iter().filter(|s| s.available()).collect(),
    };
    let mut wrong = Vec::new();
    for (algo, expected) in recorded {
        for &level in &levels {
            use_simd(level).unwrap();
            for threads in [1, 2] {
                let got = fingerprint(algo, threads);
                if got != expected {
                    wrong.push(format!("{algo:?} at {level:?} on {threads} thread(s): {got:#018x}"));
                }
            }
        }
    }
    use_simd(Simd::best()).unwrap();
    assert!(wrong.is_empty(), "not the recorded bits (expected {recorded:x?}):\n{}", wrong.join("\n"));
}
