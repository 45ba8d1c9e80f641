//! The algorithms: TD3 (and DDPG, TD3 with its tricks switched off) and SAC.
//!
//! Each algorithm owns its networks and writes only its update; what they share — the critic
//! ensemble, the Bellman target, a network with its optimiser — lives here once. The training
//! loop (`crate::train`) drives any of them through [`Agent`].

mod critics;
pub mod sac;

pub mod td3;

pub use critics::Critics;
pub use sac::{Sac, SacConfig};

pub use td3::{Td3, Td3Config};

use crate::nn::{Adam, Mlp};
use crate::replay::Batch;
use serde::{Deserialize, Serialize};

/// Hyperparameters every algorithm shares (defaults: Stable-Baselines3 / the papers').
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommonConfig {
    /// Discount factor γ.
    pub gamma: f64,
    /// Polyak coefficient τ of the target networks (θ' ← τθ + (1−τ)θ').
    pub tau: f64,
    /// Adam learning rate of the actor.
    pub actor_lr: f64,
    /// Adam learning rate of the critics.
    pub critic_lr: f64,
    /// Hidden layer widths of actor and critics (ReLU).
    pub hidden: Vec<usize>,
    /// Threads an update may use (twin critics run concurrently with 2). Never changes results.
    pub threads: usize,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig { gamma: 0.99, tau: 0.005, actor_lr: 3e-4, critic_lr: 3e-4, hidden: vec![256, 256], threads: 1 }
    }
}

/// Whether an action is for training (with exploration) or evaluation (deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActMode {
    Explore,
    Deterministic,
}

/// What one gradient update reports for logging.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UpdateStats {
    pub critic_loss: f64,
    /// Present on updates that also trained the actor.
    pub actor_loss: Option<f64>,
    pub alpha: Option<f64>,
    /// Mean of Q_1(s, a) over the batch.
    pub mean_q: f64,
}

/// An off-policy agent as the training loop sees it. Actions are always normalised to [−1, 1].
pub trait Agent: Send {
    /// Chooses an action for one observation into `action`.
    fn act(&mut self, obs: &[f32], mode: ActMode, rng: &mut crate::rng::Rng, action: &mut [f32]);
    /// One gradient step on a sampled batch.
    fn update(&mut self, batch: &Batch) -> UpdateStats;
    /// Every learned tensor (weights, target weights, optimiser moments, log α), by name.
    fn tensors(&self) -> Vec<(String, &[f32])>;
    fn tensors_mut(&mut self) -> Vec<(String, &mut [f32])>;
    /// Integer state (update count, optimiser step counts, the update noise generator).
    fn counters(&self) -> Vec<(String, u64)>;
    /// Restores one counter saved by [`Agent::counters`]; false if the name is unknown.
    fn set_counter(&mut self, name: &str, value: u64) -> bool;
}

/// A network trained by its own Adam optimiser, with its gradient buffer.
#[derive(Clone, Debug)]
pub struct Trainable {
    pub net: Mlp,
    pub adam: Adam,
    pub grads: Vec<f32>,
}

impl Trainable {
    pub fn new(net: Mlp, lr: f32) -> Self {
        let n = net.n_params();
        Trainable { net, adam: Adam::new(n, lr), grads: vec![0.0; n] }
    }

    /// Applies the gradient in `grads`.
    pub fn step(&mut self) {
        self.adam.step(&mut self.net.params, &self.grads);
    }

    pub(crate) fn push_tensors<'a>(&'a self, name: &str, out: &mut Vec<(String, &'a [f32])>) {
        out.push((name.to_string(), &self.net.params));
        out.push((format!("{name}.adam_m"), &self.adam.m));
        out.push((format!("{name}.adam_v"), &self.adam.v));
    }

    pub(crate) fn push_tensors_mut<'a>(&'a mut self, name: &str, out: &mut Vec<(String, &'a mut [f32])>) {
        out.push((name.to_string(), &mut self.net.params));
        out.push((format!("{name}.adam_m"), &mut self.adam.m));
        out.push((format!("{name}.adam_v"), &mut self.adam.v));
    }
}

/// The one-step Bellman target `y = r + γ·(1 − terminated)·next_value`, in place over
/// `next_value`. Only a true termination stops the bootstrap; time-limit truncations are stored
/// as non-terminal (see `replay`) and so bootstrap as they should.
pub fn bellman_target(rewards: &[f32], terminated: &[f32], gamma: f32, next_value: &mut [f32]) {
    for ((v, &r), &d) in next_value.iter_mut().zip(rewards).zip(terminated) {
        *v = r + gamma * (1.0 - d) * *v;
    }
}

/// Integer view of a generator state for [`Agent::counters`].
pub(crate) fn rng_counters(prefix: &str, rng: &crate::rng::Rng, out: &mut Vec<(String, u64)>) {
    for (i, w) in rng.state().iter().enumerate() {
        out.push((format!("{prefix}.{i}"), *w));
    }
}

/// Sets word `name` (`prefix.i`) of a generator state; true if the name belonged to it.
pub(crate) fn set_rng_counter(prefix: &str, rng: &mut crate::rng::Rng, name: &str, value: u64) -> bool {
    let Some(i) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')).and_then(|i| i.parse::<usize>().ok())
    else {
        return false;
    };
    if i >= 4 {
        return false;
    }
    rng.set_word(i, value);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bellman_target_bootstraps_through_truncation_only() {
        let rewards = [1.0, 1.0, -2.0];
        // Transition 0 terminated; 1 was truncated (stored as not terminated); 2 ordinary.
        let terminated = [1.0, 0.0, 0.0];
        let mut v = [10.0, 10.0, 4.0];
        bellman_target(&rewards, &terminated, 0.99, &mut v);
        assert_eq!(v[0], 1.0);
        assert!((v[1] - 10.9).abs() < 1e-6);
        assert!((v[2] - (-2.0 + 3.96)).abs() < 1e-6);
    }
}
