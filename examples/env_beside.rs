//! Training steps per second, rounds rotating in one process among four ways: updates alone on
//! one batch (as `polyak bench` times them); training steps with the env step after the batch is
//! drawn (as `polyak train` did before); training steps with the env step beside the update
//! (`Agent::update_beside`, as it does now); and the same on one thread (a second agent, env and
//! buffer). Each agent's replay buffer is prefilled with 5,000 random transitions. Both ways of
//! training give the same numbers; this times them, training's share of the update-only rate
//! (the performance work asks ≥ 95%) and training on two threads against one (≥ 1.8×), without
//! the minutes between separate runs that this host's drift puts into `scripts/bench/vs-sb3.sh`'s
//! and `scripts/bench/threads.sh`'s figures. `Cores::check` brackets each round, as in `polyak
//! bench`, so the threads' ratio is also given over the rounds on two whole cores.
//! `cargo run --release --example env_beside -- [sac|td3|ddpg] [threads=2] [rounds=20] [env=HalfCheetah-v5]`
use polyak::algo::{ActMode, Agent, CommonConfig};
use polyak::bench::{build, median, Cores};
use polyak::config::Algo;
use polyak::env::Env;
use polyak::replay::{Batch, ReplayBuffer};
use polyak::rng::Rng;
use polyak::train::env_step_and_update;
use std::time::Instant;

/// As the `polyak` binary: large buffers on cache lines (`polyak::alloc`), so the timings match.
#[global_allocator]
static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;

/// The ways a round runs its steps.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    UpdatesAlone,
    EnvStepAfter,
    EnvStepBeside,
}

/// One agent training on its own env and buffer.
struct Run {
    agent: Box<dyn Agent>,
    env: Box<dyn Env>,
    replay: ReplayBuffer,
    rng: Rng,
    obs: Vec<f32>,
    action: Vec<f32>,
    batch: Batch,
    pending: Vec<usize>,
    /// What updates alone run on: one batch drawn from the buffer.
    fixed: Batch,
}

impl Run {
    fn new(algo: Algo, env_name: &str, threads: usize) -> polyak::Result<Run> {
        let mut env = polyak::env::make(env_name)?;
        let (o, a) = (env.observation_space().dim(), env.action_space().dim());
        let agent = build(algo, o, a, &CommonConfig { threads, ..Default::default() });
        let (mut replay, mut rng) = (ReplayBuffer::new(1_000_000, o, a), Rng::new(3));
        let mut obs = env.reset(Some(0));
        let mut action = vec![0.0f32; a];
        // Env actions are taken as they come from the actor: the env's bounds do not matter here.
        for _ in 0..5000 {
            action.iter_mut().for_each(|x| *x = rng.uniform_range(-1.0, 1.0) as f32);
            let s = env.step(&action);
            replay.push(&obs, &action, s.reward, &s.obs, s.terminated, s.truncated);
            obs = if s.terminated || s.truncated { env.reset(None) } else { s.obs };
        }
        let mut fixed = Batch::default();
        replay.sample(256, &mut rng, &mut fixed);
        Ok(Run { agent, env, replay, rng, obs, action, batch: Batch::default(), pending: Vec::new(), fixed })
    }

    /// `steps` steps of `way`, in steps (or updates) per second.
    fn rate(&mut self, way: Way, steps: usize) -> f64 {
        let clock = Instant::now();
        for _ in 0..steps {
            if way == Way::UpdatesAlone {
                self.agent.update(&self.fixed);
                continue;
            }
            let Run { agent, env, replay, rng, obs, action, batch, pending, .. } = self;
            agent.act(obs, ActMode::Explore, rng, action);
            let mut next = None;
            let mut env_step = |replay: &mut ReplayBuffer| {
                let s = env.step(action);
                replay.push(obs, action, s.reward, &s.obs, s.terminated, s.truncated);
                next = Some(s);
                true
            };
            if way == Way::EnvStepBeside {
                // As `polyak train` steps now.
                env_step_and_update(agent.as_mut(), replay, rng, 256, batch, pending, env_step);
            } else {
                env_step(replay);
                replay.sample(256, rng, batch);
                agent.update(batch);
            }
            let s = next.expect("the env stepped");
            *obs = if s.terminated || s.truncated { env.reset(None) } else { s.obs };
        }
        steps as f64 / clock.elapsed().as_secs_f64()
    }
}

