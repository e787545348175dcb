//! equifx: ML nodes for compositors and pipelines that reveal and correct the
//! biases generative models inherit from their training data.
//!
//! This crate is the safe core. Host interfaces (C ABI, OpenFX, C++) are thin
//! adapters in the `equifx-ffi` crate; the `equifx` CLI lives in `src/bin/`.
#![forbid(unsafe_code)]

pub mod error;
pub mod io;
pub mod rng;

pub use error::{Error, ErrorCode, Result};
