//! The OpenFX bundle in a test host (`ofxhost/`), under the quirks real
//! hosts have (docs/openfx.md): bottom-up images with negative row
//! bytes, repeated Load without Unload, an instance per frame, unknown
//! properties refused, abort mid-render, a render window smaller than the
//! image, byte/short/half/float depths and renders from several threads.
//!
//! The oracle for pixels is the C ABI of the same library, rendering the
//! same bytes with the same parameters: OFX output must equal it byte for
//! byte (both run the core's one render path; any difference is an adapter
//! bug in addressing, colour or alpha handling). A per-pixel node cannot
//! tell an image from its vertical flip, so row order is pinned separately
//! by the render-window test, whose window is not symmetric.

mod common;
mod ofxhost;

use std::ffi::{c_uint, c_void, CString};
use std::sync::atomic::Ordering;

use common::Lib;
use equifx_ffi::capi::frame::equifx_frame;
use equifx_ffi::capi::status::equifx_status;
use equifx_ffi::ofx::abi::{OfxRectI, OfxStatus};
use ofxhost::objects::Message;
use ofxhost::props::{s, Value};
use ofxhost::{plugin_id, plugins, Depth, Effect, HostBuffer, ImageSpec, Session, PV};

const EXPOSURE: &str = "org.equifx.Exposure";
const SENTINEL: u8 = 0xAB;

fn rect(x1: i32, y1: i32, x2: i32, y2: i32) -> OfxRectI {
    OfxRectI { x1, y1, x2, y2 }
}

fn spec(depth: Depth, negative_row_bytes: bool, premultiplied: bool) -> ImageSpec {
    ImageSpec {
        // Bounds away from the origin, so addressing must use x1/y1.
        bounds: rect(3, -2, 14, 7),
        depth,
        negative_row_bytes,
        pad: 8,
        premultiplied,
    }
}

/// Valid sample bytes for the depth (finite halves and floats).
fn input_bytes(spec: &ImageSpec, seed: u32) -> Vec<u8> {
    match spec.depth {
        Depth::Byte | Depth::Short => common::pattern(spec.len(), seed),
        Depth::Half => {
            let mut b = common::pattern(spec.len(), seed);
            // Exponent below all-ones: finite values in [0, 1).
            for pair in b.chunks_mut(2) {
                pair[1] &= 0x3b;
            }
            b
        }
        Depth::Float => common::pattern_f32(spec.len() / 4, seed),
    }
}

/// The C ABI rendering of the same memory: the reference output.
fn cabi_render(lib: &Lib, params: &[(&str, f64)], spec: &ImageSpec, input: &[u8]) -> Vec<u8> {
    let inst = lib.new_instance(EXPOSURE);
    for (name, v) in params {
        let n = CString::new(*name).unwrap();
        assert_eq!(
            (lib.entry.instance_set_float)(inst, n.as_ptr(), *v),
            equifx_status::EQUIFX_STATUS_OK
        );
    }
    let format = match spec.depth {
        Depth::Byte => 0x00,
        Depth::Short => 0x01,
        Depth::Half => 0x02,
        Depth::Float => 0x03,
    };
    let colour = u32::from(matches!(spec.depth, Depth::Half | Depth::Float));
    // Same memory, described from the top: MLT-style memory is top row first.
    let stride = spec.stride() as isize;
    let row_bytes = if spec.negative_row_bytes {
        stride
    } else {
        -stride
    };
    let (w, h) = (spec.width() as u32, spec.height() as u32);
    let mut src = input.to_vec();
    let mut out = vec![SENTINEL; spec.len()];
    let fi = common::frame(
        w,
        h,
        format,
        colour,
        u32::from(spec.premultiplied),
        row_bytes,
        &mut src,
    );
    let fo = common::frame(
        w,
        h,
        format,
        colour,
        u32::from(spec.premultiplied),
        row_bytes,
        &mut out,
    );
    let st = (lib.entry.instance_render)(
        inst,
        &fi as *const equifx_frame,
        1,
        &fo,
        0,
        std::ptr::null(),
    );
    assert_eq!(st, equifx_status::EQUIFX_STATUS_OK, "{}", lib.last_error());
    (lib.entry.instance_free)(inst);
    out
}

