//! TD3 (Fujimoto, van Hoof & Meger 2018, "Addressing Function Approximation Error in
//! Actor-Critic Methods"), with each of its three tricks behind its own switch. With all three
//! off — one critic, `policy_delay = 1`, no target smoothing — it is DDPG (Lillicrap et al. 2016).

use super::critics::CriticRows;
use super::{
    actor_and_critics, bellman_target, visit_rng, ActMode, Agent, CommonConfig, Critics, StateVisitor, Team, Trainable,
    UpdateStats,
};
use crate::nn::elementary;
use crate::nn::{Mlp, MlpCache};
use crate::replay::Batch;
use crate::rng::{normals_from, Rng};
use serde::{Deserialize, Serialize};

/// TD3's own switches (names from the paper and sfujim/TD3). Defaults are TD3's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Td3Config {
    /// Clipped double Q: two critics, the target takes their minimum. Off = one critic.
    pub twin_critics: bool,
    /// Critic updates per actor (and target network) update, d. 1 = no delay.
    pub policy_delay: u32,
    /// Target policy smoothing: std σ̃ of the Gaussian noise on the target action. 0 = off.
    pub target_noise: f64,
    /// Clip c of the smoothing noise.
    pub target_noise_clip: f64,
    /// Std of the Gaussian exploration noise on the normalised action.
    pub exploration_noise: f64,
}

impl Default for Td3Config {
    fn default() -> Self {
        Td3Config {
            twin_critics: true,
            policy_delay: 2,
            target_noise: 0.2,
            target_noise_clip: 0.5,
            exploration_noise: 0.1,
        }
    }
}

impl Td3Config {
    /// DDPG: TD3 with the three tricks off.
    pub fn ddpg() -> Self {
        Td3Config { twin_critics: false, policy_delay: 1, target_noise: 0.0, ..Self::default() }
    }
}

/// One thread's block of an update's rows, its buffers reused from update to update.
#[derive(Default)]
struct Rows {
    /// The target actor's pass at s'.
    target_cache: MlpCache,
    next_action: Vec<f32>,
    /// The smoothing noise's normals, before σ and the clip.
    noise: Vec<f32>,
    /// Bellman targets y.
    y: Vec<f32>,
    critics: CriticRows,
    /// The actor's pass at s, its actions μ(s) and ∂loss/∂(pre-tanh output).
    actor_cache: MlpCache,
    pi: Vec<f32>,
    d_pre: Vec<f32>,
}

pub struct Td3 {
    cfg: Td3Config,
    gamma: f32,
    tau: f32,
    act_dim: usize,
    /// Deterministic policy μ(s) = tanh(MLP(s)).
    actor: Trainable,
    actor_target: Mlp,
    critics: Critics,
    /// Source of the target-smoothing noise.
    noise_rng: Rng,
    updates: u64,
    /// The actor's forward pass when acting.
    act_cache: MlpCache,
    /// The uniforms behind the smoothing noise of the current update (none when it is off).
    uniforms: Vec<f64>,
    /// The whole batch's target actions, when the critics take their steps one per thread.
    next_action: Vec<f32>,
    team: Team<Rows>,
}

impl Td3 {
    pub fn new(obs_dim: usize, act_dim: usize, common: &CommonConfig, cfg: Td3Config, seed: u64) -> Self {
        let mut init = Rng::stream(seed, 0x1417);
        let n_critics = if cfg.twin_critics { 2 } else { 1 };
        let (actor, critics) = actor_and_critics(obs_dim, act_dim, act_dim, n_critics, common, &mut init);
        Td3 {
            actor_target: actor.net.clone(),
            actor,
            critics,
            cfg,
            gamma: common.gamma as f32,
            tau: common.tau as f32,
            act_dim,
            noise_rng: Rng::stream(seed, 0x7D3),
            updates: 0,
            act_cache: MlpCache::default(),
            uniforms: Vec::new(),
            next_action: Vec::new(),
            team: Team::new(common.resolved_threads()),
        }
    }

