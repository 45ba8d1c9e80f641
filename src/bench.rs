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
use std::path::{Path, PathBuf};
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
    let mut rates = rates_per_round(algo, size, threads, rounds, updates, || {});
    rates.iter_mut().map(|r| median(r)).collect()
}

/// Each agent's updates/s in every round (`[agent][round]`), one agent per thread count, the
/// rounds interleaved; `between` runs before the first round and after every round.
fn rates_per_round(
    algo: Algo,
    size: (usize, usize),
    threads: &[usize],
    rounds: usize,
    updates: usize,
    mut between: impl FnMut(),
) -> Vec<Vec<f64>> {
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
    between();
    for _ in 0..rounds {
        for (agent, rates) in agents.iter_mut().zip(&mut rates) {
            let t = Instant::now();
            for _ in 0..updates {
                agent.update(&b);
            }
            rates.push(updates as f64 / t.elapsed().as_secs_f64());
        }
        between();
    }
    rates
}

/// A round counts as run on two whole cores when [`cores_together`] read at least this before
/// and after it (and [`round_trip_ns`] at most [`NEAR_NS`]).
pub const WHOLE_CORES: f64 = 0.9;

/// The longest round trip of a cache line between the two threads ([`round_trip_ns`]) at which
/// they count as near each other. On the 2-core Zen 5 VM it read 49–87 ns at some times and
/// 420–470 ns at others, for a tenth of a second to many seconds at a time (the host had put the
/// two vCPUs far apart, on two core complexes by the look of it). In rounds between two far
/// checks, DDPG's two threads ran a median 1.46× one; between two near ones, 1.85×
/// (docs/speed.md, "Far cores").
pub const NEAR_NS: f64 = 200.0;

/// What a check of the two cores read: how fast each of two threads runs FMAs while both do, as a
/// share of one alone ([`cores_together`]), and a cache line's round trip between them
/// ([`round_trip_ns`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cores {
    pub fma: f64,
    pub round_trip_ns: f64,
}

impl Cores {
    /// Reads both (≈ 5–15 ms).
    pub fn check() -> Cores {
        Cores { fma: cores_together(), round_trip_ns: round_trip_ns() }
    }

    /// Two whole cores near each other: what thread-scaling figures should be read on.
    pub fn whole(&self) -> bool {
        self.fma >= WHOLE_CORES && self.round_trip_ns <= NEAR_NS
    }

    /// The check as `polyak bench --cores` prints it, its verdict in parentheses.
    pub fn describe(&self) -> String {
        let (share, trip) = (100.0 * self.fma, self.round_trip_ns);
        let verdict = if self.fma < WHOLE_CORES {
            "NOT two whole cores: thread-scaling figures now measure the host"
        } else if trip > NEAR_NS {
            "two cores, but NOT near each other: thread-scaling figures now measure the host"
        } else {
            "two whole cores"
        };
        let trip = if trip.is_finite() { format!("in {trip:.0} ns") } else { NO_ANSWER.into() };
        format!("two threads at once: {share:.0}% of one thread's FMA rate each, a cache line there and back {trip} ({verdict})")
    }
}

/// What a check says of a round trip that never came back ([`round_trip_ns`]'s infinity).
const NO_ANSWER: &str = "not at all (the other thread did not run within the 220 ms allowed)";

/// How fast each of two threads runs FMAs while both run at once, as a share of one thread alone
/// (the slower thread's; 1 = two whole cores). A virtual machine's two vCPUs do not always get
/// two whole cores: on a 2-core AMD EPYC VM this read 0.91–1.08 most of the time and down to
/// 0.50 in stretches of a few hundred milliseconds, in which the same 256³ products took
/// 1,064–1,082 µs on both threads at once against 545–597 µs at other times (docs/speed.md, "Two whole
/// cores"). Thread-scaling figures from such a stretch measure the host, not polyak. Takes ≈ 4 ms.
pub fn cores_together() -> f64 {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (level, iters) = (crate::simd(), 400_000);
    let alone = (0..2).map(|_| crate::nn::fma_burst_gflops(level, iters)).fold(0.0, f64::max);
    let together = |_| {
        // Both threads start their burst together: each spins until the other has arrived.
        let ready = AtomicUsize::new(0);
        let burst = || {
            ready.fetch_add(1, Ordering::AcqRel);
            while ready.load(Ordering::Acquire) < 2 {
                std::hint::spin_loop();
            }
            crate::nn::fma_burst_gflops(level, iters)
        };
        std::thread::scope(|s| {
            let there = s.spawn(burst);
            let here = burst();
            // A thread the system refuses counts as no second core.
            here.min(there.join().unwrap_or(0.0))
        })
    };
    (0..2).map(together).fold(0.0, f64::max) / alone
}

