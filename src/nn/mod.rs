//! The neural-network engine: everything the algorithms need from it and nothing more —
//! build an MLP, forward, backward, Adam, Polyak averaging.
//!
//! polyak's networks are small MLPs whose cost is dominated by 256-wide matrix products, so the
//! engine is an explicit MLP with an analytic backward pass on a GEMM kernel (see README,
//! "Engine"). Parameters are flat `f32` vectors; see [`Mlp`].

mod adam;
#[cfg(test)]
pub(crate) mod gradcheck;
mod linalg;
mod mlp;

pub use adam::Adam;
pub use linalg::{flops_so_far, fma_peak_gflops, simd, use_simd, use_simd_from_env, Simd};
pub use mlp::{Mlp, MlpCache};

/// Polyak averaging of a target network: `θ' ← τ·θ + (1 − τ)·θ'`.
pub fn polyak_update(target: &mut [f32], online: &[f32], tau: f32) {
    assert_eq!(target.len(), online.len(), "polyak: shape mismatch");
    for (t, &o) in target.iter_mut().zip(online) {
        *t += tau * (o - *t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polyak_moves_target_by_tau_of_the_gap() {
        let mut target = vec![0.0f32, 10.0, -4.0];
        polyak_update(&mut target, &[1.0, 0.0, -4.0], 0.005);
        assert!((target[0] - 0.005).abs() < 1e-7);
        assert!((target[1] - 9.95).abs() < 1e-5);
        assert_eq!(target[2], -4.0);
        // τ = 1 is a hard copy.
        polyak_update(&mut target, &[1.0, 2.0, 3.0], 1.0);
        assert_eq!(target, vec![1.0, 2.0, 3.0]);
    }
}
