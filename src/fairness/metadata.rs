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
    /// Label-free group (docs/fairness.md §8), where the bundle has groups:
    /// the group an item was sampled from, or a frame's most probable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// The Fair Sampler's check by the pixels (docs/fairness.md §4), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_check: Option<PixelCheck>,
}

/// What the check found for one item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PixelCheck {
    /// Candidates drawn (1 = the first passed, or no redraws were allowed).
    pub attempts: u32,
    /// Whether the kept candidate passed; one that did not is the candidate
    /// the reader found closest to the cell.
    pub passed: bool,
    /// The reader's probability of each attribute (head order) for the kept
    /// picture; `null` for an attribute the reader does not read.
    pub read: Vec<Option<f64>>,
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
    /// Per cell, the share of candidates the pixel check passed (`null`:
    /// no checked item in the cell); empty when the check did not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance: Vec<Option<f64>>,
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

/// One frame's record as the Bias Audit node writes it (one file per frame, so
/// frames rendered on different machines never write the same file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    pub version: u32,
    pub attributes: Vec<String>,
    pub frame: FrameMeta,
}

impl FrameRecord {
    /// File name of frame `n`'s record.
    pub fn file_name(n: i64) -> String {
        format!("frame_{n:06}.json")
    }

    /// Writes the record into `dir` atomically.
    pub fn write(&self, dir: &Path, n: i64) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let text = serde_json::to_string(self)
            .map_err(|e| Error::Internal(format!("serialising frame record: {e}")))?;
        crate::io::write_bytes_atomic(&dir.join(Self::file_name(n)), text.as_bytes())
    }

    /// Reads every `frame_*.json` record of `dir` into a sidecar (frames in
    /// frame order), checking that all name the same attributes.
    pub fn read_dir(dir: &Path) -> Result<Sidecar> {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("frame_") && n.ends_with(".json"))
            })
            .collect();
        files.sort();
        let mut attributes: Option<Vec<String>> = None;
        let mut frames = Vec::with_capacity(files.len());
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            let r: FrameRecord = serde_json::from_str(&text).map_err(|e| {
                Error::InvalidArgument(format!(
                    "{}: not a Bias Audit frame record ({e})",
                    f.display()
                ))
            })?;
            if r.version != METADATA_VERSION {
                return Err(Error::Unsupported(format!(
                    "{}: record version {} (this build reads {METADATA_VERSION})",
                    f.display(),
                    r.version
                )));
            }
            let k = r.attributes.len();
            // A record of a domain without heads carries its group alone.
            if (k == 0 && r.frame.group.is_none())
                || k > 8
                || r.frame.cell >= super::cells::n_cells(k)
                || r.frame.scores.len() != k
            {
                return Err(Error::InvalidArgument(format!(
                    "{}: record has {k} attributes, cell {} and {} scores; the file is damaged or not from a Bias Audit node",
                    f.display(),
                    r.frame.cell,
                    r.frame.scores.len()
                )));
            }
            match &attributes {
                Some(a) if *a != r.attributes => {
                    return Err(Error::InvalidArgument(format!(
                        "{}: attributes {:?} differ from the other records' {a:?} (two models in one folder?)",
                        f.display(),
                        r.attributes
                    )))
                }
                _ => attributes = Some(r.attributes.clone()),
            }
            frames.push(r.frame);
        }
        let attributes = attributes.ok_or_else(|| {
            Error::InvalidArgument(format!("{}: no frame_*.json records", dir.display()))
        })?;
        Ok(Sidecar::from_frames(attributes, frames))
    }
}

/// Per cell, the share of checked candidates that passed (`None` for a cell
/// without checked items): the check's acceptance rate.
pub fn acceptance<'a>(
    cells: usize,
    checked: impl IntoIterator<Item = (usize, &'a PixelCheck)>,
) -> Vec<Option<f64>> {
    let (mut passed, mut drawn) = (vec![0.0; cells], vec![0.0; cells]);
    for (cell, c) in checked {
        if cell < cells {
            drawn[cell] += f64::from(c.attempts);
            passed[cell] += f64::from(u8::from(c.passed));
        }
    }
    passed
        .iter()
        .zip(&drawn)
        .map(|(p, d)| (*d > 0.0).then(|| p / d))
        .collect()
}

impl Sidecar {
    /// A sidecar for scored frames that no sampler drew (an audited batch):
    /// frames in item order, counts per head cell, uniform target.
    pub fn from_frames(attributes: Vec<String>, mut frames: Vec<FrameMeta>) -> Sidecar {
        frames.sort_by_key(|f| f.item);
        let nc = super::cells::n_cells(attributes.len());
        let mut counts = vec![0u64; nc];
        frames
            .iter()
            .filter(|f| f.cell < nc)
            .for_each(|f| counts[f.cell] += 1);
        Sidecar {
            version: METADATA_VERSION,
            attributes,
            seed: 0,
            target: vec![1.0 / nc as f64; nc],
            counts,
            acceptance: Vec::new(),
            frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_counts_every_candidate() {
        let c = |attempts, passed| PixelCheck {
            attempts,
            passed,
            read: vec![],
        };
        let checks = [c(1, true), c(3, true), c(8, false)];
        let rates = acceptance(3, [(0, &checks[0]), (0, &checks[1]), (1, &checks[2])]);
        assert_eq!(rates, [Some(0.5), Some(0.0), None]);
    }

    fn record(group: Option<usize>) -> FrameRecord {
        FrameRecord {
            version: METADATA_VERSION,
            attributes: Vec::new(),
            frame: FrameMeta {
                item: 0,
                seed: 0,
                cell: 0,
                scores: Vec::new(),
                group,
                pixel_check: None,
            },
        }
    }

    #[test]
    fn a_record_without_heads_must_carry_its_group() {
        let dir = tempfile::tempdir().unwrap();
        record(Some(1)).write(dir.path(), 0).unwrap();
        let read = FrameRecord::read_dir(dir.path()).unwrap();
        assert!(read.attributes.is_empty());
        assert_eq!(read.frames[0].group, Some(1));
        record(None).write(dir.path(), 1).unwrap();
        let err = FrameRecord::read_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("frame_000001.json"), "{err}");
    }
}
