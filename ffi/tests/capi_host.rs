//! A host's view of the C ABI: discovery, rendering bit-identical to the
//! core, bottom-up buffers, in-place renders, callbacks and threads.

mod common;

use std::ffi::{c_void, CStr, CString};

use common::{frame, pattern, pattern_f32, Lib};
use equifx::frame::{AlphaMode, ColourSpace, FrameLayout, FrameMut, FrameRef, PixelFormat};
use equifx::node::RenderContext;
use equifx_ffi::capi::callbacks::equifx_callbacks;
use equifx_ffi::capi::describe::{equifx_node_info, equifx_param_info, equifx_param_kind};
use equifx_ffi::capi::status::equifx_status::*;

fn cstr(p: *const std::ffi::c_char) -> String {
    assert!(!p.is_null());
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[test]
fn host_discovers_exactly_the_manifest() {
    let lib = Lib::load();
    let nodes = equifx::manifest::nodes();
    assert_eq!((lib.entry.node_count)() as usize, nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let mut info: equifx_node_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<equifx_node_info>() as u32;
        assert_eq!((lib.entry.node_info)(i as u32, &mut info), EQUIFX_STATUS_OK);
        assert_eq!(cstr(info.id), n.id);
        assert_eq!(cstr(info.label), n.label);
        assert_eq!(info.param_count as usize, n.params.len());
        assert_eq!(info.input_count as usize, n.inputs.len());
        for (j, p) in n.params.iter().enumerate() {
            let mut pi: equifx_param_info = unsafe { std::mem::zeroed() };
            pi.struct_size = std::mem::size_of::<equifx_param_info>() as u32;
            assert_eq!(
                (lib.entry.param_info)(i as u32, j as u32, &mut pi),
                EQUIFX_STATUS_OK
            );
            assert_eq!(cstr(pi.id), p.id);
            if let equifx::params::ParamKind::Float {
                min, max, default, ..
            } = p.kind
            {
                assert_eq!(pi.kind, equifx_param_kind::EQUIFX_PARAM_KIND_FLOAT);
                assert_eq!((pi.min, pi.max, pi.default_number), (min, max, default));
            }
        }
    }
}

#[test]
fn version_number_matches_the_header_the_host_compiles_against() {
    let lib = Lib::load();
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../include/equifx.h"))
            .unwrap();
    let define = |name: &str| -> u32 {
        let line = header
            .lines()
            .find(|l| l.starts_with(&format!("#define {name} ")))
            .unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        (lib.entry.version_number)(),
        define("EQUIFX_VERSION_NUMBER")
    );
    let composed = define("EQUIFX_VERSION_MAJOR") * 10_000
        + define("EQUIFX_VERSION_MINOR") * 100
        + define("EQUIFX_VERSION_PATCH");
    assert_eq!(composed, define("EQUIFX_VERSION_NUMBER"));
    let (maj, min, pat): (u32, u32, u32) = {
        let v: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|s| s.parse().unwrap())
            .collect();
        (v[0], v[1], v[2])
    };
    assert_eq!((lib.entry.version_number)(), maj * 10_000 + min * 100 + pat);
    assert_eq!(define("EQUIFX_ABI_VERSION"), lib.entry.abi_version);
}

/// Renders through the loaded library and through the core directly, on the
/// same bytes, and demands identical output bytes.
fn render_both_ways(format: PixelFormat, bottom_up: bool) {
    let lib = Lib::load();
    let (w, h) = (37usize, 23usize);
    let bpp = format.bytes_per_pixel();
    let stride = w * bpp + 12; // padded rows, as many hosts allocate
    let len = (h - 1) * stride + w * bpp;
    let mut input = if format.is_float() {
        pattern_f32(len / 4, 5)
    } else {
        pattern(len, 5)
    };
    let row_bytes = if bottom_up {
        -(stride as isize)
    } else {
        stride as isize
    };
    let (colour, alpha) = if format.is_float() {
        (ColourSpace::Linear, AlphaMode::Premultiplied)
    } else {
        (ColourSpace::Srgb, AlphaMode::Straight)
    };

    let inst = lib.new_instance("org.equifx.Exposure");
    let name = CString::new("exposure").unwrap();
    assert_eq!(
        (lib.entry.instance_set_float)(inst, name.as_ptr(), 0.75),
        EQUIFX_STATUS_OK
    );
    let mut out_abi = vec![0u8; len];
    let fin = frame(
        w as u32,
        h as u32,
        format.to_code(),
        colour as u32,
        alpha as u32,
        row_bytes,
        &mut input,
    );
    let fout = frame(
        w as u32,
        h as u32,
        format.to_code(),
        colour as u32,
        alpha as u32,
        row_bytes,
        &mut out_abi,
    );
    let st = (lib.entry.instance_render)(inst, &fin, 1, &fout, 0, std::ptr::null());
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    (lib.entry.instance_free)(inst);

    let mut core = equifx::Instance::new("org.equifx.Exposure").unwrap();
    core.params_mut().set_from_str("exposure", "0.75").unwrap();
    let layout = FrameLayout {
        width: w,
        height: h,
        row_bytes,
        format,
        colour,
        alpha,
    };
    let mut out_core = vec![0u8; len];
    core.render(
        &[FrameRef::new(layout, &input).unwrap()],
        &mut FrameMut::new(layout, &mut out_core).unwrap(),
        0,
        &RenderContext::default(),
    )
    .unwrap();
    assert_eq!(out_abi, out_core, "{format:?} bottom_up={bottom_up}");
    assert_ne!(out_abi, vec![0u8; len], "the render wrote something");
}

