//! Per-frame metadata of the Fair Sampler: the JSON sidecar that travels with
//! each generated frame (item index, seed, head cell and head scores) and the
//! sequence sidecar that collects them. The Bias Audit reads the same records,
//! so a sampled sequence can be audited without re-running any network.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Version of the sidecar format; readers accept this version only.
pub const METADATA_VERSION: u32 = 1;

/// What the sampler knows about one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameMeta {
    /// Item (frame) index in the sequence; with `seed` it determines the frame.
    pub item: u64,
    pub seed: u64,
    /// Head cell (bit k = attribute k present).
    pub cell: usize,
    /// Signed head scores u_k + b̃_k (distance to each boundary, positive = present).
    pub scores: Vec<f64>,
}

/// The metadata of a whole sampled sequence or batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub version: u32,
    /// Attribute (head) names, in head order.
    pub attributes: Vec<String>,
    pub seed: u64,
    /// Target joint over the 2^K cells the sampler drew.
    pub target: Vec<f64>,
    /// Exact number of items per cell.
    pub counts: Vec<u64>,
    pub frames: Vec<FrameMeta>,
}

impl Sidecar {
    /// Parses and validates a sidecar.
    pub fn from_json(text: &str) -> Result<Self> {
        let s: Sidecar = serde_json::from_str(text).map_err(|e| {
            Error::InvalidArgument(format!("fair-sampler sidecar is not valid JSON: {e}"))
        })?;
        if s.version != METADATA_VERSION {
            return Err(Error::Unsupported(format!(
                "fair-sampler sidecar version {} (this build reads {METADATA_VERSION}): re-run the sampler with this build",
                s.version
            )));
        }
        let k = s.attributes.len();
        let cells = 1usize << k.min(16);
        if s.target.len() != cells || s.counts.len() != cells {
            return Err(Error::InvalidArgument(format!(
                "sidecar has {k} attributes but {} target shares and {} counts (expected {cells})",
                s.target.len(),
                s.counts.len()
            )));
        }
        if let Some(f) = s
            .frames
            .iter()
            .find(|f| f.cell >= cells || f.scores.len() != k)
        {
            return Err(Error::InvalidArgument(format!(
                "sidecar frame {} has cell {} and {} scores; expected a cell below {cells} and {k} scores",
                f.item,
                f.cell,
                f.scores.len()
            )));
        }
        Ok(s)
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Internal(format!("serialising sidecar: {e}")))
    }

    /// Writes the sidecar atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::io::write_bytes_atomic(path, self.to_json()?.as_bytes())
    }

    /// Reads and validates a sidecar file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text)
    }
}
