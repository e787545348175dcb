//! The training loop, checkpoints and bundle export.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::adam::Adam;
use super::alignment::{self, Alignment};
use super::data::{DomainData, Sampling};
use crate::error::{Error, Result};
use crate::model::bundle::{
    self, DomainStats, Manifest, FORMAT_VERSION, MANIFEST_FILE, WEIGHTS_FILE,
};
use crate::model::cinn::{Cinn, Permutations};
use crate::model::{Autoencoder, ModelConfig};
use crate::rng::StreamRng;

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
    /// [`texture_energy`]); 0 trains on L1 + edges alone.
    pub texture_weight: f64,
    /// Weight of the outline term in the autoencoder loss (see [`outline_map`]).
    pub outline_weight: f64,
    /// Weight of the shared attribute directions term in the cINN loss (see
    /// [`super::alignment`]); 0, or no labels, trains by maximum likelihood alone.
    pub attribute_weight: f64,
    /// Train only the decoder in the autoencoder stage.
    pub freeze_encoder: bool,
    /// Layout of the fitted prior's components.
    pub prior: crate::model::PriorOptions,
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

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    stage: Stage,
    /// Steps completed in `stage`.
    step: usize,
    adam_t: usize,
    seed: u64,
    arch: ModelConfig,
    tensors: String,
    /// How pictures were taken (see [`sampling_key`]); absent in older checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sampling: Option<String>,
}

/// The sampling settings a checkpoint must be resumed with.
fn sampling_key(cfg: &TrainConfig) -> String {
    match cfg.sampling {
        Sampling::Crop {
            pixel_scale,
            scale_jitter,
        } => format!(
            "crop size {} pixel-scale {pixel_scale} scale-jitter {scale_jitter}",
            cfg.size
        ),
        Sampling::Resize => format!("resize size {}", cfg.size),
    }
}

const CHECKPOINT_DIR: &str = ".checkpoint";

fn cosine_lr(base: f64, step: usize, total: usize) -> f64 {
    let t = step as f64 / total.max(1) as f64;
    base * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

fn err(e: candle_core::Error) -> Error {
    Error::Model(format!("training: {e}"))
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
        Tensor::from_vec(b.pixels, (batch, 3, size, size), &Device::Cpu).map_err(err)?,
        b.domains,
        b.images,
    ))
}

/// Local texture energy: the mean |Laplacian| of luma over 8×8 cells whose
/// grid starts at `phase` = (x, y) pixels, each in 0..8.
///
/// L1 and edge losses reward the mean of every texture the latent cannot pin
/// down to the pixel, which is a flat colour: an oil painting's canvas weave and
/// brush strokes came back as a smooth photo background. Matching the energy per
/// cell instead of the pixels lets the decoder paint texture of the right
/// strength without having to guess its phase. The cell grid moves every step:
/// cells fixed on the decoder's own 8-px upsampling grid taught it to paint
/// that grid into every picture.
fn texture_energy(x: &Tensor, phase: (usize, usize)) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let luma = ((x.narrow(1, 0, 1)? * 0.2126)? + (x.narrow(1, 1, 1)? * 0.7152)?)?;
    let luma = (luma + (x.narrow(1, 2, 1)? * 0.0722)?)?;
    let centre = luma.narrow(2, 1, h - 2)?.narrow(3, 1, w - 2)?;
    let lap = ((centre * 4.0)?
        - luma.narrow(2, 0, h - 2)?.narrow(3, 1, w - 2)?
        - luma.narrow(2, 2, h - 2)?.narrow(3, 1, w - 2)?
        - luma.narrow(2, 1, h - 2)?.narrow(3, 0, w - 2)?
        - luma.narrow(2, 1, h - 2)?.narrow(3, 2, w - 2)?)?;
    let lap = lap.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
    let lap = match phase {
        (0, 0) => lap,
        (px, py) => lap.narrow(2, py, h - 8)?.narrow(3, px, w - 8)?,
    };
    lap.abs()?.avg_pool2d(8)
}

