//! Training data: one folder of images per domain (searched recursively),
//! optionally with a `labels.csv` of binary attributes beside them (as
//! `equifx synth` writes, or a studio's own). A [`DomainData`] holds the list
//! of readable files and their labels, never pixels: pictures are decoded
//! when a batch is drawn ([`draw_batch`]), so memory does not grow with the
//! number of files.
//!
//! Loading reads only each file's header (its format and size), so a folder
//! of 20,000 camera files is listed in seconds. A file whose header reads but
//! whose picture data does not (a truncated or corrupt JPEG) is found when a
//! picture is first taken from it: the next readable image stands in, the
//! file is left out from then on and counted with those skipped at load
//! ([`DomainData::unreadable`]).
//!
//! A training picture is either a `size × size` crop of the file at a chosen
//! scale ([`Sampling::Crop`], the default: studio folders hold 2–4 MP pictures
//! of any aspect ratio) or the whole file resized to `size × size`
//! ([`Sampling::Resize`], how the synthetic datasets were first used).
//!
//! One file because listing, label matching, header checks and lazy decoding
//! share the per-file bookkeeping of [`DomainData`]; a third of it is tests
//! on hostile folders and files.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Seek};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use image::{imageops::FilterType, ImageBuffer, Pixel};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::rng::StreamRng;

/// How a training picture is taken from an image file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// A `size × size` crop at a random position of the file downscaled by
    /// `pixel_scale × s`, with `s` uniform in `[1 − scale_jitter, 1]`
    /// (pictures too small for the crop are upscaled just enough to cover it).
    Crop {
        /// Training pixels per source pixel, in (0, 1]; 1 = the files' own resolution.
        pixel_scale: f64,
        /// In [0, 1): 0 = every crop at `pixel_scale` exactly.
        scale_jitter: f64,
    },
    /// The whole file resized (squashed) to `size × size`.
    Resize,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling::Crop {
            pixel_scale: 1.0,
            scale_jitter: 0.0,
        }
    }
}

impl Sampling {
    /// Refuses a pixel scale outside (0, 1] or a scale jitter outside [0, 1).
    pub fn validate(&self) -> Result<()> {
        if let Sampling::Crop {
            pixel_scale,
            scale_jitter,
        } = *self
        {
            if !(pixel_scale.is_finite() && pixel_scale > 0.0 && pixel_scale <= 1.0) {
                return Err(Error::InvalidArgument(format!(
                    "--pixel-scale {pixel_scale} must be in (0, 1]"
                )));
            }
            if !(scale_jitter.is_finite() && (0.0..1.0).contains(&scale_jitter)) {
                return Err(Error::InvalidArgument(format!(
                    "--scale-jitter {scale_jitter} must be in [0, 1)"
                )));
            }
        }
        Ok(())
    }

    /// What a bundle's manifest records as `pixel_scale`: `None` for resized
    /// whole images.
    pub fn pixel_scale(&self) -> Option<f64> {
        match *self {
            Sampling::Crop { pixel_scale, .. } => Some(pixel_scale),
            Sampling::Resize => None,
        }
    }

    /// How the networks of a bundle saw its training pictures (from its
    /// manifest's `pixel_scale`), for encoding images the same way.
    pub fn of_bundle(pixel_scale: Option<f64>) -> Sampling {
        match pixel_scale {
            Some(pixel_scale) => Sampling::Crop {
                pixel_scale,
                scale_jitter: 0.0,
            },
            None => Sampling::Resize,
        }
    }

    /// `crop` or `resize`.
    pub fn name(&self) -> &'static str {
        match self {
            Sampling::Crop { .. } => "crop",
            Sampling::Resize => "resize",
        }
    }

    /// Where the `size × size` picture of a file of `source` = (width, height)
    /// pixels comes from, for the random numbers `draw`.
    pub fn place(&self, source: (u32, u32), size: usize, draw: CropDraw) -> Placement {
        let s = size as u32;
        match *self {
            Sampling::Resize => Placement {
                scaled: (s, s),
                x: 0,
                y: 0,
            },
            Sampling::Crop {
                pixel_scale,
                scale_jitter,
            } => {
                let (w, h) = (f64::from(source.0.max(1)), f64::from(source.1.max(1)));
                let wanted = pixel_scale * (1.0 - scale_jitter * draw.scale);
                // Too small for the crop after scaling: upscale just enough to cover it.
                let f = wanted.max(size as f64 / w).max(size as f64 / h);
                let scaled = |side: f64| ((side * f).round() as u32).max(s);
                // At scale 1 this is the file's own size: its pixels are used as they are.
                let scaled = (scaled(w), scaled(h));
                let at = |u: f64, room: u32| ((u * f64::from(room + 1)) as u32).min(room);
                Placement {
                    scaled,
                    x: at(draw.x, scaled.0 - s),
                    y: at(draw.y, scaled.1 - s),
                }
            }
        }
    }
}

/// The random numbers of one crop, each in [0, 1): `scale` picks the scale
/// in the jitter range (0 = `pixel_scale` itself), `x` and `y` the position
/// among all positions of the crop in the scaled picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropDraw {
    pub scale: f64,
    pub x: f64,
    pub y: f64,
}

impl CropDraw {
    /// The centre crop at `pixel_scale`: how each image is encoded once (cINN
    /// stage, attribute heads).
    pub const CENTRE: CropDraw = CropDraw {
        scale: 0.0,
        x: 0.5,
        y: 0.5,
    };

    fn from_stream(r: &mut StreamRng) -> CropDraw {
        CropDraw {
            scale: r.uniform(),
            x: r.uniform(),
            y: r.uniform(),
        }
    }
}

/// Where a training picture lies in its file: the file is resized to
/// `scaled` = (width, height) (unchanged when equal to the file's own size),
/// then the `size × size` square at (`x`, `y`) of that is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub scaled: (u32, u32),
    pub x: u32,
    pub y: u32,
}

/// One training picture, planar sRGB values in [0, 1] (3 × size × size).
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub pixels: Vec<f32>,
    /// Index of the image it came from (another than asked for only when a
    /// file became unreadable after it was listed).
    pub image: usize,
    pub placement: Placement,
}

