//! Plugging your own environment into polyak: implement `Env`, then train on it.
//!
//! The task: a point on a line, pushed by a bounded force, must reach and stay at the origin.
//! Run: `cargo run --release --example custom_env`

use polyak::config::TrainConfig;
use polyak::env::{BoxSpace, Env, Step, TimeLimit};
use polyak::rng::Rng;
use polyak::train::{train_env, TrainOptions};

/// State (x, v); action: force in [−1, 1]; reward −x² − 0.1·u²; terminates if |x| > 5.
struct PointMass {
    x: f64,
    v: f64,
    rng: Rng,
    obs_space: BoxSpace,
    act_space: BoxSpace,
}

impl PointMass {
    fn new() -> Self {
        PointMass {
            x: 0.0,
            v: 0.0,
            rng: Rng::new(0),
            obs_space: BoxSpace::new(vec![f32::NEG_INFINITY; 2], vec![f32::INFINITY; 2]),
            act_space: BoxSpace::new(vec![-1.0], vec![1.0]),
        }
    }
}

impl Env for PointMass {
    fn observation_space(&self) -> &BoxSpace {
        &self.obs_space
    }

    fn action_space(&self) -> &BoxSpace {
        &self.act_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(s) = seed {
            self.rng = Rng::new(s);
        }
        self.x = self.rng.uniform_range(-2.0, 2.0);
        self.v = 0.0;
        vec![self.x as f32, self.v as f32]
    }

    fn step(&mut self, action: &[f32]) -> Step {
        let u = action[0].clamp(-1.0, 1.0) as f64;
        self.v = 0.9 * self.v + 0.1 * u;
        self.x += self.v;
        let terminated = self.x.abs() > 5.0;
        Step {
            obs: vec![self.x as f32, self.v as f32],
            reward: -self.x * self.x - 0.1 * u * u,
            terminated,
            truncated: false,
            info: Vec::new(),
        }
    }
}

/// polyak's allocator, as the `polyak` binary installs it: the same numbers, faster updates
/// (large buffers start on cache lines; `polyak::alloc`).
#[global_allocator]
static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;

fn main() -> polyak::Result<()> {
    let sets: Vec<String> = ["env=\"PointMass\"", "total_steps=6000", "eval_every=2000", "hidden=[64, 64]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cfg = TrainConfig::resolve(Some("td3"), None, &sets)?;
    let make = || -> Box<dyn Env> { Box::new(TimeLimit::new(PointMass::new(), 100)) };
    let dir = std::env::temp_dir().join("polyak-custom-env-example");
    let _ = std::fs::remove_dir_all(&dir);
    let summary = train_env(&cfg, make(), make(), &dir, &TrainOptions::default())?;
    println!("final eval return {:.2} ± {:.2} (run in {})", summary.final_eval.0, summary.final_eval.1, dir.display());
    Ok(())
}
