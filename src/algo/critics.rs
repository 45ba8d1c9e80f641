//! The Q-function ensemble shared by TD3, DDPG and SAC: one or two critics `Q_i(s, a)`, their
//! target copies, and what an update asks of them.
//!
//! An update runs on blocks of the batch's rows, one per thread (see `algo`): the row-by-row work
//! (forward passes, errors, backward δs, ∂Q/∂a) takes a block's [`CriticRows`], and
//! [`Critics::learn`] then turns all the blocks' backward passes into one gradient step.

use super::Trainable;
use crate::nn::{Mlp, MlpCache};
use crate::parallel::Pool;
use crate::rng::Rng;

/// One critic with its target copy.
pub(crate) struct Member {
    pub(crate) online: Trainable,
    pub(crate) target: Mlp,
}

pub(crate) struct Critics {
    obs_dim: usize,
    act_dim: usize,
    pub(crate) members: Vec<Member>,
}

/// A block of rows' scratch for the critics, reused from update to update.
#[derive(Default)]
pub(crate) struct CriticRows {
    /// `[s | a]` rows, the critics' input.
    input: Vec<f32>,
    passes: Vec<Pass>,
    /// min_i Q_i from the last [`Critics::q_and_action_grad`].
    pub(crate) q: Vec<f32>,
    /// Per sample: has an earlier critic already taken the min's gradient?
    taken: Vec<bool>,
    /// ∂Q/∂a (`rows × act_dim`) from the last [`Critics::q_and_action_grad`].
    pub(crate) action_grad: Vec<f32>,
}

/// One critic's passes over a block.
#[derive(Default)]
struct Pass {
    cache: MlpCache,
    target_cache: MlpCache,
    /// Q − y of the last [`Critics::errors_backward`].
    err: Vec<f32>,
    d_q: Vec<f32>,
    action_grad: Vec<f32>,
}

