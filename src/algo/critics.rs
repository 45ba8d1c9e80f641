//! The Q-function ensemble shared by TD3, DDPG and SAC: one or two critics `Q_i(s, a)`, their
//! target copies, and what an update asks of them.
//!
//! An update runs on blocks of the batch's rows, one per thread (see `algo`): the row-by-row work
//! (forward passes, errors, backward δs, ∂Q/∂a) takes a block's [`CriticRows`], and
//! [`Critics::learn`] then turns all the blocks' backward passes into one gradient step.

use super::Trainable;
use crate::nn::{BlocksBy, Mlp, MlpCache};
use crate::parallel::Pool;
use crate::rng::Rng;

/// One critic with its target copy.
pub(crate) struct Member {
    pub(crate) online: Trainable,
    pub(crate) target: Mlp,
    /// Its pass over the whole batch when it takes its step on a thread of its own
    /// ([`Critics::learn_one_per_thread`]).
    whole: Pass,
}

pub(crate) struct Critics {
    obs_dim: usize,
    act_dim: usize,
    pub(crate) members: Vec<Member>,
    whole: Whole,
}

/// The whole batch's rows for [`Critics::learn_one_per_thread`], reused from update to update.
#[derive(Default)]
struct Whole {
    /// `[s | a]` and `[s' | a']`.
    input: Vec<f32>,
    next_input: Vec<f32>,
    /// The Bellman targets.
    y: Vec<f32>,
    /// min_i Q_i(s, ã) and its ∂/∂ã, of the actor's objective.
    q: Vec<f32>,
    action_grad: Vec<f32>,
}

/// A block of rows' scratch for the critics, reused from update to update.
#[derive(Default)]
pub(crate) struct CriticRows {
    /// `[s | a]` rows, the critics' input.
    input: Vec<f32>,
    passes: Vec<Pass>,
    /// min_i Q_i from the last [`Critics::q_and_action_grad`].
    pub(crate) q: Vec<f32>,
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
    /// ∂L/∂Q: of every row for the critic's step; of its `rows` for the actor's objective.
    d_q: Vec<f32>,
    /// The rows where this critic attains min_i Q_i (`route_min`).
    rows: Vec<usize>,
    /// ∂Q/∂a at those rows, compact (`rows.len() × act_dim`).
    action_grad: Vec<f32>,
}

impl Pass {
    /// With Q(s, a) in `cache`: the errors Q − y and the backward pass of their
    /// mean_b (Q_b − y_b)² over a batch of `batch` rows.
    fn errors_backward(&mut self, net: &Mlp, y: &[f32], batch: usize) {
        self.err.clear();
        self.err.extend(self.cache.output().iter().zip(y).map(|(&q, &y)| q - y));
        self.d_q.clear();
        self.d_q.extend(self.err.iter().map(|&e| 2.0 * e / batch as f32));
        net.backward_deltas(&mut self.cache, &self.d_q);
    }
}

// `route_min` and `sum_action_grads` read a block's passes (`[Pass]`) or the critics' passes over
// the whole batch (`[Member]`) in place, so an update collects no vector of references to them.
impl AsRef<Pass> for Pass {
    fn as_ref(&self) -> &Pass {
        self
    }
}

impl AsMut<Pass> for Pass {
    fn as_mut(&mut self) -> &mut Pass {
        self
    }
}

impl AsRef<Pass> for Member {
    fn as_ref(&self) -> &Pass {
        &self.whole
    }
}

impl AsMut<Pass> for Member {
    fn as_mut(&mut self) -> &mut Pass {
        &mut self.whole
    }
}

/// `out[b] = min(out[b], q[b])`.
fn take_min(out: &mut [f32], q: &[f32]) {
    for (o, &v) in out.iter_mut().zip(q) {
        *o = o.min(v);
    }
}

/// `q` = min_i Q_i over the passes' outputs, and the rows where each pass's critic attains it
/// (`rows`; the first critic on ties, as torch.min does): the min sends each sample's gradient
/// through that critic alone, so ∂L/∂Q_i (`d_q`) is 1 at its rows and 0 at the others.
fn route_min<P: AsRef<Pass> + AsMut<Pass>>(passes: &mut [P], q: &mut Vec<f32>) {
    q.clear();
    q.extend_from_slice(passes[0].as_ref().cache.output());
    for pass in &passes[1..] {
        take_min(q, pass.as_ref().cache.output());
    }
    for pass in passes.iter_mut() {
        let pass = pass.as_mut();
        pass.rows.clear();
        room(&mut pass.rows, q.len());
    }
    for (b, &min) in q.iter().enumerate() {
        // A NaN min is no critic's: its row passes no gradient.
        if let Some(pass) = passes.iter_mut().map(|p| p.as_mut()).find(|p| p.cache.output()[b] == min) {
            pass.rows.push(b);
        }
    }
}

