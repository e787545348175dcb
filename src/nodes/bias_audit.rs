//! Bias Audit: passes frames through and records each frame's head scores, so
//! a sequence rendered anywhere (one record file per frame) can be audited by
//! `equifx audit --records DIR` (docs/fairness.md §6).
//!
//! History: 1.0 — first version.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fairness::latents::{encode, head_set};
use crate::fairness::metadata::{FrameRecord, METADATA_VERSION};
use crate::fairness::FrameMeta;
use crate::frame::Image;
use crate::node::{Node, RenderRequest};

use super::model_params::{domain, load_bundle};

pub const ID: &str = "org.equifx.BiasAudit";

pub struct BiasAudit;

impl Node for BiasAudit {
    fn id(&self) -> &'static str {
        ID
    }

    fn render(&self, req: &RenderRequest<'_>) -> Result<Image> {
        let input = req
            .inputs
            .first()
            .ok_or_else(|| Error::InvalidArgument("Bias Audit needs its Source input".into()))?;
        let p = req.params;
        let records = p.text("records")?;
        if !records.trim().is_empty() {
            let bundle = load_bundle(p)?;
            let domain = domain(p, "domain", &bundle)?;
            let domain_name = bundle.manifest.domains[domain].as_str();
            let heads = head_set(&bundle, domain_name)?;
            let v = encode(&bundle, std::slice::from_ref(input), domain)?.remove(0);
            let record = FrameRecord {
                version: METADATA_VERSION,
                attributes: heads.names().to_vec(),
                frame: FrameMeta {
                    item: req.frame.max(0) as u64,
                    seed: 0,
                    cell: heads.cell(&v),
                    scores: heads.scores(&v),
                },
            };
            record.write(Path::new(records), req.frame)?;
        }
        input.try_clone()
    }
}
