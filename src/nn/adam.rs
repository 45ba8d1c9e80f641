//! Adam (Kingma & Ba 2015) over one flat parameter vector, in PyTorch's exact formulation
//! (`eps` added after the bias-corrected square root), so learning rates tuned in
//! Stable-Baselines3/CleanRL transfer unchanged.
//!
//! One difference: a moment whose magnitude falls below the smallest normal `f32`
//! (`f32::MIN_POSITIVE`, 1.18e-38) is stored as 0. A weight whose gradient is exactly 0 for a while
//! (every weight into or out of a dead ReLU unit) has its moments shrink by β₁ = 0.9 and β₂ = 0.999
//! a step, into the subnormal range, and there they stick: 0.9 of a few of the smallest subnormal
//! steps rounds back to the same value. PyTorch's moments stick the same way. After 60,000 steps
//! of TD3 on HalfCheetah-v5, 30% of the actor's first moments and 15–18% of the critics' were
//! subnormal, in 89–94% of their 16-lane vectors. Every step then computes with subnormals. Intel
//! CPUs run a vector instruction with a subnormal operand or result in microcode, hundreds of
//! instructions long (Intel's VTune and oneMKL documentation); on Zen 4 a trained agent's Adam
//! steps ran 1.4–1.9× slower. Flushed, the moments stay 0 until the gradient returns. No
//! parameter moves differently: a moment m moves its weight by at most the step size over `eps`
//! times m, below 1.2e-33 for m below 1.2e-38 at a learning rate of 1e-3, far under half an ulp
//! of any weight larger than 1e-26 (docs/speed.md, "Adam's moments flushed").

use super::elementwise::per_simd_level;

/// Optimiser state for one network.
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// First-moment estimate, one per parameter.
    pub m: Vec<f32>,
    /// Second-moment estimate, one per parameter.
    pub v: Vec<f32>,
    /// Number of steps taken (drives the bias correction).
    pub t: u64,
}

impl Adam {
    pub fn new(n_params: usize, lr: f32) -> Self {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, m: vec![0.0; n_params], v: vec![0.0; n_params], t: 0 }
    }

    /// One descent step: `params -= lr · m̂ / (√v̂ + eps)`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(params.len(), self.m.len());
        assert_eq!(grads.len(), self.m.len());
        let step = self.next_step();
        step.apply(params, grads, &mut self.m, &mut self.v);
    }

    /// Counts one step and returns what every parameter's update needs, so that threads can each
    /// apply it to their own slice of the parameters ([`AdamStep::apply`]).
    pub fn next_step(&mut self) -> AdamStep {
        self.t += 1;
        let bias1 = 1.0 - (self.beta1 as f64).powi(self.t as i32);
        let bias2 = 1.0 - (self.beta2 as f64).powi(self.t as i32);
        AdamStep {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            step_size: (self.lr as f64 / bias1) as f32,
            inv_sqrt_bias2: (1.0 / bias2.sqrt()) as f32,
        }
    }
}

/// One step's constants (bias corrections included). Each parameter's update reads only its own
/// gradient and moments, so applying a step slice by slice gives the bits of a whole step.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    beta1: f32,
    beta2: f32,
    eps: f32,
    step_size: f32,
    inv_sqrt_bias2: f32,
}

impl AdamStep {
    /// The step on matching slices of the parameters, their gradient and the two moments.
    pub fn apply(&self, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
        adam_update(*self, params, grads, m, v);
    }

    /// [`AdamStep::apply`] with each gradient value in its two halves' chains, added as the step
    /// reads them (always `first + second`, as `mlp` defines a weight gradient): the bits of
    /// the step on their sum, without storing the sum. On two threads one half of each thread's
    /// share comes from the other core; reading it alone, rather than also writing the sum over
    /// it, took DDPG's two steps of an update from 75 to 63 µs (docs/speed.md).
    pub fn apply_halves(&self, params: &mut [f32], first: &[f32], second: &[f32], m: &mut [f32], v: &mut [f32]) {
        adam_update_halves(*self, params, first, second, m, v);
    }

    /// One parameter's step, with its gradient `g`.
    #[inline(always)]
    fn one(self, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        let AdamStep { beta1: b1, beta2: b2, eps, step_size, inv_sqrt_bias2 } = self;
        let (m_new, v_new) = (b1 * *m + (1.0 - b1) * g, b2 * *v + (1.0 - b2) * g * g);
        // Subnormal moments as 0 (see the module docs); NaN is kept, as it compares false
        *m = if m_new.abs() < f32::MIN_POSITIVE { 0.0 } else { m_new };
        *v = if v_new < f32::MIN_POSITIVE { 0.0 } else { v_new };
        *p -= step_size * *m / (v.sqrt() * inv_sqrt_bias2 + eps);
    }
}

per_simd_level! {
    /// [`AdamStep::apply`], compiled for each SIMD level (see `elementwise`).
    fn adam_update(step: AdamStep, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(m).zip(v) {
            step.one(p, g, m, v);
        }
    }
}

