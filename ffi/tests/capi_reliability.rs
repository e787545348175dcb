//! Hosts that call back into the library, render from several threads, read
//! parameters of every kind, were built against an older or newer header, or
//! abort renders that have nothing to do, or send frames larger than the
//! memory the process may use: none of it may hang, crash or lie.

mod common;

use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::{frame, pattern, Lib};
use equifx::params::ParamKind;
use equifx_ffi::capi::callbacks::equifx_callbacks;
use equifx_ffi::capi::describe::{equifx_node_info, equifx_param_info};
use equifx_ffi::capi::equifx_entry;
use equifx_ffi::capi::frame::equifx_frame;
use equifx_ffi::capi::host_struct::{self, HostStruct};
use equifx_ffi::capi::instance::equifx_instance;
use equifx_ffi::capi::status::equifx_status::{self, *};

/// Runs `case` on its own thread and fails the test if it has not finished
/// within `secs` seconds: a deadlock fails the test instead of hanging the suite.
fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    case: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let v = case();
        let _ = tx.send(());
        v
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        // Finished (or panicked, which drops the sender): join gives the value or the panic.
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {secs} s: the library deadlocked")
        }
    }
}

const W: u32 = 16;
const H: u32 = 8;

/// Renders `inst` on a fresh copy of the test pattern; returns status and pixels.
fn render(
    e: &equifx_entry,
    inst: *const equifx_instance,
    cb: *const equifx_callbacks,
) -> (equifx_status, Vec<u8>) {
    let mut src = pattern((W * H * 4) as usize, 7);
    let mut dst = vec![0u8; src.len()];
    let fi = frame(W, H, 0, 0, 0, (W * 4) as isize, &mut src);
    let fo = frame(W, H, 0, 0, 0, (W * 4) as isize, &mut dst);
    let st = (e.instance_render)(inst, &fi, 1, &fo, 0, cb);
    (st, dst)
}

fn set_float(e: &equifx_entry, inst: *mut equifx_instance, name: &str, v: f64) -> equifx_status {
    let name = CString::new(name).unwrap();
    (e.instance_set_float)(inst, name.as_ptr(), v)
}

fn get_float(e: &equifx_entry, inst: *const equifx_instance, name: &str) -> (equifx_status, f64) {
    let name = CString::new(name).unwrap();
    let mut v = f64::NAN;
    let st = (e.instance_get_float)(inst, name.as_ptr(), &mut v);
    (st, v)
}

fn callbacks(userdata: *const c_void) -> equifx_callbacks {
    equifx_callbacks {
        struct_size: std::mem::size_of::<equifx_callbacks>() as u32,
        userdata: userdata as *mut c_void,
        progress: None,
        abort: None,
        log: None,
    }
}

/// Pixels of a plain render of Exposure at `exposure` stops.
fn reference(lib: &Lib, exposure: f64) -> Vec<u8> {
    let inst = lib.new_instance("org.equifx.Exposure");
    assert_eq!(
        set_float(lib.entry, inst, "exposure", exposure),
        EQUIFX_STATUS_OK
    );
    let (st, px) = render(lib.entry, inst, std::ptr::null());
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    (lib.entry.instance_free)(inst);
    px
}

// ---------------------------------------------------------------------------
// A callback that sets a parameter of the instance it is called for.

struct SetFromCallback {
    entry: &'static equifx_entry,
    inst: *mut equifx_instance,
    calls: AtomicUsize,
    set_status: AtomicI32,
    read_back: AtomicU64,
}

extern "C" fn set_exposure_from_progress(userdata: *mut c_void, _fraction: f64) {
    // SAFETY: userdata is the SetFromCallback the test passed for this render.
    let ctx = unsafe { &*(userdata as *const SetFromCallback) };
    if ctx.calls.fetch_add(1, Ordering::SeqCst) > 0 {
        return;
    }
    let st = set_float(ctx.entry, ctx.inst, "exposure", 2.0);
    ctx.set_status.store(st as i32, Ordering::SeqCst);
    let (st, v) = get_float(ctx.entry, ctx.inst, "exposure");
    assert_eq!(st, EQUIFX_STATUS_OK);
    ctx.read_back.store(v.to_bits(), Ordering::SeqCst);
}

