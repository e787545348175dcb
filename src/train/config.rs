//! What a training run is asked to do, and the checks made before any
//! picture is read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::data::Sampling;
use crate::error::{Error, Result};
use crate::model::ModelConfig;

/// Everything a training run needs.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub out: PathBuf,
    /// (domain name, image folder), in condition-index order.
    pub domains: Vec<(String, PathBuf)>,
    /// Side of the square training pictures.
    pub size: usize,
    /// How training pictures are taken from the files: random crops (the
    /// default) or whole images resized to `size`.
    pub sampling: Sampling,
    pub arch: ModelConfig,
    pub seed: u64,
    pub ae_steps: usize,
    pub cinn_steps: usize,
    pub batch: usize,
    pub ae_lr: f64,
    pub cinn_lr: f64,
    pub checkpoint_every: usize,
    pub resume: bool,
    /// Use at most this many (readable) images per domain.
    pub limit: Option<usize>,
    /// Start the autoencoder from this bundle's weights (same architecture), e.g.
    /// to train a new cINN on a shipped autoencoder with `ae_steps = 0`.
    pub init_autoencoder: Option<PathBuf>,
    /// Continue the cINN of this bundle (same architecture and seed) instead of a fresh one.
    pub init_cinn: Option<PathBuf>,
    /// Dequantisation noise on the latent, as a fraction of each latent
    /// channel's standard deviation: the decoder learns to ignore it and the
    /// cINN models the thickened latent. Without it the latents of simple scenes
    /// lie near a low-dimensional manifold, the flow's likelihood diverges by
    /// collapsing the directions off it, and samples of N(0, I) decode to noise.
    pub latent_noise: f64,
    /// Weight of the texture-energy term in the autoencoder loss (see
    /// [`super::losses::texture_energy`]); 0 trains on L1 + edges alone.
    pub texture_weight: f64,
    /// Weight of the outline term in the autoencoder loss (see
    /// [`super::losses::outline_map`]).
    pub outline_weight: f64,
    /// Weight of the adversarial term in the autoencoder loss (see
    /// [`super::discriminator`]); 0 trains without a discriminator.
    pub adversarial_weight: f64,
    /// Weight of the shared attribute directions term in the cINN loss (see
    /// [`super::alignment`]); 0, or no labels, trains by maximum likelihood alone.
    pub attribute_weight: f64,
    /// Train only the decoder in the autoencoder stage.
    pub freeze_encoder: bool,
    /// Layout of the fitted prior's components.
    pub prior: crate::model::PriorOptions,
    /// Epochs of the pixel reader fitted at the end when there are labels
    /// (see [`super::reader`]); 0 fits none.
    pub reader_epochs: usize,
    /// Recorded in the manifest's provenance.
    pub command: String,
}

/// Which network is being trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Autoencoder,
    Cinn,
}

impl TrainConfig {
    /// Refuses settings no run can use, naming the command-line flag.
    pub(super) fn validate(&self) -> Result<()> {
        self.arch.validate()?;
        if self.size == 0 || !self.size.is_multiple_of(self.arch.align()) {
            return Err(Error::InvalidArgument(format!(
                "--size {} must be a positive multiple of {}",
                self.size,
                self.arch.align()
            )));
        }
        if !(0.0..=1.0).contains(&self.latent_noise) {
            return Err(Error::InvalidArgument(format!(
                "--latent-noise {} must be between 0 and 1 (a fraction of each latent channel's spread)",
                self.latent_noise
            )));
        }
        for (flag, weight) in [
            ("--texture-weight", self.texture_weight),
            ("--outline-weight", self.outline_weight),
            ("--adversarial-weight", self.adversarial_weight),
            ("--attribute-weight", self.attribute_weight),
        ] {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "{flag} {weight} must be a finite number ≥ 0"
                )));
            }
        }
        if self.freeze_encoder && self.init_autoencoder.is_none() {
            return Err(Error::InvalidArgument(
                "--freeze-encoder keeps the encoder of --init-autoencoder BUNDLE; name that bundle"
                    .into(),
            ));
        }
        self.sampling.validate()?;
        if self.domains.len() != self.arch.domains || self.batch == 0 {
            return Err(Error::InvalidArgument(
                "need at least one domain and a batch of at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Whether the autoencoder stage trains against a discriminator.
    pub(super) fn adversarial(&self) -> bool {
        self.adversarial_weight > 0.0 && self.ae_steps > 0
    }

    /// Elements of one latent: channels × (size / stride)².
    pub(super) fn latent_dim(&self) -> usize {
        let side = self.size / ModelConfig::STRIDE;
        self.arch.latent_channels * side * side
    }
}
