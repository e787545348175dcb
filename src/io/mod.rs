//! File input and output: atomic writes, image files (PNG, TIFF, OpenEXR).

pub mod atomic;
pub mod image_file;

pub use atomic::{write_atomic, write_bytes_atomic};
pub use image_file::{
    decode_with_image_crate, image_dimensions, png_bytes, read_image, write_image, Depth, FileKind,
    LoadedImage, READABLE_EXTENSIONS,
};
