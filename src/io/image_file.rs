//! Image files: PNG, TIFF, JPEG and WebP (8/16-bit, sRGB, straight alpha,
//! EXIF orientation applied) through `image`, OpenEXR (half/float,
//! scene-linear, premultiplied alpha as the format defines) through `exr`.
//! Everything is decoded into the working [`Image`].

use std::path::Path;

use exr::prelude::{ReadChannels, ReadLayers, WritableImage};

use crate::error::{Error, Result};
use crate::frame::{
    AlphaMode, ColourSpace, FrameLayout, FrameMut, FrameRef, Image, PixelFormat, SampleType,
};

/// File kinds equifx reads and writes, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Png,
    Tiff,
    Exr,
    /// Read only: a lossy format is no place for a rendered frame.
    Jpeg,
    /// Read only, like JPEG.
    Webp,
}

impl FileKind {
    pub fn from_path(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::ImageFormat {
                path: path.to_path_buf(),
                reason: format!(
                    "is a folder, not an image file: name a file in it, e.g. {}",
                    path.join("out.png").display()
                ),
            });
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "" => Err(Error::ImageFormat {
                path: path.to_path_buf(),
                reason: "has no extension: use .png, .exr, .tif/.tiff (or, to read, .jpg/.jpeg \
                         or .webp); the extension picks the format"
                    .into(),
            }),
            "png" => Ok(FileKind::Png),
            "tif" | "tiff" => Ok(FileKind::Tiff),
            "exr" => Ok(FileKind::Exr),
            "jpg" | "jpeg" => Ok(FileKind::Jpeg),
            "webp" => Ok(FileKind::Webp),
            _ => Err(Error::ImageFormat {
                path: path.to_path_buf(),
                reason: format!(
                    "unsupported extension '.{ext}': use .png, .tif/.tiff, .exr, .jpg/.jpeg or .webp"
                ),
            }),
        }
    }

    /// Whether equifx writes this kind (JPEG and WebP are inputs only).
    pub fn is_writable(self) -> bool {
        matches!(self, FileKind::Png | FileKind::Tiff | FileKind::Exr)
    }
}

/// Extensions of every file kind equifx reads, lower case.
pub const READABLE_EXTENSIONS: &[&str] = &["png", "tif", "tiff", "exr", "jpg", "jpeg", "webp"];

/// Most pixels a decoded file may have: the frame limit,
/// [`crate::frame::MAX_PIXELS`] (256 Mpx: a 100-Mpx camera file fits). A
/// header claiming more is refused before anything is allocated; the working
/// image of the largest file accepted takes 4 GiB, and when memory runs out
/// before that, reading fails with [`Error::OutOfMemory`].
const MAX_DECODE_PIXELS: u64 = crate::frame::MAX_PIXELS as u64;

/// Names the file in an out-of-memory error (other errors already do).
fn with_path(path: &Path, e: Error) -> Error {
    match e {
        Error::OutOfMemory(m) => Error::OutOfMemory(format!("{}: {m}", path.display())),
        e => e,
    }
}

/// The native-endian bytes of `samples`, allocated fallibly.
fn ne_bytes<T: Copy, const N: usize>(
    samples: &[T],
    to_bytes: impl Fn(T) -> [u8; N],
    what: &dyn Fn() -> String,
) -> Result<Vec<u8>> {
    let mut out = crate::memory::try_with_capacity(samples.len() * N, what)?;
    out.extend(samples.iter().flat_map(|&x| to_bytes(x)));
    Ok(out)
}

fn too_many_pixels(path: &Path, w: u64, h: u64) -> Option<Error> {
    (w * h > MAX_DECODE_PIXELS).then(|| {
        format_err(
            path,
            format!(
                "the picture is {w}×{h}, more than the {} Mpx equifx reads",
                MAX_DECODE_PIXELS >> 20
            ),
        )
    })
}

/// Sample depth of a file on disk, so outputs can keep their input's depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    U8,
    U16,
    F16,
    F32,
}

/// A decoded image file.
pub struct LoadedImage {
    pub image: Image,
    pub depth: Depth,
    pub has_alpha: bool,
}

