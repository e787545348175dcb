//! The fairness space of a trained bundle (docs/fairness.md §2): encode every
//! training image to v = F(E(x); d), fit each domain's Gaussian prior to
//! those clean latents, then fit one logistic head with intercept per
//! (domain, attribute) on the whitened coordinates. The held-out confusion
//! comes from a fit on 80 % of the images scored on the other 20 % (which
//! also picks the L2 strength); the stored head is then refitted on all of
//! them.

use std::collections::BTreeMap;

use candle_core::Tensor;

use super::data::{DomainData, Sampling};
use crate::error::{Error, Result};
use crate::fairness::groups::{self, GroupCount, Groups};
use crate::fairness::{fit_logistic, AttributeHead, Confusion, FitOptions, HeadSet};
use crate::model::{Bundle, Prior, PriorOptions};
use crate::rng::StreamRng;

/// Share of images held out to measure each head's confusion.
const HELD_OUT: f64 = 0.2;
/// L2 strengths tried, weakest first (ties go to the stronger penalty).
const L2_GRID: [f64; 4] = [0.1, 1.0, 10.0, 100.0];

/// Images encoded at a time: bounds the decoded pixels held at once.
const ENCODE_CHUNK: usize = 64;

/// v = F(E(x); d) of every image of `data` (row-major, `latent_dim` per
/// image), each seen as the bundle's networks were trained to see it: its
/// centre crop at the bundle's pixel scale, or the whole image resized when
/// the bundle was trained on resized images.
pub fn encode_domain(bundle: &Bundle, data: &DomainData, domain: usize) -> Result<Vec<f32>> {
    let s = bundle.manifest.image_size;
    let sampling = Sampling::of_bundle(bundle.manifest.pixel_scale);
    let mut out = Vec::with_capacity(data.len() * bundle.manifest.latent_dim());
    for start in (0..data.len()).step_by(ENCODE_CHUNK) {
        let end = (start + ENCODE_CHUNK).min(data.len());
        let flat = data.centre_pictures(start..end, sampling, s)?;
        let x = Tensor::from_vec(flat, (end - start, 3, s, s), &bundle.device)?;
        out.extend(
            bundle
                .encode_v(&x, domain)?
                .flatten_all()?
                .to_vec1::<f32>()?,
        );
    }
    Ok(out)
}

/// Whether image `i` of a domain is in the split that measures the heads'
/// confusion (the cINN's attribute term must not see its labels either).
pub(super) fn is_held_out(seed: u64, i: usize) -> bool {
    StreamRng::new(seed, b"head-held-out", i as u64).uniform() < HELD_OUT
}

/// Each image's cell of the labelled attributes (bit k = attribute k in name
/// order): the prior's mixture components. Images missing a label for some
/// attribute share one cell of their own (index 2^attributes), so they shape
/// the prior without blurring a labelled cell. Empty without labels.
fn label_cells(d: &DomainData) -> Vec<usize> {
    if d.labels.is_empty() {
        return Vec::new();
    }
    let unknown = 1 << d.labels.len();
    (0..d.len())
        .map(|i| {
            d.labels
                .values()
                .enumerate()
                .try_fold(0, |cell, (k, l)| l[i].map(|b| cell | (usize::from(b) << k)))
                .unwrap_or(unknown)
        })
        .collect()
}