impl Critics {
    pub fn new(n: usize, obs_dim: usize, act_dim: usize, hidden: &[usize], lr: f32, rng: &mut Rng) -> Self {
        let sizes: Vec<usize> = std::iter::once(obs_dim + act_dim).chain(hidden.iter().copied()).chain([1]).collect();
        let members = (0..n)
            .map(|_| {
                let online = Trainable::new(Mlp::new(&sizes, rng), lr);
                Member { target: online.net.clone(), online }
            })
            .collect();
        Critics { obs_dim, act_dim, members }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Writes the block's `[s | a]` rows and makes room for every critic's passes.
    fn fill_input(&self, s: &mut CriticRows, obs: &[f32], act: &[f32], rows: usize) {
        let (o, a) = (self.obs_dim, self.act_dim);
        s.input.resize(rows * (o + a), 0.0);
        for (b, row) in s.input.chunks_exact_mut(o + a).enumerate() {
            row[..o].copy_from_slice(&obs[b * o..(b + 1) * o]);
            row[o..].copy_from_slice(&act[b * a..(b + 1) * a]);
        }
        s.passes.resize_with(self.len(), Pass::default);
    }

    /// `out[b] = min_i Q'_i(s'_b, a'_b)` over the target critics, for a block of `rows` rows
    /// (clipped double Q; with a single critic this is plain `Q'`).
    pub(crate) fn target_min(
        &self,
        s: &mut CriticRows,
        next_obs: &[f32],
        next_act: &[f32],
        rows: usize,
        out: &mut [f32],
    ) {
        self.fill_input(s, next_obs, next_act, rows);
        for (i, (m, pass)) in self.members.iter().zip(&mut s.passes).enumerate() {
            let q = m.target.forward(&s.input, rows, &mut pass.target_cache);
            if i == 0 {
                out.copy_from_slice(q);
            } else {
                for (o, &v) in out.iter_mut().zip(q) {
                    *o = o.min(v);
                }
            }
        }
    }

    /// For a block of `rows` rows of a batch of `batch`: each critic's Q(s, a), its error
    /// against `y` and the backward pass of `Σ_i mean_b (Q_i(s_b, a_b) − y_b)²` through it.
    pub(crate) fn errors_backward(&self, s: &mut CriticRows, obs: &[f32], act: &[f32], y: &[f32], batch: usize) {
        let rows = y.len();
        self.fill_input(s, obs, act, rows);
        for (m, pass) in self.members.iter().zip(&mut s.passes) {
            let q = m.online.net.forward(&s.input, rows, &mut pass.cache);
            pass.err.clear();
            pass.err.extend(q.iter().zip(y).map(|(&q, &y)| q - y));
            pass.d_q.clear();
            pass.d_q.extend(pass.err.iter().map(|&e| 2.0 * e / batch as f32));
            m.online.net.backward_deltas(&mut pass.cache, &pass.d_q);
        }
    }

    /// One gradient step of every critic from the blocks' [`Critics::errors_backward`] (in batch
    /// order), and with `tau`, the Polyak update of every target critic after it. Returns (loss,
    /// mean Q_1) over the batch.
    pub(crate) fn learn(&mut self, blocks: &[&CriticRows], tau: Option<f32>, pool: &Pool) -> (f64, f64) {
        let batch: usize = blocks.iter().map(|s| s.input.len()).sum::<usize>() / (self.obs_dim + self.act_dim);
        let mut loss = 0.0;
        for (i, m) in self.members.iter_mut().enumerate() {
            let passes: Vec<(&[f32], &MlpCache)> = blocks.iter().map(|s| (&s.input[..], &s.passes[i].cache)).collect();
            m.online.learn(&passes, tau.map(|tau| (&mut m.target, tau)), pool);
            // Row by row in batch order, as one pass over the batch would add them.
            let errors = blocks.iter().flat_map(|s| &s.passes[i].err);
            loss += errors.map(|&e| (e as f64) * (e as f64)).sum::<f64>();
        }
        let q1 = blocks.iter().flat_map(|s| s.passes[0].cache.output());
        let mean_q = q1.map(|&q| q as f64).sum::<f64>() / batch as f64;
        (loss / batch as f64, mean_q)
    }

    /// For a block of `rows` rows: min over the first `n` online critics of Q(s, a), and its ∂/∂a
    /// in `s.action_grad` (`rows × act_dim`). SAC's actor objective takes the min of both
    /// critics; TD3's takes the first critic (`n = 1`). No critic weight gradient is computed:
    /// the actor loss does not need one.
    pub(crate) fn q_and_action_grad<'s>(
        &self,
        s: &'s mut CriticRows,
        obs: &[f32],
        act: &[f32],
        rows: usize,
        n: usize,
    ) -> &'s [f32] {
        self.fill_input(s, obs, act, rows);
        let (o, a) = (self.obs_dim, self.act_dim);
        let CriticRows { input, passes, q, taken, action_grad } = s;
        let (members, passes) = (&self.members[..n], &mut passes[..n]);
        for (m, pass) in members.iter().zip(passes.iter_mut()) {
            m.online.net.forward(input, rows, &mut pass.cache);
        }
        q.clear();
        q.extend_from_slice(passes[0].cache.output());
        for pass in &passes[1..] {
            for (q, &v) in q.iter_mut().zip(pass.cache.output()) {
                *q = q.min(v);
            }
        }
        // The min routes each sample's gradient to the critic that attains it (the first one on
        // ties, as torch.min does): a 0/1 mask per critic as its ∂L/∂Q.
        taken.clear();
        taken.resize(rows, false);
        for pass in passes.iter_mut() {
            pass.d_q.resize(rows, 0.0);
            for (((d, t), &qi), &q) in pass.d_q.iter_mut().zip(&mut *taken).zip(pass.cache.output()).zip(&*q) {
                let own = !*t && qi == q;
                *t |= own;
                *d = own as u8 as f32;
            }
        }
        for (m, pass) in members.iter().zip(passes.iter_mut()) {
            pass.action_grad.resize(rows * a, 0.0);
            m.online.net.backward_input(&mut pass.cache, &pass.d_q, &mut pass.action_grad, o..o + a);
        }
        action_grad.clear();
        action_grad.extend_from_slice(&passes[0].action_grad);
        for pass in &passes[1..] {
            for (g, t) in action_grad.iter_mut().zip(&pass.action_grad) {
                *g += t;
            }
        }
        q
    }

    /// Each critic `critic{i}` (with its Adam state) and its target `critic{i}_target`.
    pub(crate) fn visit(&mut self, v: &mut dyn super::StateVisitor) {
        for (i, m) in self.members.iter_mut().enumerate() {
            m.online.visit(&format!("critic{i}"), v);
            v.tensor(&format!("critic{i}_target"), &mut m.target.params);
        }
    }
}