/// Where a picture's outlines are: the colour gradient (|∂x| + |∂y| by forward
/// differences, summed over channels) of the picture at half resolution (fine
/// texture averages out, object edges stay), widened by a pixel on each side
/// and scaled to 1 at each picture's strongest edge. Corners, where both
/// differences step, weigh up to twice a straight side.
/// Shape (B, 1, H, W); H and W even.
///
/// L1 spends the decoder's capacity in proportion to area, and the corners of a
/// triangle or square are a few pixels: the autoencoder rounded them off (one
/// photo triangle or square in four came back reading as round). Weighting the
/// error by this map makes a blurred outline cost what it costs the viewer.
fn outline_map(x: &Tensor) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let half = x.avg_pool2d(2)?;
    let (hh, hw) = (h / 2, w / 2);
    let gx = (half.narrow(3, 1, hw - 1)? - half.narrow(3, 0, hw - 1)?)?
        .abs()?
        .pad_with_zeros(3, 0, 1)?;
    let gy = (half.narrow(2, 1, hh - 1)? - half.narrow(2, 0, hh - 1)?)?
        .abs()?
        .pad_with_zeros(2, 0, 1)?;
    let edges = (gx + gy)?.sum_keepdim(1)?.upsample_nearest2d(h, w)?;
    let wide = edges
        .pad_with_same(2, 1, 1)?
        .pad_with_same(3, 1, 1)?
        .max_pool2d_with_stride(3, 1)?;
    let peak = wide.max_keepdim(2)?.max_keepdim(3)?;
    wide.broadcast_div(&(peak + 1e-6)?)
}

/// Mean absolute error on the outlines of `x` (see [`outline_map`]).
fn outline_error(xh: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
    let weight = outline_map(x)?;
    let err = (xh - x)?.abs()?.sum_keepdim(1)?;
    // At least one pixel's weight below: a batch without a single edge costs 0, not 0 / 0.
    (err * &weight)?.sum_all()? / (weight.sum_all()? * 3.0)?.maximum(1.0)?
}

fn ae_loss(
    xh: &Tensor,
    x: &Tensor,
    texture_weight: f64,
    outline_weight: f64,
    phase: (usize, usize),
) -> candle_core::Result<Tensor> {
    let l1 = (xh - x)?.abs()?.mean_all()?;
    let (_, _, h, w) = x.dims4()?;
    let gx = |t: &Tensor| -> candle_core::Result<Tensor> {
        t.narrow(3, 1, w - 1)? - t.narrow(3, 0, w - 1)?
    };
    let gy = |t: &Tensor| -> candle_core::Result<Tensor> {
        t.narrow(2, 1, h - 1)? - t.narrow(2, 0, h - 1)?
    };
    let edge = ((gx(xh)? - gx(x)?)?.abs()?.mean_all()? + (gy(xh)? - gy(x)?)?.abs()?.mean_all()?)?;
    let mut loss = (l1 + edge)?;
    if outline_weight > 0.0 {
        loss = (loss + (outline_error(xh, x)? * outline_weight)?)?;
    }
    if texture_weight > 0.0 {
        let texture = (texture_energy(xh, phase)? - texture_energy(x, phase)?)?
            .abs()?
            .mean_all()?;
        loss + (texture * texture_weight)?
    } else {
        Ok(loss)
    }
}

fn named_vars(varmap: &VarMap, prefix: &str) -> Result<Vec<(String, candle_core::Var)>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("variable map lock poisoned".into()))?;
    let mut v: Vec<(String, candle_core::Var)> = data
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), None)
        .map_err(|e| Error::Model(format!("cannot serialise tensors: {e}")))?;
    crate::io::write_bytes_atomic(path, &bytes)
}

