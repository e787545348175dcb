//! Fitting the pixel reader ([`crate::model::reader`]) on labelled images:
//! every labelled attribute of every domain is one output, trained with a
//! binary cross-entropy over the images that carry its label. The heads'
//! held-out split is held out here too, and measures each output's accuracy.
//!
//! Pictures are taken as the networks see them (centre crop at the bundle's
//! pixel scale, model size) and held in memory. An epoch visits the
//! training images in an order drawn from (seed, epoch), so a run resumed
//! from its checkpoint (weights and Adam moments, written after each epoch)
//! continues bit-identically.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::adam::Adam;
use super::checkpoint::{
    named_vars, optimiser_state, read_state, restore_state, save_tensors, tensor_bytes, weights,
};
use super::data::{DomainData, Sampling};
use super::heads::is_held_out;
use crate::error::{Error, Result};
use crate::model::reader::{PixelReader, ReaderInfo, ReaderOutput, READER_FILE};
use crate::model::{bundle::sha256_hex, Manifest};
use crate::rng::StreamRng;

/// How the reader is fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderOptions {
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Seeds the initial weights, the epochs' order and (as for the heads)
    /// the held-out split.
    pub seed: u64,
    /// Where the checkpoint lives; `None`: no checkpoint.
    pub checkpoint: Option<PathBuf>,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            epochs: 12,
            batch: 64,
            learning_rate: 2e-3,
            seed: 0,
            checkpoint: None,
        }
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
struct ReaderCheckpoint {
    epochs_done: usize,
    adam_t: usize,
    seed: u64,
    outputs: Vec<(String, String)>,
}

const STATE_FILE: &str = "reader-state.json";
const TENSORS_FILE: &str = "reader-state.safetensors";

/// The training pictures and their labels: per image, one target and one
/// mask value per output (mask 0 where the image has no such label).
struct Examples {
    pixels: Vec<f32>,
    targets: Vec<f32>,
    masks: Vec<f32>,
    held_out: Vec<bool>,
}

fn examples(
    manifest: &Manifest,
    data: &[DomainData],
    outputs: &[ReaderOutput],
    seed: u64,
) -> Result<Examples> {
    let s = manifest.image_size;
    let sampling = Sampling::of_bundle(manifest.pixel_scale);
    // Domains without labels teach the reader nothing.
    let data: Vec<&DomainData> = data.iter().filter(|d| !d.labels.is_empty()).collect();
    let total: usize = data.iter().map(|d| d.len()).sum();
    crate::memory::ensure_available((total * 3 * s * s * 4) as u64, &|| {
        format!("holding {total} training pictures of {s}×{s} for the reader")
    })?;
    let k = outputs.len();
    let mut ex = Examples {
        pixels: Vec::with_capacity(total * 3 * s * s),
        targets: Vec::with_capacity(total * k),
        masks: Vec::with_capacity(total * k),
        held_out: Vec::with_capacity(total),
    };
    for d in data {
        ex.pixels
            .extend(d.centre_pictures(0..d.len(), sampling, s)?);
        for i in 0..d.len() {
            for o in outputs {
                let label = (o.domain == d.name)
                    .then(|| d.labels.get(&o.attribute).and_then(|l| l[i]))
                    .flatten();
                ex.targets.push(f32::from(label == Some(true)));
                ex.masks.push(f32::from(label.is_some()));
            }
            ex.held_out.push(is_held_out(seed, i));
        }
    }
    Ok(ex)
}

