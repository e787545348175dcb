//! Bias Audit: passes frames through and records each frame's head scores
//! (and its label-free group where the bundle has groups), so
//! a sequence rendered anywhere (one record file per frame) can be audited by
//! `equifx audit --records DIR` (docs/fairness.md §6).
//!
//! History: 1.0 — first version.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fairness::groups::most_probable;
use crate::fairness::metadata::{FrameRecord, METADATA_VERSION};
use crate::fairness::FrameMeta;
use crate::frame::Image;
use crate::model::latents::{encode, heads_if_labelled};
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
            check_records_folder(Path::new(records))?;
            let bundle = load_bundle(p)?;
            let domain = domain(p, "domain", &bundle)?;
            let domain_name = bundle.manifest.domains[domain].as_str();
            let heads = heads_if_labelled(&bundle, domain_name)?;
            let v = encode(&bundle, std::slice::from_ref(input), domain)?.remove(0);
            let group = match (bundle.manifest.groups.get(domain_name), &bundle.prior) {
                (Some(groups), Some(prior)) => Some(
                    most_probable(prior.components(domain), groups, &v).ok_or_else(|| {
                        Error::InvalidArgument(
                            "the frame's latent is not finite, so it falls in no group".into(),
                        )
                    })?,
                ),
                _ => None,
            };
            let record = FrameRecord {
                version: METADATA_VERSION,
                attributes: heads.as_ref().map_or_else(Vec::new, |h| h.names().to_vec()),
                frame: FrameMeta {
                    item: req.frame.max(0) as u64,
                    seed: 0,
                    cell: heads.as_ref().map_or(0, |h| h.cell(&v)),
                    scores: heads.as_ref().map_or_else(Vec::new, |h| h.scores(&v)),
                    group,
                    pixel_check: None,
                },
            };
            record.write(Path::new(records), req.frame)?;
        }
        input.try_clone()
    }
}

/// The records folder is created when missing; a file where it (or one of
/// the folders above it) should be is the user's mistake to name.
fn check_records_folder(dir: &Path) -> Result<()> {
    let in_the_way = dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find_map(|a| std::fs::metadata(a).ok().map(|m| (a, m.is_dir())));
    match in_the_way {
        Some((file, false)) => Err(Error::InvalidParamValue {
            param: "records".into(),
            reason: format!(
                "{} is a file, not a folder: give the folder the per-frame records go into \
                 (it is created if it does not exist)",
                file.display()
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_place_of_the_records_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("records.txt");
        std::fs::write(&file, b"x").unwrap();
        for asked in [file.clone(), file.join("sub")] {
            let e = check_records_folder(&asked).unwrap_err().to_string();
            assert!(e.contains("is a file, not a folder"), "{e}");
            assert!(e.contains(&file.display().to_string()), "{e}");
        }
        assert!(check_records_folder(dir.path()).is_ok());
        assert!(check_records_folder(&dir.path().join("new/folder")).is_ok());
    }
}
