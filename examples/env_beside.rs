//! Training steps per second with each step's env step run after its update's batch is drawn
//! (as `polyak train` did before) and beside its update (`Agent::update_beside`, as it does now),
//! and updates alone on one batch (as `polyak bench` times them), rotating rounds in one process:
//! one agent, one env, one replay buffer prefilled with 5,000 random transitions. Both ways of
//! training give the same numbers; this times them, and training's share of the update-only rate
//! (the performance work asks ≥ 95%) without the minutes between two processes that this host's
//! drift puts into `scripts/bench/vs-sb3.sh`'s figure.
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
    // Updates alone run on one batch drawn from the buffer, as `polyak bench` times them.
    let fixed = {
        let mut b = Batch::default();
        replay.sample(256, &mut rng, &mut b);
        b
    };
    let mut rates: [Vec<f64>; 3] = Default::default();
    let per_round = 200;
    const ONLY: usize = 0;
    const AFTER: usize = 1;
    const BESIDE: usize = 2;
    // Round 0 warms up; the order rotates so that no way always runs first.
    for round in 0..=rounds {
        for k in 0..3 {
            let side = (round + k) % 3;
            let clock = Instant::now();
            for _ in 0..per_round {
                if side == ONLY {
                    agent.update(&fixed);
                    continue;
                }
                agent.act(&obs, ActMode::Explore, &mut rng, &mut action);
                let mut next = None;
                let mut env_step = |replay: &mut ReplayBuffer| {
                    let s = env.step(&action);
                    replay.push(&obs, &action, s.reward, &s.obs, s.terminated, s.truncated);
                    next = Some(s);
                    true
                };
                if side == BESIDE {
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
                rates[side].push(rate);
            }
        }
    }
    // One round's rates are seconds apart: their ratio, not the ratio of the medians, is what the
    // host's drift leaves alone.
    let ratio = |top: usize, bottom: usize| {
        let mut each: Vec<f64> = rates[top].iter().zip(&rates[bottom]).map(|(t, b)| t / b).collect();
        median(&mut each)
    };
    let (beside_after, beside_only) = (ratio(BESIDE, AFTER), ratio(BESIDE, ONLY));
    let [only, after, beside] = rates.map(|mut r| median(&mut r));
    println!(
        "{} on {env_name}, {threads} threads: updates alone {only:.1}/s; training steps with the env step after the batch {after:.1}/s, beside the update {beside:.1}/s; median ratios of a round: beside / after {beside_after:.3}, beside / updates alone {beside_only:.3}",
        algo.name(),
    );
    Ok(())
}
