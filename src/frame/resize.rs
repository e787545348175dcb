//! Resampling of working images: area averaging to shrink (no aliasing),
//! bilinear to enlarge. Used to run networks at the scale they were trained at.

use rayon::prelude::*;

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

/// How output sample k of an axis is made from the input samples.
enum Tap {
    /// Area average over [a, b): input samples `first..` with their overlaps.
    Area {
        first: usize,
        overlaps: Vec<f64>,
        width: f64,
    },
    /// Bilinear between two samples, pixel centres aligned (half-pixel convention).
    Linear { i0: usize, i1: usize, t: f32 },
}

/// The taps of resampling `len` samples to `n`: area averaging to shrink,
/// bilinear to enlarge.
fn taps(len: usize, n: usize) -> Vec<Tap> {
    let scale = len as f64 / n as f64;
    (0..n)
        .map(|k| {
            if scale > 1.0 {
                let (a, b) = (k as f64 * scale, (k + 1) as f64 * scale);
                let first = a.floor() as usize;
                let mut overlaps = Vec::new();
                let mut i = first;
                while (i as f64) < b && i < len {
                    overlaps.push(((i + 1) as f64).min(b) - (i as f64).max(a));
                    i += 1;
                }
                Tap::Area {
                    first,
                    overlaps,
                    width: b - a,
                }
            } else {
                let x = ((k as f64 + 0.5) * scale - 0.5).clamp(0.0, (len - 1) as f64);
                let i0 = x.floor() as usize;
                Tap::Linear {
                    i0,
                    i1: (i0 + 1).min(len - 1),
                    t: (x - i0 as f64) as f32,
                }
            }
        })
        .collect()
}

/// Resamples along x (`horizontal`) or y to `n` samples. Output rows are
/// independent, so they run in parallel; every value is computed the same
/// way on any thread count.
fn resize_axis(src: &[f32], sw: usize, sh: usize, n: usize, horizontal: bool) -> Result<Vec<f32>> {
    let (ow, oh) = if horizontal { (n, sh) } else { (sw, n) };
    let mut out = try_vec(ow * oh, 0f32, &|| format!("a {ow}×{oh} resampled plane"))?;
    if ow == 0 || oh == 0 {
        return Ok(out);
    }
    if horizontal {
        let taps = taps(sw, n);
        out.par_chunks_mut(ow)
            .zip(src.par_chunks(sw))
            .for_each(|(dst, row)| {
                for (d, tap) in dst.iter_mut().zip(&taps) {
                    *d = match tap {
                        Tap::Area {
                            first,
                            overlaps,
                            width,
                        } => {
                            let s: f64 = overlaps
                                .iter()
                                .zip(&row[*first..])
                                .fold(0.0, |s, (o, &v)| s + f64::from(v) * o);
                            (s / width) as f32
                        }
                        Tap::Linear { i0, i1, t } => row[*i0] * (1.0 - t) + row[*i1] * t,
                    };
                }
            });
    } else {
        let taps = taps(sh, n);
        let row = |i: usize| &src[i * sw..(i + 1) * sw];
        out.par_chunks_mut(ow)
            .zip(taps.par_iter())
            .for_each(|(dst, tap)| match tap {
                Tap::Area {
                    first,
                    overlaps,
                    width,
                } => {
                    let mut sum = vec![0f64; sw];
                    for (i, o) in overlaps.iter().enumerate() {
                        for (s, &v) in sum.iter_mut().zip(row(first + i)) {
                            *s += f64::from(v) * o;
                        }
                    }
                    for (d, s) in dst.iter_mut().zip(&sum) {
                        *d = (s / width) as f32;
                    }
                }
                Tap::Linear { i0, i1, t } => {
                    for ((d, &a), &b) in dst.iter_mut().zip(row(*i0)).zip(row(*i1)) {
                        *d = a * (1.0 - t) + b * t;
                    }
                }
            });
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

    /// The resampling written out value by value, one tap at a time.
    fn naive(src: &[f32], sw: usize, sh: usize, w: usize, h: usize) -> Vec<f32> {
        let axis = |src: &[f32], sw: usize, sh: usize, n: usize, horizontal: bool| {
            let (len, other) = if horizontal { (sw, sh) } else { (sh, sw) };
            let (ow, oh) = if horizontal { (n, sh) } else { (sw, n) };
            let at = |i: usize, j: usize| {
                if horizontal {
                    src[j * sw + i]
                } else {
                    src[i * sw + j]
                }
            };
            let scale = len as f64 / n as f64;
            let mut out = vec![0f32; ow * oh];
            for j in 0..other {
                for k in 0..n {
                    let v = if scale > 1.0 {
                        let (a, b) = (k as f64 * scale, (k + 1) as f64 * scale);
                        let (mut s, mut i) = (0.0, a.floor() as usize);
                        while (i as f64) < b && i < len {
                            s +=
                                f64::from(at(i, j)) * (((i + 1) as f64).min(b) - (i as f64).max(a));
                            i += 1;
                        }
                        (s / (b - a)) as f32
                    } else {
                        let x = ((k as f64 + 0.5) * scale - 0.5).clamp(0.0, (len - 1) as f64);
                        let i0 = x.floor() as usize;
                        let t = (x - i0 as f64) as f32;
                        at(i0, j) * (1.0 - t) + at((i0 + 1).min(len - 1), j) * t
                    };
                    out[if horizontal { j * ow + k } else { k * ow + j }] = v;
                }
            }
            out
        };
        let tmp = axis(src, sw, sh, w, true);
        axis(&tmp, w, sh, h, false)
    }

    #[test]
    fn matches_the_value_by_value_resampling_on_any_thread_count() {
        let (sw, sh) = (37, 23);
        let src: Vec<f32> = (0..sw * sh)
            .map(|i| ((i * 7919) % 101) as f32 / 101.0)
            .collect();
        for (w, h) in [(11, 5), (80, 61), (37, 9), (5, 70), (1, 1), (37, 23)] {
            let want = naive(&src, sw, sh, w, h);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool.install(|| resize_plane(&src, sw, sh, w, h).unwrap());
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{w}×{h}, {threads} threads");
            }
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
