//! Training data: one folder of images per domain, optionally with the
//! `labels.csv` that `equifx synth` writes (the manifest's per-domain
//! attribute statistics and the attribute heads are fitted on its labels).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};

/// All images of one domain, as planar sRGB values in [0, 1] (3 × size × size each).
pub struct DomainData {
    pub name: String,
    pub images: Vec<Vec<f32>>,
    /// Per-image binary attributes (e.g. `warm`), aligned with `images`.
    pub labels: BTreeMap<String, Vec<bool>>,
}

impl DomainData {
    /// Share of images with each attribute.
    pub fn attribute_shares(&self) -> BTreeMap<String, f64> {
        self.labels
            .iter()
            .map(|(k, l)| {
                (
                    k.clone(),
                    l.iter().filter(|&&x| x).count() as f64 / l.len().max(1) as f64,
                )
            })
            .collect()
    }
}

fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "png" | "tif" | "tiff" | "jpg" | "jpeg"
                )
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no images (.png, .tif) in this folder",
            dir.display()
        )));
    }
    Ok(files)
}

fn load_image(path: &Path, size: usize) -> Result<Vec<f32>> {
    let img = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| Error::ImageFormat {
            path: path.to_path_buf(),
            reason: format!("cannot decode: {e}"),
        })?
        .into_rgb8();
    let img = if (img.width() as usize, img.height() as usize) == (size, size) {
        img
    } else {
        image::imageops::resize(
            &img,
            size as u32,
            size as u32,
            image::imageops::FilterType::Triangle,
        )
    };
    let n = size * size;
    let mut planar = vec![0f32; 3 * n];
    for (p, px) in img.pixels().enumerate() {
        for c in 0..3 {
            planar[c * n + p] = f32::from(px[c]) / 255.0;
        }
    }
    Ok(planar)
}

/// Reads one CSV cell as an attribute value (`None`: not a binary value).
type ValueReader = dyn Fn(&str) -> Option<bool>;

/// Per-image binary attributes from a labels CSV (`file` column plus attribute
/// columns): `palette` becomes `warm` (value `warm`), `shape` becomes `round`
/// (value `round`), and any other column holding only 0/1 or true/false is an
/// attribute of its own name. Rows are matched to images by file name; every
/// image must have a row, so a stale CSV is an error rather than wrong labels.
fn read_labels(csv: &Path, files: &[PathBuf]) -> Result<BTreeMap<String, Vec<bool>>> {
    let text = std::fs::read_to_string(csv).map_err(|e| Error::io(csv, e))?;
    let bad = |why: String| Error::InvalidArgument(format!("{}: {why}", csv.display()));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    let file_col = header
        .iter()
        .position(|h| *h == "file")
        .ok_or_else(|| bad("no `file` column: each row must name its image".into()))?;
    let rows: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').map(str::trim).collect())
        .collect();
    let by_file: std::collections::HashMap<&str, &Vec<&str>> = rows
        .iter()
        .filter_map(|r| r.get(file_col).map(|f| (*f, r)))
        .collect();
    let mut out = BTreeMap::new();
    for (col, name) in header.iter().enumerate() {
        let positive: Box<ValueReader> = match *name {
            "palette" => Box::new(|v| Some(v == "warm")),
            "shape" => Box::new(|v| Some(v == "round")),
            _ => Box::new(|v| match v {
                "1" | "true" => Some(true),
                "0" | "false" => Some(false),
                _ => None,
            }),
        };
        let attr = match *name {
            "palette" => "warm",
            "shape" => "round",
            other => other,
        };
        if col == file_col
            || rows
                .iter()
                .any(|r| r.get(col).and_then(|v| positive(v)).is_none())
        {
            continue;
        }
        let labels = files
            .iter()
            .map(|f| {
                let key = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                by_file
                    .get(key)
                    .and_then(|r| r.get(col))
                    .and_then(|v| positive(v))
                    .ok_or_else(|| bad(format!("no `{name}` label for {key}")))
            })
            .collect::<Result<Vec<bool>>>()?;
        out.insert(attr.to_string(), labels);
    }
    Ok(out)
}

impl DomainData {
    /// Loads every image of `dir` at `size × size` (at most `limit` of them).
    pub fn load(name: &str, dir: &Path, size: usize, limit: Option<usize>) -> Result<DomainData> {
        let mut files = list_images(dir)?;
        if let Some(l) = limit {
            files.truncate(l);
        }
        let images = files
            .par_iter()
            .map(|f| load_image(f, size))
            .collect::<Result<Vec<_>>>()?;
        let csv = dir.join("labels.csv");
        let labels = if csv.exists() {
            read_labels(&csv, &files)?
        } else {
            BTreeMap::new()
        };
        Ok(DomainData {
            name: name.to_string(),
            images,
            labels,
        })
    }
}
