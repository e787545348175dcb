//! `kOfxImageEffectActionRender`: host images in, the core's one render path,
//! host image out.
//!
//! Addressing: OFX points `OfxImagePropData` at pixel (x1, y1), the
//! *bottom-left* pixel, and row y+1 lies `rowBytes` further (rowBytes may be
//! negative, as MLT sends). Going *down* the picture therefore moves by
//! `-rowBytes`, which is exactly equifx's signed `row_bytes` (positive =
//! top-down); the buffer's lowest address is `data` when rowBytes > 0 and
//! the top row, `data + (h-1)·rowBytes`, when it is negative.
//!
//! Render window: equifx nodes are whole-frame (models and statistics see the
//! full picture), so the full source is rendered and only the window is
//! written; a window smaller than the image (tiles, SMP hosts) thus gives the
//! same pixels as a full render. When the window covers the output, the core
//! writes straight into host memory with no extra copy.
//!
//! Colour: byte and short images are taken as sRGB-encoded, half and float
//! as scene-linear (hosts' usual conventions); alpha follows each image's
//! `OfxImageEffectPropPreMultiplication`.

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};

use equifx::frame::{
    AlphaMode, Channels, ColourSpace, FrameLayout, FrameMut, FrameRef, PixelFormat, SampleType,
};
use equifx::memory::try_vec;
use equifx::node::RenderContext;

use super::abi::*;
use super::describe::input_clip_name;
use super::instance::data;
use super::suites::{Props, Suites};
use crate::guard::FfiError;
use crate::host_bytes::{input_views, HostBytes};
use crate::text::cstring;

/// A fetched image; released when dropped, on every path (ofxImageEffect.h clipReleaseImage).
struct HostImage<'s> {
    s: &'s Suites,
    h: OfxPropertySetHandle,
}

impl Drop for HostImage<'_> {
    fn drop(&mut self) {
        // SAFETY: h came from clipGetImage and is released exactly once, here.
        unsafe { (self.s.effect.clip_release_image)(self.h) };
    }
}

/// Where an image's pixels are, in equifx terms.
struct ImageMemory {
    bounds: OfxRectI,
    layout: FrameLayout,
    /// Lowest address of the pixel memory.
    base: *mut u8,
    len: usize,
}

fn aborted_error() -> FfiError {
    equifx::Error::Aborted.into()
}

fn fetch<'s>(
    s: &'s Suites,
    effect: OfxImageEffectHandle,
    clip: OfxImageClipHandle,
    time: OfxTime,
    label: &str,
) -> Result<HostImage<'s>, FfiError> {
    let mut h: OfxPropertySetHandle = std::ptr::null_mut();
    // SAFETY: clip came from the host; a NULL region asks for the whole image; h is an out-pointer.
    let st = unsafe { (s.effect.clip_get_image)(clip, time, std::ptr::null(), &mut h) };
    if st != OfxStatus::OK || h.is_null() {
        // A failed fetch while aborting is not an error (Examples/Invert).
        if s.aborted(effect) {
            return Err(aborted_error());
        }
        return Err(FfiError::invalid(format!(
            "the host gave no '{label}' image at time {time} (status {}); is the input connected?",
            st.0
        )));
    }
    Ok(HostImage { s, h })
}

fn sample_type(depth: &str) -> Result<SampleType, FfiError> {
    let d = cstring(depth);
    Ok(if d.as_c_str() == OfxBitDepthByte {
        SampleType::U8
    } else if d.as_c_str() == OfxBitDepthShort {
        SampleType::U16
    } else if d.as_c_str() == OfxBitDepthHalf {
        SampleType::F16
    } else if d.as_c_str() == OfxBitDepthFloat {
        SampleType::F32
    } else {
        return Err(FfiError::invalid(format!(
            "pixel depth '{depth}' is not supported: use byte, short, half or float"
        )));
    })
}

fn channels(components: &str) -> Result<Channels, FfiError> {
    let c = cstring(components);
    if c.as_c_str() == OfxImageComponentRGBA {
        Ok(Channels::Rgba)
    } else if c.as_c_str() == OfxImageComponentRGB {
        Ok(Channels::Rgb)
    } else {
        Err(FfiError::invalid(format!(
            "components '{components}' are not supported: use RGBA or RGB"
        )))
    }
}

