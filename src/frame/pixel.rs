//! Pixel formats hosts hand us: channel layout × sample type.

use crate::error::{Error, Result};

/// Channel layout of a packed pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channels {
    Rgba,
    Rgb,
}

/// Sample type of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleType {
    U8,
    U16,
    F16,
    F32,
}

/// A packed pixel format: channels × sample type, native byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelFormat {
    pub channels: Channels,
    pub sample: SampleType,
}

impl PixelFormat {
    pub const RGBA_U8: PixelFormat = PixelFormat::new(Channels::Rgba, SampleType::U8);
    pub const RGBA_U16: PixelFormat = PixelFormat::new(Channels::Rgba, SampleType::U16);
    pub const RGBA_F16: PixelFormat = PixelFormat::new(Channels::Rgba, SampleType::F16);
    pub const RGBA_F32: PixelFormat = PixelFormat::new(Channels::Rgba, SampleType::F32);
    pub const RGB_U8: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U8);
    pub const RGB_U16: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U16);
    pub const RGB_F16: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::F16);
    pub const RGB_F32: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::F32);

    pub const fn new(channels: Channels, sample: SampleType) -> Self {
        PixelFormat { channels, sample }
    }

    pub const fn channel_count(self) -> usize {
        match self.channels {
            Channels::Rgba => 4,
            Channels::Rgb => 3,
        }
    }

    pub const fn bytes_per_sample(self) -> usize {
        match self.sample {
            SampleType::U8 => 1,
            SampleType::U16 | SampleType::F16 => 2,
            SampleType::F32 => 4,
        }
    }

    pub const fn bytes_per_pixel(self) -> usize {
        self.channel_count() * self.bytes_per_sample()
    }

    /// Integer formats store values in [0, 1] scaled to their range; float
    /// formats store scene values as they are (may exceed 1 or be negative).
    pub const fn is_float(self) -> bool {
        matches!(self.sample, SampleType::F16 | SampleType::F32)
    }

    /// The stable numeric id used at the C ABI: `channels * 16 + sample`,
    /// i.e. RGBA_U8 = 0x00 … RGB_F32 = 0x13.
    pub const fn to_code(self) -> u32 {
        let c = match self.channels {
            Channels::Rgba => 0,
            Channels::Rgb => 1,
        };
        let s = match self.sample {
            SampleType::U8 => 0,
            SampleType::U16 => 1,
            SampleType::F16 => 2,
            SampleType::F32 => 3,
        };
        c * 16 + s
    }

    pub fn from_code(code: u32) -> Result<Self> {
        let channels = match code / 16 {
            0 => Channels::Rgba,
            1 => Channels::Rgb,
            _ => {
                return Err(Error::InvalidFrame(format!(
                    "unknown pixel format code {code:#x}"
                )))
            }
        };
        let sample = match code % 16 {
            0 => SampleType::U8,
            1 => SampleType::U16,
            2 => SampleType::F16,
            3 => SampleType::F32,
            _ => {
                return Err(Error::InvalidFrame(format!(
                    "unknown pixel format code {code:#x}"
                )))
            }
        };
        Ok(PixelFormat { channels, sample })
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = match self.channels {
            Channels::Rgba => "RGBA",
            Channels::Rgb => "RGB",
        };
        let s = match self.sample {
            SampleType::U8 => "u8",
            SampleType::U16 => "u16",
            SampleType::F16 => "f16",
            SampleType::F32 => "f32",
        };
        write!(f, "{c} {s}")
    }
}