/// Nanoseconds for a cache line to go from one thread to another and back: the median over
/// blocks of 100 round trips (50 blocks, or as many as fit in 20 ms, so that two threads sharing
/// one CPU do not hold it up), after a first one that waits up to 200 ms for the other thread to
/// start. The median leaves out the blocks the host interrupted. It is what every hand-off of a
/// split update costs, and every weight or δ that one thread reads after the other wrote it.
/// `f64::INFINITY` if the system refuses a thread or no block finished.
pub fn round_trip_ns() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    const STOP: u64 = u64::MAX;
    // The line the two threads pass: odd values are the caller's, even ones the answers
    let line = AtomicU64::new(0);
    let answer = || loop {
        let seen = line.load(Ordering::Acquire);
        if seen == STOP {
            return;
        }
        // Not a store: one that landed after the caller's STOP would leave this thread waiting
        if !seen.is_multiple_of(2) {
            let _ = line.compare_exchange(seen, seen + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
        std::hint::spin_loop();
    };
    std::thread::scope(|s| {
        let Ok(there) = std::thread::Builder::new().spawn_scoped(s, answer) else { return f64::INFINITY };
        // The first round trip waits for the thread to start: on a busy host, a vCPU that was idle
        // may take milliseconds to run it. The timed blocks then get 20 ms of their own.
        let after = |ms| Instant::now() + std::time::Duration::from_millis(ms);
        // One round trip; false if the time is up first
        let mut sent = 0u64;
        let mut trip = |deadline: Instant| {
            sent += 2;
            line.store(sent - 1, Ordering::Release);
            let mut spins = 0u32;
            while line.load(Ordering::Acquire) != sent {
                std::hint::spin_loop();
                spins += 1;
                // The clock only now and then: reading it would lengthen what is timed
                if spins.is_multiple_of(64) && Instant::now() > deadline {
                    return false;
                }
            }
            true
        };
        let mut blocks = Vec::with_capacity(50);
        if trip(after(200)) {
            let deadline = after(20);
            'blocks: while blocks.len() < 50 {
                let clock = Instant::now();
                for _ in 0..100 {
                    if !trip(deadline) {
                        break 'blocks;
                    }
                }
                blocks.push(clock.elapsed().as_secs_f64() * 1e9 / 100.0);
            }
        }
        line.store(STOP, Ordering::Release);
        let _ = there.join();
        if blocks.is_empty() {
            f64::INFINITY
        } else {
            median(&mut blocks)
        }
    })
}

/// 1- and 2-thread updates/s of `algo` at `size` ([`updates_per_second_on`]), with a check of
/// the cores ([`Cores::check`]) before the first round and after each.
pub struct ThreadScaling {
    /// Medians over all rounds.
    pub one: f64,
    pub two: f64,
    /// The rounds run between two checks that both read two whole cores near each other
    /// ([`Cores::whole`]): (1 thread, 2 threads) updates/s.
    pub whole: Vec<(f64, f64)>,
    /// What the checks read, lowest and highest: FMA shares, and round trips in ns.
    pub checks: (f64, f64),
    pub round_trips: (f64, f64),
}

impl ThreadScaling {
    pub fn measure(algo: Algo, size: (usize, usize), rounds: usize, updates: usize) -> ThreadScaling {
        let mut checks = Vec::with_capacity(rounds + 1);
        let rates = rates_per_round(algo, size, &[1, 2], rounds, updates, || checks.push(Cores::check()));
        ThreadScaling::from_rounds(&rates[0], &rates[1], &checks)
    }