impl HostImage<'_> {
    fn memory(&self) -> Result<ImageMemory, FfiError> {
        let p = Props::new(self.s, self.h);
        let data = p.get_pointer(OfxImagePropData)? as *mut u8;
        let row_bytes = p.get_int(OfxImagePropRowBytes, 0)? as isize;
        let [x1, y1, x2, y2] = p.get_int4(OfxImagePropBounds)?;
        let bounds = OfxRectI { x1, y1, x2, y2 };
        let format = PixelFormat::new(
            channels(&p.get_string(OfxImageEffectPropComponents, 0)?)?,
            sample_type(&p.get_string(OfxImageEffectPropPixelDepth, 0)?)?,
        );
        let colour = if format.is_float() {
            ColourSpace::Linear
        } else {
            ColourSpace::Srgb
        };
        // Missing or "opaque" premultiplication: colour is not scaled by alpha.
        let premult = p.get_string(OfxImageEffectPropPreMultiplication, 0);
        let alpha = match premult {
            Ok(v) if cstring(&v).as_c_str() == OfxImagePreMultiplied => AlphaMode::Premultiplied,
            _ => AlphaMode::Straight,
        };
        if data.is_null() {
            return Err(FfiError::invalid(
                "the host gave an image without pixel data",
            ));
        }
        let (w, h) = (
            usize::try_from(i64::from(x2) - i64::from(x1)).unwrap_or(0),
            usize::try_from(i64::from(y2) - i64::from(y1)).unwrap_or(0),
        );
        let layout = FrameLayout {
            width: w,
            height: h,
            row_bytes: -row_bytes,
            format,
            colour,
            alpha,
        };
        let len = layout.required_len();
        layout.validate(len)?;
        // rowBytes < 0: the top row (y2-1) is the lowest address.
        let base = if row_bytes < 0 {
            data.wrapping_offset((h as isize - 1) * row_bytes)
        } else {
            data
        };
        Ok(ImageMemory {
            bounds,
            layout,
            base,
            len,
        })
    }
}

impl ImageMemory {
    fn bytes(&self) -> HostBytes {
        HostBytes {
            base: self.base as *const u8,
            len: self.len,
        }
    }
}

fn intersect(a: OfxRectI, b: OfxRectI) -> OfxRectI {
    OfxRectI {
        x1: a.x1.max(b.x1),
        y1: a.y1.max(b.y1),
        x2: a.x2.min(b.x2),
        y2: a.y2.min(b.y2),
    }
}

fn is_empty(r: OfxRectI) -> bool {
    r.x1 >= r.x2 || r.y1 >= r.y2
}

/// progressStart … progressEnd around one render; `progressEnd` runs on drop.
struct Progress<'s> {
    s: &'s Suites,
    effect: usize,
    cancelled: AtomicBool,
}

impl<'s> Progress<'s> {
    fn start(s: &'s Suites, effect: OfxImageEffectHandle, label: &CStr) -> Self {
        if let Some(p) = s.progress {
            // SAFETY: effect is the instance being rendered; label is a C string.
            unsafe { (p.progress_start)(effect.cast(), label.as_ptr()) };
        }
        Progress {
            s,
            effect: effect as usize,
            cancelled: AtomicBool::new(false),
        }
    }

    fn update(&self, fraction: f64) {
        if let Some(p) = self.s.progress {
            // SAFETY: as in start; the instance outlives the render.
            let st = unsafe { (p.progress_update)(self.effect as *mut c_void, fraction) };
            if st == OfxStatus::REPLY_NO {
                self.cancelled.store(true, Ordering::Relaxed);
            }
        }
    }

    fn should_stop(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
            || self.s.aborted(self.effect as OfxImageEffectHandle)
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.s.progress {
            // SAFETY: as in start.
            unsafe { (p.progress_end)(self.effect as *mut c_void) };
        }
    }
}

/// Copies the window `win` (OFX pixel coordinates) of a top-down packed
/// render of area `full` into the output image; window pixels outside
/// `full` become 0 (transparent black), the OFX convention for missing pixels.
fn copy_window(
    src: &FrameRef<'_>,
    full: OfxRectI,
    out: &mut FrameMut<'_>,
    out_bounds: OfxRectI,
    win: OfxRectI,
) -> Result<(), FfiError> {
    let bpp = out.layout().format.bytes_per_pixel();
    let off = |x: i32, x0: i32| (x - x0) as usize * bpp;
    let broken = || FfiError::invalid("render window copy out of bounds (please report)");
    for y in win.y1..win.y2 {
        let dst = out.row_mut((out_bounds.y2 - 1 - y) as usize);
        let dst = dst
            .get_mut(off(win.x1, out_bounds.x1)..off(win.x2, out_bounds.x1))
            .ok_or_else(broken)?;
        dst.fill(0);
        if y < full.y1 || y >= full.y2 {
            continue;
        }
        let (a, b) = (win.x1.max(full.x1), win.x2.min(full.x2));
        if a >= b {
            continue;
        }
        let row = src.row((full.y2 - 1 - y) as usize);
        let from = row
            .get(off(a, full.x1)..off(b, full.x1))
            .ok_or_else(broken)?;
        dst.get_mut(off(a, win.x1)..off(b, win.x1))
            .ok_or_else(broken)?
            .copy_from_slice(from);
    }
    Ok(())
}

