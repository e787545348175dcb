//! Resampling of working images: area averaging to shrink (no aliasing),
//! bilinear to enlarge. Used to run networks at the scale they were trained at.

use super::Image;
use crate::error::Result;
use crate::memory::try_vec;

/// Resamples every plane to `w × h`; aborts the process when memory runs
/// out, like any infallible allocation (frames use [`try_resize`]).
pub fn resize(img: &Image, w: usize, h: usize) -> Image {
    try_resize(img, w, h).unwrap_or_else(|_| super::alloc_failed::<f32>(4 * w * h))
}

/// Resamples every plane to `w × h`, or fails with
/// [`crate::Error::OutOfMemory`] when the result does not fit.
pub fn try_resize(img: &Image, w: usize, h: usize) -> Result<Image> {
    if (img.width(), img.height()) == (w, h) {
        return img.try_clone();
    }
    let mut out = Image::try_new(w, h)?;
    for c in 0..4 {
        let plane = resize_plane(img.plane(c), img.width(), img.height(), w, h)?;
        out.plane_mut(c).copy_from_slice(&plane);
    }
    Ok(out)
}

fn resize_plane(src: &[f32], sw: usize, sh: usize, w: usize, h: usize) -> Result<Vec<f32>> {
    let tmp = resize_axis(src, sw, sh, w, true)?;
    resize_axis(&tmp, w, sh, h, false)
}

/// Resamples along x (`horizontal`) or y to `n` samples.
fn resize_axis(src: &[f32], sw: usize, sh: usize, n: usize, horizontal: bool) -> Result<Vec<f32>> {
    let (len, other) = if horizontal { (sw, sh) } else { (sh, sw) };
    let (ow, oh) = if horizontal { (n, sh) } else { (sw, n) };
    let mut out = try_vec(ow * oh, 0f32, &|| format!("a {ow}×{oh} resampled plane"))?;
    let at = |i: usize, j: usize| {
        if horizontal {
            src[j * sw + i]
        } else {
            src[i * sw + j]
        }
    };
    let scale = len as f64 / n as f64;
    for j in 0..other {
        for k in 0..n {
            let v = if scale > 1.0 {
                // Area average over [k·scale, (k+1)·scale).
                let (a, b) = (k as f64 * scale, (k + 1) as f64 * scale);
                let mut s = 0.0;
                let mut i = a.floor() as usize;
                while (i as f64) < b && i < len {
                    let lo = (i as f64).max(a);
                    let hi = ((i + 1) as f64).min(b);
                    s += f64::from(at(i, j)) * (hi - lo);
                    i += 1;
                }
                (s / (b - a)) as f32
            } else {
                // Bilinear with pixel centres aligned (half-pixel convention).
                let x = ((k as f64 + 0.5) * scale - 0.5).clamp(0.0, (len - 1) as f64);
                let i0 = x.floor() as usize;
                let i1 = (i0 + 1).min(len - 1);
                let t = (x - i0 as f64) as f32;
                at(i0, j) * (1.0 - t) + at(i1, j) * t
            };
            if horizontal {
                out[j * ow + k] = v;
            } else {
                out[k * ow + j] = v;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_images_stay_constant_and_sizes_are_exact() {
        let img = Image::from_planes(7, 5, vec![0.25; 4 * 35]).unwrap();
        for (w, h) in [(3, 2), (14, 10), (1, 1), (7, 5)] {
            let r = resize(&img, w, h);
            assert_eq!((r.width(), r.height()), (w, h));
            assert!(r.data().iter().all(|&v| (v - 0.25).abs() < 1e-6));
        }
    }

    #[test]
    fn area_shrink_preserves_the_mean() {
        let data: Vec<f32> = (0..4 * 64 * 48).map(|i| (i % 13) as f32 / 13.0).collect();
        let img = Image::from_planes(64, 48, data).unwrap();
        let small = resize(&img, 16, 12);
        for c in 0..4 {
            let m1 = img.plane(c).iter().sum::<f32>() / img.plane(c).len() as f32;
            let m2 = small.plane(c).iter().sum::<f32>() / small.plane(c).len() as f32;
            assert!((m1 - m2).abs() < 1e-4, "{m1} vs {m2}");
        }
    }
}
