//! Training data: one folder of images per domain, optionally with the
//! `labels.csv` that `equifx synth` writes (used for the manifest's
//! per-domain attribute statistics).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};

/// All images of one domain, as planar sRGB values in [0, 1] (3 × size × size each).
pub struct DomainData {
    pub name: String,
    pub images: Vec<Vec<f32>>,
    pub attributes: BTreeMap<String, f64>,
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

/// Attribute shares from a labels CSV with `palette` and `shape` columns.
fn label_stats(csv: &Path) -> Result<BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(csv).map_err(|e| Error::io(csv, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (pal, shp) = (col("palette"), col("shape"));
    let (mut n, mut warm, mut round) = (0usize, 0usize, 0usize);
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split(',').collect();
        n += 1;
        warm += usize::from(pal.and_then(|i| f.get(i)) == Some(&"warm"));
        round += usize::from(shp.and_then(|i| f.get(i)) == Some(&"round"));
    }
    let mut out = BTreeMap::new();
    if n > 0 {
        if pal.is_some() {
            out.insert("warm".into(), warm as f64 / n as f64);
        }
        if shp.is_some() {
            out.insert("round".into(), round as f64 / n as f64);
        }
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
        let labels = dir.join("labels.csv");
        let attributes = if labels.exists() {
            label_stats(&labels)?
        } else {
            BTreeMap::new()
        };
        Ok(DomainData {
            name: name.to_string(),
            images,
            attributes,
        })
    }
}
