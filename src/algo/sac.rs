//! SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"): a tanh-squashed
//! Gaussian policy, twin critics with a soft Bellman backup, and the temperature α learned
//! through log α towards a target entropy of −|A|.

use super::critics::CriticRows;
use super::{
    actor_and_critics, bellman_target, visit_adam, visit_rng, ActMode, Agent, CommonConfig, Critics, StateVisitor,
    Team, Trainable, UpdateStats,
};
use crate::nn::{elementary, per_simd_level, Adam, Mlp, MlpCache};
use crate::replay::Batch;
use crate::rng::{normals_from, Rng};
use serde::{Deserialize, Serialize};

/// log σ is clamped to this range (SB3/CleanRL's bounds) so σ never collapses or explodes.
pub const LOG_STD_MIN: f32 = -20.0;
pub const LOG_STD_MAX: f32 = 2.0;
const HALF_LN_2PI: f32 = 0.918_938_5;

/// SAC's own hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SacConfig {
    /// Learn α (true) or keep it fixed at `initial_alpha`.
    pub auto_alpha: bool,
    /// Starting (or fixed) temperature α.
    pub initial_alpha: f64,
    /// Adam learning rate of log α.
    pub alpha_lr: f64,
    /// Entropy the temperature steers towards; default −|A|.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_entropy: Option<f64>,
}

impl Default for SacConfig {
    fn default() -> Self {
        SacConfig { auto_alpha: true, initial_alpha: 1.0, alpha_lr: 3e-4, target_entropy: None }
    }
}

/// Reparameterised tanh-Gaussian sample, row by row. `head` rows are `[mean | log σ]` (log σ
/// before clamping), `eps` the standard-normal noise. Writes `a = tanh(mean + σ·eps)` and
/// `log π(a|s) = Σ_j [log N(u_j; mean_j, σ_j) − log(1 − tanh²u_j)]`, the correction written as
/// `2·(ln 2 − u − softplus(−2u))`, which stays finite where `1 − tanh²u` underflows. `room`
/// keeps each value's σ, which the actor's gradient uses again.
pub fn squashed_sample(
    head: &[f32],
    eps: &[f32],
    act_dim: usize,
    action: &mut [f32],
    logp: &mut [f32],
    room: &mut Squash,
) {
    // The means and the clamped log σ each in one run, so that one loop goes over every value
    let Squash { mean, log_std, sigma, terms } = room;
    mean.clear();
    log_std.clear();
    for row in head.chunks_exact(2 * act_dim) {
        mean.extend_from_slice(&row[..act_dim]);
        log_std.extend(row[act_dim..].iter().map(|l| l.clamp(LOG_STD_MIN, LOG_STD_MAX)));
    }
    sigma.resize(eps.len(), 0.0);
    terms.resize(eps.len(), 0.0);
    squash_values(mean, log_std, eps, action, sigma, terms);
    for (lp, terms) in logp.iter_mut().zip(terms.chunks_exact(act_dim)) {
        *lp = terms.iter().fold(0.0, |lp, t| lp + t);
    }
}

per_simd_level! {
    /// Per value: σ = e^(log σ), u = mean + σ·ε, a = tanh u and the value's term of log π, at the
    /// products' SIMD level (each lane the same operations, so the same bits).
    fn squash_values(mean: &[f32], log_std: &[f32], eps: &[f32], action: &mut [f32], sigma: &mut [f32], terms: &mut [f32]) {
        let values = mean.iter().zip(log_std).zip(eps).zip(action.iter_mut().zip(sigma.iter_mut()).zip(terms.iter_mut()));
        for (((&mean, &log_std), &e), ((a, s), term)) in values {
            *s = elementary::exp(log_std);
            let u = mean + *s * e;
            *a = elementary::tanh(u);
            let log_det = 2.0 * (std::f32::consts::LN_2 - u - softplus(-2.0 * u));
            *term = -0.5 * e * e - log_std - HALF_LN_2PI - log_det;
        }
    }
}

