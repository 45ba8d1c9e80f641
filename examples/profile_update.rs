//! Runs SAC updates at HalfCheetah sizes in a loop, for profilers (`perf record`).
//! `cargo run --release --example profile_update -- [sac|td3|ddpg] [updates]`
use polyak::bench::{updates_per_second, BenchAlgo};

fn main() {
    let mut args = std::env::args().skip(1);
    let algo = match args.next().as_deref() {
        Some("td3") => BenchAlgo::Td3,
        Some("ddpg") => BenchAlgo::Ddpg,
        _ => BenchAlgo::Sac,
    };
    let updates = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    println!("{:.1} updates/s", updates_per_second(algo, (17, 6), 1, 1, updates));
}
