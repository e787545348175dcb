//! Rebalance: applies a batch plan (docs/fairness.md §5) frame by frame. The
//! plan is made over the whole batch by `equifx rebalance`; frame N gets the
//! plan's edit of item N, and frames without an edit pass through untouched.
//!
//! History: 1.0 — first version.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fairness::RebalancePlan;
use crate::frame::Image;
use crate::memory::{ensure_available, image_bytes};
use crate::model::latents::{apply_edit, encode, heads_if_labelled};
use crate::node::{Node, RenderRequest};

use super::model_params::{domain, load_bundle};

pub const ID: &str = "org.equifx.Rebalance";

pub struct Rebalance;

/// Reads a plan file.
pub fn read_plan(path: &Path) -> Result<RebalancePlan> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    RebalancePlan::from_json(&text)
}

impl Node for Rebalance {
    fn id(&self) -> &'static str {
        ID
    }

    fn render(&self, req: &RenderRequest<'_>) -> Result<Image> {
        let input = req
            .inputs
            .first()
            .ok_or_else(|| Error::InvalidArgument("Rebalance needs its Source input".into()))?;
        let p = req.params;
        let plan_path = p.text("plan")?;
        if plan_path.trim().is_empty() {
            return Err(Error::InvalidParamValue {
                param: "plan".into(),
                reason: "no plan file: make one with `equifx rebalance --plan plan.json …`".into(),
            });
        }
        let plan = read_plan(Path::new(plan_path))?;
        let Some(edit) = usize::try_from(req.frame)
            .ok()
            .and_then(|f| plan.edit_for(f))
        else {
            return input.try_clone();
        };
        // The edit reaches the frame as the difference of two decoded
        // pictures scaled to its size, added to a copy of it: check that
        // memory first, as those allocations cannot fail softly.
        let (w, h) = (input.width(), input.height());
        ensure_available(image_bytes(w, h) / 4 * 13, &|| {
            format!("applying the edit to the {w}×{h} frame")
        })?;
        let bundle = load_bundle(p)?;
        let domain = domain(p, "domain", &bundle)?;
        let domain_name = bundle.manifest.domains[domain].as_str();
        let heads = heads_if_labelled(&bundle, domain_name)?;
        let attributes = heads.as_ref().map_or(&[][..], |h| h.names());
        plan.check_context(&bundle.manifest.weights_sha256, domain_name, attributes)?;
        let v = encode(&bundle, std::slice::from_ref(input), domain)?.remove(0);
        let mut edited = v.clone();
        edit.apply(&mut edited, heads.as_ref())?;
        req.ctx.check_abort()?;
        apply_edit(&bundle, input, &v, &edited, domain)
    }
}