#[inline(always)]
fn softplus(x: f32) -> f32 {
    x.max(0.0) + elementary::ln_1p(elementary::exp(-x.abs()))
}

/// The per-value room of [`squashed_sample`], reused from call to call.
#[derive(Default)]
pub struct Squash {
    mean: Vec<f32>,
    log_std: Vec<f32>,
    /// σ of each value.
    sigma: Vec<f32>,
    /// Each value's term of log π.
    terms: Vec<f32>,
}

/// A reparameterised policy sample for a block of rows: the noise ε, the squashed actions
/// ã = tanh(mean + σ·ε), their log π(ã|s), and the actor's forward pass that the actor gradient
/// goes back through. Its buffers are reused from update to update.
#[derive(Default)]
pub(crate) struct PolicySample {
    cache: MlpCache,
    squash: Squash,
    eps: Vec<f32>,
    actions: Vec<f32>,
    logp: Vec<f32>,
}

impl PolicySample {
    /// Turns `uniforms` (two per value, see [`Rng::fill_normal_uniforms`]) into ε, then samples
    /// (see [`PolicySample::sample`]).
    fn draw(&mut self, actor: &Mlp, obs: &[f32], n: usize, act_dim: usize, uniforms: &[f64]) {
        self.eps.resize(uniforms.len() / 2, 0.0);
        normals_from(uniforms, &mut self.eps);
        self.sample(actor, obs, n, act_dim);
    }

    /// ã ~ π(·|s) and log π(ã|s) at `obs` (`n` rows) with the current ε.
    fn sample(&mut self, actor: &Mlp, obs: &[f32], n: usize, act_dim: usize) {
        let head = actor.forward(obs, n, &mut self.cache);
        self.actions.resize(n * act_dim, 0.0);
        self.logp.resize(n, 0.0);
        squashed_sample(head, &self.eps, act_dim, &mut self.actions, &mut self.logp, &mut self.squash);
    }
}

/// One thread's block of an update's rows, its buffers reused from update to update.
#[derive(Default)]
struct Rows {
    /// The policy sample at s (temperature and actor objectives).
    pi: PolicySample,
    /// The policy sample at s' (the soft Bellman target).
    next: PolicySample,
    /// Bellman targets y.
    y: Vec<f32>,
    critics: CriticRows,
    /// ∂loss/∂[mean | log σ] of the actor's head.
    d_head: Vec<f32>,
}

pub struct Sac {
    cfg: SacConfig,
    gamma: f32,
    tau: f32,
    act_dim: usize,
    /// Policy network: s ↦ [mean | log σ].
    actor: Trainable,
    critics: Critics,
    log_alpha: Vec<f32>,
    alpha_adam: Adam,
    target_entropy: f32,
    /// Source of the reparameterisation noise inside updates.
    noise_rng: Rng,
    updates: u64,
    /// The actor's forward pass when acting.
    act_cache: MlpCache,
    /// The uniforms behind the noise ε of the samples at s and at s' of the current update.
    uniforms_pi: Vec<f64>,
    uniforms_next: Vec<f64>,
    /// The whole batch's actions a' ~ π(·|s') (the critics' step) or ã ~ π(·|s) (the actor's),
    /// when the critics run one per thread.
    actions: Vec<f32>,
    team: Team<Rows>,
}

impl Sac {
    pub fn new(obs_dim: usize, act_dim: usize, common: &CommonConfig, cfg: SacConfig, seed: u64) -> Self {
        let mut init = Rng::stream(seed, 0x5AC);
        let (actor, critics) = actor_and_critics(obs_dim, act_dim, 2 * act_dim, 2, common, &mut init);
        Sac {
            target_entropy: cfg.target_entropy.unwrap_or(-(act_dim as f64)) as f32,
            log_alpha: vec![elementary::ln(cfg.initial_alpha as f32)],
            alpha_adam: Adam::new(1, cfg.alpha_lr as f32),
            cfg,
            gamma: common.gamma as f32,
            tau: common.tau as f32,
            act_dim,
            actor,
            critics,
            noise_rng: Rng::stream(seed, 0x5AC0),
            updates: 0,
            act_cache: MlpCache::default(),
            uniforms_pi: Vec::new(),
            uniforms_next: Vec::new(),
            actions: Vec::new(),
            team: Team::new(common.resolved_threads()),
        }
    }

