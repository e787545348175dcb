//! The bridge between frames and the bundle's v-space for the fairness nodes:
//! frames are judged and edited at the model's training size (the heads are
//! defined on that latent), and edits reach full-size frames as a residual, so
//! everything the autoencoder cannot reproduce is kept.

use candle_core::Tensor;

use super::Bundle;
use crate::error::{Error, Result};
use crate::fairness::HeadSet;
use crate::frame::{resize, Image};

/// Frames are encoded in batches of this many (bounds memory).
const BATCH: usize = 64;

/// The normalised heads of `domain` in `bundle`, read against the bundle
/// prior's mixture for that domain when it has one.
pub fn head_set(bundle: &Bundle, domain: &str) -> Result<HeadSet> {
    let heads = HeadSet::new(
        bundle.manifest.heads_of(domain)?,
        bundle.manifest.latent_dim(),
    )?;
    match &bundle.prior {
        Some(p) => {
            let d = bundle.manifest.domain_index(domain)?;
            let mixture: Vec<(f64, Vec<f64>)> = p
                .components(d)
                .iter()
                .map(|c| (c.weight, c.mean.clone()))
                .collect();
            heads.with_components(&mixture)
        }
        None => Ok(heads),
    }
}

/// The heads of `domain`, or `None` when it was trained without labels and
/// has label-free groups instead: audits, samplers and plans over groups need
/// no heads. Without either, the error says how to fit heads.
pub fn heads_if_labelled(bundle: &Bundle, domain: &str) -> Result<Option<HeadSet>> {
    let m = &bundle.manifest;
    let name = &m.domains[m.domain_index(domain)?];
    let labelled = m.heads.get(name).is_some_and(|h| !h.is_empty());
    if !labelled && m.groups.contains_key(name) && bundle.prior.is_some() {
        return Ok(None);
    }
    head_set(bundle, domain).map(Some)
}

/// Model-size square tensor (1 × 3 × S × S) of a working-space frame.
/// Non-finite samples (float plates carry them) are read as black, or white
/// for +inf, before the frame is scaled down, so one bad sample shifts only
/// the model pixel it falls in instead of making every score NaN.
fn to_model(bundle: &Bundle, img: &Image) -> Vec<f32> {
    let s = bundle.manifest.image_size;
    let small = if img.data().iter().all(|v| v.is_finite()) {
        resize(img, s, s)
    } else {
        let mut finite = img.clone();
        for v in finite.data_mut().iter_mut().filter(|v| !v.is_finite()) {
            *v = if *v == f32::INFINITY { 1.0 } else { 0.0 };
        }
        resize(&finite, s, s)
    };
    let space = bundle.manifest.colour_space;
    small.data()[..3 * s * s]
        .iter()
        .map(|&v| space.from_linear(v).clamp(0.0, 1.0))
        .collect()
}

/// Model-size images (B × 3 × S × S, model encoding) back to working-space images.
fn from_model(bundle: &Bundle, t: &Tensor) -> Result<Vec<Image>> {
    let (b, _, h, w) = t.dims4()?;
    let all = t.clamp(0.0, 1.0)?.flatten_all()?.to_vec1::<f32>()?;
    let space = bundle.manifest.colour_space;
    (0..b)
        .map(|i| {
            let mut data: Vec<f32> = all[i * 3 * h * w..(i + 1) * 3 * h * w]
                .iter()
                .map(|&v| space.to_linear(v))
                .collect();
            data.extend(std::iter::repeat_n(1.0, h * w));
            Image::from_planes(w, h, data)
        })
        .collect()
}

/// The fairness space's coordinates of each frame under `domain`, one
/// `latent_dim` vector per frame: v = F(E(x); d), whitened by the bundle's
/// prior when it has one.
pub fn encode(bundle: &Bundle, frames: &[Image], domain: usize) -> Result<Vec<Vec<f32>>> {
    let s = bundle.manifest.image_size;
    let mut out = Vec::with_capacity(frames.len());
    for chunk in frames.chunks(BATCH) {
        let flat: Vec<f32> = chunk.iter().flat_map(|f| to_model(bundle, f)).collect();
        let x = Tensor::from_vec(flat, (chunk.len(), 3, s, s), &bundle.device)?;
        let vs = bundle
            .encode_v(&x, domain)?
            .flatten_from(1)?
            .to_vec2::<f32>()?;
        out.extend(vs.into_iter().map(|v| match &bundle.prior {
            Some(p) => p.whiten(domain, &v),
            None => v,
        }));
    }
    Ok(out)
}

