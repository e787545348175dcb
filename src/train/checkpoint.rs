//! Checkpoints: the weights *and* the optimiser state of the stage in
//! progress, in `OUT/.checkpoint`, so a resumed run continues bit-identically.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use super::adam::Adam;
use super::config::{Stage, TrainConfig};
use super::data::Sampling;
use crate::error::{Error, Result};
use crate::model::ModelConfig;

/// The checkpoint folder inside the output folder; removed once the bundle is written.
pub(super) const CHECKPOINT_DIR: &str = ".checkpoint";

#[derive(Serialize, Deserialize)]
pub(super) struct CheckpointState {
    pub(super) stage: Stage,
    /// Steps completed in `stage`.
    pub(super) step: usize,
    adam_t: usize,
    seed: u64,
    arch: ModelConfig,
    tensors: String,
    /// How pictures were taken (see [`sampling_key`]); absent in older checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sampling: Option<String>,
}

/// A checkpoint read back: its state and every tensor it stored.
pub(super) type Checkpoint = (CheckpointState, HashMap<String, Tensor>);

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

/// The variables whose names start with `prefix`, sorted by name.
pub(super) fn named_vars(varmap: &VarMap, prefix: &str) -> Result<Vec<(String, candle_core::Var)>> {
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

/// `tensors` as a safetensors file's bytes; `what` names them in an error.
pub(super) fn tensor_bytes(tensors: &HashMap<String, Tensor>, what: &str) -> Result<Vec<u8>> {
    safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), None)
        .map_err(|e| Error::Model(format!("cannot serialise {what}: {e}")))
}

pub(super) fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    crate::io::write_bytes_atomic(path, &tensor_bytes(tensors, "tensors")?)
}

/// Every variable of `varmap`, by name.
pub(super) fn weights(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    Ok(named_vars(varmap, "")?
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect())
}

/// Writes the stage's checkpoint; `adams` are the stage's optimisers (the
/// autoencoder's and, with the adversarial term, the discriminator's), which
/// step together.
pub(super) fn write_checkpoint(
    cfg: &TrainConfig,
    varmap: &VarMap,
    adams: &[&Adam],
    stage: Stage,
    step: usize,
) -> Result<()> {
    let dir = cfg.out.join(CHECKPOINT_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let tensors = optimiser_state(varmap, adams)?;
    let file = format!("state-{stage:?}-{step}.safetensors").to_lowercase();
    save_tensors(&dir.join(&file), &tensors)?;
    let state = CheckpointState {
        stage,
        step,
        adam_t: adams.first().map_or(0, |a| a.t),
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

/// A checkpoint's JSON state at `path`, or `None` when there is none.
pub(super) fn read_state<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        Error::Model(format!(
            "{}: unreadable checkpoint ({e}); delete it to start over",
            path.display()
        ))
    })
}

pub(super) fn read_checkpoint(cfg: &TrainConfig) -> Result<Option<Checkpoint>> {
    let dir = cfg.out.join(CHECKPOINT_DIR);
    let Some(state) = read_state::<CheckpointState>(&dir.join("state.json"))? else {
        return Ok(None);
    };
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

/// Puts a checkpoint's weights into `varmap` and its moments into `adams`.
pub(super) fn restore(
    varmap: &VarMap,
    adams: &mut [&mut Adam],
    checkpoint: &Checkpoint,
) -> Result<()> {
    let (state, tensors) = checkpoint;
    restore_state(varmap, adams, tensors, state.adam_t)
}

/// Every variable of `varmap` and the moments of `adams` (whose variables
/// do not overlap), by name: what a checkpoint stores so a resumed run
/// continues bit-identically.
pub(super) fn optimiser_state(varmap: &VarMap, adams: &[&Adam]) -> Result<HashMap<String, Tensor>> {
    let mut tensors = weights(varmap)?;
    for adam in adams {
        for (i, name) in adam.names.iter().enumerate() {
            tensors.insert(format!("adam.m.{name}"), adam.m[i].clone());
            tensors.insert(format!("adam.v.{name}"), adam.v[i].clone());
        }
    }
    Ok(tensors)
}

/// Puts the weights of [`optimiser_state`] into `varmap` and its moments
/// (where stored) into `adams`, whose step counts become `adam_t`.
pub(super) fn restore_state(
    varmap: &VarMap,
    adams: &mut [&mut Adam],
    tensors: &HashMap<String, Tensor>,
    adam_t: usize,
) -> Result<()> {
    for (k, v) in named_vars(varmap, "")? {
        let t = tensors.get(&k).ok_or_else(|| {
            Error::Model(format!(
                "checkpoint lacks {k}: it was written with other settings; use them or delete it"
            ))
        })?;
        v.set(t)?;
    }
    for adam in adams.iter_mut() {
        for (i, name) in adam.names.iter().enumerate() {
            if let (Some(m), Some(v)) = (
                tensors.get(&format!("adam.m.{name}")),
                tensors.get(&format!("adam.v.{name}")),
            ) {
                adam.m[i] = m.clone();
                adam.v[i] = v.clone();
            }
        }
        adam.t = adam_t;
    }
    Ok(())
}