fn set_params(inst: &Effect, params: &[(&str, f64)]) {
    for (name, v) in params {
        inst.param(name).set_key(f64::NEG_INFINITY, PV::D(*v));
    }
}

/// Attaches a source and a fresh (sentinel-filled) output image; returns the output.
fn attach(inst: &Effect, spec: &ImageSpec, input: &[u8]) -> std::sync::Arc<HostBuffer> {
    inst.set_image("Source", Some(HostBuffer::new(*spec, input.to_vec())));
    let out = HostBuffer::new(*spec, vec![SENTINEL; spec.len()]);
    inst.set_image("Output", Some(out.clone()));
    out
}

fn errors(inst: &Effect) -> Vec<Message> {
    inst.messages
        .lock()
        .iter()
        .filter(|m| m.kind == "OfxMessageError")
        .cloned()
        .collect()
}

#[test]
fn every_manifest_node_is_a_plugin_described_from_the_manifest() {
    let nodes = equifx::manifest::nodes();
    let ids: Vec<String> = plugins().list.iter().map(|p| plugin_id(p)).collect();
    assert_eq!(ids, nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>());
    for (p, n) in plugins().list.iter().zip(nodes) {
        assert_eq!(
            (p.plugin_version_major, p.plugin_version_minor),
            (n.version[0], n.version[1])
        );
        assert_eq!(p.api_version, 1);
        let session = Session::new(&n.id, false, &[]);
        assert_eq!(session.load(), OfxStatus::OK);
        let desc = session.describe();
        assert_eq!(
            desc.props.string("OfxPropLabel", 0).as_deref(),
            Some(n.label.as_str())
        );
        assert_eq!(
            desc.props
                .string("OfxImageEffectPluginPropGrouping", 0)
                .as_deref(),
            Some(n.group.as_str())
        );
        let contexts = desc.props.strings("OfxImageEffectPropSupportedContexts");
        let first = if n.is_generator() {
            "OfxImageEffectContextGenerator"
        } else {
            "OfxImageEffectContextFilter"
        };
        assert_eq!(
            contexts,
            vec![first.to_string(), "OfxImageEffectContextGeneral".into()]
        );
        assert_eq!(
            desc.props
                .strings("OfxImageEffectPropSupportedPixelDepths")
                .len(),
            4
        );
        assert_eq!(
            desc.props
                .string("OfxImageEffectPluginRenderThreadSafety", 0)
                .as_deref(),
            Some("OfxImageEffectRenderFullySafe")
        );
        let ctx = session.describe_in_context(&desc, first);
        let clips: Vec<String> = ctx.clips.lock().iter().map(|c| c.name.clone()).collect();
        let mut want = vec!["Output".to_string()];
        if !n.is_generator() {
            want.push("Source".into());
        }
        assert_eq!(clips[..want.len()], want[..]);
        for param in &n.params {
            let p = ctx.param(&param.id);
            assert_eq!(
                p.props.string("OfxPropLabel", 0).as_deref(),
                Some(param.label.as_str())
            );
            if let equifx::params::ParamKind::Float {
                min, max, default, ..
            } = param.kind
            {
                assert_eq!(p.kind, "OfxParamTypeDouble");
                assert_eq!(p.props.double("OfxParamPropDefault", 0), Some(default));
                assert_eq!(p.props.double("OfxParamPropMin", 0), Some(min));
                assert_eq!(p.props.double("OfxParamPropMax", 0), Some(max));
            }
        }
        assert_eq!(session.unload(), OfxStatus::OK);
    }
}

