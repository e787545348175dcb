//! The two training stages: the autoencoder (L1 + edge terms, see
//! [`super::losses`]), then the cINN by maximum likelihood on the frozen
//! encoder's latents. Every batch, noise draw and cell phase comes from a
//! stream keyed on (seed, purpose, step), so a resumed stage repeats the steps
//! it skipped exactly.

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;

use super::adam::Adam;
use super::alignment::{self, Alignment};
use super::checkpoint::{named_vars, restore, write_checkpoint, Checkpoint};
use super::config::{Stage, TrainConfig};
use super::data::{DomainData, Sampling};
use super::discriminator::{self, Discriminator};
use super::init::init_actnorm;
use super::losses::{ae_loss, flow_nll, TEXTURE_CELL};
use crate::error::{Error, Result};
use crate::model::cinn::Cinn;
use crate::model::Autoencoder;
use crate::rng::StreamRng;

/// What both stages train with.
pub(super) struct Run<'a> {
    pub(super) cfg: &'a TrainConfig,
    pub(super) data: &'a [DomainData],
    pub(super) varmap: &'a VarMap,
    pub(super) ae: &'a Autoencoder,
    /// The decoder's adversary, when the run has an adversarial term.
    pub(super) discriminator: Option<&'a Discriminator>,
    /// `progress(stage, step, total, loss)`, called after every step.
    pub(super) progress: &'a dyn Fn(Stage, usize, usize, f64),
}

/// What the cINN stage leaves for the manifest.
pub(super) struct CinnOutcome {
    /// Each latent channel's standard deviation over the training set, (1, C, 1, 1).
    pub(super) latent_std: Tensor,
    /// Loss at the last step (NaN: no step ran).
    pub(super) nll_per_dim: f64,
    pub(super) attribute: f64,
}