/// The files of one domain and their labels; no pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainData {
    pub name: String,
    /// The domain folder; `files` are relative to it.
    pub root: PathBuf,
    /// Every image file whose header reads, sorted (relative to `root`). One
    /// whose picture data then fails to decode is left out at first use
    /// (see [`DomainData::failed_at_use`]) but stays listed, so that image
    /// indices and labels keep their meaning.
    pub files: Vec<PathBuf>,
    /// Per-image binary attributes (e.g. `warm`), aligned with `files`;
    /// `None` where an image has no label for the attribute.
    pub labels: BTreeMap<String, Vec<Option<bool>>>,
    /// Image files left out at load: empty, or with a header that does not
    /// read (relative to `root`).
    pub skipped: Vec<PathBuf>,
}

/// Lower-case extensions of the files training reads: every sRGB kind equifx
/// reads (OpenEXR holds scene-linear light, not training pictures).
fn training_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .is_some_and(|e| e != "exr" && crate::io::READABLE_EXTENSIONS.contains(&e.as_str()))
}

/// Every image file under `dir` (sub-folders included, hidden entries left
/// out), relative to `dir`, sorted.
fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(
        root: &Path,
        rel: &Path,
        seen: &mut HashSet<PathBuf>,
        out: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        let here = root.join(rel);
        // A symlinked folder is followed once: a link back up cannot loop.
        if !seen.insert(here.canonicalize()?) {
            return Ok(());
        }
        for entry in std::fs::read_dir(&here)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let rel = rel.join(&name);
            // Follows symlinks: a linked file or folder counts as what it points to.
            match std::fs::metadata(entry.path()) {
                Ok(m) if m.is_dir() => {
                    if let Err(e) = walk(root, &rel, seen, out) {
                        tracing::warn!(folder = %root.join(&rel).display(), "cannot read folder: {e}");
                    }
                }
                Ok(m) if m.is_file() && training_extension(&rel) => out.push(rel),
                Ok(_) => {}
                Err(e) => tracing::warn!(file = %entry.path().display(), "cannot read: {e}"),
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, Path::new(""), &mut HashSet::new(), &mut files).map_err(|e| Error::io(dir, e))?;
    files.sort();
    if files.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no images (.png, .tif, .jpg, .webp) in this folder or its sub-folders",
            dir.display()
        )));
    }
    Ok(files)
}

/// A decoded file, at its own sample depth.
enum Rgb {
    U8(image::RgbImage),
    F32(image::Rgb32FImage),
}

impl Rgb {
    fn dimensions(&self) -> (u32, u32) {
        match self {
            Rgb::U8(i) => i.dimensions(),
            Rgb::F32(i) => i.dimensions(),
        }
    }
}

fn decode(path: &Path) -> Result<Rgb> {
    use image::DynamicImage as D;
    let img = crate::io::decode_with_image_crate(path)?;
    Ok(match img {
        D::ImageLuma8(_) | D::ImageLumaA8(_) | D::ImageRgb8(_) | D::ImageRgba8(_) => {
            Rgb::U8(img.into_rgb8())
        }
        // 16-bit and float files keep their precision.
        _ => Rgb::F32(img.into_rgb32f()),
    })
}

/// The planar `size × size` picture at `placement` of `img`, whose scaled
/// size is `placement.scaled`. Only the window is resampled (a crop of a
/// 4-MP photograph needs a few thousand of its pixels, not all of them scaled),
/// with the image crate's triangle filter and sample positions, so the
/// window equals the same crop of the whole picture resized, before that
/// resize rounds to the file's sample type.
fn cut<P>(
    img: ImageBuffer<P, Vec<P::Subpixel>>,
    placement: Placement,
    size: usize,
    value: impl Fn(P::Subpixel) -> f32,
) -> Vec<f32>
where
    P: Pixel + 'static,
    P::Subpixel: 'static,
{
    let (sw, sh) = img.dimensions();
    let (w, h) = placement.scaled;
    let n = size * size;
    let mut planar = vec![0f32; 3 * n];
    let sample = |x: u32, y: u32, c: usize| value(img.get_pixel(x, y).channels()[c]);
    if (sw, sh) == (w, h) {
        for y in 0..size {
            for x in 0..size {
                for c in 0..3 {
                    planar[c * n + y * size + x] =
                        sample(placement.x + x as u32, placement.y + y as u32, c);
                }
            }
        }
        return planar;
    }
    let columns = triangle_taps(sw, w, placement.x, size);
    let rows = triangle_taps(sh, h, placement.y, size);
    // Vertical pass over the source columns the window reads, then horizontal.
    let x0 = columns.first().map_or(0, |t| t.0);
    let x1 = columns.last().map_or(0, |t| t.0 + t.1.len() as u32);
    let span = (x1 - x0) as usize;
    let mut vertical = vec![0f32; 3 * size * span];
    for (y, (top, weights)) in rows.iter().enumerate() {
        for sx in x0..x1 {
            for c in 0..3 {
                let v: f32 = weights
                    .iter()
                    .enumerate()
                    .map(|(k, wk)| wk * sample(sx, top + k as u32, c))
                    .sum();
                vertical[(c * size + y) * span + (sx - x0) as usize] = v;
            }
        }
    }
    for c in 0..3 {
        for y in 0..size {
            let line = &vertical[(c * size + y) * span..][..span];
            for (x, (left, weights)) in columns.iter().enumerate() {
                let start = (left - x0) as usize;
                planar[c * n + y * size + x] = weights
                    .iter()
                    .zip(&line[start..])
                    .map(|(wk, v)| wk * v)
                    .sum();
            }
        }
    }
    planar
}

/// For output samples `offset .. offset + count` of a `src` → `dst` resize,
/// the first source sample each reads and its normalised triangle weights,
/// placed as `image::imageops::resize` places them.
fn triangle_taps(src: u32, dst: u32, offset: u32, count: usize) -> Vec<(u32, Vec<f32>)> {
    let ratio = src as f32 / dst as f32;
    let sratio = ratio.max(1.0);
    (0..count as u32)
        .map(|i| {
            let centre = ((offset + i) as f32 + 0.5) * ratio;
            let left = ((centre - sratio).floor() as i64).clamp(0, i64::from(src) - 1);
            let right = ((centre + sratio).ceil() as i64).clamp(left + 1, i64::from(src));
            let weights: Vec<f32> = (left..right)
                .map(|j| (1.0 - ((j as f32 - (centre - 0.5)) / sratio).abs()).max(0.0))
                .collect();
            let sum: f32 = weights.iter().sum();
            (left as u32, weights.iter().map(|w| w / sum).collect())
        })
        .collect()
}

