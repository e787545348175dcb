//! The equifx shared library: the C ABI (`equifx_*`) and, in the same binary,
//! the OpenFX entry points. This crate is a thin adapter over the safe core
//! crate `equifx`; all `unsafe` code of the project lives here, and every
//! exported function body runs inside [`ffi_guard!`] so no panic ever
//! crosses into the host.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
#![allow(non_camel_case_types)]
// The exported functions are called from C, where `unsafe fn` means nothing;
// each one checks its pointers and documents its contract instead.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

#[macro_use]
pub mod guard;
pub mod capi;
mod host_bytes;
/// The OpenFX entry points have their own ABI (OpenFX's), not part of `equifx.h`.
/// cbindgen:ignore
pub mod ofx;
mod text;
pub mod variant;