fn write_checkpoint(
    cfg: &TrainConfig,
    varmap: &VarMap,
    adam: &Adam,
    stage: Stage,
    step: usize,
) -> Result<()> {
    let dir = cfg.out.join(CHECKPOINT_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (k, v) in named_vars(varmap, "")? {
        tensors.insert(k, v.as_tensor().clone());
    }
    for (i, name) in adam.names.iter().enumerate() {
        tensors.insert(format!("adam.m.{name}"), adam.m[i].clone());
        tensors.insert(format!("adam.v.{name}"), adam.v[i].clone());
    }
    let file = format!("state-{stage:?}-{step}.safetensors").to_lowercase();
    save_tensors(&dir.join(&file), &tensors)?;
    let state = CheckpointState {
        stage,
        step,
        adam_t: adam.t,
        seed: cfg.seed,
        arch: cfg.arch.clone(),
        tensors: file.clone(),
        sampling: Some(sampling_key(cfg)),
    };
    let json = serde_json::to_vec_pretty(&state).map_err(|e| Error::Internal(e.to_string()))?;
    crate::io::write_bytes_atomic(&dir.join("state.json"), &json)?;
    // Only now is the older state unreferenced.
    for e in std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("state-") && n != file {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

fn read_checkpoint(
    cfg: &TrainConfig,
) -> Result<Option<(CheckpointState, HashMap<String, Tensor>)>> {
    let dir = cfg.out.join(CHECKPOINT_DIR);
    let json = dir.join("state.json");
    if !json.exists() {
        return Ok(None);
    }
    let text = std::fs::read(&json).map_err(|e| Error::io(&json, e))?;
    let state: CheckpointState = serde_json::from_slice(&text).map_err(|e| {
        Error::Model(format!(
            "{}: unreadable checkpoint ({e}); delete it to start over",
            json.display()
        ))
    })?;
    if state.seed != cfg.seed || state.arch != cfg.arch {
        return Err(Error::InvalidArgument(format!(
            "{}: the checkpoint was made with another seed or architecture; use the same settings or delete it",
            dir.display()
        )));
    }
    if let Some(theirs) = state.sampling.as_deref() {
        if theirs != sampling_key(cfg) {
            return Err(Error::InvalidArgument(format!(
                "{}: the checkpoint was made with {theirs}, not {}; use the same settings or delete it",
                dir.display(),
                sampling_key(cfg)
            )));
        }
    }
    let tensors = candle_core::safetensors::load(dir.join(&state.tensors), &Device::Cpu)
        .map_err(|e| Error::Model(format!("checkpoint {}: {e}", state.tensors)))?;
    Ok(Some((state, tensors)))
}

fn restore(
    varmap: &VarMap,
    adam: &mut Adam,
    state: &CheckpointState,
    tensors: &HashMap<String, Tensor>,
) -> Result<()> {
    for (k, v) in named_vars(varmap, "")? {
        let t = tensors
            .get(&k)
            .ok_or_else(|| Error::Model(format!("checkpoint lacks {k}")))?;
        v.set(t).map_err(err)?;
    }
    for (i, name) in adam.names.iter().enumerate() {
        if let (Some(m), Some(v)) = (
            tensors.get(&format!("adam.m.{name}")),
            tensors.get(&format!("adam.v.{name}")),
        ) {
            adam.m[i] = m.clone();
            adam.v[i] = v.clone();
        }
    }
    adam.t = state.adam_t;
    Ok(())
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
                let x = Tensor::from_vec(flat, (end - start, 3, size, size), &Device::Cpu)
                    .map_err(err)?;
                parts.push(ae.encoder.forward(&x).map_err(err)?.detach());
            }
            Tensor::cat(&parts, 0).map_err(err)
        })
        .collect()
}