#[test]
fn ofx_output_equals_the_c_abi_for_every_depth_row_order_and_alpha_mode() {
    let lib = Lib::load();
    let session = Session::new(EXPOSURE, false, &[]);
    let inst = session.instance();
    let params = [("exposure", 0.7), ("gain", 1.3)];
    set_params(&inst, &params);
    for depth in [Depth::Byte, Depth::Short, Depth::Half, Depth::Float] {
        for negative in [true, false] {
            for premult in [true, false] {
                let sp = spec(depth, negative, premult);
                let input = input_bytes(&sp, 7);
                let out = attach(&inst, &sp, &input);
                assert_eq!(
                    session.render(&inst, 0.0, sp.bounds),
                    OfxStatus::OK,
                    "{:?}",
                    errors(&inst)
                );
                let want = cabi_render(&lib, &params, &sp, &input);
                assert!(
                    out.bytes() == want,
                    "{depth:?} negative rowBytes={negative} premultiplied={premult}"
                );
                // Negative control: the comparison can fail (different exposure differs).
                let other = cabi_render(&lib, &[("exposure", 0.6), ("gain", 1.3)], &sp, &input);
                assert!(
                    out.bytes() != other,
                    "{depth:?}: the oracle does not discriminate"
                );
                assert_eq!(
                    inst.images_out.load(Ordering::SeqCst),
                    0,
                    "images not released"
                );
            }
        }
    }
    session.destroy(inst);
    assert_eq!(session.unload(), OfxStatus::OK);
}

#[test]
fn mlt_style_load_and_instance_per_frame_reads_parameters_at_the_render_time() {
    let lib = Lib::load();
    let session = Session::new(EXPOSURE, false, &[]);
    let sp = spec(Depth::Byte, true, false);
    let input = input_bytes(&sp, 11);
    for frame in 0..12 {
        // MLT: Load, Describe, DescribeInContext, CreateInstance … for every frame, no Unload.
        assert_eq!(session.load(), OfxStatus::OK);
        let desc = session.describe();
        let ctx = session.describe_in_context(&desc, "OfxImageEffectContextFilter");
        let inst = session.create_instance(&ctx, "OfxImageEffectContextFilter");
        // Animated exposure: 0 up to frame 5, then 1.5 (keyframes).
        inst.param("exposure").set_key(0.0, PV::D(0.0));
        inst.param("exposure").set_key(6.0, PV::D(1.5));
        let out = attach(&inst, &sp, &input);
        let t = f64::from(frame);
        assert_eq!(
            session
                .timed_action(
                    "OfxImageEffectActionGetClipPreferences",
                    &inst,
                    t,
                    sp.bounds
                )
                .0,
            OfxStatus::REPLY_DEFAULT
        );
        assert_eq!(
            session
                .timed_action(
                    "OfxImageEffectActionGetRegionsOfInterest",
                    &inst,
                    t,
                    sp.bounds
                )
                .0,
            OfxStatus::OK
        );
        assert_eq!(
            session
                .timed_action(
                    "OfxImageEffectActionBeginSequenceRender",
                    &inst,
                    t,
                    sp.bounds
                )
                .0,
            OfxStatus::REPLY_DEFAULT
        );
        assert_eq!(
            session.render(&inst, t, sp.bounds),
            OfxStatus::OK,
            "{:?}",
            errors(&inst)
        );
        assert_eq!(
            session
                .timed_action("OfxImageEffectActionEndSequenceRender", &inst, t, sp.bounds)
                .0,
            OfxStatus::REPLY_DEFAULT
        );
        let exposure = if frame < 6 { 0.0 } else { 1.5 };
        assert!(
            out.bytes() == cabi_render(&lib, &[("exposure", exposure)], &sp, &input),
            "frame {frame}"
        );
        session.destroy(inst);
    }
    assert_eq!(session.unload(), OfxStatus::OK);
}

#[test]
fn a_strict_host_refuses_unknown_properties_and_the_plugin_still_renders() {
    let lib = Lib::load();
    let session = Session::new(EXPOSURE, true, &[]);
    assert_eq!(session.load(), OfxStatus::OK);
    let desc = session.describe();
    // The quirk fired: the plugin set properties this host does not know.
    assert!(
        desc.props.refused.load(Ordering::Relaxed) > 0,
        "no property was refused: the quirk is not exercised"
    );
    let ctx = session.describe_in_context(&desc, "OfxImageEffectContextFilter");
    let refused_params: usize = ctx
        .params
        .params
        .lock()
        .iter()
        .map(|p| p.props.refused.load(Ordering::Relaxed))
        .sum();
    assert!(refused_params > 0);
    let inst = session.create_instance(&ctx, "OfxImageEffectContextFilter");
    set_params(&inst, &[("exposure", -1.0)]);
    let sp = spec(Depth::Float, true, true);
    let input = input_bytes(&sp, 3);
    let out = attach(&inst, &sp, &input);
    assert_eq!(session.render(&inst, 0.0, sp.bounds), OfxStatus::OK);
    assert!(out.bytes() == cabi_render(&lib, &[("exposure", -1.0)], &sp, &input));
    session.destroy(inst);
}

