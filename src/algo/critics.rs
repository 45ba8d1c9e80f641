//! The Q-function ensemble shared by TD3, DDPG and SAC: one or two critics `Q_i(s, a)`, their
//! target copies, and the three things an update asks of them.
//!
//! With two critics and `parallel` set, critic 1 runs on a second thread (one kept for the
//! critics' lifetime) in each of the three operations. Each critic's arithmetic is the same code in the same order either way, so the
//! results are bit-identical to the sequential ones: threads never change a seed's numbers.

use super::Trainable;
use crate::nn::{polyak_update, Mlp, MlpCache};
use crate::parallel::Helper;
use crate::rng::Rng;

/// One critic with its target copy and its own scratch buffers.
pub(crate) struct Member {
    pub(crate) online: Trainable,
    pub(crate) target: Mlp,
    cache: MlpCache,
    target_cache: MlpCache,
    d_q: Vec<f32>,
    action_grad: Vec<f32>,
    /// (Σ (Q − y)², Σ Q) of the last `train`.
    sums: (f64, f64),
}

pub struct Critics {
    obs_dim: usize,
    act_dim: usize,
    helper: Option<Helper>,
    pub(crate) members: Vec<Member>,
    /// `[s | a]` rows, the critics' input.
    input: Vec<f32>,
    q: Vec<f32>,
    /// Per sample: has an earlier critic already taken the min's gradient?
    taken: Vec<bool>,
    /// ∂Q/∂a from the last [`Critics::min_q_and_action_grad`] or [`Critics::q1_and_action_grad`].
    pub(crate) action_grad: Vec<f32>,
}

/// Runs `f` on every member, critic 1 on the helper thread when there is one.
fn for_each(members: &mut [Member], helper: Option<&Helper>, f: impl Fn(usize, &mut Member) + Sync) {
    if let (Some(h), [first, second]) = (helper, &mut *members) {
        h.join(|| f(1, second), || f(0, first));
    } else {
        for (i, m) in members.iter_mut().enumerate() {
            f(i, m);
        }
    }
}

