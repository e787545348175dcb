//! File input and output: atomic writes, image files (PNG, TIFF, OpenEXR).

pub mod atomic;

pub use atomic::{write_atomic, write_bytes_atomic};
