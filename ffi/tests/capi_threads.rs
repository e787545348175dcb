//! A host under load: eight threads render two shared instances while one
//! thread keeps changing their parameters and another creates, renders and
//! frees instances of its own, and every progress callback calls back into
//! the library. Nothing may deadlock, and every frame must be bit-identical
//! to a serial render with one of the parameter values it could have seen.

mod common;

use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{frame, pattern, Lib};
use equifx_ffi::capi::callbacks::equifx_callbacks;
use equifx_ffi::capi::equifx_entry;
use equifx_ffi::capi::instance::equifx_instance;
use equifx_ffi::capi::status::equifx_status::*;

const W: u32 = 24;
const H: u32 = 16;
const EXPOSURES: [f64; 3] = [-1.0, 0.5, 2.0];
const STRENGTHS: [f64; 2] = [0.25, 1.0];

/// A raw instance pointer handed between threads: the header allows
/// concurrent renders and sets on one instance.
#[derive(Clone, Copy)]
struct Shared(*mut equifx_instance);
// SAFETY: the C ABI documents instances as usable from any thread at once,
// except instance_free, which only the thread that created it calls here.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// What each kind of instance is: its node, the float parameter the test
/// changes and the values it takes.
#[derive(Clone, Copy)]
enum Kind {
    Exposure,
    Transfer,
}

impl Kind {
    fn node(self) -> &'static str {
        match self {
            Kind::Exposure => "org.equifx.Exposure",
            Kind::Transfer => "org.equifx.DomainTransfer",
        }
    }
    fn param(self) -> &'static str {
        match self {
            Kind::Exposure => "exposure",
            Kind::Transfer => "strength",
        }
    }
    fn values(self) -> &'static [f64] {
        match self {
            Kind::Exposure => &EXPOSURES,
            Kind::Transfer => &STRENGTHS,
        }
    }
}

fn set_float(e: &equifx_entry, inst: *mut equifx_instance, name: &str, v: f64) {
    let name = CString::new(name).unwrap();
    assert_eq!(
        (e.instance_set_float)(inst, name.as_ptr(), v),
        EQUIFX_STATUS_OK
    );
}

fn new_instance(lib: &Lib, kind: Kind, value: f64) -> *mut equifx_instance {
    let inst = lib.new_instance(kind.node());
    if let Kind::Transfer = kind {
        for (name, text) in [("source", "photo"), ("target", "oil"), ("device", "cpu")] {
            let (name, text) = (CString::new(name).unwrap(), CString::new(text).unwrap());
            let st = (lib.entry.instance_set_text)(inst, name.as_ptr(), text.as_ptr());
            assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
        }
    }
    set_float(lib.entry, inst, kind.param(), value);
    inst
}

/// What the progress callback needs to call back into the library.
struct CallbackContext {
    entry: &'static equifx_entry,
    inst: Shared,
    param: CString,
    calls: AtomicUsize,
}

extern "C" fn read_back_from_progress(userdata: *mut c_void, _fraction: f64) {
    // SAFETY: userdata is the CallbackContext the render was given, alive for the call.
    let ctx = unsafe { &*(userdata as *const CallbackContext) };
    let mut v = f64::NAN;
    let st = (ctx.entry.instance_get_float)(ctx.inst.0, ctx.param.as_ptr(), &mut v);
    assert_eq!(st, EQUIFX_STATUS_OK);
    assert!((ctx.entry.node_count)() > 0);
    ctx.calls.fetch_add(1, Ordering::Relaxed);
}

/// Renders `inst` on the test pattern, with a progress callback that reads
/// the instance's parameter back; returns the pixels.
fn render(lib: &Lib, kind: Kind, inst: Shared) -> Vec<u8> {
    let mut src = pattern((W * H * 4) as usize, 11);
    let mut dst = vec![0u8; src.len()];
    let fi = frame(W, H, 0, 0, 0, (W * 4) as isize, &mut src);
    let fo = frame(W, H, 0, 0, 0, (W * 4) as isize, &mut dst);
    let ctx = CallbackContext {
        entry: lib.entry,
        inst,
        param: CString::new(kind.param()).unwrap(),
        calls: AtomicUsize::new(0),
    };
    let cb = equifx_callbacks {
        struct_size: std::mem::size_of::<equifx_callbacks>() as u32,
        userdata: &ctx as *const CallbackContext as *mut c_void,
        progress: Some(read_back_from_progress),
        abort: None,
        log: None,
    };
    let st = (lib.entry.instance_render)(inst.0, &fi, 1, &fo, 0, &cb);
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    assert!(
        ctx.calls.load(Ordering::Relaxed) > 0,
        "progress was reported"
    );
    dst
}

/// Serial renders of every value of `kind`, one fresh instance each.
fn references(lib: &Lib, kind: Kind) -> Vec<Vec<u8>> {
    kind.values()
        .iter()
        .map(|&v| {
            let inst = new_instance(lib, kind, v);
            let px = render(lib, kind, Shared(inst));
            (lib.entry.instance_free)(inst);
            px
        })
        .collect()
}

#[test]
fn eight_renderers_a_setter_and_a_creator_agree_with_serial_renders() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lib = Arc::new(Lib::load());
        let kinds = [Kind::Exposure, Kind::Transfer];
        let refs: Arc<Vec<Vec<Vec<u8>>>> =
            Arc::new(kinds.iter().map(|&k| references(&lib, k)).collect());
        for (k, r) in kinds.iter().zip(refs.iter()) {
            assert!(
                r.windows(2).all(|w| w[0] != w[1]),
                "{}: the values must give different frames, or the test sees nothing",
                k.node()
            );
        }
        let shared: Vec<Shared> = kinds
            .iter()
            .map(|&k| Shared(new_instance(&lib, k, k.values()[0])))
            .collect();

        let mut threads = Vec::new();
        for t in 0..8 {
            let (lib, refs, shared) = (lib.clone(), refs.clone(), shared.clone());
            threads.push(std::thread::spawn(move || {
                for i in 0..10 {
                    let k = (t + i) % 2;
                    let px = render(&lib, kinds[k], shared[k]);
                    assert!(
                        refs[k].contains(&px),
                        "thread {t}, render {i} of {}: a frame no serial render gives",
                        kinds[k].node()
                    );
                }
            }));
        }
        let setter = {
            let (lib, shared) = (lib.clone(), shared.clone());
            std::thread::spawn(move || {
                for i in 0..60 {
                    for (k, kind) in kinds.iter().enumerate() {
                        let values = kind.values();
                        set_float(
                            lib.entry,
                            shared[k].0,
                            kind.param(),
                            values[i % values.len()],
                        );
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let creator = {
            let (lib, refs) = (lib.clone(), refs.clone());
            std::thread::spawn(move || {
                for i in 0..12 {
                    let k = i % 2;
                    let values = kinds[k].values();
                    let v = i % values.len();
                    let inst = new_instance(&lib, kinds[k], values[v]);
                    let px = render(&lib, kinds[k], Shared(inst));
                    (lib.entry.instance_free)(inst);
                    assert!(
                        px == refs[k][v],
                        "a fresh {} differs from its serial render",
                        kinds[k].node()
                    );
                }
            })
        };
        for t in threads.into_iter().chain([setter, creator]) {
            if let Err(panic) = t.join() {
                let _ = tx.send(Err(panic));
                return;
            }
        }
        for s in &shared {
            (lib.entry.instance_free)(s.0);
        }
        let _ = tx.send(Ok(()));
    });
    match rx.recv_timeout(Duration::from_secs(300)) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the test thread panicked"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("not finished within 300 s: the library deadlocked")
        }
    }
}