#[test]
fn abort_raised_mid_render_stops_quietly_and_releases_every_image() {
    let lib = Lib::load();
    let session = Session::new(EXPOSURE, false, &[]);
    let inst = session.instance();
    set_params(&inst, &[("exposure", 1.0)]);
    let sp = spec(Depth::Byte, true, false);
    let input = input_bytes(&sp, 5);
    let want = cabi_render(&lib, &[("exposure", 1.0)], &sp, &input);
    let untouched = vec![SENTINEL; sp.len()];
    let mut stopped_early = 0;
    for after in 0..8 {
        inst.abort_calls.store(0, Ordering::SeqCst);
        inst.abort_after.store(after, Ordering::SeqCst);
        let out = attach(&inst, &sp, &input);
        assert_eq!(
            session.render(&inst, 0.0, sp.bounds),
            OfxStatus::OK,
            "abort after {after} calls"
        );
        assert!(
            errors(&inst).is_empty(),
            "an abort is not an error: {:?}",
            errors(&inst)
        );
        assert_eq!(
            inst.images_out.load(Ordering::SeqCst),
            0,
            "images leaked on abort"
        );
        assert_eq!(
            inst.progress_open.load(Ordering::SeqCst),
            0,
            "progress not ended on abort"
        );
        let got = out.bytes();
        // Never half a frame: either nothing was written or the whole result.
        assert!(
            got == untouched || got == want,
            "abort after {after}: partial output"
        );
        stopped_early += usize::from(got == untouched);
    }
    // The host's abort was really consulted during the render.
    assert!(stopped_early > 0);
    session.destroy(inst);
}

#[test]
fn a_render_window_smaller_than_the_image_writes_only_the_window() {
    let lib = Lib::load();
    let session = Session::new(EXPOSURE, false, &[]);
    let inst = session.instance();
    set_params(&inst, &[("exposure", 0.5)]);
    for negative in [true, false] {
        let sp = spec(Depth::Float, negative, true);
        let input = input_bytes(&sp, 9);
        let full = cabi_render(&lib, &[("exposure", 0.5)], &sp, &input);
        // Interior window, and one sticking out of the bounds (clipped).
        for win in [rect(5, 0, 11, 4), rect(0, 3, 9, 20)] {
            let out = attach(&inst, &sp, &input);
            assert_eq!(session.render(&inst, 0.0, win), OfxStatus::OK);
            let got = out.bytes();
            let b = sp.bounds;
            let bpp = sp.bpp();
            let mut inside = 0;
            for y in b.y1..b.y2 {
                // Memory row of OFX row y (MLT memory is top row first).
                let mem_row = if negative {
                    (b.y2 - 1 - y) as usize
                } else {
                    (y - b.y1) as usize
                };
                for x in b.x1..b.x2 {
                    let o = mem_row * sp.stride() + (x - b.x1) as usize * bpp;
                    let (g, f) = (&got[o..o + bpp], &full[o..o + bpp]);
                    if x >= win.x1 && x < win.x2 && y >= win.y1 && y < win.y2 {
                        assert_eq!(g, f, "pixel ({x},{y}) in the window");
                        inside += 1;
                    } else {
                        assert!(
                            g.iter().all(|&v| v == SENTINEL),
                            "pixel ({x},{y}) outside the window was written"
                        );
                    }
                }
            }
            assert!(inside > 0);
        }
    }
    // RoI: the whole source is asked for, whatever the window (whole-frame nodes).
    let sp = spec(Depth::Byte, true, false);
    attach(&inst, &sp, &input_bytes(&sp, 1));
    let (st, out) = session.timed_action(
        "OfxImageEffectActionGetRegionsOfInterest",
        &inst,
        0.0,
        rect(5, 0, 6, 1),
    );
    assert_eq!(st, OfxStatus::OK);
    let roi: Vec<f64> = (0..4)
        .map(|i| out.double("OfxImageClipPropRoI_Source", i).unwrap())
        .collect();
    assert_eq!(roi, vec![3.0, -2.0, 14.0, 7.0]);
    session.destroy(inst);
}

