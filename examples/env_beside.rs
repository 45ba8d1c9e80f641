//! Training steps per second with each step's env step run after its update's batch is drawn
//! (as `polyak train` did before) and beside its update (`Agent::update_beside`, as it does now),
//! alternating rounds in one process: one agent, one env, one replay buffer prefilled with 5,000
//! random transitions. Both ways give the same numbers; this times them.
//! `cargo run --release --example env_beside -- [sac|td3|ddpg] [threads=2] [rounds=20] [env=HalfCheetah-v5]`
use polyak::algo::{ActMode, CommonConfig};
use polyak::bench::{build, median};
use polyak::config::Algo;
use polyak::replay::{Batch, ReplayBuffer};
use polyak::rng::Rng;
use polyak::train::env_step_and_update;
use std::time::Instant;

/// As the `polyak` binary: large buffers on cache lines (`polyak::alloc`), so the timings match.
#[global_allocator]
static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;

fn main() -> polyak::Result<()> {
    polyak::use_simd_from_env().map_err(polyak::Error::Invalid)?;
    let mut args = std::env::args().skip(1);
    let algo = Algo::from_name(args.next().as_deref().unwrap_or("sac"))?;
    let threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(2);
    let rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let env_name = args.next().unwrap_or_else(|| "HalfCheetah-v5".into());
    let mut env = polyak::env::make(&env_name)?;
    let (o, a) = (env.observation_space().dim(), env.action_space().dim());
    let mut agent = build(algo, o, a, &CommonConfig { threads, ..Default::default() });
    let mut replay = ReplayBuffer::new(1_000_000, o, a);
    let mut rng = Rng::new(3);
    let mut obs = env.reset(Some(0));
    let mut action = vec![0.0f32; a];
    // Env actions are taken as they come from the actor: the env's bounds do not matter here.
    for _ in 0..5000 {
        action.iter_mut().for_each(|x| *x = rng.uniform_range(-1.0, 1.0) as f32);
        let s = env.step(&action);
        replay.push(&obs, &action, s.reward, &s.obs, s.terminated, s.truncated);
        obs = if s.terminated || s.truncated { env.reset(None) } else { s.obs };
    }
    let (mut batch, mut pending) = (Batch::default(), Vec::new());
    let (mut after, mut beside) = (Vec::new(), Vec::new());
    let per_round = 200;
    // Round 0 warms up; the order alternates so that neither way always runs first.
    for round in 0..=rounds {
        for side in if round % 2 == 0 { [false, true] } else { [true, false] } {
            let clock = Instant::now();
            for _ in 0..per_round {
                agent.act(&obs, ActMode::Explore, &mut rng, &mut action);
                let mut next = None;
                let mut env_step = |replay: &mut ReplayBuffer| {
                    let s = env.step(&action);
                    replay.push(&obs, &action, s.reward, &s.obs, s.terminated, s.truncated);
                    next = Some(s);
                    true
                };
                if side {
                    // As `polyak train` steps now.
                    env_step_and_update(agent.as_mut(), &mut replay, &mut rng, 256, &mut batch, &mut pending, env_step);
                } else {
                    env_step(&mut replay);
                    replay.sample(256, &mut rng, &mut batch);
                    agent.update(&batch);
                }
                let s = next.expect("the env stepped");
                obs = if s.terminated || s.truncated { env.reset(None) } else { s.obs };
            }
            let rate = per_round as f64 / clock.elapsed().as_secs_f64();
            if round > 0 {
                if side {
                    beside.push(rate)
                } else {
                    after.push(rate)
                }
            }
        }
    }
    let mut ratios: Vec<f64> = after.iter().zip(&beside).map(|(x, y)| y / x).collect();
    println!(
        "{} on {env_name}, {threads} threads: env step after the batch {:.1}, beside the update {:.1} steps/s; median ratio {:.3}",
        algo.name(),
        median(&mut after),
        median(&mut beside),
        median(&mut ratios)
    );
    Ok(())
}