fn format_err(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::ImageFormat {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads an image file into the working space (linear light, straight alpha).
pub fn read_image(path: &Path) -> Result<LoadedImage> {
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    match FileKind::from_path(path)? {
        FileKind::Exr => read_exr(path),
        FileKind::Png | FileKind::Tiff | FileKind::Jpeg | FileKind::Webp => {
            read_with_image_crate(path)
        }
    }
}

/// Decodes a PNG, TIFF, JPEG or WebP file (the format is read from its bytes,
/// not trusted from the extension) upright: the EXIF orientation a camera
/// recorded is applied. Files of more than [`MAX_DECODE_PIXELS`] and JPEG
/// files cut short (the decoder would fill the rest in grey) are refused.
pub fn decode_with_image_crate(path: &Path) -> Result<image::DynamicImage> {
    use image::ImageDecoder;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(&bytes) {
        return Err(format_err(
            path,
            "the JPEG file is cut short (no end-of-image marker after its picture data): \
             copy it again",
        ));
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format_err(path, format!("cannot decode image: {e}")))?;
    let (w, h) = decoder.dimensions();
    if let Some(e) = too_many_pixels(path, w.into(), h.into()) {
        return Err(e);
    }
    // A broken EXIF block only loses the rotation, never the picture.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| format_err(path, format!("cannot decode image: {e}")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(format_err(path, "image has no pixels"));
    }
    img.apply_orientation(orientation);
    Ok(img)
}

/// Whether a JPEG stream has its end-of-image marker after the start of its
/// first scan. The header segments are walked by their lengths (an EXIF
/// thumbnail is a whole JPEG inside one of them); inside entropy-coded data a
/// 0xFF byte is always followed by 0x00 or a restart marker, so FF D9 after
/// the first scan starts can only be the real end.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2;
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        match bytes[i + 1] {
            0xFF => i += 1,
            0xDA => return bytes[i..].windows(2).any(|w| w == [0xFF, 0xD9]),
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => match bytes.get(i + 2..i + 4) {
                Some(len) => i += 2 + usize::from(u16::from_be_bytes([len[0], len[1]])),
                None => return false,
            },
        }
    }
    false
}

fn read_with_image_crate(path: &Path) -> Result<LoadedImage> {
    let img = decode_with_image_crate(path)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let has_alpha = img.color().has_alpha();
    let what = || format!("the {w}×{h} decoded samples");
    let (bytes, sample, depth, colour): (Vec<u8>, SampleType, Depth, ColourSpace) =
        match img.color() {
            image::ColorType::L8
            | image::ColorType::La8
            | image::ColorType::Rgb8
            | image::ColorType::Rgba8 => (
                img.into_rgba8().into_raw(),
                SampleType::U8,
                Depth::U8,
                ColourSpace::Srgb,
            ),
            image::ColorType::Rgb32F | image::ColorType::Rgba32F => {
                let v = img.into_rgba32f().into_raw();
                (
                    ne_bytes(&v, f32::to_ne_bytes, &what).map_err(|e| with_path(path, e))?,
                    SampleType::F32,
                    Depth::F32,
                    ColourSpace::Linear,
                )
            }
            _ => {
                let v = img.into_rgba16().into_raw();
                (
                    ne_bytes(&v, u16::to_ne_bytes, &what).map_err(|e| with_path(path, e))?,
                    SampleType::U16,
                    Depth::U16,
                    ColourSpace::Srgb,
                )
            }
        };
    let layout = FrameLayout::packed(
        w,
        h,
        PixelFormat::new(crate::frame::Channels::Rgba, sample),
        colour,
        AlphaMode::Straight,
    );
    let frame = FrameRef::new(layout, &bytes).map_err(|e| format_err(path, e))?;
    Ok(LoadedImage {
        image: Image::from_frame(&frame).map_err(|e| with_path(path, e))?,
        depth,
        has_alpha,
    })
}

