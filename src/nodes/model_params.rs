//! What the model-driven nodes share: the bundle their `model`, `device` and
//! `precision` parameters name, and the names their domain and shares
//! parameters hold, checked against that bundle. A studio's bundle brings
//! its own domains and attributes, so this is where a name meets its model.

use std::path::PathBuf;
use std::sync::Arc;

use crate::device::{select, DeviceRequest, Precision};
use crate::error::{Error, Result};
use crate::model::bundle::default_bundle_dir;
use crate::model::Bundle;
use crate::params::{AttributeShares, ParamValues};

/// The bundle a `model` parameter names (empty: the shipped default).
pub fn bundle_path(params: &ParamValues) -> Result<PathBuf> {
    let p = params.text("model")?;
    Ok(if p.trim().is_empty() {
        default_bundle_dir()
    } else {
        PathBuf::from(p)
    })
}

/// Loads (once per process) the bundle, on the device and in the precision
/// the parameters name.
pub fn load_bundle(params: &ParamValues) -> Result<Arc<Bundle>> {
    let device = select(params.text("device")?.parse::<DeviceRequest>()?)?;
    let dtype = params
        .text("precision")?
        .parse::<Precision>()?
        .dtype_on(&device)?;
    Bundle::load_cached(&bundle_path(params)?, &device, dtype)
}

/// The index of the domain that parameter `id` names in `bundle`; a name the
/// bundle does not have is an error listing the ones it has.
pub fn domain(params: &ParamValues, id: &str, bundle: &Bundle) -> Result<usize> {
    let name = params.text(id)?;
    bundle
        .manifest
        .domain_index(name)
        .map_err(|_| Error::InvalidParamValue {
            param: id.to_string(),
            reason: format!(
                "'{name}' is not a domain of the model {}: it has {}",
                bundle.path.display(),
                bundle.manifest.domains.join(", ")
            ),
        })
}

/// The share of each of `attributes` (a head set's names, in order) that
/// the shares parameter `id` asks for; `None` keeps the natural share.
pub fn shares(params: &ParamValues, id: &str, attributes: &[String]) -> Result<Vec<Option<f64>>> {
    let invalid = |reason: String| Error::InvalidParamValue {
        param: id.to_string(),
        reason,
    };
    AttributeShares::parse(params.text(id)?)
        .and_then(|s| s.resolve(attributes))
        .map_err(invalid)
}
