//! Where an update's time goes, hand-off by hand-off, on 1 and 2 threads (or the thread counts
//! given): the agents' rounds interleave, as in `polyak bench`, with `polyak::parallel::phases`
//! recording. For each thread count, one line per hand-off of an update (its place and the source
//! line that asked for it), in µs per update: the calling thread's serial time before it, its
//! wall time, the busier share's time (summed call by call), the mean share's, and each share's,
//! share 0 the calling thread's. The wall time beyond the busier share is the hand-off's own
//! cost; the busier share beyond the mean is imbalance: the part between the shares' means (one
//! thread slower throughout: an uneven cut, or one vCPU slower than the other for a while) and
//! the part from call to call (the host's jitter on one thread or the other). Only rounds
//! between two whole-core checks (`polyak bench --cores`) count, where there are any.
//! `cargo run --release --example phases -- [sac|td3|ddpg] [updates per round=100] [rounds=20] [threads…]`
use polyak::algo::CommonConfig;
use polyak::bench::{build, random_batch, Cores};
use polyak::config::Algo;
use polyak::parallel::phases::{self, Phase};
use polyak::rng::Rng;
use std::time::Duration;

/// As the `polyak` binary: large buffers on cache lines (`polyak::alloc`), so the timings match.
#[global_allocator]
static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;

fn main() -> polyak::Result<()> {
    polyak::use_simd_from_env().map_err(polyak::Error::Invalid)?;
    let mut args = std::env::args().skip(1);
    let algo = Algo::from_name(args.next().as_deref().unwrap_or("sac"))?;
    let per_round: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let mut threads: Vec<usize> = args.filter_map(|n| n.parse().ok()).collect();
    if threads.is_empty() {
        threads = vec![1, 2];
    }
    let (obs_dim, act_dim) = (17, 6);
    let batch = random_batch(256, obs_dim, act_dim, &mut Rng::new(1));
    let mut agents: Vec<_> = threads
        .iter()
        .map(|&threads| build(algo, obs_dim, act_dim, &CommonConfig { threads, ..CommonConfig::default() }))
        .collect();
    for agent in &mut agents {
        for _ in 0..20 {
            agent.update(&batch);
        }
    }
    // The phases of every round and of the rounds between two whole-core checks, per agent.
    let mut recorded: Vec<Vec<Phase>> = vec![Vec::new(); agents.len()];
    let mut on_whole_cores = recorded.clone();
    let (mut whole, mut check) = (0, Cores::check());
    for _ in 0..rounds {
        let mut these = Vec::new();
        for agent in &mut agents {
            phases::record(true);
            let _ = phases::take();
            for _ in 0..per_round {
                agent.update(&batch);
            }
            phases::record(false);
            these.push(phases::take());
        }
        let after = Cores::check();
        let on_whole = check.whole() && after.whole();
        whole += on_whole as usize;
        for (t, round) in these.iter().enumerate() {
            if on_whole {
                phases::merge(&mut on_whole_cores[t], round);
            }
            phases::merge(&mut recorded[t], round);
        }
        check = after;
    }
    // Only rounds on two whole cores count, where there are any: the host gives less at times.
    let (kept, recorded) = if whole > 0 { (whole, on_whole_cores) } else { (rounds, recorded) };
    println!(
        "{algo:?}, HalfCheetah sizes, batch 256: {whole} of {rounds} rounds of {per_round} updates on two whole \
         cores; {}",
        if whole > 0 { "those are shown" } else { "all are shown, the host's gaps included" }
    );
    let updates = (kept as u32 * per_round) as f64;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / updates;
    for (t, phases) in threads.iter().zip(&recorded) {
        println!("\n{t} thread(s), µs per update:");
        println!(
            "  {:>2}  {:<24} {:>8} {:>8} {:>8} {:>8}  busy: share 0 / 1 / …",
            "#", "asked for at", "before", "wall", "busiest", "mean"
        );
        let (mut before, mut wall, mut busiest, mut mean, mut slower_mean) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for p in phases {
            let shares: Vec<String> = p.busy.iter().map(|&b| format!("{:.1}", us(b))).collect();
            let share_mean = p.busy.iter().map(|&b| us(b)).sum::<f64>() / p.busy.len() as f64;
            let file: Vec<&str> = p.at.file().rsplit('/').take(2).collect();
            let at = format!("{}/{}:{}", file.get(1).unwrap_or(&""), file[0], p.at.line());
            let calls = if p.calls as f64 == updates { String::new() } else { format!("  ({} calls)", p.calls) };
            println!(
                "  {:>2}  {at:<24} {:>8.1} {:>8.1} {:>8.1} {:>8.1}  {}{calls}",
                p.index,
                us(p.before),
                us(p.wall),
                us(p.busiest),
                share_mean,
                shares.join(" / ")
            );
            (before, wall, busiest, mean) =
                (before + us(p.before), wall + us(p.wall), busiest + us(p.busiest), mean + share_mean);
            slower_mean += p.busy.iter().map(|&b| us(b)).fold(0.0, f64::max);
        }
        println!(
            "  update {:.1} = serial {before:.1} + hand-offs {wall:.1}; of those, hand-off cost {:.1} (wall beyond the \
             busier share) and imbalance {:.1} (the busier share beyond the mean: {:.1} between the shares' means, \
             {:.1} from call to call)",
            before + wall,
            wall - busiest,
            busiest - mean,
            slower_mean - mean,
            busiest - slower_mean
        );
    }
    Ok(())
}
