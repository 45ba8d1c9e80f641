//! polyak: fast, reproducible off-policy deep reinforcement learning for continuous control —
//! SAC, TD3 and DDPG (TD3 with its tricks switched off) on an explicit MLP engine.
//!
//! What a library user (and the `polyak` binary, which is a client of this API) works with:
//! - [`env`]: the Gymnasium-like [`env::Env`] trait, the built-in environments and their
//!   specs ([`env::EnvSpec`], [`env::make`]);
//! - [`config`]: [`config::TrainConfig`] (every hyperparameter) and the algorithm registry
//!   [`config::Algo`];
//! - [`train`]: [`train::train`], [`train::resume`] and their `_env` forms for your own envs,
//!   evaluation, and the run directory's state ([`train::state`]);
//! - [`rundir`]: a run directory's layout and its lock; [`checkpoint`]: checkpoint files;
//! - [`results`], [`report`], [`plot`], [`sweep`]: reading runs back, reports, pictures and
//!   multi-seed sweeps; [`bench`]: speed measurements;
//! - [`export`]: a checkpoint's deterministic policy as plain layers or an ONNX model;
//! - [`algo`]: the agents behind [`algo::Agent`], for those who drive updates themselves;
//!   [`parallel`]: the long-lived helper threads they (and vector envs) share work with;
//!   [`alloc`]: the global allocator the binary installs (large buffers on cache lines).
//!
//! Every fallible function returns [`Result`] with the crate's [`Error`].
//!
//! ```no_run
//! use polyak::config::TrainConfig;
//! use polyak::train::{train, TrainOptions};
//!
//! let cfg = TrainConfig::resolve(Some("td3"), None, &["total_steps=15000".into()])?;
//! let summary = train(&cfg, "runs/td3-pendulum".as_ref(), &TrainOptions::default())?;
//! println!("final eval {:.1}", summary.final_eval.0);
//! # Ok::<(), polyak::Error>(())
//! ```

pub mod algo;
pub mod alloc;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod env;
pub mod error;
pub mod export;
pub mod metrics;
pub mod outputs;
pub mod parallel;
pub mod plot;
pub mod render;
pub mod replay;
pub mod report;
pub mod results;
pub mod rng;
pub mod rundir;
pub mod stats;
pub mod sweep;
pub mod tensorboard;
pub mod train;

mod dl;
mod fsutil;
mod nn;

pub use error::{Error, Result};
#[doc(hidden)]
pub use nn::force_shared_steps;
pub use nn::{simd, use_simd, use_simd_from_env, Simd};
