//! equifx: ML nodes for compositors and pipelines that reveal and correct the
//! biases generative models inherit from their training data.
//!
//! This crate is the safe core. Host interfaces (C ABI, OpenFX, C++) are thin
//! adapters in the `equifx-ffi` crate; the `equifx` CLI lives in `src/bin/`.
//! Start at [`Instance`]: pick a node by id, set parameters, render frames.
#![forbid(unsafe_code)]

pub mod batch;
pub mod bundle;
pub mod device;
pub mod error;
pub mod fairness;
pub mod frame;
pub mod instance;
pub mod io;
pub mod manifest;
pub mod memory;
pub mod model;
pub mod node;
pub mod nodes;
pub mod params;
pub mod rng;
pub mod sequence;
pub mod synth;
pub mod tiling;
pub mod train;

pub use error::{Error, ErrorCode, Result};
pub use instance::Instance;
