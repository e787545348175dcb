//! Model bundles: a folder with `manifest.toml`, `weights.safetensors` and
//! `prior.safetensors` (the fairness nodes' Gaussian space).
//! Loading checks everything (format version, architecture, hash, tensor
//! names and shapes, finite values) and fails with a message that names the
//! file and the fix; a bundle is loaded once per process and shared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::autoencoder::Autoencoder;
use super::cinn::{Cinn, Permutations};
use super::config::ModelConfig;
use super::prior::{Prior, PRIOR_FILE};
use super::reader::{PixelReader, ReaderInfo};
use crate::error::{Error, Result};
use crate::fairness::groups::Groups;
use crate::fairness::AttributeHead;
use crate::frame::ColourSpace;

/// The bundle format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.toml";
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// Training-data statistics of one domain: what the model learned from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainStats {
    pub name: String,
    pub images: usize,
    /// Share of each labelled attribute (e.g. "warm" → 0.9), when labels were
    /// given: among the images labelled for it.
    #[serde(default)]
    pub attributes: BTreeMap<String, f64>,
    /// How many images carry a label for each attribute (absent: all of them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labelled: BTreeMap<String, usize>,
}

impl DomainStats {
    /// The images a share of `attribute` was taken over.
    pub fn labelled_count(&self, attribute: &str) -> usize {
        self.labelled.get(attribute).copied().unwrap_or(self.images)
    }
}

/// Everything about a bundle except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// Domain names, in the order of the cINN's condition index.
    pub domains: Vec<String>,
    /// Colour encoding the networks see.
    pub colour_space: ColourSpace,
    /// Side of the square training images.
    pub image_size: usize,
    /// How training pictures relate to the source files' pixels. Absent: each
    /// file was resized whole to `image_size`, so the networks know pictures at
    /// that size and Domain Transfer runs at it. Present: the networks were
    /// trained on crops at this many training pixels per source pixel (1 =
    /// the files' own resolution), so Domain Transfer runs a frame at this
    /// scale of its own resolution and keeps its sharpness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_scale: Option<f64>,
    pub architecture: ModelConfig,
    pub training: Vec<DomainStats>,
    /// Free-form provenance: command line, seed, steps, losses.
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
    /// SHA-256 of `weights.safetensors`, hex.
    pub weights_sha256: String,
    /// Per-channel standard deviation of the dequantisation noise added to z
    /// while the cINN trained (empty: none). v of noisy latents is what the
    /// flow made Gaussian, so heads are fitted on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latent_noise: Vec<f64>,
    /// SHA-256 of `prior.safetensors`, the per-domain Gaussian the fairness
    /// nodes work in (absent: they work in the flow's v directly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_sha256: Option<String>,
    /// Linear attribute heads in v-space per domain (docs/fairness.md §2), fitted
    /// on the training labels by `equifx train` or `equifx fit-heads`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub heads: BTreeMap<String, Vec<AttributeHead>>,
    /// Label-free groups of the prior's components per domain
    /// (docs/fairness.md §8), found by `equifx model groups`. They belong to
    /// this prior: refitting it drops them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Groups>,
    /// The pixel reader (`reader.safetensors`), fitted by `equifx model
    /// fit-reader` on labelled images: the Fair Sampler's check that each
    /// picture shows its cell. It reads pixels, so refitting the prior or the
    /// heads keeps it; retraining the networks does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<ReaderInfo>,
}

impl Manifest {
    /// Dimensions of v (and z) for an image of the training size.
    pub fn latent_dim(&self) -> usize {
        let side = self.image_size / ModelConfig::STRIDE;
        self.architecture.latent_channels * side * side
    }

