//! Fitting the attribute heads of a trained bundle (spec fairness §2): encode
//! every labelled training image to v = F(E(x); d), then fit one logistic
//! head with intercept per (domain, attribute). The held-out confusion comes
//! from a fit on 80 % of the images scored on the other 20 % (which also picks
//! the L2 strength); the stored head is then refitted on all of them.

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

/// v of every image of `data` under domain `domain` (row-major, `latent_dim` per image).
pub fn encode_domain(bundle: &Bundle, data: &DomainData, domain: usize) -> Result<Vec<f32>> {
    let s = bundle.manifest.image_size;
    let mut out = Vec::with_capacity(data.images.len() * bundle.manifest.latent_dim());
    for chunk in data.images.chunks(64) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (chunk.len(), 3, s, s), &bundle.device)?;
        out.extend(
            bundle
                .encode_v(&x, domain)?
                .flatten_all()?
                .to_vec1::<f32>()?,
        );
    }
    Ok(out)
}

/// Heads for every labelled domain of `data`, keyed by domain name.
pub fn fit_heads(
    bundle: &Bundle,
    data: &[DomainData],
    seed: u64,
) -> Result<BTreeMap<String, Vec<AttributeHead>>> {
    let dim = bundle.manifest.latent_dim();
    let mut out = BTreeMap::new();
    for d in data.iter().filter(|d| !d.labels.is_empty()) {
        let domain = bundle.manifest.domain_index(&d.name)?;
        let v = encode_domain(bundle, d, domain)?;
        let held: Vec<bool> = (0..d.images.len())
            .map(|i| StreamRng::new(seed, b"head-held-out", i as u64).uniform() < HELD_OUT)
            .collect();
        let pick =
            |keep: bool| -> Vec<usize> { (0..held.len()).filter(|&i| held[i] == keep).collect() };
        let (fit_idx, test_idx) = (pick(false), pick(true));
        let rows = |idx: &[usize]| -> Vec<f32> {
            idx.iter()
                .flat_map(|&i| v[i * dim..(i + 1) * dim].iter().copied())
                .collect()
        };
        let mut heads = Vec::new();
        for (attr, labels) in &d.labels {
            let sel = |idx: &[usize]| -> Vec<bool> { idx.iter().map(|&i| labels[i]).collect() };
            // The L2 strength is chosen on the held-out split (a few hundred
            // dimensions against a few thousand images: too weak a penalty overfits).
            let (fit_v, test_v) = (rows(&fit_idx), rows(&test_idx));
            let mut best: Option<(Confusion, f64)> = None;
            for l2 in L2_GRID {
                let opts = FitOptions {
                    l2,
                    ..FitOptions::default()
                };
                let partial = fit_logistic(attr, &fit_v, &sel(&fit_idx), dim, opts)?;
                let hs = HeadSet::new(std::slice::from_ref(&partial), dim)?;
                let predicted: Vec<bool> =
                    test_v.chunks_exact(dim).map(|r| hs.cell(r) == 1).collect();
                let c = Confusion::from_pairs(&sel(&test_idx), &predicted);
                if best.is_none_or(|(b, _)| c.error_rate() <= b.error_rate()) {
                    best = Some((c, l2));
                }
            }
            let (confusion, l2) = best.ok_or_else(|| Error::Internal("empty L2 grid".into()))?;
            let mut head = fit_logistic(
                attr,
                &v,
                labels,
                dim,
                FitOptions {
                    l2,
                    ..FitOptions::default()
                },
            )?;
            head.confusion = Some(confusion);
            tracing::info!(
                domain = %d.name,
                attribute = %attr,
                held_out_error = confusion.error_rate(),
                l2,
                natural_ratio = head.natural_ratio(),
                "attribute head fitted"
            );
            heads.push(head);
        }
        if heads.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "domain '{}': its labels.csv has no binary attribute",
                d.name
            )));
        }
        out.insert(d.name.clone(), heads);
    }
    Ok(out)
}
