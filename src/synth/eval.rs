//! Judging a model bundle on fresh synthetic scenes, never the training set:
//! does Domain Transfer change the style (style oracle), keep the content
//! (shape and palette oracles), and get closer to the true render of the same
//! scene in the target style than doing nothing or a colour transfer?

use serde::Serialize;

use super::oracles::{palette_oracle, shape_oracle, style_oracle};
use super::scene::{Bias, Scene};
use super::styles::{render_srgb8, Style};
use crate::error::Result;
use crate::frame::Image;
use crate::model::Bundle;

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
    /// Paired McNemar drift of the warm share from input to output (spec
    /// fairness §3.3), over the scenes whose palette the oracle reads on both
    /// sides; 95 % interval.
    pub warm_drift: Option<crate::fairness::intervals::McNemar>,
    /// Mean PSNR (dB) against the true render in the target style.
    pub psnr_model: f64,
    pub psnr_identity: f64,
    pub psnr_reinhard: f64,
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

/// Translates `count` fresh scenes (seed `seed`, balanced attributes) for every
/// ordered pair of the bundle's domains that the synthetic world knows.
pub fn evaluate_transfer(
    bundle: &Bundle,
    count: usize,
    seed: u64,
    size: usize,
) -> Result<Vec<PairReport>> {
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    let styles: Vec<(usize, Style)> = bundle
        .manifest
        .domains
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Style::parse(d).ok().map(|s| (i, s)))
        .collect();
    let mut reports = Vec::new();
    for &(fi, from) in &styles {
        for &(ti, to) in &styles {
            if fi == ti {
                continue;
            }
            let mut r = PairReport {
                from: from.name(),
                to: to.name(),
                scenes: count,
                style_to_target: 0.0,
                shape_kept: 0.0,
                palette_kept: 0.0,
                cool_to_warm: 0,
                warm_to_cool: 0,
                warm_drift: None,
                psnr_model: 0.0,
                psnr_identity: 0.0,
                psnr_reinhard: 0.0,
            };
            let (mut warm_in, mut warm_out) = (Vec::new(), Vec::new());
            for i in 0..count as u64 {
                let scene = Scene::sample(seed, i, bias);
                let src = render_srgb8(&scene, from, size, size);
                let truth = render_srgb8(&scene, to, size, size);
                // A different scene of the target domain as Reinhard's colour reference.
                let reference =
                    render_srgb8(&Scene::sample(seed ^ 0x5eed, i, bias), to, size, size);
                let input = super::render_image(&scene, from, size, size);
                let out = translate_image(bundle, &input, fi, ti)?;
                let out8 = to_srgb8(&out);
                let style = style_oracle(&out8, size, size).value;
                let shape_in = shape_oracle(&src, size, size).value;
                let pal_in = palette_oracle(&src, size, size).value;
                let pal_out = palette_oracle(&out8, size, size).value;
                r.style_to_target += f64::from(u8::from(style == Some(to)));
                r.shape_kept += f64::from(u8::from(
                    shape_in.is_some() && shape_oracle(&out8, size, size).value == shape_in,
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
            }
            r.warm_drift = crate::fairness::intervals::mcnemar(&warm_in, &warm_out, 1.96).ok();
            let n = count as f64;
            r.style_to_target /= n;
            r.shape_kept /= n;
            r.palette_kept /= n;
            r.psnr_model /= n;
            r.psnr_identity /= n;
            r.psnr_reinhard /= n;
            reports.push(r);
        }
    }
    Ok(reports)
}

use candle_core::Tensor;

/// Full-strength translation of a working image at its own size (sides
/// multiples of the model's alignment), as the Domain Transfer node does for one tile.
pub fn translate_image(bundle: &Bundle, img: &Image, from: usize, to: usize) -> Result<Image> {
    let (w, h) = (img.width(), img.height());
    let rgb: Vec<f32> = img.data()[..3 * w * h]
        .iter()
        .map(|&v| crate::frame::linear_to_srgb(v).clamp(0.0, 1.0))
        .collect();
    let x = Tensor::from_vec(rgb, (1, 3, h, w), &bundle.device)?;
    let (out, _) = bundle.translate(&x, from, to, 1.0)?;
    let mut data: Vec<f32> = out
        .flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(crate::frame::srgb_to_linear)
        .collect();
    data.extend_from_slice(img.plane(3));
    Image::from_planes(w, h, data)
}
