//! Domain Transfer: the same content rendered in another learned domain.
//!
//! net2net (Esser, Rombach, Ommer, *Network-to-Network Translation with
//! Conditional Invertible Neural Networks*; *A Note on Data Biases in
//! Generative Models*, arXiv 2012.02516): v = F(E(x); a), z' = F⁻¹(v; b),
//! x' = D(z'). The network runs at the model's own scale (the frame's
//! resolution for bundles trained on crops, the training size for bundles
//! trained on whole pictures) or the one the artist sets, in tiles, and what
//! the autoencoder cannot reproduce is carried over in proportion to
//! 1 − strength, so strength 0 is exactly the input. Scene-linear light above
//! what the network knows goes around it ([`crate::frame::highlights`]).
//!
//! History: 1.0 — first version; 2.0 — domains are the bundle's names
//! (text), not a fixed menu; highlights above 1 are kept.

use candle_core::Tensor;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::frame::highlights::{restore, split};
use crate::frame::{try_resize, ColourSpace, Image};
use crate::memory::{ensure_available, image_bytes, out_of_memory, try_with_capacity};
use crate::model::Bundle;
use crate::node::{Node, RenderRequest};
use crate::params::ParamValues;
use crate::tiling::{pad_reflect, process_tiled, Tiling};

use super::model_params::{domain, load_bundle};

pub const ID: &str = "org.equifx.DomainTransfer";

pub struct DomainTransfer;

/// Memory the network takes per pixel it runs on, per channel of the
/// autoencoder's first stage: the shipped model (16 channels) peaks at about
/// 260 bytes per pixel on the CPU, frames included (a whole `equifx
/// transfer` of 1080p and 4K frames in one window: 650 MB for 2.5 MP,
/// 2.2 GB for 9.1 MP), 16 a channel; 32 leaves room for wider models whose
/// layers hold more channels per pixel.
const NETWORK_BYTES_PER_PIXEL_AND_CHANNEL: u64 = 32;

fn to_model_tensor(img: &Image, bundle: &Bundle) -> Result<Tensor> {
    let space = bundle.manifest.colour_space;
    let (w, h) = (img.width(), img.height());
    let mut rgb = try_with_capacity(3 * w * h, &|| format!("the {w}×{h} network input"))?;
    rgb.par_extend(
        img.data()[..3 * w * h]
            .par_iter()
            .map(|&v| space.from_linear(v).clamp(0.0, 1.0)),
    );
    Ok(Tensor::from_vec(rgb, (1, 3, h, w), &bundle.device)?)
}

/// The network's output, clamped to 0 … 1, as an image with `alpha`.
fn from_model_tensor(t: &Tensor, alpha: &[f32], space: ColourSpace) -> Result<Image> {
    let (_, _, h, w) = t.dims4()?;
    let mut data: Vec<f32> = t.flatten_all()?.to_vec1::<f32>()?;
    data.par_iter_mut().for_each(|v| {
        // max/min, not clamp: a NaN from the network becomes 0, not NaN.
        #[allow(clippy::manual_clamp)]
        let c = v.max(0.0).min(1.0);
        *v = space.to_linear(c);
    });
    data.try_reserve_exact(alpha.len())
        .map_err(|_| out_of_memory(image_bytes(w, h), &|| format!("the {w}×{h} network output")))?;
    data.extend_from_slice(alpha);
    Image::from_planes(w, h, data)
}

/// Checks, before the network runs, that the memory it will take on the
/// CPU for its largest input of `pixels` can be had: candle's tensors abort
/// the process when an allocation fails, so this is the last point where
/// running out of memory is an error. GPU memory is the device's business.
fn ensure_network_memory(bundle: &Bundle, pixels: usize, side: (usize, usize)) -> Result<()> {
    if !bundle.device.is_cpu() {
        return Ok(());
    }
    let channels = bundle.manifest.architecture.ae_channels[0] as u64;
    let bytes = (pixels as u64)
        .saturating_mul(channels)
        .saturating_mul(NETWORK_BYTES_PER_PIXEL_AND_CHANNEL);
    ensure_available(bytes, &|| {
        format!(
            "the network on a {}×{} window (Model Resolution, Tile Size)",
            side.0, side.1
        )
    })
}

