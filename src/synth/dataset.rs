//! Writing datasets (one folder of PNGs per domain plus a labels CSV) and
//! contact sheets for people to look at.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::scene::{Bias, Scene};
use super::styles::{render_srgb8, Style};
use crate::error::{Error, Result};

/// What `equifx synth` writes.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    pub style: Style,
    pub count: usize,
    pub width: usize,
    pub height: usize,
    pub seed: u64,
    pub bias: Bias,
    pub out: PathBuf,
}

/// One line of `labels.csv`: the scene behind each image.
#[derive(Debug, Clone, Serialize)]
pub struct LabelRow {
    pub file: String,
    pub index: u64,
    pub domain: &'static str,
    pub palette: &'static str,
    pub shape: &'static str,
    pub hue: f64,
    pub saturation: f64,
    pub value: f64,
    pub cx: f64,
    pub cy: f64,
    pub size: f64,
    pub rotation: f64,
    pub corners: u32,
    pub bg_hue: f64,
    pub bg_value: f64,
}

impl LabelRow {
    fn new(file: String, index: u64, style: Style, s: &Scene) -> Self {
        LabelRow {
            file,
            index,
            domain: style.name(),
            palette: match s.palette {
                super::Palette::Warm => "warm",
                super::Palette::Cool => "cool",
            },
            shape: match s.shape {
                super::Shape::Round => "round",
                super::Shape::Angular => "angular",
            },
            hue: s.hue,
            saturation: s.saturation,
            value: s.value,
            cx: s.cx,
            cy: s.cy,
            size: s.size,
            rotation: s.rotation,
            corners: s.corners,
            bg_hue: s.bg_hue,
            bg_value: s.bg_value,
        }
    }

    const HEADER: &'static str =
        "file,index,domain,palette,shape,hue,saturation,value,cx,cy,size,rotation,corners,bg_hue,bg_value";

    fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{:.3},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{},{:.3},{:.4}",
            self.file,
            self.index,
            self.domain,
            self.palette,
            self.shape,
            self.hue,
            self.saturation,
            self.value,
            self.cx,
            self.cy,
            self.size,
            self.rotation,
            self.corners,
            self.bg_hue,
            self.bg_value
        )
    }
}

fn png_bytes(rgb: Vec<u8>, w: usize, h: usize) -> Result<Vec<u8>> {
    let img = image::RgbImage::from_raw(w as u32, h as u32, rgb)
        .ok_or_else(|| Error::Internal("render size mismatch".into()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Internal(format!("PNG encoding failed: {e}")))?;
    Ok(out.into_inner())
}

/// Writes `count` images and `labels.csv` into `spec.out`; `progress(done)`
/// is called as images complete. Images are rendered in parallel, but each
/// depends only on (seed, index), so the output is the same on any machine.
pub fn write_dataset(
    spec: &DatasetSpec,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<LabelRow>> {
    for side in [spec.width, spec.height] {
        if !(8..=crate::frame::MAX_DIMENSION).contains(&side) {
            return Err(Error::InvalidArgument(format!(
                "size {}×{}: each side must be 8 … {}",
                spec.width,
                spec.height,
                crate::frame::MAX_DIMENSION
            )));
        }
    }
    for (name, p) in [("warm", spec.bias.warm), ("round", spec.bias.round)] {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidArgument(format!(
                "--{name} {p} must be a probability in 0 … 1"
            )));
        }
    }
    std::fs::create_dir_all(&spec.out).map_err(|e| Error::io(&spec.out, e))?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let rows: Vec<LabelRow> = (0..spec.count as u64)
        .into_par_iter()
        .map(|i| {
            let scene = Scene::sample(spec.seed, i, spec.bias);
            let file = format!("{}_{i:06}.png", spec.style.name());
            let png = png_bytes(
                render_srgb8(&scene, spec.style, spec.width, spec.height),
                spec.width,
                spec.height,
            )?;
            crate::io::write_bytes_atomic(&spec.out.join(&file), &png)?;
            progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
            Ok(LabelRow::new(file, i, spec.style, &scene))
        })
        .collect::<Result<_>>()?;
    let csv = spec.out.join("labels.csv");
    crate::io::write_atomic(&csv, |w| {
        writeln!(w, "{}", LabelRow::HEADER).map_err(|e| Error::io(&csv, e))?;
        for r in &rows {
            writeln!(w, "{}", r.csv()).map_err(|e| Error::io(&csv, e))?;
        }
        Ok(())
    })?;
    Ok(rows)
}

/// Renders `count` scenes × the three styles into one PNG: a row per scene,
/// a column per style, the same scene across each row.
pub fn contact_sheet(seed: u64, count: usize, size: usize, out: &Path) -> Result<()> {
    let (cols, gap) = (Style::ALL.len(), 4);
    let (w, h) = (
        cols * size + (cols + 1) * gap,
        count * size + (count + 1) * gap,
    );
    let mut sheet = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([24, 24, 24]));
    let balanced = Bias {
        warm: 0.5,
        round: 0.5,
    };
    for row in 0..count {
        let scene = Scene::sample(seed, row as u64, balanced);
        for (col, style) in Style::ALL.into_iter().enumerate() {
            let rgb = render_srgb8(&scene, style, size, size);
            let (x0, y0) = (gap + col * (size + gap), gap + row * (size + gap));
            for y in 0..size {
                for x in 0..size {
                    let i = (y * size + x) * 3;
                    sheet.put_pixel(
                        (x0 + x) as u32,
                        (y0 + y) as u32,
                        image::Rgb([rgb[i], rgb[i + 1], rgb[i + 2]]),
                    );
                }
            }
        }
    }
    let png = png_bytes(sheet.into_raw(), w, h)?;
    crate::io::write_bytes_atomic(out, &png)
}