/// Model-size images of `domain` decoded from fairness-space coordinates
/// (the inverse of [`encode`]).
pub fn decode(bundle: &Bundle, vs: &[Vec<f32>], domain: usize) -> Result<Vec<Image>> {
    let mut out = Vec::with_capacity(vs.len());
    for chunk in vs.chunks(BATCH) {
        out.extend(from_model(bundle, &decode_chunk(bundle, chunk, domain)?)?);
    }
    Ok(out)
}

/// Per picture, the pixel reader's probability of each attribute asked for.
pub type Readings = Vec<Vec<f32>>;

/// Like [`decode`], and each picture as the bundle's pixel reader reads it:
/// the probability of each of `attributes` (NaN for one the reader does not
/// read in this domain). `None` for a bundle without a reader.
pub fn decode_and_read(
    bundle: &Bundle,
    vs: &[Vec<f32>],
    domain: usize,
    attributes: &[String],
) -> Result<(Vec<Image>, Option<Readings>)> {
    let Some(reader) = &bundle.reader else {
        return Ok((decode(bundle, vs, domain)?, None));
    };
    let name = &bundle.manifest.domains[domain];
    let index: Vec<Option<usize>> = attributes
        .iter()
        .map(|a| reader.output_of(name, a))
        .collect();
    let (mut images, mut read) = (Vec::with_capacity(vs.len()), Vec::with_capacity(vs.len()));
    for chunk in vs.chunks(BATCH) {
        let pictures = decode_chunk(bundle, chunk, domain)?;
        let p = candle_nn::ops::sigmoid(&reader.logits(&pictures.clamp(0.0, 1.0)?)?)?
            .to_vec2::<f32>()?;
        read.extend(p.iter().map(|row| {
            index
                .iter()
                .map(|i| i.map_or(f32::NAN, |i| row[i]))
                .collect()
        }));
        images.extend(from_model(bundle, &pictures)?);
    }
    Ok((images, Some(read)))
}

/// The decoder's pictures (B × 3 × S × S, model encoding) of a chunk of `vs`.
fn decode_chunk(bundle: &Bundle, chunk: &[Vec<f32>], domain: usize) -> Result<Tensor> {
    let (c, side) = (
        bundle.manifest.architecture.latent_channels,
        bundle.manifest.image_size / super::ModelConfig::STRIDE,
    );
    if let Some(bad) = chunk.iter().find(|v| v.len() != c * side * side) {
        return Err(Error::InvalidArgument(format!(
            "a latent of {} values; this model's latent has {}",
            bad.len(),
            c * side * side
        )));
    }
    let flat: Vec<f32> = match &bundle.prior {
        Some(p) => chunk.iter().flat_map(|e| p.colour(domain, e)).collect(),
        None => chunk.iter().flatten().copied().collect(),
    };
    let v = Tensor::from_vec(flat, (chunk.len(), c, side, side), &bundle.device)?;
    bundle.decode_v(&v, domain)
}

/// Scales a model-size square picture to `w × h`, covering the frame and
/// cropping the overflow centrally (no stretching of non-square frames).
pub fn fit_to_frame(img: &Image, w: usize, h: usize) -> Image {
    let side = w.max(h);
    let big = resize(img, side, side);
    let (x0, y0) = ((side - w) / 2, (side - h) / 2);
    let mut data = Vec::with_capacity(4 * w * h);
    for c in 0..4 {
        let p = big.plane(c);
        for y in 0..h {
            data.extend_from_slice(&p[(y0 + y) * side + x0..(y0 + y) * side + x0 + w]);
        }
    }
    Image::from_planes(w, h, data).unwrap_or_else(|_| Image::new(w, h))
}

/// Applies a latent edit to a full-size frame: the frame plus the upscaled
/// difference between the decoded edited and unedited latents. Alpha is kept.
pub fn apply_edit(
    bundle: &Bundle,
    frame: &Image,
    v: &[f32],
    edited: &[f32],
    domain: usize,
) -> Result<Image> {
    let pair = decode(bundle, &[v.to_vec(), edited.to_vec()], domain)?;
    let (w, h) = (frame.width(), frame.height());
    let (before, after) = (resize(&pair[0], w, h), resize(&pair[1], w, h));
    let mut out = frame.clone();
    let n = w * h;
    for c in 0..3 {
        let (a, b) = (after.plane(c), before.plane(c));
        out.data_mut()[c * n..(c + 1) * n]
            .iter_mut()
            .enumerate()
            .for_each(|(k, o)| *o = (*o + a[k] - b[k]).max(0.0));
    }
    Ok(out)
}