/// ∂(Σ_b d_q_b·Q(s_b, a_b))/∂a at the pass's `rows` into `pass.action_grad`, through `net`'s pass
/// in `pass`; the action is the input's `columns`. Only those rows go through the network.
fn action_grad_of(net: &Mlp, pass: &mut Pass, columns: std::ops::Range<usize>) {
    let Pass { cache, d_q, rows, action_grad, .. } = pass;
    let (batch, k) = (cache.output().len(), columns.len());
    d_q.clear();
    room(d_q, batch);
    d_q.resize(rows.len(), 1.0);
    action_grad.clear();
    room(action_grad, batch * k);
    action_grad.resize(rows.len() * k, 0.0);
    if rows.len() == batch {
        // Every row (one critic, or one that took them all): the rows are 0, 1, …
        net.backward_input(cache, d_q, action_grad, columns);
    } else {
        net.backward_input_rows(cache, rows, d_q, action_grad, columns);
    }
}

/// Room in `v` for `n` values: a critic may take more rows than it ever has, and an update
/// allocates nothing once its vectors are the batch's size.
fn room<T>(v: &mut Vec<T>, n: usize) {
    v.reserve(n.saturating_sub(v.len()));
}

/// `out` (`batch × k`) = Σ_i of the passes' `action_grad`, in order: each row's from the critic
/// whose `rows` hold it, added to 0 (every other critic's ∂Q/∂a there).
fn sum_action_grads(passes: &[impl AsRef<Pass>], batch: usize, k: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(batch * k, 0.0);
    for pass in passes {
        let pass = pass.as_ref();
        for (g, &b) in pass.action_grad.chunks_exact(k).zip(&pass.rows) {
            for (o, &x) in out[b * k..(b + 1) * k].iter_mut().zip(g) {
                *o += x;
            }
        }
    }
}

/// Σ e² in f64, in order.
fn squares<'a>(errors: impl IntoIterator<Item = &'a f32>) -> f64 {
    errors.into_iter().map(|&e| (e as f64) * (e as f64)).sum::<f64>()
}

