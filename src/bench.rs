//! Speed measurements behind `polyak bench` and `cargo bench`: gradient updates per second at
//! a given problem size, and env steps per second.
//!
//! Each figure is the median of several timed rounds after a warm-up, because a shared 2-core
//! machine drifts by ±20% within minutes.

use crate::algo::{Agent, CommonConfig};
use crate::config::{Algo, TrainConfig};
use crate::env::Env;
use crate::replay::Batch;
use crate::rng::Rng;
use std::time::Instant;

/// The algorithms `polyak bench` times: one per update (the TD3 ablations run TD3's).
pub const BENCH_ALGOS: [Algo; 3] = [Algo::Sac, Algo::Td3, Algo::Ddpg];

/// `println!` that returns an error instead of panicking when stdout is closed (`polyak bench |
/// head`): the CLI ends quietly on a broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(|e| crate::Error::io("standard output", e))?
    }};
}

/// An agent of `algo` with its preset's settings and `common` sizes (seed 0).
pub fn build(algo: Algo, obs_dim: usize, act_dim: usize, common: &CommonConfig) -> Box<dyn Agent> {
    let cfg = TrainConfig { common: common.clone(), ..TrainConfig::preset(algo) };
    crate::train::build_agent(&cfg, obs_dim, act_dim)
}

/// A random batch of the given shape.
pub fn random_batch(size: usize, obs_dim: usize, act_dim: usize, rng: &mut Rng) -> Batch {
    let mut normal = |n: usize| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
    Batch {
        size,
        obs: normal(size * obs_dim),
        actions: normal(size * act_dim).iter().map(|a| a.tanh()).collect(),
        rewards: normal(size),
        next_obs: normal(size * obs_dim),
        terminated: vec![0.0; size],
    }
}

/// Median of `samples` (sorted in place).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        0.5 * (samples[n / 2 - 1] + samples[n / 2])
    }
}

/// Updates per second of `algo` at `size` = (obs dim, act dim), batch 256 (median over `rounds` rounds of `updates` updates each).
pub fn updates_per_second(algo: Algo, size: (usize, usize), threads: usize, rounds: usize, updates: usize) -> f64 {
    updates_per_second_on(algo, size, &[threads], rounds, updates)[0]
}

/// [`updates_per_second`] for one agent per thread count, their rounds interleaved so that the
/// machine's drift (±20% within minutes on a shared host) falls on all of them alike: the ratios
/// between thread counts are what this is for.
pub fn updates_per_second_on(
    algo: Algo,
    size: (usize, usize),
    threads: &[usize],
    rounds: usize,
    updates: usize,
) -> Vec<f64> {
    let (obs_dim, act_dim, batch) = (size.0, size.1, 256);
    let b = random_batch(batch, obs_dim, act_dim, &mut Rng::new(1));
    let mut agents: Vec<Box<dyn Agent>> = threads
        .iter()
        .map(|&threads| build(algo, obs_dim, act_dim, &CommonConfig { threads, ..CommonConfig::default() }))
        .collect();
    for agent in &mut agents {
        for _ in 0..updates.min(20) {
            agent.update(&b);
        }
    }
    let mut rates = vec![Vec::with_capacity(rounds); agents.len()];
    for _ in 0..rounds {
        for (agent, rates) in agents.iter_mut().zip(&mut rates) {
            let t = Instant::now();
            for _ in 0..updates {
                agent.update(&b);
            }
            rates.push(updates as f64 / t.elapsed().as_secs_f64());
        }
    }
    rates.iter_mut().map(|r| median(r)).collect()
}

/// Env steps per second with uniformly random actions (median over `rounds`).
pub fn env_steps_per_second(env: &mut dyn Env, rounds: usize, steps: usize) -> f64 {
    let mut rng = Rng::new(0);
    let space = env.action_space().clone();
    let mut action = vec![0.0f32; space.dim()];
    env.reset(Some(0));
    let mut rates: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..steps {
                for (a, (l, h)) in action.iter_mut().zip(space.low.iter().zip(&space.high)) {
                    *a = rng.uniform_range(*l as f64, *h as f64) as f32;
                }
                let s = env.step(&action);
                if s.terminated || s.truncated {
                    env.reset(None);
                }
            }
            steps as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    median(&mut rates)
}

/// Floating-point operations of the matrix products in one update of `algo` at `size` (batch
/// 256), averaged over `updates` updates (TD3's actor steps every second one): the "useful" work
/// that GFLOP/s figures divide by time. Elementwise work (activations, Adam) is left out.
pub fn flops_per_update(algo: Algo, size: (usize, usize), updates: usize) -> f64 {
    let mut agent = build(algo, size.0, size.1, &CommonConfig { threads: 1, ..CommonConfig::default() });
    let b = random_batch(256, size.0, size.1, &mut Rng::new(1));
    agent.update(&b);
    let before = crate::nn::flops_so_far();
    for _ in 0..updates {
        agent.update(&b);
    }
    (crate::nn::flops_so_far() - before) as f64 / updates as f64
}

