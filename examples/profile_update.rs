//! Runs updates at HalfCheetah sizes in a loop, for profilers (`perf record`).
//! `cargo run --release --example profile_update -- [sac|td3|ddpg|…] [updates]`
use polyak::bench::updates_per_second;
use polyak::config::Algo;

fn main() -> polyak::Result<()> {
    let mut args = std::env::args().skip(1);
    let algo = Algo::from_name(args.next().as_deref().unwrap_or("sac"))?;
    let updates = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    println!("{:.1} updates/s", updates_per_second(algo, (17, 6), 1, 1, updates));
    Ok(())
}
