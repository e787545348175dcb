//! Frames as hosts hand them to us (packed pixels in caller-owned buffers,
//! any stride, top-down or bottom-up) and the one working image nodes see:
//! planar f32 RGBA, scene-linear, straight alpha.

mod colour;
mod convert;
pub mod highlights;
mod pixel;
mod resize;

pub use colour::{
    linear_to_srgb, premultiply, srgb_to_linear, unpremultiply, AlphaMode, ColourSpace,
};
pub use pixel::{Channels, PixelFormat, SampleType};
pub use resize::{resize, try_resize};

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Largest width or height we accept: beyond 8K × 8 no host sends real frames,
/// and the bound keeps every size computation far from overflow.
pub const MAX_DIMENSION: usize = 65_536;

/// Most pixels of a frame, a generated image or an image file: 2²⁸, a
/// 16384 × 16384 frame. Sizes above it are refused before anything is
/// allocated; the working image of the largest frame takes 4 GiB
/// (four f32 planes), and a render holds a few such buffers at once.
pub const MAX_PIXELS: usize = 1 << 28;

/// Checks a frame size against the limits every frame obeys: at least 1×1,
/// at most [`MAX_DIMENSION`] a side and [`MAX_PIXELS`] in all.
pub fn check_size(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::InvalidFrame(format!(
            "frame is {width}×{height}: width and height must be at least 1"
        )));
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(Error::InvalidFrame(format!(
            "frame is {width}×{height}: the largest supported side is {MAX_DIMENSION}"
        )));
    }
    if width * height > MAX_PIXELS {
        return Err(Error::InvalidFrame(format!(
            "frame is {width}×{height}, {} pixels: equifx renders at most {MAX_PIXELS} pixels \
             (16384×16384); render it in parts or at a smaller size",
            width * height
        )));
    }
    Ok(())
}

/// How a host's packed frame is laid out in memory.
///
/// `row_bytes` is the distance in bytes between the starts of two consecutive
/// rows as seen from the top of the image. Negative values describe bottom-up
/// buffers (OpenFX, OpenGL): the top row is then stored at the *end* of the
/// buffer. The buffer itself is always passed by its lowest address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    pub width: usize,
    pub height: usize,
    pub row_bytes: isize,
    pub format: PixelFormat,
    pub colour: ColourSpace,
    pub alpha: AlphaMode,
}

impl FrameLayout {
    /// A tightly packed, top-down layout.
    pub fn packed(
        width: usize,
        height: usize,
        format: PixelFormat,
        colour: ColourSpace,
        alpha: AlphaMode,
    ) -> Self {
        FrameLayout {
            width,
            height,
            row_bytes: (width * format.bytes_per_pixel()) as isize,
            format,
            colour,
            alpha,
        }
    }

    /// Bytes of pixel data in one row.
    pub fn row_len(&self) -> usize {
        self.width * self.format.bytes_per_pixel()
    }

    /// The smallest buffer that holds this layout (saturating: a layout
    /// too large for memory reports `usize::MAX`).
    pub fn required_len(&self) -> usize {
        if self.height == 0 {
            return 0;
        }
        (self.height - 1)
            .checked_mul(self.row_bytes.unsigned_abs())
            .and_then(|v| v.checked_add(self.row_len()))
            .unwrap_or(usize::MAX)
    }

    /// Checks the layout against the buffer the host says it allocated.
    pub fn validate(&self, buffer_len: usize) -> Result<()> {
        check_size(self.width, self.height)?;
        let stride = self.row_bytes.unsigned_abs();
        if stride < self.row_len() {
            return Err(Error::InvalidFrame(format!(
                "row stride of {} bytes is shorter than one row of {} {} pixels ({} bytes)",
                self.row_bytes,
                self.width,
                self.format,
                self.row_len()
            )));
        }
        if !stride.is_multiple_of(self.format.bytes_per_sample()) {
            return Err(Error::InvalidFrame(format!(
                "row stride of {} bytes is not a multiple of the {}-byte sample size",
                self.row_bytes,
                self.format.bytes_per_sample()
            )));
        }
        if buffer_len < self.required_len() {
            return Err(Error::InvalidFrame(format!(
                "buffer of {buffer_len} bytes is too small for a {}×{} frame with stride {} (needs {} bytes)",
                self.width,
                self.height,
                self.row_bytes,
                self.required_len()
            )));
        }
        Ok(())
    }

    /// Byte offset of row `y` (0 = top) in the buffer.
    pub fn row_offset(&self, y: usize) -> usize {
        let stride = self.row_bytes.unsigned_abs();
        if self.row_bytes >= 0 {
            y * stride
        } else {
            (self.height - 1 - y) * stride
        }
    }
}

/// A host frame to read from.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    layout: FrameLayout,
    data: &'a [u8],
}

impl<'a> FrameRef<'a> {
    pub fn new(layout: FrameLayout, data: &'a [u8]) -> Result<Self> {
        layout.validate(data.len())?;
        Ok(FrameRef { layout, data })
    }

    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }

    /// The pixel bytes of row `y` (0 = top).
    pub fn row(&self, y: usize) -> &'a [u8] {
        let o = self.layout.row_offset(y);
        &self.data[o..o + self.layout.row_len()]
    }
}

