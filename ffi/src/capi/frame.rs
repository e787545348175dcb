//! Frames on caller-owned buffers.

use std::ffi::c_void;

use equifx::frame::{AlphaMode, ColourSpace, FrameLayout, PixelFormat};

use super::host_struct::{self, HostStruct};
use crate::guard::FfiError;
use crate::host_bytes::HostBytes;

/// The smallest `equifx_frame.struct_size` this library accepts: the
/// struct's size in ABI 1 on 64-bit targets. Set `struct_size` to
/// `sizeof(equifx_frame)`; the struct only ever grows at the end, so a host
/// built against an older header keeps working.
pub const EQUIFX_FRAME_MIN_SIZE: u32 = 48;

/// Packed pixel formats (native byte order). Values are ABI.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum equifx_pixel_format {
    EQUIFX_PIXEL_FORMAT_RGBA_U8 = 0x00,
    EQUIFX_PIXEL_FORMAT_RGBA_U16 = 0x01,
    EQUIFX_PIXEL_FORMAT_RGBA_F16 = 0x02,
    EQUIFX_PIXEL_FORMAT_RGBA_F32 = 0x03,
    EQUIFX_PIXEL_FORMAT_RGB_U8 = 0x10,
    EQUIFX_PIXEL_FORMAT_RGB_U16 = 0x11,
    EQUIFX_PIXEL_FORMAT_RGB_F16 = 0x12,
    EQUIFX_PIXEL_FORMAT_RGB_F32 = 0x13,
}

/// Transfer function of the pixel values. Values are ABI.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum equifx_colour_space {
    EQUIFX_COLOUR_SPACE_SRGB = 0,
    EQUIFX_COLOUR_SPACE_LINEAR = 1,
}

/// Alpha convention of the pixel values. Values are ABI.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum equifx_alpha_mode {
    EQUIFX_ALPHA_MODE_STRAIGHT = 0,
    EQUIFX_ALPHA_MODE_PREMULTIPLIED = 1,
}

/// A frame in a caller-owned buffer.
///
/// `data` is the lowest address of the buffer and `data_len` its size in
/// bytes. `row_bytes` is the distance from one row to the next going *down*
/// the image: positive for top-down buffers, negative for bottom-up buffers
/// (OpenFX, OpenGL), whose top row then sits at the end of the buffer.
/// Enum fields are `uint32_t` holding `equifx_pixel_format`,
/// `equifx_colour_space` and `equifx_alpha_mode` values.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct equifx_frame {
    /// Set to `sizeof(equifx_frame)`. Fields are only ever appended: any size
    /// from `EQUIFX_FRAME_MIN_SIZE` up is accepted and only the fields that
    /// fit are read; smaller sizes fail with `EQUIFX_STATUS_INVALID_ARGUMENT`.
    pub struct_size: u32,
    pub width: u32,
    pub height: u32,
    pub pixel_format: u32,
    pub colour_space: u32,
    pub alpha_mode: u32,
    pub row_bytes: isize,
    pub data: *mut c_void,
    pub data_len: usize,
}

// SAFETY: repr(C), `struct_size: u32` first, and its only version is its current size.
unsafe impl HostStruct for equifx_frame {
    const NAME: &'static str = "equifx_frame";
    const MIN_SIZE_NAME: &'static str = "EQUIFX_FRAME_MIN_SIZE";
    const VERSION_SIZES: &'static [usize] = &[EQUIFX_FRAME_MIN_SIZE as usize];
    fn unset() -> Self {
        equifx_frame {
            struct_size: 0,
            width: 0,
            height: 0,
            pixel_format: 0,
            colour_space: 0,
            alpha_mode: 0,
            row_bytes: 0,
            data: std::ptr::null_mut(),
            data_len: 0,
        }
    }
}

host_struct::assert_version_sizes!(equifx_frame);

impl equifx_frame {
    /// Checks the description and turns it into a core layout.
    pub fn layout(&self) -> Result<FrameLayout, FfiError> {
        host_struct::covered::<equifx_frame>(self.struct_size, "frame")?;
        if self.data.is_null() {
            return Err(FfiError::null("frame.data"));
        }
        let format = PixelFormat::from_code(self.pixel_format)?;
        let colour = match self.colour_space {
            0 => ColourSpace::Srgb,
            1 => ColourSpace::Linear,
            v => {
                return Err(FfiError::invalid(format!(
                    "unknown colour_space {v}: use 0 (sRGB) or 1 (linear)"
                )))
            }
        };
        let alpha = match self.alpha_mode {
            0 => AlphaMode::Straight,
            1 => AlphaMode::Premultiplied,
            v => {
                return Err(FfiError::invalid(format!(
                    "unknown alpha_mode {v}: use 0 (straight) or 1 (premultiplied)"
                )))
            }
        };
        let layout = FrameLayout {
            width: self.width as usize,
            height: self.height as usize,
            row_bytes: self.row_bytes,
            format,
            colour,
            alpha,
        };
        layout.validate(self.data_len)?;
        if (self.data as usize).checked_add(self.data_len).is_none()
            || self.data_len > isize::MAX as usize
        {
            return Err(FfiError::invalid(
                "frame buffer extends past the end of the address space",
            ));
        }
        Ok(layout)
    }

    /// Where the buffer is.
    pub(crate) fn bytes(&self) -> HostBytes {
        HostBytes {
            base: self.data as *const u8,
            len: self.data_len,
        }
    }
}