#[test]
fn a_progress_callback_may_set_a_parameter_of_the_instance_being_rendered() {
    within(30, "set_float from a progress callback", || {
        let lib = Lib::load();
        let e = lib.entry;
        let inst = lib.new_instance("org.equifx.Exposure");
        assert_eq!(set_float(e, inst, "exposure", 1.0), EQUIFX_STATUS_OK);
        let ctx = SetFromCallback {
            entry: e,
            inst,
            calls: AtomicUsize::new(0),
            set_status: AtomicI32::new(-1),
            read_back: AtomicU64::new(0),
        };
        let mut cb = callbacks(&ctx as *const _ as *const c_void);
        cb.progress = Some(set_exposure_from_progress);
        let (st, during) = render(e, inst, &cb);
        assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
        assert!(
            ctx.calls.load(Ordering::SeqCst) >= 1,
            "progress was reported"
        );
        assert_eq!(
            ctx.set_status.load(Ordering::SeqCst),
            EQUIFX_STATUS_OK as i32
        );
        assert_eq!(f64::from_bits(ctx.read_back.load(Ordering::SeqCst)), 2.0);
        // The render in flight kept the values it started with; the next one sees the new value.
        assert_eq!(during, reference(&lib, 1.0));
        let (st, after) = render(e, inst, std::ptr::null());
        assert_eq!(st, EQUIFX_STATUS_OK);
        assert_eq!(after, reference(&lib, 2.0));
        assert_eq!(get_float(e, inst, "exposure"), (EQUIFX_STATUS_OK, 2.0));
        (e.instance_free)(inst);
    });
}

// ---------------------------------------------------------------------------
// Thread A renders and, from its callback, renders the same instance again,
// while thread B sets one of its parameters.

struct Nested {
    entry: &'static equifx_entry,
    inst: *mut equifx_instance,
    entered: AtomicBool,
    a_in_callback: AtomicBool,
    b_setting: AtomicBool,
    nested_status: AtomicI32,
}

extern "C" fn render_again_from_progress(userdata: *mut c_void, _fraction: f64) {
    // SAFETY: userdata is the Nested the test passed for this render.
    let ctx = unsafe { &*(userdata as *const Nested) };
    if ctx.entered.swap(true, Ordering::SeqCst) {
        return;
    }
    ctx.a_in_callback.store(true, Ordering::SeqCst);
    while !ctx.b_setting.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // Give B time to be inside equifx_instance_set_float.
    std::thread::sleep(Duration::from_millis(300));
    let (st, _) = render(ctx.entry, ctx.inst, std::ptr::null());
    ctx.nested_status.store(st as i32, Ordering::SeqCst);
}

