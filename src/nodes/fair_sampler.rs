//! Fair Sampler: new images of a domain with the attribute mix the artist sets
//! (docs/fairness.md §4, exact conditional sampling in v-space).
//!
//! Frame f is item f mod N of block ⌊f / N⌋ (N = frames per block); each block
//! is a sampler of its own, seeded from (seed, block), whose cell counts meet
//! the target exactly. A frame depends only on (model, parameters, seed, f).
//!
//! History: 1.0 — first version.

use crate::error::Result;
use crate::fairness::{FairSampler as Sampler, HeadSet, SamplerOptions, Target};
use crate::frame::Image;
use crate::memory::{ensure_available, image_bytes};
use crate::model::latents::{decode, fit_to_frame, head_set};
use crate::node::{Node, RenderRequest};
use crate::rng::StreamRng;

use super::model_params::{domain, load_bundle, shares};

pub const ID: &str = "org.equifx.FairSampler";

pub struct FairSampler;

/// The sampler of block `block`: N items whose cell counts meet `target` exactly.
/// The CLI's `equifx sample --count N` is block 0 of the node with N frames per block.
pub fn block_sampler(
    heads: HeadSet,
    target: &Target,
    n: u64,
    seed: u64,
    block: i64,
) -> Result<Sampler> {
    let block_seed = StreamRng::new(seed, b"fair-sampler-block", block as u64).next_u64();
    Sampler::new(heads, target, n, block_seed, SamplerOptions::default())
}

impl Node for FairSampler {
    fn id(&self) -> &'static str {
        ID
    }

    fn render(&self, req: &RenderRequest<'_>) -> Result<Image> {
        let p = req.params;
        let bundle = load_bundle(p)?;
        let domain = domain(p, "domain", &bundle)?;
        let heads = head_set(&bundle, &bundle.manifest.domains[domain])?;
        let target = Target::Marginals(shares(p, "shares", heads.names())?);
        let n = p.int("block_length")?.max(1) as u64;
        let (block, item) = (
            req.frame.div_euclid(n as i64),
            req.frame.rem_euclid(n as i64) as u64,
        );
        let sampler = block_sampler(heads, &target, n, p.int("seed")? as u64, block)?;
        // The picture is scaled to cover the frame (a square of the longer
        // side, one plane at a time) and cropped: check that memory first,
        // as those allocations cannot fail softly.
        let (w, h) = (req.width, req.height);
        let side = w.max(h);
        ensure_available(image_bytes(side, side) / 4 * 5 + image_bytes(w, h), &|| {
            format!("scaling the sampled picture to the {w}×{h} frame")
        })?;
        req.ctx.check_abort()?;
        let drawn = sampler.sample_item(item)?;
        let picture = decode(&bundle, &[drawn.v], domain)?;
        req.ctx.progress(1.0);
        Ok(fit_to_frame(&picture[0], req.width, req.height))
    }
}