    /// The heads of `domain`, or an error that says how to get them.
    pub fn heads_of(&self, domain: &str) -> Result<&[AttributeHead]> {
        let d = &self.domains[self.domain_index(domain)?];
        self.heads
            .get(d)
            .map(Vec::as_slice)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                let groups = if self.groups.contains_key(d) {
                    ", or work with its label-free groups (`--groups`, Balance By = groups)"
                } else {
                    ""
                };
                Error::Model(format!(
                    "this model has no attribute heads for domain '{d}': fit them with \
                 `equifx fit-heads --model BUNDLE --domain {d}=DIR` (DIR with a labels.csv){groups}"
                ))
            })
    }

    /// Writes `prior` into the bundle at `dir` and records its hash here
    /// (the manifest itself still has to be written).
    pub fn write_prior(&mut self, dir: &Path, prior: &Prior) -> Result<()> {
        let bytes = prior.to_bytes()?;
        crate::io::write_bytes_atomic(&dir.join(PRIOR_FILE), &bytes)?;
        self.prior_sha256 = Some(sha256_hex(&bytes));
        self.groups.clear();
        Ok(())
    }

    /// Writes `dir/manifest.toml` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| Error::Internal(format!("cannot serialise the manifest: {e}")))?;
        crate::io::write_bytes_atomic(&dir.join(MANIFEST_FILE), text.as_bytes())
    }

    pub fn domain_index(&self, name: &str) -> Result<usize> {
        self.domains
            .iter()
            .position(|d| d.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown domain '{name}': this model knows {}",
                    self.domains.join(", ")
                ))
            })
    }
}

/// A loaded bundle: manifest and networks on a device.
pub struct Bundle {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub autoencoder: Autoencoder,
    pub cinn: Cinn,
    pub device: Device,
    /// What the weights and activations are computed in (f32 unless a half
    /// precision was asked for); inputs and outputs are f32 either way.
    pub dtype: DType,
    /// The fairness nodes' Gaussian space over v, when the bundle has one.
    pub prior: Option<Prior>,
    /// The pixel reader, when the bundle has one.
    pub reader: Option<PixelReader>,
}