/// Trains and writes the bundle. `progress(stage, step, total, loss)` is
/// called after every step.
pub fn train(cfg: &TrainConfig, progress: &dyn Fn(Stage, usize, usize, f64)) -> Result<Manifest> {
    cfg.arch.validate()?;
    if cfg.size == 0 || !cfg.size.is_multiple_of(cfg.arch.align()) {
        return Err(Error::InvalidArgument(format!(
            "--size {} must be a positive multiple of {}",
            cfg.size,
            cfg.arch.align()
        )));
    }
    if !(0.0..=1.0).contains(&cfg.latent_noise) {
        return Err(Error::InvalidArgument(format!(
            "--latent-noise {} must be between 0 and 1 (a fraction of each latent channel's spread)",
            cfg.latent_noise
        )));
    }
    for (flag, weight) in [
        ("--texture-weight", cfg.texture_weight),
        ("--outline-weight", cfg.outline_weight),
        ("--attribute-weight", cfg.attribute_weight),
    ] {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "{flag} {weight} must be a finite number ≥ 0"
            )));
        }
    }
    if cfg.freeze_encoder && cfg.init_autoencoder.is_none() {
        return Err(Error::InvalidArgument(
            "--freeze-encoder keeps the encoder of --init-autoencoder BUNDLE; name that bundle"
                .into(),
        ));
    }
    cfg.sampling.validate()?;
    if cfg.domains.len() != cfg.arch.domains || cfg.batch == 0 {
        return Err(Error::InvalidArgument(
            "need at least one domain and a batch of at least 1".into(),
        ));
    }
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

    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let ae = Autoencoder::new(&cfg.arch, vb.pp("ae")).map_err(err)?;
    let cinn = Cinn::new(
        &cfg.arch,
        vb.pp("cinn"),
        Permutations::Seeded(cfg.seed),
        &dev,
    )
    .map_err(err)?;
    crate::model::init::reseed(&varmap, cfg.seed).map_err(err)?;
    let latent_dim = cfg.arch.latent_channels * (cfg.size / 8) * (cfg.size / 8);
    let alignment = if cfg.attribute_weight > 0.0 && cfg.cinn_steps > 0 {
        Alignment::new(&varmap, &data, latent_dim, cfg.seed)?
    } else {
        None
    };
    if let Some(dir) = &cfg.init_autoencoder {
        load_weights(&varmap, dir, &cfg.arch, "ae.")?;
    }
    if let Some(dir) = &cfg.init_cinn {
        load_weights(&varmap, dir, &cfg.arch, "cinn.")?;
        // The couplings only fit the permutations they were trained with.
        let path = dir.join(crate::model::bundle::WEIGHTS_FILE);
        let stored = candle_core::safetensors::load(&path, &Device::Cpu)
            .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        for (name, t) in cinn.permutation_tensors().map_err(err)? {
            let same = stored
                .get(&name)
                .map(|s| s.to_vec1::<f32>().ok() == t.to_vec1::<f32>().ok())
                .unwrap_or(false);
            if !same {
                return Err(Error::InvalidArgument(format!(
                    "--init-cinn {}: its {name} differs from this seed's; use the --seed it was trained with",
                    dir.display()
                )));
            }
        }
    }

    let checkpoint = if cfg.resume {
        read_checkpoint(cfg)?
    } else {
        None
    };
    let (mut stage, mut start) = (Stage::Autoencoder, 0);
    if let Some((state, _)) = &checkpoint {
        (stage, start) = (state.stage, state.step);
        tracing::info!(?stage, step = start, "resuming from checkpoint");
    }

    // Stage 1: the autoencoder.
    let mut ae_final = f64::NAN;
    if stage == Stage::Autoencoder {
        // A frozen encoder keeps the latents, and so a cINN trained on them, valid.
        let trained = if cfg.freeze_encoder {
            "ae.decoder."
        } else {
            "ae."
        };
        let mut adam = Adam::new(named_vars(&varmap, trained)?).map_err(err)?;
        if let Some((state, tensors)) = &checkpoint {
            restore(&varmap, &mut adam, state, tensors)?;
        }
        for step in start..cfg.ae_steps {
            let (x, _, _) = draw_batch(
                &data,
                cfg.sampling,
                cfg.size,
                cfg.seed,
                b"ae-batch",
                step,
                cfg.batch,
            )?;
            let z = ae.encoder.forward(&x).map_err(err)?;
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
            let xh = ae.decoder.forward(&z).map_err(err)?;
            let mut r = StreamRng::new(cfg.seed, b"texture-phase", step as u64);
            let phase = ((r.next_u64() % 8) as usize, (r.next_u64() % 8) as usize);
            let loss =
                ae_loss(&xh, &x, cfg.texture_weight, cfg.outline_weight, phase).map_err(err)?;
            let grads = loss.backward().map_err(err)?;
            adam.step(&grads, cosine_lr(cfg.ae_lr, step, cfg.ae_steps))
                .map_err(err)?;
            ae_final = f64::from(loss.to_scalar::<f32>().map_err(err)?);
            if !ae_final.is_finite() {
                return Err(Error::Model(format!(
                    "autoencoder loss became {ae_final} at step {step}: lower --ae-lr"
                )));
            }
            progress(Stage::Autoencoder, step + 1, cfg.ae_steps, ae_final);
            if (step + 1) % cfg.checkpoint_every == 0 && step + 1 < cfg.ae_steps {
                write_checkpoint(cfg, &varmap, &adam, Stage::Autoencoder, step + 1)?;
            }
        }
        stage = Stage::Cinn;
        start = 0;
    }

    // Stage 2: the cINN on frozen latents.
    let latents = encode_all(&ae, &data, cfg.sampling, cfg.size)?;
    let mut cinn_vars = named_vars(&varmap, "cinn.")?;
    cinn_vars.extend(named_vars(&varmap, alignment::PREFIX)?);
    let mut adam = Adam::new(cinn_vars).map_err(err)?;
    match &checkpoint {
        Some((state, tensors)) if state.stage == Stage::Cinn => {
            restore(&varmap, &mut adam, state, tensors)?
        }
        _ if cfg.init_cinn.is_none() => init_actnorm(&varmap, &latents, &cfg.arch)?,
        _ => {}
    }
    let dim = latent_dim as f64;
    let latent_std = channel_std(&Tensor::cat(&latents, 0).map_err(err)?)?;
    let (mut cinn_final, mut attribute_final) = (f64::NAN, f64::NAN);
    for step in start..cfg.cinn_steps {
        let (z, doms, images) = match cfg.sampling {
            Sampling::Resize => draw_latents(&latents, cfg.seed, step, cfg.batch)?,
            Sampling::Crop { .. } => encode_fresh_crops(&ae, &data, cfg, step)?,
        };
        let z = add_latent_noise(
            &z,
            &latent_std,
            cfg.latent_noise,
            cfg.seed,
            b"cinn-noise",
            step,
        )?;
        let d = Tensor::from_vec(doms.clone(), cfg.batch, &dev).map_err(err)?;
        let (v, logdet) = cinn.forward(&z, &d).map_err(err)?;
        let nll = ((v
            .sqr()
            .map_err(err)?
            .flatten_from(1)
            .map_err(err)?
            .sum(D::Minus1)
            .map_err(err)?
            * 0.5)
            .map_err(err)?
            - logdet)
            .map_err(err)?
            .mean_all()
            .map_err(err)?;
        let nll_per_dim = (nll / dim).map_err(err)?;
        let loss = match &alignment {
            Some(a) => {
                let term = a.loss(&v, &doms, &images)?;
                attribute_final = f64::from(term.to_scalar::<f32>().map_err(err)?);
                (&nll_per_dim + (term * cfg.attribute_weight).map_err(err)?).map_err(err)?
            }
            None => nll_per_dim.clone(),
        };
        let grads = loss.backward().map_err(err)?;
        adam.step(&grads, cosine_lr(cfg.cinn_lr, step, cfg.cinn_steps))
            .map_err(err)?;
        cinn_final = f64::from(nll_per_dim.to_scalar::<f32>().map_err(err)?);
        if !cinn_final.is_finite() {
            return Err(Error::Model(format!(
                "cINN loss became {cinn_final} at step {step}: lower --cinn-lr"
            )));
        }
        progress(Stage::Cinn, step + 1, cfg.cinn_steps, cinn_final);
        if (step + 1) % cfg.checkpoint_every == 0 && step + 1 < cfg.cinn_steps {
            write_checkpoint(cfg, &varmap, &adam, Stage::Cinn, step + 1)?;
        }
    }
    let _ = stage;

    // The noise the cINN was trained with: a cINN taken over untrained keeps its own.
    let inherited = match (&cfg.init_cinn, cfg.cinn_steps) {
        (Some(dir), 0) => Some(crate::model::Bundle::read_manifest(dir)?.latent_noise),
        _ => None,
    };
    let noise_std: Vec<f64> = if let Some(n) = inherited {
        n
    } else if cfg.latent_noise > 0.0 {
        let std = latent_std
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(err)?;
        std.iter()
            .map(|&s| f64::from(s) * cfg.latent_noise)
            .collect()
    } else {
        Vec::new()
    };
    let losses = FinalLosses {
        autoencoder: ae_final,
        cinn_nll_per_dim: cinn_final,
        attribute: attribute_final,
    };
    let mut manifest = export(cfg, &varmap, &cinn, &data, losses, noise_std)?;
    let _ = std::fs::remove_dir_all(cfg.out.join(CHECKPOINT_DIR));
    let bundle = crate::model::Bundle::load(&cfg.out, &Device::Cpu)?;
    let (prior, heads) = super::heads::fit_heads(&bundle, &data, cfg.seed, &cfg.prior)?;
    manifest.write_prior(&cfg.out, &prior)?;
    manifest.heads = heads;
    manifest.write(&cfg.out)?;
    Ok(manifest)
}

