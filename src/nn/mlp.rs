//! Multi-layer perceptron with ReLU hidden layers and a linear output, with a hand-written
//! backward pass.
//!
//! All weights and biases live in one flat `Vec<f32>` (per layer: `W` as `in × out` row-major,
//! then `b`), so the optimiser, Polyak averaging and checkpoints are single loops over a slice,
//! and gradients have the same layout. Batches are row-major `batch × features`.
//!
//! While the host keeps a VM's two vCPUs far apart, a network whose steps two threads share
//! keeps a second copy of that vector for the helper thread: each thread then reads and writes
//! lines of its own, and streams the values of its share of each step into the other's copy
//! (see `Writes`).

use super::adam::AdamStep;
use super::elementwise::{add_halves, add_rows, claim_lines, copy_streaming, polyak_average, relu_mask};
use super::linalg::{matmul, matmul_rows, Layout, Start};
use super::Adam;
use crate::parallel::{share, slot, Pool};
use crate::rng::Rng;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A fully-connected network `sizes[0] → sizes[1] → … → sizes[L]`.
#[derive(Clone, Debug)]
pub struct Mlp {
    sizes: Vec<usize>,
    /// All parameters, layer by layer: `W_l` (`sizes[l] × sizes[l+1]`) then `b_l`.
    params: Vec<f32>,
    /// The same values again, for the thread in pool slot 1 to read and write while shared steps
    /// go through the copies (`Writes`). Room is made at the first shared step; the values come
    /// when the copies are first taken.
    copy: Vec<f32>,
    /// Whether `copy` holds `params`' values: steps taken through the copies keep it so, and any
    /// other write to the parameters ([`Mlp::params_mut`], a step in place or on one thread)
    /// clears it. Only then does a thread in slot 1 read `copy`.
    copy_current: bool,
}

/// What a block of rows leaves for the weight gradient: each layer's output from
/// [`Mlp::forward`] and each layer's δ from [`Mlp::backward_deltas`]. Reused across calls:
/// after the first call at a batch size nothing is allocated.
#[derive(Clone, Debug, Default)]
pub struct MlpCache {
    batch: usize,
    /// Output of each layer (post-ReLU for hidden layers, raw for the last).
    outs: Vec<Vec<f32>>,
    /// δ_l = ∂L/∂(pre-activation output of layer l), `batch × sizes[l+1]`.
    deltas: Vec<Vec<f32>>,
}

impl MlpCache {
    /// The network output of the last forward pass (`batch × out`).
    pub fn output(&self) -> &[f32] {
        self.outs.last().map(|v| v.as_slice()).unwrap_or(&[])
    }
}

/// A network's gradient, and the room it is made in: a weight gradient is two chains of fused
/// multiply-adds, one over each half of the batch's rows, added (see [`Mlp::learn`]).
#[derive(Clone, Debug, Default)]
pub struct Gradient {
    /// The whole batch's gradient, or the first half's chains where an update on several
    /// threads keeps the halves apart (`Mlp::learn` adds them as its step reads them).
    sum: Vec<f32>,
    /// The second half's chains.
    second: Vec<f32>,
}

impl Gradient {
    /// Room for the gradient of `n` parameters.
    pub fn new(n: usize) -> Self {
        Gradient { sum: vec![0.0; n], second: vec![0.0; n] }
    }

    /// The gradient [`Mlp::gradient`] computed, in the parameters' layout.
    #[cfg(test)]
    pub fn values(&self) -> &[f32] {
        &self.sum
    }
}

impl Mlp {
    /// PyTorch's default `nn.Linear` initialisation: weights and biases ~ U(±1/√fan_in), so a
    /// polyak network starts from the same distribution as an SB3/CleanRL one.
    pub fn new(sizes: &[usize], rng: &mut Rng) -> Self {
        assert!(sizes.len() >= 2 && sizes.iter().all(|&s| s > 0), "bad MLP sizes {sizes:?}");
        let n: usize = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
        let mut params = Vec::with_capacity(n);
        for w in sizes.windows(2) {
            let bound = 1.0 / (w[0] as f64).sqrt();
            for _ in 0..(w[0] * w[1] + w[1]) {
                params.push(rng.uniform_range(-bound, bound) as f32);
            }
        }
        Mlp { sizes: sizes.to_vec(), params, copy: Vec::new(), copy_current: false }
    }

