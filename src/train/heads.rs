//! Fitting the attribute heads of a trained bundle (spec fairness §2): encode
//! every labelled training image to v = F(E(x); d), then fit one logistic
//! head with intercept per (domain, attribute), on the latents with the
//! training noise. The held-out confusion comes from a fit on 80 % of the
//! images scored on the clean latents of the other 20 % (which also picks the
//! L2 strength); the stored head is then refitted on all of them.

use std::collections::BTreeMap;

use candle_core::Tensor;

use super::data::DomainData;
use crate::error::{Error, Result};
use crate::fairness::{fit_logistic, AttributeHead, Confusion, FitOptions, HeadSet};
use crate::model::Bundle;
use crate::rng::StreamRng;

/// Share of images held out to measure each head's confusion.
const HELD_OUT: f64 = 0.2;
/// L2 strengths tried, weakest first (ties go to the stronger penalty).
const L2_GRID: [f64; 4] = [0.1, 1.0, 10.0, 100.0];

/// v of every image of `data` under domain `domain` (row-major, `latent_dim`
/// per image), with the bundle's dequantisation noise added to z as in
/// training (one seeded draw per image): those are the v the flow made
/// N(0, I), so heads fitted on them have natural ratios Φ(b̃) that mean
/// something. Clean latents sit inside the same cloud, nearer its middle.
pub fn encode_domain(
    bundle: &Bundle,
    data: &DomainData,
    domain: usize,
    noise: &[f64],
    seed: u64,
) -> Result<Vec<f32>> {
    let s = bundle.manifest.image_size;
    let dev = &bundle.device;
    let mut out = Vec::with_capacity(data.images.len() * bundle.manifest.latent_dim());
    for (chunk_no, chunk) in data.images.chunks(64).enumerate() {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (chunk.len(), 3, s, s), dev)?;
        let mut z = bundle.autoencoder.encoder.forward(&x)?;
        if !noise.is_empty() {
            let (b, c, h, w) = z.dims4()?;
            let mut eps = Vec::with_capacity(b * c * h * w);
            for i in 0..b {
                let mut r = StreamRng::new(seed, b"head-noise", (chunk_no * 64 + i) as u64);
                for sd in &noise[..c] {
                    eps.extend((0..h * w).map(|_| (r.normal() * sd) as f32));
                }
            }
            z = (z + Tensor::from_vec(eps, (b, c, h, w), dev)?)?;
        }
        out.extend(
            bundle
                .v_of_latents(&z, domain)?
                .flatten_all()?
                .to_vec1::<f32>()?,
        );
    }
    Ok(out)
}

/// The dequantisation noise of a bundle trained before the manifest recorded
/// it: the provenance's fraction times each latent channel's spread over `data`.
pub fn noise_from_provenance(bundle: &Bundle, data: &[DomainData]) -> Result<Vec<f64>> {
    let fraction: f64 = bundle
        .manifest
        .provenance
        .get("latent_noise")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    if fraction <= 0.0 {
        return Ok(Vec::new());
    }
    let s = bundle.manifest.image_size;
    let mut zs = Vec::new();
    for d in data {
        for chunk in d.images.chunks(64) {
            let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
            let x = Tensor::from_vec(flat, (chunk.len(), 3, s, s), &bundle.device)?;
            zs.push(bundle.autoencoder.encoder.forward(&x)?);
        }
    }
    let all = Tensor::cat(&zs, 0)?;
    let c = all.dim(1)?;
    let per_channel = all.transpose(0, 1)?.flatten_from(1)?;
    let mean = per_channel.mean_keepdim(1)?;
    let std = per_channel
        .broadcast_sub(&mean)?
        .sqr()?
        .mean(1)?
        .sqrt()?
        .to_vec1::<f32>()?;
    debug_assert_eq!(std.len(), c);
    Ok(std.iter().map(|&x| f64::from(x) * fraction).collect())
}

/// Whether image `i` of a domain is in the split that measures the heads'
/// confusion (the cINN's attribute term must not see its labels either).
pub(super) fn is_held_out(seed: u64, i: usize) -> bool {
    StreamRng::new(seed, b"head-held-out", i as u64).uniform() < HELD_OUT
}