/// Mean binary cross-entropy of `logits` against `targets` where `mask` is 1,
/// computed stably: max(z, 0) − z·y + log(1 + e^−|z|).
fn masked_bce(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let per = ((logits.relu()? - (logits * targets)?)?
        + logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?;
    (per * mask)?.sum_all()? / mask.sum_all()?.to_scalar::<f32>()?.max(1.0) as f64
}

/// Fits a reader for every labelled attribute of `data` (the pictures seen
/// as `manifest`'s networks see them; domains without labels are left out),
/// writes `dir/reader.safetensors` and
/// returns its manifest record. With a checkpoint in `options`, a run
/// stopped part-way continues from its last finished epoch.
pub fn fit_reader(
    manifest: &Manifest,
    data: &[DomainData],
    options: &ReaderOptions,
    dir: &Path,
) -> Result<ReaderInfo> {
    let mut outputs = Vec::new();
    for d in data {
        manifest.domain_index(&d.name)?;
        for a in d.labels.keys() {
            outputs.push(ReaderOutput {
                domain: d.name.clone(),
                attribute: a.clone(),
                held_out_accuracy: 0.0,
            });
        }
    }
    if outputs.is_empty() {
        return Err(Error::InvalidArgument(
            "no labels to fit a reader on: give folders with a labels.csv".into(),
        ));
    }
    if options.epochs == 0 || options.batch == 0 {
        return Err(Error::InvalidArgument(
            "the reader needs at least one epoch and a batch of at least one".into(),
        ));
    }
    let ex = examples(manifest, data, &outputs, options.seed)?;
    let (s, k) = (manifest.image_size, outputs.len());
    let n = ex.held_out.len();
    let dev = Device::Cpu;
    let pixels = Tensor::from_vec(ex.pixels, (n, 3, s, s), &dev)?;
    let targets = Tensor::from_vec(ex.targets, (n, k), &dev)?;
    let masks = Tensor::from_vec(ex.masks, (n, k), &dev)?;
    let train: Vec<u32> = (0..n as u32)
        .filter(|&i| !ex.held_out[i as usize])
        .collect();
    let test: Vec<u32> = (0..n as u32).filter(|&i| ex.held_out[i as usize]).collect();

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let reader = PixelReader::new(outputs.clone(), vb)?;
    crate::model::init::reseed(&varmap, options.seed)?;
    let mut adam = Adam::new(named_vars(&varmap, "")?)?;
    let identity = ReaderCheckpoint {
        epochs_done: 0,
        adam_t: 0,
        seed: options.seed,
        outputs: outputs
            .iter()
            .map(|o| (o.domain.clone(), o.attribute.clone()))
            .collect(),
    };
    let mut first_epoch = 0;
    if let Some(ck) = &options.checkpoint {
        if let Some(state) = read_checkpoint(ck, &identity, &varmap, &mut adam)? {
            first_epoch = state.epochs_done;
            tracing::info!(
                epochs_done = first_epoch,
                "reader resumed from its checkpoint"
            );
        }
    }
    for epoch in first_epoch..options.epochs {
        let order = shuffled(&train, options.seed, epoch);
        let mut total = 0.0;
        let batches = order.chunks(options.batch);
        let count = batches.len();
        for batch in batches {
            let idx = Tensor::from_slice(batch, batch.len(), &dev)?;
            let x = pixels.index_select(&idx, 0)?;
            let loss = masked_bce(
                &reader.logits(&x)?,
                &targets.index_select(&idx, 0)?,
                &masks.index_select(&idx, 0)?,
            )?;
            total += loss.to_scalar::<f32>()? as f64;
            adam.step(&loss.backward()?, options.learning_rate)?;
        }
        tracing::info!(
            epoch = epoch + 1,
            of = options.epochs,
            loss = total / count.max(1) as f64,
            "reader epoch"
        );
        if let Some(ck) = &options.checkpoint {
            let state = ReaderCheckpoint {
                epochs_done: epoch + 1,
                adam_t: adam.t,
                ..identity.clone()
            };
            write_checkpoint(ck, &state, &varmap, &adam)?;
        }
    }
    let accuracy = held_out_accuracy(&reader, &pixels, &targets, &masks, &test)?;
    for (o, a) in outputs.iter_mut().zip(accuracy) {
        o.held_out_accuracy = a;
    }
    let bytes = tensor_bytes(&weights(&varmap)?, "the reader")?;
    crate::io::write_bytes_atomic(&dir.join(READER_FILE), &bytes)?;
    Ok(ReaderInfo {
        sha256: sha256_hex(&bytes),
        outputs,
    })
}

/// `items` in the order of epoch `epoch` (Fisher–Yates from the seed's stream).
fn shuffled(items: &[u32], seed: u64, epoch: usize) -> Vec<u32> {
    let mut rng = StreamRng::new(seed, b"reader-epoch", epoch as u64);
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    out
}

/// Per output, the share of held-out labelled images read right (1 where
/// none is held out would claim too much: those read 0).
fn held_out_accuracy(
    reader: &PixelReader,
    pixels: &Tensor,
    targets: &Tensor,
    masks: &Tensor,
    test: &[u32],
) -> Result<Vec<f64>> {
    let k = reader.outputs().len();
    let (mut right, mut seen) = (vec![0.0; k], vec![0.0; k]);
    for batch in test.chunks(256) {
        let idx = Tensor::from_slice(batch, batch.len(), pixels.device())?;
        let z = reader
            .logits(&pixels.index_select(&idx, 0)?)?
            .to_vec2::<f32>()?;
        let y = targets.index_select(&idx, 0)?.to_vec2::<f32>()?;
        let m = masks.index_select(&idx, 0)?.to_vec2::<f32>()?;
        for ((z, y), m) in z.iter().zip(&y).zip(&m) {
            for o in 0..k {
                if m[o] > 0.0 {
                    seen[o] += 1.0;
                    right[o] += f64::from(u8::from((z[o] > 0.0) == (y[o] > 0.5)));
                }
            }
        }
    }
    Ok(right
        .iter()
        .zip(&seen)
        .map(|(r, s)| if *s > 0.0 { r / s } else { 0.0 })
        .collect())
}

fn write_checkpoint(
    dir: &Path,
    state: &ReaderCheckpoint,
    varmap: &VarMap,
    adam: &Adam,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    save_tensors(&dir.join(TENSORS_FILE), &optimiser_state(varmap, &[adam])?)?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| Error::Internal(e.to_string()))?;
    crate::io::write_bytes_atomic(&dir.join(STATE_FILE), &json)
}

/// Restores a checkpoint of the same run into `varmap` and `adam`; `None`
/// when there is none. One of another run (seed or outputs) is refused.
fn read_checkpoint(
    dir: &Path,
    identity: &ReaderCheckpoint,
    varmap: &VarMap,
    adam: &mut Adam,
) -> Result<Option<ReaderCheckpoint>> {
    let Some(state) = read_state::<ReaderCheckpoint>(&dir.join(STATE_FILE))? else {
        return Ok(None);
    };
    if state.seed != identity.seed || state.outputs != identity.outputs {
        return Err(Error::InvalidArgument(format!(
            "{}: the checkpoint was made with another seed or other labels; use the same or delete it",
            dir.display()
        )));
    }
    let tensors = candle_core::safetensors::load(dir.join(TENSORS_FILE), &Device::Cpu)
        .map_err(|e| Error::Model(format!("reader checkpoint in {}: {e}", dir.display())))?;
    restore_state(varmap, &mut [adam], &tensors, state.adam_t)?;
    Ok(Some(state))
}