/// The report `polyak bench` and `cargo bench` print: updates/s at HalfCheetah and Pendulum
/// sizes on 1 and 2 threads, env steps/s of every built-in env, and what a checkpoint costs.
pub fn print_report(quick: bool, envs_only: bool) -> crate::Result<()> {
    let (rounds, updates) = if quick { (3, 20) } else { (7, 100) };
    // Every figure below depends on the CPU: name it, generation included.
    out!("CPU: {}", crate::rundir::cpu_model());
    if envs_only {
        return print_env_rates(quick, rounds);
    }
    out!("gradient updates/s (batch 256, 256×256 MLPs; {} kernels; median of {rounds} rounds)", crate::simd().name());
    let mut cheetah = Vec::new();
    for (label, size) in [("HalfCheetah sizes (obs 17, act 6)", (17, 6)), ("Pendulum sizes (obs 3, act 1)", (3, 1))] {
        for algo in BENCH_ALGOS {
            let [one, two] = updates_per_second_on(algo, size, &[1, 2], rounds, updates)[..] else { unreachable!() };
            out!("  {label:<34} {:<5} 1 thread {one:7.1}   2 threads {two:7.1}   ({:.2}×)", algo.name(), two / one);
            if size == (17, 6) {
                cheetah.push((algo, one, two));
            }
        }
    }
    // Useful work against what the core can do: the matrix products' FLOPs per update × updates/s,
    // as a share of the FMA peak of one core (1 thread) or two (2 threads).
    let peak = crate::nn::fma_peak_gflops(crate::simd());
    out!(
        "useful GFLOP/s of an update (matrix products only), HalfCheetah sizes; FMA peak of one core {peak:.1} GFLOP/s"
    );
    for (algo, one, two) in cheetah {
        let gflop = flops_per_update(algo, (17, 6), 10) / 1e9;
        out!(
            "  {:<5} {:6.3} GFLOP/update   1 thread {:6.1} ({:3.0}% of peak)   2 threads {:6.1} ({:3.0}% of 2 cores)",
            algo.name(),
            gflop,
            gflop * one,
            100.0 * gflop * one / peak,
            gflop * two,
            50.0 * gflop * two / peak
        );
    }
    print_env_rates(quick, rounds)?;
    let dir = std::path::PathBuf::from(".polyak-bench-checkpoint");
    out!("checkpoint cost (HalfCheetah sizes, SAC; atomic writes with fsync into ./{})", dir.display());
    let result = print_checkpoint_cost(&dir, quick);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One algorithm's updates/s at HalfCheetah sizes on `threads` threads (0: as training chooses).
pub fn print_updates(algo: Algo, threads: usize, quick: bool) -> crate::Result<()> {
    let (rounds, updates) = if quick { (3, 20) } else { (7, 100) };
    let threads = CommonConfig { threads, ..CommonConfig::default() }.resolved_threads();
    let rate = updates_per_second(algo, (17, 6), threads, rounds, updates);
    let (name, level) = (algo.name(), crate::simd().name());
    out!("{name} updates/s, HalfCheetah sizes, batch 256, {threads} threads, {level} kernels: {rate:.1}");
    Ok(())
}

/// Env steps/s of every env this build can make (MuJoCo ones need the library).
fn print_env_rates(quick: bool, rounds: usize) -> crate::Result<()> {
    out!("env steps/s (random actions; median of {rounds} rounds)");
    for name in crate::env::available() {
        let Ok(mut env) = crate::env::make(&name) else {
            out!("  {name:<34} (not in this build: scripts/setup/mujoco.sh)");
            continue;
        };
        let physics = crate::env::EnvSpec::get(&name).is_ok_and(|s| s.mujoco_task().is_some());
        let steps = match (quick, physics) {
            (false, false) => 200_000,
            (true, false) | (false, true) => 20_000,
            (true, true) => 2_000,
        };
        let r = env_steps_per_second(env.as_mut(), rounds, steps);
        out!("  {name:<34} {r:12.0}");
    }
    Ok(())
}

/// Times what a checkpoint writes: the agent file (twice: agent-only and resume file) and the
/// replay file of the transitions pushed since the previous checkpoint.
fn print_checkpoint_cost(dir: &std::path::Path, quick: bool) -> crate::Result<()> {
    use crate::checkpoint::Checkpoint;
    use crate::replay::ReplayBuffer;
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    let mut agent = build(Algo::Sac, 17, 6, &CommonConfig::default());
    let path = dir.join("agent.safetensors");
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            Checkpoint::from_agent(agent.as_mut(), Default::default()).save(&path).map(|_| t.elapsed().as_secs_f64())
        })
        .collect::<crate::Result<_>>()?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    out!("  agent with Adam state          {:8.1} MB  {:8.1} ms", bytes as f64 / 1e6, 1e3 * median(&mut times));
    let sizes: &[usize] = if quick { &[50_000] } else { &[50_000, 1_000_000] };
    let mut rng = Rng::new(0);
    for &n in sizes {
        let mut replay = ReplayBuffer::new(n, 17, 6);
        let (mut obs, mut act) = (vec![0.0f32; 17], vec![0.0f32; 6]);
        for _ in 0..n {
            rng.fill_normal(&mut obs);
            rng.fill_normal(&mut act);
            replay.push(&obs, &act, rng.normal(), &obs, false, false);
        }
        let path = dir.join("replay.safetensors");
        let t = Instant::now();
        crate::train::state::write_segment(replay.export(0, n as u64), &path)?;
        let secs = t.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let t = Instant::now();
        Checkpoint::load(&path)?;
        let read = t.elapsed().as_secs_f64();
        let (mb, write_ms, read_ms) = (bytes as f64 / 1e6, 1e3 * secs, 1e3 * read);
        out!("  replay file, {n:>9} transitions {mb:8.1} MB  {write_ms:8.1} ms  (read + verify {read_ms:.1} ms)");
    }
    Ok(())
}