    /// Critic objective: y = r + γ(1−d)·min_i Q'_i(s', clip(μ'(s') + clip(ε, −c, c), −1, 1)),
    /// one step on it and, with `tau`, the target critics' Polyak update.
    fn update_critics(&mut self, batch: &Batch, tau: Option<f32>, meanwhile: Option<&mut dyn FnMut()>) -> (f64, f64) {
        let (n, k) = (batch.size, self.act_dim);
        // Draw the smoothing noise as uniforms: each block turns its own rows' into clipped
        // normals, so the numbers do not depend on the split
        let (sigma, clip) = (self.cfg.target_noise as f32, self.cfg.target_noise_clip as f32);
        self.uniforms.resize(if sigma > 0.0 { 2 * n * k } else { 0 }, 0.0);
        self.noise_rng.fill_normal_uniforms(&mut self.uniforms);
        let (actor_target, critics, uniforms, gamma) = (&self.actor_target, &self.critics, &self.uniforms, self.gamma);
        let one_per_thread = critics.one_per_thread(&self.team.pool);
        self.team.rows_beside(n, meanwhile, |r, b| {
            let rows = batch.rows(r.clone());
            // Select the next action by the target policy and add clipped noise (target smoothing)
            let pre = actor_target.forward(rows.next_obs, rows.size, &mut b.target_cache);
            b.next_action.resize(pre.len(), 0.0);
            elementary::tanh_all(pre, &mut b.next_action);
            // No uniforms without smoothing noise; tanh is in [−1, 1] already.
            if let Some(u) = uniforms.get(2 * r.start * k..2 * r.end * k) {
                b.noise.resize(pre.len(), 0.0);
                normals_from(u, &mut b.noise);
                for (a, &e) in b.next_action.iter_mut().zip(&b.noise) {
                    *a = (*a + (sigma * e).clamp(-clip, clip)).clamp(-1.0, 1.0);
                }
            }
            if one_per_thread {
                return;
            }
            // Compute the target Q value: the min over the target critics (clipped double Q)
            b.y.resize(rows.size, 0.0);
            critics.target_min(&mut b.critics, rows.next_obs, &b.next_action, rows.size, &mut b.y);
            bellman_target(rows.rewards, rows.terminated, gamma, &mut b.y);
            // Each critic's error (Q − y) and its backward pass
            critics.errors_backward(&mut b.critics, rows.obs, rows.actions, &b.y, n);
        });
        if one_per_thread {
            // The same, and the critics' steps, with each critic on its own thread
            self.team.gather(&mut self.next_action, |b| &b.next_action);
            let bellman = |y: &mut [f32]| bellman_target(&batch.rewards, &batch.terminated, gamma, y);
            let (now, next) = ([&batch.obs[..], &batch.actions], [&batch.next_obs[..], &self.next_action]);
            return self.critics.learn_one_per_thread(now, next, bellman, tau, &self.team.pool);
        }
        // Optimise the critics
        self.critics.learn(&self.team.blocks, |b| &b.critics, tau, &self.team.pool)
    }

    /// Actor objective: maximise Q_1(s, μ(s)), i.e. minimise −mean_b Q_1(s_b, μ(s_b)), over `n`
    /// rows of `obs`. Returns the loss, each block's actor pass left ready for the gradient.
    pub(crate) fn actor_loss(&mut self, obs: &[f32], n: usize) -> f64 {
        let (actor, critics) = (&self.actor.net, &self.critics);
        let width = actor.input_dim();
        // Nothing here reads the critic step's blocks: even shares again
        self.team.even();
        self.team.rows(n, |r, b| {
            let obs = &obs[r.start * width..r.end * width];
            let pre = actor.forward(obs, r.len(), &mut b.actor_cache);
            b.pi.resize(pre.len(), 0.0);
            elementary::tanh_all(pre, &mut b.pi);
            critics.q_and_action_grad(&mut b.critics, obs, &b.pi, r.len(), 1);
            // ∂loss/∂pre = −(1/n)·∂Q/∂a·(1 − tanh²)
            b.d_pre.clear();
            let grad = &b.critics.action_grad;
            b.d_pre.extend(grad.iter().zip(&b.pi).map(|(&g, &a)| -g * (1.0 - a * a) / n as f32));
            actor.backward_deltas(&mut b.actor_cache, &b.d_pre);
        });
        let q = self.team.blocks.iter().flat_map(|b| &b.critics.q);
        -q.map(|&v| v as f64).sum::<f64>() / n as f64
    }
}

impl Agent for Td3 {
    fn update_with(&mut self, batch: &Batch, meanwhile: Option<&mut dyn FnMut()>) -> UpdateStats {
        self.updates += 1;
        // Delayed policy updates: the actor and the frozen target models move every d-th update
        let policy_update = self.updates.is_multiple_of(self.cfg.policy_delay as u64);
        let tau = policy_update.then_some(self.tau);
        // Compute the target Q value and take a critic step (then update the target critics)
        let (critic_loss, mean_q) = self.update_critics(batch, tau, meanwhile);
        let mut actor_loss = None;
        if policy_update {
            // Compute the actor loss, optimise the actor and update the target actor
            actor_loss = Some(self.actor_loss(&batch.obs, batch.size));
            let passes = self.team.passes(&batch.obs, batch.size, |b| &b.actor_cache);
            self.actor.learn(&passes, Some((&mut self.actor_target, self.tau)), &self.team.pool);
        }
        UpdateStats { critic_loss, actor_loss, alpha: None, mean_q }
    }