fn model_err(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Model(format!("{}: {what}", path.display()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The tensor names and shapes a model of `cfg` has, recorded while building
/// it without weights.
pub fn expected_tensors(cfg: &ModelConfig) -> Result<BTreeMap<String, Vec<usize>>> {
    let recorder = ShapeRecorder::default();
    let shapes = recorder.shapes.clone();
    let vb = VarBuilder::from_backend(Box::new(recorder), DType::F32, Device::Cpu);
    Autoencoder::new(cfg, vb.pp("ae"))?;
    let cinn = Cinn::new(cfg, vb.pp("cinn"), Permutations::Seeded(0), &Device::Cpu)?;
    let mut names = std::mem::take(&mut *shapes.lock());
    for (k, t) in cinn.permutation_tensors()? {
        names.insert(k, t.dims().to_vec());
    }
    Ok(names)
}

/// A variable source that only records the name and shape of every weight the
/// networks ask for and hands back one broadcast zero, so the expected tensors
/// of any declared architecture are known without allocating its weights (a
/// hostile manifest could declare gigabytes).
#[derive(Default)]
struct ShapeRecorder {
    shapes: Arc<Mutex<BTreeMap<String, Vec<usize>>>>,
}

impl candle_nn::var_builder::SimpleBackend for ShapeRecorder {
    fn get(
        &self,
        shape: candle_core::Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<candle_core::Tensor> {
        self.shapes
            .lock()
            .insert(name.to_string(), shape.dims().to_vec());
        candle_core::Tensor::zeros((), dtype, dev)?.broadcast_as(shape)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _: DType,
        _: &Device,
    ) -> candle_core::Result<candle_core::Tensor> {
        candle_core::bail!("the shape of {name} is not known")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

impl Bundle {
    /// Reads and validates `dir/manifest.toml`.
    pub fn read_manifest(dir: &Path) -> Result<Manifest> {
        let mpath = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&mpath).map_err(|e| {
            model_err(
                &mpath,
                format!(
                    "cannot read the manifest ({e}); is '{}' a model bundle folder?",
                    dir.display()
                ),
            )
        })?;
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let v: Version = toml::from_str(&text)
            .map_err(|e| model_err(&mpath, format!("not a valid manifest: {e}")))?;
        if v.format_version != FORMAT_VERSION {
            return Err(model_err(
                &mpath,
                format!(
                    "written by bundle format {}; this build reads format {FORMAT_VERSION}: retrain it with this \
                     equifx (`equifx train`) or use a matching equifx",
                    v.format_version
                ),
            ));
        }
        let m: Manifest = toml::from_str(&text)
            .map_err(|e| model_err(&mpath, format!("not a valid manifest: {e}")))?;
        m.architecture.validate()?;
        if m.domains.len() != m.architecture.domains || m.domains.is_empty() {
            return Err(model_err(
                &mpath,
                "the domain list does not match architecture.domains",
            ));
        }
        if m.image_size == 0 || !m.image_size.is_multiple_of(m.architecture.align()) {
            return Err(model_err(
                &mpath,
                format!(
                    "image_size {} must be a positive multiple of {}",
                    m.image_size,
                    m.architecture.align()
                ),
            ));
        }
        if let Some(s) = m.pixel_scale {
            if !(s.is_finite() && s > 0.0 && s <= 1.0) {
                return Err(model_err(
                    &mpath,
                    format!("pixel_scale {s} must be in (0, 1]"),
                ));
            }
        }
        let noise_fits =
            m.latent_noise.is_empty() || m.latent_noise.len() == m.architecture.latent_channels;
        if !noise_fits || m.latent_noise.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return Err(model_err(
                &mpath,
                format!(
                    "latent_noise must be empty or {} finite numbers ≥ 0 (one per latent channel)",
                    m.architecture.latent_channels
                ),
            ));
        }
        for (domain, heads) in &m.heads {
            if !m.domains.contains(domain) {
                return Err(model_err(
                    &mpath,
                    format!("heads for unknown domain '{domain}'"),
                ));
            }
            if let Some(h) = heads.iter().find(|h| {
                h.w.len() != m.latent_dim()
                    || !h.b.is_finite()
                    || h.w.iter().any(|x| !x.is_finite())
            }) {
                return Err(model_err(
                    &mpath,
                    format!(
                        "head '{}' of domain '{domain}' has {} finite weights, expected {}: refit the heads \
                         (`equifx fit-heads`)",
                        h.name,
                        h.w.len(),
                        m.latent_dim()
                    ),
                ));
            }
        }
        Ok(m)
    }

    /// Loads a bundle from `dir` onto `device` in f32, checking everything.
    pub fn load(dir: &Path, device: &Device) -> Result<Bundle> {
        Self::load_as(dir, device, DType::F32)
    }

    /// Loads a bundle whose network computes in `dtype` (the stored f32
    /// weights are converted once, here).
    pub fn load_as(dir: &Path, device: &Device, dtype: DType) -> Result<Bundle> {
        let manifest = Self::read_manifest(dir)?;
        Self::load_manifest_as(dir, manifest, device, dtype)
    }

    /// Loads the networks and heads of the bundle at `dir` but not its prior,
    /// which is about to be refitted (`equifx fit-heads`), so an outdated or
    /// damaged prior does not stand in the way.
    pub fn load_without_prior(dir: &Path, device: &Device) -> Result<Bundle> {
        let mut manifest = Self::read_manifest(dir)?;
        manifest.prior_sha256 = None;
        manifest.groups.clear();
        Self::load_manifest_as(dir, manifest, device, DType::F32)
    }

    fn load_manifest_as(
        dir: &Path,
        manifest: Manifest,
        device: &Device,
        dtype: DType,
    ) -> Result<Bundle> {
        let wpath = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&wpath)
            .map_err(|e| model_err(&wpath, format!("cannot read the weights ({e})")))?;
        let hash = sha256_hex(&bytes);
        if hash != manifest.weights_sha256 {
            return Err(model_err(
                &wpath,
                "does not match the hash in manifest.toml: the file was changed, truncated or replaced; \
                 copy the bundle again or retrain it",
            ));
        }
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| model_err(&wpath, format!("not a readable safetensors file ({e})")))?;
        let expected = expected_tensors(&manifest.architecture)?;
        let present: BTreeMap<String, Vec<usize>> = st
            .tensors()
            .into_iter()
            .map(|(k, v)| (k, v.shape().to_vec()))
            .collect();
        let missing: Vec<&String> = expected
            .keys()
            .filter(|k| !present.contains_key(*k))
            .collect();
        let extra: Vec<&String> = present
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            return Err(model_err(
                &wpath,
                format!(
                    "tensors do not match the architecture in the manifest ({} missing, e.g. {:?}; {} unexpected, e.g. {:?})",
                    missing.len(),
                    &missing[..missing.len().min(3)],
                    extra.len(),
                    &extra[..extra.len().min(3)]
                ),
            ));
        }
        for (name, shape) in &expected {
            if present.get(name) != Some(shape) {
                return Err(model_err(
                    &wpath,
                    format!(
                        "tensor {name} has shape {:?}, expected {shape:?}",
                        present.get(name)
                    ),
                ));
            }
            let view = st.tensor(name).map_err(|e| model_err(&wpath, e))?;
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(model_err(
                    &wpath,
                    format!("tensor {name} is {:?}; bundles store f32", view.dtype()),
                ));
            }
            if view
                .data()
                .chunks_exact(4)
                .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
            {
                return Err(model_err(
                    &wpath,
                    format!("tensor {name} holds NaN or infinite values: the training diverged"),
                ));
            }
        }
        let vb = VarBuilder::from_buffered_safetensors(bytes, dtype, device)
            .map_err(|e| model_err(&wpath, e))?;
        let autoencoder = Autoencoder::new(&manifest.architecture, vb.pp("ae"))
            .map_err(|e| model_err(&wpath, e))?;
        let cinn = Cinn::new(
            &manifest.architecture,
            vb.pp("cinn"),
            Permutations::Stored,
            device,
        )
        .map_err(|e| model_err(&wpath, e))?;
        let prior = match &manifest.prior_sha256 {
            None => None,
            Some(want) => {
                let ppath = dir.join(PRIOR_FILE);
                let bytes = std::fs::read(&ppath)
                    .map_err(|e| model_err(&ppath, format!("cannot read the prior ({e})")))?;
                if sha256_hex(&bytes) != *want {
                    return Err(model_err(
                        &ppath,
                        "does not match the hash in manifest.toml: copy the bundle again or refit it \
                         (`equifx fit-heads`)",
                    ));
                }
                Some(Prior::from_bytes(
                    &bytes,
                    manifest.domains.len(),
                    manifest.latent_dim(),
                    &ppath,
                )?)
            }
        };
        check_groups(&manifest, prior.as_ref(), dir)?;
        let reader = match &manifest.reader {
            None => None,
            Some(info) => {
                check_reader_outputs(&manifest, info, dir)?;
                Some(PixelReader::load(dir, info, device)?)
            }
        };
        Ok(Bundle {
            path: dir.to_path_buf(),
            prior,
            reader,
            manifest,
            autoencoder,
            cinn,
            device: device.clone(),
            dtype,
        })
    }

    /// Loads through the process-wide cache (see [`super::cache`]).
    pub fn load_cached(dir: &Path, device: &Device, dtype: DType) -> Result<Arc<Bundle>> {
        super::cache::load_cached(dir, device, dtype)
    }
}

