//! Judging a model bundle on fresh synthetic scenes, never the training set:
//! does Domain Transfer change the style (style oracle), keep the content
//! (shape and palette oracles), get closer to the true render of the same
//! scene in the target style than doing nothing or a colour transfer, and
//! come out as sharp as that render? Translations go through the Domain
//! Transfer node itself, at its default resolution, so the numbers are what a
//! user gets at that frame size.

use serde::Serialize;

use super::oracles::{palette_oracle, shape_oracle, style_oracle};
use super::scene::{Bias, Scene};
use super::styles::{render_srgb8, Style};
use std::path::Path;

use crate::error::Result;
use crate::frame::Image;
use crate::model::Bundle;
use crate::node::RenderContext;
use crate::Instance;

/// Results for one ordered domain pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    pub from: &'static str,
    pub to: &'static str,
    pub scenes: usize,
    /// Share of outputs the style oracle calls the target domain.
    pub style_to_target: f64,
    /// Share of outputs whose shape (palette) the oracle reads as the input's.
    pub shape_kept: f64,
    pub palette_kept: f64,
    /// Cool inputs read as warm after translation, and warm read as cool (drift counts).
    pub cool_to_warm: usize,
    pub warm_to_cool: usize,
    /// Paired McNemar drift of the warm share from input to output
    /// (docs/fairness.md §6), over the scenes whose palette the oracle reads on both
    /// sides; 95 % interval.
    pub warm_drift: Option<crate::fairness::intervals::McNemar>,
    /// Mean PSNR (dB) against the true render in the target style.
    pub psnr_model: f64,
    pub psnr_identity: f64,
    pub psnr_reinhard: f64,
    /// Mean |Laplacian| of luma (8-bit sRGB, full resolution) of the
    /// translations, over that of the true target renders (1 = as sharp).
    pub sharpness_ratio: f64,
}

/// What [`evaluate_transfer`] renders.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Scenes per ordered domain pair.
    pub count: usize,
    /// Seed of the scenes (one never used for training).
    pub seed: u64,
    pub width: usize,
    pub height: usize,
    /// Number format of the network (the node's `precision` parameter).
    pub precision: String,
}

/// Mean |4-neighbour Laplacian| of the luma of 8-bit RGB over the interior.
pub fn sharpness(rgb: &[u8], w: usize, h: usize) -> f64 {
    let luma: Vec<f64> = rgb
        .chunks_exact(3)
        .map(|p| 0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2]))
        .collect();
    let (mut sum, mut n) = (0.0, 0usize);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let p = y * w + x;
            sum += (4.0 * luma[p] - luma[p - 1] - luma[p + 1] - luma[p - w] - luma[p + w]).abs();
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10()
}

/// Reinhard et al. 2001 colour transfer: match per-channel mean and standard
/// deviation of `src` to `reference` in the decorrelated lαβ space.
pub fn reinhard(src: &[u8], reference: &[u8]) -> Vec<u8> {
    fn to_lab(p: &[u8]) -> [f64; 3] {
        let (r, g, b) = (
            f64::from(p[0]) / 255.0 + 1e-4,
            f64::from(p[1]) / 255.0 + 1e-4,
            f64::from(p[2]) / 255.0 + 1e-4,
        );
        let l = (0.3811 * r + 0.5783 * g + 0.0402 * b).ln();
        let m = (0.1967 * r + 0.7244 * g + 0.0782 * b).ln();
        let s = (0.0241 * r + 0.1288 * g + 0.8444 * b).ln();
        let k = [1.0 / 3f64.sqrt(), 1.0 / 6f64.sqrt(), 1.0 / 2f64.sqrt()];
        [k[0] * (l + m + s), k[1] * (l + m - 2.0 * s), k[2] * (l - m)]
    }
    fn from_lab(c: [f64; 3]) -> [u8; 3] {
        let k = [1.0 / 3f64.sqrt(), 1.0 / 6f64.sqrt(), 1.0 / 2f64.sqrt()];
        let (a, b, g) = (c[0] * k[0], c[1] * k[1], c[2] * k[2]);
        let (l, m, s) = ((a + b + g).exp(), (a + b - g).exp(), (a - 2.0 * b).exp());
        let r = 4.4679 * l - 3.5873 * m + 0.1193 * s;
        let gg = -1.2186 * l + 2.3809 * m - 0.1624 * s;
        let bb = 0.0497 * l - 0.2439 * m + 1.2045 * s;
        [r, gg, bb].map(|v| ((v - 1e-4) * 255.0).round().clamp(0.0, 255.0) as u8)
    }
    let stats = |img: &[u8]| {
        let labs: Vec<[f64; 3]> = img.chunks_exact(3).map(to_lab).collect();
        let n = labs.len() as f64;
        let mut mean = [0.0; 3];
        let mut sd = [0.0; 3];
        for c in 0..3 {
            mean[c] = labs.iter().map(|v| v[c]).sum::<f64>() / n;
            sd[c] = (labs.iter().map(|v| (v[c] - mean[c]).powi(2)).sum::<f64>() / n)
                .sqrt()
                .max(1e-6);
        }
        (labs, mean, sd)
    };
    let (labs, ms, ss) = stats(src);
    let (_, mr, sr) = stats(reference);
    labs.iter()
        .flat_map(|v| from_lab([0, 1, 2].map(|c| (v[c] - ms[c]) * sr[c] / ss[c] + mr[c])))
        .collect()
}