fn cosine_lr(base: f64, step: usize, total: usize) -> f64 {
    let t = step as f64 / total.max(1) as f64;
    base * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

/// Trains the autoencoder from step `start` (restoring `checkpoint` first,
/// when resuming inside this stage); returns the loss of the last step.
pub(super) fn autoencoder(run: &Run, checkpoint: Option<&Checkpoint>, start: usize) -> Result<f64> {
    let (cfg, ae) = (run.cfg, run.ae);
    // A frozen encoder keeps the latents, and so a cINN trained on them, valid.
    let trained = if cfg.freeze_encoder {
        "ae.decoder."
    } else {
        "ae."
    };
    let mut adam = Adam::new(named_vars(run.varmap, trained)?)?;
    let mut critic_adam = match run.discriminator {
        Some(_) => Some(Adam::new(named_vars(run.varmap, discriminator::PREFIX)?)?),
        None => None,
    };
    if let Some(checkpoint) = checkpoint {
        let mut adams = vec![&mut adam];
        adams.extend(critic_adam.as_mut());
        restore(run.varmap, &mut adams, checkpoint)?;
    }
    let mut last = f64::NAN;
    for step in start..cfg.ae_steps {
        let (x, _, _) = draw_batch(
            run.data,
            cfg.sampling,
            cfg.size,
            cfg.seed,
            b"ae-batch",
            step,
            cfg.batch,
        )?;
        let critic = run.discriminator.zip(critic_adam.as_mut());
        last = autoencoder_step(cfg, ae, &mut adam, critic, &x, step)?;
        if !last.is_finite() {
            return Err(Error::Model(format!(
                "autoencoder loss became {last} at step {step}: lower --ae-lr"
            )));
        }
        (run.progress)(Stage::Autoencoder, step + 1, cfg.ae_steps, last);
        if (step + 1) % cfg.checkpoint_every == 0 && step + 1 < cfg.ae_steps {
            let mut adams = vec![&adam];
            adams.extend(critic_adam.as_ref());
            write_checkpoint(cfg, run.varmap, &adams, Stage::Autoencoder, step + 1)?;
        }
    }
    Ok(last)
}

/// Trains the cINN (and the shared attribute directions, if any) on the
/// frozen encoder's latents from step `start`. A `checkpoint` of this stage
/// is restored; without one, a fresh cINN's first ActNorm is fitted to the latents.
pub(super) fn cinn(
    run: &Run,
    cinn: &Cinn,
    alignment: Option<&Alignment>,
    checkpoint: Option<&Checkpoint>,
    start: usize,
) -> Result<CinnOutcome> {
    let cfg = run.cfg;
    let latents = encode_all(run.ae, run.data, cfg.sampling, cfg.size)?;
    let mut cinn_vars = named_vars(run.varmap, "cinn.")?;
    cinn_vars.extend(named_vars(run.varmap, alignment::PREFIX)?);
    let mut adam = Adam::new(cinn_vars)?;
    match checkpoint {
        Some(checkpoint) => restore(run.varmap, &mut [&mut adam], checkpoint)?,
        None if cfg.init_cinn.is_none() => init_actnorm(run.varmap, &latents, &cfg.arch)?,
        None => {}
    }
    let latent_std = channel_std(&Tensor::cat(&latents, 0)?)?;
    let (mut nll_final, mut attribute_final) = (f64::NAN, f64::NAN);
    for step in start..cfg.cinn_steps {
        let (z, doms, images) = match cfg.sampling {
            Sampling::Resize => draw_latents(&latents, cfg.seed, step, cfg.batch)?,
            Sampling::Crop { .. } => encode_fresh_crops(run.ae, run.data, cfg, step)?,
        };
        let losses = cinn_step(
            cfg,
            cinn,
            alignment,
            &mut adam,
            CinnBatch {
                z: &z,
                domains: &doms,
                images: &images,
                latent_std: &latent_std,
            },
            step,
        )?;
        nll_final = losses.nll_per_dim;
        if let Some(term) = losses.attribute {
            attribute_final = term;
        }
        if !nll_final.is_finite() {
            return Err(Error::Model(format!(
                "cINN loss became {nll_final} at step {step}: lower --cinn-lr"
            )));
        }
        (run.progress)(Stage::Cinn, step + 1, cfg.cinn_steps, nll_final);
        if (step + 1) % cfg.checkpoint_every == 0 && step + 1 < cfg.cinn_steps {
            write_checkpoint(cfg, run.varmap, &[&adam], Stage::Cinn, step + 1)?;
        }
    }
    Ok(CinnOutcome {
        latent_std,
        nll_per_dim: nll_final,
        attribute: attribute_final,
    })
}

/// One autoencoder step on the pictures `x` (B, 3, S, S): latent noise,
/// reconstruction loss (plus the adversarial term when `critic` is given),
/// backward pass and Adam update, then the critic's own step on the same
/// pictures. Returns the autoencoder's loss.
pub(super) fn autoencoder_step(
    cfg: &TrainConfig,
    ae: &Autoencoder,
    adam: &mut Adam,
    critic: Option<(&Discriminator, &mut Adam)>,
    x: &Tensor,
    step: usize,
) -> Result<f64> {
    let z = ae.encoder.forward(x)?;
    // No gradient through an encoder that is not trained.
    let z = if cfg.freeze_encoder { z.detach() } else { z };
    let z = add_latent_noise(
        &z,
        &channel_std(&z)?,
        cfg.latent_noise,
        cfg.seed,
        b"ae-noise",
        step,
    )?;
    let xh = ae.decoder.forward(&z)?;
    let mut r = StreamRng::new(cfg.seed, b"texture-phase", step as u64);
    let cell = TEXTURE_CELL as u64;
    let phase = (
        (r.next_u64() % cell) as usize,
        (r.next_u64() % cell) as usize,
    );
    let mut loss = ae_loss(&xh, x, cfg.texture_weight, cfg.outline_weight, phase)?;
    if let Some((critic, _)) = &critic {
        let fooled = discriminator::decoder_loss(&critic.forward(&xh)?)?;
        loss = (loss + (fooled * cfg.adversarial_weight)?)?;
    }
    // The critic's variables get gradients here too; only `adam`'s own are stepped.
    let grads = loss.backward()?;
    let lr = cosine_lr(cfg.ae_lr, step, cfg.ae_steps);
    adam.step(&grads, lr)?;
    if let Some((critic, critic_adam)) = critic {
        let judged =
            discriminator::discriminator_loss(&critic.forward(x)?, &critic.forward(&xh.detach())?)?;
        critic_adam.step(&judged.backward()?, lr)?;
    }
    Ok(f64::from(loss.to_scalar::<f32>()?))
}

/// What one cINN step trains on.
pub(super) struct CinnBatch<'a> {
    /// Latents (B, C, h, w), without gradients.
    pub(super) z: &'a Tensor,
    /// Each latent's domain index.
    pub(super) domains: &'a [u32],
    /// Each latent's image index in its domain (for the attribute term).
    pub(super) images: &'a [usize],
    /// Per-channel spread of the training latents, (1, C, 1, 1), scaling the noise.
    pub(super) latent_std: &'a Tensor,
}

/// The losses of one cINN step.
pub(super) struct CinnLosses {
    pub(super) nll_per_dim: f64,
    /// The attribute term, when the run trains one.
    pub(super) attribute: Option<f64>,
}

/// One cINN step: latent noise, negative log-likelihood per dimension (plus
/// the attribute term), backward pass and Adam update.
pub(super) fn cinn_step(
    cfg: &TrainConfig,
    cinn: &Cinn,
    alignment: Option<&Alignment>,
    adam: &mut Adam,
    batch: CinnBatch,
    step: usize,
) -> Result<CinnLosses> {
    let z = add_latent_noise(
        batch.z,
        batch.latent_std,
        cfg.latent_noise,
        cfg.seed,
        b"cinn-noise",
        step,
    )?;
    let d = Tensor::from_vec(batch.domains.to_vec(), batch.domains.len(), &Device::Cpu)?;
    let (v, logdet) = cinn.forward(&z, &d)?;
    let nll_per_dim = (flow_nll(&v, &logdet)? / cfg.latent_dim() as f64)?;
    let (loss, attribute) = match alignment {
        Some(a) => {
            let term = a.loss(&v, batch.domains, batch.images)?;
            let value = f64::from(term.to_scalar::<f32>()?);
            (
                (&nll_per_dim + (term * cfg.attribute_weight)?)?,
                Some(value),
            )
        }
        None => (nll_per_dim.clone(), None),
    };
    let grads = loss.backward()?;
    adam.step(&grads, cosine_lr(cfg.cinn_lr, step, cfg.cinn_steps))?;
    Ok(CinnLosses {
        nll_per_dim: f64::from(nll_per_dim.to_scalar::<f32>()?),
        attribute,
    })
}

