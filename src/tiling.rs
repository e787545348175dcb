//! Tiled processing with feathered blending: networks run on bounded tiles,
//! so peak memory depends on the tile size, not the frame size, and any frame
//! size works (1×1, odd sizes, 4K).
//!
//! The frame is first padded by reflection to a multiple of `align` (the
//! network's stride). Tiles overlap by `overlap` pixels; inside an overlap,
//! each tile's weight ramps linearly from 0 to 1, so neighbouring tiles cross-
//! fade and no seam shows. Frame borders get full weight (no fade to black).

use crate::error::{Error, Result};
use crate::frame::Image;

/// Tile geometry. `tile` and `overlap` are in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    pub tile: usize,
    pub overlap: usize,
    /// Tile sides are multiples of this (the network's downsampling factor).
    pub align: usize,
}

impl Tiling {
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Error::InvalidArgument(format!("tiling: {why}"));
        if self.align == 0 || self.tile == 0 || !self.tile.is_multiple_of(self.align) {
            return Err(bad(format!(
                "tile size {} must be a positive multiple of {}",
                self.tile, self.align
            )));
        }
        if self.overlap * 2 > self.tile {
            return Err(bad(format!(
                "overlap {} must be at most half the tile size {}",
                self.overlap, self.tile
            )));
        }
        Ok(())
    }

    /// Start offsets of tiles along one axis of length `len` (already aligned).
    fn starts(&self, len: usize) -> Vec<usize> {
        if len <= self.tile {
            return vec![0];
        }
        let step = (self.tile - self.overlap).max(self.align);
        let mut v: Vec<usize> = (0..)
            .map(|i| i * step)
            .take_while(|&s| s + self.tile < len)
            .collect();
        // The last tile ends exactly at the border (aligned, since len and tile are).
        v.push(len - self.tile);
        v.dedup();
        v
    }
}

/// Pads by mirror reflection (without repeating the edge pixel, like
/// numpy's `reflect`) to `w × h`; a 1-pixel side is replicated.
pub fn pad_reflect(img: &Image, w: usize, h: usize) -> Image {
    let (iw, ih) = (img.width(), img.height());
    let reflect = |i: usize, n: usize| -> usize {
        if n == 1 {
            return 0;
        }
        let period = 2 * (n - 1);
        let m = i % period;
        if m < n {
            m
        } else {
            period - m
        }
    };
    let mut out = Image::new(w, h);
    for c in 0..4 {
        let src = img.plane(c);
        let dst = out.plane_mut(c);
        for y in 0..h {
            let sy = reflect(y, ih);
            for x in 0..w {
                dst[y * w + x] = src[sy * iw + reflect(x, iw)];
            }
        }
    }
    out
}

/// Copies the `w × h` region at (x0, y0).
pub fn crop(img: &Image, x0: usize, y0: usize, w: usize, h: usize) -> Image {
    let iw = img.width();
    let mut out = Image::new(w, h);
    for c in 0..4 {
        let src = img.plane(c);
        let dst = out.plane_mut(c);
        for y in 0..h {
            dst[y * w..(y + 1) * w]
                .copy_from_slice(&src[(y0 + y) * iw + x0..(y0 + y) * iw + x0 + w]);
        }
    }
    out
}

/// Weight of position `i` in a tile of length `n` starting at `start` on an
/// axis of length `len`: ramps over `overlap` on sides that face another tile.
fn ramp(i: usize, n: usize, start: usize, len: usize, overlap: usize) -> f32 {
    let mut w = 1.0f32;
    if overlap > 0 {
        if start > 0 && i < overlap {
            w = w.min((i as f32 + 0.5) / overlap as f32);
        }
        if start + n < len && n - i <= overlap {
            w = w.min(((n - i) as f32 - 0.5) / overlap as f32);
        }
    }
    w
}