    pub fn alpha(&self) -> f32 {
        elementary::exp(self.log_alpha[0])
    }

    /// Temperature objective −log α·(log π + H̄) on the sample at s, one step on log α (SB3's
    /// form).
    fn update_alpha(&mut self) {
        if !self.cfg.auto_alpha {
            return;
        }
        let logp = self.team.blocks.iter().flat_map(|b| &b.pi.logp);
        let n = logp.clone().count() as f64;
        let mean = logp.map(|&l| (l + self.target_entropy) as f64).sum::<f64>() / n;
        self.alpha_adam.step(&mut self.log_alpha, &[-mean as f32]);
    }

    /// Actor objective mean_b(α log π(ã_b|s_b) − min_i Q_i(s_b, ã_b)) for the blocks' samples at
    /// `obs` (`n` rows): returns the loss, each block's actor pass left ready for the gradient.
    pub(crate) fn actor_loss(&mut self, obs: &[f32], n: usize, alpha: f32) -> f64 {
        let (actor, k) = (&self.actor.net, self.act_dim);
        let width = actor.input_dim();
        if self.critics.one_per_thread(&self.team.pool) {
            // min_i Q_i and its ∂/∂ã with each critic on its own thread, then the actor's
            // backward pass by rows
            self.team.gather(&mut self.actions, |b| &b.pi.actions);
            let (q, grad) = self.critics.q_and_action_grad_one_per_thread(obs, &self.actions, &self.team.pool);
            self.team.rows(n, |r, Rows { pi, d_head, .. }| {
                actor_deltas(actor, pi, d_head, &grad[r.start * k..r.end * k], alpha, n, k);
            });
            return objective(q, self.team.blocks.iter().flat_map(|b| &b.pi.logp), alpha, n);
        }
        let critics = &self.critics;
        self.team.rows(n, |r, block| {
            let Rows { pi, critics: c, d_head, .. } = block;
            critics.q_and_action_grad(c, &obs[r.start * width..r.end * width], &pi.actions, r.len(), critics.len());
            actor_deltas(actor, pi, d_head, &c.action_grad, alpha, n, k);
        });
        let q = self.team.blocks.iter().flat_map(|b| &b.critics.q);
        objective(q, self.team.blocks.iter().flat_map(|b| &b.pi.logp), alpha, n)
    }
}

/// mean_b(α log π_b − q_b) over a batch of `n` rows, summed in f64 in batch order.
fn objective<'a>(
    q: impl IntoIterator<Item = &'a f32>,
    logp: impl IntoIterator<Item = &'a f32>,
    alpha: f32,
    n: usize,
) -> f64 {
    q.into_iter().zip(logp).map(|(&q, &lp)| (alpha * lp - q) as f64).sum::<f64>() / n as f64
}

