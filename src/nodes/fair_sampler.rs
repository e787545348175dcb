//! Fair Sampler: new images of a domain with the attribute mix the artist sets
//! (docs/fairness.md §4, exact conditional sampling in v-space).
//!
//! Frame f is item f mod N of block ⌊f / N⌋ (N = frames per block); each block
//! is a sampler of its own, seeded from (seed, block), whose cell counts meet
//! the target exactly. A frame depends only on (model, parameters, seed, f).
//! With Balance set to groups the classes are the domain's label-free groups
//! (docs/fairness.md §8) and the heads are not needed. With attributes and a
//! bundle that has a pixel reader, each picture is checked by its pixels
//! ([`crate::model::pixel_check`]).
//!
//! History: 1.0 — first version.

use crate::error::{Error, Result};
use crate::fairness::group_sampler::GroupSampler;
use crate::fairness::group_target::group_target;
use crate::fairness::{FairSampler as Sampler, HeadSet, SamplerOptions, Target};
use crate::frame::Image;
use crate::memory::{ensure_available, image_bytes};
use crate::model::latents::{decode, fit_to_frame, head_set};
use crate::model::pixel_check::{sample_checked, CheckOptions};
use crate::model::Bundle;
use crate::node::{Node, RenderRequest};
use crate::rng::StreamRng;

use super::model_params::{domain, load_bundle, shares};

pub const ID: &str = "org.equifx.FairSampler";

pub struct FairSampler;

/// The seed of block `block`'s sampler.
fn block_seed(seed: u64, block: i64) -> u64 {
    StreamRng::new(seed, b"fair-sampler-block", block as u64).next_u64()
}

/// The sampler of block `block`: N items whose cell counts meet `target` exactly.
/// The CLI's `equifx sample --count N` is block 0 of the node with N frames per block.
pub fn block_sampler(
    heads: HeadSet,
    target: &Target,
    n: u64,
    seed: u64,
    block: i64,
) -> Result<Sampler> {
    Sampler::new(
        heads,
        target,
        n,
        block_seed(seed, block),
        SamplerOptions::default(),
    )
}

/// The sampler of block `block` over the domain's label-free groups: N items
/// whose group counts meet the mix `shares` asks for
/// ([`crate::fairness::group_target`]) exactly.
pub fn group_block_sampler(
    bundle: &Bundle,
    domain: usize,
    shares: &str,
    n: u64,
    seed: u64,
    block: i64,
) -> Result<GroupSampler> {
    let name = &bundle.manifest.domains[domain];
    let (Some(groups), Some(prior)) = (bundle.manifest.groups.get(name), &bundle.prior) else {
        return Err(Error::InvalidArgument(format!(
            "the model has no label-free groups for domain '{name}': find them with \
             `equifx model groups BUNDLE --domain {name}`"
        )));
    };
    let target = group_target(shares, groups)?;
    GroupSampler::new(
        prior.components(domain),
        groups,
        &target,
        n,
        block_seed(seed, block),
    )
}

impl Node for FairSampler {
    fn id(&self) -> &'static str {
        ID
    }

    fn render(&self, req: &RenderRequest<'_>) -> Result<Image> {
        let p = req.params;
        let bundle = load_bundle(p)?;
        let domain = domain(p, "domain", &bundle)?;
        let n = p.int("block_length")?.max(1) as u64;
        let (block, item) = (
            req.frame.div_euclid(n as i64),
            req.frame.rem_euclid(n as i64) as u64,
        );
        let seed = p.int("seed")? as u64;
        let by_groups = p.text("balance")? == "groups";
        // The picture is scaled to cover the frame (a square of the longer
        // side, one plane at a time) and cropped: check that memory first,
        // as those allocations cannot fail softly.
        let (w, h) = (req.width, req.height);
        let side = w.max(h);
        ensure_available(image_bytes(side, side) / 4 * 5 + image_bytes(w, h), &|| {
            format!("scaling the sampled picture to the {w}×{h} frame")
        })?;
        req.ctx.check_abort()?;
        let picture = if by_groups {
            let shares = p.text("shares")?;
            let point = group_block_sampler(&bundle, domain, shares, n, seed, block)
                .map_err(|e| Error::InvalidParamValue {
                    param: "shares".into(),
                    reason: e.to_string(),
                })?
                .sample_item(item)?
                .e;
            decode(&bundle, &[point], domain)?.remove(0)
        } else {
            let heads = head_set(&bundle, &bundle.manifest.domains[domain])?;
            let target = Target::Marginals(shares(p, "shares", heads.names())?);
            let sampler = block_sampler(heads, &target, n, seed, block)?;
            let check = CheckOptions {
                tries: p.int("check_tries")?.clamp(0, 64) as u32,
                threshold: p.float("check_threshold")? as f32,
            };
            sample_checked(&bundle, &sampler, domain, item..item + 1, check)?
                .remove(0)
                .picture
        };
        req.ctx.progress(1.0);
        Ok(fit_to_frame(&picture, req.width, req.height))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamKind;

    /// The library's [`CheckOptions::default`] is what the node (and so the
    /// CLI's flags) start from: one set of defaults, declared in the manifest.
    #[test]
    fn the_check_defaults_are_the_nodes() {
        let node = crate::manifest::node(ID).unwrap();
        let default = |id: &str| node.param(id).map(|p| p.kind.clone());
        let d = CheckOptions::default();
        match default("check_tries") {
            Some(ParamKind::Int { default, .. }) => assert_eq!(default, i64::from(d.tries)),
            other => panic!("check_tries: {other:?}"),
        }
        match default("check_threshold") {
            Some(ParamKind::Float { default, .. }) => assert_eq!(default as f32, d.threshold),
            other => panic!("check_threshold: {other:?}"),
        }
    }
}