    /// From each round's 1- and 2-thread updates/s and the checks around the rounds (one more
    /// than the rounds: check r before round r, check r + 1 after it).
    pub fn from_rounds(one: &[f64], two: &[f64], checks: &[Cores]) -> ThreadScaling {
        assert!(one.len() == two.len() && checks.len() == one.len() + 1, "a check before and after every round");
        let whole =
            (0..one.len()).filter(|&r| checks[r].whole() && checks[r + 1].whole()).map(|r| (one[r], two[r])).collect();
        let range = |read: fn(&Cores) -> f64| {
            checks.iter().map(read).fold((f64::MAX, f64::MIN), |(lo, hi), c| (lo.min(c), hi.max(c)))
        };
        let (mut one, mut two) = (one.to_vec(), two.to_vec());
        ThreadScaling {
            one: median(&mut one),
            two: median(&mut two),
            whole,
            checks: range(|c| c.fma),
            round_trips: range(|c| c.round_trip_ns),
        }
    }

    /// Median of the 2 / 1 ratios of the rounds on two whole cores (None without such a round).
    pub fn whole_ratio(&self) -> Option<f64> {
        let mut ratios: Vec<f64> = self.whole.iter().map(|(one, two)| two / one).collect();
        (!ratios.is_empty()).then(|| median(&mut ratios))
    }

    /// Median 2-thread updates/s of the rounds on two whole cores.
    pub fn whole_two(&self) -> Option<f64> {
        let mut two: Vec<f64> = self.whole.iter().map(|w| w.1).collect();
        (!two.is_empty()).then(|| median(&mut two))
    }
}

/// Env steps per second with uniformly random actions: the median of `rounds` timed rounds of
/// about `seconds` each. A first, untimed run (doubling until it takes a tenth of a round) sets
/// the steps per round, so a slow env takes no longer to measure than a fast one.
pub fn env_steps_per_second(env: &mut dyn Env, rounds: usize, seconds: f64) -> f64 {
    let mut rng = Rng::new(0);
    let space = env.action_space().clone();
    let mut action = vec![0.0f32; space.dim()];
    env.reset(Some(0));
    let mut run = |steps: usize| {
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
        t.elapsed().as_secs_f64()
    };
    let mut steps = 64;
    let mut took = run(steps);
    while took < seconds / 10.0 {
        steps *= 2;
        took = run(steps);
    }
    let per_round = ((steps as f64 * seconds / took.max(1e-9)) as usize).max(1);
    let mut rates: Vec<f64> = (0..rounds).map(|_| per_round as f64 / run(per_round)).collect();
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
    out!(
        "  (2 / 1 threads: all rounds; then the rounds on two whole cores, where two threads at once ran FMAs at ≥ {:.0}% of one's, and passed a cache line there and back in ≤ {NEAR_NS:.0} ns, before and after)",
        100.0 * WHOLE_CORES
    );
    let mut cheetah = Vec::new();
    let ((mut lo, mut hi), (mut near, mut far)) = ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN));
    for (label, size) in [("HalfCheetah sizes (obs 17, act 6)", (17, 6)), ("Pendulum sizes (obs 3, act 1)", (3, 1))] {
        for algo in BENCH_ALGOS {
            let t = ThreadScaling::measure(algo, size, rounds, updates);
            let whole = match t.whole_ratio() {
                Some(r) => format!("{r:.2}× in {} of {rounds} rounds on two whole cores", t.whole.len()),
                None => "no round on two whole cores".into(),
            };
            let (one, two) = (t.one, t.two);
            out!(
                "  {label:<34} {:<5} 1 thread {one:7.1}   2 threads {two:7.1}   ({:.2}×; {whole})",
                algo.name(),
                two / one
            );
            (lo, hi) = (lo.min(t.checks.0), hi.max(t.checks.1));
            (near, far) = (near.min(t.round_trips.0), far.max(t.round_trips.1));
            if size == (17, 6) {
                cheetah.push((algo, t));
            }
        }
    }
    out!(
        "  in the checks, two threads at once ran FMAs at {:.0}–{:.0}% of one thread's rate and passed a cache line there and back {}",
        100.0 * lo,
        100.0 * hi,
        if far.is_finite() {
            format!("in {near:.0}–{far:.0} ns")
        } else {
            format!("in {near:.0} ns at the fastest, and at least once {NO_ANSWER}")
        }
    );
    // Useful work against what the core can do: the matrix products' FLOPs per update × updates/s,
    // as a share of the FMA peak of one core (1 thread) or two (2 threads).
    let peak = crate::nn::fma_peak_gflops(crate::simd());
    out!(
        "useful GFLOP/s of an update (matrix products only), HalfCheetah sizes; FMA peak of one core {peak:.1} GFLOP/s"
    );
    for (algo, t) in cheetah {
        let gflop = flops_per_update(algo, (17, 6), 10) / 1e9;
        let whole = t
            .whole_two()
            .map_or(String::new(), |two| format!("; {:.0}% on two whole cores", 50.0 * gflop * two / peak));
        out!(
            "  {:<5} {:6.3} GFLOP/update   1 thread {:6.1} ({:3.0}% of peak)   2 threads {:6.1} ({:3.0}% of 2 cores{whole})",
            algo.name(),
            gflop,
            gflop * t.one,
            100.0 * gflop * t.one / peak,
            gflop * t.two,
            50.0 * gflop * t.two / peak
        );
    }
    print_env_rates(quick, rounds)?;
    print_checkpoint_cost(Path::new("."), quick)
}