per_simd_level! {
    /// [`AdamStep::apply_halves`], compiled for each SIMD level.
    fn adam_update_halves(
        step: AdamStep,
        params: &mut [f32],
        first: &[f32],
        second: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        for ((((p, &g), &g2), m), v) in params.iter_mut().zip(first).zip(second).zip(m).zip(v) {
            step.one(p, g + g2, m, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_lr_against_its_gradient_sign() {
        // After one step m̂ = g and v̂ = g², so the update is lr·g/(|g| + eps) ≈ lr·sign(g).
        let mut adam = Adam::new(3, 0.1);
        let mut p = vec![1.0, 1.0, 1.0];
        adam.step(&mut p, &[2.0, -0.5, 0.0]);
        assert!((p[0] - 0.9).abs() < 1e-6);
        assert!((p[1] - 1.1).abs() < 1e-6);
        assert_eq!(p[2], 1.0);
    }

    #[test]
    fn a_step_on_two_halves_is_the_step_on_their_sum() {
        let n = 100;
        let wave = |k: f32| (0..n).map(|i| (i as f32 * k).sin() * 10f32.powi(i as i32 % 7 - 4)).collect::<Vec<f32>>();
        let (first, second) = (wave(0.7), wave(1.3));
        let sum: Vec<f32> = first.iter().zip(&second).map(|(a, b)| a + b).collect();
        let mut adam = Adam::new(n, 3e-4);
        (adam.m, adam.v, adam.t) = (wave(0.2), wave(0.4).iter().map(|v| v * v).collect(), 4);
        let (mut whole, mut halves, mut alone) = (adam.clone(), adam.clone(), adam);
        let (mut p, mut q) = (wave(0.9), wave(0.9));
        whole.step(&mut p, &sum);
        halves.next_step().apply_halves(&mut q, &first, &second, &mut halves.m, &mut halves.v);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&p), bits(&q));
        assert_eq!((bits(&whole.m), bits(&whole.v)), (bits(&halves.m), bits(&halves.v)));
        // The second half did matter: the first alone steps elsewhere.
        let mut r = wave(0.9);
        alone.step(&mut r, &first);
        assert_ne!(bits(&r), bits(&q));
    }

    #[test]
    fn matches_hand_computed_second_step() {
        let mut adam = Adam::new(1, 0.01);
        let mut p = vec![0.0f32];
        adam.step(&mut p, &[1.0]);
        adam.step(&mut p, &[3.0]);
        // m = 0.9·0.1 + 0.1·3 = 0.39; v = 0.999·0.001 + 0.001·9 = 0.009999
        let (m, v) = (0.39f64, 0.009999f64);
        let step2 = 0.01 / (1.0 - 0.81) * m / ((v / (1.0 - 0.998001)).sqrt() + 1e-8);
        let want = -0.01 - step2;
        assert!((p[0] as f64 - want).abs() < 1e-6, "{} vs {want}", p[0]);
    }

    #[test]
    fn moments_below_the_smallest_normal_are_stored_as_zero() {
        let tiny = f32::MIN_POSITIVE;
        let mut adam = Adam::new(4, 1e-3);
        adam.m = vec![tiny, -1.2 * tiny, 1e-3, f32::NAN];
        adam.v = vec![tiny, 1.01 * tiny, 1e-6, 1.0];
        adam.t = 10;
        let mut p = vec![0.5, -0.25, 2.0, 1.0];
        adam.step(&mut p, &[0.0; 4]);
        // 0.9·tiny and 0.999·tiny are subnormal: stored as +0. Just above the smallest normal,
        // -1.08·tiny and 1.009·tiny are kept as computed, and so is NaN.
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        let kept = |b: f32, x: f32| (b * x + (1.0 - b) * 0.0).to_bits();
        assert_eq!(bits(&adam.m[..3]), [0, kept(0.9, -1.2 * tiny), kept(0.9, 1e-3)]);
        assert!(adam.m[3].is_nan());
        assert_eq!(bits(&adam.v), [0, kept(0.999, 1.01 * tiny), kept(0.999, 1e-6), kept(0.999, 1.0)]);
        // A weight whose gradient stays 0: its moments decay to 0 and never pass through a
        // subnormal value (v, 1e-9 after the first step, takes ≈ 67,000 steps to get there).
        let mut adam = Adam::new(1, 1e-3);
        let mut p = vec![0.5f32];
        adam.step(&mut p, &[1e-3]);
        for _ in 0..80_000 {
            adam.step(&mut p, &[0.0]);
            assert!(!adam.m[0].is_subnormal() && !adam.v[0].is_subnormal(), "m {:e}, v {:e}", adam.m[0], adam.v[0]);
        }
        assert_eq!((adam.m[0], adam.v[0]), (0.0, 0.0));
    }

    #[test]
    fn minimises_a_quadratic() {
        let mut adam = Adam::new(2, 0.05);
        let mut p = vec![3.0f32, -2.0];
        for _ in 0..2000 {
            let g = [2.0 * (p[0] - 1.0), 2.0 * (p[1] + 0.5)];
            adam.step(&mut p, &g);
        }
        assert!((p[0] - 1.0).abs() < 1e-3 && (p[1] + 0.5).abs() < 1e-3, "{p:?}");
    }
}