fn read_exr(path: &Path) -> Result<LoadedImage> {
    // The sizes first, so a header claiming too many pixels allocates nothing.
    let meta = exr::meta::MetaData::read_from_file(path, false)
        .map_err(|e| format_err(path, format!("cannot read OpenEXR: {e}")))?;
    for header in &meta.headers {
        let size = header.layer_size;
        if let Some(e) = too_many_pixels(path, size.width() as u64, size.height() as u64) {
            return Err(e);
        }
    }
    let file = exr::prelude::read()
        .no_deep_data()
        .largest_resolution_level()
        .rgba_channels(
            |size, ch| {
                let (w, h) = (size.width(), size.height());
                let planes =
                    crate::memory::try_vec(4 * w * h, 0f32, &|| format!("the {w}×{h} EXR planes"));
                (w, h, planes, ch.3.is_some(), ch.0.sample_type)
            },
            |(w, h, planes, _, _), pos, (r, g, b, a): (f32, f32, f32, f32)| {
                // When the planes could not be allocated, the error is
                // reported once reading ends.
                if let Ok(data) = planes {
                    let (n, p) = (*w * *h, pos.y() * *w + pos.x());
                    data[p] = r;
                    data[n + p] = g;
                    data[2 * n + p] = b;
                    data[3 * n + p] = a;
                }
            },
        )
        .first_valid_layer()
        .all_attributes()
        .from_file(path)
        .map_err(|e| format_err(path, format!("cannot read OpenEXR: {e}")))?;
    let (w, h, planes, has_alpha, sample_type) = file.layer_data.channel_data.pixels;
    let mut data = planes.map_err(|e| with_path(path, e))?;
    if w == 0 || h == 0 {
        return Err(format_err(path, "image has no pixels"));
    }
    // EXR colour is premultiplied by definition; the working space is straight.
    let n = w * h;
    for p in 0..n {
        let a = data[3 * n + p];
        for c in 0..3 {
            data[c * n + p] = crate::frame::unpremultiply(data[c * n + p], a);
        }
    }
    let depth = if sample_type == exr::prelude::SampleType::F16 {
        Depth::F16
    } else {
        Depth::F32
    };
    Ok(LoadedImage {
        image: Image::from_planes(w, h, data)?,
        depth,
        has_alpha,
    })
}

/// Reads only the header of an image file: its width and height. Used to
/// check that an existing output is a complete, readable frame.
pub fn image_dimensions(path: &Path) -> Result<(usize, usize)> {
    match FileKind::from_path(path)? {
        FileKind::Exr => {
            let meta = exr::meta::MetaData::read_from_file(path, false)
                .map_err(|e| format_err(path, format!("cannot read OpenEXR header: {e}")))?;
            let size = meta
                .headers
                .first()
                .map(|h| h.layer_size)
                .ok_or_else(|| format_err(path, "OpenEXR file has no layers"))?;
            Ok((size.width(), size.height()))
        }
        FileKind::Png | FileKind::Tiff | FileKind::Jpeg | FileKind::Webp => {
            let (w, h) = image::ImageReader::open(path)
                .map_err(|e| Error::io(path, e))?
                .with_guessed_format()
                .map_err(|e| Error::io(path, e))?
                .into_dimensions()
                .map_err(|e| format_err(path, format!("cannot read image header: {e}")))?;
            Ok((w as usize, h as usize))
        }
    }
}

/// The image as straight-alpha sRGB RGBA integers, 16-bit when `wide`, the
/// way PNG and TIFF files hold it.
fn to_srgb_integers(image: &Image, wide: bool) -> Result<image::DynamicImage> {
    let (w, h) = (image.width(), image.height());
    let format = if wide {
        PixelFormat::RGBA_U16
    } else {
        PixelFormat::RGBA_U8
    };
    let layout = FrameLayout::packed(w, h, format, ColourSpace::Srgb, AlphaMode::Straight);
    let what = || format!("the {w}×{h} {format} pixels to write");
    let mut bytes = crate::memory::try_vec(layout.required_len(), 0u8, &what)?;
    image.to_frame(&mut FrameMut::new(layout, &mut bytes)?)?;
    if wide {
        let mut v: Vec<u16> = crate::memory::try_with_capacity(bytes.len() / 2, &what)?;
        v.extend(
            bytes
                .chunks_exact(2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]])),
        );
        drop(bytes);
        image::ImageBuffer::from_raw(w as u32, h as u32, v).map(image::DynamicImage::ImageRgba16)
    } else {
        image::ImageBuffer::from_raw(w as u32, h as u32, bytes).map(image::DynamicImage::ImageRgba8)
    }
    .ok_or_else(|| Error::Internal("image buffer size mismatch".into()))
}

/// The image as an 8-bit sRGB PNG file's bytes (for embedding in a page).
pub fn png_bytes(image: &Image) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    to_srgb_integers(image, false)?
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Internal(format!("cannot encode a PNG: {e}")))?;
    Ok(out.into_inner())
}

