//! A whole training run: data, networks and their starting points, the two
//! stages, the bundle, then the prior and heads fitted on it.

use candle_core::Device;
use candle_nn::VarMap;

use super::alignment::Alignment;
use super::checkpoint::{read_checkpoint, CHECKPOINT_DIR};
use super::config::{Stage, TrainConfig};
use super::data::DomainData;
use super::export::{export, FinalLosses};
use super::init::{check_permutations, load_weights};
use super::stages::{self, Run};
use super::step::build_networks;
use crate::error::Result;
use crate::model::bundle::Manifest;

/// Trains and writes the bundle. `progress(stage, step, total, loss)` is
/// called after every step.
/// The pixel reader's checkpoint inside the output folder while it is fitted.
const READER_CHECKPOINT_DIR: &str = ".checkpoint-reader";

pub fn train(cfg: &TrainConfig, progress: &dyn Fn(Stage, usize, usize, f64)) -> Result<Manifest> {
    cfg.validate()?;
    let data = cfg
        .domains
        .iter()
        .map(|(n, d)| DomainData::load(n, d, cfg.limit))
        .collect::<Result<Vec<_>>>()?;
    tracing::info!(
        images = data.iter().map(DomainData::len).sum::<usize>(),
        skipped = data.iter().map(|d| d.skipped.len()).sum::<usize>(),
        sampling = cfg.sampling.name(),
        "training data listed"
    );

    let varmap = VarMap::new();
    let networks = build_networks(cfg, &varmap)?;
    let (ae, cinn) = (&networks.ae, &networks.cinn);
    let alignment = if cfg.attribute_weight > 0.0 && cfg.cinn_steps > 0 {
        Alignment::new(&varmap, &data, cfg.latent_dim(), cfg.seed)?
    } else {
        None
    };
    if let Some(dir) = &cfg.init_autoencoder {
        load_weights(&varmap, dir, &cfg.arch, "ae.")?;
    }
    if let Some(dir) = &cfg.init_cinn {
        load_weights(&varmap, dir, &cfg.arch, "cinn.")?;
        check_permutations(cinn, dir)?;
    }

    let checkpoint = if cfg.resume {
        read_checkpoint(cfg)?
    } else {
        // A fresh run must not resume a reader left by another.
        let _ = std::fs::remove_dir_all(cfg.out.join(READER_CHECKPOINT_DIR));
        None
    };
    let (mut stage, mut start) = (Stage::Autoencoder, 0);
    if let Some((state, _)) = &checkpoint {
        (stage, start) = (state.stage, state.step);
        tracing::info!(?stage, step = start, "resuming from checkpoint");
    }

    let run = Run {
        cfg,
        data: &data,
        varmap: &varmap,
        ae,
        discriminator: networks.discriminator.as_ref(),
        progress,
    };
    let mut ae_final = f64::NAN;
    if stage == Stage::Autoencoder {
        ae_final = stages::autoencoder(&run, checkpoint.as_ref(), start)?;
        start = 0;
    }
    let cinn_checkpoint = checkpoint
        .as_ref()
        .filter(|(state, _)| state.stage == Stage::Cinn);
    let trained = stages::cinn(&run, cinn, alignment.as_ref(), cinn_checkpoint, start)?;

    // The noise the cINN was trained with: a cINN taken over untrained keeps its own.
    let inherited = match (&cfg.init_cinn, cfg.cinn_steps) {
        (Some(dir), 0) => Some(crate::model::Bundle::read_manifest(dir)?.latent_noise),
        _ => None,
    };
    let noise_std: Vec<f64> = if let Some(n) = inherited {
        n
    } else if cfg.latent_noise > 0.0 {
        let std = trained
            .latent_std
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())?;
        std.iter()
            .map(|&s| f64::from(s) * cfg.latent_noise)
            .collect()
    } else {
        Vec::new()
    };
    let losses = FinalLosses {
        autoencoder: ae_final,
        cinn_nll_per_dim: trained.nll_per_dim,
        attribute: trained.attribute,
    };
    let mut manifest = export(cfg, &varmap, cinn, &data, losses, noise_std)?;
    let _ = std::fs::remove_dir_all(cfg.out.join(CHECKPOINT_DIR));
    let bundle = crate::model::Bundle::load(&cfg.out, &Device::Cpu)?;
    let (prior, heads) = super::heads::fit_heads(&bundle, &data, cfg.seed, &cfg.prior)?;
    manifest.write_prior(&cfg.out, &prior)?;
    manifest.heads = heads;
    manifest.groups = super::heads::fit_groups(&bundle, &data, &prior, cfg.seed)?;
    if cfg.reader_epochs > 0 && data.iter().any(|d| !d.labels.is_empty()) {
        let options = super::ReaderOptions {
            epochs: cfg.reader_epochs,
            seed: cfg.seed,
            checkpoint: Some(cfg.out.join(READER_CHECKPOINT_DIR)),
            ..super::ReaderOptions::default()
        };
        manifest.reader = Some(super::fit_reader(&manifest, &data, &options, &cfg.out)?);
        let _ = std::fs::remove_dir_all(cfg.out.join(READER_CHECKPOINT_DIR));
    }
    manifest.write(&cfg.out)?;
    Ok(manifest)
}
