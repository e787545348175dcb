//! equifx: ML nodes for compositors and pipelines that reveal and correct the
//! biases generative models inherit from their training data.
//!
//! This crate is the safe core. Host interfaces (C ABI, OpenFX, C++) are thin
//! adapters in the `equifx-ffi` crate; the `equifx` CLI lives in `src/bin/`.
//! Start at [`Instance`]: pick a node by id, set parameters, render frames.
//! The one exception to "safe" is [`kernels`], which alone may use `unsafe`.
#![deny(unsafe_code)]

/// Batch rendering of image sequences: the command line's job, not a host's.
#[cfg(feature = "cli")]
pub mod batch;
pub mod device;
pub mod error;
pub mod export;
pub mod fairness;
pub mod frame;
pub mod instance;
pub mod io;
/// Fast CPU kernels (a conv2d) replacing candle's generic CPU ones where
/// these limit the networks' speed: candle's conv2d runs thin convolutions
/// over large images at a small fraction of the machine's matmul rate. The
/// only module allowed `unsafe` (raw-pointer sgemm into shared outputs).
pub mod kernels;
pub mod manifest;
pub mod memory;
pub mod model;
pub mod node;
pub mod nodes;
pub mod ofx_bundle;
pub mod params;
pub mod rng;
/// Frame patterns and frame lists of the command line.
#[cfg(feature = "cli")]
pub mod sequence;
pub mod synth;
pub mod tiling;
pub mod train;

pub use error::{Error, ErrorCode, Result};
pub use instance::Instance;