impl Critics {
    pub fn new(
        n: usize,
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        lr: f32,
        parallel: bool,
        rng: &mut Rng,
    ) -> Self {
        let sizes: Vec<usize> = std::iter::once(obs_dim + act_dim).chain(hidden.iter().copied()).chain([1]).collect();
        let members = (0..n)
            .map(|_| {
                let online = Trainable::new(Mlp::new(&sizes, rng), lr);
                Member {
                    target: online.net.clone(),
                    online,
                    cache: MlpCache::default(),
                    target_cache: MlpCache::default(),
                    d_q: Vec::new(),
                    action_grad: Vec::new(),
                    sums: (0.0, 0.0),
                }
            })
            .collect();
        Critics {
            obs_dim,
            act_dim,
            helper: if parallel && n == 2 { Helper::spawn() } else { None },
            members,
            input: Vec::new(),
            q: Vec::new(),
            taken: Vec::new(),
            action_grad: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
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
    pub fn target_min(&mut self, next_obs: &[f32], next_act: &[f32], batch: usize, out: &mut [f32]) {
        self.fill_input(next_obs, next_act, batch);
        let input = &self.input;
        for_each(&mut self.members, self.helper.as_ref(), |_, m| {
            m.target.forward(input, batch, &mut m.target_cache);
        });
        out.copy_from_slice(self.members[0].target_cache.output());
        for m in &self.members[1..] {
            for (o, &v) in out.iter_mut().zip(m.target_cache.output()) {
                *o = o.min(v);
            }
        }
    }

    /// One gradient step on `Σ_i mean_b (Q_i(s_b, a_b) − y_b)²`. Returns (loss, mean Q_1).
    pub fn train(&mut self, obs: &[f32], act: &[f32], y: &[f32], batch: usize) -> (f64, f64) {
        self.fill_input(obs, act, batch);
        let input = &self.input;
        for_each(&mut self.members, self.helper.as_ref(), |_, m| {
            let q = m.online.net.forward(input, batch, &mut m.cache);
            m.d_q.resize(batch, 0.0);
            let (mut sq, mut sum) = (0.0f64, 0.0f64);
            for ((d, &qv), &yv) in m.d_q.iter_mut().zip(q).zip(y) {
                let err = qv - yv;
                sq += (err as f64) * (err as f64);
                sum += qv as f64;
                *d = 2.0 * err / batch as f32;
            }
            m.sums = (sq, sum);
            m.online.net.backward(input, &mut m.cache, &m.d_q, &mut m.online.grads, None);
            m.online.step();
        });
        let loss: f64 = self.members.iter().map(|m| m.sums.0).sum();
        (loss / batch as f64, self.members[0].sums.1 / batch as f64)
    }

    /// min_i Q_i(s, a) over the online critics and its ∂/∂a in `action_grad` (SAC's actor
    /// objective).
    pub fn min_q_and_action_grad(&mut self, obs: &[f32], act: &[f32], batch: usize) -> &[f32] {
        self.q_and_action_grad(obs, act, batch, self.members.len())
    }

    /// Q_1(s, a) and ∂Q_1/∂a in `action_grad`: TD3's actor objective uses the first critic only.
    pub fn q1_and_action_grad(&mut self, obs: &[f32], act: &[f32], batch: usize) -> &[f32] {
        self.q_and_action_grad(obs, act, batch, 1)
    }

    /// min over the first `n` online critics of Q(s, a), and its ∂/∂a (`batch × act_dim`). No
    /// critic weight gradient is computed: the actor loss does not need one.
    fn q_and_action_grad(&mut self, obs: &[f32], act: &[f32], batch: usize, n: usize) -> &[f32] {
        self.fill_input(obs, act, batch);
        let (o, a) = (self.obs_dim, self.act_dim);
        let input = &self.input;
        let members = &mut self.members[..n];
        for_each(members, self.helper.as_ref(), |_, m| {
            m.online.net.forward(input, batch, &mut m.cache);
        });
        self.q.clear();
        self.q.extend_from_slice(members[0].cache.output());
        for m in &members[1..] {
            for (q, &v) in self.q.iter_mut().zip(m.cache.output()) {
                *q = q.min(v);
            }
        }
        // The min routes each sample's gradient to the critic that attains it (the first one on
        // ties, as torch.min does): a 0/1 mask per critic as its ∂L/∂Q.
        self.taken.clear();
        self.taken.resize(batch, false);
        for m in members.iter_mut() {
            m.d_q.resize(batch, 0.0);
            for (((d, t), &qi), &q) in m.d_q.iter_mut().zip(&mut self.taken).zip(m.cache.output()).zip(&self.q) {
                let own = !*t && qi == q;
                *t |= own;
                *d = own as u8 as f32;
            }
        }
        for_each(members, self.helper.as_ref(), |_, m| {
            m.action_grad.resize(batch * a, 0.0);
            m.online.net.backward_input(&mut m.cache, &m.d_q, &mut m.action_grad, o..o + a);
        });
        self.action_grad.clear();
        self.action_grad.extend_from_slice(&members[0].action_grad);
        for m in &members[1..] {
            for (g, t) in self.action_grad.iter_mut().zip(&m.action_grad) {
                *g += t;
            }
        }
        &self.q
    }

    /// Each critic's tensors (`critic{i}`, its Adam moments, `critic{i}_target`) for checkpoints.
    /// Each critic `critic{i}` (with its Adam state) and its target `critic{i}_target`.
    pub(crate) fn visit(&mut self, v: &mut dyn super::StateVisitor) {
        for (i, m) in self.members.iter_mut().enumerate() {
            m.online.visit(&format!("critic{i}"), v);
            v.tensor(&format!("critic{i}_target"), &mut m.target.params);
        }
    }

    /// Moves every target critic towards its online critic.
    pub fn polyak(&mut self, tau: f32) {
        for m in &mut self.members {
            polyak_update(&mut m.target.params, &m.online.net.params, tau);
        }
    }
}