#[test]
fn a_nested_render_while_another_thread_sets_a_parameter_does_not_deadlock() {
    within(30, "nested render with a concurrent set_float", || {
        let lib = Lib::load();
        let e = lib.entry;
        let inst = lib.new_instance("org.equifx.Exposure");
        assert_eq!(set_float(e, inst, "exposure", 1.0), EQUIFX_STATUS_OK);
        let ctx = Nested {
            entry: e,
            inst,
            entered: AtomicBool::new(false),
            a_in_callback: AtomicBool::new(false),
            b_setting: AtomicBool::new(false),
            nested_status: AtomicI32::new(-1),
        };
        let inst_addr = inst as usize;
        let ctx_addr = &ctx as *const Nested as usize;
        let (outer, set) = std::thread::scope(|s| {
            let a = s.spawn(move || {
                let mut cb = callbacks(ctx_addr as *const c_void);
                cb.progress = Some(render_again_from_progress);
                render(e, inst_addr as *const equifx_instance, &cb).0
            });
            let b = s.spawn(move || {
                // SAFETY: ctx outlives the scope.
                let ctx = unsafe { &*(ctx_addr as *const Nested) };
                while !ctx.a_in_callback.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                ctx.b_setting.store(true, Ordering::SeqCst);
                set_float(e, inst_addr as *mut equifx_instance, "exposure", -1.0)
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(outer, EQUIFX_STATUS_OK, "outer render");
        assert_eq!(set, EQUIFX_STATUS_OK, "set_float on thread B");
        assert_eq!(
            ctx.nested_status.load(Ordering::SeqCst),
            EQUIFX_STATUS_OK as i32
        );
        assert_eq!(get_float(e, inst, "exposure"), (EQUIFX_STATUS_OK, -1.0));
        (e.instance_free)(inst);
    });
}

/// Many threads render while others keep setting: every render sees one
/// consistent set of values (one of the two references), and nothing blocks.
#[test]
fn renders_racing_sets_see_whole_values() {
    within(60, "renders racing sets", || {
        let lib = Lib::load();
        let e = lib.entry;
        let inst = lib.new_instance("org.equifx.Exposure");
        assert_eq!(set_float(e, inst, "exposure", 1.0), EQUIFX_STATUS_OK);
        let (r1, r2) = (reference(&lib, 1.0), reference(&lib, -2.0));
        let addr = inst as usize;
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let (st, px) = render(e, addr as *const _, std::ptr::null());
                        assert_eq!(st, EQUIFX_STATUS_OK);
                        assert!(px == r1 || px == r2, "a render saw torn parameter values");
                    }
                });
            }
            s.spawn(|| {
                for i in 0..200 {
                    let v = if i % 2 == 0 { -2.0 } else { 1.0 };
                    assert_eq!(
                        set_float(e, addr as *mut _, "exposure", v),
                        EQUIFX_STATUS_OK
                    );
                }
            });
        });
        (e.instance_free)(inst);
    });
}

// ---------------------------------------------------------------------------
// Typed getters and setters on parameters of another kind.

#[test]
fn reading_or_setting_a_parameter_as_the_wrong_kind_is_an_invalid_value() {
    let lib = Lib::load();
    let e = lib.entry;
    let mut kinds_seen = std::collections::BTreeSet::new();
    for node in equifx::manifest::nodes() {
        let inst = lib.new_instance(&node.id);
        for p in &node.params {
            kinds_seen.insert(p.kind.name());
            let name = CString::new(p.id.as_str()).unwrap();
            let is_float = matches!(p.kind, ParamKind::Float { .. });
            let wrong = |st: equifx_status, call: &str| {
                let msg = lib.last_error();
                assert_eq!(
                    st,
                    EQUIFX_STATUS_INVALID_PARAM_VALUE,
                    "{call} on {} parameter '{}' of {}: {msg}",
                    p.kind.name(),
                    p.id,
                    node.id
                );
                assert!(msg.contains(&p.id), "'{msg}' names the parameter");
            };
            let mut v = f64::NAN;
            let st = (e.instance_get_float)(inst, name.as_ptr(), &mut v);
            if is_float {
                assert_eq!(st, EQUIFX_STATUS_OK);
            } else {
                wrong(st, "get_float");
                assert!(v.is_nan(), "value_out is written only on success");
                assert!(
                    lib.last_error().contains(p.kind.name()),
                    "'{}' says which kind the parameter is",
                    lib.last_error()
                );
            }
            if !is_float {
                wrong(
                    (e.instance_set_float)(inst, name.as_ptr(), 0.5),
                    "set_float",
                );
            }
            if !matches!(
                p.kind,
                ParamKind::Int { .. } | ParamKind::Seed { .. } | ParamKind::Float { .. }
            ) {
                wrong((e.instance_set_int)(inst, name.as_ptr(), 1), "set_int");
            }
            if !matches!(p.kind, ParamKind::Bool { .. }) {
                wrong((e.instance_set_bool)(inst, name.as_ptr(), true), "set_bool");
            }
            if !p.kind.is_text() {
                let t = CString::new("1").unwrap();
                wrong(
                    (e.instance_set_text)(inst, name.as_ptr(), t.as_ptr()),
                    "set_text",
                );
            }
        }
        (e.instance_free)(inst);
    }
    for k in ["float", "int", "seed", "choice", "path"] {
        assert!(
            kinds_seen.contains(k),
            "the manifest has no {k} parameter to test"
        );
    }
}

