//! The neural-network engine: everything the algorithms need from it and nothing more —
//! build an MLP, forward, backward, Adam, Polyak averaging.
//!
//! polyak's networks are small MLPs whose cost is dominated by 256-wide matrix products, so the
//! engine is an explicit MLP with an analytic backward pass on a GEMM kernel (see README,
//! "Engine"). Parameters are flat `f32` vectors; see [`Mlp`].

mod adam;
pub(crate) mod elementary;
mod elementwise;
#[cfg(test)]
pub(crate) mod gradcheck;
mod linalg;
mod mlp;

pub use adam::Adam;
pub(crate) use elementwise::per_simd_level;
pub(crate) use linalg::relu;
pub use linalg::{flops_so_far, fma_burst_gflops, fma_peak_gflops, simd, use_simd, use_simd_from_env, Simd};
pub use mlp::{force_shared_steps, Blocks, BlocksBy, Gradient, Mlp, MlpCache};
