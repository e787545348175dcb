//! A training run's networks stepped one in-memory batch at a time: the
//! step functions the stage loops run, without the data loading around
//! them, so a benchmark can time a step (and compare it with candle's own
//! ops under [`crate::kernels::with_candle_ops`]).

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::adam::Adam;
use super::checkpoint::named_vars;
use super::config::TrainConfig;
use super::discriminator::{self, Discriminator};
use super::init::init_actnorm;
use super::stages::{autoencoder_step, channel_std, cinn_step, CinnBatch};
use crate::error::Result;
use crate::model::cinn::{Cinn, Permutations};
use crate::model::Autoencoder;

/// The networks a run trains.
pub(super) struct Networks {
    pub(super) ae: Autoencoder,
    pub(super) cinn: Cinn,
    /// Only when the run has an adversarial term.
    pub(super) discriminator: Option<Discriminator>,
}

/// The networks of `cfg`, with their variables in `varmap`, initialised from `cfg.seed`.
pub(super) fn build_networks(cfg: &TrainConfig, varmap: &VarMap) -> Result<Networks> {
    let dev = Device::Cpu;
    let vb = VarBuilder::from_varmap(varmap, DType::F32, &dev);
    let ae = Autoencoder::new(&cfg.arch, vb.pp("ae"))?;
    let cinn = Cinn::new(
        &cfg.arch,
        vb.pp("cinn"),
        Permutations::Seeded(cfg.seed),
        &dev,
    )?;
    let discriminator = if cfg.adversarial() {
        Some(Discriminator::new(
            vb.pp(discriminator::PREFIX.trim_end_matches('.')),
        )?)
    } else {
        None
    };
    crate::model::init::reseed(varmap, cfg.seed)?;
    Ok(Networks {
        ae,
        cinn,
        discriminator,
    })
}

/// Fresh networks of a training configuration with their optimisers.
pub struct Stepper {
    cfg: TrainConfig,
    varmap: VarMap,
    ae: Autoencoder,
    cinn: Cinn,
    critic: Option<(Discriminator, Adam)>,
    ae_adam: Adam,
    cinn_adam: Adam,
    latent_std: Option<Tensor>,
}

impl Stepper {
    /// The networks of `cfg` (its architecture, seed and loss weights; no
    /// data is read), initialised as `equifx train` initialises them.
    pub fn new(cfg: &TrainConfig) -> Result<Self> {
        let varmap = VarMap::new();
        let Networks {
            ae,
            cinn,
            discriminator,
        } = build_networks(cfg, &varmap)?;
        let ae_adam = Adam::new(named_vars(&varmap, "ae.")?)?;
        let cinn_adam = Adam::new(named_vars(&varmap, "cinn.")?)?;
        let critic = match discriminator {
            Some(d) => Some((d, Adam::new(named_vars(&varmap, discriminator::PREFIX)?)?)),
            None => None,
        };
        Ok(Stepper {
            cfg: cfg.clone(),
            varmap,
            ae,
            cinn,
            critic,
            ae_adam,
            cinn_adam,
            latent_std: None,
        })
    }

    /// One autoencoder step on pictures (B, 3, S, S) in 0 … 1; returns the loss.
    pub fn autoencoder_step(&mut self, x: &Tensor, step: usize) -> Result<f64> {
        let critic = self.critic.as_mut().map(|(d, adam)| (&*d, adam));
        autoencoder_step(&self.cfg, &self.ae, &mut self.ae_adam, critic, x, step)
    }

    /// The encoder's latents of pictures (B, 3, S, S), without gradients.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.ae.encoder.forward(x)?.detach())
    }

    /// Fits the cINN's first ActNorm and the latent noise's scale to
    /// `latents`, as the cINN stage does before its first step.
    pub fn prepare_cinn(&mut self, latents: &Tensor) -> Result<()> {
        init_actnorm(&self.varmap, std::slice::from_ref(latents), &self.cfg.arch)?;
        self.latent_std = Some(channel_std(latents)?);
        Ok(())
    }

    /// One cINN step (maximum likelihood) on latents `z` of the domains
    /// `domains`; returns the negative log-likelihood per dimension.
    pub fn cinn_step(&mut self, z: &Tensor, domains: &[u32], step: usize) -> Result<f64> {
        let latent_std = match &self.latent_std {
            Some(s) => s.clone(),
            None => channel_std(z)?,
        };
        let images = vec![0; domains.len()];
        let losses = cinn_step(
            &self.cfg,
            &self.cinn,
            None,
            &mut self.cinn_adam,
            CinnBatch {
                z,
                domains,
                images: &images,
                latent_std: &latent_std,
            },
            step,
        )?;
        Ok(losses.nll_per_dim)
    }
}