// ---------------------------------------------------------------------------
// Identity renders (Exposure at its defaults copies its input).

extern "C" fn record_progress(userdata: *mut c_void, fraction: f64) {
    // SAFETY: userdata is the AtomicU64 the test passed.
    let last = unsafe { &*(userdata as *const AtomicU64) };
    last.store(fraction.to_bits(), Ordering::SeqCst);
}

extern "C" fn always_abort(_: *mut c_void) -> bool {
    true
}

#[test]
fn identity_renders_report_progress_and_honour_abort() {
    let lib = Lib::load();
    let e = lib.entry;
    let inst = lib.new_instance("org.equifx.Exposure");
    let last = AtomicU64::new(f64::NAN.to_bits());
    let mut cb = callbacks(&last as *const _ as *const c_void);
    cb.progress = Some(record_progress);
    // Same format in and out (a plain copy) and a converting one.
    for out_format in [0u32, 3] {
        let mut src = pattern((W * H * 4) as usize, 3);
        let bpp = if out_format == 3 { 16 } else { 4 };
        let mut dst = vec![0u8; (W * H * bpp) as usize];
        let fi = frame(W, H, 0, 0, 0, (W * 4) as isize, &mut src);
        let fo = frame(
            W,
            H,
            out_format,
            out_format.min(1),
            0,
            (W * bpp) as isize,
            &mut dst,
        );
        last.store(f64::NAN.to_bits(), Ordering::SeqCst);
        cb.abort = None;
        let st = (e.instance_render)(inst, &fi, 1, &fo, 0, &cb);
        assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
        assert_eq!(
            f64::from_bits(last.load(Ordering::SeqCst)),
            1.0,
            "format {out_format}"
        );
        cb.abort = Some(always_abort);
        let st = (e.instance_render)(inst, &fi, 1, &fo, 0, &cb);
        assert_eq!(st, EQUIFX_STATUS_ABORTED, "format {out_format}");
        assert!(lib.last_error().contains("abort"), "{}", lib.last_error());
    }
    (e.instance_free)(inst);
}

// ---------------------------------------------------------------------------
// Struct sizes: too small is refused, newer (larger) is accepted.

const CALLBACKS_SIZE: u32 = std::mem::size_of::<equifx_callbacks>() as u32;
const FRAME_SIZE: u32 = std::mem::size_of::<equifx_frame>() as u32;

fn assert_refused(lib: &Lib, st: equifx_status, name: &str, size: u32) {
    let msg = lib.last_error();
    assert_eq!(
        st, EQUIFX_STATUS_INVALID_ARGUMENT,
        "{name} of {size} bytes: {msg}"
    );
    assert!(
        msg.contains(&format!("{name}.struct_size is {size}")),
        "'{msg}' says which struct and size"
    );
}

