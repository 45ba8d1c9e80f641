//! `cargo bench`: gradient updates per second (HalfCheetah and Pendulum sizes) and env steps/s.
//! The same measurements as `polyak bench`; see README "Speed" for the figures.
use polyak::bench::{env_steps_per_second, updates_per_second, BenchAlgo};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, updates) = if quick { (3, 20) } else { (7, 100) };
    println!("updates/s, batch 256, 256×256 MLPs, 1 thread, median of {rounds} rounds");
    for (label, obs, act) in [("HalfCheetah sizes (obs 17, act 6)", 17, 6), ("Pendulum sizes (obs 3, act 1)", 3, 1)] {
        for algo in BenchAlgo::ALL {
            let r = updates_per_second(algo, obs, act, 256, rounds, updates);
            println!("  {label:<34} {:<5} {r:8.1}", algo.name());
        }
    }
    for name in polyak::env::available() {
        let mut env = polyak::env::make(&name).expect("built-in env");
        let r = env_steps_per_second(env.as_mut(), rounds, 200_000);
        println!("  env {name:<30} {r:12.0} steps/s");
    }
}