    /// All parameters, layer by layer: `W_l` (`sizes[l] × sizes[l+1]`, row-major) then `b_l`.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The parameters, to be written (a checkpoint's values, a test's). The helper thread's copy
    /// stops counting until a step shared by two threads makes it again.
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.copy_current = false;
        &mut self.params
    }

    /// The parameters this thread reads: the helper thread's own copy on the thread in pool
    /// slot 1 while it holds the same values, else `params`.
    fn weights(&self) -> &[f32] {
        if self.copy_current && slot() == 1 {
            &self.copy
        } else {
            &self.params
        }
    }

    /// Makes `copy` hold the parameters for a step through `copies` copies (2 or more), or marks
    /// it as not holding them (1: the step writes `params` alone). A step shared by `threads`
    /// threads makes room for the copy either way, so that the first step through it, which
    /// comes at the host's whim (`Writes`), allocates nothing.
    fn copy_for(&mut self, threads: usize, copies: usize) {
        if threads > 1 && self.copy.capacity() < self.params.len() {
            self.copy.reserve_exact(self.params.len() - self.copy.len());
        }
        if copies == 1 {
            self.copy_current = false;
        } else if !self.copy_current {
            self.copy.clear();
            self.copy.extend_from_slice(&self.params);
            self.copy_current = true;
        }
    }

    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    pub fn input_dim(&self) -> usize {
        self.sizes[0]
    }

    pub fn output_dim(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    pub fn n_layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Layer `l`'s weights (`sizes[l] × sizes[l+1]`, row-major) and biases.
    pub fn layer(&self, l: usize) -> (&[f32], &[f32]) {
        let (w, b) = self.layer_ranges(l);
        (&self.params[w], &self.params[b])
    }

    /// (weight range, bias range) of layer `l` inside `params`.
    fn layer_ranges(&self, l: usize) -> (Range<usize>, Range<usize>) {
        let start: usize = self.sizes.windows(2).take(l).map(|w| w[0] * w[1] + w[1]).sum();
        let (i, o) = (self.sizes[l], self.sizes[l + 1]);
        (start..start + i * o, start + i * o..start + i * o + o)
    }

    /// Forward pass over `batch` rows of `x`; returns the output (`batch × out`).
    pub fn forward<'c>(&self, x: &[f32], batch: usize, cache: &'c mut MlpCache) -> &'c [f32] {
        assert_eq!(x.len(), batch * self.input_dim(), "forward: input shape");
        if cache.outs.len() != self.n_layers() {
            cache.outs = vec![Vec::new(); self.n_layers()];
        }
        cache.batch = batch;
        let params = self.weights();
        for l in 0..self.n_layers() {
            let (wr, br) = self.layer_ranges(l);
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let (before, rest) = cache.outs.split_at_mut(l);
            let input: &[f32] = if l == 0 { x } else { &before[l - 1] };
            let out = &mut rest[0];
            out.resize(batch * o, 0.0);
            // Every output's chain starts from its bias; hidden layers store ReLU of it.
            let bias = Start::Row(&params[br]);
            let (w, relu) = (&params[wr], l + 1 < self.n_layers());
            matmul_rows(out, input, Layout::AsIs, w, Layout::AsIs, batch, i, o, 0..batch, bias, relu);
        }
        cache.output()
    }

    /// Backward pass of the last `forward` given `d_out` = ∂L/∂output: every layer's δ, kept in
    /// the cache for [`Mlp::gradient`] and [`Mlp::backward_input`]. Row by row, so blocks of a
    /// batch can go through it on different threads.
    pub fn backward_deltas(&self, cache: &mut MlpCache, d_out: &[f32]) {
        let MlpCache { batch, outs, deltas } = cache;
        self.deltas_of(outs, None, *batch, d_out, deltas);
    }

    /// Each layer's δ into `deltas`, from `d_out` for `m` rows of the forward pass whose layer
    /// outputs are `outs`: its rows `rows`, compact (row r is the pass's row `rows[r]`), or all
    /// of them. Rows are independent in a backward pass: a row's δs have the same bits whichever
    /// other rows go with it.
    fn deltas_of(
        &self,
        outs: &[Vec<f32>],
        rows: Option<&[usize]>,
        m: usize,
        d_out: &[f32],
        deltas: &mut Vec<Vec<f32>>,
    ) {
        let layers = self.n_layers();
        assert_eq!(d_out.len(), m * self.output_dim(), "backward: d_out shape");
        let params = self.weights();
        deltas.resize_with(layers, Vec::new);
        deltas[layers - 1].clear();
        deltas[layers - 1].extend_from_slice(d_out);
        for l in (1..layers).rev() {
            let (wr, _) = self.layer_ranges(l);
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            // δ_{l−1} = (δ_l · W_lᵀ) ⊙ relu'(h_{l−1})
            let (below, from) = deltas.split_at_mut(l);
            let prev = &mut below[l - 1];
            prev.resize(m * i, 0.0);
            matmul(prev, &from[0], Layout::AsIs, &params[wr], Layout::Transposed, m, o, i, Start::Zero);
            match rows {
                None => relu_mask(prev, &outs[l - 1]),
                Some(rows) => {
                    for (delta, &b) in prev.chunks_exact_mut(i).zip(rows) {
                        relu_mask(delta, &outs[l - 1][b * i..(b + 1) * i]);
                    }
                }
            }
        }
    }

    /// ∂L/∂x for the input columns `cols` (`d_input` is `batch × cols.len()`), with the δs it goes
    /// through left in the cache: what the actor loss needs from a critic (∂Q/∂a).
    pub fn backward_input(&self, cache: &mut MlpCache, d_out: &[f32], d_input: &mut [f32], cols: Range<usize>) {
        self.backward_deltas(cache, d_out);
        self.input_gradient(&cache.deltas[0], cache.batch, d_input, cols);
    }

    /// [`Mlp::backward_input`] through the rows `rows` of the last forward pass alone, compact:
    /// row r of `d_out` and of `d_input` is the pass's row `rows[r]`, with the bits it has in the
    /// whole pass; the rows left out cost nothing. SAC's actor loss needs this of each critic:
    /// min_i Q_i sends each sample's gradient through one critic. The cache's δs are then the
    /// rows', compact, so no [`Mlp::gradient`] can be taken from it until the next backward pass.
    pub fn backward_input_rows(
        &self,
        cache: &mut MlpCache,
        rows: &[usize],
        d_out: &[f32],
        d_input: &mut [f32],
        cols: Range<usize>,
    ) {
        assert!(rows.iter().all(|&b| b < cache.batch), "backward_input_rows: a row outside the pass");
        let MlpCache { outs, deltas, .. } = cache;
        self.deltas_of(outs, Some(rows), rows.len(), d_out, deltas);
        self.input_gradient(&deltas[0], rows.len(), d_input, cols);
    }

    /// ∂L/∂x for the input columns `cols` of `m` rows, from their first layer's δs `delta`.
    fn input_gradient(&self, delta: &[f32], m: usize, d_input: &mut [f32], cols: Range<usize>) {
        assert_eq!(d_input.len(), m * cols.len(), "backward_input: d_input shape");
        // Rows `cols` of W_0 are the weights of those input columns.
        let (wr, _) = self.layer_ranges(0);
        let o = self.sizes[1];
        let w_cols = &self.weights()[wr.start + cols.start * o..wr.start + cols.end * o];
        matmul(d_input, delta, Layout::AsIs, w_cols, Layout::Transposed, m, o, cols.len(), Start::Zero);
    }

    /// ∂L/∂params into `grads`, from the blocks of one batch, in batch order: each block's input
    /// and its cache after `forward` and `backward_deltas`. Updates use [`Mlp::learn`], which
    /// adds the step; tests check this gradient alone.
    #[cfg(test)]
    pub fn gradient(&self, blocks: &(impl Blocks + ?Sized), grads: &mut Gradient, pool: &Pool) {
        if self.half_chains(blocks, grads, pool) {
            return;
        }
        let threads = pool.threads();
        let (sum, second) = (Disjoint::new(&mut grads.sum), Disjoint::new(&mut grads.second));
        pool.each_thread(|t| {
            for part in parts(&self.sizes, t, threads) {
                // SAFETY: the parts of different threads do not overlap (`parts`).
                add_halves(unsafe { sum.part(part.at.clone()) }, unsafe { second.part(part.at) });
            }
        });
    }

    /// The gradient (as [`Mlp::gradient`]), then one step of `adam` and, with `target`, the
    /// Polyak update `θ' ← θ' + τ·(θ − θ')` of the target network. Two hand-offs between the
    /// threads:
    /// 1. Each weight gradient is two chains of fused multiply-adds, one over each half of the
    ///    batch's rows in batch order. On two threads each thread runs one half's chains, over
    ///    the rows it has just run forward and backward, so it reads what its own core wrote (on
    ///    more threads a half's threads share out its outputs; one thread runs both halves).
    /// 2. Each thread takes the Adam step on its share of the parameters, adding each one's halves
    ///    (first + second) as it reads them, and, with `target`, their Polyak update: in place,
    ///    or, while the threads' cores are far apart, in its own copy of the parameters,
    ///    streaming the new values into the other thread's (`Writes`). The whole gradient is
    ///    then never stored: `grads` holds its halves.
    ///
    /// The halves are the batch's, not the threads': the bits are the same on any number of
    /// threads and whatever the blocks. Every parameter's step reads only its own values, so they
    /// are those of whole-vector steps. Each thread cuts its parts out of the vectors itself, so
    /// nothing is allocated once `grads` is the network's size.
    pub fn learn(
        &mut self,
        blocks: &(impl Blocks + ?Sized),
        grads: &mut Gradient,
        adam: &mut Adam,
        target: Option<(&mut Mlp, f32)>,
        pool: &Pool,
    ) {
        let n = self.params.len();
        assert!(adam.m.len() == n, "learn: Adam state shape");
        assert!(target.as_ref().is_none_or(|(t, _)| t.params.len() == n), "learn: target shape");
        let added = self.half_chains(blocks, grads, pool);
        let threads = pool.threads();
        let step = adam.next_step();
        let tau = target.as_ref().map_or(0.0, |t| t.1);
        // Through the copies, or in place (`Writes`)
        let streamed = WRITES.streamed(threads);
        let copies = if streamed { threads } else { 1 };
        let mut target = target.map(|(t, _)| t);
        for net in std::iter::once(&mut *self).chain(target.as_deref_mut()) {
            net.copy_for(threads, copies);
        }
        let sizes = &self.sizes;
        let net = Copies::new(&mut self.params, &mut self.copy, self.copy_current);
        let (sum, second) = (Disjoint::new(&mut grads.sum), Disjoint::new(&mut grads.second));
        let (m, v) = (Disjoint::new(&mut adam.m), Disjoint::new(&mut adam.v));
        let target = target.map(|t| Copies::new(&mut t.params, &mut t.copy, t.copy_current));
        pool.each_thread(|t| {
            // Only a shared step taken in place is timed (`Writes`).
            let (clock, mut values) = ((threads > 1 && !streamed).then(Instant::now), 0);
            for part in parts(sizes, t, threads) {
                let at = part.at;
                values += at.len();
                // SAFETY (every `part` below): the parts of different threads do not overlap
                // (`parts`), and each thread takes each of its parts once.
                let grad = unsafe { &*sum.part(at.clone()) };
                let second = (!added).then(|| unsafe { &*second.part(at.clone()) });
                let (m, v) = unsafe { (m.part(at.clone()), v.part(at.clone())) };
                let (params, other) = unsafe { net.part(at.clone()) };
                let target = target.as_ref().map(|target| unsafe { target.part(at) });
                let Some(other) = other else {
                    let target = target.map(|(target, _)| (target, tau));
                    step_in_chunks(step, second, grad, params, m, v, target, threads > 1);
                    continue;
                };
                // The step in this thread's copy, then its values streamed into the other copy.
                adam_step(step, params, grad, second, m, v);
                copy_streaming(other, params);
                if let Some((target, other)) = target {
                    polyak_average(target, params, tau);
                    if let Some(other) = other {
                        copy_streaming(other, target);
                    }
                }
            }
            if streamed {
                Writes::streamed_here();
            } else if let Some(clock) = clock.filter(|_| values >= Writes::TIMED_FROM) {
                WRITES.timed(clock.elapsed(), values);
            }
        });
    }

    /// Each half of the batch's chains of the gradient: the first half's into `grads.sum`, the
    /// second's into `grads.second`. One thread with the batch in one block adds them up as it
    /// goes, into `grads.sum` (the tiles keep the first half's chains while they run the
    /// second's, [`Start::Halves`]), and says so: `true`.
    fn half_chains(&self, blocks: &(impl Blocks + ?Sized), grads: &mut Gradient, pool: &Pool) -> bool {
        let n = self.params.len();
        grads.sum.resize(n, 0.0);
        grads.second.resize(n, 0.0);
        let batch: usize = (0..blocks.count()).map(|b| blocks.block(b).1.batch).sum();
        let threads = pool.threads();
        if threads == 1 && blocks.count() == 1 {
            let (x, cache) = blocks.block(0);
            self.both_halves_added(x, cache, grads);
            return true;
        }
        let halves = [Disjoint::new(&mut grads.sum), Disjoint::new(&mut grads.second)];
        pool.each_thread(|t| {
            for (h, (share_of, sharers)) in half_work(t, threads) {
                let rows = share(batch, h, 2);
                for part in parts(&self.sizes, share_of, sharers) {
                    // SAFETY: a half's threads' parts do not overlap (`parts`), and each half has
                    // a vector of its own.
                    part_gradient(&self.sizes, blocks, &rows, &part, unsafe { halves[h].part(part.at.clone()) });
                }
            }
        });
        false
    }

    /// The whole gradient of one block holding the whole batch, on this thread: each weight's two
    /// chains in one pass of the tiles, each bias's two sums added.
    fn both_halves_added(&self, x: &[f32], cache: &MlpCache, grads: &mut Gradient) {
        let (batch, split) = (cache.batch, share(cache.batch, 0, 2).end);
        for part in parts(&self.sizes, 0, 1) {
            let (sum, second) = (&mut grads.sum[part.at.clone()], &mut grads.second[part.at.clone()]);
            let (l, range) = (part.layer, part.range.clone());
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let delta = &cache.deltas[l];
            if part.bias {
                for (out, rows) in [(&mut *sum, 0..split), (&mut *second, split..batch)] {
                    out.fill(0.0);
                    add_rows(out, &delta[rows.start * o..rows.end * o], o, range.start);
                }
                add_halves(sum, second);
            } else {
                let input: &[f32] = if l == 0 { x } else { &cache.outs[l - 1] };
                let (at, bt) = (Layout::Transposed, Layout::AsIs);
                matmul_rows(sum, input, at, delta, bt, i, batch, o, range, Start::Halves(split), false);
            }
        }
    }
}