/// `polyak bench --cores`: whether two threads get two whole cores near each other now,
/// `readings` times, a tenth of a second apart.
pub fn print_cores(readings: usize) -> crate::Result<()> {
    out!("CPU: {}", crate::rundir::cpu_model());
    for i in 0..readings {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        out!("{}", Cores::check().describe());
    }
    Ok(())
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
    let seconds = if quick { 0.05 } else { 0.25 };
    out!("env steps/s (random actions; median of {rounds} rounds of ≈ {seconds} s)");
    let mut said: Option<String> = None;
    for name in crate::env::available() {
        let mut env = match crate::env::make(&name) {
            Ok(env) => env,
            Err(e) => {
                // The MuJoCo envs share one reason: said once.
                let why = crate::env::mujoco_unavailable_because().unwrap_or_else(|| e.to_string());
                if said.as_ref() == Some(&why) {
                    out!("  {name:<34} (cannot run here, as above)");
                } else {
                    out!("  {name:<34} (cannot run here: {why})");
                    said = Some(why);
                }
                continue;
            }
        };
        let r = env_steps_per_second(env.as_mut(), rounds, seconds);
        out!("  {name:<34} {r:12.0}");
    }
    Ok(())
}

/// The files [`checkpoint_cost`] writes, by name, in its own folder.
const CHECKPOINT_FILES: [&str; 2] = ["agent.safetensors", "replay.safetensors"];

/// Times what a checkpoint writes, on the disk of `parent`: in a new folder of its own there,
/// which it removes afterwards with the files it wrote and nothing else. A folder of that name
/// already there (a user's, or one a killed bench left) is not touched: the next name is taken.
fn print_checkpoint_cost(parent: &Path, quick: bool) -> crate::Result<()> {
    let dir = new_folder(parent, &format!(".polyak-bench-{}", std::process::id()))?;
    let result = (|| {
        out!("checkpoint cost (HalfCheetah sizes, SAC; atomic writes with fsync into {})", dir.display());
        checkpoint_cost(&dir, quick)
    })();
    for name in CHECKPOINT_FILES {
        let _ = std::fs::remove_file(dir.join(name));
    }
    // Not `remove_dir_all`: a file this process did not write keeps the folder.
    let _ = std::fs::remove_dir(&dir);
    result
}

/// A folder `parent/stem`, or `parent/stem-1`, `-2`, … (the first that does not exist yet),
/// created by this call.
fn new_folder(parent: &Path, stem: &str) -> crate::Result<PathBuf> {
    for n in 0..1000 {
        let dir = parent.join(if n == 0 { stem.to_string() } else { format!("{stem}-{n}") });
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(crate::Error::io(&dir, e)),
        }
    }
    Err(crate::Error::io(parent.join(stem), std::io::Error::other("1,000 folders of that name exist already")))
}