fn main() -> polyak::Result<()> {
    polyak::use_simd_from_env().map_err(polyak::Error::Invalid)?;
    let mut args = std::env::args().skip(1);
    let algo = Algo::from_name(args.next().as_deref().unwrap_or("sac"))?;
    let threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(2);
    let rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let env_name = args.next().unwrap_or_else(|| "HalfCheetah-v5".into());
    let mut run = Run::new(algo, &env_name, threads)?;
    // The one-thread way, where there is another thread count to set it against.
    let mut alone = if threads > 1 { Some(Run::new(algo, &env_name, 1)?) } else { None };
    // Each way: which run takes it (the one-thread run or not), and how it steps. Their indices
    // are the columns of `rates`.
    let ways = [
        (false, Way::UpdatesAlone),
        (false, Way::EnvStepAfter),
        (false, Way::EnvStepBeside),
        (true, Way::EnvStepBeside),
    ];
    const ONLY: usize = 0;
    const AFTER: usize = 1;
    const BESIDE: usize = 2;
    const ONE_THREAD: usize = 3;
    let count = if alone.is_some() { ways.len() } else { ONE_THREAD };
    let mut rates: [Vec<f64>; 4] = Default::default();
    let mut whole = Vec::new();
    let per_round = 200;
    let cores_whole = || threads == 1 || Cores::check().whole();
    // Round 0 warms up; the order rotates so that no way always runs first.
    for round in 0..=rounds {
        let before = cores_whole();
        let mut this = [0.0; 4];
        for k in 0..count {
            let w = (round + k) % count;
            let (one_thread, way) = ways[w];
            let run = if one_thread { alone.as_mut().expect("a one-thread run") } else { &mut run };
            this[w] = run.rate(way, per_round);
        }
        let after = cores_whole();
        if round > 0 {
            for (r, v) in rates.iter_mut().zip(this) {
                r.push(v);
            }
            whole.push(before && after);
        }
    }
    // One round's rates are seconds apart: their ratio, not the ratio of the medians, is what the
    // host's drift leaves alone.
    let ratio = |top: usize, bottom: usize, only_whole: bool| {
        let mut each: Vec<f64> = (0..rates[0].len())
            .filter(|&i| !only_whole || whole[i])
            .map(|i| rates[top][i] / rates[bottom][i])
            .collect();
        (!each.is_empty()).then(|| median(&mut each))
    };
    let some = |r: Option<f64>| r.unwrap_or(f64::NAN);
    let (beside_after, beside_only) = (some(ratio(BESIDE, AFTER, false)), some(ratio(BESIDE, ONLY, false)));
    let [only, after, beside, one] = rates.clone().map(|mut r| if r.is_empty() { f64::NAN } else { median(&mut r) });
    println!(
        "{} on {env_name}, {threads} threads: updates alone {only:.1}/s; training steps with the env step after the batch {after:.1}/s, beside the update {beside:.1}/s; median ratios of a round: beside / after {beside_after:.3}, beside / updates alone {beside_only:.3}",
        algo.name(),
    );
    if alone.is_some() {
        let near = whole.iter().filter(|&&w| w).count();
        let on_whole = match ratio(BESIDE, ONE_THREAD, true) {
            Some(r) => format!("{r:.3} in {near} of {rounds} rounds on two whole cores"),
            None => "no round on two whole cores".into(),
        };
        println!(
            "{} on {env_name}: training steps on 1 thread {one:.1}/s; {threads} threads / 1, median ratio of a round {:.3} ({on_whole})",
            algo.name(),
            some(ratio(BESIDE, ONE_THREAD, false)),
        );
    }
    Ok(())
}
