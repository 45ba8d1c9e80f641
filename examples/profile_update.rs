//! Runs updates at HalfCheetah sizes in a loop, for profilers (`perf record`), or times thread
//! counts against each other (their rounds interleaved).
//! `cargo run --release --example profile_update -- [sac|td3|ddpg|…] [updates] [threads…]`
use polyak::bench::updates_per_second_on;
use polyak::config::Algo;

/// As the `polyak` binary: large buffers on cache lines (`polyak::alloc`), so the timings match.
#[global_allocator]
static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;

fn main() -> polyak::Result<()> {
    // POLYAK_SIMD picks the kernels, as for the CLI.
    polyak::use_simd_from_env().map_err(polyak::Error::Invalid)?;
    let mut args = std::env::args().skip(1);
    let algo = Algo::from_name(args.next().as_deref().unwrap_or("sac"))?;
    let updates = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut threads: Vec<usize> = args.filter_map(|n| n.parse().ok()).collect();
    if threads.is_empty() {
        threads.push(1);
    }
    // Ten rounds when comparing thread counts, one long round for a profiler.
    let (rounds, per_round) = if threads.len() > 1 { (10, updates / 10) } else { (1, updates) };
    for (t, rate) in threads.iter().zip(updates_per_second_on(algo, (17, 6), &threads, rounds, per_round)) {
        println!("{t} threads: {rate:.1} updates/s");
    }
    Ok(())
}
