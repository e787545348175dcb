//! The pixel reader: a small convolutional classifier that reads a bundle's
//! labelled attributes from pictures. It is trained on the same labelled
//! images as the heads (`equifx model fit-reader`).
//!
//! Why it exists: the heads read the latent, and a sampled latent says what
//! the decoder was asked to draw, not what it drew (a corner the decoder
//! rounds still reads "angular" in the latent, and re-encoding the picture
//! gives the same latent back). The reader looks at the decoded pixels, so
//! the Fair Sampler can check that each picture shows its cell
//! (docs/fairness.md §4).
//!
//! The network sees the picture as the autoencoder does (model size, the
//! bundle's colour encoding in [0, 1]): a stride-1 stem, four stride-2
//! stages, then the mean and the maximum of each channel over the picture
//! (any model size works; the maximum keeps "a corner somewhere"), and one
//! logit per (domain, attribute) it was trained for.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{conv2d, linear, Conv2dConfig, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use super::bundle::sha256_hex;
use crate::error::{Error, Result};
use crate::kernels::{Activation, Conv2d};

pub const READER_FILE: &str = "reader.safetensors";

/// Channels of the stem and of each stride-2 stage.
pub const CHANNELS: [usize; 5] = [16, 32, 64, 64, 64];

/// One output of the reader: the attribute it reads in pictures of a domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderOutput {
    pub domain: String,
    pub attribute: String,
    /// Share of the held-out training images (the heads' held-out split) it
    /// reads right; NaN-free, in [0, 1].
    pub held_out_accuracy: f64,
}

/// The manifest's record of `reader.safetensors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderInfo {
    pub sha256: String,
    pub outputs: Vec<ReaderOutput>,
}

/// The reader's network.
pub struct PixelReader {
    stem: Conv2d,
    stages: Vec<Conv2d>,
    out: Linear,
    outputs: Vec<ReaderOutput>,
}

impl PixelReader {
    /// A reader with `outputs`, its variables taken from `vb`.
    pub fn new(outputs: Vec<ReaderOutput>, vb: VarBuilder) -> candle_core::Result<Self> {
        let same = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let down = Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let stem = conv2d(3, CHANNELS[0], 3, same, vb.pp("stem"))?.into();
        let stages = (0..CHANNELS.len() - 1)
            .map(|i| {
                Ok(conv2d(
                    CHANNELS[i],
                    CHANNELS[i + 1],
                    3,
                    down,
                    vb.pp(format!("stages.{i}")),
                )?
                .into())
            })
            .collect::<candle_core::Result<_>>()?;
        let last = CHANNELS[CHANNELS.len() - 1];
        let out = linear(2 * last, outputs.len(), vb.pp("out"))?;
        Ok(PixelReader {
            stem,
            stages,
            out,
            outputs,
        })
    }