struct ThreadWork<'a> {
    session: &'a Session,
    shared: &'a Effect,
    spec: ImageSpec,
    params: Vec<(&'static str, f64)>,
    inputs: Vec<Vec<u8>>,
    expected: Vec<Vec<u8>>,
    /// Outputs of the shared instance, by frame.
    shared_outputs: Vec<std::sync::Arc<HostBuffer>>,
    failures: parking_lot::Mutex<Vec<String>>,
}

const FRAMES_PER_THREAD: u32 = 3;

extern "C" fn render_thread(index: c_uint, _max: c_uint, arg: *mut c_void) {
    // SAFETY: arg is the ThreadWork the test passes to multiThread, alive for the call.
    let w = unsafe { &*(arg as *const ThreadWork) };
    for f in 0..FRAMES_PER_THREAD {
        let t = (index * FRAMES_PER_THREAD + f) as usize;
        let k = t % w.inputs.len();
        let (st, got) = if index.is_multiple_of(2) {
            // Even threads: frames of one shared instance, concurrently.
            let st = w.session.render(w.shared, t as f64, w.spec.bounds);
            (st, w.shared_outputs[t].bytes())
        } else {
            // Odd threads: an instance created and destroyed for the frame (MLT).
            let inst = w.shared.instantiate("OfxImageEffectContextFilter");
            w.session.action(
                "OfxActionCreateInstance",
                inst.handle() as *const c_void,
                None,
                None,
            );
            set_params(&inst, &w.params);
            let out = attach(&inst, &w.spec, &w.inputs[k]);
            let st = w.session.render(&inst, t as f64, w.spec.bounds);
            w.session.destroy(inst);
            (st, out.bytes())
        };
        if st != OfxStatus::OK || got != w.expected[k] {
            w.failures
                .lock()
                .push(format!("thread {index} frame {t}: status {st:?}"));
        }
    }
}

#[test]
fn renders_from_many_threads_at_once_match_the_c_abi() {
    const THREADS: u32 = 8;
    let lib = Lib::load();
    let session = Session::new(EXPOSURE, false, &[]);
    let shared = session.instance();
    let params = vec![("exposure", 0.25), ("gain", 0.9)];
    set_params(&shared, &params);
    let sp = spec(Depth::Float, true, true);
    let inputs: Vec<Vec<u8>> = (0..5).map(|s| input_bytes(&sp, s)).collect();
    let expected = inputs
        .iter()
        .map(|i| cabi_render(&lib, &params, &sp, i))
        .collect();
    let frames = (THREADS * FRAMES_PER_THREAD) as usize;
    let shared_outputs: Vec<_> = (0..frames)
        .map(|t| {
            shared.set_image_at(
                "Source",
                t as f64,
                HostBuffer::new(sp, inputs[t % inputs.len()].clone()),
            );
            let out = HostBuffer::new(sp, vec![SENTINEL; sp.len()]);
            shared.set_image_at("Output", t as f64, out.clone());
            out
        })
        .collect();
    let work = ThreadWork {
        session: &session,
        shared: &shared,
        spec: sp,
        params,
        inputs,
        expected,
        shared_outputs,
        failures: Default::default(),
    };
    // Through the host's own multithread suite, all threads at once.
    let st = (ofxhost::suites::MULTI_THREAD_SUITE.multi_thread)(
        render_thread,
        THREADS,
        &work as *const ThreadWork as *mut c_void,
    );
    assert_eq!(st, OfxStatus::OK);
    let failures = work.failures.lock().clone();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(shared.images_out.load(Ordering::SeqCst), 0);
    session.destroy(shared);
}

