//! How much of each vCPU's time the host takes away, in gaps a thread cannot see from inside:
//! a thread pinned to each CPU runs short pieces of integer work (≈ 0.1 µs each) and times every
//! piece, first each CPU alone, then both at once. A piece that took ≥ 10 µs was a gap: the vCPU
//! was descheduled or interrupted. An update split between two threads waits at each hand-off for
//! the thread that was hit, so it pays the gaps of both vCPUs, where one thread pays its own
//! (README, "Two threads, as this host gives them").
//! `cargo run --release --example vcpu_gaps -- [seconds=1] [rounds=3]`
use std::time::{Duration, Instant};

/// Time lost in gaps of ≥ 10 µs, how many there were, and the longest.
struct Gaps {
    lost: Duration,
    count: usize,
    longest: Duration,
    run: Duration,
}

/// Runs pieces of work on CPU `cpu` for `secs` and collects the gaps between them.
fn gaps_on(cpu: usize, secs: f64) -> Gaps {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read and write it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            panic!("cannot pin a thread to CPU {cpu}: {}", std::io::Error::last_os_error());
        }
    }
    let (start, mut last, mut x) = (Instant::now(), Instant::now(), 1u64);
    let mut gaps = Gaps { lost: Duration::ZERO, count: 0, longest: Duration::ZERO, run: Duration::ZERO };
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..100 {
            x = std::hint::black_box(x.wrapping_mul(3));
        }
        let now = Instant::now();
        let piece = now - last;
        if piece >= Duration::from_micros(10) {
            gaps.lost += piece;
            gaps.count += 1;
            gaps.longest = gaps.longest.max(piece);
        }
        last = now;
    }
    gaps.run = start.elapsed();
    gaps
}

fn show(label: &str, g: &Gaps) {
    let share = g.lost.as_secs_f64() / g.run.as_secs_f64() * 100.0;
    let longest = g.longest.as_secs_f64() * 1e6;
    println!("  {label:<22} {share:5.1}% of its time in {:5} gaps ≥ 10 µs, the longest {longest:8.0} µs", g.count);
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<f64>().expect("numbers: seconds, rounds"));
    let (secs, rounds) = (args.next().unwrap_or(1.0), args.next().unwrap_or(3.0) as usize);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2);
    for round in 1..=rounds {
        println!("round {round}");
        for cpu in 0..cpus {
            show(&format!("CPU {cpu} alone"), &std::thread::spawn(move || gaps_on(cpu, secs)).join().unwrap());
        }
        let both: Vec<_> = (0..cpus).map(|cpu| std::thread::spawn(move || gaps_on(cpu, secs))).collect();
        for (cpu, g) in both.into_iter().enumerate() {
            show(&format!("CPU {cpu}, both at once"), &g.join().unwrap());
        }
    }
}