/// Runs `f` on every tile of `img` and blends the results. `f` gets an
/// aligned tile and must return an image of the same size. `on_tile(done,
/// total)` reports progress and may stop the work by returning an error.
pub fn process_tiled<F, P>(img: &Image, tiling: Tiling, mut f: F, mut on_tile: P) -> Result<Image>
where
    F: FnMut(&Image) -> Result<Image>,
    P: FnMut(usize, usize) -> Result<()>,
{
    tiling.validate()?;
    let (w, h) = (img.width(), img.height());
    let up = |n: usize| n.div_ceil(tiling.align) * tiling.align;
    let (pw, ph) = (up(w).max(tiling.align), up(h).max(tiling.align));
    let padded = if (pw, ph) == (w, h) {
        img.clone()
    } else {
        pad_reflect(img, pw, ph)
    };
    let (tw, th) = (tiling.tile.min(pw), tiling.tile.min(ph));
    let geometry = Tiling { tile: tw, ..tiling };
    let xs = geometry.starts(pw);
    let ys = Tiling { tile: th, ..tiling }.starts(ph);
    let total = xs.len() * ys.len();

    if total == 1 {
        let out = f(&padded)?;
        on_tile(1, 1)?;
        return Ok(if (pw, ph) == (w, h) {
            out
        } else {
            crop(&out, 0, 0, w, h)
        });
    }

    let mut acc = vec![0.0f32; 4 * pw * ph];
    let mut wsum = vec![0.0f32; pw * ph];
    let mut done = 0;
    for &y0 in &ys {
        for &x0 in &xs {
            let tile = crop(&padded, x0, y0, tw, th);
            let out = f(&tile)?;
            if (out.width(), out.height()) != (tw, th) {
                return Err(Error::Internal(
                    "tile function changed the tile size".into(),
                ));
            }
            for ty in 0..th {
                let wy = ramp(ty, th, y0, ph, tiling.overlap);
                for tx in 0..tw {
                    let wgt = wy * ramp(tx, tw, x0, pw, tiling.overlap);
                    let p = (y0 + ty) * pw + x0 + tx;
                    wsum[p] += wgt;
                    for c in 0..4 {
                        acc[c * pw * ph + p] += wgt * out.plane(c)[ty * tw + tx];
                    }
                }
            }
            done += 1;
            on_tile(done, total)?;
        }
    }
    let n = pw * ph;
    for c in 0..4 {
        for p in 0..n {
            acc[c * n + p] /= wsum[p];
        }
    }
    let blended = Image::from_planes(pw, ph, acc)?;
    Ok(if (pw, ph) == (w, h) {
        blended
    } else {
        crop(&blended, 0, 0, w, h)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: usize, h: usize) -> Image {
        let mut r = crate::rng::StreamRng::new(3, b"tiling-test", 0);
        let data = (0..4 * w * h).map(|_| r.uniform() as f32).collect();
        Image::from_planes(w, h, data).unwrap()
    }

    /// A 3×3 box blur with reflected borders: a local operator like a conv net.
    fn blur(img: &Image) -> Result<Image> {
        let (w, h) = (img.width(), img.height());
        let mut out = img.clone();
        for c in 0..3 {
            let src = img.plane(c);
            let dst = out.plane_mut(c);
            for y in 0..h {
                for x in 0..w {
                    let mut s = 0.0;
                    for dy in [-1i64, 0, 1] {
                        for dx in [-1i64, 0, 1] {
                            let yy = (y as i64 + dy).clamp(0, h as i64 - 1) as usize;
                            let xx = (x as i64 + dx).clamp(0, w as i64 - 1) as usize;
                            s += src[yy * w + xx];
                        }
                    }
                    dst[y * w + x] = s / 9.0;
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn identity_through_tiles_reproduces_any_size_exactly() {
        for (w, h) in [(1, 1), (7, 3), (64, 64), (133, 71), (257, 19)] {
            let img = noise(w, h);
            let t = Tiling {
                tile: 32,
                overlap: 8,
                align: 8,
            };
            let out = process_tiled(&img, t, |x| Ok(x.clone()), |_, _| Ok(())).unwrap();
            assert_eq!((out.width(), out.height()), (w, h));
            // Blending equal values with weights that sum to one is exact up to rounding.
            for (a, b) in img.data().iter().zip(out.data()) {
                assert!((a - b).abs() <= 1e-6, "{w}x{h}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn tiled_and_untiled_local_operators_agree_in_the_interior() {
        let img = noise(160, 96);
        let whole = blur(&img).unwrap();
        let t = Tiling {
            tile: 48,
            overlap: 16,
            align: 8,
        };
        let tiled = process_tiled(&img, t, blur, |_, _| Ok(())).unwrap();
        // A 3×3 operator differs from the whole-frame result only within 1 px
        // of a tile edge, and tile edges sit inside overlaps where their weight
        // is below 1.5/16; the bound is that weight times the largest possible
        // difference (1.0).
        let bound = 1.5 / 16.0;
        let mut max_err = 0.0f32;
        for c in 0..3 {
            for (a, b) in whole.plane(c).iter().zip(tiled.plane(c)) {
                max_err = max_err.max((a - b).abs());
            }
        }
        assert!(max_err <= bound, "max error {max_err} > {bound}");
    }

    #[test]
    fn progress_reports_every_tile_and_errors_stop_the_work() {
        let img = noise(100, 100);
        let t = Tiling {
            tile: 32,
            overlap: 8,
            align: 8,
        };
        let mut seen = Vec::new();
        process_tiled(
            &img,
            t,
            |x| Ok(x.clone()),
            |d, n| {
                seen.push((d, n));
                Ok(())
            },
        )
        .unwrap();
        let n = seen.last().unwrap().1;
        assert_eq!(seen.len(), n);
        assert!(n > 1);
        let mut calls = 0;
        let r = process_tiled(
            &img,
            t,
            |x| {
                calls += 1;
                Ok(x.clone())
            },
            |d, _| if d == 2 { Err(Error::Aborted) } else { Ok(()) },
        );
        assert!(matches!(r, Err(Error::Aborted)));
        assert_eq!(calls, 2);
    }

    #[test]
    fn bad_geometry_is_refused() {
        let img = noise(8, 8);
        for t in [
            Tiling {
                tile: 30,
                overlap: 4,
                align: 8,
            },
            Tiling {
                tile: 32,
                overlap: 20,
                align: 8,
            },
            Tiling {
                tile: 0,
                overlap: 0,
                align: 8,
            },
        ] {
            assert!(process_tiled(&img, t, |x| Ok(x.clone()), |_, _| Ok(())).is_err());
        }
    }
}