#[test]
fn failures_reach_the_artist_through_the_message_suite_with_a_failed_status() {
    let session = Session::new(EXPOSURE, false, &[]);
    let inst = session.instance();
    let sp = spec(Depth::Byte, true, false);
    let input = input_bytes(&sp, 2);
    // A host that does not clamp sends an out-of-range value.
    set_params(&inst, &[("exposure", 40.0)]);
    attach(&inst, &sp, &input);
    assert_eq!(session.render(&inst, 0.0, sp.bounds), OfxStatus::FAILED);
    let msg = inst.last_persistent().expect("a persistent error message");
    assert!(msg.contains("exposure") && msg.contains("range"), "{msg}");
    assert_eq!(inst.images_out.load(Ordering::SeqCst), 0);
    // An unconnected input.
    set_params(&inst, &[("exposure", 1.0)]);
    inst.set_image("Source", None);
    assert_eq!(session.render(&inst, 0.0, sp.bounds), OfxStatus::FAILED);
    assert!(inst.last_persistent().unwrap().contains("connected"));
    assert_eq!(
        inst.images_out.load(Ordering::SeqCst),
        0,
        "the output image leaked on the error path"
    );
    // A good render clears the message.
    attach(&inst, &sp, &input);
    assert_eq!(session.render(&inst, 0.0, sp.bounds), OfxStatus::OK);
    assert_eq!(inst.last_persistent(), None);
    session.destroy(inst);
}

#[test]
fn load_reports_a_missing_required_suite_and_works_without_optional_ones() {
    let session = Session::new(EXPOSURE, false, &["OfxParameterSuite"]);
    assert_eq!(session.load(), OfxStatus::ERR_MISSING_HOST_FEATURE);
    drop(session);
    // No message or progress suite: renders still work.
    let lib = Lib::load();
    let session = Session::new(EXPOSURE, false, &["OfxMessageSuite", "OfxProgressSuite"]);
    let inst = session.instance();
    set_params(&inst, &[("gain", 2.0)]);
    let sp = spec(Depth::Short, false, false);
    let input = input_bytes(&sp, 4);
    let out = attach(&inst, &sp, &input);
    assert_eq!(session.render(&inst, 0.0, sp.bounds), OfxStatus::OK);
    assert!(out.bytes() == cabi_render(&lib, &[("gain", 2.0)], &sp, &input));
    session.destroy(inst);
}

/// A GPU host (Resolve-like) offers CUDA render. Only a CUDA build with a
/// device answering may take it; any other build leaves the property unset,
/// and a frame that arrives as GPU memory anyway is refused with
/// kOfxStatGPURenderFailed (the host then retries on the CPU) — never read.
#[test]
fn cuda_render_is_declared_only_where_it_can_run_and_gpu_memory_is_never_read_otherwise() {
    let session = Session::new(EXPOSURE, false, &[]);
    session
        .host
        .props
        .put("OfxImageEffectPropCudaRenderSupported", s("true"));
    let inst = session.instance();
    let desc = session.describe();
    let can_run = equifx::device::cuda_compiled()
        && equifx::device::select(equifx::device::DeviceRequest::Cuda(0)).is_ok();
    assert_eq!(
        desc.props
            .string("OfxImageEffectPropCudaRenderSupported", 0)
            .as_deref()
            == Some("true"),
        can_run
    );
    if can_run {
        return; // a real GPU: device memory is the host's to provide
    }
    set_params(&inst, &[("exposure", 1.0)]);
    let sp = spec(Depth::Float, true, false);
    let input = input_bytes(&sp, 5);
    let out = attach(&inst, &sp, &input);
    let st = session.render_with(
        &inst,
        0.0,
        sp.bounds,
        vec![("OfxImageEffectPropCudaEnabled", Value::Int(vec![1]))],
    );
    assert_eq!(st.0, 1002, "kOfxStatGPURenderFailed");
    assert!(
        out.bytes().iter().all(|&b| b == SENTINEL),
        "output untouched"
    );
    let e = errors(&inst);
    assert!(
        e.iter().any(|m| m.text.contains("render on the CPU")),
        "{e:?}"
    );
    // The host's retry on the CPU works.
    assert_eq!(session.render(&inst, 0.0, sp.bounds), OfxStatus::OK);
    session.destroy(inst);
}

#[test]
fn identity_parameters_pass_the_source_through() {
    let session = Session::new(EXPOSURE, false, &[]);
    let inst = session.instance();
    let sp = spec(Depth::Byte, true, false);
    attach(&inst, &sp, &input_bytes(&sp, 6));
    let (st, out) = session.timed_action("OfxImageEffectActionIsIdentity", &inst, 3.0, sp.bounds);
    assert_eq!(st, OfxStatus::OK);
    assert_eq!(out.string("OfxPropName", 0).as_deref(), Some("Source"));
    assert_eq!(out.double("OfxPropTime", 0), Some(3.0));
    set_params(&inst, &[("exposure", 1.0)]);
    let (st, _) = session.timed_action("OfxImageEffectActionIsIdentity", &inst, 3.0, sp.bounds);
    assert_eq!(st, OfxStatus::REPLY_DEFAULT);
    session.destroy(inst);
}