/// Standard deviation of each latent channel over a batch, shaped (1, C, 1, 1), detached.
fn channel_std(z: &Tensor) -> Result<Tensor> {
    let c = z.dim(1).map_err(err)?;
    let per_channel = z
        .detach()
        .transpose(0, 1)
        .map_err(err)?
        .flatten_from(1)
        .map_err(err)?;
    let mean = per_channel.mean_keepdim(D::Minus1).map_err(err)?;
    per_channel
        .broadcast_sub(&mean)
        .and_then(|t| t.sqr())
        .and_then(|t| t.mean(D::Minus1))
        .and_then(|t| t.sqrt())
        .and_then(|t| t.reshape((1, c, 1, 1)))
        .map_err(err)
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
    let eps = Tensor::from_vec(eps, z.dims(), z.device()).map_err(err)?;
    (eps.broadcast_mul(&(std * sigma).map_err(err)?)
        .map_err(err)?
        + z)
        .map_err(err)
}

/// Copies the tensors under `prefix` (`ae.` or `cinn.`) of the bundle at
/// `dir` into `varmap`; the bundle must have this run's architecture (for
/// `ae.`, only the autoencoder's part of it, so a new cINN can be trained on
/// an existing autoencoder).
fn load_weights(varmap: &VarMap, dir: &Path, arch: &ModelConfig, prefix: &str) -> Result<()> {
    let manifest = crate::model::Bundle::read_manifest(dir)?;
    let theirs = &manifest.architecture;
    let compatible = if prefix == "ae." {
        (theirs.latent_channels, theirs.ae_channels) == (arch.latent_channels, arch.ae_channels)
    } else {
        theirs == arch
    };
    if !compatible {
        return Err(Error::InvalidArgument(format!(
            "{}: its architecture {:?} differs from this run's {arch:?}",
            dir.display(),
            manifest.architecture
        )));
    }
    let path = dir.join(crate::model::bundle::WEIGHTS_FILE);
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("variable map lock poisoned".into()))?;
    for (name, var) in data.iter().filter(|(k, _)| k.starts_with(prefix)) {
        let t = tensors
            .get(name)
            .ok_or_else(|| Error::Model(format!("{}: no tensor '{name}'", path.display())))?;
        var.set(t).map_err(err)?;
    }
    tracing::info!(bundle = %dir.display(), prefix, "weights initialised from bundle");
    Ok(())
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
    let z = ae.encoder.forward(&x).map_err(err)?.detach();
    Ok((z, domains, images))
}

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
        let n = latents[d].dim(0).map_err(err)?;
        let i = (r.next_u64() % n as u64) as usize;
        parts.push(latents[d].narrow(0, i, 1).map_err(err)?);
        doms.push(d as u32);
        images.push(i);
    }
    Ok((Tensor::cat(&parts, 0).map_err(err)?, doms, images))
}