/// One thread's part of a step taken in place, [`STEP_CHUNK`] values at a time: Adam's step on
/// the gradient (`grad`, or its halves `grad + second`), the target's Polyak update. Every
/// value's arithmetic is that of whole-part loops, so the bits are theirs. With `shared` (other
/// threads run this network's forward passes too), each chunk first claims the lines it will
/// write ([`claim_lines`]): the other core has read the parameters and the target's. On Zen 4
/// that took the step on two threads from 1.1–1.8 ns a value to 0.6–0.7 (docs/speed.md, "Lines
/// claimed before a shared step").
#[allow(clippy::too_many_arguments)]
fn step_in_chunks(
    step: AdamStep,
    second: Option<&[f32]>,
    grad: &[f32],
    params: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    mut target: Option<(&mut [f32], f32)>,
    shared: bool,
) {
    let len = params.len();
    for start in (0..len).step_by(STEP_CHUNK) {
        let r = start..(start + STEP_CHUNK).min(len);
        if shared {
            claim_lines(&mut params[r.clone()]);
            if let Some((target, _)) = &mut target {
                claim_lines(&mut target[r.clone()]);
            }
        }
        let second = second.map(|second| &second[r.clone()]);
        adam_step(step, &mut params[r.clone()], &grad[r.clone()], second, &mut m[r.clone()], &mut v[r.clone()]);
        if let Some((target, tau)) = &mut target {
            polyak_average(&mut target[r.clone()], &params[r], *tau);
        }
    }
}