/// Writes an image file atomically; the format comes from the extension and
/// `depth` picks 8/16-bit for PNG/TIFF or half/float for EXR (others are
/// mapped to the nearest depth the format has).
pub fn write_image(path: &Path, image: &Image, depth: Depth) -> Result<()> {
    let kind = FileKind::from_path(path)?;
    let (w, h) = (image.width(), image.height());
    match kind {
        FileKind::Jpeg | FileKind::Webp => Err(format_err(
            path,
            "equifx reads JPEG and WebP but does not write them (lossy): write .png, .tif or .exr",
        )),
        FileKind::Exr => {
            let n = w * h;
            let d = image.data();
            let px = |x: usize, y: usize| {
                let p = y * w + x;
                let a = d[3 * n + p];
                let c = |i: usize| crate::frame::premultiply(d[i * n + p], a);
                (c(0), c(1), c(2), a)
            };
            // Sequential block order: parallel compression writes blocks in completion
            // order, and farm outputs must be byte-identical across runs.
            crate::io::write_atomic(path, |out| {
                let result = if depth == Depth::F16 {
                    let px16 = |pos: exr::prelude::Vec2<usize>| {
                        let (r, g, b, a) = px(pos.x(), pos.y());
                        (
                            half::f16::from_f32(r),
                            half::f16::from_f32(g),
                            half::f16::from_f32(b),
                            half::f16::from_f32(a),
                        )
                    };
                    exr::prelude::Image::from_channels(
                        (w, h),
                        exr::prelude::SpecificChannels::rgba(px16),
                    )
                    .write()
                    .non_parallel()
                    .to_buffered(out)
                } else {
                    let px32 = |pos: exr::prelude::Vec2<usize>| px(pos.x(), pos.y());
                    exr::prelude::Image::from_channels(
                        (w, h),
                        exr::prelude::SpecificChannels::rgba(px32),
                    )
                    .write()
                    .non_parallel()
                    .to_buffered(out)
                };
                result.map_err(|e| format_err(path, format!("cannot write OpenEXR: {e}")))
            })
        }
        FileKind::Png | FileKind::Tiff => {
            let wide = matches!(depth, Depth::U16 | Depth::F16 | Depth::F32);
            let dynimg = to_srgb_integers(image, wide).map_err(|e| with_path(path, e))?;
            let fmt = if kind == FileKind::Png {
                image::ImageFormat::Png
            } else {
                image::ImageFormat::Tiff
            };
            crate::io::write_atomic(path, |out| {
                dynimg
                    .write_to(out, fmt)
                    .map_err(|e| format_err(path, format!("cannot encode: {e}")))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Image {
        let mut img = Image::new(w, h);
        let n = w * h;
        let d = img.data_mut();
        for p in 0..n {
            d[p] = p as f32 / n as f32;
            d[n + p] = 1.0 - p as f32 / n as f32;
            d[2 * n + p] = 0.25;
            d[3 * n + p] = 0.5 + 0.5 * (p % 2) as f32;
        }
        img
    }

    #[test]
    fn exr_float_round_trips_exactly_for_opaque_pixels_and_closely_for_others() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.exr");
        let img = gradient(7, 5);
        write_image(&p, &img, Depth::F32).unwrap();
        let back = read_image(&p).unwrap();
        assert_eq!(back.depth, Depth::F32);
        for (a, b) in img.data().iter().zip(back.image.data()) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn png_8_and_16_bit_keep_their_codes() {
        let dir = tempfile::tempdir().unwrap();
        for (name, depth, q) in [
            ("a.png", Depth::U8, 255.0),
            ("b.png", Depth::U16, 65535.0),
            ("c.tif", Depth::U16, 65535.0),
        ] {
            let p = dir.path().join(name);
            let img = gradient(6, 4);
            write_image(&p, &img, depth).unwrap();
            let once = read_image(&p).unwrap();
            assert_eq!(once.depth, depth, "{name}");
            // Writing the decoded image again must give the same codes (quantisation is idempotent).
            let p2 = dir.path().join(format!("2{name}"));
            write_image(&p2, &once.image, depth).unwrap();
            let twice = read_image(&p2).unwrap();
            assert_eq!(once.image, twice.image, "{name}");
            let err = img
                .data()
                .iter()
                .zip(once.image.data())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 4.0 / q, "{name}: {err}"); // sRGB quantisation, at most a few codes in linear
        }
    }

    #[test]
    fn malformed_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["bad.png", "bad.exr", "bad.tif"] {
            let p = dir.path().join(name);
            std::fs::write(&p, b"definitely not an image").unwrap();
            let e = read_image(&p).err().unwrap().to_string();
            assert!(e.contains(name), "{e}");
        }
        assert!(read_image(&dir.path().join("x.bmp")).is_err());
        assert!(read_image(&dir.path().join("missing.png")).is_err());
    }
}