/// Data-dependent start for the first ActNorm: standardise each latent channel.
fn init_actnorm(varmap: &VarMap, latents: &[Tensor], arch: &ModelConfig) -> Result<()> {
    let all = Tensor::cat(latents, 0).map_err(err)?;
    // The first ActNorm sees the latent as the flow does.
    let all = if arch.cinn_squeeze {
        crate::model::cinn::squeeze(&all).map_err(err)?
    } else {
        all
    };
    let c = all.dim(1).map_err(err)?;
    let per_channel = all
        .transpose(0, 1)
        .map_err(err)?
        .flatten_from(1)
        .map_err(err)?;
    let mean = per_channel.mean(D::Minus1).map_err(err)?;
    let std = per_channel
        .broadcast_sub(&mean.unsqueeze(1).map_err(err)?)
        .map_err(err)?
        .sqr()
        .map_err(err)?
        .mean(D::Minus1)
        .map_err(err)?
        .sqrt()
        .map_err(err)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("variable map lock poisoned".into()))?;
    if let (Some(shift), Some(scale)) = (
        data.get("cinn.blocks.0.actnorm.shift"),
        data.get("cinn.blocks.0.actnorm.log_scale"),
    ) {
        shift
            .set(
                &mean
                    .neg()
                    .map_err(err)?
                    .reshape((1, c, 1, 1))
                    .map_err(err)?,
            )
            .map_err(err)?;
        scale
            .set(
                &((std + 1e-6)
                    .map_err(err)?
                    .log()
                    .map_err(err)?
                    .neg()
                    .map_err(err)?)
                .reshape((1, c, 1, 1))
                .map_err(err)?,
            )
            .map_err(err)?;
    }
    Ok(())
}

