//! Image sequences for batch and farm rendering: file-name patterns with a
//! frame number (`shot.%04d.exr`, `shot.####.exr`), frame lists in the
//! syntax farm managers use (`1001-1100x2`, `1,5,10-20`), and chunks that
//! split one job into farm tasks (`--chunk 3/10`).

mod frames;
mod pattern;

pub use frames::{parse_chunk, parse_frames, Chunk};
pub use pattern::FramePattern;
