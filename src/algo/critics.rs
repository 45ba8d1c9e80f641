//! The Q-function ensemble shared by TD3, DDPG and SAC: one or two critics `Q_i(s, a)`, their
//! target copies, and the three things an update asks of them.

use super::Trainable;
use crate::nn::{polyak_update, Mlp, MlpCache};
use crate::rng::Rng;

pub struct Critics {
    obs_dim: usize,
    act_dim: usize,
    pub(crate) nets: Vec<Trainable>,
    pub(crate) targets: Vec<Mlp>,
    caches: Vec<MlpCache>,
    target_cache: MlpCache,
    /// `[s | a]` rows, the critics' input.
    input: Vec<f32>,
    q: Vec<f32>,
    d_q: Vec<f32>,
    grad_tmp: Vec<f32>,
    /// ∂Q/∂a from the last [`Critics::q_and_action_grad`].
    pub(crate) action_grad: Vec<f32>,
}

impl Critics {
    pub fn new(
        n: usize,
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        lr: f32,
        rng: &mut Rng,
    ) -> Self {
        let sizes: Vec<usize> = std::iter::once(obs_dim + act_dim)
            .chain(hidden.iter().copied())
            .chain([1])
            .collect();
        let nets: Vec<Trainable> = (0..n)
            .map(|_| Trainable::new(Mlp::new(&sizes, rng), lr))
            .collect();
        let targets = nets.iter().map(|t| t.net.clone()).collect();
        Critics {
            obs_dim,
            act_dim,
            nets,
            targets,
            caches: vec![MlpCache::default(); n],
            target_cache: MlpCache::default(),
            input: Vec::new(),
            q: Vec::new(),
            d_q: Vec::new(),
            grad_tmp: Vec::new(),
            action_grad: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn fill_input(&mut self, obs: &[f32], act: &[f32], batch: usize) {
        let (o, a) = (self.obs_dim, self.act_dim);
        self.input.resize(batch * (o + a), 0.0);
        for (b, row) in self.input.chunks_exact_mut(o + a).enumerate() {
            row[..o].copy_from_slice(&obs[b * o..(b + 1) * o]);
            row[o..].copy_from_slice(&act[b * a..(b + 1) * a]);
        }
    }

    /// `out[b] = min_i Q'_i(s'_b, a'_b)` over the target critics (clipped double Q; with a single
    /// critic this is plain `Q'`).
    pub fn target_min(
        &mut self,
        next_obs: &[f32],
        next_act: &[f32],
        batch: usize,
        out: &mut [f32],
    ) {
        self.fill_input(next_obs, next_act, batch);
        for (i, target) in self.targets.iter().enumerate() {
            let q = target.forward(&self.input, batch, &mut self.target_cache);
            if i == 0 {
                out.copy_from_slice(q);
            } else {
                for (o, &v) in out.iter_mut().zip(q) {
                    *o = o.min(v);
                }
            }
        }
    }

    /// One gradient step on `Σ_i mean_b (Q_i(s_b, a_b) − y_b)²`. Returns (loss, mean Q_1).
    pub fn train(&mut self, obs: &[f32], act: &[f32], y: &[f32], batch: usize) -> (f64, f64) {
        self.fill_input(obs, act, batch);
        self.d_q.resize(batch, 0.0);
        let (mut loss, mut mean_q) = (0.0f64, 0.0f64);
        for (i, (critic, cache)) in self.nets.iter_mut().zip(&mut self.caches).enumerate() {
            let q = critic.net.forward(&self.input, batch, cache);
            for ((d, &qv), &yv) in self.d_q.iter_mut().zip(q).zip(y) {
                let err = qv - yv;
                loss += (err as f64) * (err as f64);
                *d = 2.0 * err / batch as f32;
                if i == 0 {
                    mean_q += qv as f64;
                }
            }
            critic
                .net
                .backward(&self.input, cache, &self.d_q, &mut critic.grads, None);
            critic.step();
        }
        (loss / batch as f64, mean_q / batch as f64)
    }

    /// Q(s, a) and ∂Q/∂a (in `action_grad`, `batch × act_dim`) with the *online* critics, where
    /// Q is `min_i Q_i` when `use_min` (SAC) and `Q_1` otherwise (TD3/DDPG's actor objective).
    /// No critic weight gradient is computed: the actor loss does not need one.
    pub fn q_and_action_grad(
        &mut self,
        obs: &[f32],
        act: &[f32],
        batch: usize,
        use_min: bool,
    ) -> &[f32] {
        self.fill_input(obs, act, batch);
        let n = if use_min { self.nets.len() } else { 1 };
        let (o, a) = (self.obs_dim, self.act_dim);
        self.q.resize(batch, 0.0);
        for i in 0..n {
            let qi = self.nets[i]
                .net
                .forward(&self.input, batch, &mut self.caches[i]);
            if i == 0 {
                self.q.copy_from_slice(qi);
            } else {
                for (m, &v) in self.q.iter_mut().zip(qi) {
                    *m = m.min(v);
                }
            }
        }
        self.action_grad.resize(batch * a, 0.0);
        self.grad_tmp.resize(batch * a, 0.0);
        self.d_q.resize(batch, 0.0);
        for i in 0..n {
            // The min routes each sample's gradient to the critic that attains it (the first
            // one on ties, as torch.min does).
            let attained_before =
                |b: usize, caches: &[MlpCache]| (0..i).any(|j| caches[j].output()[b] == self.q[b]);
            for b in 0..batch {
                let own = self.caches[i].output()[b] == self.q[b];
                self.d_q[b] = (own && !attained_before(b, &self.caches)) as u8 as f32;
            }
            let out = if i == 0 {
                &mut self.action_grad
            } else {
                &mut self.grad_tmp
            };
            self.nets[i]
                .net
                .backward_input(&mut self.caches[i], &self.d_q, out, o..o + a);
            if i > 0 {
                for (g, t) in self.action_grad.iter_mut().zip(&self.grad_tmp) {
                    *g += t;
                }
            }
        }
        &self.q
    }

    /// Moves every target critic towards its online critic.
    pub fn polyak(&mut self, tau: f32) {
        for (target, online) in self.targets.iter_mut().zip(&self.nets) {
            polyak_update(&mut target.params, &online.net.params, tau);
        }
    }
}
