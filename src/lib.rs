//! polyak: fast, reproducible off-policy deep reinforcement learning for continuous control.
pub mod env;
pub mod error;
pub mod nn;
pub mod replay;
pub mod rng;

pub use error::{Error, Result};
pub mod algo;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod fsutil;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod results;
pub mod rundir;
pub mod sweep;
pub mod tensorboard;
pub mod train;
