//! Starting points other than the seeded initialisation: weights taken from
//! an existing bundle, and the data-dependent start of the first ActNorm.

use std::path::Path;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;

use crate::error::{Error, Result};
use crate::model::cinn::Cinn;
use crate::model::ModelConfig;

/// Copies the tensors under `prefix` (`ae.` or `cinn.`) of the bundle at
/// `dir` into `varmap`; the bundle must have this run's architecture (for
/// `ae.`, only the autoencoder's part of it, so a new cINN can be trained on
/// an existing autoencoder).
pub(super) fn load_weights(
    varmap: &VarMap,
    dir: &Path,
    arch: &ModelConfig,
    prefix: &str,
) -> Result<()> {
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
        var.set(t)?;
    }
    tracing::info!(bundle = %dir.display(), prefix, "weights initialised from bundle");
    Ok(())
}

/// Refuses a bundle's cINN whose permutations differ from this seed's: the
/// couplings only fit the permutations they were trained with.
pub(super) fn check_permutations(cinn: &Cinn, dir: &Path) -> Result<()> {
    let path = dir.join(crate::model::bundle::WEIGHTS_FILE);
    let stored = candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
    for (name, t) in cinn.permutation_tensors()? {
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
    Ok(())
}

/// Data-dependent start for the first ActNorm: standardise each latent channel.
pub(super) fn init_actnorm(varmap: &VarMap, latents: &[Tensor], arch: &ModelConfig) -> Result<()> {
    let all = Tensor::cat(latents, 0)?;
    // The first ActNorm sees the latent as the flow does.
    let all = if arch.cinn_squeeze {
        crate::model::cinn::squeeze(&all)?
    } else {
        all
    };
    let c = all.dim(1)?;
    let per_channel = all.transpose(0, 1)?.flatten_from(1)?;
    let mean = per_channel.mean(D::Minus1)?;
    let std = per_channel
        .broadcast_sub(&mean.unsqueeze(1)?)?
        .sqr()?
        .mean(D::Minus1)?
        .sqrt()?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("variable map lock poisoned".into()))?;
    if let (Some(shift), Some(scale)) = (
        data.get("cinn.blocks.0.actnorm.shift"),
        data.get("cinn.blocks.0.actnorm.log_scale"),
    ) {
        shift.set(&mean.neg()?.reshape((1, c, 1, 1))?)?;
        scale.set(&((std + 1e-6)?.log()?.neg()?).reshape((1, c, 1, 1))?)?;
    }
    Ok(())
}