/// Each stage's loss at its last step (NaN: the stage ran no step here).
struct FinalLosses {
    autoencoder: f64,
    cinn_nll_per_dim: f64,
    attribute: f64,
}

/// Unreadable files named in the provenance, per domain.
const SKIPPED_NAMED: usize = 5;

fn export(
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
        if !k.starts_with(alignment::PREFIX) {
            tensors.insert(k, v.as_tensor().clone());
        }
    }
    for (k, t) in cinn.permutation_tensors().map_err(err)? {
        tensors.insert(k, t);
    }
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), None)
        .map_err(|e| Error::Model(format!("cannot serialise the weights: {e}")))?;
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
        format_version: FORMAT_VERSION,
        domains: cfg.domains.iter().map(|d| d.0.clone()).collect(),
        colour_space: "srgb".into(),
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
    };
    crate::io::write_bytes_atomic(&cfg.out.join(WEIGHTS_FILE), &bytes)?;
    let text = toml::to_string_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    crate::io::write_bytes_atomic(&cfg.out.join(MANIFEST_FILE), text.as_bytes())?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey 1 × 3 × n × n image: pixel (x, y) is `f(x, y)` in every channel.
    fn grey(n: usize, f: impl Fn(usize, usize) -> f32) -> Tensor {
        let plane: Vec<f32> = (0..n * n).map(|p| f(p % n, p / n)).collect();
        let data = [plane.clone(), plane.clone(), plane].concat();
        Tensor::from_vec(data, (1, 3, n, n), &Device::Cpu).unwrap()
    }

    fn cells(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// Oracle: a square of 0.9 on 0.1 (pixels 10..22 of 32) steps by 0.8 in
    /// each channel between half-resolution pixels 4 and 5 (and 10 and 11):
    /// 2.4 summed over channels along each side, twice that at half-resolution
    /// pixel (10, 10) where both forward differences step (the peak, 1 after
    /// scaling; sides 0.5); the band reaches a pixel beyond each step; the
    /// square's middle and the background far from it are 0. A one-pixel
    /// checkerboard averages to a flat 0.5 at half resolution: fine texture is
    /// not an outline.
    #[test]
    fn outline_map_marks_edges_not_fine_texture() {
        let inside = |v: usize| (10..22).contains(&v);
        let square = grey(32, |x, y| if inside(x) && inside(y) { 0.9 } else { 0.1 });
        let map = cells(&outline_map(&square).unwrap());
        let at = |x: usize, y: usize| map[y * 32 + x];
        for (x, y) in [(7, 16), (9, 16), (10, 16), (16, 22), (22, 16)] {
            assert!((at(x, y) - 0.5).abs() < 1e-5, "({x}, {y}): {}", at(x, y));
        }
        for (x, y) in [(20, 20), (21, 21), (19, 22)] {
            assert!((at(x, y) - 1.0).abs() < 1e-5, "({x}, {y}): {}", at(x, y));
        }
        for (x, y) in [(16, 16), (2, 2), (30, 16), (5, 16)] {
            assert_eq!(at(x, y), 0.0, "({x}, {y})");
        }
        assert!(map.iter().all(|&v| (0.0..=1.0 + 1e-6).contains(&v)));
        let board = grey(32, |x, y| ((x + y) % 2) as f32);
        assert!(cells(&outline_map(&board).unwrap())
            .iter()
            .all(|&v| v == 0.0));

        // The error counts only what lies on the outline.
        let nudge = |px: usize, py: usize| {
            grey(32, |x, y| {
                let v = if inside(x) && inside(y) { 0.9 } else { 0.1 };
                v + if (x, y) == (px, py) { 0.3 } else { 0.0 }
            })
        };
        let off = outline_error(&nudge(16, 16), &square).unwrap();
        let on = outline_error(&nudge(9, 16), &square).unwrap();
        assert_eq!(off.to_scalar::<f32>().unwrap(), 0.0);
        assert!(on.to_scalar::<f32>().unwrap() > 1e-4);
        let flat = grey(32, |_, _| 0.4);
        let blank = outline_error(&nudge(9, 16), &flat).unwrap();
        assert_eq!(
            blank.to_scalar::<f32>().unwrap(),
            0.0,
            "no outline, no cost"
        );
    }

    /// Oracle: luma weights sum to 1, so a grey checkerboard of 0/1 has luma
    /// 0/1 and |4c − neighbours| = 4 at every pixel whose four neighbours exist;
    /// the one-pixel frame has no Laplacian (zero padded). The top-left 8×8
    /// cell therefore holds 7 × 7 pixels of 4: 196 / 64 = 3.0625. A flat image has 0.
    #[test]
    fn texture_energy_measures_the_mean_laplacian_per_cell() {
        let board = grey(16, |x, y| ((x + y) % 2) as f32);
        let e = cells(&texture_energy(&board, (0, 0)).unwrap());
        assert_eq!(e.len(), 4);
        assert!((e[0] - 196.0 / 64.0).abs() < 1e-5, "{e:?}");
        let flat = cells(&texture_energy(&grey(16, |_, _| 0.4), (0, 0)).unwrap());
        assert!(flat.iter().all(|v| v.abs() < 1e-6), "{flat:?}");
    }

    /// Oracle: one bright pixel at (8, 8) of a black 24 × 24 image has a
    /// Laplacian of 4 at the pixel and 1 at each of its four neighbours (8 in
    /// all), which straddle three phase-0 cells; with the grid moved
    /// by (4, 4) all five pixels fall into the first cell (8 / 64), and no energy
    /// is lost or made up by the move.
    #[test]
    fn the_cell_grid_moves_with_the_phase() {
        let dot = grey(24, |x, y| f32::from(u8::from((x, y) == (8, 8))));
        let fixed = cells(&texture_energy(&dot, (0, 0)).unwrap());
        let moved = cells(&texture_energy(&dot, (4, 4)).unwrap());
        assert_eq!((fixed.len(), moved.len()), (9, 4));
        assert_eq!(fixed.iter().filter(|&&e| e > 0.0).count(), 3, "{fixed:?}");
        assert!((moved[0] - 8.0 / 64.0).abs() < 1e-6, "{moved:?}");
        for total in [fixed.iter().sum::<f32>(), moved.iter().sum::<f32>()] {
            assert!((total * 64.0 - 8.0).abs() < 1e-5, "{total}");
        }
    }

    /// The reason for the term: two textures of the same strength but opposite
    /// phase are far apart in L1 (1.0 per pixel) yet equal in texture energy,
    /// so the decoder is not pushed to blur texture it cannot place exactly;
    /// a flat guess is far from a texture in energy, and the term's gradient
    /// reaches the prediction.
    #[test]
    fn the_texture_term_ignores_phase_and_penalises_flatness() {
        let a = grey(16, |x, y| ((x + y) % 2) as f32);
        let b = grey(16, |x, y| ((x + y + 1) % 2) as f32);
        let l1 = (&a - &b).unwrap().abs().unwrap().mean_all().unwrap();
        assert!((l1.to_scalar::<f32>().unwrap() - 1.0).abs() < 1e-6);
        let phase = (texture_energy(&a, (0, 0)).unwrap() - texture_energy(&b, (0, 0)).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(phase < 1e-5, "opposite phases differ by {phase}");

        let guess = candle_core::Var::from_tensor(&grey(16, |_, _| 0.5)).unwrap();
        let with = ae_loss(guess.as_tensor(), &a, 2.0, 0.0, (3, 5)).unwrap();
        let without = ae_loss(guess.as_tensor(), &a, 0.0, 0.0, (3, 5)).unwrap();
        let gap = with.to_scalar::<f32>().unwrap() - without.to_scalar::<f32>().unwrap();
        assert!(gap > 1.0, "a flat guess of a texture costs {gap}");
        let grads = with.backward().unwrap();
        let g = grads.get(&guess).expect("gradient reaches the prediction");
        assert!(
            g.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
    }
}
