//! Multi-layer perceptron with ReLU hidden layers and a linear output, with a hand-written
//! backward pass.
//!
//! All weights and biases live in one flat `Vec<f32>` (per layer: `W` as `in × out` row-major,
//! then `b`), so the optimiser, Polyak averaging and checkpoints are single loops over a slice,
//! and gradients have the same layout. Batches are row-major `batch × features`.

use super::elementwise::{add_halves, add_rows, polyak_average, relu_mask};
use super::linalg::{matmul, matmul_rows, Layout, Start};
use super::Adam;
use crate::parallel::{share, Pool};
use crate::rng::Rng;
use std::marker::PhantomData;
use std::ops::Range;

/// A fully-connected network `sizes[0] → sizes[1] → … → sizes[L]`.
#[derive(Clone, Debug)]
pub struct Mlp {
    sizes: Vec<usize>,
    /// All parameters, layer by layer: `W_l` (`sizes[l] × sizes[l+1]`) then `b_l`.
    pub params: Vec<f32>,
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
    /// The whole batch's gradient (the first half's chain before it is added up).
    sum: Vec<f32>,
    /// The second half's chain.
    second: Vec<f32>,
}

impl Gradient {
    /// Room for the gradient of `n` parameters.
    pub fn new(n: usize) -> Self {
        Gradient { sum: vec![0.0; n], second: vec![0.0; n] }
    }

    /// The last gradient computed, in the parameters' layout.
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
        Mlp { sizes: sizes.to_vec(), params }
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
        for l in 0..self.n_layers() {
            let (wr, br) = self.layer_ranges(l);
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let (before, rest) = cache.outs.split_at_mut(l);
            let input: &[f32] = if l == 0 { x } else { &before[l - 1] };
            let out = &mut rest[0];
            out.resize(batch * o, 0.0);
            // Every output's chain starts from its bias; hidden layers store ReLU of it.
            let bias = Start::Row(&self.params[br]);
            let (w, relu) = (&self.params[wr], l + 1 < self.n_layers());
            matmul_rows(out, input, Layout::AsIs, w, Layout::AsIs, batch, i, o, 0..batch, bias, relu);
        }
        cache.output()
    }

    /// Backward pass of the last `forward` given `d_out` = ∂L/∂output: every layer's δ, kept in
    /// the cache for [`Mlp::gradient`] and [`Mlp::backward_input`]. Row by row, so blocks of a
    /// batch can go through it on different threads.
    pub fn backward_deltas(&self, cache: &mut MlpCache, d_out: &[f32]) {
        let (batch, layers) = (cache.batch, self.n_layers());
        assert_eq!(d_out.len(), batch * self.output_dim(), "backward: d_out shape");
        let MlpCache { outs, deltas, .. } = cache;
        deltas.resize_with(layers, Vec::new);
        deltas[layers - 1].clear();
        deltas[layers - 1].extend_from_slice(d_out);
        for l in (1..layers).rev() {
            let (wr, _) = self.layer_ranges(l);
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            // δ_{l−1} = (δ_l · W_lᵀ) ⊙ relu'(h_{l−1})
            let (below, from) = deltas.split_at_mut(l);
            let prev = &mut below[l - 1];
            prev.resize(batch * i, 0.0);
            matmul(prev, &from[0], Layout::AsIs, &self.params[wr], Layout::Transposed, batch, o, i, Start::Zero);
            relu_mask(prev, &outs[l - 1]);
        }
    }

    /// ∂L/∂x for the input columns `cols` (`d_input` is `batch × cols.len()`), with the δs it goes
    /// through left in the cache: what the actor loss needs from a critic (∂Q/∂a).
    pub fn backward_input(&self, cache: &mut MlpCache, d_out: &[f32], d_input: &mut [f32], cols: Range<usize>) {
        self.backward_deltas(cache, d_out);
        let batch = cache.batch;
        assert_eq!(d_input.len(), batch * cols.len(), "backward_input: d_input shape");
        // Rows `cols` of W_0 are the weights of those input columns.
        let (wr, _) = self.layer_ranges(0);
        let o = self.sizes[1];
        let w_cols = &self.params[wr.start + cols.start * o..wr.start + cols.end * o];
        let (delta, n) = (&cache.deltas[0], cols.len());
        matmul(d_input, delta, Layout::AsIs, w_cols, Layout::Transposed, batch, o, n, Start::Zero);
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
    /// 2. Each thread adds the halves of its share of the parameters (first + second), takes the
    ///    Adam step on them and, with `target`, their Polyak update.
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
        let Mlp { sizes, params } = self;
        let (sum, second) = (Disjoint::new(&mut grads.sum), Disjoint::new(&mut grads.second));
        let params = Disjoint::new(params);
        let (m, v) = (Disjoint::new(&mut adam.m), Disjoint::new(&mut adam.v));
        let target = target.map(|(t, _)| Disjoint::new(&mut t.params));
        pool.each_thread(|t| {
            for part in parts(sizes, t, threads) {
                let at = part.at;
                // SAFETY: the parts of different threads do not overlap (`parts`), and each
                // thread takes each of its parts once.
                let (grad, params) = unsafe { (sum.part(at.clone()), params.part(at.clone())) };
                if !added {
                    add_halves(grad, unsafe { second.part(at.clone()) });
                }
                step.apply(params, grad, unsafe { m.part(at.clone()) }, unsafe { v.part(at.clone()) });
                if let Some(target) = &target {
                    polyak_average(unsafe { target.part(at) }, params, tau);
                }
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
        let mut rng = Rng::new(1);
        let net = Mlp::new(&[5, 8, 7, 3], &mut rng);
        let batch = 4;
        let x: Vec<f32> = (0..batch * 5).map(|_| rng.normal() as f32).collect();
        let c: Vec<f32> = (0..batch * 3).map(|_| rng.normal() as f32).collect();
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
        let (net, x, c, batch) = setup();
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
        for threads in [1, 2, 3] {
            let (mut online, mut target, mut adam) = (net.clone(), target0.clone(), adam.clone());
            let mut g = nan_gradient(net.n_params());
            online.learn(&[(&x[..], &cache)][..], &mut g, &mut adam, Some((&mut target, tau)), &Pool::new(threads));
            let g = g.values();
            let bits = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(bits(g, &grads), "{threads} threads: gradient");
            assert!(bits(&online.params, &want.params) && bits(&adam.m, &want_adam.m), "{threads} threads: step");
            assert!(bits(&target.params, &want_target), "{threads} threads: target");
            assert_eq!(adam.t, 1);
        }
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