/// The actor's backward pass for a block's sample at s (`pi`), from ∂min_i Q_i/∂ã
/// (`action_grad`, the block's rows) and α, for a batch of `n` rows; ∂loss/∂[mean | log σ] goes
/// through `d_head`.
fn actor_deltas(
    actor: &Mlp,
    pi: &mut PolicySample,
    d_head: &mut Vec<f32>,
    action_grad: &[f32],
    alpha: f32,
    n: usize,
    k: usize,
) {
    // With u = mean + σ·eps: ∂log π/∂u = 2·tanh u, ∂ã/∂u = 1 − ã², ∂u/∂log σ = σ·eps, and
    // log π has a further −1 per log σ. The clamp passes no gradient outside its range.
    let head = pi.cache.output();
    let rows = pi.logp.len();
    d_head.resize(rows * 2 * k, 0.0);
    let inv_n = 1.0 / n as f32;
    for b in 0..rows {
        for j in 0..k {
            let i = b * k + j;
            let (a, g_q) = (pi.actions[i], action_grad[i]);
            let d_u = inv_n * (alpha * 2.0 * a - g_q * (1.0 - a * a));
            let raw_log_std = head[b * 2 * k + k + j];
            let in_range = (LOG_STD_MIN..=LOG_STD_MAX).contains(&raw_log_std);
            let sigma_eps = pi.squash.sigma[i] * pi.eps[i];
            d_head[b * 2 * k + j] = d_u;
            d_head[b * 2 * k + k + j] = if in_range { d_u * sigma_eps - alpha * inv_n } else { 0.0 };
        }
    }
    actor.backward_deltas(&mut pi.cache, d_head);
}

impl Agent for Sac {
    fn update_with(&mut self, batch: &Batch, meanwhile: Option<&mut dyn FnMut()>) -> UpdateStats {
        let (n, k) = (batch.size, self.act_dim);
        let alpha = self.alpha();
        // Draw the noise of ã ~ π(·|s), then of a' ~ π(·|s'), as uniforms: each block turns its
        // own rows' into normals, so the numbers do not depend on the split
        for uniforms in [&mut self.uniforms_pi, &mut self.uniforms_next] {
            uniforms.resize(2 * n * k, 0.0);
            self.noise_rng.fill_normal_uniforms(uniforms);
        }

        // Per block of rows: sample ã ~ π(·|s) (one sample serves the temperature and the actor
        // objective, as in SB3); compute the soft target y = r + γ(1−d)(min_i Q'_i(s', a') −
        // α log π(a'|s')), a' ~ π(·|s'); and backpropagate Σ_i mean (Q_i(s, a) − y)²
        let (actor, critics, gamma) = (&self.actor.net, &self.critics, self.gamma);
        let (uniforms_pi, uniforms_next) = (&self.uniforms_pi, &self.uniforms_next);
        let one_per_thread = critics.one_per_thread(&self.team.pool);
        self.team.rows_beside(n, meanwhile, |r, b| {
            let rows = batch.rows(r.clone());
            let uniforms = 2 * r.start * k..2 * r.end * k;
            b.pi.draw(actor, rows.obs, rows.size, k, &uniforms_pi[uniforms.clone()]);
            b.next.draw(actor, rows.next_obs, rows.size, k, &uniforms_next[uniforms]);
            if one_per_thread {
                return;
            }
            b.y.resize(rows.size, 0.0);
            critics.target_min(&mut b.critics, rows.next_obs, &b.next.actions, rows.size, &mut b.y);
            for (v, &lp) in b.y.iter_mut().zip(&b.next.logp) {
                *v -= alpha * lp;
            }
            bellman_target(rows.rewards, rows.terminated, gamma, &mut b.y);
            critics.errors_backward(&mut b.critics, rows.obs, rows.actions, &b.y, n);
        });

        // Temperature step towards the target entropy
        self.update_alpha();

        // Critic step, then move the target critics
        let (critic_loss, mean_q) = if one_per_thread {
            // The soft target and the critics' steps with each critic on its own thread
            let blocks = &self.team.blocks;
            self.team.gather(&mut self.actions, |b| &b.next.actions);
            let soft = |y: &mut [f32]| {
                for (v, &lp) in y.iter_mut().zip(blocks.iter().flat_map(|b| &b.next.logp)) {
                    *v -= alpha * lp;
                }
                bellman_target(&batch.rewards, &batch.terminated, gamma, y);
            };
            let (now, next) = ([&batch.obs[..], &batch.actions], [&batch.next_obs[..], &self.actions]);
            self.critics.learn_one_per_thread(now, next, soft, Some(self.tau), &self.team.pool)
        } else {
            self.critics.learn(&self.team.blocks, |b| &b.critics, Some(self.tau), &self.team.pool)
        };

        // Actor step on α log π − min Q
        let actor_loss = self.actor_loss(&batch.obs, n, alpha);
        let passes = self.team.passes(&batch.obs, n, |b| &b.pi.cache);
        self.actor.learn(&passes, None, &self.team.pool);
        self.updates += 1;
        UpdateStats { critic_loss, actor_loss: Some(actor_loss), alpha: Some(alpha as f64), mean_q }
    }