#[test]
fn callbacks_smaller_than_the_first_version_are_refused() {
    let lib = Lib::load();
    let e = lib.entry;
    let inst = lib.new_instance("org.equifx.Exposure");
    assert_eq!(set_float(e, inst, "exposure", 1.0), EQUIFX_STATUS_OK);
    let calls = AtomicUsize::new(0);
    for size in [0, 4, CALLBACKS_SIZE - 8, CALLBACKS_SIZE - 1] {
        let mut cb = callbacks(&calls as *const _ as *const c_void);
        cb.struct_size = size;
        cb.progress = Some(count);
        let (st, _) = render(e, inst, &cb);
        assert_refused(&lib, st, "equifx_callbacks", size);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing was rendered");
    (e.instance_free)(inst);
}

extern "C" fn count(userdata: *mut c_void, _fraction: f64) {
    // SAFETY: userdata is the AtomicUsize the test passed.
    unsafe { &*(userdata as *const AtomicUsize) }.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn frames_smaller_than_the_first_version_are_refused() {
    let lib = Lib::load();
    let e = lib.entry;
    let inst = lib.new_instance("org.equifx.Exposure");
    let mut src = pattern((W * H * 4) as usize, 1);
    let mut dst = vec![0u8; src.len()];
    for size in [0, FRAME_SIZE - 8, FRAME_SIZE - 1] {
        let mut fi = frame(W, H, 0, 0, 0, (W * 4) as isize, &mut src);
        let mut fo = frame(W, H, 0, 0, 0, (W * 4) as isize, &mut dst);
        fi.struct_size = size;
        let st = (e.instance_render)(inst, &fi, 1, &fo, 0, std::ptr::null());
        assert_refused(&lib, st, "equifx_frame", size);
        fi.struct_size = FRAME_SIZE;
        fo.struct_size = size;
        let st = (e.instance_render)(inst, &fi, 1, &fo, 0, std::ptr::null());
        assert_refused(&lib, st, "equifx_frame", size);
    }
    (e.instance_free)(inst);
}

#[test]
fn info_structs_smaller_than_the_first_version_are_refused_and_left_alone() {
    let lib = Lib::load();
    let e = lib.entry;
    let node_size = std::mem::size_of::<equifx_node_info>() as u32;
    let param_size = std::mem::size_of::<equifx_param_info>() as u32;
    for size in [0, node_size - 8, node_size - 1] {
        // SAFETY: every field is an integer, a nullable pointer or an enum with a 0 variant.
        let mut info: equifx_node_info = unsafe { std::mem::zeroed() };
        info.struct_size = size;
        assert_refused(&lib, (e.node_info)(0, &mut info), "equifx_node_info", size);
        assert!(
            info.id.is_null() && info.param_count == 0,
            "written only on success"
        );
    }
    for size in [0, param_size - 8, param_size - 1] {
        // SAFETY: every field is an integer, a nullable pointer or an enum with a 0 variant.
        let mut info: equifx_param_info = unsafe { std::mem::zeroed() };
        info.struct_size = size;
        assert_refused(
            &lib,
            (e.param_info)(0, 0, &mut info),
            "equifx_param_info",
            size,
        );
        assert!(
            info.id.is_null() && info.option_count == 0,
            "written only on success"
        );
    }
}

// A host built against a newer header passes larger structs, with fields this
// library does not know at the end.

const SENTINEL: u64 = 0x5EED_F00D_DEAD_BEEF;

#[repr(C)]
struct NewerCallbacks {
    base: equifx_callbacks,
    future: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct NewerFrame {
    base: equifx_frame,
    future: u64,
}

#[repr(C)]
struct NewerNodeInfo {
    base: equifx_node_info,
    future: u64,
}

#[repr(C)]
struct NewerParamInfo {
    base: equifx_param_info,
    future: u64,
}

#[test]
fn structs_from_a_newer_header_are_accepted_and_their_new_fields_left_alone() {
    let lib = Lib::load();
    let e = lib.entry;
    let inst = lib.new_instance("org.equifx.Exposure");
    assert_eq!(set_float(e, inst, "exposure", 1.0), EQUIFX_STATUS_OK);

    let calls = AtomicUsize::new(0);
    let mut cb = NewerCallbacks {
        base: callbacks(&calls as *const _ as *const c_void),
        future: SENTINEL,
    };
    cb.base.struct_size = std::mem::size_of::<NewerCallbacks>() as u32;
    cb.base.progress = Some(count);
    let mut src = pattern((W * H * 4) as usize, 7);
    let mut dst = vec![0u8; src.len()];
    let newer = |f: equifx_frame| {
        let mut n = NewerFrame {
            base: f,
            future: SENTINEL,
        };
        n.base.struct_size = std::mem::size_of::<NewerFrame>() as u32;
        n
    };
    let fi = newer(frame(W, H, 0, 0, 0, (W * 4) as isize, &mut src));
    let fo = newer(frame(W, H, 0, 0, 0, (W * 4) as isize, &mut dst));
    let st = (e.instance_render)(
        inst,
        &fi.base,
        1,
        &fo.base,
        0,
        &cb.base as *const equifx_callbacks,
    );
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    assert!(calls.load(Ordering::SeqCst) >= 1, "the callbacks were used");
    assert_eq!(dst, reference(&lib, 1.0));

    // An input array is walked with the hosts' struct size as its stride,
    // so every element must have the same size.
    let mut two = [fi, fi];
    two[1].base.struct_size = FRAME_SIZE;
    let st = (e.instance_render)(inst, &two[0].base, 2, &fo.base, 0, std::ptr::null());
    assert_eq!(st, EQUIFX_STATUS_INVALID_ARGUMENT, "{}", lib.last_error());
    assert!(
        lib.last_error().contains("inputs[1]"),
        "{}",
        lib.last_error()
    );

    // SAFETY: every field is an integer, a nullable pointer or an enum with a 0 variant.
    let mut ni: NewerNodeInfo = unsafe { std::mem::zeroed() };
    ni.base.struct_size = std::mem::size_of::<NewerNodeInfo>() as u32;
    ni.future = SENTINEL;
    assert_eq!(
        (e.node_info)(0, &mut ni.base),
        EQUIFX_STATUS_OK,
        "{}",
        lib.last_error()
    );
    assert!(!ni.base.id.is_null());
    assert_eq!(
        ni.future, SENTINEL,
        "fields this library does not know are left alone"
    );
    assert_eq!(
        ni.base.struct_size as usize,
        std::mem::size_of::<equifx_node_info>(),
        "struct_size comes back as the bytes the library filled"
    );

    // SAFETY: every field is an integer, a nullable pointer or an enum with a 0 variant.
    let mut pi: NewerParamInfo = unsafe { std::mem::zeroed() };
    pi.base.struct_size = std::mem::size_of::<NewerParamInfo>() as u32;
    pi.future = SENTINEL;
    assert_eq!(
        (e.param_info)(0, 0, &mut pi.base),
        EQUIFX_STATUS_OK,
        "{}",
        lib.last_error()
    );
    assert!(!pi.base.id.is_null());
    assert_eq!(pi.future, SENTINEL);
    assert_eq!(
        pi.base.struct_size as usize,
        std::mem::size_of::<equifx_param_info>()
    );
    (e.instance_free)(inst);
}

// A host built against an older header passes a smaller struct. No field has
// been appended since ABI 1, so this is shown on a struct that gained one:
// `CallbacksV2` is `equifx_callbacks` plus a field, read through the same code.

#[repr(C)]
#[derive(Clone, Copy)]
struct CallbacksV2 {
    v1: equifx_callbacks,
    cancel_token: *const c_void,
}

// SAFETY: repr(C) starting with equifx_callbacks, whose first field is struct_size: u32.
unsafe impl HostStruct for CallbacksV2 {
    const NAME: &'static str = "CallbacksV2";
    const MIN_SIZE_NAME: &'static str = "CALLBACKS_V2_MIN_SIZE";
    const VERSION_SIZES: &'static [usize] = &[
        std::mem::size_of::<equifx_callbacks>(),
        std::mem::size_of::<CallbacksV2>(),
    ];
    fn unset() -> Self {
        CallbacksV2 {
            v1: callbacks(std::ptr::null()),
            cancel_token: std::ptr::null(),
        }
    }
}

/// An old host's struct with whatever the host keeps after it.
#[repr(C)]
struct OldHostSlot {
    v1: equifx_callbacks,
    after: u64,
}

#[test]
fn an_old_host_struct_is_read_and_filled_only_as_far_as_it_goes() {
    assert!(host_struct::sizes_grow_to(
        CallbacksV2::VERSION_SIZES,
        std::mem::size_of::<CallbacksV2>()
    ));
    let token = 7u8;
    let mut old = callbacks(&token as *const u8 as *const c_void);
    old.progress = Some(count);
    // Reading: the old host's fields arrive, the newer one is unset.
    let ptr = &old as *const equifx_callbacks as *const CallbacksV2;
    // SAFETY: `old` has struct_size readable bytes of pointer fields.
    let v2 = unsafe { host_struct::read(ptr, "callbacks") }.unwrap();
    assert_eq!(v2.v1.userdata, old.userdata);
    assert!(v2.v1.progress.is_some() && v2.v1.abort.is_none());
    assert!(
        v2.cancel_token.is_null(),
        "a field the host does not have is unset"
    );
    // A newer host's struct is read whole.
    let mut newer = CallbacksV2 {
        v1: callbacks(&token as *const u8 as *const c_void),
        cancel_token: &token as *const u8 as *const c_void,
    };
    newer.v1.struct_size = std::mem::size_of::<CallbacksV2>() as u32;
    // SAFETY: a whole CallbacksV2.
    let got = unsafe { host_struct::read(&newer, "callbacks") }.unwrap();
    assert_eq!(got.cancel_token, newer.cancel_token);
    // Too small for the first version: refused, with the sizes in the message.
    for size in [0, CALLBACKS_SIZE - 1] {
        old.struct_size = size;
        let ptr = &old as *const equifx_callbacks as *const CallbacksV2;
        // SAFETY: as above; only struct_size is read when it is too small.
        let err = unsafe { host_struct::read(ptr, "callbacks") }
            .err()
            .unwrap();
        assert_eq!(err.status, EQUIFX_STATUS_INVALID_ARGUMENT);
        assert!(
            err.message
                .contains(&format!("CallbacksV2.struct_size is {size}"))
                && err.message.contains("CALLBACKS_V2_MIN_SIZE"),
            "{}",
            err.message
        );
    }
    // Filling: only the old host's bytes are written, and struct_size says how many.
    let mut host = OldHostSlot {
        v1: callbacks(std::ptr::null()),
        after: SENTINEL,
    };
    let out = &mut host.v1 as *mut equifx_callbacks as *mut CallbacksV2;
    // SAFETY: `host.v1` has struct_size writable bytes.
    let n = unsafe { host_struct::covered_at(out, "info_out") }.unwrap();
    assert_eq!(n, std::mem::size_of::<equifx_callbacks>());
    // SAFETY: as above, n from covered_at on the same pointer.
    unsafe { host_struct::fill(out, newer, n) };
    assert_eq!(
        host.after, SENTINEL,
        "bytes past the old struct are left alone"
    );
    assert_eq!(host.v1.struct_size as usize, n);
    assert_eq!(host.v1.userdata as *const u8, &token as *const u8);
}

#[test]
fn the_minimum_sizes_are_the_first_versions_and_in_the_header() {
    use equifx_ffi::capi::callbacks::EQUIFX_CALLBACKS_MIN_SIZE;
    use equifx_ffi::capi::describe::{EQUIFX_NODE_INFO_MIN_SIZE, EQUIFX_PARAM_INFO_MIN_SIZE};
    use equifx_ffi::capi::frame::EQUIFX_FRAME_MIN_SIZE;
    // Nothing has been appended since ABI 1.
    let pinned = [
        (
            "EQUIFX_CALLBACKS_MIN_SIZE",
            EQUIFX_CALLBACKS_MIN_SIZE,
            CALLBACKS_SIZE,
        ),
        ("EQUIFX_FRAME_MIN_SIZE", EQUIFX_FRAME_MIN_SIZE, FRAME_SIZE),
        (
            "EQUIFX_NODE_INFO_MIN_SIZE",
            EQUIFX_NODE_INFO_MIN_SIZE,
            std::mem::size_of::<equifx_node_info>() as u32,
        ),
        (
            "EQUIFX_PARAM_INFO_MIN_SIZE",
            EQUIFX_PARAM_INFO_MIN_SIZE,
            std::mem::size_of::<equifx_param_info>() as u32,
        ),
    ];
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../include/equifx.h"))
            .unwrap();
    for (name, value, size) in pinned {
        assert_eq!(value, size, "{name}");
        assert!(
            header.contains(&format!("#define {name} {value}")),
            "include/equifx.h defines {name} {value}"
        );
    }
}

// ---------------------------------------------------------------------------
// Frames larger than the memory the host process may use. Each case runs in
// a child process (this test executable again, with one test selected) whose
// address space is capped with RLIMIT_AS: a failed allocation that aborts
// kills only the child, and the parent sees the signal.
#[cfg(target_os = "linux")]
mod capped {
    use super::*;

    /// In a child, the address-space limit in GiB.
    const MEMORY_CAP_GIB: &str = "EQUIFX_TEST_MEMORY_CAP_GIB";

    /// Runs test `name` again in a child process capped at `gib` GiB; it must
    /// pass and exit by itself with status 0, never be killed by a signal.
    fn run_capped(name: &str, gib: u64) {
        use std::os::unix::process::ExitStatusExt;
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(MEMORY_CAP_GIB, gib.to_string())
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.signal(),
            None,
            "the render killed the host process ({:?}):\n{log}",
            out.status
        );
        assert_eq!(out.status.code(), Some(0), "{log}");
        assert!(log.contains("1 passed"), "the child ran no test:\n{log}");
    }

    /// The cap this process runs under, when it is the child of [`run_capped`].
    fn memory_cap() -> Option<u64> {
        std::env::var(MEMORY_CAP_GIB)
            .ok()
            .map(|g| g.parse().unwrap())
    }

    fn cap_address_space(gib: u64) {
        let limit = libc::rlimit {
            rlim_cur: gib << 30,
            rlim_max: gib << 30,
        };
        // SAFETY: setrlimit only reads the struct passed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    }

    /// Renders a `w × h` RGBA_U8 frame through Exposure with the address space
    /// capped at `gib` GiB (the host's two buffers allocated but untouched);
    /// returns the status and the last error, after checking that a small frame
    /// still renders afterwards: the library is unharmed.
    fn render_capped(w: u32, h: u32, gib: u64) -> (equifx_status, String) {
        let lib = Lib::load();
        let e = lib.entry;
        let inst = lib.new_instance("org.equifx.Exposure");
        assert_eq!(set_float(e, inst, "exposure", 1.0), EQUIFX_STATUS_OK);
        let len = w as usize * h as usize * 4;
        let (mut src, mut dst) = (vec![0u8; len], vec![0u8; len]);
        let fi = frame(w, h, 0, 0, 0, w as isize * 4, &mut src);
        let fo = frame(w, h, 0, 0, 0, w as isize * 4, &mut dst);
        cap_address_space(gib);
        let st = (e.instance_render)(inst, &fi, 1, &fo, 0, std::ptr::null());
        let message = lib.last_error();
        let (small, _) = render(e, inst, std::ptr::null());
        assert_eq!(small, EQUIFX_STATUS_OK, "{}", lib.last_error());
        (e.instance_free)(inst);
        (st, message)
    }

    #[test]
    fn a_16k_frame_beyond_the_memory_limit_is_out_of_memory_not_an_abort() {
        // 16384² is within the frame limit; its working image alone takes 4 GiB,
        // and the host's buffers 2 GiB of the 6.
        let Some(gib) = memory_cap() else {
            return run_capped(
                "capped::a_16k_frame_beyond_the_memory_limit_is_out_of_memory_not_an_abort",
                6,
            );
        };
        let (st, message) = render_capped(16384, 16384, gib);
        assert_eq!(st, EQUIFX_STATUS_OUT_OF_MEMORY, "{message}");
        assert!(message.contains("out of memory"), "{message}");
    }

    #[test]
    fn a_frame_beyond_the_pixel_limit_is_invalid_before_anything_is_allocated() {
        // 32768 × 16384: both sides allowed, twice the pixels of the limit.
        let Some(gib) = memory_cap() else {
            return run_capped(
                "capped::a_frame_beyond_the_pixel_limit_is_invalid_before_anything_is_allocated",
                6,
            );
        };
        let (st, message) = render_capped(32768, 16384, gib);
        assert_eq!(st, EQUIFX_STATUS_INVALID_FRAME, "{message}");
        assert!(message.contains("16384×16384"), "{message}");
    }
}
