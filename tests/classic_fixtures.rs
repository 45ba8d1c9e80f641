//! Pendulum-v1 and MountainCarContinuous-v0 against trajectories recorded from Gymnasium 1.4.0
//! (scripts/fixtures/classic.sh): observations and rewards to 1e-5, flags exactly.

use polyak::env::{make, Env, MountainCarContinuous, Pendulum, TimeLimit};

fn parse(line: &str) -> Vec<f64> {
    line.split_whitespace().map(|t| t.parse::<f64>().expect("fixture number")).collect()
}

/// Replays every episode of a fixture; `reset_to` puts the env in the recorded start state.
fn replay<E: Env>(fixture: &str, mut env: TimeLimit<E>, reset_to: fn(&mut E, f64, f64)) -> (usize, usize, usize) {
    let (act_dim, obs_dim) = (env.action_space().dim(), env.observation_space().dim());
    let (mut steps, mut terminations, mut truncations) = (0, 0, 0);
    let mut max_err = 0.0f64;
    for (n, line) in fixture.lines().enumerate().filter(|(_, l)| !l.starts_with('#')) {
        if let Some((key, values)) = line.split_once(' ').filter(|(k, _)| k.contains('_')) {
            check_spec(fixture, key, values);
            continue;
        }
        if let Some(state) = line.strip_prefix("reset ") {
            let s = parse(state);
            env.reset(Some(0));
            reset_to(env.inner_mut(), s[0], s[1]);
            continue;
        }
        let v = parse(line);
        let action: Vec<f32> = v[..act_dim].iter().map(|&a| a as f32).collect();
        let (reward, terminated, truncated) = (v[act_dim], v[act_dim + 1] == 1.0, v[act_dim + 2] == 1.0);
        let want_obs = &v[act_dim + 3..];
        assert_eq!(want_obs.len(), obs_dim);
        let step = env.step(&action);
        let line_no = n + 1;
        assert_eq!((step.terminated, step.truncated), (terminated, truncated), "flags, fixture line {line_no}");
        assert!((step.reward - reward).abs() <= 1e-5, "reward, line {line_no}: {} vs {reward}", step.reward);
        for (got, want) in step.obs.iter().zip(want_obs) {
            let err = (*got as f64 - want).abs();
            max_err = max_err.max(err);
            assert!(err <= 1e-5, "obs, line {line_no}: {:?} vs {want_obs:?}", step.obs);
        }
        steps += 1;
        terminations += terminated as usize;
        truncations += truncated as usize;
    }
    eprintln!("{steps} steps, max obs error {max_err:e}");
    (steps, terminations, truncations)
}

/// Spaces and time limit of the env `make` builds against the recorded Gymnasium spec lines.
fn check_spec(fixture: &str, key: &str, values: &str) {
    let id = fixture.lines().next().and_then(|l| l.strip_prefix("# ")).and_then(|l| l.split(':').next()).unwrap();
    let env = make(id).unwrap();
    let want = parse(values);
    let got: Vec<f64> = match key {
        "obs_low" => env.observation_space().low.iter().map(|&v| v as f64).collect(),
        "obs_high" => env.observation_space().high.iter().map(|&v| v as f64).collect(),
        "act_low" => env.action_space().low.iter().map(|&v| v as f64).collect(),
        "act_high" => env.action_space().high.iter().map(|&v| v as f64).collect(),
        "max_episode_steps" => vec![env.max_episode_steps().unwrap() as f64],
        _ => panic!("unknown fixture line {key}"),
    };
    assert_eq!(got, want, "{id} {key}");
}

#[test]
fn pendulum_matches_gymnasium() {
    let fixture = include_str!("../fixtures/classic/Pendulum-v1.txt");
    let env = TimeLimit::new(Pendulum::new(), 200);
    let (steps, term, trunc) = replay(fixture, env, |e, th, w| {
        e.reset_to(th, w);
    });
    assert_eq!((steps, term, trunc), (300, 0, 1), "fixture should cover a full 200-step episode");
}

#[test]
fn mountain_car_matches_gymnasium() {
    let fixture = include_str!("../fixtures/classic/MountainCarContinuous-v0.txt");
    let env = TimeLimit::new(MountainCarContinuous::new(), 999);
    let (steps, term, trunc) = replay(fixture, env, |e, p, v| {
        e.reset_to(p, v);
    });
    assert!(steps > 1000 && term == 1 && trunc == 1, "{steps} steps, {term} terminations, {trunc} truncations");
}
