//! What a bundle knows, for people and pipelines: its domains, each
//! domain's attributes with their shares in the training data and whether a
//! head reads them, sizes, architecture and hashes. Read from the manifest
//! alone (checked as a load would), so asking is cheap.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::bundle::{Bundle, Manifest};
use super::config::ModelConfig;
use crate::error::{Error, Result};
use crate::frame::ColourSpace;

/// One attribute of one domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeInfo {
    pub name: String,
    /// Share of the domain's labelled training images that have it.
    pub training_share: Option<f64>,
    /// Whether the bundle has a head that reads it (what the fairness nodes use).
    pub has_head: bool,
    /// The pixel reader's accuracy on held-out training images, when the
    /// bundle's reader reads it (the Fair Sampler's check by the pixels).
    pub reader_accuracy: Option<f64>,
}

/// One label-free group of a domain (`equifx model groups`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupInfo {
    /// The name targets and reports use: a person's (`equifx model
    /// name-group`) or "group N".
    pub name: String,
    /// Share of the domain's training data in the group.
    pub training_share: f64,
}

/// One domain of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainInfo {
    pub name: String,
    pub training_images: usize,
    pub attributes: Vec<AttributeInfo>,
    /// The label-free groups, in group order, if found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupInfo>,
}

/// Everything `equifx model info` and `equifx_model_info` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub path: String,
    pub format_version: u32,
    pub domains: Vec<DomainInfo>,
    pub colour_space: ColourSpace,
    /// Side of the square pictures the networks were trained on.
    pub image_size: usize,
    /// Training pixels per source pixel for bundles trained on crops; absent
    /// for bundles trained on whole pictures resized to `image_size`.
    pub pixel_scale: Option<f64>,
    /// Frame sides the network takes are padded to multiples of this.
    pub alignment: usize,
    pub architecture: ModelConfig,
    pub weights_sha256: String,
    pub prior_sha256: Option<String>,
    pub provenance: BTreeMap<String, String>,
}

impl ModelInfo {
    /// Reads and checks the manifest of the bundle at `dir`.
    pub fn read(dir: &Path) -> Result<ModelInfo> {
        Ok(Self::of(dir, &Bundle::read_manifest(dir)?))
    }

    pub fn of(dir: &Path, m: &Manifest) -> ModelInfo {
        let domains = m
            .domains
            .iter()
            .map(|d| {
                let stats = m.training.iter().find(|s| &s.name == d);
                let heads: Vec<&str> = m
                    .heads
                    .get(d)
                    .map(|h| h.iter().map(|h| h.name.as_str()).collect())
                    .unwrap_or_default();
                let mut names: Vec<&str> = stats
                    .map(|s| s.attributes.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                for h in &heads {
                    if !names.contains(h) {
                        names.push(h);
                    }
                }
                DomainInfo {
                    name: d.clone(),
                    groups: m
                        .groups
                        .get(d)
                        .map(|g| {
                            (0..g.shares.len())
                                .map(|k| GroupInfo {
                                    name: g.name(k),
                                    training_share: g.shares[k],
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    training_images: stats.map_or(0, |s| s.images),
                    attributes: names
                        .iter()
                        .map(|a| AttributeInfo {
                            name: a.to_string(),
                            training_share: stats.and_then(|s| s.attributes.get(*a).copied()),
                            has_head: heads.contains(a),
                            reader_accuracy: m.reader.as_ref().and_then(|r| {
                                r.outputs
                                    .iter()
                                    .find(|o| o.domain == *d && o.attribute == *a)
                                    .map(|o| o.held_out_accuracy)
                            }),
                        })
                        .collect(),
                }
            })
            .collect();
        ModelInfo {
            path: dir.display().to_string(),
            format_version: m.format_version,
            domains,
            colour_space: m.colour_space,
            image_size: m.image_size,
            pixel_scale: m.pixel_scale,
            alignment: m.architecture.align(),
            architecture: m.architecture.clone(),
            weights_sha256: m.weights_sha256.clone(),
            prior_sha256: m.prior_sha256.clone(),
            provenance: m.provenance.clone(),
        }
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Internal(format!("cannot write model info as JSON: {e}")))
    }

    /// A short human-readable summary.
    pub fn to_text(&self) -> String {
        let mut out = format!("model bundle {}\n", self.path);
        let scale = match self.pixel_scale {
            Some(s) => format!("trained on {0}×{0} crops at {s} × the source pixels: Domain Transfer runs at the frame's own resolution", self.image_size),
            None => format!("trained on whole pictures at {0}×{0}: Domain Transfer runs at that size", self.image_size),
        };
        out += &format!("  {scale}\n  colour: {}\n  domains:\n", self.colour_space);
        for d in &self.domains {
            out += &format!("    {}  ({} training images)\n", d.name, d.training_images);
            for a in &d.attributes {
                let share = a
                    .training_share
                    .map_or("unlabelled".to_string(), |s| format!("{:.1} %", 100.0 * s));
                let head = if a.has_head { "head" } else { "no head" };
                let reader = a.reader_accuracy.map_or(String::new(), |r| {
                    format!(", pixel reader {:.1} % right", 100.0 * r)
                });
                out += &format!(
                    "      {}: {share} of the training data, {head}{reader}\n",
                    a.name
                );
            }
            if !d.groups.is_empty() {
                let shares: Vec<String> = d
                    .groups
                    .iter()
                    .map(|g| format!("{} {:.1} %", g.name, 100.0 * g.training_share))
                    .collect();
                out += &format!("      label-free groups: {}\n", shares.join(", "));
            }
        }
        let a = &self.architecture;
        out += &format!(
            "  architecture: latent {} channels (1/8), autoencoder {:?}, cINN {} blocks × {}{}\n",
            a.latent_channels,
            a.ae_channels,
            a.cinn_blocks,
            a.cinn_hidden,
            if a.cinn_squeeze { ", squeezed" } else { "" }
        );
        out += &format!("  weights sha256: {}\n", self.weights_sha256);
        if let Some(p) = &self.prior_sha256 {
            out += &format!("  prior sha256: {p}\n");
        }
        out
    }
}
