//! polyak: fast, reproducible off-policy deep reinforcement learning for continuous control.
pub mod nn;
pub mod rng;
pub mod env;
pub mod error;
pub mod replay;

pub use error::{Error, Result};
pub mod algo;
