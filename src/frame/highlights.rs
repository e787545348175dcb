//! A reversible split of scene-linear frames into what a network trained on
//! display pictures can take and the light above it.
//!
//! Compositors hand over float plates whose values go far above 1, while the
//! networks were trained on pictures in [0, 1]. Each pixel x is written as
//! x = g · x̃ with g ≥ 1 chosen from its largest channel m: up to the knee
//! (m ≤ 0.8) g = 1 and the pixel is untouched; above it, x̃'s largest channel
//! is the soft roll-off t(m) = k + (1 − k)·d / (d + 1 − k), d = m − k, which
//! stays below 1, and g = m / t(m). Dividing all three channels by one g keeps
//! the hue. The network sees x̃; its result is multiplied by the same g, so
//! highlights come back in proportion to what they were, and a frame the
//! network leaves unchanged comes back exactly.
//!
//! Values the network cannot take at all are set aside too: samples that are
//! not finite become 0 (their gain is 1, so the damage stays in that pixel),
//! and negative values are clamped to 0 with the clamped-off part returned
//! as a residual that the caller adds back in proportion to 1 − strength.

use super::Image;
use crate::error::Result;
use crate::memory::try_vec;

/// Largest channel below which pixels pass unchanged (scene-linear).
pub const KNEE: f32 = 0.8;

fn roll_off(m: f32) -> f32 {
    let d = m - KNEE;
    KNEE + (1.0 - KNEE) * d / (d + 1.0 - KNEE)
}

/// A frame split for the network: `display` (RGB within [0, 1), finite,
/// alpha as given, non-finite alpha as 1), the per-pixel `gain`, and the
/// `negative` residual of the colour planes.
pub struct Highlights {
    pub display: Image,
    pub gain: Vec<f32>,
    pub negative: Vec<f32>,
}

/// Splits a working image (scene-linear, straight alpha); fails with
/// [`crate::Error::OutOfMemory`] when the parts do not fit.
pub fn split(img: &Image) -> Result<Highlights> {
    let (w, h) = (img.width(), img.height());
    let n = w * h;
    let mut display = img.try_clone()?;
    let mut gain = try_vec(n, 1.0f32, &|| format!("the {w}×{h} highlight gain"))?;
    let mut negative = try_vec(3 * n, 0.0f32, &|| format!("the {w}×{h} negative residual"))?;
    let d = display.data_mut();
    for p in 0..n {
        let mut m = 0.0f32;
        for c in 0..3 {
            let v = &mut d[c * n + p];
            if !v.is_finite() {
                *v = 0.0;
            } else if *v < 0.0 {
                negative[c * n + p] = *v;
                *v = 0.0;
            }
            m = m.max(*v);
        }
        if m > KNEE {
            let g = m / roll_off(m);
            gain[p] = g;
            for c in 0..3 {
                d[c * n + p] /= g;
            }
        }
        let a = &mut d[3 * n + p];
        if !a.is_finite() {
            *a = 1.0;
        }
    }
    Ok(Highlights {
        display,
        gain,
        negative,
    })
}

/// Multiplies the colour planes of `img` (same size as the split frame) by
/// the gain, and adds `keep` × the negative residual.
pub fn restore(img: &mut Image, parts: &Highlights, keep: f32) {
    let n = img.width() * img.height();
    let d = img.data_mut();
    for c in 0..3 {
        for p in 0..n {
            d[c * n + p] = d[c * n + p] * parts.gain[p] + keep * parts.negative[c * n + p];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plate(values: &[[f32; 3]]) -> Image {
        let n = values.len();
        let mut img = Image::new(n, 1);
        let d = img.data_mut();
        for (p, v) in values.iter().enumerate() {
            for c in 0..3 {
                d[c * n + p] = v[c];
            }
            d[3 * n + p] = 1.0;
        }
        img
    }

    #[test]
    fn split_then_restore_is_the_identity_on_finite_pixels() {
        let values = [
            [0.1, 0.5, 0.7],
            [0.8, 0.2, 0.0],
            [16.0, 4.0, 1.0],
            [3.0, 3.0, 3.0],
            [-0.2, 0.4, 900.0],
        ];
        let img = plate(&values);
        let parts = split(&img).unwrap();
        let colour = &parts.display.data()[..3 * values.len()];
        for v in colour {
            assert!(v.is_finite() && *v >= 0.0 && *v < 1.0, "{v}");
        }
        let mut back = parts.display.clone();
        restore(&mut back, &parts, 1.0);
        for (a, b) in img.data().iter().zip(back.data()) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn mid_tones_pass_unchanged_and_highlights_keep_their_hue() {
        let parts = split(&plate(&[[0.3, 0.6, 0.79], [8.0, 4.0, 2.0]])).unwrap();
        let d = parts.display.data();
        let n = 2;
        assert_eq!([d[0], d[n], d[2 * n]], [0.3, 0.6, 0.79]);
        assert_eq!(parts.gain[0], 1.0);
        // Ratios between channels are those of the input.
        assert!((d[1] / d[n + 1] - 2.0).abs() < 1e-5);
        assert!((d[1] / d[2 * n + 1] - 4.0).abs() < 1e-5);
        // The roll-off is monotonic: brighter input, brighter display value.
        let a = split(&plate(&[[2.0, 0.0, 0.0], [4.0, 0.0, 0.0], [8.0, 0.0, 0.0]])).unwrap();
        let r = a.display.plane(0);
        assert!(r[0] < r[1] && r[1] < r[2] && r[2] < 1.0, "{r:?}");
    }

    #[test]
    fn non_finite_samples_become_zero_and_stay_local() {
        let img = plate(&[
            [f32::NAN, 0.5, 0.5],
            [f32::INFINITY, 1.0, 0.2],
            [0.4, 0.4, 0.4],
        ]);
        let parts = split(&img).unwrap();
        assert!(parts.display.data().iter().all(|v| v.is_finite()));
        assert_eq!(parts.display.plane(0)[0], 0.0);
        assert_eq!(parts.gain[0], 1.0);
        // The finite neighbour is untouched.
        assert_eq!(parts.display.plane(1)[2], 0.4);
    }
}