impl Critics {
    pub fn new(n: usize, obs_dim: usize, act_dim: usize, hidden: &[usize], lr: f32, rng: &mut Rng) -> Self {
        let sizes: Vec<usize> = std::iter::once(obs_dim + act_dim).chain(hidden.iter().copied()).chain([1]).collect();
        let members = (0..n)
            .map(|_| {
                let online = Trainable::new(Mlp::new(&sizes, rng), lr);
                Member { target: online.net.clone(), online, whole: Pass::default() }
            })
            .collect();
        Critics { obs_dim, act_dim, members, whole: Whole::default() }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Writes `rows` rows `[s | a]` into `input`.
    fn stack(&self, input: &mut Vec<f32>, obs: &[f32], act: &[f32], rows: usize) {
        let (o, a) = (self.obs_dim, self.act_dim);
        input.resize(rows * (o + a), 0.0);
        for (b, row) in input.chunks_exact_mut(o + a).enumerate() {
            row[..o].copy_from_slice(&obs[b * o..(b + 1) * o]);
            row[o..].copy_from_slice(&act[b * a..(b + 1) * a]);
        }
    }

    /// Writes the block's `[s | a]` rows and makes room for every critic's passes.
    fn fill_input(&self, s: &mut CriticRows, obs: &[f32], act: &[f32], rows: usize) {
        self.stack(&mut s.input, obs, act, rows);
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
                take_min(out, q);
            }
        }
    }

    /// For a block of `rows` rows of a batch of `batch`: each critic's Q(s, a), its error
    /// against `y` and the backward pass of `Σ_i mean_b (Q_i(s_b, a_b) − y_b)²` through it.
    pub(crate) fn errors_backward(&self, s: &mut CriticRows, obs: &[f32], act: &[f32], y: &[f32], batch: usize) {
        let rows = y.len();
        self.fill_input(s, obs, act, rows);
        for (m, pass) in self.members.iter().zip(&mut s.passes) {
            m.online.net.forward(&s.input, rows, &mut pass.cache);
            pass.errors_backward(&m.online.net, y, batch);
        }
    }

    /// One gradient step of every critic from the blocks' [`Critics::errors_backward`] (the
    /// [`CriticRows`] that `rows` picks from each block, in batch order), and with `tau`, the
    /// Polyak update of every target critic after it. Returns (loss, mean Q_1) over the batch.
    pub(crate) fn learn<B: Sync>(
        &mut self,
        blocks: &[B],
        rows: impl Fn(&B) -> &CriticRows + Sync,
        tau: Option<f32>,
        pool: &Pool,
    ) -> (f64, f64) {
        let batch: usize = blocks.iter().map(|b| rows(b).input.len()).sum::<usize>() / (self.obs_dim + self.act_dim);
        let mut loss = 0.0;
        for (i, m) in self.members.iter_mut().enumerate() {
            let passes = BlocksBy::new(blocks.len(), |b| {
                let s = rows(&blocks[b]);
                (&s.input[..], &s.passes[i].cache)
            });
            m.online.learn(&passes, tau.map(|tau| (&mut m.target, tau)), pool);
            // Row by row in batch order, as one pass over the batch would add them.
            loss += squares(blocks.iter().flat_map(|b| &rows(b).passes[i].err));
        }
        let q1 = blocks.iter().flat_map(|b| rows(b).passes[0].cache.output());
        let mean_q = q1.map(|&q| q as f64).sum::<f64>() / batch as f64;
        (loss / batch as f64, mean_q)
    }

    /// Whether [`Critics::learn_one_per_thread`] suits `pool`: one thread per critic. Each
    /// critic's step then runs start to finish on one core, which writes (Adam, Polyak) only
    /// what it has itself just read; sharing every critic's rows out among the threads instead
    /// has each core write parameters both cores have just read (docs/speed.md, "One critic per thread").
    pub(crate) fn one_per_thread(&self, pool: &Pool) -> bool {
        pool.threads() > 1 && pool.threads() == self.len()
    }

    /// The whole critic step with each critic on its own thread of `pool`, over the whole batch:
    /// the target critics at (s', a') `next` and the critics at (s, a) `now` (each `[obs, act]`),
    /// y from min_i Q'_i by `target` (in place), then [`Critics::errors_backward`] and
    /// [`Critics::learn`]'s step. The same arithmetic as those, so the same bits. Returns (loss,
    /// mean Q_1) over the batch.
    pub(crate) fn learn_one_per_thread(
        &mut self,
        now: [&[f32]; 2],
        next: [&[f32]; 2],
        target: impl FnOnce(&mut [f32]),
        tau: Option<f32>,
        pool: &Pool,
    ) -> (f64, f64) {
        let batch = now[0].len() / self.obs_dim;
        let mut whole = std::mem::take(&mut self.whole);
        self.stack(&mut whole.input, now[0], now[1], batch);
        self.stack(&mut whole.next_input, next[0], next[1], batch);
        let Whole { input, next_input, y, .. } = &mut whole;
        // Each critic's forward passes: the target's at (s', a'), its own at (s, a)
        let (input, next_input) = (&input[..], &next_input[..]);
        pool.for_each(&mut self.members, |_, m| {
            m.target.forward(next_input, batch, &mut m.whole.target_cache);
            m.online.net.forward(input, batch, &mut m.whole.cache);
        });
        // y from the min over the target critics (clipped double Q)
        y.clear();
        y.extend_from_slice(self.members[0].whole.target_cache.output());
        for m in &self.members[1..] {
            take_min(y, m.whole.target_cache.output());
        }
        target(y);
        // Each critic's error, backward pass and step (and its target's Polyak update)
        let y = &y[..];
        pool.for_each(&mut self.members, |_, m| {
            let Member { online, target, whole } = m;
            whole.errors_backward(&online.net, y, batch);
            // This thread alone takes the step: a pool of one.
            online.learn(&[(input, &whole.cache)][..], tau.map(|tau| (target, tau)), &Pool::new(1));
        });
        self.whole = whole;
        let loss = self.members.iter().fold(0.0, |sum, m| sum + squares(&m.whole.err));
        let q1 = self.members[0].whole.cache.output();
        let mean_q = q1.iter().map(|&q| q as f64).sum::<f64>() / batch as f64;
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
        let CriticRows { input, passes, q, action_grad } = s;
        let (members, passes) = (&self.members[..n], &mut passes[..n]);
        for (m, pass) in members.iter().zip(passes.iter_mut()) {
            m.online.net.forward(input, rows, &mut pass.cache);
        }
        route_min(passes, q);
        for (m, pass) in members.iter().zip(passes.iter_mut()) {
            action_grad_of(&m.online.net, pass, self.action_columns());
        }
        sum_action_grads(passes, rows, self.act_dim, action_grad);
        q
    }

    /// [`Critics::q_and_action_grad`] of every critic over the whole batch (`obs`, `act`), each
    /// critic's passes on its own thread of `pool` (see [`Critics::one_per_thread`]): the same
    /// arithmetic, so the same bits. Returns (min_i Q_i, ∂/∂a).
    pub(crate) fn q_and_action_grad_one_per_thread(
        &mut self,
        obs: &[f32],
        act: &[f32],
        pool: &Pool,
    ) -> (&[f32], &[f32]) {
        let batch = obs.len() / self.obs_dim;
        let mut whole = std::mem::take(&mut self.whole);
        self.stack(&mut whole.input, obs, act, batch);
        let input = &whole.input[..];
        pool.for_each(&mut self.members, |_, m| {
            m.online.net.forward(input, batch, &mut m.whole.cache);
        });
        route_min(&mut self.members, &mut whole.q);
        let columns = self.action_columns();
        pool.for_each(&mut self.members, |_, m| action_grad_of(&m.online.net, &mut m.whole, columns.clone()));
        sum_action_grads(&self.members, batch, self.act_dim, &mut whole.action_grad);
        self.whole = whole;
        (&self.whole.q, &self.whole.action_grad)
    }

    /// The columns of a critic's input that hold the action.
    fn action_columns(&self) -> std::ops::Range<usize> {
        self.obs_dim..self.obs_dim + self.act_dim
    }

    /// Each critic `critic{i}` (with its Adam state) and its target `critic{i}_target`.
    pub(crate) fn visit(&mut self, v: &mut dyn super::StateVisitor) {
        for (i, m) in self.members.iter_mut().enumerate() {
            m.online.visit(&format!("critic{i}"), v);
            v.tensor(&format!("critic{i}_target"), m.target.params_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::share;

    /// Every tensor of the critics, their targets and Adam state, as bits.
    fn bits(c: &Critics) -> Vec<Vec<u32>> {
        let as_bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        c.members
            .iter()
            .flat_map(|m| [m.online.net.params(), m.target.params(), &m.online.adam.m[..], &m.online.adam.v[..]])
            .map(as_bits)
            .collect()
    }

    #[test]
    fn one_critic_per_thread_takes_the_step_of_shared_rows_bit_for_bit() {
        let (obs_dim, act_dim, batch) = (5, 2, 37);
        let mut rng = Rng::new(3);
        let mut normals = |n: usize| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        let (obs, act, next_obs, next_act) =
            (normals(batch * obs_dim), normals(batch * act_dim), normals(batch * obs_dim), normals(batch * act_dim));
        let rewards = normals(batch);
        let bellman = |y: &mut [f32]| y.iter_mut().zip(&rewards).for_each(|(y, r)| *y = r + 0.9 * *y);
        let fresh = || Critics::new(2, obs_dim, act_dim, &[24, 19], 1e-2, &mut Rng::new(9));
        // The reference: the rows shared out in blocks (here 3, on 2 threads), then one step.
        let mut want = fresh();
        let pool = Pool::new(2);
        let mut results = Vec::new();
        for step in 0..3 {
            let mut blocks: Vec<CriticRows> = (0..3).map(|_| CriticRows::default()).collect();
            for (t, rows) in blocks.iter_mut().enumerate() {
                let r = share(batch, t, 3);
                let (o, a) = (r.start * obs_dim..r.end * obs_dim, r.start * act_dim..r.end * act_dim);
                let mut y = vec![0.0; r.len()];
                want.target_min(rows, &next_obs[o.clone()], &next_act[a.clone()], r.len(), &mut y);
                y.iter_mut().zip(&rewards[r]).for_each(|(y, r)| *y = r + 0.9 * *y);
                want.errors_backward(rows, &obs[o], &act[a], &y, batch);
            }
            results.push(want.learn(&blocks, |b| b, (step != 1).then_some(0.3), &pool));
        }
        for threads in [1, 2] {
            let mut got = fresh();
            let pool = Pool::new(threads);
            for (step, want) in results.iter().enumerate() {
                let (now, next) = ([&obs[..], &act], [&next_obs[..], &next_act]);
                let tau = (step != 1).then_some(0.3);
                let (loss, mean_q) = got.learn_one_per_thread(now, next, bellman, tau, &pool);
                assert_eq!((loss.to_bits(), mean_q.to_bits()), (want.0.to_bits(), want.1.to_bits()), "step {step}");
            }
            assert!(bits(&got) == bits(&want), "{threads} threads: weights, targets or Adam state differ");
        }
        // The test means something: the steps moved the weights and the targets.
        assert!(bits(&want) != bits(&fresh()));
    }

    /// `batch` random rows of s (4 wide) and a (3 wide) from `seed`, and two fresh critics.
    fn two_critics(batch: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Critics) {
        let (obs_dim, act_dim) = (4, 3);
        let mut rng = Rng::new(seed);
        let obs: Vec<f32> = (0..batch * obs_dim).map(|_| rng.normal() as f32).collect();
        let act: Vec<f32> = (0..batch * act_dim).map(|_| rng.normal() as f32).collect();
        (obs, act, Critics::new(2, obs_dim, act_dim, &[16, 11], 1e-2, &mut Rng::new(2)))
    }

    /// ∂min_i Q_i/∂a as its definition reads: every critic's pass over the whole batch, with
    /// ∂L/∂Q_i 1 where critic i is the first to attain the min and 0 elsewhere, summed in order.
    fn masked_whole_passes(critics: &Critics, obs: &[f32], act: &[f32]) -> Vec<f32> {
        let batch = obs.len() / critics.obs_dim;
        let mut input = Vec::new();
        critics.stack(&mut input, obs, act, batch);
        let mut caches = vec![MlpCache::default(); critics.len()];
        let q: Vec<Vec<f32>> = critics
            .members
            .iter()
            .zip(&mut caches)
            .map(|(m, c)| m.online.net.forward(&input, batch, c).to_vec())
            .collect();
        let min: Vec<f32> = (0..batch).map(|b| q.iter().map(|q| q[b]).fold(f32::INFINITY, f32::min)).collect();
        let (mut sum, mut taken) = (Vec::new(), vec![false; batch]);
        for ((m, cache), q_i) in critics.members.iter().zip(&mut caches).zip(&q) {
            let d_q: Vec<f32> = (0..batch).map(|b| (!taken[b] && q_i[b] == min[b]) as u8 as f32).collect();
            taken.iter_mut().zip(&d_q).for_each(|(t, &d)| *t |= d == 1.0);
            let mut grad = vec![0.0; batch * critics.act_dim];
            m.online.net.backward_input(cache, &d_q, &mut grad, critics.action_columns());
            if sum.is_empty() {
                sum = grad;
            } else {
                sum.iter_mut().zip(&grad).for_each(|(s, g)| *s += g);
            }
        }
        sum
    }

    #[test]
    fn tied_critics_send_every_gradient_through_the_first() {
        let batch = 23;
        let (obs, act, mut critics) = two_critics(batch, 6);
        let first = critics.members[0].online.net.params().to_vec();
        critics.members[1].online.net.params_mut().copy_from_slice(&first);
        let want = masked_whole_passes(&critics, &obs, &act);
        let (_, grad) = critics.q_and_action_grad_one_per_thread(&obs, &act, &Pool::new(2));
        let as_bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(as_bits(grad), as_bits(&want));
        assert_eq!(critics.members[0].whole.rows, (0..batch).collect::<Vec<_>>());
        assert!(critics.members[1].whole.rows.is_empty());
    }

    #[test]
    fn one_critic_per_thread_gives_the_actor_objective_of_shared_rows_bit_for_bit() {
        let batch = 29;
        let (obs, act, mut critics) = two_critics(batch, 5);
        let (obs_dim, act_dim) = (critics.obs_dim, critics.act_dim);
        // The same output bias, so that each critic is the lower one on some samples.
        let bias = *critics.members[0].online.net.params().last().unwrap();
        *critics.members[1].online.net.params_mut().last_mut().unwrap() = bias;
        let (mut want_q, mut want_grad) = (Vec::new(), Vec::new());
        for t in 0..3 {
            let r = share(batch, t, 3);
            let (o, a) = (&obs[r.start * obs_dim..r.end * obs_dim], &act[r.start * act_dim..r.end * act_dim]);
            let mut rows = CriticRows::default();
            want_q.extend_from_slice(critics.q_and_action_grad(&mut rows, o, a, r.len(), 2));
            want_grad.extend_from_slice(&rows.action_grad);
        }
        let as_bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for threads in [1, 2] {
            let (q, grad) = critics.q_and_action_grad_one_per_thread(&obs, &act, &Pool::new(threads));
            assert_eq!(as_bits(q), as_bits(&want_q), "{threads} threads: min Q");
            assert_eq!(as_bits(grad), as_bits(&want_grad), "{threads} threads: ∂Q/∂a");
        }
        let first = critics.members[0].whole.cache.output().to_vec();
        assert_eq!(as_bits(&masked_whole_passes(&critics, &obs, &act)), as_bits(&want_grad), "against whole passes");
        let lower_second = first.iter().zip(&want_q).filter(|(q1, q)| q1 != q).count();
        assert!(lower_second > 0 && lower_second < batch, "both critics take some samples' gradient");
    }
}
