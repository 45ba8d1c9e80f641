//! Multi-layer perceptron with ReLU hidden layers and a linear output, with a hand-written
//! backward pass.
//!
//! All weights and biases live in one flat `Vec<f32>` (per layer: `W` as `in × out` row-major,
//! then `b`), so the optimiser, Polyak averaging and checkpoints are single loops over a slice,
//! and gradients have the same layout. Batches are row-major `batch × features`.

use super::linalg::{matmul, Layout};
use crate::rng::Rng;
use std::ops::Range;

/// A fully-connected network `sizes[0] → sizes[1] → … → sizes[L]`.
#[derive(Clone, Debug)]
pub struct Mlp {
    sizes: Vec<usize>,
    /// All parameters, layer by layer: `W_l` (`sizes[l] × sizes[l+1]`) then `b_l`.
    pub params: Vec<f32>,
}

/// Activations kept from a forward pass for the backward pass, plus scratch buffers.
/// Reused across calls: after the first call at a batch size nothing is allocated.
#[derive(Clone, Debug, Default)]
pub struct MlpCache {
    batch: usize,
    /// Output of each layer (post-ReLU for hidden layers, raw for the last).
    outs: Vec<Vec<f32>>,
    delta: Vec<f32>,
    delta_next: Vec<f32>,
}

impl MlpCache {
    /// The network output of the last forward pass (`batch × out`).
    pub fn output(&self) -> &[f32] {
        self.outs.last().map(|v| v.as_slice()).unwrap_or(&[])
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

    fn n_layers(&self) -> usize {
        self.sizes.len() - 1
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
            // Start from the bias and let the GEMM accumulate onto it: one pass fewer.
            for row in out.chunks_exact_mut(o) {
                row.copy_from_slice(&self.params[br.clone()]);
            }
            matmul(out, input, Layout::AsIs, &self.params[wr], Layout::AsIs, batch, i, o, true);
            if l + 1 < self.n_layers() {
                for v in out.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
        cache.output()
    }

    /// Backward pass for the last `forward` on `x`: writes ∂L/∂params into `grads` (overwriting)
    /// given `d_out` = ∂L/∂output, and ∂L/∂x into `d_input` when asked.
    pub fn backward(
        &self,
        x: &[f32],
        cache: &mut MlpCache,
        d_out: &[f32],
        grads: &mut [f32],
        mut d_input: Option<&mut [f32]>,
    ) {
        let batch = cache.batch;
        assert_eq!(grads.len(), self.params.len(), "backward: grads shape");
        assert_eq!(d_out.len(), batch * self.output_dim(), "backward: d_out shape");
        let MlpCache { outs, delta, delta_next, .. } = cache;
        delta.clear();
        delta.extend_from_slice(d_out);
        for l in (0..self.n_layers()).rev() {
            let (wr, br) = self.layer_ranges(l);
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let input: &[f32] = if l == 0 { x } else { &outs[l - 1] };
            // ∂L/∂W = inputᵀ · δ ; ∂L/∂b = Σ_rows δ
            matmul(&mut grads[wr.clone()], input, Layout::Transposed, delta, Layout::AsIs, i, batch, o, false);
            column_sums(delta, o, &mut grads[br]);
            let w = &self.params[wr];
            if l > 0 {
                // δ_prev = (δ · Wᵀ) ⊙ relu'(h_prev)
                delta_next.resize(batch * i, 0.0);
                matmul(delta_next, delta, Layout::AsIs, w, Layout::Transposed, batch, o, i, false);
                relu_mask(delta_next, &outs[l - 1]);
                std::mem::swap(delta, delta_next);
            } else if let Some(d_in) = d_input.as_deref_mut() {
                assert_eq!(d_in.len(), batch * i, "backward: d_input shape");
                matmul(d_in, delta, Layout::AsIs, w, Layout::Transposed, batch, o, i, false);
            }
        }
    }

    /// ∂L/∂x for the input columns `cols` only, without any parameter gradient: what the actor
    /// loss needs from a critic (∂Q/∂a), at a fraction of a full backward's cost.
    /// `d_input` is `batch × cols.len()`.
    pub fn backward_input(&self, cache: &mut MlpCache, d_out: &[f32], d_input: &mut [f32], cols: Range<usize>) {
        let batch = cache.batch;
        assert_eq!(d_out.len(), batch * self.output_dim(), "backward_input: d_out shape");
        assert_eq!(d_input.len(), batch * cols.len(), "backward_input: d_input shape");
        let MlpCache { outs, delta, delta_next, .. } = cache;
        delta.clear();
        delta.extend_from_slice(d_out);
        for l in (1..self.n_layers()).rev() {
            let (wr, _) = self.layer_ranges(l);
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            delta_next.resize(batch * i, 0.0);
            matmul(delta_next, delta, Layout::AsIs, &self.params[wr], Layout::Transposed, batch, o, i, false);
            relu_mask(delta_next, &outs[l - 1]);
            std::mem::swap(delta, delta_next);
        }
        // Rows `cols` of W_0 are the weights of those input columns.
        let (wr, _) = self.layer_ranges(0);
        let o = self.sizes[1];
        let w_cols = &self.params[wr.start + cols.start * o..wr.start + cols.end * o];
        matmul(d_input, delta, Layout::AsIs, w_cols, Layout::Transposed, batch, o, cols.len(), false);
    }
}

fn column_sums(x: &[f32], cols: usize, out: &mut [f32]) {
    out.fill(0.0);
    for row in x.chunks_exact(cols) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// δ ⊙ relu'(h). Written as a select, not a conditional store, so it compiles to vector blends
/// (the branchy form cost ≈ 15% of a SAC update).
fn relu_mask(delta: &mut [f32], activation: &[f32]) {
    for (d, &h) in delta.iter_mut().zip(activation) {
        *d = if h > 0.0 { *d } else { 0.0 };
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

    /// Forward, then the full backward pass: (cache, parameter gradients, input gradients).
    fn full_backward(net: &Mlp, x: &[f32], c: &[f32], batch: usize) -> (MlpCache, Vec<f32>, Vec<f32>) {
        let mut cache = MlpCache::default();
        net.forward(x, batch, &mut cache);
        let mut grads = vec![0.0; net.n_params()];
        let mut dx = vec![0.0; x.len()];
        net.backward(x, &mut cache, c, &mut grads, Some(&mut dx));
        (cache, grads, dx)
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
