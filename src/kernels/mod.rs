//! Hand-written CPU kernels for the operations where candle's generic CPU
//! backend falls far below what this kind of machine can do.
//!
//! The networks are thin convolutions (16–64 channels) over large images.
//! Candle's CPU conv2d spends most of its time re-laying out data around its
//! matrix product, so inference ran at about a tenth of ONNX Runtime's rate
//! on the same network. [`conv2d`] replaces it for f32 NCHW tensors on the
//! CPU and hands everything else (other dtypes, CUDA, dilation, groups,
//! strided views) to candle unchanged. At inference the activation after a
//! convolution runs on each band of its output while it is in cache, and a
//! nearest ×2 upsampling folds into the 3 × 3 convolution after it
//! ([`upsample2x_conv3x3`]).
//!
//! This is the one module of the core crate allowed `unsafe`: the kernel
//! calls the `gemm` crate's raw-pointer matrix product and writes the
//! disjoint output regions of parallel tasks through a shared pointer, and
//! the activations call their AVX2 build once the CPU is known to have it.
//! Each block states why it is sound in a `// SAFETY:` comment.
#![allow(unsafe_code)]

pub mod activation;
pub mod conv;
pub mod upsample_conv;

pub use activation::{add_scalar, Activation};
pub use conv::{conv2d, conv2d_act, Conv2d};
pub use upsample_conv::upsample2x_conv3x3;

use std::cell::Cell;

thread_local! {
    static CANDLE_OPS_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every operation of this module (and the cINN's fused
/// steps) computed by candle's own ops on this thread: the reference the
/// kernels are measured and tested against. The choice is made on the
/// calling thread when an op is built, so it covers the forward and
/// backward passes `f` runs; other threads are unaffected.
pub fn with_candle_ops<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            CANDLE_OPS_ONLY.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CANDLE_OPS_ONLY.with(|c| c.replace(true)));
    f()
}

/// Whether this thread may use the hand-written kernels (see [`with_candle_ops`]).
pub(crate) fn enabled() -> bool {
    !CANDLE_OPS_ONLY.with(Cell::get)
}