/// A batch of `batch` pictures drawn for `step` of `purpose` (see
/// [`super::data::draw_batch`]); returns pictures (B, 3, S, S) and their
/// domain and image indices.
fn draw_batch(
    data: &[DomainData],
    sampling: Sampling,
    size: usize,
    seed: u64,
    purpose: &[u8],
    step: usize,
    batch: usize,
) -> Result<(Tensor, Vec<u32>, Vec<usize>)> {
    let b = super::data::draw_batch(data, sampling, size, seed, purpose, step, batch)?;
    Ok((
        Tensor::from_vec(b.pixels, (batch, 3, size, size), &Device::Cpu)?,
        b.domains,
        b.images,
    ))
}

/// Images encoded at a time: bounds the decoded pixels held at once.
const ENCODE_CHUNK: usize = 64;

/// Encodes every training image once (no gradients) for the cINN stage:
/// its centre crop at the pixel scale, or the whole image resized.
fn encode_all(
    ae: &Autoencoder,
    data: &[DomainData],
    sampling: Sampling,
    size: usize,
) -> Result<Vec<Tensor>> {
    data.iter()
        .map(|d| {
            let mut parts = Vec::new();
            for start in (0..d.len()).step_by(ENCODE_CHUNK) {
                let end = (start + ENCODE_CHUNK).min(d.len());
                let flat = d.centre_pictures(start..end, sampling, size)?;
                let x = Tensor::from_vec(flat, (end - start, 3, size, size), &Device::Cpu)?;
                parts.push(ae.encoder.forward(&x)?.detach());
            }
            Ok(Tensor::cat(&parts, 0)?)
        })
        .collect()
}

/// The cINN's batch of `step` in crop sampling: a fresh random crop of each
/// picked file, encoded without gradients. One fixed (centre) crop per file
/// would show the flow only the middle of every picture, and a crop-trained
/// translator runs on every part of a frame.
fn encode_fresh_crops(
    ae: &Autoencoder,
    data: &[DomainData],
    cfg: &TrainConfig,
    step: usize,
) -> Result<(Tensor, Vec<u32>, Vec<usize>)> {
    let (x, domains, images) = draw_batch(
        data,
        cfg.sampling,
        cfg.size,
        cfg.seed,
        b"cinn-batch",
        step,
        cfg.batch,
    )?;
    let z = ae.encoder.forward(&x)?.detach();
    Ok((z, domains, images))
}

/// The cINN's batch of `step` in resize sampling: latents picked from the
/// ones encoded once.
fn draw_latents(
    latents: &[Tensor],
    seed: u64,
    step: usize,
    batch: usize,
) -> Result<(Tensor, Vec<u32>, Vec<usize>)> {
    let mut r = StreamRng::new(seed, b"cinn-batch", step as u64);
    let mut parts = Vec::with_capacity(batch);
    let mut doms = Vec::with_capacity(batch);
    let mut images = Vec::with_capacity(batch);
    for _ in 0..batch {
        let d = (r.next_u64() % latents.len() as u64) as usize;
        let n = latents[d].dim(0)?;
        let i = (r.next_u64() % n as u64) as usize;
        parts.push(latents[d].narrow(0, i, 1)?);
        doms.push(d as u32);
        images.push(i);
    }
    Ok((Tensor::cat(&parts, 0)?, doms, images))
}

/// Standard deviation of each latent channel over a batch, shaped (1, C, 1, 1), detached.
pub(super) fn channel_std(z: &Tensor) -> Result<Tensor> {
    let c = z.dim(1)?;
    let per_channel = z.detach().transpose(0, 1)?.flatten_from(1)?;
    let mean = per_channel.mean_keepdim(D::Minus1)?;
    Ok(per_channel
        .broadcast_sub(&mean)?
        .sqr()?
        .mean(D::Minus1)?
        .sqrt()?
        .reshape((1, c, 1, 1))?)
}

/// z + σ·std_c·ε with ε ~ N(0, 1) from the seeded stream of (`purpose`, `step`).
fn add_latent_noise(
    z: &Tensor,
    std: &Tensor,
    sigma: f64,
    seed: u64,
    purpose: &[u8],
    step: usize,
) -> Result<Tensor> {
    if sigma <= 0.0 {
        return Ok(z.clone());
    }
    let mut r = StreamRng::new(seed, purpose, step as u64);
    let eps: Vec<f32> = (0..z.elem_count()).map(|_| r.normal() as f32).collect();
    let eps = Tensor::from_vec(eps, z.dims(), z.device())?;
    Ok((eps.broadcast_mul(&(std * sigma)?)? + z)?)
}