/// Renders the window of one frame.
pub(super) fn render(
    s: &Suites,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
) -> Result<OfxStatus, FfiError> {
    let d = data(s, effect)?;
    let args = Props::new(s, in_args);
    let time = args.get_double(OfxPropTime, 0)?;
    let [x1, y1, x2, y2] = args.get_int4(OfxImageEffectPropRenderWindow)?;
    let window = OfxRectI { x1, y1, x2, y2 };
    let instance = d.instance_at(s, time)?;
    if s.aborted(effect) {
        return Err(aborted_error());
    }

    let output = fetch(
        s,
        effect,
        s.clip(effect, OfxImageEffectOutputClipName)?,
        time,
        "Output",
    )?;
    let out_mem = output.memory()?;
    let mut inputs = Vec::with_capacity(d.node.inputs.len());
    for (i, label) in d.node.inputs.iter().enumerate() {
        let clip = s
            .clip(effect, &input_clip_name(d.node, i))
            .map_err(|_| FfiError::invalid(format!("connect the '{label}' input")))?;
        inputs.push(fetch(s, effect, clip, time, label)?);
    }
    let in_mems = inputs
        .iter()
        .map(HostImage::memory)
        .collect::<Result<Vec<_>, _>>()?;

    // The whole frame the node sees: the first input, or the output for generators.
    let full = in_mems.first().map_or(out_mem.bounds, |m| m.bounds);
    if let Some((m, label)) = in_mems
        .iter()
        .zip(&d.node.inputs)
        .find(|(m, _)| m.bounds != full)
    {
        return Err(FfiError::invalid(format!(
            "input '{label}' covers {:?} but the first input covers {full:?}; equifx nodes need inputs of one size",
            m.bounds
        )));
    }
    let win = intersect(window, out_mem.bounds);
    if is_empty(win) {
        return Ok(OfxStatus::OK);
    }

    // A CUDA render hands over device memory: only a build that declared it
    // can read that; anything else asks the host to retry on the CPU.
    let on_gpu = args.get_int(OfxImageEffectPropCudaEnabled, 0).unwrap_or(0) == 1;
    if on_gpu && !super::cuda::available(s) {
        s.report_error(
            effect,
            &format!(
                "{}: the host sent GPU memory, but this equifx build did not declare CUDA render; render on the CPU",
                d.node.label
            ),
        );
        return Ok(OfxStatus::GPU_RENDER_FAILED);
    }
    #[cfg(feature = "cuda")]
    let (in_mems, out_mem, device_out, staged) = {
        let mut staged = Vec::new();
        let mut in_mems = in_mems;
        let mut out_mem = out_mem;
        let device_out = on_gpu.then_some(out_mem.base);
        if on_gpu {
            for m in in_mems.iter_mut().chain(std::iter::once(&mut out_mem)) {
                let mut host = super::cuda::staging::download(m.base, m.len)?;
                m.base = host.as_mut_ptr();
                staged.push(host);
            }
        }
        (in_mems, out_mem, device_out, staged)
    };

    let in_memory = in_mems.iter().map(ImageMemory::bytes).collect::<Vec<_>>();
    // SAFETY: the host guarantees the image memory (len bytes from the lowest
    // address, derived from bounds and rowBytes) is readable until released,
    // and `inputs` keeps every image fetched for this whole function.
    let in_bytes = unsafe { input_views(&in_memory, out_mem.bytes()) }?;
    let frames = in_bytes
        .iter()
        .zip(&in_mems)
        .map(|(b, m)| FrameRef::new(m.layout, b))
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: the host guarantees the output image memory is writable until released;
    // no input view aliases it (overlaps were copied above).
    let out_bytes = unsafe { std::slice::from_raw_parts_mut(out_mem.base, out_mem.len) };
    let mut out_frame = FrameMut::new(out_mem.layout, out_bytes)?;

    let progress = Progress::start(s, effect, &cstring(&d.node.label));
    let report = |f: f64| progress.update(f);
    let stop = || progress.should_stop();
    let ctx = RenderContext::new(Some(&report), Some(&stop));
    let frame_number = time.round() as i64;

    if full == out_mem.bounds && win == out_mem.bounds {
        instance.render(&frames, &mut out_frame, frame_number, &ctx)?;
    } else {
        let (w, h) = ((full.x2 - full.x1) as usize, (full.y2 - full.y1) as usize);
        let l = out_mem.layout;
        let scratch = FrameLayout::packed(w, h, l.format, l.colour, l.alpha);
        let mut buf = try_vec(scratch.required_len(), 0u8, &|| {
            format!("the {w}×{h} frame the render window is cut from")
        })?;
        instance.render(
            &frames,
            &mut FrameMut::new(scratch, &mut buf)?,
            frame_number,
            &ctx,
        )?;
        copy_window(
            &FrameRef::new(scratch, &buf)?,
            full,
            &mut out_frame,
            out_mem.bounds,
            win,
        )?;
    }
    if progress.should_stop() {
        return Err(aborted_error());
    }
    #[cfg(feature = "cuda")]
    if let (Some(device), Some(host)) = (device_out, staged.last()) {
        // The output view into the staging buffer ends here.
        drop(out_frame);
        super::cuda::staging::upload(device, host)?;
    }
    s.clear_error(effect);
    Ok(OfxStatus::OK)
}