/// The prior over every domain of the bundle (`data` must hold them all) and
/// the heads of every labelled domain, keyed by domain name.
pub fn fit_heads(
    bundle: &Bundle,
    data: &[DomainData],
    seed: u64,
    prior: &PriorOptions,
) -> Result<(Prior, BTreeMap<String, Vec<AttributeHead>>)> {
    let dim = bundle.manifest.latent_dim();
    let mut vs = Vec::with_capacity(bundle.manifest.domains.len());
    let mut cells = Vec::with_capacity(bundle.manifest.domains.len());
    for (domain, name) in bundle.manifest.domains.iter().enumerate() {
        let d = data.iter().find(|d| &d.name == name).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no images for domain '{name}': the prior is fitted to every domain of the bundle"
            ))
        })?;
        vs.push(encode_domain(bundle, d, domain)?);
        cells.push(label_cells(d));
    }
    let prior = Prior::fit_with(&vs, &cells, dim, prior)?;
    let mut out = BTreeMap::new();
    for d in data.iter().filter(|d| !d.labels.is_empty()) {
        let domain = bundle.manifest.domain_index(&d.name)?;
        let e: Vec<f32> = vs[domain]
            .chunks_exact(dim)
            .flat_map(|v| prior.whiten(domain, v))
            .collect();
        let held: Vec<bool> = (0..d.len()).map(|i| is_held_out(seed, i)).collect();
        let mut heads = Vec::new();
        for (attr, labels) in &d.labels {
            // Images without this label take no part in its head.
            let pick = |keep: bool| -> Vec<usize> {
                (0..held.len())
                    .filter(|&i| held[i] == keep && labels[i].is_some())
                    .collect()
            };
            let (fit_idx, test_idx) = (pick(false), pick(true));
            match fit_one(attr, labels, &e, dim, &fit_idx, &test_idx) {
                Ok(head) => {
                    tracing::info!(
                        domain = %d.name,
                        attribute = %attr,
                        held_out_error = head.confusion.map_or(f64::NAN, |c| c.error_rate()),
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
    Ok((prior, out))
}

/// The label-free groups (docs/fairness.md §8) of every domain trained
/// without labels, so its fairness nodes have something to audit and balance
/// by until someone labels it.
pub fn fit_groups(
    bundle: &Bundle,
    data: &[DomainData],
    prior: &Prior,
    seed: u64,
) -> Result<BTreeMap<String, Groups>> {
    let mut out = BTreeMap::new();
    for (d, name) in bundle.manifest.domains.iter().enumerate() {
        if data.iter().any(|x| &x.name == name && x.labels.is_empty()) {
            let count = GroupCount::Auto {
                max: groups::AUTO_MAX,
            };
            let found = groups::discover(prior.components(d), count, seed)?;
            tracing::info!(domain = %name, groups = found.shares.len(), "label-free groups found");
            out.insert(name.clone(), found);
        }
    }
    Ok(out)
}

/// Labelled images each class needs in both the fit and the held-out split.
const MIN_PER_CLASS: usize = 5;

/// One head: L2 strength picked on the held-out split, then refitted on
/// every labelled image (`fit_idx` and `test_idx` hold labelled images only).
fn fit_one(
    attr: &str,
    labels: &[Option<bool>],
    e: &[f32],
    dim: usize,
    fit_idx: &[usize],
    test_idx: &[usize],
) -> Result<AttributeHead> {
    let sel =
        |idx: &[usize]| -> Vec<bool> { idx.iter().map(|&i| labels[i] == Some(true)).collect() };
    let rows = |src: &[f32], idx: &[usize]| -> Vec<f32> {
        idx.iter()
            .flat_map(|&i| src[i * dim..(i + 1) * dim].iter().copied())
            .collect()
    };
    for (split, idx) in [("fit", fit_idx), ("held-out", test_idx)] {
        let present = idx.iter().filter(|&&i| labels[i] == Some(true)).count();
        let fewest = present.min(idx.len() - present);
        if fewest < MIN_PER_CLASS {
            return Err(Error::InvalidArgument(format!(
                "only {fewest} images of one class in the {split} split (need {MIN_PER_CLASS}); label more images"
            )));
        }
    }
    let (fit_v, test_v) = (rows(e, fit_idx), rows(e, test_idx));
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
    let all: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    let mut head = fit_logistic(
        attr,
        &rows(e, &all),
        &sel(&all),
        dim,
        FitOptions {
            l2,
            ..FitOptions::default()
        },
    )?;
    head.confusion = Some(confusion);
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Oracle: bits by attribute name order (`hat` bit 0, `smiling` bit 1);
    /// an image missing either label goes to cell 4 = 2^2.
    #[test]
    fn images_missing_a_label_get_a_cell_of_their_own() {
        let d = DomainData {
            name: "d".into(),
            root: PathBuf::new(),
            files: vec![PathBuf::new(); 4],
            labels: BTreeMap::from([
                (
                    "smiling".to_string(),
                    vec![Some(true), Some(false), None, Some(true)],
                ),
                (
                    "hat".to_string(),
                    vec![Some(true), Some(false), Some(true), None],
                ),
            ]),
            skipped: Vec::new(),
        };
        assert_eq!(label_cells(&d), [3, 0, 4, 4]);
    }
}
