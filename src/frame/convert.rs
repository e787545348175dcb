//! Packed host pixels ↔ the planar working image. Integer samples map to
//! [0, 1] exactly (u8 and u16 codes round-trip bit for bit); float samples are
//! taken as they are.

use half::f16;
use rayon::prelude::*;

use super::colour::{
    linear_to_srgb, premultiply, srgb_to_linear, unpremultiply, AlphaMode, ColourSpace,
};
use super::{FrameMut, FrameRef, Image, SampleType};

fn read_sample(bytes: &[u8], sample: SampleType, i: usize) -> f32 {
    match sample {
        SampleType::U8 => f32::from(bytes[i]) / 255.0,
        SampleType::U16 => {
            f32::from(u16::from_ne_bytes([bytes[2 * i], bytes[2 * i + 1]])) / 65535.0
        }
        SampleType::F16 => f16::from_ne_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32(),
        SampleType::F32 => f32::from_ne_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ]),
    }
}

fn write_sample(bytes: &mut [u8], sample: SampleType, i: usize, v: f32) {
    match sample {
        // NaN maps to 0 through the saturating cast: integer outputs are always defined.
        SampleType::U8 => bytes[i] = (v.clamp(0.0, 1.0) * 255.0).round() as u8,
        SampleType::U16 => {
            let q = (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
            bytes[2 * i..2 * i + 2].copy_from_slice(&q.to_ne_bytes());
        }
        SampleType::F16 => bytes[2 * i..2 * i + 2].copy_from_slice(&f16::from_f32(v).to_ne_bytes()),
        SampleType::F32 => bytes[4 * i..4 * i + 4].copy_from_slice(&v.to_ne_bytes()),
    }
}

/// The rows of a working image's four planes, in parallel slices: row y of
/// every plane together. Rows are converted in parallel; each value depends
/// only on its own pixel, so the result is the same for any thread count.
fn plane_rows(
    data: &mut [f32],
    w: usize,
    n: usize,
) -> impl IndexedParallelIterator<Item = [&mut [f32]; 4]> {
    let (r, rest) = data.split_at_mut(n);
    let (g, rest) = rest.split_at_mut(n);
    let (b, a) = rest.split_at_mut(n);
    let w = w.max(1);
    r.par_chunks_mut(w)
        .zip(g.par_chunks_mut(w))
        .zip(b.par_chunks_mut(w))
        .zip(a.par_chunks_mut(w))
        .map(|(((r, g), b), a)| [r, g, b, a])
}

pub(super) fn decode(frame: &FrameRef<'_>) -> crate::error::Result<Image> {
    let l = *frame.layout();
    let (w, h) = (l.width, l.height);
    let nch = l.format.channel_count();
    let mut img = Image::try_new(w, h)?;
    plane_rows(img.data_mut(), w, w * h)
        .enumerate()
        .for_each(|(y, mut planes)| {
            let row = frame.row(y);
            for x in 0..w {
                let mut px = [0.0, 0.0, 0.0, 1.0];
                for (c, v) in px.iter_mut().enumerate().take(nch) {
                    *v = read_sample(row, l.format.sample, x * nch + c);
                }
                let a = px[3];
                for v in &mut px[..3] {
                    if l.alpha == AlphaMode::Premultiplied {
                        *v = unpremultiply(*v, a);
                    }
                    if l.colour == ColourSpace::Srgb {
                        *v = srgb_to_linear(*v);
                    }
                }
                for (plane, v) in planes.iter_mut().zip(px) {
                    plane[x] = v;
                }
            }
        });
    Ok(img)
}

pub(super) fn encode(img: &Image, out: &mut FrameMut<'_>) {
    let l = *out.layout();
    let (w, h) = (l.width, l.height);
    let n = w * h;
    let nch = l.format.channel_count();
    let src = img.data();
    out.rows_mut().for_each(|(y, row)| {
        for x in 0..w {
            let p = y * w + x;
            let a = src[3 * n + p];
            for c in 0..nch {
                let mut v = src[c * n + p];
                if c < 3 {
                    if l.colour == ColourSpace::Srgb {
                        v = linear_to_srgb(v);
                    }
                    if l.alpha == AlphaMode::Premultiplied {
                        v = premultiply(v, a);
                    }
                }
                write_sample(row, l.format.sample, x * nch + c, v);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn layouts(w: usize, h: usize) -> Vec<FrameLayout> {
        let mut v = Vec::new();
        for format in [
            PixelFormat::RGBA_U8,
            PixelFormat::RGBA_U16,
            PixelFormat::RGBA_F16,
            PixelFormat::RGBA_F32,
            PixelFormat::RGB_U8,
            PixelFormat::RGB_U16,
            PixelFormat::RGB_F32,
        ] {
            for colour in [ColourSpace::Srgb, ColourSpace::Linear] {
                for alpha in [AlphaMode::Straight, AlphaMode::Premultiplied] {
                    for flip in [false, true] {
                        let mut l = FrameLayout::packed(w, h, format, colour, alpha);
                        l.row_bytes = (l.row_len() + 8) as isize * if flip { -1 } else { 1 };
                        v.push(l);
                    }
                }
            }
        }
        v
    }

    /// Bytes that are valid codes for the format, with alpha never 0 for
    /// premultiplied integer frames (colour ≤ alpha, as premultiplication implies).
    fn pattern(l: &FrameLayout) -> Vec<u8> {
        let mut buf = vec![0u8; l.required_len()];
        let mut f = FrameMut::new(*l, &mut buf).unwrap();
        let nch = l.format.channel_count();
        for y in 0..l.height {
            let row = f.row_mut(y);
            for x in 0..l.width {
                for c in 0..nch {
                    let i = x * nch + c;
                    let seed = (x * 31 + y * 17 + c * 7) as u32;
                    let code = if c == 3 { 128 + seed % 128 } else { seed % 128 };
                    match l.format.sample {
                        SampleType::U8 => row[i] = code as u8,
                        SampleType::U16 => row[2 * i..2 * i + 2]
                            .copy_from_slice(&((code * 257) as u16).to_ne_bytes()),
                        SampleType::F16 => row[2 * i..2 * i + 2].copy_from_slice(
                            &half::f16::from_f32(code as f32 / 64.0).to_ne_bytes(),
                        ),
                        SampleType::F32 => row[4 * i..4 * i + 4]
                            .copy_from_slice(&(code as f32 / 64.0).to_ne_bytes()),
                    }
                }
            }
        }
        buf
    }

    #[test]
    fn integer_frames_round_trip_exactly_through_the_working_image() {
        for l in layouts(5, 3) {
            if l.format.is_float()
                && (l.colour == ColourSpace::Srgb || l.alpha == AlphaMode::Premultiplied)
            {
                continue; // powf and c/a·a are exact only after integer quantisation
            }
            let src = pattern(&l);
            let img = Image::from_frame(&FrameRef::new(l, &src).unwrap()).unwrap();
            let mut out = vec![0u8; src.len()];
            img.to_frame(&mut FrameMut::new(l, &mut out).unwrap())
                .unwrap();
            let (a, b) = (
                FrameRef::new(l, &src).unwrap(),
                FrameRef::new(l, &out).unwrap(),
            );
            for y in 0..l.height {
                assert_eq!(a.row(y), b.row(y), "{l:?} row {y}");
            }
        }
    }

    #[test]
    fn bottom_up_and_top_down_frames_decode_to_the_same_image() {
        let top = FrameLayout::packed(
            4,
            3,
            PixelFormat::RGBA_U8,
            ColourSpace::Linear,
            AlphaMode::Straight,
        );
        let src = pattern(&top);
        // Same rows, stored bottom-up.
        let mut flipped = vec![0u8; src.len()];
        let stride = top.row_len();
        for y in 0..3 {
            flipped[(2 - y) * stride..(3 - y) * stride]
                .copy_from_slice(&src[y * stride..(y + 1) * stride]);
        }
        let bottom = FrameLayout {
            row_bytes: -(stride as isize),
            ..top
        };
        let a = Image::from_frame(&FrameRef::new(top, &src).unwrap()).unwrap();
        let b = Image::from_frame(&FrameRef::new(bottom, &flipped).unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rgb_frames_decode_as_opaque() {
        let l = FrameLayout::packed(
            2,
            2,
            PixelFormat::RGB_U8,
            ColourSpace::Linear,
            AlphaMode::Straight,
        );
        let img = Image::from_frame(&FrameRef::new(l, &[9u8; 12]).unwrap()).unwrap();
        assert!(img.plane(3).iter().all(|&a| a == 1.0));
        assert!(img.plane(0).iter().all(|&r| r == 9.0 / 255.0));
    }

    #[test]
    fn bad_layouts_are_rejected_with_a_reason() {
        let ok = FrameLayout::packed(
            4,
            4,
            PixelFormat::RGBA_F32,
            ColourSpace::Linear,
            AlphaMode::Straight,
        );
        assert!(ok.validate(ok.required_len()).is_ok());
        assert!(ok.validate(ok.required_len() - 1).is_err());
        assert!(FrameLayout { width: 0, ..ok }.validate(1 << 20).is_err());
        assert!(FrameLayout {
            row_bytes: 60,
            ..ok
        }
        .validate(1 << 20)
        .is_err());
        assert!(FrameLayout {
            row_bytes: 66,
            ..ok
        }
        .validate(1 << 20)
        .is_err());
        assert!(FrameLayout {
            row_bytes: -64,
            ..ok
        }
        .validate(ok.required_len())
        .is_ok());
        assert!(FrameLayout {
            width: 1 << 20,
            ..ok
        }
        .validate(usize::MAX)
        .is_err());
    }
}