/// A host frame to write into.
#[derive(Debug)]
pub struct FrameMut<'a> {
    layout: FrameLayout,
    data: &'a mut [u8],
}

impl<'a> FrameMut<'a> {
    pub fn new(layout: FrameLayout, data: &'a mut [u8]) -> Result<Self> {
        layout.validate(data.len())?;
        Ok(FrameMut { layout, data })
    }

    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }

    /// Every row with its index y, in parallel: disjoint slices of the
    /// buffer, top-down or bottom-up as the layout says.
    pub fn rows_mut(&mut self) -> impl IndexedParallelIterator<Item = (usize, &mut [u8])> {
        let l = self.layout;
        let stride = l.row_bytes.unsigned_abs().max(1);
        let bottom_up = l.row_bytes < 0;
        self.data
            .par_chunks_mut(stride)
            .take(l.height)
            .enumerate()
            .map(move |(i, chunk)| {
                let y = if bottom_up { l.height - 1 - i } else { i };
                (y, &mut chunk[..l.row_len()])
            })
    }

    pub fn row_mut(&mut self, y: usize) -> &mut [u8] {
        let o = self.layout.row_offset(y);
        let n = self.layout.row_len();
        &mut self.data[o..o + n]
    }

    /// Copies `src` row by row when both share format, colour space and alpha
    /// mode: the pass-through path, as cheap as a memcpy.
    pub fn copy_from(&mut self, src: &FrameRef<'_>) -> Result<()> {
        let (a, b) = (src.layout(), self.layout);
        if (a.width, a.height, a.format, a.colour, a.alpha)
            != (b.width, b.height, b.format, b.colour, b.alpha)
        {
            return Err(Error::InvalidFrame(
                "copy needs frames of the same size, pixel format, colour space and alpha mode"
                    .into(),
            ));
        }
        for y in 0..a.height {
            self.row_mut(y).copy_from_slice(src.row(y));
        }
        Ok(())
    }
}

/// The working image every node sees: planar f32 R, G, B, A planes, each
/// `width × height` in row-major top-down order, scene-linear, straight alpha.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Image {
    /// A black, fully opaque image, or [`Error::OutOfMemory`] when its
    /// planes cannot be allocated. Frames and anything sized by them use this.
    pub fn try_new(width: usize, height: usize) -> Result<Self> {
        let what = || format!("the {width}×{height} working image");
        let n = width
            .checked_mul(height)
            .filter(|n| *n <= usize::MAX / 16)
            .ok_or_else(|| crate::memory::out_of_memory(u64::MAX, &what))?;
        let mut data = crate::memory::try_vec(4 * n, 0.0, &what)?;
        data[3 * n..].fill(1.0);
        Ok(Image {
            width,
            height,
            data,
        })
    }

    /// A black, fully opaque image of a size known to be small; like any
    /// infallible allocation, it aborts the process when memory runs out
    /// (sizes a frame decides go through [`Image::try_new`]).
    pub fn new(width: usize, height: usize) -> Self {
        Self::try_new(width, height).unwrap_or_else(|_| alloc_failed::<f32>(4 * width * height))
    }

    /// A copy, or [`Error::OutOfMemory`].
    pub fn try_clone(&self) -> Result<Self> {
        let data = crate::memory::try_copy(&self.data, &|| {
            format!("a copy of the {}×{} working image", self.width, self.height)
        })?;
        Ok(Image {
            width: self.width,
            height: self.height,
            data,
        })
    }

    /// Wraps planar RGBA data (`4 × width × height` values).
    pub fn from_planes(width: usize, height: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != 4 * width * height {
            return Err(Error::InvalidArgument(format!(
                "{} values cannot form a {width}×{height} RGBA image (needs {})",
                data.len(),
                4 * width * height
            )));
        }
        Ok(Image {
            width,
            height,
            data,
        })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// Channel `c` (0 = R, 1 = G, 2 = B, 3 = A).
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.width * self.height;
        &self.data[c * n..(c + 1) * n]
    }

    pub fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        let n = self.width * self.height;
        &mut self.data[c * n..(c + 1) * n]
    }

    /// All four planes, R then G, B, A.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Decodes a host frame into the working space; [`Error::OutOfMemory`]
    /// when the working image does not fit.
    pub fn from_frame(frame: &FrameRef<'_>) -> Result<Image> {
        convert::decode(frame)
    }

    /// Encodes into a host frame; sizes must match.
    pub fn to_frame(&self, out: &mut FrameMut<'_>) -> Result<()> {
        if (out.layout().width, out.layout().height) != (self.width, self.height) {
            return Err(Error::InvalidFrame(format!(
                "output frame is {}×{} but the rendered image is {}×{}",
                out.layout().width,
                out.layout().height,
                self.width,
                self.height
            )));
        }
        convert::encode(self, out);
        Ok(())
    }
}

/// What an infallible allocation of `n` values of `T` does when it fails:
/// the standard library's handler, which aborts the process.
fn alloc_failed<T>(n: usize) -> ! {
    std::alloc::handle_alloc_error(
        std::alloc::Layout::array::<T>(n).unwrap_or(std::alloc::Layout::new::<T>()),
    )
}