/// Adam's step on `grad`, or with `second` on the gradient's two halves' chains `grad + second`
/// (added as the step reads them: [`AdamStep::apply_halves`]).
fn adam_step(step: AdamStep, params: &mut [f32], grad: &[f32], second: Option<&[f32]>, m: &mut [f32], v: &mut [f32]) {
    match second {
        Some(second) => step.apply_halves(params, grad, second, m, v),
        None => step.apply(params, grad, m, v),
    }
}

/// Values per chunk of [`step_in_chunks`]: 16 cache lines of each vector.
const STEP_CHUNK: usize = 256;

/// Which half of the batch's rows thread `t` of `threads` runs the gradient's chains over (`h`),
/// and its share of that half's outputs (share `s` of `n`): `(h, (s, n))`. One thread runs both
/// halves; on two, thread 0 runs the first half and thread 1 the second, the halves of the rows
/// the threads' blocks hold when the batch is cut evenly; on more, each half's outputs are
/// shared among half the threads.
fn half_work(t: usize, threads: usize) -> impl Iterator<Item = (usize, (usize, usize))> {
    let halves = if threads == 1 { 0..2 } else { 2 * t / threads..2 * t / threads + 1 };
    halves.map(move |h| {
        if threads == 1 {
            return (h, (0, 1));
        }
        // Thread t is in half h when h·threads ≤ 2t < (h+1)·threads.
        let first = |h: usize| (h * threads).div_ceil(2);
        (h, (t - first(h), first(h + 1) - first(h)))
    })
}

/// The blocks of rows of one batch, in batch order, as a weight gradient reads them: each block's
/// input and its cache after [`Mlp::forward`] and [`Mlp::backward_deltas`].
pub trait Blocks: Sync {
    fn count(&self) -> usize;
    fn block(&self, b: usize) -> (&[f32], &MlpCache);
}

impl Blocks for [(&[f32], &MlpCache)] {
    fn count(&self) -> usize {
        self.len()
    }

    fn block(&self, b: usize) -> (&[f32], &MlpCache) {
        self[b]
    }
}

/// `count` blocks, block `b` being `get(b)`: blocks picked out of an update's scratch without
/// collecting them first.
pub struct BlocksBy<'a, F> {
    count: usize,
    get: F,
    _blocks: PhantomData<&'a ()>,
}

impl<'a, F: Fn(usize) -> (&'a [f32], &'a MlpCache) + Sync> BlocksBy<'a, F> {
    pub fn new(count: usize, get: F) -> Self {
        BlocksBy { count, get, _blocks: PhantomData }
    }
}

impl<'a, F: Fn(usize) -> (&'a [f32], &'a MlpCache) + Sync> Blocks for BlocksBy<'a, F> {
    fn count(&self) -> usize {
        self.count
    }

    fn block(&self, b: usize) -> (&[f32], &MlpCache) {
        (self.get)(b)
    }
}

/// A thread's part of a layer: rows `range` of W, or columns `range` of b, at `at` in the flat
/// vector.
#[derive(Debug)]
struct Part {
    layer: usize,
    bias: bool,
    range: Range<usize>,
    at: Range<usize>,
}

/// Thread `t`'s parts of a network of `sizes` shared among `threads` threads, in the order of the
/// flat vector: for every layer, its rows of W, then its columns of b. The threads' parts tile
/// the vector without overlapping.
fn parts(sizes: &[usize], t: usize, threads: usize) -> impl Iterator<Item = Part> + '_ {
    let layers = sizes.windows(2).enumerate().scan(0, |start, (layer, w)| {
        let (i, o) = (w[0], w[1]);
        let (weights, biases) = (*start, *start + i * o);
        *start += i * o + o;
        Some((layer, i, o, weights, biases))
    });
    layers.flat_map(move |(layer, i, o, weights, biases)| {
        [(false, i, o, weights), (true, o, 1, biases)].map(|(bias, n, width, from)| {
            let range = share(n, t, threads);
            Part { layer, bias, at: from + range.start * width..from + range.end * width, range }
        })
    })
}

/// A vector that several threads write at once, each in its own parts.
struct Disjoint<'a> {
    ptr: *mut f32,
    len: usize,
    _vector: PhantomData<&'a mut [f32]>,
}

// SAFETY: a `Disjoint` hands out slices of the vector it borrows mutably; `part`'s contract
// keeps them from overlapping, whichever threads hold them.
unsafe impl Sync for Disjoint<'_> {}

impl<'a> Disjoint<'a> {
    fn new(v: &'a mut [f32]) -> Self {
        Disjoint { ptr: v.as_mut_ptr(), len: v.len(), _vector: PhantomData }
    }

    /// The values at `at`.
    ///
    /// # Safety
    /// No two slices taken from one `Disjoint` while both are alive may overlap.
    #[allow(clippy::mut_from_ref)]
    unsafe fn part(&self, at: Range<usize>) -> &'a mut [f32] {
        assert!(at.start <= at.end && at.end <= self.len, "part {at:?} of {}", self.len);
        // SAFETY: in bounds (checked), and not overlapping another live part (the caller's promise).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at.start), at.len()) }
    }
}