/// Refuses a reader whose outputs name unknown domains or are not finite
/// accuracies (an edited manifest).
fn check_reader_outputs(manifest: &Manifest, info: &ReaderInfo, dir: &Path) -> Result<()> {
    let bad = info.outputs.iter().find(|o| {
        !manifest.domains.contains(&o.domain) || !(0.0..=1.0).contains(&o.held_out_accuracy)
    });
    match bad {
        Some(o) => Err(model_err(
            &dir.join(MANIFEST_FILE),
            format!(
                "the reader's output '{}' of domain '{}' does not belong to this bundle",
                o.attribute, o.domain
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses groups that do not partition the loaded prior's components: they
/// were found for another prior, or the manifest was edited.
fn check_groups(manifest: &Manifest, prior: Option<&Prior>, dir: &Path) -> Result<()> {
    let mpath = dir.join(MANIFEST_FILE);
    for (name, groups) in &manifest.groups {
        let d = manifest.domain_index(name)?;
        let Some(prior) = prior else {
            return Err(model_err(
                &mpath,
                format!("groups of domain '{name}' without a prior to group"),
            ));
        };
        groups.check(prior.components(d)).map_err(|why| {
            model_err(
                &mpath,
                format!(
                    "the groups of domain '{name}' do not fit the prior ({why}): find them again \
                     with `equifx model groups`"
                ),
            )
        })?;
    }
    Ok(())
}

/// Where the shipped default bundle is: `$EQUIFX_MODEL`, else `models/default`
/// next to the executable's install tree or the source tree.
pub fn default_bundle_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("EQUIFX_MODEL") {
        return PathBuf::from(p);
    }
    let candidates = std::env::current_exe().ok().into_iter().flat_map(|exe| {
        exe.ancestors()
            .skip(1)
            .take(4)
            .map(|a| a.join("models/default"))
            .collect::<Vec<_>>()
    });
    candidates
        .chain(std::iter::once(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default"),
        ))
        .find(|p| p.join(MANIFEST_FILE).exists())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default"))
}