#[test]
fn abi_render_is_bit_identical_to_the_core_u8_top_down() {
    render_both_ways(PixelFormat::RGBA_U8, false);
}

#[test]
fn abi_render_is_bit_identical_to_the_core_u8_bottom_up() {
    render_both_ways(PixelFormat::RGBA_U8, true);
}

#[test]
fn abi_render_is_bit_identical_to_the_core_f32_top_down() {
    render_both_ways(PixelFormat::RGBA_F32, false);
}

#[test]
fn abi_render_is_bit_identical_to_the_core_f32_bottom_up() {
    render_both_ways(PixelFormat::RGBA_F32, true);
}

#[test]
fn in_place_render_equals_out_of_place() {
    let lib = Lib::load();
    let inst = lib.new_instance("org.equifx.Exposure");
    let name = CString::new("gain").unwrap();
    assert_eq!(
        (lib.entry.instance_set_float)(inst, name.as_ptr(), 0.5),
        EQUIFX_STATUS_OK
    );
    let (w, h) = (16u32, 9u32);
    let mut src = pattern((w * h * 4) as usize, 1);
    let mut shared = src.clone();
    let mut out = vec![0u8; src.len()];
    let f = |b: &mut Vec<u8>| frame(w, h, 0, 0, 0, (w * 4) as isize, b);
    let (fi, fo) = (f(&mut src), f(&mut out));
    assert_eq!(
        (lib.entry.instance_render)(inst, &fi, 1, &fo, 0, std::ptr::null()),
        EQUIFX_STATUS_OK
    );
    let fs = f(&mut shared);
    assert_eq!(
        (lib.entry.instance_render)(inst, &fs, 1, &fs, 0, std::ptr::null()),
        EQUIFX_STATUS_OK
    );
    assert_eq!(shared, out);
    (lib.entry.instance_free)(inst);
}

extern "C" fn count_progress(userdata: *mut c_void, fraction: f64) {
    assert!((0.0..=1.0).contains(&fraction));
    let n = unsafe { &*(userdata as *const std::sync::atomic::AtomicUsize) };
    n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

extern "C" fn always_abort(_: *mut c_void) -> bool {
    true
}

#[test]
fn progress_is_reported_and_abort_stops_the_render() {
    let lib = Lib::load();
    let inst = lib.new_instance("org.equifx.Exposure");
    let name = CString::new("exposure").unwrap();
    assert_eq!(
        (lib.entry.instance_set_float)(inst, name.as_ptr(), 1.0),
        EQUIFX_STATUS_OK
    );
    let mut a = pattern(8 * 8 * 4, 2);
    let mut b = vec![0u8; a.len()];
    let (fi, fo) = (
        frame(8, 8, 0, 0, 0, 32, &mut a),
        frame(8, 8, 0, 0, 0, 32, &mut b),
    );
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let mut cb = equifx_callbacks {
        struct_size: std::mem::size_of::<equifx_callbacks>() as u32,
        userdata: &calls as *const _ as *mut c_void,
        progress: Some(count_progress),
        abort: None,
        log: None,
    };
    assert_eq!(
        (lib.entry.instance_render)(inst, &fi, 1, &fo, 0, &cb),
        EQUIFX_STATUS_OK
    );
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    cb.abort = Some(always_abort);
    assert_eq!(
        (lib.entry.instance_render)(inst, &fi, 1, &fo, 0, &cb),
        EQUIFX_STATUS_ABORTED
    );
    assert!(lib.last_error().contains("abort"), "{}", lib.last_error());
    (lib.entry.instance_free)(inst);
}

#[test]
fn eight_threads_rendering_one_instance_agree_bit_for_bit() {
    let lib = Lib::load();
    let inst = lib.new_instance("org.equifx.Exposure");
    let name = CString::new("exposure").unwrap();
    assert_eq!(
        (lib.entry.instance_set_float)(inst, name.as_ptr(), -1.25),
        EQUIFX_STATUS_OK
    );
    let (w, h) = (64u32, 48u32);
    let reference = {
        let mut a = pattern_f32((w * h * 4) as usize, 9);
        let mut b = vec![0u8; a.len()];
        let (fi, fo) = (
            frame(w, h, 3, 1, 1, (w * 16) as isize, &mut a),
            frame(w, h, 3, 1, 1, (w * 16) as isize, &mut b),
        );
        assert_eq!(
            (lib.entry.instance_render)(inst, &fi, 1, &fo, 0, std::ptr::null()),
            EQUIFX_STATUS_OK
        );
        b
    };
    let inst_addr = inst as usize;
    let entry = lib.entry;
    std::thread::scope(|s| {
        for t in 0..8 {
            let reference = &reference;
            s.spawn(move || {
                for _ in 0..10 {
                    let mut a = pattern_f32((w * h * 4) as usize, 9);
                    let mut b = vec![0u8; a.len()];
                    let (fi, fo) = (
                        frame(w, h, 3, 1, 1, (w * 16) as isize, &mut a),
                        frame(w, h, 3, 1, 1, (w * 16) as isize, &mut b),
                    );
                    let st = (entry.instance_render)(
                        inst_addr as *const _,
                        &fi,
                        1,
                        &fo,
                        t,
                        std::ptr::null(),
                    );
                    assert_eq!(st, EQUIFX_STATUS_OK);
                    assert_eq!(&b, reference);
                }
            });
        }
    });
    (lib.entry.instance_free)(inst);
}

#[test]
fn unloading_and_reloading_the_library_works() {
    for _ in 0..3 {
        let lib = Lib::load();
        let inst = lib.new_instance("org.equifx.Exposure");
        (lib.entry.instance_free)(inst);
        drop(lib);
    }
}