/// A network's parameters as the threads of a step write them: each thread its own copy (the
/// thread in pool slot 1 the helper's copy, any other `params`), the other copy (while it is
/// kept) getting the new values by a streaming copy.
struct Copies<'a> {
    params: Disjoint<'a>,
    copy: Option<Disjoint<'a>>,
}

impl<'a> Copies<'a> {
    /// A network's `params`, and its `copy` if `current`.
    fn new(params: &'a mut [f32], copy: &'a mut [f32], current: bool) -> Self {
        Copies { params: Disjoint::new(params), copy: current.then(|| Disjoint::new(copy)) }
    }

    /// The values at `at` in this thread's copy, and in the other copy if one is kept.
    ///
    /// # Safety
    /// As [`Disjoint::part`]: no two parts taken while both are alive may overlap.
    unsafe fn part(&self, at: Range<usize>) -> (&'a mut [f32], Option<&'a mut [f32]>) {
        // SAFETY: the caller's promise, for each of the two vectors.
        unsafe {
            let params = self.params.part(at.clone());
            match &self.copy {
                Some(copy) if slot() == 1 => (copy.part(at), Some(params)),
                Some(copy) => (params, Some(copy.part(at))),
                None => (params, None),
            }
        }
    }
}

/// Whether the steps that two threads share write through a second copy of the parameters,
/// streamed past the caches ([`copy_streaming`]), or in place as one vector.
///
/// In place, each thread's step writes lines that the other core has just read (each thread
/// runs the whole network forward for its rows), and a store to such a line waits for that core
/// to give it up. Near each other that costs little (less with the lines claimed first,
/// [`step_in_chunks`]), and the other core then reads the new values from the cache. When the
/// host puts a VM's two vCPUs far apart (a cache line there and back in
/// 300–470 ns instead of 50–90, for tenths of a second to minutes at a time), the steps took 4×
/// as long, and DDPG's two threads ran 1.33× one thread instead of 1.89× (docs/speed.md, "An
/// eleventh run"). With a copy for each thread, each writes its share into its own copy in
/// place and streams it into the other's: no store waits for the far core. But the values then
/// come to the other thread from memory: near each other, DDPG's updates ran 0.97× as fast so.
///
/// So each thread times its share of every step taken in place, per value, against a running
/// mean of the times it took before; two in a row more than [`Writes::SLOWER`] times that turn
/// on the copies for the next [`Writes::STREAM_FOR`] shared steps, and then the steps go back in
/// place and are timed again. (Single slow steps come near too, when the host takes a vCPU for a
/// moment: on one, a quarter of the near rounds took some steps through the copies, and ran
/// 0.96× as fast. The first step in place after the copies is not timed: the other core had read
/// the copy, not these lines, so its writes wait for no one. Measured against the fastest step
/// seen instead of a mean, those steps made every near step look slow.) Either way each value
/// is the same: this moves time, never a number.
struct Writes {
    /// Shared steps still to take through the copies.
    left: AtomicU32,
}

/// The process's: a host places both vCPUs for all of it.
static WRITES: Writes = Writes { left: AtomicU32::new(0) };