fn to_srgb8(img: &Image) -> Vec<u8> {
    let n = img.width() * img.height();
    (0..n)
        .flat_map(|p| {
            [0, 1, 2].map(|c| {
                (crate::frame::linear_to_srgb(img.plane(c)[p]).clamp(0.0, 1.0) * 255.0).round()
                    as u8
            })
        })
        .collect()
}

/// Translates `count` fresh scenes (balanced attributes) at `width × height`
/// with the bundle in `model`, for every ordered pair of its domains that the
/// synthetic world knows.
pub fn evaluate_transfer(model: &Path, opts: &EvalOptions) -> Result<Vec<PairReport>> {
    let (w, h, seed) = (opts.width, opts.height, opts.seed);
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    let manifest = Bundle::read_manifest(model)?;
    let styles: Vec<Style> = manifest
        .domains
        .iter()
        .filter_map(|d| Style::parse(d).ok())
        .collect();
    let mut node = Instance::new(crate::nodes::domain_transfer::ID)?;
    {
        let p = node.params_mut();
        p.set_from_str("model", &model.to_string_lossy())?;
        p.set_from_str("strength", "1")?;
        p.set_from_str("device", "cpu")?;
        p.set_from_str("precision", &opts.precision)?;
        // One tile: fastest, and tiles change a render by less than
        // 0.05/255 (tests/tiling_seams.rs), so the numbers hold for any tiling.
        let side = w.max(h).div_ceil(8) * 8;
        p.set_from_str("tile_size", &side.clamp(64, 4096).to_string())?;
    }
    let mut reports = Vec::new();
    for &from in &styles {
        for &to in &styles {
            if from == to {
                continue;
            }
            {
                let p = node.params_mut();
                p.set_from_str("source", from.name())?;
                p.set_from_str("target", to.name())?;
            }
            let mut r = PairReport {
                from: from.name(),
                to: to.name(),
                scenes: opts.count,
                style_to_target: 0.0,
                shape_kept: 0.0,
                palette_kept: 0.0,
                cool_to_warm: 0,
                warm_to_cool: 0,
                warm_drift: None,
                psnr_model: 0.0,
                psnr_identity: 0.0,
                psnr_reinhard: 0.0,
                sharpness_ratio: 0.0,
            };
            let (mut warm_in, mut warm_out) = (Vec::new(), Vec::new());
            let (mut sharp_model, mut sharp_truth) = (0.0, 0.0);
            for i in 0..opts.count as u64 {
                let scene = Scene::sample(seed, i, bias);
                let src = render_srgb8(&scene, from, w, h);
                let truth = render_srgb8(&scene, to, w, h);
                // A different scene of the target domain as Reinhard's colour reference.
                let reference = render_srgb8(&Scene::sample(seed ^ 0x5eed, i, bias), to, w, h);
                let input = super::render_image(&scene, from, w, h);
                let out = node.render_images(
                    std::slice::from_ref(&input),
                    w,
                    h,
                    0,
                    &RenderContext::default(),
                )?;
                let out8 = to_srgb8(&out);
                let style = style_oracle(&out8, w, h).value;
                let shape_in = shape_oracle(&src, w, h).value;
                let pal_in = palette_oracle(&src, w, h).value;
                let pal_out = palette_oracle(&out8, w, h).value;
                r.style_to_target += f64::from(u8::from(style == Some(to)));
                r.shape_kept += f64::from(u8::from(
                    shape_in.is_some() && shape_oracle(&out8, w, h).value == shape_in,
                ));
                r.palette_kept += f64::from(u8::from(pal_in.is_some() && pal_out == pal_in));
                use super::Palette::{Cool, Warm};
                if let (Some(a), Some(b)) = (pal_in, pal_out) {
                    warm_in.push(a == Warm);
                    warm_out.push(b == Warm);
                }
                r.cool_to_warm += usize::from(pal_in == Some(Cool) && pal_out == Some(Warm));
                r.warm_to_cool += usize::from(pal_in == Some(Warm) && pal_out == Some(Cool));
                r.psnr_model += psnr(&out8, &truth);
                r.psnr_identity += psnr(&src, &truth);
                r.psnr_reinhard += psnr(&reinhard(&src, &reference), &truth);
                sharp_model += sharpness(&out8, w, h);
                sharp_truth += sharpness(&truth, w, h);
            }
            r.warm_drift = crate::fairness::intervals::mcnemar(&warm_in, &warm_out, 1.96).ok();
            let n = opts.count as f64;
            r.style_to_target /= n;
            r.shape_kept /= n;
            r.palette_kept /= n;
            r.psnr_model /= n;
            r.psnr_identity /= n;
            r.psnr_reinhard /= n;
            r.sharpness_ratio = sharp_model / sharp_truth.max(1e-12);
            reports.push(r);
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::sharpness;

    #[test]
    fn sharpness_is_zero_on_flat_frames_and_grows_with_edge_contrast() {
        let (w, h) = (9, 7);
        assert_eq!(sharpness(&vec![128u8; w * h * 3], w, h), 0.0);
        // A grey checkerboard of contrast c: every interior pixel differs from
        // its four neighbours by ±c, so |Laplacian| = 4c there.
        let board = |c: u8| -> Vec<u8> {
            (0..w * h)
                .flat_map(|p| {
                    [if (p % w + p / w) % 2 == 0 {
                        100 + c
                    } else {
                        100
                    }; 3]
                })
                .collect()
        };
        for c in [10u8, 40] {
            let s = sharpness(&board(c), w, h);
            assert!((s - 4.0 * f64::from(c)).abs() < 1e-9, "contrast {c}: {s}");
        }
    }
}
