//! Tiled processing with feathered blending: networks run on bounded tiles,
//! so peak memory depends on the tile size, not the frame size, and any frame
//! size works (1×1, odd sizes, 4K).
//!
//! The frame is first padded by reflection to a multiple of `align` (the
//! network's stride) and cut into tiles of `tile` pixels that overlap by
//! `overlap` pixels. A convolutional network sees zero padding around
//! whatever it is given, so its output is wrong over a band as wide as its
//! effective receptive field along every edge of its input. Each tile is
//! therefore read with a context margin of `halo` pixels on every side (real
//! neighbouring pixels inside the frame, the frame reflected beyond its
//! borders, so the frame's own edges get context too); the network runs on
//! the enlarged tile and only the inner `tile × tile` region is kept. Inside
//! an overlap each kept region's weight ramps linearly from 0 to 1, so
//! neighbouring tiles cross-fade; frame borders get full weight (no fade to
//! black). With a halo at least as wide as the network's effective receptive
//! field, every kept pixel is what the network computes on the whole frame
//! reflect-padded by the halo, so tiles leave no seam.
//!
//! Over half of this file is tests: the seams, spans and borders are checked
//! against brute force and against untiled runs.

use crate::error::{Error, Result};
use crate::frame::Image;
use crate::memory::{try_vec, try_with_capacity};

/// Context margin, in pixels at the network's resolution, that Domain
/// Transfer gives every tile (a multiple of 16, so every shipped alignment
/// divides it).
///
/// Measured on the shipped default bundle (`models/default`, photo → anime,
/// 512 × 512 1/f noise, see `tests/tiling_seams.rs`,
/// `measure_receptive_field_of_the_default_network`): flipping one input
/// pixel by ±0.5 moves the output by more than 10⁻¹ of its largest effect up
/// to 71 px away, 10⁻² up to 125 px, 10⁻³ up to 155 px and 10⁻⁴ up to 246 px
/// (its theoretical receptive field, 16 coupling blocks of two 3 × 3 convs at
/// stride 16 plus encoder and decoder, is over 500 px). 160 px, the first
/// multiple of 16 past the 10⁻³ radius, leaves tiled and untiled renders
/// within 0.13/255 of each other with 64-px tiles and 0.05/255 with 512-px
/// tiles (`measure_seams_against_the_halo`); 128 px leaves up to 0.48/255,
/// 96 px up to 6/255. The price is compute: a 512-px tile runs the network
/// on 832 × 832 pixels.
pub const DEFAULT_HALO: usize = 160;

/// Reflected context, in pixels at the network's resolution, that Domain
/// Transfer gives the frame's own borders where its network wants
/// surroundings (a multiple of 16).
///
/// The reflection stands in for surroundings the frame does not have, so
/// it was measured against a frame that has them (`tests/tiling_seams.rs`,
/// `measure_border_context`): a 256 × 160 crop of 1/f noise rendered alone
/// against the same region of the whole 512 × 416 render, shipped default
/// bundle. With 64 px the crop's outermost two pixels are off by 9.0/255 on
/// average, and pixels 8–31 px inside by 3.5/255, against 8.5 and 3.5 with
/// the whole 160-px halo and 21 and 13.5 with none; 32 px leaves 11.7 and
/// 4.2. The edge-stripe statistic of the node test is 0.82 (0.76 with 160,
/// 4.3 with none). A 1080p frame in one tile then runs on 2.5 MP instead of
/// 3.2.
pub const DEFAULT_BORDER: usize = 64;