/// The training picture of the file at `path`, and where it lies in the file.
fn picture_of(
    path: &Path,
    sampling: Sampling,
    size: usize,
    draw: CropDraw,
) -> Result<(Vec<f32>, Placement)> {
    let img = decode(path)?;
    let placement = sampling.place(img.dimensions(), size, draw);
    // A whole-picture resize keeps the image crate's own result, rounding
    // included, as bundles trained that way always had it.
    let whole = |(w, h): (u32, u32)| {
        matches!(sampling, Sampling::Resize) && (w, h) != (size as u32, size as u32)
    };
    let pixels = match img {
        Rgb::U8(i) if whole(i.dimensions()) => {
            let i = image::imageops::resize(&i, size as u32, size as u32, FilterType::Triangle);
            cut(i, placement, size, |v| f32::from(v) / 255.0)
        }
        Rgb::U8(i) => cut(i, placement, size, |v| f32::from(v) / 255.0),
        Rgb::F32(i) if whole(i.dimensions()) => {
            let i = image::imageops::resize(&i, size as u32, size as u32, FilterType::Triangle);
            cut(i, placement, size, |v| v.clamp(0.0, 1.0))
        }
        Rgb::F32(i) => cut(i, placement, size, |v| v.clamp(0.0, 1.0)),
    };
    Ok((pixels, placement))
}

/// Width and height of a JPEG stream from its frame header (SOFn), reached
/// by walking the marker segments by their lengths: the reader seeks over
/// EXIF blocks, ICC profiles and the like, so a few small reads suffice
/// whatever the size of the file. Stray bytes between segments are passed
/// over, as the decoder does. `r` stands at the start of the stream.
fn jpeg_dimensions<R: BufRead + Seek>(r: &mut R) -> std::result::Result<(u32, u32), String> {
    fn byte<R: Read>(r: &mut R) -> std::io::Result<u8> {
        let mut b = [0u8];
        r.read_exact(&mut b).map(|()| b[0])
    }
    fn word<R: Read>(r: &mut R) -> std::io::Result<u16> {
        let mut b = [0u8; 2];
        r.read_exact(&mut b).map(|()| u16::from_be_bytes(b))
    }
    let cut = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "the JPEG file ends inside its header".to_string(),
        _ => format!("cannot read the JPEG header: {e}"),
    };
    if word(r).map_err(cut)? != 0xFFD8 {
        return Err("not a JPEG stream (no start-of-image marker)".into());
    }
    let mut last = 0u8;
    loop {
        let m = byte(r).map_err(cut)?;
        if last != 0xFF || m == 0xFF || m == 0x00 {
            // Not (yet) a marker: stray data, a fill byte or a stuffed zero.
            last = m;
            continue;
        }
        last = 0;
        match m {
            // Markers without a segment: TEM, RSTn, a repeated SOI.
            0x01 | 0xD0..=0xD8 => {}
            0xD9 | 0xDA => {
                return Err("the JPEG stream has no frame header before its picture data".into())
            }
            _ => {
                let len = word(r).map_err(cut)?;
                if len < 2 {
                    return Err(format!("a JPEG segment of invalid length {len}"));
                }
                // SOF0–SOF15 (C4 = DHT, C8 = JPG and CC = DAC are not frames):
                // precision, height, width.
                if matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC) {
                    let _precision = byte(r).map_err(cut)?;
                    let h = word(r).map_err(cut)?;
                    let w = word(r).map_err(cut)?;
                    return Ok((u32::from(w), u32::from(h)));
                }
                r.seek_relative(i64::from(len) - 2).map_err(cut)?;
            }
        }
    }
}