#[test]
fn progress_is_reported_and_a_cancel_from_the_progress_bar_stops_the_render() {
    let session = Session::new(EXPOSURE, false, &[]);
    let inst = session.instance();
    set_params(&inst, &[("exposure", 1.0)]);
    let sp = spec(Depth::Byte, true, false);
    let input = input_bytes(&sp, 8);
    attach(&inst, &sp, &input);
    assert_eq!(session.render(&inst, 0.0, sp.bounds), OfxStatus::OK);
    assert_eq!(inst.progress.lock().last(), Some(&1.0));
    assert_eq!(inst.progress_open.load(Ordering::SeqCst), 0);
    inst.cancel_progress.store(true, Ordering::SeqCst);
    attach(&inst, &sp, &input);
    assert_eq!(session.render(&inst, 0.0, sp.bounds), OfxStatus::OK);
    assert!(errors(&inst).is_empty());
    assert_eq!(inst.progress_open.load(Ordering::SeqCst), 0);
    session.destroy(inst);
}

/// The generator context (docs/openfx.md): the Fair Sampler renders into an Output
/// clip alone, frame t is item t of its block, and the pixels equal the core's
/// render of the same frame (float output, both row orders).
#[test]
fn the_fair_sampler_generates_in_the_generator_context_like_the_core() {
    const SAMPLER: &str = "org.equifx.FairSampler";
    let session = Session::new(SAMPLER, false, &[]);
    assert_eq!(session.load(), OfxStatus::OK);
    let desc = session.describe();
    let ctx = session.describe_in_context(&desc, "OfxImageEffectContextGenerator");
    let inst = session.create_instance(&ctx, "OfxImageEffectContextGenerator");
    inst.param("block_length")
        .set_key(f64::NEG_INFINITY, PV::I(10));
    let mut core = equifx::Instance::new(SAMPLER).unwrap();
    core.params_mut()
        .set_from_str("block_length", "10")
        .unwrap();
    for negative in [false, true] {
        let sp = ImageSpec {
            bounds: rect(0, 0, 24, 16),
            depth: Depth::Float,
            negative_row_bytes: negative,
            pad: 0,
            premultiplied: false,
        };
        let out = HostBuffer::new(sp, vec![SENTINEL; sp.len()]);
        inst.set_image("Output", Some(out.clone()));
        assert_eq!(
            session.render(&inst, 3.0, sp.bounds),
            OfxStatus::OK,
            "{:?}",
            errors(&inst)
        );
        let want = core
            .render_images(&[], 24, 16, 3, &equifx::node::RenderContext::default())
            .unwrap();
        let bytes = out.bytes();
        let (w, h) = (24, 16);
        let mut worst = 0f32;
        for y in 0..h {
            // OFX row y counts up from the bottom; memory holds it at row y
            // (positive rowBytes) or h − 1 − y (negative). The core is top-down.
            let m = if negative { h - 1 - y } else { y };
            let row = &bytes[m * sp.stride()..m * sp.stride() + 16 * w];
            for x in 0..w {
                for c in 0..3 {
                    let o = f32::from_le_bytes(
                        row[16 * x + 4 * c..16 * x + 4 * c + 4].try_into().unwrap(),
                    );
                    // Float images are scene-linear, as the core's working space.
                    let e = want.plane(c)[(h - 1 - y) * w + x];
                    worst = worst.max((o - e).abs());
                }
            }
        }
        assert!(
            worst < 1e-4,
            "OFX and core differ by {worst} (negative rowBytes={negative})"
        );
        // Negative control: another frame is another picture.
        let other = core
            .render_images(&[], 24, 16, 4, &equifx::node::RenderContext::default())
            .unwrap();
        assert_ne!(other, want);
    }
    session.destroy(inst);
    assert_eq!(session.unload(), OfxStatus::OK);
}