/// Tile geometry, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// Side of the region of each tile that is kept (at most; a frame
    /// smaller than this is one tile).
    pub tile: usize,
    /// Pixels neighbouring kept regions share and cross-fade over.
    pub overlap: usize,
    /// Tile sides are multiples of this (the network's downsampling factor).
    pub align: usize,
    /// Context margin read around every tile and discarded after `f` ran
    /// (rounded up to a multiple of `align`, so tiles stay on the network's
    /// sampling grid). `f` sees tiles of side up to `tile + 2 · halo`.
    pub halo: usize,
    /// Context read beyond the frame's borders (the frame reflected there),
    /// in pixels, at most `halo` (rounded up to a multiple of `align`). A
    /// network trained on crops of larger pictures saw real surroundings,
    /// which the reflection stands in for; one trained on whole pictures saw
    /// nothing beyond their borders, and gets the frame's edges as they are
    /// (0: the halo then only joins tiles to their neighbours).
    pub border: usize,
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

    /// `border` for as much context beyond the frame as inside it.
    pub const FULL_BORDER: usize = usize::MAX;

    /// The kept side of the tiles along one axis of length `len` (already
    /// aligned) and their start offsets. The tile count is the fewest tiles
    /// of at most `tile` pixels; the side is then the smallest that still
    /// covers the axis with that count, so the work is spread evenly instead
    /// of leaving a sliver for the last tile (every tile pays the halo).
    pub fn spans(&self, len: usize) -> (usize, Vec<usize>) {
        let tile = self.tile.min(len);
        let widest = Tiling { tile, ..*self };
        let starts = widest.starts(len);
        let n = starts.len();
        let even = (len + (n - 1) * self.overlap).div_ceil(n);
        let mut side = even.max(2 * self.overlap).div_ceil(self.align) * self.align;
        while side < tile {
            let candidate = Tiling {
                tile: side,
                ..*self
            }
            .starts(len);
            if candidate.len() == n {
                return (side, candidate);
            }
            side += self.align;
        }
        (tile, starts)
    }

    /// The window `f` is run on around the kept span [s, s + n) of an axis
    /// of aligned length `len`: the halo on both sides, cut to `border`
    /// beyond the frame. Its start (negative: reflected context) and length.
    fn window(&self, s: usize, n: usize, len: usize) -> (i64, usize) {
        let up = |n: usize| n.div_ceil(self.align) * self.align;
        let (halo, border) = (up(self.halo) as i64, up(self.border.min(self.halo)) as i64);
        let start = (s as i64 - halo).max(-border);
        let end = ((s + n) as i64 + halo).min(len as i64 + border);
        (start, (end - start) as usize)
    }

    /// The size of the largest window `f` is run on for a `w × h` image:
    /// what bounds its working memory.
    pub fn largest_window(&self, w: usize, h: usize) -> (usize, usize) {
        let side = |len: usize| {
            let len = len.div_ceil(self.align).max(1) * self.align;
            let (n, starts) = self.spans(len);
            starts
                .iter()
                .map(|&s| self.window(s, n, len).1)
                .max()
                .unwrap_or(0)
        };
        (side(w), side(h))
    }

    /// Start offsets of tiles along one axis of length `len` (already aligned).
    fn starts(&self, len: usize) -> Vec<usize> {
        if len <= self.tile {
            return vec![0];
        }
        // Starts stay on the network's sampling grid (multiples of `align`),
        // so a tile sees its pixels at the same phase as the whole frame
        // does; the overlap may grow to the next multiple.
        let step = ((self.tile - self.overlap) / self.align * self.align).max(self.align);
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

/// Index of position `i` (any integer) of an axis of length `n` mirrored
/// about its first and last samples without repeating them (numpy's
/// `reflect`); a 1-pixel axis is replicated.
fn reflect(i: i64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let m = i.rem_euclid(period);
    if m < n as i64 {
        m as usize
    } else {
        (period - m) as usize
    }
}

/// The `w × h` window at (x0, y0) of `img` extended to the whole plane by
/// mirror reflection (see [`pad_reflect`]); the window may start left of or
/// above the image and reach past it. Fails only when the window's memory
/// cannot be allocated ([`Error::OutOfMemory`]), like every function here
/// that returns an image.
pub fn crop_reflect(img: &Image, x0: i64, y0: i64, w: usize, h: usize) -> Result<Image> {
    let (iw, ih) = (img.width(), img.height());
    let mut xmap = try_with_capacity(w, &|| format!("the column map of a {w}-pixel-wide tile"))?;
    xmap.extend((0..w).map(|x| reflect(x0 + x as i64, iw)));
    let mut out = Image::try_new(w, h)?;
    for c in 0..4 {
        let src = img.plane(c);
        let dst = out.plane_mut(c);
        for y in 0..h {
            let row = &src[reflect(y0 + y as i64, ih) * iw..][..iw];
            for (d, &sx) in dst[y * w..(y + 1) * w].iter_mut().zip(&xmap) {
                *d = row[sx];
            }
        }
    }
    Ok(out)
}

/// Pads by mirror reflection (without repeating the edge pixel, like
/// numpy's `reflect`) to `w × h`; a 1-pixel side is replicated.
pub fn pad_reflect(img: &Image, w: usize, h: usize) -> Result<Image> {
    crop_reflect(img, 0, 0, w, h)
}

/// Copies the `w × h` region at (x0, y0).
pub fn crop(img: &Image, x0: usize, y0: usize, w: usize, h: usize) -> Result<Image> {
    let iw = img.width();
    let mut out = Image::try_new(w, h)?;
    for c in 0..4 {
        let src = img.plane(c);
        let dst = out.plane_mut(c);
        for y in 0..h {
            dst[y * w..(y + 1) * w]
                .copy_from_slice(&src[(y0 + y) * iw + x0..(y0 + y) * iw + x0 + w]);
        }
    }
    Ok(out)
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
/// aligned tile (its kept region plus the halo on every side) and must return
/// an image of the same size. `on_tile(done, total)` reports progress and may
/// stop the work by returning an error.
///
/// Tiles run one after another and are blended in a fixed order, so the
/// result is the same on every run. Beyond `f`'s own working memory, this
/// holds the output frame and one tile.
pub fn process_tiled<F, P>(img: &Image, tiling: Tiling, mut f: F, mut on_tile: P) -> Result<Image>
where
    F: FnMut(&Image) -> Result<Image>,
    P: FnMut(usize, usize) -> Result<()>,
{
    tiling.validate()?;
    let (w, h) = (img.width(), img.height());
    let up = |n: usize| n.div_ceil(tiling.align) * tiling.align;
    let (pw, ph) = (up(w).max(tiling.align), up(h).max(tiling.align));
    let (tw, xs) = tiling.spans(pw);
    let (th, ys) = tiling.spans(ph);
    let total = xs.len() * ys.len();
    let margin = |s: usize, n: usize, len: usize| tiling.window(s, n, len);
    // Tile (x0, y0) as `f` sees it, `f`'s result checked, and where the kept
    // region starts inside it.
    let mut run = |x0: usize, y0: usize| -> Result<(Image, usize, usize)> {
        let ((wx, fw), (wy, fh)) = (margin(x0, tw, pw), margin(y0, th, ph));
        let out = f(&crop_reflect(img, wx, wy, fw, fh)?)?;
        if (out.width(), out.height()) != (fw, fh) {
            return Err(Error::Internal(
                "tile function changed the tile size".into(),
            ));
        }
        Ok((out, (x0 as i64 - wx) as usize, (y0 as i64 - wy) as usize))
    };

    if total == 1 {
        let (out, ox, oy) = run(0, 0)?;
        on_tile(1, 1)?;
        return Ok(
            if (ox, oy) == (0, 0) && (out.width(), out.height()) == (w, h) {
                out
            } else {
                crop(&out, ox, oy, w, h)?
            },
        );
    }

    let mut acc = try_vec(4 * pw * ph, 0.0f32, &|| {
        format!("the {pw}×{ph} tile accumulator")
    })?;
    let mut wsum = try_vec(pw * ph, 0.0f32, &|| format!("the {pw}×{ph} tile weights"))?;
    let mut done = 0;
    for &y0 in &ys {
        for &x0 in &xs {
            let (out, ox, oy) = run(x0, y0)?;
            let ow = out.width();
            for ty in 0..th {
                let wy = ramp(ty, th, y0, ph, tiling.overlap);
                let row = (ty + oy) * ow + ox;
                for tx in 0..tw {
                    let wgt = wy * ramp(tx, tw, x0, pw, tiling.overlap);
                    let p = (y0 + ty) * pw + x0 + tx;
                    wsum[p] += wgt;
                    for c in 0..4 {
                        acc[c * pw * ph + p] += wgt * out.plane(c)[row + tx];
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
        crop(&blended, 0, 0, w, h)?
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
    fn spans_cover_the_axis_evenly_with_the_fewest_tiles() {
        for align in [8, 16] {
            for (tile, overlap) in [(512, 32), (64, 32), (2048, 32), (48, 0)] {
                for len in (1..300).map(|i| i * align) {
                    let t = Tiling {
                        tile,
                        overlap,
                        align,
                        halo: 0,
                        border: 0,
                    };
                    let (side, starts) = t.spans(len);
                    let fewest = len.saturating_sub(overlap).div_ceil(tile - overlap).max(1);
                    let case =
                        format!("len {len} tile {tile} overlap {overlap}: {side} {starts:?}");
                    assert!(side <= tile && side.is_multiple_of(align), "{case}");
                    assert!(starts.len() <= fewest + 1, "{case}");
                    assert_eq!(
                        starts.len(),
                        Tiling {
                            tile: tile.min(len),
                            ..t
                        }
                        .starts(len)
                        .len(),
                        "{case}"
                    );
                    assert_eq!(starts[0], 0, "{case}");
                    assert_eq!(starts.last().unwrap() + side, len, "{case}");
                    for pair in starts.windows(2) {
                        assert!(pair[1] > pair[0] && pair[1] % align == 0, "{case}");
                        assert!(pair[0] + side >= pair[1] + overlap.min(side), "{case}");
                    }
                    // Even: the smallest aligned side (not below twice the
                    // overlap) that covers the axis with as few tiles.
                    let smallest = (1..)
                        .map(|k| k * align)
                        .filter(|&s| s >= 2 * overlap || s >= len)
                        .find(|&s| Tiling { tile: s, ..t }.starts(len).len() <= starts.len())
                        .unwrap();
                    assert_eq!(side, smallest.min(len), "{case}");
                }
            }
        }
        // A 1080p frame's rows (aligned to 1088) in tiles of at most 512 px:
        // three of 384 rather than three of 512 (starting 0, 480, 576).
        let t = Tiling {
            tile: 512,
            overlap: 32,
            align: 16,
            halo: 0,
            border: 0,
        };
        assert_eq!(t.spans(1088), (384, vec![0, 352, 704]));
    }

    #[test]
    fn identity_through_tiles_reproduces_any_size_exactly() {
        for (w, h, halo) in [
            (1, 1, 0),
            (7, 3, 0),
            (64, 64, 0),
            (133, 71, 0),
            (257, 19, 0),
            (1, 1, 16),
            (7, 3, 5),
            (133, 71, 16),
            (257, 19, 40),
        ] {
            let img = noise(w, h);
            let t = Tiling {
                tile: 32,
                overlap: 8,
                align: 8,
                halo,
                border: Tiling::FULL_BORDER,
            };
            let out = process_tiled(&img, t, |x| Ok(x.clone()), |_, _| Ok(())).unwrap();
            assert_eq!((out.width(), out.height()), (w, h));
            // Blending equal values with weights that sum to one is exact up to rounding.
            for (a, b) in img.data().iter().zip(out.data()) {
                assert!((a - b).abs() <= 1e-6, "{w}x{h} halo {halo}: {a} vs {b}");
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
            halo: 0,
            border: Tiling::FULL_BORDER,
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
            halo: 0,
            border: Tiling::FULL_BORDER,
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
                halo: 0,
                border: Tiling::FULL_BORDER,
            },
            Tiling {
                tile: 32,
                overlap: 20,
                align: 8,
                halo: 0,
                border: Tiling::FULL_BORDER,
            },
            Tiling {
                tile: 0,
                overlap: 0,
                align: 8,
                halo: 0,
                border: Tiling::FULL_BORDER,
            },
        ] {
            assert!(process_tiled(&img, t, |x| Ok(x.clone()), |_, _| Ok(())).is_err());
        }
    }

    /// A stand-in for a convolutional network: `passes` rounds of a 3×3 box
    /// blur with zero padding, each followed by a nonlinearity and a little
    /// channel mixing. Every output pixel depends on the input within
    /// `passes` pixels (Chebyshev) and nothing farther, and the zero padding
    /// darkens a band of that width along the input's edges.
    fn zero_padded_net(img: &Image, passes: usize) -> Result<Image> {
        let (w, h) = (img.width(), img.height());
        let mut cur = img.clone();
        for _ in 0..passes {
            let mut next = cur.clone();
            for c in 0..3 {
                let src = cur.plane(c);
                let dst = next.plane_mut(c);
                for y in 0..h {
                    for x in 0..w {
                        let mut s = 0.0;
                        for yy in y.saturating_sub(1)..(y + 2).min(h) {
                            for xx in x.saturating_sub(1)..(x + 2).min(w) {
                                s += src[yy * w + xx];
                            }
                        }
                        let v = s / 9.0;
                        dst[y * w + x] = v + 0.3 * (5.0 * v).sin();
                    }
                }
            }
            let n = w * h;
            let d = next.data_mut();
            for p in 0..n {
                let (r, g, b) = (d[p], d[n + p], d[2 * n + p]);
                d[p] = r + 0.1 * (g - b);
                d[n + p] = g + 0.1 * (b - r);
            }
            cur = next;
        }
        Ok(cur)
    }

    /// The oracle: `net` on the whole frame reflect-padded by `halo` (and to
    /// the alignment), cropped back.
    fn whole_frame_with_halo(
        img: &Image,
        align: usize,
        halo: usize,
        net: impl Fn(&Image) -> Result<Image>,
    ) -> Image {
        let up = |n: usize| n.div_ceil(align) * align;
        let (pw, ph) = (up(img.width()), up(img.height()));
        let m = up(halo);
        let padded = crop_reflect(img, -(m as i64), -(m as i64), pw + 2 * m, ph + 2 * m).unwrap();
        crop(&net(&padded).unwrap(), m, m, img.width(), img.height()).unwrap()
    }

    fn max_diff(a: &Image, b: &Image) -> f32 {
        (0..3)
            .flat_map(|c| {
                a.plane(c)
                    .iter()
                    .zip(b.plane(c))
                    .map(|(p, q)| (p - q).abs())
            })
            .fold(0.0, f32::max)
    }

    #[test]
    fn crop_reflect_mirrors_beyond_every_border_and_extends_pad_reflect() {
        let img = noise(5, 3);
        assert_eq!(
            crop_reflect(&img, 0, 0, 13, 7).unwrap(),
            pad_reflect(&img, 13, 7).unwrap()
        );
        // Columns −4..9 of a 5-wide axis mirror as 4 3 2 1 0 1 2 3 4 3 2 1 0.
        let out = crop_reflect(&img, -4, -2, 13, 7).unwrap();
        let xs = [4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0];
        let ys = [2, 1, 0, 1, 2, 1, 0];
        for c in 0..4 {
            for (y, &sy) in ys.iter().enumerate() {
                for (x, &sx) in xs.iter().enumerate() {
                    assert_eq!(out.plane(c)[y * 13 + x], img.plane(c)[sy * 5 + sx]);
                }
            }
        }
        // A 1-pixel side is replicated, whatever the offset.
        let one = noise(1, 1);
        let out = crop_reflect(&one, -3, -1, 4, 2).unwrap();
        for c in 0..4 {
            assert!(out.plane(c).iter().all(|&v| v == one.plane(c)[0]));
        }
    }

    #[test]
    fn the_tile_function_sees_tiles_enlarged_by_the_aligned_halo() {
        let img = noise(100, 40);
        for (halo, seen_halo) in [(0, 0), (5, 8), (16, 16), (17, 24)] {
            let t = Tiling {
                tile: 32,
                overlap: 8,
                align: 8,
                halo,
                border: Tiling::FULL_BORDER,
            };
            let mut sizes = Vec::new();
            process_tiled(
                &img,
                t,
                |x| {
                    sizes.push((x.width(), x.height()));
                    Ok(x.clone())
                },
                |_, _| Ok(()),
            )
            .unwrap();
            // Kept sides: 104 (100 aligned) in four 32-px tiles, 40 in two of 24.
            assert_eq!((t.spans(104).0, t.spans(40).0), (32, 24));
            let s = (32 + 2 * seen_halo, 24 + 2 * seen_halo);
            assert!(sizes.iter().all(|&z| z == s), "{halo}: {sizes:?}");
            assert_eq!(t.largest_window(100, 40), s);
        }
    }

    #[test]
    fn the_border_cuts_the_halo_beyond_the_frame() {
        let img = noise(100, 40);
        for (border, seen) in [(0, 0), (5, 8), (16, 16), (64, 24)] {
            let t = Tiling {
                tile: 4096,
                overlap: 8,
                align: 8,
                halo: 24,
                border,
            };
            let mut sizes = Vec::new();
            let out = process_tiled(
                &img,
                t,
                |x| {
                    sizes.push((x.width(), x.height()));
                    Ok(x.clone())
                },
                |_, _| Ok(()),
            )
            .unwrap();
            // One tile: the aligned frame (104 × 40) and the border on each side.
            assert_eq!(
                sizes,
                vec![(104 + 2 * seen, 40 + 2 * seen)],
                "border {border}"
            );
            assert_eq!(t.largest_window(100, 40), sizes[0]);
            assert_eq!(out.data(), img.data());
        }
    }

    #[test]
    fn tile_starts_stay_on_the_alignment_grid() {
        for (tile, overlap) in [(512, 30), (64, 12), (48, 20), (32, 3)] {
            let t = Tiling {
                tile,
                overlap,
                align: 16,
                halo: 0,
                border: Tiling::FULL_BORDER,
            };
            for len in [tile + 16, 3 * tile, 2000 / 16 * 16] {
                let s = t.starts(len);
                assert!(
                    s.iter().all(|x| x % 16 == 0),
                    "{tile}/{overlap}/{len}: {s:?}"
                );
                assert_eq!(*s.last().unwrap() + tile, len);
                // Neighbours overlap by at least the requested amount.
                for p in s.windows(2) {
                    assert!(p[0] + tile >= p[1] + overlap, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn with_a_halo_tiles_equal_the_reflect_padded_whole_frame() {
        let passes = 6;
        for (w, h) in [(160, 96), (131, 77), (64, 64), (9, 70)] {
            let img = noise(w, h);
            for (tile, overlap, halo) in [(32, 8, 8), (48, 16, 6), (64, 32, 16), (40, 0, 8)] {
                let t = Tiling {
                    tile,
                    overlap,
                    align: 8,
                    halo,
                    border: Tiling::FULL_BORDER,
                };
                let net = |x: &Image| zero_padded_net(x, passes);
                let tiled = process_tiled(&img, t, net, |_, _| Ok(())).unwrap();
                let whole = whole_frame_with_halo(&img, 8, halo, net);
                let err = max_diff(&tiled, &whole);
                assert!(err <= 1e-5, "{w}x{h} {t:?}: max error {err}");
                let alpha = tiled.plane(3).iter().zip(img.plane(3));
                assert!(alpha.into_iter().all(|(a, b)| (a - b).abs() <= 1e-6));
            }
        }
    }

    /// The cause of the seams: without a halo, the zero padding around each
    /// tile reaches the blended result.
    #[test]
    fn without_a_halo_the_zero_padding_shows_at_tile_edges() {
        let img = noise(160, 96);
        let t = Tiling {
            tile: 32,
            overlap: 8,
            align: 8,
            halo: 0,
            border: Tiling::FULL_BORDER,
        };
        let net = |x: &Image| zero_padded_net(x, 6);
        let tiled = process_tiled(&img, t, net, |_, _| Ok(())).unwrap();
        let whole = whole_frame_with_halo(&img, 8, 8, net);
        assert!(max_diff(&tiled, &whole) > 0.05);
    }

    /// Without border context the frame's own edges are what the network
    /// sees untiled, and tiles still join seamlessly: the oracle is the
    /// network on the whole frame padded only to the alignment.
    #[test]
    fn without_border_context_tiles_equal_the_bare_whole_frame() {
        let passes = 6;
        for (w, h) in [(160, 96), (131, 77), (9, 70)] {
            let img = noise(w, h);
            for (tile, overlap, halo) in [(32, 8, 8), (48, 16, 6), (40, 0, 8)] {
                let t = Tiling {
                    tile,
                    overlap,
                    align: 8,
                    halo,
                    border: 0,
                };
                let net = |x: &Image| zero_padded_net(x, passes);
                let tiled = process_tiled(&img, t, net, |_, _| Ok(())).unwrap();
                let whole = whole_frame_with_halo(&img, 8, 0, net);
                let err = max_diff(&tiled, &whole);
                assert!(err <= 1e-5, "{w}x{h} {t:?}: max error {err}");
                // With border context the edges differ: the check can fail.
                let with = process_tiled(
                    &img,
                    Tiling {
                        border: Tiling::FULL_BORDER,
                        ..t
                    },
                    net,
                    |_, _| Ok(()),
                )
                .unwrap();
                assert!(max_diff(&with, &whole) > 1e-3, "{w}x{h} {t:?}");
            }
        }
    }
}