/// The agent file (twice: agent-only and resume file) and the replay file of the transitions
/// pushed since the previous checkpoint, written into `dir` ([`CHECKPOINT_FILES`]).
fn checkpoint_cost(dir: &Path, quick: bool) -> crate::Result<()> {
    use crate::checkpoint::Checkpoint;
    use crate::replay::ReplayBuffer;
    let mut agent = build(Algo::Sac, 17, 6, &CommonConfig::default());
    let path = dir.join(CHECKPOINT_FILES[0]);
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
        let path = dir.join(CHECKPOINT_FILES[1]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_timing_leaves_a_folder_of_its_name_alone_and_nothing_behind() {
        let parent = tempfile::tempdir().unwrap();
        // A folder with the name the bench would take first, holding a user's file.
        let taken = parent.path().join(format!(".polyak-bench-{}", std::process::id()));
        std::fs::create_dir(&taken).unwrap();
        std::fs::write(taken.join(CHECKPOINT_FILES[1]), b"mine").unwrap();
        print_checkpoint_cost(parent.path(), true).unwrap();
        assert_eq!(std::fs::read(taken.join(CHECKPOINT_FILES[1])).unwrap(), b"mine");
        let left: Vec<_> = std::fs::read_dir(parent.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(left, vec![taken.clone()], "only the user's folder is left");
        // Names are taken in order, each folder new.
        assert_eq!(new_folder(parent.path(), "x").unwrap(), parent.path().join("x"));
        assert_eq!(new_folder(parent.path(), "x").unwrap(), parent.path().join("x-1"));
    }

    #[test]
    fn only_rounds_between_two_whole_core_checks_count() {
        let (one, two) = ([100.0, 100.0, 100.0, 100.0], [190.0, 120.0, 130.0, 180.0]);
        // Round 1 ended, and round 2 began, in a stretch with the vCPUs on one core.
        let near = |fma| Cores { fma, round_trip_ns: 55.0 };
        let t = ThreadScaling::from_rounds(&one, &two, &[0.97, 1.01, 0.72, 0.95, 0.90].map(near));
        assert_eq!(t.whole, vec![(100.0, 190.0), (100.0, 180.0)]);
        assert_eq!(t.whole_ratio(), Some(1.85));
        assert_eq!(t.whole_two(), Some(185.0));
        assert_eq!((t.one, t.two), (100.0, 155.0), "medians over all rounds");
        assert_eq!(t.checks, (0.72, 1.01));
        let none = ThreadScaling::from_rounds(&one[..1], &two[..1], &[0.5, 1.0].map(near));
        assert_eq!((none.whole_ratio(), none.whole_two()), (None, None));
        // Whole cores, but far apart before round 0 ends: it does not count
        let far = Cores { fma: 1.0, round_trip_ns: 450.0 };
        let t = ThreadScaling::from_rounds(&one[..2], &two[..2], &[near(1.0), far, near(1.0)]);
        assert_eq!(t.whole, vec![]);
        assert_eq!(t.round_trips, (55.0, 450.0));
    }

    #[test]
    fn two_threads_on_one_cpu_end_the_round_trips_in_time() {
        // This thread, and the one it spawns, on one CPU: every answer waits for a time slice.
        // SAFETY: zeroed cpu_set_t values are valid empty sets; the calls read and write only them.
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let (mut was, mut one): (libc::cpu_set_t, libc::cpu_set_t) = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::sched_getaffinity(0, size, &mut was) }, 0);
        let first = (0..libc::CPU_SETSIZE as usize).find(|&c| unsafe { libc::CPU_ISSET(c, &was) }).unwrap();
        unsafe { libc::CPU_SET(first, &mut one) };
        assert_eq!(unsafe { libc::sched_setaffinity(0, size, &one) }, 0);
        let clock = Instant::now();
        let ns = round_trip_ns();
        let took = clock.elapsed();
        assert_eq!(unsafe { libc::sched_setaffinity(0, size, &was) }, 0);
        // Cut off (200 ms at most for the first round trip, then 20 ms), where without the cut-off
        // this took 20 s; and read as far from near either way
        assert!(took < std::time::Duration::from_millis(500), "{took:?}");
        assert!(ns > NEAR_NS, "{ns}");
    }

    #[test]
    fn a_check_names_what_it_read() {
        let line = |fma, round_trip_ns| Cores { fma, round_trip_ns }.describe();
        assert!(line(0.98, 55.0)
            .ends_with("98% of one thread's FMA rate each, a cache line there and back in 55 ns (two whole cores)"));
        assert!(line(0.5, 55.0).contains("(NOT two whole cores:"));
        assert!(line(0.98, 450.0).contains("in 450 ns (two cores, but NOT near each other:"));
        // A check whose round trip never came back (`round_trip_ns`'s infinity) says so.
        assert!(line(0.98, f64::INFINITY).contains(
            "there and back not at all (the other thread did not run within the 220 ms allowed) (two cores, but NOT near"
        ));
    }
}