/// Translates one model-resolution image (sides multiples of the model's alignment).
fn translate_tile(
    bundle: &Bundle,
    tile: &Image,
    from: usize,
    to: usize,
    strength: f64,
) -> Result<Image> {
    let x = to_model_tensor(tile, bundle)?;
    let blended = match bundle.translate(&x, from, to, strength)? {
        // Keep what the autoencoder misses in proportion to 1 − strength.
        (out, Some(recon)) => (out + ((x - recon)? * (1.0 - strength))?)?,
        (out, None) => out,
    };
    from_model_tensor(&blended, tile.plane(3), bundle.manifest.colour_space)
}

impl Node for DomainTransfer {
    fn id(&self) -> &'static str {
        ID
    }

    fn is_identity(&self, params: &ParamValues) -> bool {
        params.float("strength").is_ok_and(|s| s == 0.0)
    }

    fn render(&self, req: &RenderRequest<'_>) -> Result<Image> {
        let input = req.inputs.first().ok_or_else(|| {
            Error::InvalidArgument("Domain Transfer needs its Source input".into())
        })?;
        let p = req.params;
        let bundle = load_bundle(p)?;
        let m = &bundle.manifest;
        let strength = p.float("strength")?;
        let to = domain(p, "target", &bundle)?;
        let (w, h) = (input.width(), input.height());
        let align = m.architecture.align();
        let parts = split(input)?;
        let input = &parts.display;
        let keep = (1.0 - strength) as f32;

        // Model resolution: the shorter side the network sees, never above the frame's.
        let want = match (p.int("resolution")?, m.pixel_scale) {
            (0, Some(scale)) => (w.min(h) as f64 * scale).round().max(1.0) as usize,
            (0, None) => m.image_size,
            (r, _) => r as usize,
        };
        let scale = (want as f64 / w.min(h) as f64).min(1.0);
        let (ww, wh) = (
            ((w as f64 * scale).round() as usize).max(1),
            ((h as f64 * scale).round() as usize).max(1),
        );
        let small = try_resize(input, ww, wh)?;

        let from = match p.text("source")? {
            s if s.eq_ignore_ascii_case("auto") => {
                // Detect on the whole (padded) frame at model resolution.
                let (pw, ph) = (ww.div_ceil(align) * align, wh.div_ceil(align) * align);
                ensure_network_memory(&bundle, pw * ph, (pw, ph))?;
                let padded = pad_reflect(&small, pw, ph)?;
                bundle.detect_domain(&to_model_tensor(&padded, &bundle)?)?
            }
            _ => domain(p, "source", &bundle)?,
        };

        let tile = (p.int("tile_size")? as usize / align * align).max(align);
        let overlap = (p.int("tile_overlap")? as usize).min(tile / 2);
        let tiling = Tiling {
            tile,
            overlap,
            align,
            halo: crate::tiling::DEFAULT_HALO,
            // Crops saw surroundings, whole pictures their bare edges; a whole
            // picture run above its training size is seen as a mosaic of
            // windows, which surroundings suit again.
            border: if m.pixel_scale.is_some() || ww.min(wh) > m.image_size {
                crate::tiling::DEFAULT_BORDER
            } else {
                0
            },
        };
        let (tw, th) = tiling.largest_window(ww, wh);
        ensure_network_memory(&bundle, tw * th, (tw, th))?;
        let out_small = process_tiled(
            &small,
            tiling,
            |t| translate_tile(&bundle, t, from, to, strength),
            |done, total| {
                req.ctx.progress(done as f64 / total as f64);
                req.ctx.check_abort()
            },
        )?;

        if (ww, wh) == (w, h) {
            let mut out = out_small;
            restore(&mut out, &parts, keep);
            return Ok(out);
        }
        // Back to the frame size; the input's own fine detail is kept in
        // proportion to 1 − strength.
        let up = try_resize(&out_small, w, h)?;
        let up_in = try_resize(&small, w, h)?;
        let mut out = up;
        let n = w * h;
        for c in 0..3 {
            let (o, i, u) = (
                &mut out.data_mut()[c * n..(c + 1) * n],
                input.plane(c),
                up_in.plane(c),
            );
            for k in 0..n {
                o[k] += keep * (i[k] - u[k]);
            }
        }
        out.plane_mut(3).copy_from_slice(input.plane(3));
        restore(&mut out, &parts, keep);
        Ok(out)
    }
}