/// Heads for every labelled domain of `data`, keyed by domain name.
pub fn fit_heads(
    bundle: &Bundle,
    data: &[DomainData],
    seed: u64,
) -> Result<BTreeMap<String, Vec<AttributeHead>>> {
    let dim = bundle.manifest.latent_dim();
    let noise = if bundle.manifest.latent_noise.is_empty() {
        noise_from_provenance(bundle, data)?
    } else {
        bundle.manifest.latent_noise.clone()
    };
    let mut out = BTreeMap::new();
    for d in data.iter().filter(|d| !d.labels.is_empty()) {
        let domain = bundle.manifest.domain_index(&d.name)?;
        let v = encode_domain(bundle, d, domain, &noise, seed)?;
        // Confusion is measured on clean latents: what an audit of real frames sees.
        let clean = encode_domain(bundle, d, domain, &[], seed)?;
        let held: Vec<bool> = (0..d.images.len()).map(|i| is_held_out(seed, i)).collect();
        let pick =
            |keep: bool| -> Vec<usize> { (0..held.len()).filter(|&i| held[i] == keep).collect() };
        let (fit_idx, test_idx) = (pick(false), pick(true));
        let mut heads = Vec::new();
        for (attr, labels) in &d.labels {
            match fit_one(attr, labels, &v, &clean, dim, &fit_idx, &test_idx) {
                Ok(head) => {
                    tracing::info!(
                        domain = %d.name,
                        attribute = %attr,
                        held_out_error = head.confusion.map_or(f64::NAN, |c| c.error_rate()),
                        natural_ratio = head.natural_ratio(),
                        "attribute head fitted"
                    );
                    heads.push(head);
                }
                // Too few labels of a class is the data's limit, not a failure of
                // the run: the bundle is still useful without this head.
                Err(Error::InvalidArgument(why)) => {
                    tracing::warn!(domain = %d.name, attribute = %attr, "no head fitted: {why}");
                }
                Err(e) => return Err(e),
            }
        }
        if !heads.is_empty() {
            out.insert(d.name.clone(), heads);
        }
    }
    Ok(out)
}

/// Labelled images each class needs in both the fit and the held-out split.
const MIN_PER_CLASS: usize = 5;

/// One head: L2 strength picked on the held-out split (fit on noisy latents,
/// scored on clean ones), then refitted on every image.
fn fit_one(
    attr: &str,
    labels: &[bool],
    noisy: &[f32],
    clean: &[f32],
    dim: usize,
    fit_idx: &[usize],
    test_idx: &[usize],
) -> Result<AttributeHead> {
    let sel = |idx: &[usize]| -> Vec<bool> { idx.iter().map(|&i| labels[i]).collect() };
    let rows = |src: &[f32], idx: &[usize]| -> Vec<f32> {
        idx.iter()
            .flat_map(|&i| src[i * dim..(i + 1) * dim].iter().copied())
            .collect()
    };
    for (split, idx) in [("fit", fit_idx), ("held-out", test_idx)] {
        let present = idx.iter().filter(|&&i| labels[i]).count();
        let fewest = present.min(idx.len() - present);
        if fewest < MIN_PER_CLASS {
            return Err(Error::InvalidArgument(format!(
                "only {fewest} images of one class in the {split} split (need {MIN_PER_CLASS}); label more images"
            )));
        }
    }
    let (fit_v, test_v) = (rows(noisy, fit_idx), rows(clean, test_idx));
    let mut best: Option<(Confusion, f64)> = None;
    for l2 in L2_GRID {
        let opts = FitOptions {
            l2,
            ..FitOptions::default()
        };
        let partial = fit_logistic(attr, &fit_v, &sel(fit_idx), dim, opts)?;
        let hs = HeadSet::new(std::slice::from_ref(&partial), dim)?;
        let predicted: Vec<bool> = test_v.chunks_exact(dim).map(|r| hs.cell(r) == 1).collect();
        let c = Confusion::from_pairs(&sel(test_idx), &predicted);
        if best.is_none_or(|(b, _)| c.error_rate() <= b.error_rate()) {
            best = Some((c, l2));
        }
    }
    let (confusion, l2) = best.ok_or_else(|| Error::Internal("empty L2 grid".into()))?;
    let mut head = fit_logistic(
        attr,
        noisy,
        labels,
        dim,
        FitOptions {
            l2,
            ..FitOptions::default()
        },
    )?;
    head.confusion = Some(confusion);
    Ok(head)
}