    fn act(&mut self, obs: &[f32], mode: ActMode, rng: &mut Rng, action: &mut [f32]) {
        let k = self.act_dim;
        let head = self.actor.net.forward(obs, 1, &mut self.act_cache);
        for j in 0..k {
            *action.get_mut(j).expect("action buffer") = match mode {
                // Evaluation acts with the mode of the squashed mean, tanh(mean).
                ActMode::Deterministic => elementary::tanh(head[j]),
                ActMode::Explore => {
                    let log_std = head[k + j].clamp(LOG_STD_MIN, LOG_STD_MAX);
                    elementary::tanh(head[j] + elementary::exp(log_std) * rng.normal() as f32)
                }
            };
        }
    }

    fn policy_layers(&self) -> Vec<crate::export::Layer> {
        crate::export::policy_layers(&self.actor.net, self.act_dim)
    }

    fn visit_state(&mut self, v: &mut dyn StateVisitor) {
        v.counter("updates", &mut self.updates);
        self.actor.visit("actor", v);
        self.critics.visit(v);
        visit_adam("log_alpha", &mut self.log_alpha, &mut self.alpha_adam, v);
        visit_rng("noise_rng", &mut self.noise_rng, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// log π computed directly in f64 from its definition.
    fn direct_logp(mean: f64, log_std: f64, eps: f64) -> f64 {
        let sigma = log_std.exp();
        let u = mean + sigma * eps;
        let normal = -0.5 * ((u - mean) / sigma).powi(2) - log_std - 0.5 * (2.0 * std::f64::consts::PI).ln();
        normal - (1.0 - u.tanh().powi(2)).ln()
    }

    #[test]
    fn log_prob_matches_direct_computation() {
        for &(m, ls, e) in &[(0.3, -0.5, 1.2), (-1.0, 0.4, -0.7), (2.0, 1.5, 0.9), (0.0, -3.0, 0.1)] {
            let (mut a, mut lp) = ([0.0f32], [0.0f32]);
            squashed_sample(&[m as f32, ls as f32], &[e as f32], 1, &mut a, &mut lp, &mut Squash::default());
            let want = direct_logp(m, ls, e);
            assert!((lp[0] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()), "({m},{ls},{e}): {} vs {want}", lp[0]);
            assert!((a[0] as f64 - (m + ls.exp() * e).tanh()).abs() < 1e-6);
        }
    }

    #[test]
    fn saturated_log_std_is_clamped_and_large_u_stays_finite() {
        let (mut a, mut lp) = ([0.0f32; 2], [0.0f32]);
        // log σ = 5 is clamped to 2; mean 12 puts tanh in f32 saturation (1 − tanh² = 0 in f32).
        squashed_sample(&[12.0, 0.0, 5.0, 0.0], &[0.5, 0.0], 2, &mut a, &mut lp, &mut Squash::default());
        let want = direct_logp(12.0, 2.0, 0.5) + direct_logp(0.0, 0.0, 0.0);
        assert!(lp[0].is_finite());
        assert!((lp[0] as f64 - want).abs() < 1e-3 * want.abs(), "{} vs {want}", lp[0]);
        assert_eq!(a[0], 1.0);
    }

    /// A small SAC on two threads (so the actor gradient is checked as the blocks compute it),
    /// eight observations and fixed noise.
    fn setup(log_std_bias: f32) -> (Sac, Vec<f32>, Vec<f32>) {
        let common = CommonConfig { hidden: vec![16, 16], threads: 2, ..Default::default() };
        let mut sac = Sac::new(3, 2, &common, SacConfig::default(), 9);
        // Shift the log σ head's biases so a test can put it inside or beyond the clamp.
        let n = sac.actor.net.n_params();
        for j in 0..2 {
            sac.actor.net.params_mut()[n - 2 + j] += log_std_bias;
        }
        let n = 8;
        let obs: Vec<f32> = (0..n * 3).map(|i| ((i * 5) as f32 * 0.29).cos()).collect();
        let eps = (0..n * 2).map(|i| ((i * 3) as f32 * 0.71).sin()).collect();
        (sac, obs, eps)
    }

    /// The actor loss (and its gradient) at a fixed ε, as the update computes it.
    fn actor_loss(sac: &mut Sac, obs: &[f32], eps: &[f32], alpha: f32) -> f64 {
        let actor = &sac.actor.net;
        sac.team.rows(8, |r, b| {
            b.pi.eps = eps[r.start * 2..r.end * 2].to_vec();
            b.pi.sample(actor, &obs[r.start * 3..r.end * 3], r.len(), 2);
        });
        let loss = sac.actor_loss(obs, 8, alpha);
        let passes = sac.team.passes(obs, 8, |b| &b.pi.cache);
        sac.actor.net.gradient(&passes, &mut sac.actor.grads, &sac.team.pool);
        loss
    }

    #[test]
    fn actor_gradient_matches_finite_differences() {
        let (mut sac, obs, eps) = setup(0.0);
        let alpha = 0.3;
        actor_loss(&mut sac, &obs, &eps, alpha);
        let analytic = sac.actor.grads.values().to_vec();
        let n = sac.actor.net.n_params();
        let mut params = sac.actor.net.params().to_vec();
        let checked = crate::nn::gradcheck::check(&mut params, &analytic, 0..n, 3e-3, |p| {
            sac.actor.net.params_mut().copy_from_slice(p);
            actor_loss(&mut sac, &obs, &eps, alpha)
        });
        assert!(checked > n * 8 / 10, "only {checked} of {n} probes away from kinks");
    }

    #[test]
    fn saturated_log_std_passes_no_gradient() {
        // log σ heads pushed to ≈ 30, far beyond the clamp at 2.
        let (mut sac, obs, eps) = setup(30.0);
        let loss = actor_loss(&mut sac, &obs, &eps, 0.3);
        assert!(loss.is_finite());
        let g = sac.actor.grads.values();
        let n = g.len();
        // Last layer: W (16 × 4, columns [mean0, mean1, logσ0, logσ1]) then b (4).
        let w0 = n - (16 * 4 + 4);
        for r in 0..16 {
            assert_eq!(&g[w0 + r * 4 + 2..w0 + r * 4 + 4], &[0.0, 0.0], "log σ weights, row {r}");
        }
        assert_eq!(&g[n - 2..], &[0.0, 0.0], "log σ biases");
        assert!(g[n - 4..n - 2].iter().all(|&v| v != 0.0), "mean biases still learn");
    }

    #[test]
    fn temperature_falls_when_entropy_is_above_target() {
        let (mut sac, obs, _) = setup(0.0);
        sac.target_entropy = -100.0; // policy entropy is far above: α must decrease
        let b = Batch {
            size: 8,
            obs: obs.clone(),
            actions: vec![0.1; 16],
            rewards: vec![0.0; 8],
            next_obs: obs,
            terminated: vec![0.0; 8],
        };
        let a0 = sac.alpha();
        for _ in 0..10 {
            sac.update(&b);
        }
        assert!(sac.alpha() < a0);
        // One Adam step moves log α by ≈ lr, so ten steps ≈ 10·3e-4.
        assert!(((a0.ln() - sac.alpha().ln()) - 3e-3).abs() < 3e-4);
    }
}
