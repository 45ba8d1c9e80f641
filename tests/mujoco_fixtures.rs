//! The MuJoCo v5 and v4 envs against trajectories recorded from Gymnasium 1.4.0 on the same MuJoCo build
//! (`scripts/fixtures/mujoco.sh`): observations, rewards, every reward term, termination
//! and truncation must agree bit for bit. Compiled only when polyak links MuJoCo
//! (`scripts/setup/mujoco.sh`).
#![cfg(mujoco)]

use polyak::env::mujoco::MujocoEnv;
use polyak::env::{Env, EnvSpec, TimeLimit, SPECS};
use std::collections::BTreeMap;

fn floats(text: &str) -> Vec<f64> {
    text.split_whitespace().map(|v| v.parse().unwrap()).collect()
}

/// Why two float64 vectors differ, or None when they are bitwise equal.
fn bitwise_diff(what: &str, ours: &[f64], theirs: &[f64]) -> Option<String> {
    if ours.len() != theirs.len() {
        return Some(format!("{what}: {} values, Gymnasium {}", ours.len(), theirs.len()));
    }
    let i = ours.iter().zip(theirs).position(|(a, b)| a.to_bits() != b.to_bits())?;
    Some(format!("{what}[{i}]: {:e} vs Gymnasium {:e} (diff {:e})", ours[i], theirs[i], ours[i] - theirs[i]))
}

fn check(name: &str) {
    let text = std::fs::read_to_string(format!("fixtures/mujoco/{name}.txt")).unwrap();
    let spec = EnvSpec::get(name).unwrap();
    let (task, version) = (spec.mujoco_task().unwrap(), spec.mujoco_version().unwrap());
    let mut env = TimeLimit::new(MujocoEnv::versioned(task, version).unwrap(), spec.max_episode_steps);
    let (mut steps, mut resets, mut ends) = (0, 0, 0);
    for (n, line) in text.lines().enumerate() {
        let at = format!("{name} line {}", n + 1);
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "act_low" | "act_high" => {
                let space = env.action_space();
                let ours = if kind == "act_low" { &space.low } else { &space.high };
                let ours: Vec<f64> = ours.iter().map(|&v| v as f64).collect();
                assert_eq!(bitwise_diff(kind, &ours, &floats(rest)), None, "{at}");
            }
            "obs_dim" => assert_eq!(env.observation_space().dim(), rest.parse::<usize>().unwrap(), "{at}"),
            "max_episode_steps" => assert_eq!(env.max_episode_steps(), Some(rest.parse().unwrap()), "{at}"),
            "reset" => {
                let (qpos, qvel) = rest.split_once('|').unwrap();
                env.reset(Some(0));
                env.inner_mut().reset_to(&floats(qpos), &floats(qvel));
                resets += 1;
            }
            "step" => {
                let parts: Vec<&str> = rest.split('|').collect();
                let action: Vec<f32> = floats(parts[0]).iter().map(|&a| a as f32).collect();
                let head: Vec<&str> = parts[1].split_whitespace().collect();
                let s = env.step(&action);
                let reward: f64 = head[0].parse().unwrap();
                assert_eq!(bitwise_diff("reward", &[s.reward], &[reward]), None, "{at}");
                assert_eq!((s.terminated, s.truncated), (head[1] == "1", head[2] == "1"), "{at}: flags");
                let theirs = floats(parts[2]);
                assert_eq!(bitwise_diff("obs", &env.inner_mut().observation(), &theirs), None, "{at}");
                let as_f32: Vec<f32> = theirs.iter().map(|&v| v as f32).collect();
                assert_eq!(s.obs, as_f32, "{at}: float32 observation");
                let ours: BTreeMap<&str, f64> = s.info.iter().copied().collect();
                for term in parts[3].split_whitespace() {
                    let (key, value) = term.split_once('=').unwrap();
                    let mine = ours.get(key).copied().unwrap_or_else(|| panic!("{at}: no info `{key}`"));
                    assert_eq!(bitwise_diff(key, &[mine], &[value.parse().unwrap()]), None, "{at}");
                }
                steps += 1;
                ends += (s.terminated || s.truncated) as usize;
            }
            _ => {}
        }
    }
    assert!(steps >= 40 && resets >= 1, "{name}: fixture too short");
    eprintln!("{name}: {steps} steps, {resets} episodes, {ends} ended, bitwise equal");
}

#[test]
fn every_env_matches_gymnasium_bit_for_bit() {
    for spec in SPECS.iter().filter(|s| s.mujoco_task().is_some()) {
        check(spec.id);
    }
}