thread_local! {
    /// This thread's running mean time per value of its share of a step taken in place, in ns
    /// (NaN before the first), and what its last shared step was.
    static TIMES: Cell<(f64, Last)> = const { Cell::new((f64::NAN, Last::InPlace)) };
    /// Steps that this thread shares go through the copies (`Some(true)`) or in place, whatever
    /// the clocks say: for tests of each path ([`force_shared_steps`]).
    static FORCED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// What a thread's last shared step was, for [`Writes::timed`].
#[derive(Clone, Copy, PartialEq)]
enum Last {
    InPlace,
    /// In place, and more than [`Writes::SLOWER`] times the mean.
    Slow,
    Copies,
}

/// Makes the steps this thread shares with others go through the threads' copies of the
/// parameters (`Some(true)`) or in place (`Some(false)`), or leaves it to the clocks (`None`,
/// the default). For tests: the numbers are the same either way.
#[doc(hidden)]
pub fn force_shared_steps(through_copies: Option<bool>) {
    FORCED.set(through_copies);
}

impl Writes {
    /// How much slower than the running mean an in-place step must be to count as far cores.
    /// Near, DDPG's steps ran 1.21–1.38 ns a value (10th to 90th percentile), far ≈ 4× that;
    /// with their lines claimed first ([`step_in_chunks`]) a far stretch's steps took ≈ 3.2× near
    /// ones, and with the gradient's halves added as read ≈ 3.3× (2.9 against 0.87 ns a value).
    const SLOWER: f64 = 2.5;
    /// The running mean's weight for each new time.
    const WEIGHT: f64 = 1.0 / 16.0;
    /// Shares of fewer values are not timed: they take a few µs, which an interrupt can make
    /// many times longer, and write too little for far cores to matter.
    const TIMED_FROM: usize = 4096;
    /// Shared steps taken through the copies once two in a row were slow.
    const STREAM_FOR: u32 = 64;

    /// Whether a step shared by `threads` threads goes through the copies; counts it if so.
    fn streamed(&self, threads: usize) -> bool {
        if let Some(forced) = FORCED.get() {
            return threads > 1 && forced;
        }
        threads > 1 && self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }

    /// This thread's share of a step taken in place, `values` long, took `took`.
    fn timed(&self, took: Duration, values: usize) {
        let ns = took.as_nanos() as f64 / values.max(1) as f64;
        let (mean, last) = TIMES.get();
        if last == Last::Copies {
            TIMES.set((mean, Last::InPlace));
        } else if mean.is_nan() {
            TIMES.set((ns, Last::InPlace));
        } else if ns > Self::SLOWER * mean {
            // Far, or a moment's pause: not a time to learn the near ones' mean from.
            if last == Last::Slow {
                self.left.store(Self::STREAM_FOR, Ordering::Relaxed);
            }
            TIMES.set((mean, Last::Slow));
        } else {
            TIMES.set((mean + Self::WEIGHT * (ns - mean), Last::InPlace));
        }
    }

    /// This thread's share of a step went through the copies.
    fn streamed_here() {
        TIMES.set((TIMES.get().0, Last::Copies));
    }

    /// Runs `f` with the steps this thread shares taken through the copies (`true`) or in place.
    #[cfg(test)]
    fn forced<R>(streamed: bool, f: impl FnOnce() -> R) -> R {
        force_shared_steps(Some(streamed));
        let r = f();
        force_shared_steps(None);
        r
    }
}

/// One part's chain over rows `rows` of the batch, from the blocks' passes: the chain runs through
/// the blocks' rows within `rows`, in batch order.
fn part_gradient(sizes: &[usize], blocks: &(impl Blocks + ?Sized), rows: &Range<usize>, part: &Part, out: &mut [f32]) {
    let (l, range) = (part.layer, part.range.clone());
    let (i, o) = (sizes[l], sizes[l + 1]);
    if part.bias {
        out.fill(0.0);
    }
    let (mut block_start, mut chained) = (0, false);
    for b in 0..blocks.count() {
        let (x, cache) = blocks.block(b);
        let block = block_start..block_start + cache.batch;
        block_start = block.end;
        // This block's rows within `rows`
        let (from, to) = (block.start.max(rows.start), block.end.min(rows.end));
        if from >= to {
            continue;
        }
        let r = from - block.start..to - block.start;
        let delta = &cache.deltas[l][r.start * o..r.end * o];
        if part.bias {
            // ∂L/∂b = Σ_rows δ, row by row in batch order
            add_rows(out, delta, o, range.start);
        } else {
            // ∂L/∂W = inputᵀ · δ, the chain continued from block to block
            let input: &[f32] = if l == 0 { x } else { &cache.outs[l - 1] };
            let input = &input[r.start * i..r.end * i];
            let start = if chained { Start::Old } else { Start::Zero };
            matmul_rows(
                out,
                input,
                Layout::Transposed,
                delta,
                Layout::AsIs,
                i,
                r.len(),
                o,
                range.clone(),
                start,
                false,
            );
            chained = true;
        }
    }
    if !part.bias && !chained {
        // No rows (the first half of a batch of one): no terms
        out.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L = Σ c ⊙ f(x): a loss whose ∂L/∂output is simply `c`.
    fn loss(net: &Mlp, x: &[f32], batch: usize, c: &[f32]) -> f64 {
        let mut cache = MlpCache::default();
        net.forward(x, batch, &mut cache).iter().zip(c).map(|(a, b)| (*a as f64) * (*b as f64)).sum()
    }

    fn setup() -> (Mlp, Vec<f32>, Vec<f32>, usize) {
        setup_sized(&[5, 8, 7, 3])
    }

    /// A network of `sizes`, a batch of 4 inputs and output gradients for it.
    fn setup_sized(sizes: &[usize]) -> (Mlp, Vec<f32>, Vec<f32>, usize) {
        let mut rng = Rng::new(1);
        let net = Mlp::new(sizes, &mut rng);
        let batch = 4;
        let (i, o) = (sizes[0], sizes[sizes.len() - 1]);
        let x: Vec<f32> = (0..batch * i).map(|_| rng.normal() as f32).collect();
        let c: Vec<f32> = (0..batch * o).map(|_| rng.normal() as f32).collect();
        (net, x, c, batch)
    }

    /// A gradient's room filled with NaN, so that a value left unwritten shows.
    fn nan_gradient(n: usize) -> Gradient {
        Gradient { sum: vec![f32::NAN; n], second: vec![f32::NAN; n] }
    }

    /// Forward, then the full backward pass: (cache, parameter gradients, input gradients).
    fn full_backward(net: &Mlp, x: &[f32], c: &[f32], batch: usize) -> (MlpCache, Vec<f32>, Vec<f32>) {
        let mut cache = MlpCache::default();
        net.forward(x, batch, &mut cache);
        let mut dx = vec![0.0; x.len()];
        net.backward_input(&mut cache, c, &mut dx, 0..net.input_dim());
        let mut grads = Gradient::new(net.n_params());
        net.gradient(&[(x, &cache)][..], &mut grads, &Pool::new(1));
        (cache, grads.values().to_vec(), dx)
    }

    #[test]
    fn the_threads_parts_tile_the_parameters_without_overlap() {
        // What `learn`'s unsafe cutting relies on: every value in exactly one thread's part.
        for sizes in [vec![3, 5, 1], vec![17, 256, 256, 12], vec![1, 1], vec![23, 7, 400, 1]] {
            let net = Mlp::new(&sizes, &mut Rng::new(0));
            for threads in 1..=4 {
                let mut owner = vec![None; net.n_params()];
                for t in 0..threads {
                    for part in parts(&sizes, t, threads) {
                        let (w, b) = net.layer_ranges(part.layer);
                        let within = if part.bias { b } else { w };
                        assert!(
                            within.start <= part.at.start && part.at.end <= within.end,
                            "{part:?} outside its layer"
                        );
                        for o in &mut owner[part.at] {
                            assert!(o.replace(t).is_none(), "{sizes:?} on {threads} threads: a value in two parts");
                        }
                    }
                }
                assert!(owner.iter().all(Option::is_some), "{sizes:?} on {threads} threads: a value in no part");
            }
        }
    }

    #[test]
    fn learn_is_the_gradient_an_adam_step_and_the_polyak_update_on_any_threads() {
        // A small network, and one whose threads' parts of a layer span several chunks of a
        // step (`STEP_CHUNK`), the last one ragged.
        for sizes in [&[5, 8, 7, 3][..], &[5, 40, 33, 3]] {
            learn_matches_whole_vector_steps(sizes);
        }
    }

    fn learn_matches_whole_vector_steps(sizes: &[usize]) {
        let (net, x, c, batch) = setup_sized(sizes);
        let (cache, grads, _) = full_backward(&net, &x, &c, batch);
        // The reference: one whole-vector Adam step, then θ' ← θ' + τ(θ − θ') element by element.
        let mut adam = Adam::new(net.n_params(), 1e-3);
        (adam.m, adam.v) = ((0..net.n_params()).map(|i| (i as f32).sin() * 1e-3).collect(), vec![1e-6; net.n_params()]);
        let mut want = net.clone();
        let mut want_adam = adam.clone();
        want_adam.step(&mut want.params, &grads);
        let target0 = Mlp::new(net.sizes(), &mut Rng::new(5));
        let tau = 0.37;
        let want_target: Vec<f32> = target0.params.iter().zip(&want.params).map(|(&t, &o)| t + tau * (o - t)).collect();
        // In place and through the helper's copy (`Writes`), on one to three threads.
        for (threads, streamed) in [(1, false), (2, false), (2, true), (3, false), (3, true)] {
            let (mut online, mut target, mut adam) = (net.clone(), target0.clone(), adam.clone());
            let mut g = nan_gradient(net.n_params());
            let pool = Pool::new(threads);
            Writes::forced(streamed, || {
                online.learn(&[(&x[..], &cache)][..], &mut g, &mut adam, Some((&mut target, tau)), &pool)
            });
            assert_eq!(online.copy_current, streamed, "{threads} threads");
            let bits =
                |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            let at = format!("{sizes:?}, {threads} threads, streamed: {streamed}");
            // The moments are the gradient's bits in each value's step (m = β₁m + (1 − β₁)g).
            let moments = bits(&adam.m, &want_adam.m) && bits(&adam.v, &want_adam.v);
            assert!(bits(&online.params, &want.params) && moments, "{at}: step");
            assert!(bits(&target.params, &want_target), "{at}: target");
            if streamed {
                assert!(bits(&online.copy, &want.params) && bits(&target.copy, &want_target), "{at}: copies");
            }
            assert_eq!(adam.t, 1);
        }
    }

    /// Two shares of in-place steps in a row, each more than `SLOWER` times the running mean per
    /// value, send the next `STREAM_FOR` shared steps through the copies; then they go back in
    /// place. The first in-place step after the copies is not timed.
    #[test]
    fn slow_steps_in_place_send_the_next_shared_steps_through_the_copies() {
        // This test's thread has timed nothing yet.
        let w = Writes { left: AtomicU32::new(0) };
        let took = Duration::from_nanos;
        assert!(!w.streamed(2));
        w.timed(took(1000), 1000);
        w.timed(took(2400), 1000);
        assert!(!w.streamed(2), "2.4× the mean is near enough");
        // The mean moved a sixteenth of the way to 2.4: 1.0875 ns a value.
        w.timed(took(2700), 1000);
        assert!(!w.streamed(2), "2.48× the mean");
        // Now 1.188: 3.5 ns a value is 2.95× that, but one slow step alone is a pause.
        w.timed(took(3500), 1000);
        w.timed(took(1200), 1000);
        w.timed(took(3500), 1000);
        assert!(!w.streamed(2), "slow steps apart");
        w.timed(took(3500), 1000);
        assert!(!w.streamed(1), "a step on one thread has no copy to write");
        for k in 0..Writes::STREAM_FOR {
            assert!(w.streamed(2), "shared step {k}");
            Writes::streamed_here();
        }
        assert!(!w.streamed(2), "then in place again");
        // The first step in place after the copies does not count, fast or slow; then they do,
        // per value: a longer share is not a slower one.
        w.timed(took(9000), 1000);
        w.timed(took(4000), 2000);
        w.timed(took(5000), 1000);
        assert!(!w.streamed(2));
        w.timed(took(10000), 2000);
        assert!(w.streamed(2));
    }

    /// A step shared by two threads through the copies (`Writes`) leaves the helper's copy of the
    /// parameters (the online network's and the target's) with the parameters' bits, and the
    /// thread in slot 1 reads it; any other write to the parameters (`params_mut`, a step on one
    /// thread) stops that.
    #[test]
    fn a_step_on_two_threads_keeps_the_helpers_copy_which_that_thread_reads() {
        use crate::parallel::in_slot;
        let (net, x, c, batch) = setup();
        let (mut online, mut target) = (net.clone(), Mlp::new(net.sizes(), &mut Rng::new(5)));
        let mut adam = Adam::new(net.n_params(), 1e-3);
        let mut g = Gradient::new(net.n_params());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let output = |net: &Mlp, slot: usize| in_slot(slot, || bits(net.forward(&x, batch, &mut MlpCache::default())));
        let (two, one) = (Pool::new(2), Pool::new(1));
        let mut step = |online: &mut Mlp, target: &mut Mlp, pool: &Pool| {
            let (cache, _, _) = full_backward(online, &x, &c, batch);
            Writes::forced(true, || {
                online.learn(&[(&x[..], &cache)][..], &mut g, &mut adam, Some((target, 0.3)), pool)
            });
        };
        for k in 0..3 {
            step(&mut online, &mut target, &two);
            for (name, net) in [("online", &online), ("target", &target)] {
                assert!(net.copy_current && bits(&net.copy) == bits(&net.params), "step {k}: the {name} copy");
            }
            assert_eq!(output(&online, 1), output(&online, 0), "step {k}");
        }
        // Slot 1 reads the copy (here made to differ), other slots the parameters.
        online.copy[0] += 1.0;
        assert_ne!(output(&online, 1), output(&online, 0));
        assert_eq!(output(&online, 2), output(&online, 0));
        // A write through `params_mut` leaves the copy aside until a shared step makes it again.
        online.params_mut();
        assert!(!online.copy_current);
        assert_eq!(output(&online, 1), output(&online, 0));
        step(&mut online, &mut target, &two);
        assert!(online.copy_current && bits(&online.copy) == bits(&online.params));
        // A step on one thread writes the parameters alone, and the copy no longer counts.
        step(&mut online, &mut target, &one);
        assert!(!online.copy_current && !target.copy_current);
        assert_eq!(output(&online, 1), output(&online, 0));
    }

    #[test]
    fn the_gradient_is_each_halfs_chain_added_on_any_threads_and_blocks() {
        // The definition, element by element: ∂L/∂W[r][c] = Σ over the first half's rows of
        // input[row][r]·δ[row][c] as one fma chain in batch order, plus the same over the
        // second half; ∂L/∂b[c] likewise, with additions.
        let mut rng = Rng::new(11);
        let net = Mlp::new(&[5, 40, 33, 3], &mut rng);
        let batch = 29;
        let x: Vec<f32> = (0..batch * 5).map(|_| rng.normal() as f32).collect();
        let c: Vec<f32> = (0..batch * 3).map(|_| rng.normal() as f32).collect();
        let mut whole = MlpCache::default();
        net.forward(&x, batch, &mut whole);
        net.backward_deltas(&mut whole, &c);
        let split = batch / 2;
        let (mut want, mut one_chain) = (Vec::new(), Vec::new());
        for l in 0..net.n_layers() {
            let (i, o) = (net.sizes[l], net.sizes[l + 1]);
            let input: &[f32] = if l == 0 { &x } else { &whole.outs[l - 1] };
            let delta = &whole.deltas[l];
            let weight = |r: usize, col: usize, rows: Range<usize>| {
                rows.fold(0.0f32, |acc, row| input[row * i + r].mul_add(delta[row * o + col], acc))
            };
            let bias = |col: usize, rows: Range<usize>| rows.fold(0.0f32, |acc, row| acc + delta[row * o + col]);
            for r in 0..i {
                for col in 0..o {
                    want.push(weight(r, col, 0..split) + weight(r, col, split..batch));
                    one_chain.push(weight(r, col, 0..batch));
                }
            }
            for col in 0..o {
                want.push(bias(col, 0..split) + bias(col, split..batch));
                one_chain.push(bias(col, 0..batch));
            }
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_ne!(bits(&want), bits(&one_chain), "the case should tell two halves from one chain");
        // Blocks as threads cut them evenly, and unevenly (a training step's env step beside its
        // update shortens the caller's block), with the halves' boundary inside a block or not,
        // and more or fewer blocks than threads.
        for (cuts, threads) in [
            (vec![29], 1),
            (vec![29], 2),
            (vec![14, 15], 1),
            (vec![14, 15], 2),
            (vec![9, 10, 10], 2),
            (vec![7, 7, 7, 8], 3),
            (vec![5, 24], 2),
            (vec![20, 9], 2),
            (vec![9, 10, 10], 3),
            (vec![3, 26], 1),
            (vec![7, 7, 7, 8], 4),
            (vec![14, 15], 5),
        ] {
            let mut caches = Vec::new();
            let mut start = 0;
            for rows in cuts.iter().copied() {
                let mut cache = MlpCache::default();
                net.forward(&x[start * 5..(start + rows) * 5], rows, &mut cache);
                net.backward_deltas(&mut cache, &c[start * 3..(start + rows) * 3]);
                caches.push((start..start + rows, cache));
                start += rows;
            }
            let blocks: Vec<(&[f32], &MlpCache)> =
                caches.iter().map(|(r, cache)| (&x[r.start * 5..r.end * 5], cache)).collect();
            let mut grads = nan_gradient(net.n_params());
            net.gradient(&blocks[..], &mut grads, &Pool::new(threads));
            assert_eq!(bits(grads.values()), bits(&want), "blocks {cuts:?} on {threads} threads");
        }
    }

    #[test]
    fn every_half_has_all_its_shares_once_whatever_the_threads() {
        for threads in 1..=7 {
            let mut taken: Vec<Vec<bool>> = vec![Vec::new(), Vec::new()];
            for t in 0..threads {
                for (h, (s, n)) in half_work(t, threads) {
                    let shares = &mut taken[h];
                    if shares.is_empty() {
                        shares.resize(n, false);
                    }
                    assert_eq!(shares.len(), n, "{threads} threads: half {h} cut two ways");
                    assert!(!std::mem::replace(&mut shares[s], true), "{threads} threads: half {h} share {s} twice");
                }
            }
            for (h, shares) in taken.iter().enumerate() {
                assert!(!shares.is_empty() && shares.iter().all(|&s| s), "{threads} threads: half {h} left out");
            }
        }
    }

    #[test]
    fn parameter_and_input_gradients_match_finite_differences() {
        let (net, x, c, batch) = setup();
        let (_, grads, dx) = full_backward(&net, &x, &c, batch);
        let h = 2e-3;
        let n = net.n_params();
        let checked = super::super::gradcheck::check(&mut net.params.clone(), &grads, 0..n, h, |p| {
            let mut probe = net.clone();
            probe.params.copy_from_slice(p);
            loss(&probe, &x, batch, &c)
        });
        assert!(checked > n * 9 / 10, "only {checked} of {n} parameter probes away from kinks");
        let n_in = x.len();
        let checked = super::super::gradcheck::check(&mut x.clone(), &dx, 0..n_in, h, |xs| loss(&net, xs, batch, &c));
        assert!(checked > n_in * 9 / 10, "only {checked} of {n_in} input probes away from kinks");
    }

    #[test]
    fn input_only_backward_equals_full_backward_on_those_columns() {
        let (net, x, c, batch) = setup();
        let (mut cache, _, dx) = full_backward(&net, &x, &c, batch);
        let mut dx_cols = vec![0.0; batch * 2];
        net.backward_input(&mut cache, &c, &mut dx_cols, 3..5);
        for r in 0..batch {
            for j in 0..2 {
                assert!((dx_cols[r * 2 + j] - dx[r * 5 + 3 + j]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn a_backward_pass_through_some_rows_gives_their_bits_of_the_whole_pass() {
        // Widths with whole and edge tiles at each SIMD level; ∂L/∂x for input columns 4..7.
        let mut rng = Rng::new(4);
        let net = Mlp::new(&[9, 70, 33, 1], &mut rng);
        let batch = 41;
        let x: Vec<f32> = (0..batch * 9).map(|_| rng.normal() as f32).collect();
        let d_out: Vec<f32> = (0..batch).map(|_| rng.normal() as f32).collect();
        let mut cache = MlpCache::default();
        net.forward(&x, batch, &mut cache);
        let mut whole = vec![0.0; batch * 3];
        net.backward_input(&mut cache, &d_out, &mut whole, 4..7);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let every_other: Vec<usize> = (0..batch).step_by(2).collect();
        for rows in [vec![], vec![5], every_other, (0..batch).collect(), vec![40, 3, 17, 3]] {
            let d: Vec<f32> = rows.iter().map(|&b| d_out[b]).collect();
            let mut got = vec![f32::NAN; rows.len() * 3];
            net.backward_input_rows(&mut cache, &rows, &d, &mut got, 4..7);
            for (r, &b) in rows.iter().enumerate() {
                assert_eq!(bits(&got[r * 3..r * 3 + 3]), bits(&whole[b * 3..b * 3 + 3]), "row {b} of {rows:?}");
            }
        }
        // The test means something: the rows' gradients differ from one another.
        assert_ne!(bits(&whole[..3]), bits(&whole[3..6]));
    }

    #[test]
    fn forward_is_affine_relu_composition() {
        // 1 → 1 → 1 network set by hand: out = w2·relu(w1·x + b1) + b2.
        let mut net = Mlp::new(&[1, 1, 1], &mut Rng::new(0));
        net.params.copy_from_slice(&[2.0, -1.0, 3.0, 0.5]);
        let mut cache = MlpCache::default();
        let out = net.forward(&[1.0, 0.25], 2, &mut cache).to_vec();
        assert_eq!(out, vec![3.0 * 1.0 + 0.5, 0.5]); // relu(2-1)=1 ; relu(0.5-1)=0
    }

    #[test]
    fn init_is_uniform_within_fan_in_bound() {
        let net = Mlp::new(&[16, 64, 1], &mut Rng::new(3));
        let (wr, _) = net.layer_ranges(0);
        let w = &net.params[wr];
        assert!(w.iter().all(|v| v.abs() <= 0.25));
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.24, "samples should fill the range, max {max}");
    }
}
