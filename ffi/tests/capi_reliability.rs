//! Hosts that call back into the library, render from several threads, read
//! parameters of every kind or abort renders that have nothing to do: none of
//! it may hang, crash or lie.

mod common;

use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::{frame, pattern, Lib};
use equifx::params::ParamKind;
use equifx_ffi::capi::callbacks::equifx_callbacks;
use equifx_ffi::capi::equifx_entry;
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