    fn act(&mut self, obs: &[f32], mode: ActMode, rng: &mut Rng, action: &mut [f32]) {
        let pre = self.actor.net.forward(obs, 1, &mut self.act_cache);
        for (a, &p) in action.iter_mut().zip(pre) {
            *a = elementary::tanh(p);
            if mode == ActMode::Explore {
                *a = (*a + self.cfg.exploration_noise as f32 * rng.normal() as f32).clamp(-1.0, 1.0);
            }
        }
    }

    fn policy_layers(&self) -> Vec<crate::export::Layer> {
        crate::export::policy_layers(&self.actor.net, self.act_dim)
    }

    fn visit_state(&mut self, v: &mut dyn StateVisitor) {
        v.counter("updates", &mut self.updates);
        self.actor.visit("actor", v);
        v.tensor("actor_target", self.actor_target.params_mut());
        self.critics.visit(v);
        visit_rng("noise_rng", &mut self.noise_rng, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize, obs_dim: usize, act_dim: usize, rng: &mut Rng) -> Batch {
        let mut v = |k: usize| (0..k).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        Batch {
            size: n,
            obs: v(n * obs_dim),
            actions: v(n * act_dim).iter().map(|a| a.tanh()).collect(),
            rewards: v(n),
            next_obs: v(n * obs_dim),
            terminated: (0..n).map(|i| (i % 3 == 0) as u8 as f32).collect(),
        }
    }

    /// The actor loss and its gradient in the actor's buffer, as an update computes them.
    fn actor_loss_and_grad(td3: &mut Td3, obs: &[f32], n: usize) -> f64 {
        let loss = td3.actor_loss(obs, n);
        let passes = td3.team.passes(obs, n, |b| &b.actor_cache);
        td3.actor.net.gradient(&passes, &mut td3.actor.grads, &td3.team.pool);
        loss
    }

    #[test]
    fn actor_gradient_matches_finite_differences() {
        // Two threads: the gradient is checked as the blocks of rows compute it.
        let common = CommonConfig { hidden: vec![16, 16], threads: 2, ..Default::default() };
        let mut td3 = Td3::new(3, 2, &common, Td3Config::default(), 5);
        let obs: Vec<f32> = (0..8 * 3).map(|i| ((i * 7) as f32 * 0.13).sin()).collect();
        actor_loss_and_grad(&mut td3, &obs, 8);
        let analytic = td3.actor.grads.values().to_vec();
        let n = td3.actor.net.n_params();
        let mut params = td3.actor.net.params().to_vec();
        let checked = crate::nn::gradcheck::check(&mut params, &analytic, 0..n, 3e-3, |p| {
            td3.actor.net.params_mut().copy_from_slice(p);
            actor_loss_and_grad(&mut td3, &obs, 8)
        });
        assert!(checked > n * 8 / 10, "only {checked} of {n} probes away from kinks");
    }

    #[test]
    fn delay_updates_actor_and_targets_every_d_critic_updates() {
        let common = CommonConfig { hidden: vec![8], ..Default::default() };
        let mut td3 = Td3::new(2, 1, &common, Td3Config { policy_delay: 3, ..Default::default() }, 1);
        let mut rng = Rng::new(0);
        let b = batch(16, 2, 1, &mut rng);
        let target0 = td3.actor_target.params().to_vec();
        let critic_target0 = td3.critics.members[0].target.params().to_vec();
        for k in 1..=6u64 {
            let stats = td3.update(&b);
            assert_eq!(stats.actor_loss.is_some(), k % 3 == 0, "update {k}");
            let moved = td3.actor_target.params() != target0;
            assert_eq!(moved, k >= 3, "actor target after update {k}");
            assert_eq!(td3.critics.members[0].target.params() != critic_target0, k >= 3);
        }
        assert_eq!(td3.critics.len(), 2);
    }

    #[test]
    fn ddpg_has_one_critic_and_updates_actor_every_step() {
        let common = CommonConfig { hidden: vec![8], ..Default::default() };
        let mut ddpg = Td3::new(2, 1, &common, Td3Config::ddpg(), 1);
        assert_eq!(ddpg.critics.len(), 1);
        let b = batch(16, 2, 1, &mut Rng::new(0));
        assert!(ddpg.update(&b).actor_loss.is_some());
        assert!(ddpg.update(&b).actor_loss.is_some());
        assert!(crate::algo::state_of(&mut ddpg).0.keys().all(|n| !n.starts_with("critic1")));
    }

    #[test]
    fn critic_loss_falls_on_a_fixed_batch() {
        let common = CommonConfig { hidden: vec![32, 32], critic_lr: 1e-3, ..Default::default() };
        let mut td3 =
            Td3::new(3, 1, &common, Td3Config { policy_delay: 1000, target_noise: 0.0, ..Default::default() }, 2);
        let b = batch(64, 3, 1, &mut Rng::new(4));
        let first = td3.update(&b).critic_loss;
        let mut last = first;
        for _ in 0..1500 {
            last = td3.update(&b).critic_loss;
        }
        assert!(last < 0.2 * first, "critic loss {first} → {last}");
    }
}
