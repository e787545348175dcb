//! The bundle a run leaves: weights, and a manifest recording the data and
//! settings it was trained with.

use std::collections::{BTreeMap, HashMap};

use candle_core::Tensor;
use candle_nn::VarMap;

use super::alignment;
use super::checkpoint::named_vars;
use super::config::TrainConfig;
use super::data::{DomainData, Sampling};
use crate::error::{Error, Result};
use crate::frame::ColourSpace;
use crate::model::bundle::{
    self, DomainStats, Manifest, FORMAT_VERSION, MANIFEST_FILE, WEIGHTS_FILE,
};
use crate::model::cinn::Cinn;

/// Each stage's loss at its last step (NaN: the stage ran no step here).
pub(super) struct FinalLosses {
    pub(super) autoencoder: f64,
    pub(super) cinn_nll_per_dim: f64,
    pub(super) attribute: f64,
}

/// Unreadable files named in the provenance, per domain.
const SKIPPED_NAMED: usize = 5;

/// Writes the weights and the manifest (with the run's provenance) into the
/// output folder; the prior and heads are fitted on the written bundle after.
pub(super) fn export(
    cfg: &TrainConfig,
    varmap: &VarMap,
    cinn: &Cinn,
    data: &[DomainData],
    losses: FinalLosses,
    noise_std: Vec<f64>,
) -> Result<Manifest> {
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::io(&cfg.out, e))?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (k, v) in named_vars(varmap, "")? {
        // Training-only networks stay out of the bundle.
        if !k.starts_with(alignment::PREFIX) && !k.starts_with(super::discriminator::PREFIX) {
            tensors.insert(k, v.as_tensor().clone());
        }
    }
    for (k, t) in cinn.permutation_tensors()? {
        tensors.insert(k, t);
    }
    let bytes = super::checkpoint::tensor_bytes(&tensors, "the weights")?;
    let mut provenance = BTreeMap::new();
    provenance.insert("command".into(), cfg.command.clone());
    provenance.insert("equifx".into(), env!("CARGO_PKG_VERSION").into());
    provenance.insert("seed".into(), cfg.seed.to_string());
    provenance.insert("ae_steps".into(), cfg.ae_steps.to_string());
    provenance.insert("cinn_steps".into(), cfg.cinn_steps.to_string());
    provenance.insert("latent_noise".into(), cfg.latent_noise.to_string());
    provenance.insert("batch".into(), cfg.batch.to_string());
    provenance.insert("texture_weight".into(), cfg.texture_weight.to_string());
    provenance.insert("outline_weight".into(), cfg.outline_weight.to_string());
    provenance.insert(
        "adversarial_weight".into(),
        cfg.adversarial_weight.to_string(),
    );
    provenance.insert("attribute_weight".into(), cfg.attribute_weight.to_string());
    if cfg.freeze_encoder {
        provenance.insert("freeze_encoder".into(), "true".into());
    }
    cfg.prior.record(&mut provenance);
    provenance.insert("sampling".into(), cfg.sampling.name().into());
    if let Sampling::Crop { scale_jitter, .. } = cfg.sampling {
        provenance.insert("scale_jitter".into(), scale_jitter.to_string());
    }
    // Files left out as unreadable, per domain, with a few of their names:
    // at load (no readable header) or when training first decoded them.
    for d in data {
        let skipped = d.unreadable();
        provenance.insert(
            format!("skipped_files.{}", d.name),
            skipped.len().to_string(),
        );
        if !skipped.is_empty() {
            let some: Vec<String> = skipped
                .iter()
                .take(SKIPPED_NAMED)
                .map(|p| p.display().to_string())
                .collect();
            let more = skipped.len().saturating_sub(SKIPPED_NAMED);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            provenance.insert(
                format!("skipped_examples.{}", d.name),
                format!("{}{tail}", some.join(", ")),
            );
        }
    }
    // A stage that ran no step in this process (resumed past it, or 0 steps) has no loss to record.
    for (key, loss) in [
        ("final_ae_loss", losses.autoencoder),
        ("final_cinn_nll_per_dim", losses.cinn_nll_per_dim),
        ("final_attribute_loss", losses.attribute),
    ] {
        if loss.is_finite() {
            provenance.insert(key.into(), format!("{loss:.5}"));
        }
    }
    if let Some(dir) = &cfg.init_autoencoder {
        provenance.insert("init_autoencoder".into(), dir.display().to_string());
    }
    if let Some(dir) = &cfg.init_cinn {
        provenance.insert("init_cinn".into(), dir.display().to_string());
    }
    let manifest = Manifest {
        groups: BTreeMap::new(),
        format_version: FORMAT_VERSION,
        domains: cfg.domains.iter().map(|d| d.0.clone()).collect(),
        colour_space: ColourSpace::Srgb,
        image_size: cfg.size,
        pixel_scale: cfg.sampling.pixel_scale(),
        architecture: cfg.arch.clone(),
        training: data
            .iter()
            .map(|d| DomainStats {
                name: d.name.clone(),
                images: d.len(),
                attributes: d.attribute_shares(),
                labelled: d.labelled_counts(),
            })
            .collect(),
        provenance,
        weights_sha256: bundle::sha256_hex(&bytes),
        latent_noise: noise_std,
        prior_sha256: None,
        heads: BTreeMap::new(),
        reader: None,
    };
    crate::io::write_bytes_atomic(&cfg.out.join(WEIGHTS_FILE), &bytes)?;
    let text = toml::to_string_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    crate::io::write_bytes_atomic(&cfg.out.join(MANIFEST_FILE), text.as_bytes())?;
    Ok(manifest)
}