/// The load-time check of an image file: it is not empty, its format is one
/// equifx decodes (read from its bytes, as [`decode`] does) and its header
/// gives a picture of at least 1 × 1 pixel. Only the header is read (for a
/// JPEG, a few hundred bytes: see [`jpeg_dimensions`]); the picture data is
/// checked when a picture is first taken from the file ([`DomainData::picture`]).
fn check_header(path: &Path) -> Result<()> {
    let bad = |reason: String| Error::ImageFormat {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if file.metadata().map_err(|e| Error::io(path, e))?.len() == 0 {
        return Err(bad("the file is empty".into()));
    }
    let mut r = BufReader::with_capacity(4096, file);
    let jpeg = r
        .fill_buf()
        .map_err(|e| Error::io(path, e))?
        .starts_with(b"\xFF\xD8\xFF");
    let (w, h) = if jpeg {
        jpeg_dimensions(&mut r).map_err(bad)?
    } else {
        // Other formats: the image crate reads no more than the header either.
        image::ImageReader::new(r)
            .with_guessed_format()
            .map_err(|e| Error::io(path, e))?
            .into_dimensions()
            .map_err(|e| bad(format!("cannot read image header: {e}")))?
    };
    if w == 0 || h == 0 {
        return Err(bad(format!("the header gives a picture of {w}×{h} pixels")));
    }
    Ok(())
}

/// Files of a domain checked at a time (in parallel): bounds the work in
/// flight, and what the check reads past a `limit`.
const CHECK_CHUNK: usize = 256;

/// Listed files that failed to decode when a picture was taken from them,
/// by domain folder (relative to it). Kept here rather than in
/// [`DomainData`], which stays a plain list of files and labels: every copy
/// of a domain sees the same failures, which are a property of the files.
static FAILED_AT_USE: Mutex<BTreeMap<PathBuf, BTreeSet<PathBuf>>> = Mutex::new(BTreeMap::new());

fn failed_at_use() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, BTreeSet<PathBuf>>> {
    // Every update is one insert or remove: a panic elsewhere leaves the map whole.
    FAILED_AT_USE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads one CSV cell as an attribute value: `Some(None)` for an empty cell
/// (no label), `None` when the cell is not a binary value.
type ValueReader = fn(&str) -> Option<Option<bool>>;

fn binary(v: &str) -> Option<Option<bool>> {
    match v.to_ascii_lowercase().as_str() {
        "" => Some(None),
        "1" | "true" | "yes" => Some(Some(true)),
        "0" | "false" | "no" => Some(Some(false)),
        _ => None,
    }
}

fn warm(v: &str) -> Option<Option<bool>> {
    Some((!v.is_empty()).then(|| v.eq_ignore_ascii_case("warm")))
}

fn round(v: &str) -> Option<Option<bool>> {
    Some((!v.is_empty()).then(|| v.eq_ignore_ascii_case("round")))
}

/// Rows of a CSV text (RFC 4180: fields in double quotes may hold commas,
/// line breaks and doubled quotes); unquoted fields are trimmed, blank lines
/// skipped.
fn parse_csv(text: &str) -> std::result::Result<Vec<Vec<String>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let (mut field, mut quoted, mut in_quotes) = (String::new(), false, false);
    let mut line = 1;
    let finish = |field: &mut String, quoted: &mut bool, row: &mut Vec<String>| {
        let f = std::mem::take(field);
        row.push(if *quoted { f } else { f.trim().to_string() });
        *quoted = false;
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes => {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            }
            '"' if !quoted && field.trim().is_empty() => {
                field.clear();
                (quoted, in_quotes) = (true, true);
            }
            ',' if !in_quotes => finish(&mut field, &mut quoted, &mut row),
            '\r' if !in_quotes && chars.peek() == Some(&'\n') => {}
            '\n' if !in_quotes => {
                finish(&mut field, &mut quoted, &mut row);
                if !(row.len() == 1 && row[0].is_empty()) {
                    rows.push(std::mem::take(&mut row));
                }
                row.clear();
                line += 1;
            }
            c => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if in_quotes {
        return Err(format!("a quoted field is not closed (line {line})"));
    }
    if !field.is_empty() || quoted || !row.is_empty() {
        finish(&mut field, &mut quoted, &mut row);
        if !(row.len() == 1 && row[0].is_empty()) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// A `file` cell as a relative path with `/` separators.
fn normalise_key(key: &str) -> String {
    let key = key.replace('\\', "/");
    let mut key = key.as_str();
    while let Some(rest) = key.strip_prefix("./") {
        key = rest;
    }
    key.to_string()
}

fn relative_key(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Per-image binary attributes from a labels CSV: a `file` column (a path
/// relative to the domain folder, or only a file name when no other image
/// has it) and attribute columns. `palette` becomes `warm` (value `warm`),
/// `shape` becomes `round` (value `round`); any other column whose cells are
/// all 0/1, true/false or yes/no (any case) or empty is an attribute of its
/// own name. An image without a row, or with an empty cell, has no label.
fn read_labels(csv: &Path, files: &[PathBuf]) -> Result<BTreeMap<String, Vec<Option<bool>>>> {
    let text = std::fs::read_to_string(csv).map_err(|e| Error::io(csv, e))?;
    let bad = |why: String| Error::InvalidArgument(format!("{}: {why}", csv.display()));
    let mut rows = parse_csv(&text).map_err(bad)?.into_iter();
    let header = rows.next().unwrap_or_default();
    let file_col = header
        .iter()
        .position(|h| h.eq_ignore_ascii_case("file"))
        .ok_or_else(|| bad("no `file` column: each row must name its image".into()))?;
    let rows: Vec<Vec<String>> = rows.collect();

    // Which image each row labels.
    let by_path: HashMap<String, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (relative_key(f), i))
        .collect();
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        if let Some(n) = f.file_name() {
            by_name
                .entry(n.to_string_lossy().into_owned())
                .or_default()
                .push(i);
        }
    }
    let mut row_of: Vec<Option<usize>> = vec![None; files.len()];
    let (mut unmatched, mut ambiguous, mut repeated) = (Vec::new(), Vec::new(), 0usize);
    for (r, row) in rows.iter().enumerate() {
        let key = normalise_key(row.get(file_col).map_or("", String::as_str));
        let image =
            by_path
                .get(&key)
                .copied()
                .or_else(|| match by_name.get(&key).map(Vec::as_slice) {
                    Some([i]) if !key.contains('/') => Some(*i),
                    Some([_, _, ..]) => {
                        ambiguous.push(key.clone());
                        None
                    }
                    _ => {
                        unmatched.push(key.clone());
                        None
                    }
                });
        if let Some(i) = image {
            match row_of[i] {
                None => row_of[i] = Some(r),
                Some(_) => repeated += 1,
            }
        }
    }
    if !unmatched.is_empty() {
        tracing::warn!(
            csv = %csv.display(),
            examples = ?&unmatched[..unmatched.len().min(3)],
            "{} rows name no readable image (left out)",
            unmatched.len()
        );
    }
    if !ambiguous.is_empty() {
        tracing::warn!(
            csv = %csv.display(),
            examples = ?&ambiguous[..ambiguous.len().min(3)],
            "{} rows name a file name several sub-folders hold; give the path (e.g. sub/a.jpg)",
            ambiguous.len()
        );
    }
    if repeated > 0 {
        tracing::warn!(csv = %csv.display(), "{repeated} rows repeat an image; the first row counts");
    }

    let mut out = BTreeMap::new();
    for (col, name) in header.iter().enumerate() {
        if col == file_col {
            continue;
        }
        let (attr, read): (&str, ValueReader) = if name.eq_ignore_ascii_case("palette") {
            ("warm", warm)
        } else if name.eq_ignore_ascii_case("shape") {
            ("round", round)
        } else {
            (name.as_str(), binary)
        };
        let cell = |r: &Vec<String>| read(r.get(col).map_or("", String::as_str));
        if attr.is_empty() || rows.iter().any(|r| cell(r).is_none()) {
            continue;
        }
        let labels: Vec<Option<bool>> = row_of
            .iter()
            .map(|r| r.and_then(|r| cell(&rows[r]).flatten()))
            .collect();
        if labels.iter().all(Option::is_none) {
            tracing::warn!(csv = %csv.display(), attribute = attr, "no image has this label; left out");
            continue;
        }
        if out.insert(attr.to_string(), labels).is_some() {
            tracing::warn!(csv = %csv.display(), attribute = attr, "two columns give this attribute; the last counts");
        }
    }
    Ok(out)
}

impl DomainData {
    /// Lists the images of `dir` and its sub-folders (at most `limit` whose
    /// header reads, in path order), leaving out, with a warning, files that
    /// are empty or whose header does not read, and reads `dir/labels.csv`
    /// when there is one. Only headers are read here (in parallel, a chunk
    /// at a time), never picture data: a file that fails to decode later is
    /// replaced when drawn (see [`DomainData::picture`]). Failures at use
    /// recorded for `dir` by an earlier load are forgotten: the files are
    /// tried afresh.
    pub fn load(name: &str, dir: &Path, limit: Option<usize>) -> Result<DomainData> {
        let all = list_images(dir)?;
        failed_at_use().remove(dir);
        let want = limit.unwrap_or(usize::MAX);
        let (mut files, mut skipped) = (Vec::new(), Vec::new());
        let mut next = 0;
        while next < all.len() && files.len() < want {
            // Never more than the limit still wants: every readable file of a chunk is kept.
            let take = (want - files.len()).min(CHECK_CHUNK);
            let chunk = &all[next..(next + take).min(all.len())];
            next += chunk.len();
            let checked: Vec<Result<()>> = chunk
                .par_iter()
                .map(|f| check_header(&dir.join(f)))
                .collect();
            for (f, ok) in chunk.iter().zip(checked) {
                match ok {
                    Ok(()) => files.push(f.clone()),
                    Err(e) => {
                        tracing::warn!(domain = name, "skipping an unreadable file: {e}");
                        skipped.push(f.clone());
                    }
                }
            }
        }
        if files.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{}: none of its {} image files could be read",
                dir.display(),
                all.len()
            )));
        }
        if !skipped.is_empty() {
            tracing::warn!(
                domain = name,
                skipped = skipped.len(),
                readable = files.len(),
                "unreadable image files left out"
            );
        }
        let csv = dir.join("labels.csv");
        let labels = if csv.exists() {
            read_labels(&csv, &files)?
        } else {
            BTreeMap::new()
        };
        files.shrink_to_fit();
        Ok(DomainData {
            name: name.to_string(),
            root: dir.to_path_buf(),
            files,
            labels,
            skipped,
        })
    }

    /// Readable images.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The full path of image `i`.
    pub fn path(&self, i: usize) -> PathBuf {
        self.root.join(&self.files[i])
    }

    /// Share of images with each attribute, among the images labelled for it.
    /// How many images carry a label for each attribute.
    pub fn labelled_counts(&self) -> BTreeMap<String, usize> {
        self.labels
            .iter()
            .map(|(k, l)| (k.clone(), l.iter().flatten().count()))
            .collect()
    }

    pub fn attribute_shares(&self) -> BTreeMap<String, f64> {
        self.labels
            .iter()
            .map(|(k, l)| {
                let labelled = l.iter().flatten().count();
                let yes = l.iter().flatten().filter(|&&x| x).count();
                (k.clone(), yes as f64 / labelled.max(1) as f64)
            })
            .collect()
    }

    /// Listed files whose header read at load but whose picture data failed
    /// to decode when a picture was taken from them (in this process, since
    /// the folder was last loaded), sorted. Each is left out from its first
    /// failure on; the list grows as training meets them.
    pub fn failed_at_use(&self) -> Vec<PathBuf> {
        let failed = failed_at_use();
        let Some(failed) = failed.get(&self.root) else {
            return Vec::new();
        };
        // Another load of the folder (say with another limit) may have met files this one does not list.
        let listed: HashSet<&PathBuf> = self.files.iter().collect();
        failed
            .iter()
            .filter(|f| listed.contains(f))
            .cloned()
            .collect()
    }

    /// Every file left out as unreadable, at load ([`DomainData::skipped`])
    /// or at first use ([`DomainData::failed_at_use`]), sorted.
    pub fn unreadable(&self) -> Vec<PathBuf> {
        let mut all = self.skipped.clone();
        all.extend(self.failed_at_use());
        all.sort();
        all
    }

    fn known_to_fail(&self, i: usize) -> bool {
        failed_at_use()
            .get(&self.root)
            .is_some_and(|f| f.contains(&self.files[i]))
    }

    /// Records that image `i` failed to decode; warns the first time only.
    fn record_failure(&self, i: usize, e: &Error) {
        let new = failed_at_use()
            .entry(self.root.clone())
            .or_default()
            .insert(self.files[i].clone());
        if new {
            tracing::warn!(
                domain = %self.name,
                "an image file failed to decode and is left out (the next readable image stands in): {e}"
            );
        }
    }

    /// The training picture of image `i` for the random numbers `draw`.
    /// Should the file fail to decode (its header read at load, its picture
    /// data does not), it is left out from then on, counted (see
    /// [`DomainData::failed_at_use`]) and the next image in index order
    /// that decodes stands in, at the same `draw`, rather than ending the run.
    /// Which image stands in depends only on which files decode, never on
    /// timing: the same `i` and `draw` give the same picture whatever the
    /// number of threads, and whether or not an earlier call met the file.
    pub fn picture(
        &self,
        i: usize,
        sampling: Sampling,
        size: usize,
        draw: CropDraw,
    ) -> Result<Picture> {
        let n = self.files.len();
        if i >= n {
            return Err(Error::Internal(format!(
                "image {i} of domain '{}', which has {n}",
                self.name
            )));
        }
        let mut last = None;
        for k in 0..n {
            let j = (i + k) % n;
            // A file that failed once would fail again: it is not decoded twice.
            if self.known_to_fail(j) {
                continue;
            }
            match picture_of(&self.path(j), sampling, size, draw) {
                Ok((pixels, placement)) => {
                    return Ok(Picture {
                        pixels,
                        image: j,
                        placement,
                    })
                }
                Err(e) => {
                    self.record_failure(j, &e);
                    last = Some(e);
                }
            }
        }
        Err(Error::InvalidArgument(format!(
            "{}: none of the {n} image files of domain '{}' decodes{}",
            self.root.display(),
            self.name,
            last.map_or(String::new(), |e| format!(" (the last: {e})"))
        )))
    }

    /// The centre pictures (see [`CropDraw::CENTRE`]) of images `range`,
    /// decoded in parallel, one after another (planar, 3 × size × size each).
    pub fn centre_pictures(
        &self,
        range: Range<usize>,
        sampling: Sampling,
        size: usize,
    ) -> Result<Vec<f32>> {
        let pictures = range
            .into_par_iter()
            .map(|i| self.picture(i, sampling, size, CropDraw::CENTRE))
            .collect::<Result<Vec<_>>>()?;
        Ok(pictures.into_iter().flat_map(|p| p.pixels).collect())
    }
}