    /// The tensor names and shapes of a reader with `outputs` outputs.
    fn expected_tensors(outputs: usize) -> Result<BTreeMap<String, Vec<usize>>> {
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let placeholder = ReaderOutput {
            domain: String::new(),
            attribute: String::new(),
            held_out_accuracy: 0.0,
        };
        PixelReader::new(vec![placeholder; outputs], vb)?;
        let data = varmap
            .data()
            .lock()
            .map_err(|_| Error::Internal("variable map lock poisoned".into()))?;
        Ok(data
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().dims().to_vec()))
            .collect())
    }

    /// Loads `dir/reader.safetensors` as `info` describes it, checking its
    /// hash, tensor names and shapes, and that every value is finite.
    pub fn load(dir: &Path, info: &ReaderInfo, device: &Device) -> Result<Self> {
        let path = dir.join(READER_FILE);
        let err = |what: String| Error::Model(format!("{}: {what}", path.display()));
        if info.outputs.is_empty() {
            return Err(err("the manifest lists a reader without outputs".into()));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| err(format!("cannot read the reader ({e})")))?;
        if sha256_hex(&bytes) != info.sha256 {
            return Err(err(
                "does not match the hash in manifest.toml: copy the bundle again or refit the reader \
                 (`equifx model fit-reader`)"
                    .into(),
            ));
        }
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| err(format!("not a readable safetensors file ({e})")))?;
        let expected = Self::expected_tensors(info.outputs.len())?;
        let present: BTreeMap<String, Vec<usize>> = st
            .tensors()
            .into_iter()
            .map(|(k, v)| (k, v.shape().to_vec()))
            .collect();
        if present != expected {
            return Err(err(format!(
                "tensors do not match a reader of {} outputs: refit it (`equifx model fit-reader`)",
                info.outputs.len()
            )));
        }
        for (name, _) in st.tensors() {
            let view = st.tensor(&name).map_err(|e| err(e.to_string()))?;
            let finite = view.dtype() == safetensors::Dtype::F32
                && view
                    .data()
                    .chunks_exact(4)
                    .all(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite());
            if !finite {
                return Err(err(format!("tensor {name} is not finite f32")));
            }
        }
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)
            .map_err(|e| err(e.to_string()))?;
        PixelReader::new(info.outputs.clone(), vb).map_err(|e| err(e.to_string()))
    }

    pub fn outputs(&self) -> &[ReaderOutput] {
        &self.outputs
    }

    /// One logit per output for each picture of `x` (B × 3 × S × S, model
    /// encoding in [0, 1]).
    pub fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = self
            .stem
            .forward_act(&crate::kernels::add_scalar(x, -0.5)?, Activation::Silu)?;
        for s in &self.stages {
            h = s.forward_act(&h, Activation::Silu)?;
        }
        let h = h.flatten_from(2)?;
        let pooled = Tensor::cat(&[h.mean(D::Minus1)?, h.max(D::Minus1)?], 1)?;
        self.out.forward(&pooled)
    }

    /// The output index of `attribute` in pictures of `domain`, if read.
    pub fn output_of(&self, domain: &str, attribute: &str) -> Option<usize> {
        self.outputs
            .iter()
            .position(|o| o.domain == domain && o.attribute == attribute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(n: usize) -> Vec<ReaderOutput> {
        (0..n)
            .map(|i| ReaderOutput {
                domain: "d".into(),
                attribute: format!("a{i}"),
                held_out_accuracy: 0.5,
            })
            .collect()
    }

    #[test]
    fn any_model_size_gives_one_logit_per_output() {
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let r = PixelReader::new(outputs(3), vb).unwrap();
        for side in [32, 64, 96] {
            let x = Tensor::zeros((2, 3, side, side), DType::F32, &Device::Cpu).unwrap();
            assert_eq!(r.logits(&x).unwrap().dims(), &[2, 3]);
        }
    }

    #[test]
    fn a_damaged_or_mismatched_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        PixelReader::new(outputs(2), vb).unwrap();
        let path = dir.path().join(READER_FILE);
        varmap.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let info = |n: usize, sha: String| ReaderInfo {
            sha256: sha,
            outputs: outputs(n),
        };
        let good = info(2, sha256_hex(&bytes));
        assert!(PixelReader::load(dir.path(), &good, &Device::Cpu).is_ok());
        // Another number of outputs than the file holds.
        let three = info(3, sha256_hex(&bytes));
        let e = PixelReader::load(dir.path(), &three, &Device::Cpu)
            .err()
            .unwrap();
        assert!(e.to_string().contains("3 outputs"), "{e}");
        // A changed file.
        let mut changed = bytes.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        let e = PixelReader::load(dir.path(), &good, &Device::Cpu)
            .err()
            .unwrap();
        assert!(e.to_string().contains("hash"), "{e}");
        // A changed file whose hash was updated but holds NaN.
        let mut nan = bytes.clone();
        nan[last - 3..].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&path, &nan).unwrap();
        let e = PixelReader::load(dir.path(), &info(2, sha256_hex(&nan)), &Device::Cpu)
            .err()
            .unwrap();
        assert!(e.to_string().contains("not finite"), "{e}");
    }
}