/// A batch of training pictures.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// (batch, 3, size, size), planar sRGB in [0, 1].
    pub pixels: Vec<f32>,
    pub domains: Vec<u32>,
    pub images: Vec<usize>,
    pub placements: Vec<Placement>,
}

/// The `batch` pictures of `step` of `purpose`: domain and image of each
/// item from the stream (seed, `purpose`, step), its crop from the stream
/// (seed, `purpose` + `/crop`, step), all drawn before any file is decoded;
/// the files are then decoded in parallel. The same arguments give the same
/// pixels whatever the number of threads.
pub fn draw_batch(
    data: &[DomainData],
    sampling: Sampling,
    size: usize,
    seed: u64,
    purpose: &[u8],
    step: usize,
    batch: usize,
) -> Result<Batch> {
    if data.is_empty() || data.iter().any(DomainData::is_empty) {
        return Err(Error::InvalidArgument(
            "every domain needs at least one image".into(),
        ));
    }
    let mut r = StreamRng::new(seed, purpose, step as u64);
    let mut crops = StreamRng::new(seed, &[purpose, b"/crop"].concat(), step as u64);
    let picks: Vec<(usize, usize, CropDraw)> = (0..batch)
        .map(|_| {
            let d = (r.next_u64() % data.len() as u64) as usize;
            let i = (r.next_u64() % data[d].len() as u64) as usize;
            (d, i, CropDraw::from_stream(&mut crops))
        })
        .collect();
    let pictures = picks
        .par_iter()
        .map(|&(d, i, draw)| data[d].picture(i, sampling, size, draw))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Batch {
        pixels: Vec::with_capacity(batch * 3 * size * size),
        domains: Vec::with_capacity(batch),
        images: Vec::with_capacity(batch),
        placements: Vec::with_capacity(batch),
    };
    for ((d, _, _), p) in picks.iter().zip(pictures) {
        out.pixels.extend_from_slice(&p.pixels);
        out.domains.push(*d as u32);
        out.images.push(p.image);
        out.placements.push(p.placement);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crop(pixel_scale: f64, scale_jitter: f64) -> Sampling {
        Sampling::Crop {
            pixel_scale,
            scale_jitter,
        }
    }

    fn draw(scale: f64, x: f64, y: f64) -> CropDraw {
        CropDraw { scale, x, y }
    }

    /// Oracle by hand: at scale 1 a 300 × 200 file keeps its size and a 64-px
    /// crop has 237 × 137 positions; u = 0.999… picks the last, u = 0 the
    /// first, the centre (300 − 64) / 2. Half the pixel scale
    /// gives 150 × 100; a 1 × 1 file is upscaled to exactly the crop; a
    /// 64 × 640 strip keeps its width and is cropped along its length.
    /// Oracle: the image crate resizes the whole picture and the crop is cut
    /// from it; the window resample must agree up to that resize's rounding
    /// to 8 bits (half a code), at scales down and up and at the edges.
    #[test]
    fn a_resampled_window_equals_the_crop_of_the_whole_resize() {
        let (sw, sh) = (173u32, 121u32);
        let img = image::RgbImage::from_fn(sw, sh, |x, y| {
            image::Rgb([
                (x * 7 + y * 3) as u8,
                ((x * x + y * 5) % 256) as u8,
                ((x ^ y) * 11 % 256) as u8,
            ])
        });
        for (scaled, x, y) in [
            ((61, 43), 0, 0),
            ((61, 43), 61 - 24, 43 - 24),
            ((97, 68), 40, 17),
            ((173, 121), 5, 9),
            ((260, 182), 200, 120),
        ] {
            let placement = Placement { scaled, x, y };
            let size = 24;
            let got = cut(img.clone(), placement, size, |v| f32::from(v) / 255.0);
            let whole = image::imageops::resize(&img, scaled.0, scaled.1, FilterType::Triangle);
            let n = size * size;
            for yy in 0..size {
                for xx in 0..size {
                    let want = whole.get_pixel(x + xx as u32, y + yy as u32);
                    for c in 0..3 {
                        let d = (got[c * n + yy * size + xx] - f32::from(want[c]) / 255.0).abs();
                        assert!(
                            d <= 0.501 / 255.0,
                            "{scaled:?} at ({xx}, {yy}) channel {c}: off by {} codes",
                            d * 255.0
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn placements_follow_the_scale_and_the_draw() {
        let s = crop(1.0, 0.0);
        let last = draw(0.0, 0.999_999, 0.999_999);
        assert_eq!(
            s.place((300, 200), 64, last),
            Placement {
                scaled: (300, 200),
                x: 236,
                y: 136
            }
        );
        assert_eq!(
            s.place((300, 200), 64, draw(0.3, 0.0, 0.0)),
            Placement {
                scaled: (300, 200),
                x: 0,
                y: 0
            }
        );
        assert_eq!(
            s.place((300, 200), 64, CropDraw::CENTRE),
            Placement {
                scaled: (300, 200),
                x: 118,
                y: 68
            }
        );
        assert_eq!(
            crop(0.5, 0.0)
                .place((300, 200), 64, CropDraw::CENTRE)
                .scaled,
            (150, 100)
        );
        assert_eq!(
            s.place((1, 1), 64, last),
            Placement {
                scaled: (64, 64),
                x: 0,
                y: 0
            }
        );
        let strip = s.place((64, 640), 64, last);
        assert_eq!((strip.scaled, strip.x, strip.y), ((64, 640), 0, 576));
        // A 100 × 50 file at half scale is 50 × 25, too small: upscaled by 64/25 → 128 × 64.
        assert_eq!(
            crop(0.5, 0.0).place((100, 50), 64, CropDraw::CENTRE).scaled,
            (128, 64)
        );
        assert_eq!(
            Sampling::Resize.place((300, 200), 64, last),
            Placement {
                scaled: (64, 64),
                x: 0,
                y: 0
            }
        );
    }

    /// Jitter 0.5 puts the scale in [0.5, 1]: u = 0 is scale 1, u → 1 scale
    /// 0.5; every crop stays inside its scaled picture.
    #[test]
    fn jitter_spans_its_range_and_crops_stay_inside() {
        let s = crop(1.0, 0.5);
        assert_eq!(
            s.place((400, 300), 32, draw(0.0, 0.5, 0.5)).scaled,
            (400, 300)
        );
        assert_eq!(
            s.place((400, 300), 32, draw(0.999_999_9, 0.5, 0.5)).scaled,
            (200, 150)
        );
        let mut r = StreamRng::new(5, b"test", 0);
        for _ in 0..2000 {
            let src = (
                1 + (r.next_u64() % 500) as u32,
                1 + (r.next_u64() % 500) as u32,
            );
            let p = s.place(src, 32, CropDraw::from_stream(&mut r));
            assert!(p.scaled.0 >= 32 && p.scaled.1 >= 32, "{src:?} {p:?}");
            assert!(
                p.x + 32 <= p.scaled.0 && p.y + 32 <= p.scaled.1,
                "{src:?} {p:?}"
            );
        }
    }

    #[test]
    fn sampling_options_are_validated() {
        assert!(crop(1.0, 0.0).validate().is_ok());
        assert!(crop(0.25, 0.9).validate().is_ok());
        assert!(Sampling::Resize.validate().is_ok());
        for bad in [
            crop(0.0, 0.0),
            crop(1.5, 0.0),
            crop(1.0, 1.0),
            crop(1.0, -0.1),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(Sampling::default(), crop(1.0, 0.0));
        assert_eq!(Sampling::of_bundle(Some(0.5)).pixel_scale(), Some(0.5));
        assert_eq!(Sampling::of_bundle(None), Sampling::Resize);
    }

    #[test]
    fn csv_fields_may_be_quoted() {
        let rows = parse_csv(
            "\u{feff}file, smiling ,hat\r\n\"a, b.jpg\",1,\"\"\n\n\"say \"\"hi\"\".png\",0,yes\nc.png",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["file", "smiling", "hat"],
                vec!["a, b.jpg", "1", ""],
                vec!["say \"hi\".png", "0", "yes"],
                vec!["c.png"],
            ]
        );
        assert!(parse_csv("file\n\"open").is_err());
        let multi = parse_csv("file,note\nx.png,\"two\nlines\"\n").unwrap();
        assert_eq!(multi[1], vec!["x.png", "two\nlines"]);
    }

    /// Oracle: the rows as written. `a.png` is matched by path, `deep/b.png`
    /// by its unique file name, `c.png` has no row, `d.png` an empty cell;
    /// `note` holds a non-binary value and is no attribute; `palette` maps to
    /// `warm`.
    #[test]
    fn labels_are_matched_by_path_or_unique_name_and_may_be_missing() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("labels.csv");
        std::fs::write(
            &csv,
            "file,Smiling,palette,note\n\
             a.png,TRUE,warm,x\n\
             b.png,no,cool,\n\
             ./d.png,,warm,\n\
             gone.png,1,warm,\n",
        )
        .unwrap();
        let files: Vec<PathBuf> = ["a.png", "c.png", "d.png", "deep/b.png"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let labels = read_labels(&csv, &files).unwrap();
        assert_eq!(labels.keys().collect::<Vec<_>>(), ["Smiling", "warm"]);
        assert_eq!(labels["Smiling"], [Some(true), None, None, Some(false)]);
        assert_eq!(labels["warm"], [Some(true), None, Some(true), Some(false)]);
        // A name two sub-folders hold is not guessed.
        let twice: Vec<PathBuf> = ["x/b.png", "y/b.png"].iter().map(PathBuf::from).collect();
        let labels = read_labels(&csv, &twice).unwrap();
        assert!(labels.is_empty(), "{labels:?}");
    }

    /// Shares count labelled images only: 2 of 3 labelled, one unlabelled.
    #[test]
    fn shares_are_over_labelled_images() {
        let d = DomainData {
            name: "d".into(),
            root: PathBuf::new(),
            files: vec![PathBuf::new(); 4],
            labels: BTreeMap::from([(
                "hat".to_string(),
                vec![Some(true), None, Some(true), Some(false)],
            )]),
            skipped: Vec::new(),
        };
        assert!((d.attribute_shares()["hat"] - 2.0 / 3.0).abs() < 1e-12);
    }

    /// 16-bit files keep their precision: at scale 1 the picture is the
    /// file's samples / 65535 (not rounded to 8 bits first).
    #[test]
    fn sixteen_bit_files_are_read_at_full_precision() {
        let dir = tempfile::tempdir().unwrap();
        let img: image::ImageBuffer<image::Rgb<u16>, Vec<u16>> =
            image::ImageBuffer::from_fn(40, 20, |x, y| {
                image::Rgb([(x * 1601 + y * 7) as u16, (y * 3001) as u16, 257 * 3 + 1])
            });
        let path = dir.path().join("deep.png");
        img.save(&path).unwrap();
        let size = 16;
        let (pixels, at) = picture_of(&path, Sampling::default(), size, CropDraw::CENTRE).unwrap();
        assert_eq!((at.scaled, at.x, at.y), ((40, 20), 12, 2));
        let n = size * size;
        for y in 0..size {
            for x in 0..size {
                let px = img.get_pixel(at.x + x as u32, at.y + y as u32);
                for c in 0..3 {
                    let want = f32::from(px[c]) / 65535.0;
                    let got = pixels[c * n + y * size + x];
                    assert!((got - want).abs() < 1e-6, "({x}, {y}) {c}: {got} vs {want}");
                }
            }
        }
        // 772 / 65535 lies between two 8-bit steps (771 / 65535 = 3 / 255 and 4 / 255).
        assert!((pixels[2 * n] - 772.0 / 65535.0).abs() < 1e-7);
    }

    /// A JPEG of `w × h` pixels as the image crate writes it.
    fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 3) as u8, (x ^ y) as u8])
        });
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        bytes
    }

    /// Counts the bytes read from the file (not those sought over).
    struct Counting<R> {
        inner: R,
        read: usize,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n;
            Ok(n)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    /// Oracle: the size the file was written at. Three 60 KB comment
    /// segments, stray bytes and fill bytes sit before the frame header; the
    /// walk seeks over the segments, so it reads a few KB of a ~190 KB file.
    /// A stream cut inside its header, or with picture data before any frame
    /// header, is refused.
    #[test]
    fn the_jpeg_header_walk_finds_the_size_without_reading_the_file() {
        let plain = jpeg_bytes(50, 30);
        let mut padded = plain[..2].to_vec();
        for k in 0..3u8 {
            padded.extend_from_slice(&[0xFF, 0xFE, 0xEA, 0x62]);
            padded.extend(std::iter::repeat_n(k, 0xEA62 - 2));
        }
        padded.extend_from_slice(b"junk\xFF\xFF");
        padded.extend_from_slice(&plain[2..]);
        assert!(padded.len() > 180_000);
        let walk = |bytes: &[u8]| {
            let mut r = BufReader::with_capacity(
                4096,
                Counting {
                    inner: std::io::Cursor::new(bytes.to_vec()),
                    read: 0,
                },
            );
            let dims = jpeg_dimensions(&mut r);
            (dims, r.into_inner().read)
        };
        assert_eq!(walk(&plain).0, Ok((50, 30)));
        let (dims, read) = walk(&padded);
        assert_eq!(dims, Ok((50, 30)));
        assert!(read < 6 * 4096, "{read} bytes read");
        // The image crate agrees on the padded file, and decodes it.
        let decoded = image::load_from_memory(&padded).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (50, 30));

        let sof = plain
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("a baseline frame header");
        assert!(walk(&plain[..sof + 5])
            .0
            .unwrap_err()
            .contains("ends inside"));
        let mut no_frame = plain[..2].to_vec();
        no_frame.extend_from_slice(&[0xFF, 0xDA, 0, 2, 1, 2, 3, 0xFF, 0xD9]);
        assert!(walk(&no_frame).0.unwrap_err().contains("no frame header"));
        assert!(walk(b"\x89PNG").0.is_err());
    }

    fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    /// Truncated JPEGs pass the header check (the load reads no picture
    /// data) and fail at first use: the next image in index order stands in
    /// (wrapping past the last), the file is counted with those skipped at
    /// load, and batches are the same whether or not the failure was already
    /// known and whatever the number of threads. Oracle for the stand-in:
    /// the picture of the next file at the same draw.
    #[test]
    fn a_file_that_fails_at_first_use_is_replaced_counted_and_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let png = |rel: &str, seed: u32| {
            image::RgbImage::from_fn(90, 70, |x, y| {
                image::Rgb([(x * 3 + seed) as u8, (y * 2) as u8, (x ^ y ^ seed) as u8])
            })
            .save(root.join(rel))
            .unwrap()
        };
        png("a.png", 1);
        png("c.png", 2);
        let whole = jpeg_bytes(120, 80);
        std::fs::write(root.join("b.jpg"), &whole[..whole.len() / 2]).unwrap();
        std::fs::write(root.join("z.jpg"), &whole[..whole.len() - 40]).unwrap();
        std::fs::write(root.join("empty.png"), b"").unwrap();
        assert!(crate::io::decode_with_image_crate(&root.join("b.jpg")).is_err());

        let d = DomainData::load("d", root, None).unwrap();
        let names = |v: &[PathBuf]| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&d.files), ["a.png", "b.jpg", "c.png", "z.jpg"]);
        assert_eq!(names(&d.skipped), ["empty.png"]);
        assert!(d.failed_at_use().is_empty());

        let sampling = Sampling::Crop {
            pixel_scale: 0.9,
            scale_jitter: 0.5,
        };
        let at = draw(0.3, 0.7, 0.2);
        let stand_in = d.picture(1, sampling, 32, at).unwrap();
        assert_eq!(stand_in, d.picture(2, sampling, 32, at).unwrap());
        assert_eq!(stand_in.image, 2);
        assert_eq!(d.picture(3, sampling, 32, at).unwrap().image, 0);
        assert_eq!(names(&d.failed_at_use()), ["b.jpg", "z.jpg"]);
        assert_eq!(names(&d.unreadable()), ["b.jpg", "empty.png", "z.jpg"]);
        // A copy sees the same failures.
        assert_eq!(d.clone().failed_at_use(), d.failed_at_use());

        // Failures unknown (a fresh load) with one thread, known with two: the same batches.
        let batches = |d: &DomainData| {
            (0..4)
                .map(|step| draw_batch(std::slice::from_ref(d), sampling, 32, 7, b"t", step, 8))
                .collect::<Result<Vec<_>>>()
                .unwrap()
        };
        let fresh = DomainData::load("d", root, None).unwrap();
        assert!(
            fresh.failed_at_use().is_empty(),
            "a load tries every file afresh"
        );
        let one = in_pool(1, || batches(&fresh));
        let two = in_pool(2, || batches(&fresh));
        assert!(one == two, "the stand-ins depend on the threads");
        let used: BTreeSet<usize> = one.iter().flat_map(|b| b.images.clone()).collect();
        assert_eq!(used, BTreeSet::from([0, 2]));
        assert_eq!(fresh.unreadable().len(), 3);

        // A domain whose every file fails at use is an error, not a hang.
        let cut = tempfile::tempdir().unwrap();
        std::fs::write(cut.path().join("x.jpg"), &whole[..whole.len() / 2]).unwrap();
        let d = DomainData::load("cut", cut.path(), None).unwrap();
        let e = d.picture(0, sampling, 32, at).unwrap_err().to_string();
        assert!(e.contains("none of the 1 image files"), "{e}");
        assert_eq!(d.unreadable().len(), 1);
    }

    /// Structural memory bound: a domain of 2,000 files holds their paths and
    /// labels and nothing else. The exhaustive pattern below stops compiling
    /// if a field (say, a pixel cache) is added; the byte count, taken from
    /// the fields themselves, stays far below a single 64 × 64 picture per
    /// file (49 KB as f32).
    #[test]
    fn a_domain_of_2000_files_holds_paths_and_labels_only() {
        let dir = tempfile::tempdir().unwrap();
        let px = image::RgbImage::from_pixel(2, 3, image::Rgb([10, 20, 30]));
        let mut csv = String::from("file,hat\n");
        for i in 0..2000 {
            let rel = format!("s{}/img{i:04}.png", i % 7);
            std::fs::create_dir_all(dir.path().join(format!("s{}", i % 7))).unwrap();
            px.save(dir.path().join(&rel)).unwrap();
            csv.push_str(&format!("{rel},{}\n", i % 2));
        }
        std::fs::write(dir.path().join("labels.csv"), csv).unwrap();
        let d = DomainData::load("d", dir.path(), None).unwrap();
        assert_eq!(d.len(), 2000);
        let DomainData {
            name,
            root,
            files,
            labels,
            skipped,
        } = &d;
        let path_bytes = |p: &PathBuf| std::mem::size_of::<PathBuf>() + p.capacity();
        let bytes = name.capacity()
            + path_bytes(root)
            + files.iter().map(path_bytes).sum::<usize>()
            + labels
                .iter()
                .map(|(k, v)| k.capacity() + v.capacity() * std::mem::size_of::<Option<bool>>())
                .sum::<usize>()
            + skipped.iter().map(path_bytes).sum::<usize>();
        assert!(bytes < 2000 * 64, "{bytes} bytes for 2,000 files");
        assert!(bytes > 2000 * 16, "{bytes}: the count missed the paths");
        assert_eq!(std::mem::size_of::<Option<bool>>(), 1);
    }
}
