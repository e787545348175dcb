//! The host's suites: image effect, parameter (variadic parts in C, see
//! `variadic.c`), message, progress, multithread and memory, plus
//! `fetchSuite`.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::ThreadId;

use equifx_ffi::ofx::abi::*;
use parking_lot::{Condvar, Mutex};

use super::objects::{Clip, Effect, Message, Param, ParamSet, PV};
use super::props::{self, PropSet, Value};

unsafe fn text<'a>(p: *const c_char) -> &'a str {
    if p.is_null() {
        ""
    } else {
        CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

unsafe fn effect<'a>(h: OfxImageEffectHandle) -> Option<&'a Effect> {
    (h as *const Effect).as_ref()
}

unsafe fn out<T>(p: *mut T, v: T) -> OfxStatus {
    match p.as_mut() {
        Some(slot) => {
            *slot = v;
            OfxStatus::OK
        }
        None => OfxStatus::ERR_VALUE,
    }
}

// ---------------------------------------------------------------- image effect

extern "C" fn get_property_set(e: OfxImageEffectHandle, p: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: handles this host made; p is the plugin's out-pointer.
    unsafe {
        match effect(e) {
            Some(e) => out(p, e.props.handle()),
            None => OfxStatus::ERR_BAD_HANDLE,
        }
    }
}

extern "C" fn get_param_set(e: OfxImageEffectHandle, p: *mut OfxParamSetHandle) -> OfxStatus {
    // SAFETY: as above.
    unsafe {
        match effect(e) {
            Some(e) => out(p, e.params.handle()),
            None => OfxStatus::ERR_BAD_HANDLE,
        }
    }
}

extern "C" fn clip_define(
    e: OfxImageEffectHandle,
    name: *const c_char,
    p: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as above; name is a C string.
    unsafe {
        match effect(e) {
            Some(e) => out(p, e.define_clip(text(name))),
            None => OfxStatus::ERR_BAD_HANDLE,
        }
    }
}

extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    name: *const c_char,
    c: *mut OfxImageClipHandle,
    p: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as above; p may be NULL.
    unsafe {
        let Some(e) = effect(e) else {
            return OfxStatus::ERR_BAD_HANDLE;
        };
        let Some(clip) = e.clip(text(name)) else {
            return OfxStatus::ERR_UNKNOWN;
        };
        if !p.is_null() {
            *p = (*(clip as *const Clip)).props.handle();
        }
        out(c, clip)
    }
}

extern "C" fn clip_get_property_set(
    c: OfxImageClipHandle,
    p: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: c is a clip handle this host made.
    unsafe {
        match (c as *const Clip).as_ref() {
            Some(c) => out(p, c.props.handle()),
            None => OfxStatus::ERR_BAD_HANDLE,
        }
    }
}

/// Images handed out and not yet released: handle → (property set, owner effect).
type ImageTable = Mutex<HashMap<usize, (Box<PropSet>, usize)>>;

fn images() -> &'static ImageTable {
    static IMAGES: OnceLock<ImageTable> = OnceLock::new();
    IMAGES.get_or_init(Default::default)
}

/// The effect owning a clip.
fn owner_of(c: &Clip) -> Option<&'static Effect> {
    // SAFETY: clips live inside their (boxed) effect, so the owner outlives the clip.
    unsafe { (c.owner as *const Effect).as_ref() }
}

extern "C" fn clip_get_image(
    c: OfxImageClipHandle,
    time: OfxTime,
    _region: *const OfxRectD,
    p: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: c is a clip handle this host made.
    let Some(clip) = (unsafe { (c as *const Clip).as_ref() }) else {
        return OfxStatus::ERR_BAD_HANDLE;
    };
    let Some(buf) = clip.image_at(time) else {
        return OfxStatus::FAILED;
    };
    let b = buf.spec.bounds;
    let premult = if buf.spec.premultiplied {
        "OfxImageAlphaPremultiplied"
    } else {
        "OfxImageAlphaUnPremultiplied"
    };
    let img = PropSet::new(
        true,
        vec![
            ("OfxImagePropData", Value::Ptr(vec![buf.data() as usize])),
            ("OfxImagePropRowBytes", Value::Int(vec![buf.row_bytes()])),
            (
                "OfxImagePropBounds",
                Value::Int(vec![b.x1, b.y1, b.x2, b.y2]),
            ),
            (
                "OfxImagePropRegionOfDefinition",
                Value::Int(vec![b.x1, b.y1, b.x2, b.y2]),
            ),
            (
                "OfxImageEffectPropPixelDepth",
                props::s(buf.spec.depth.name()),
            ),
            (
                "OfxImageEffectPropComponents",
                props::s("OfxImageComponentRGBA"),
            ),
            ("OfxImageEffectPropPreMultiplication", props::s(premult)),
            ("OfxImagePropPixelAspectRatio", Value::Dbl(vec![1.0])),
            ("OfxImageEffectPropRenderScale", Value::Dbl(vec![1.0, 1.0])),
            ("OfxImagePropField", props::s("OfxFieldNone")),
            ("OfxPropTime", Value::Dbl(vec![time])),
        ],
    );
    let h = img.handle();
    let owner = owner_of(clip);
    if let Some(e) = owner {
        e.images_out.fetch_add(1, Ordering::SeqCst);
    }
    images().lock().insert(
        h as usize,
        (img, owner.map_or(0, |e| e as *const Effect as usize)),
    );
    // Keep the buffer alive while the image is out: tests hold it anyway.
    drop(buf);
    // SAFETY: p is the plugin's out-pointer.
    unsafe { out(p, h) }
}

extern "C" fn clip_release_image(h: OfxPropertySetHandle) -> OfxStatus {
    match images().lock().remove(&(h as usize)) {
        Some((_, owner)) => {
            // SAFETY: owners are live effects (see register_clips).
            if let Some(e) = unsafe { (owner as *const Effect).as_ref() } {
                e.images_out.fetch_sub(1, Ordering::SeqCst);
            }
            OfxStatus::OK
        }
        None => OfxStatus::ERR_BAD_HANDLE,
    }
}

extern "C" fn clip_get_rod(c: OfxImageClipHandle, t: OfxTime, r: *mut OfxRectD) -> OfxStatus {
    // SAFETY: c is a clip handle this host made.
    let Some(clip) = (unsafe { (c as *const Clip).as_ref() }) else {
        return OfxStatus::ERR_BAD_HANDLE;
    };
    let Some(buf) = clip.image_at(t) else {
        return OfxStatus::FAILED;
    };
    let b = buf.spec.bounds;
    let rect = OfxRectD {
        x1: b.x1.into(),
        y1: b.y1.into(),
        x2: b.x2.into(),
        y2: b.y2.into(),
    };
    // SAFETY: r is the plugin's out-pointer.
    unsafe { out(r, rect) }
}

extern "C" fn abort(e: OfxImageEffectHandle) -> c_int {
    // SAFETY: e is an effect handle this host made.
    unsafe { effect(e) }.map_or(0, |e| c_int::from(e.aborting()))
}

extern "C" fn image_memory_alloc(
    _e: OfxImageEffectHandle,
    n: usize,
    m: *mut OfxImageMemoryHandle,
) -> OfxStatus {
    let b = Box::into_raw(Box::new(vec![0u8; n]));
    // SAFETY: m is the plugin's out-pointer.
    unsafe { out(m, b as OfxImageMemoryHandle) }
}

extern "C" fn image_memory_free(m: OfxImageMemoryHandle) -> OfxStatus {
    if !m.is_null() {
        // SAFETY: m came from image_memory_alloc.
        drop(unsafe { Box::from_raw(m as *mut Vec<u8>) });
    }
    OfxStatus::OK
}

extern "C" fn image_memory_lock(m: OfxImageMemoryHandle, p: *mut *mut c_void) -> OfxStatus {
    // SAFETY: m came from image_memory_alloc; p is an out-pointer.
    unsafe {
        match (m as *mut Vec<u8>).as_mut() {
            Some(v) => out(p, v.as_mut_ptr() as *mut c_void),
            None => OfxStatus::ERR_BAD_HANDLE,
        }
    }
}

extern "C" fn image_memory_unlock(_m: OfxImageMemoryHandle) -> OfxStatus {
    OfxStatus::OK
}

pub static EFFECT_SUITE: OfxImageEffectSuiteV1 = OfxImageEffectSuiteV1 {
    get_property_set,
    get_param_set,
    clip_define,
    clip_get_handle,
    clip_get_property_set,
    clip_get_image,
    clip_release_image,
    clip_get_region_of_definition: clip_get_rod,
    abort,
    image_memory_alloc,
    image_memory_free,
    image_memory_lock,
    image_memory_unlock,
};

// ---------------------------------------------------------------- parameters

unsafe fn param_set<'a>(h: OfxParamSetHandle) -> Option<&'a ParamSet> {
    (h as *const ParamSet).as_ref()
}

unsafe fn param<'a>(h: OfxParamHandle) -> Option<&'a Param> {
    (h as *const Param).as_ref()
}

extern "C" fn param_define(
    ps: OfxParamSetHandle,
    kind: *const c_char,
    name: *const c_char,
    p: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: handles this host made, C strings, an out-pointer.
    unsafe {
        let Some(ps) = param_set(ps) else {
            return OfxStatus::ERR_BAD_HANDLE;
        };
        match ps.define(text(kind), text(name)) {
            Some(h) => {
                if !p.is_null() {
                    *p = h;
                }
                OfxStatus::OK
            }
            None => OfxStatus::ERR_EXISTS,
        }
    }
}

extern "C" fn param_get_handle(
    ps: OfxParamSetHandle,
    name: *const c_char,
    h: *mut OfxParamHandle,
    p: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as above; p may be NULL.
    unsafe {
        let Some(ps) = param_set(ps) else {
            return OfxStatus::ERR_BAD_HANDLE;
        };
        let Some(found) = ps.find(text(name)) else {
            return OfxStatus::ERR_UNKNOWN;
        };
        if !p.is_null() {
            *p = (*(found as *const Param)).props.handle();
        }
        out(h, found)
    }
}

extern "C" fn param_set_get_property_set(
    ps: OfxParamSetHandle,
    p: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as above.
    unsafe {
        match param_set(ps) {
            Some(ps) => out(p, ps.props.handle()),
            None => OfxStatus::ERR_BAD_HANDLE,
        }
    }
}

extern "C" fn param_get_property_set(h: OfxParamHandle, p: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: as above.
    unsafe {
        match param(h) {
            Some(h) => out(p, h.props.handle()),
            None => OfxStatus::ERR_BAD_HANDLE,
        }
    }
}

extern "C" fn param_get_num_keys(_h: OfxParamHandle, n: *mut c_uint) -> OfxStatus {
    // SAFETY: out-pointer.
    unsafe { out(n, 0) }
}
extern "C" fn param_get_key_time(_h: OfxParamHandle, _i: c_uint, _t: *mut OfxTime) -> OfxStatus {
    OfxStatus::ERR_BAD_INDEX
}
extern "C" fn param_get_key_index(
    _h: OfxParamHandle,
    _t: OfxTime,
    _d: c_int,
    _i: *mut c_int,
) -> OfxStatus {
    OfxStatus::FAILED
}
extern "C" fn param_delete_key(_h: OfxParamHandle, _t: OfxTime) -> OfxStatus {
    OfxStatus::ERR_BAD_INDEX
}
extern "C" fn param_delete_all_keys(h: OfxParamHandle) -> OfxStatus {
    // SAFETY: a param handle this host made.
    if let Some(p) = unsafe { param(h) } {
        p.clear();
    }
    OfxStatus::OK
}
extern "C" fn param_copy(
    _to: OfxParamHandle,
    _from: OfxParamHandle,
    _t: OfxTime,
    _r: *const c_void,
) -> OfxStatus {
    OfxStatus::ERR_UNSUPPORTED
}
extern "C" fn param_edit_begin(_ps: OfxParamSetHandle, _n: *const c_char) -> OfxStatus {
    OfxStatus::OK
}
extern "C" fn param_edit_end(_ps: OfxParamSetHandle) -> OfxStatus {
    OfxStatus::OK
}

/// Every parameter the plugin set with paramSetValue(AtTime), by handle, in
/// order: a real host answers each with InstanceChanged (reason
/// PluginEdited), which `Session::echo_plugin_edits` delivers.
pub static PLUGIN_EDITS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Whether an InstanceChanged action is running: "paramSetValue should only
/// be called from within a kOfxActionInstanceChanged or interact action"
/// (ofxParam.h), so this host refuses it elsewhere and counts the attempt.
pub static IN_INSTANCE_CHANGED: AtomicBool = AtomicBool::new(false);
pub static EDITS_OUTSIDE_INSTANCE_CHANGED: AtomicUsize = AtomicUsize::new(0);

// Callbacks the C shim forwards the variadic calls to.

extern "C" fn cb_param_shape(h: *mut c_void, shape: *mut c_int, count: *mut c_int) -> c_int {
    // SAFETY: h is a param handle; shape/count are the shim's locals.
    unsafe {
        let Some(p) = param(h as OfxParamHandle) else {
            return 0;
        };
        let (s, n) = p.shape();
        *shape = s;
        *count = n;
        c_int::from(n > 0)
    }
}

extern "C" fn cb_param_get(
    h: *mut c_void,
    has_time: c_int,
    time: f64,
    outs: *mut *mut c_void,
) -> OfxStatus {
    // SAFETY: h is a param handle; outs holds the plugin's out-pointers of the param's C type.
    unsafe {
        let Some(p) = param(h as OfxParamHandle) else {
            return OfxStatus::ERR_BAD_HANDLE;
        };
        let t = if has_time != 0 { time } else { f64::INFINITY };
        let first = *outs;
        if first.is_null() {
            return OfxStatus::ERR_VALUE;
        }
        p.with_value_at(t, |v| match v {
            PV::D(x) => *(first as *mut f64) = *x,
            PV::I(x) => *(first as *mut c_int) = *x,
            // The string stays owned by the host, valid until the value changes.
            PV::S(x) => *(first as *mut *const c_char) = x.as_ptr(),
        });
        OfxStatus::OK
    }
}

extern "C" fn cb_param_set(
    h: *mut c_void,
    has_time: c_int,
    time: f64,
    d: *const f64,
    i: *const c_int,
    s: *const c_char,
) -> OfxStatus {
    // SAFETY: h is a param handle; d/i point to 4 values; s is NULL or a C string.
    unsafe {
        let Some(p) = param(h as OfxParamHandle) else {
            return OfxStatus::ERR_BAD_HANDLE;
        };
        if !IN_INSTANCE_CHANGED.load(Ordering::SeqCst) {
            EDITS_OUTSIDE_INSTANCE_CHANGED.fetch_add(1, Ordering::SeqCst);
            return OfxStatus::FAILED;
        }
        let v = match p.shape().0 {
            0 => PV::D(*d),
            1 => PV::I(*i),
            _ => PV::S(CString::new(text(s)).unwrap_or_default()),
        };
        p.set_key(
            if has_time != 0 {
                time
            } else {
                f64::NEG_INFINITY
            },
            v,
        );
        PLUGIN_EDITS.lock().push(h as usize);
        OfxStatus::OK
    }
}

extern "C" fn cb_message(
    h: *mut c_void,
    kind: *const c_char,
    _id: *const c_char,
    t: *const c_char,
    persistent: c_int,
) -> OfxStatus {
    // SAFETY: h is NULL or an effect handle; strings are C strings from the shim.
    unsafe {
        let msg = Message {
            kind: text(kind).to_string(),
            text: text(t).to_string(),
            persistent: persistent != 0,
        };
        if let Some(e) = effect(h as OfxImageEffectHandle) {
            if msg.persistent {
                *e.persistent.lock() = Some(msg.text.clone());
            }
            e.messages.lock().push(msg);
        }
    }
    OfxStatus::OK
}

extern "C" fn clear_persistent_message(h: *mut c_void) -> OfxStatus {
    // SAFETY: h is an effect handle.
    if let Some(e) = unsafe { effect(h as OfxImageEffectHandle) } {
        *e.persistent.lock() = None;
    }
    OfxStatus::OK
}

#[repr(C)]
struct ShimCallbacks {
    param_shape: extern "C" fn(*mut c_void, *mut c_int, *mut c_int) -> c_int,
    param_get: extern "C" fn(*mut c_void, c_int, f64, *mut *mut c_void) -> OfxStatus,
    param_set: extern "C" fn(
        *mut c_void,
        c_int,
        f64,
        *const f64,
        *const c_int,
        *const c_char,
    ) -> OfxStatus,
    message:
        extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, c_int) -> OfxStatus,
}

pub struct Shim {
    _lib: libloading::Library,
    pub param: OfxParameterSuiteV1,
    pub message_v1: OfxMessageSuiteV1,
    pub message_v2: OfxMessageSuiteV2,
}

/// Compiles `variadic.c` with the system C compiler (once per test process)
/// and builds the parameter and message suites around it.
pub fn shim() -> &'static Shim {
    static SHIM: OnceLock<Shim> = OnceLock::new();
    SHIM.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ofxhost/variadic.c");
        let dir = std::env::temp_dir().join(format!("equifx-ofx-shim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let so = dir.join("libofxshim.so");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let st = std::process::Command::new(cc)
            .args([
                "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o",
            ])
            .arg(&so)
            .arg(&src)
            .status()
            .expect("a C compiler (cc) is needed for the variadic OFX host functions");
        assert!(st.success(), "compiling {} failed", src.display());
        // SAFETY: our own tiny shared object, no initialisers.
        let lib = unsafe { libloading::Library::new(&so) }.unwrap();
        // Loaded, the object no longer needs its file: leave nothing in /tmp.
        let _ = std::fs::remove_dir_all(&dir);
        // SAFETY: each symbol has the signature named (see variadic.c).
        unsafe {
            let install: libloading::Symbol<unsafe extern "C" fn(*const ShimCallbacks)> =
                lib.get(b"shim_install").unwrap();
            install(&ShimCallbacks {
                param_shape: cb_param_shape,
                param_get: cb_param_get,
                param_set: cb_param_set,
                message: cb_message,
            });
            let get_value = *lib
                .get::<unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus>(
                    b"shim_param_get_value",
                )
                .unwrap();
            let get_at = *lib
                .get::<unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus>(
                    b"shim_param_get_value_at_time",
                )
                .unwrap();
            let set_value = *lib
                .get::<unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus>(
                    b"shim_param_set_value",
                )
                .unwrap();
            let set_at = *lib
                .get::<unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus>(
                    b"shim_param_set_value_at_time",
                )
                .unwrap();
            let deriv = *lib
                .get::<unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus>(
                    b"shim_param_get_derivative",
                )
                .unwrap();
            let integral = *lib
                .get::<unsafe extern "C" fn(OfxParamHandle, OfxTime, OfxTime, ...) -> OfxStatus>(
                    b"shim_param_get_integral",
                )
                .unwrap();
            type Msg = unsafe extern "C" fn(
                *mut c_void,
                *const c_char,
                *const c_char,
                *const c_char,
                ...
            ) -> OfxStatus;
            let message = *lib.get::<Msg>(b"shim_message").unwrap();
            let persistent = *lib.get::<Msg>(b"shim_set_persistent_message").unwrap();
            Shim {
                param: OfxParameterSuiteV1 {
                    param_define,
                    param_get_handle,
                    param_set_get_property_set,
                    param_get_property_set,
                    param_get_value: get_value,
                    param_get_value_at_time: get_at,
                    param_get_derivative: deriv,
                    param_get_integral: integral,
                    param_set_value: set_value,
                    param_set_value_at_time: set_at,
                    param_get_num_keys,
                    param_get_key_time,
                    param_get_key_index,
                    param_delete_key,
                    param_delete_all_keys,
                    param_copy,
                    param_edit_begin,
                    param_edit_end,
                },
                message_v1: OfxMessageSuiteV1 { message },
                message_v2: OfxMessageSuiteV2 {
                    message,
                    set_persistent_message: persistent,
                    clear_persistent_message,
                },
                _lib: lib,
            }
        }
    })
}

// ---------------------------------------------------------------- progress

extern "C" fn progress_start(h: *mut c_void, _label: *const c_char) -> OfxStatus {
    // SAFETY: h is an effect handle.
    if let Some(e) = unsafe { effect(h as OfxImageEffectHandle) } {
        e.progress_open.fetch_add(1, Ordering::SeqCst);
    }
    OfxStatus::OK
}

extern "C" fn progress_update(h: *mut c_void, f: f64) -> OfxStatus {
    // SAFETY: h is an effect handle.
    match unsafe { effect(h as OfxImageEffectHandle) } {
        Some(e) => {
            e.progress.lock().push(f);
            if e.cancel_progress.load(Ordering::SeqCst) {
                OfxStatus::REPLY_NO
            } else {
                OfxStatus::OK
            }
        }
        None => OfxStatus::ERR_BAD_HANDLE,
    }
}

extern "C" fn progress_end(h: *mut c_void) -> OfxStatus {
    // SAFETY: h is an effect handle.
    if let Some(e) = unsafe { effect(h as OfxImageEffectHandle) } {
        e.progress_open.fetch_sub(1, Ordering::SeqCst);
    }
    OfxStatus::OK
}

pub static PROGRESS_SUITE: OfxProgressSuiteV1 = OfxProgressSuiteV1 {
    progress_start,
    progress_update,
    progress_end,
};

// ---------------------------------------------------------------- multithread

/// `OfxMultiThreadSuiteV1` (ofxMultiThread.h:39-159), declared here because
/// the plugin does not use it.
#[repr(C)]
pub struct OfxMultiThreadSuiteV1 {
    pub multi_thread:
        extern "C" fn(extern "C" fn(c_uint, c_uint, *mut c_void), c_uint, *mut c_void) -> OfxStatus,
    pub num_cpus: extern "C" fn(*mut c_uint) -> OfxStatus,
    pub index: extern "C" fn(*mut c_uint) -> OfxStatus,
    pub is_spawned: extern "C" fn() -> c_int,
    pub mutex_create: extern "C" fn(*mut *mut c_void, c_int) -> OfxStatus,
    pub mutex_destroy: extern "C" fn(*mut c_void) -> OfxStatus,
    pub mutex_lock: extern "C" fn(*mut c_void) -> OfxStatus,
    pub mutex_unlock: extern "C" fn(*mut c_void) -> OfxStatus,
    pub mutex_try_lock: extern "C" fn(*mut c_void) -> OfxStatus,
}

thread_local! {
    static THREAD_INDEX: Cell<Option<c_uint>> = const { Cell::new(None) };
}

extern "C" fn multi_thread(
    f: extern "C" fn(c_uint, c_uint, *mut c_void),
    n: c_uint,
    arg: *mut c_void,
) -> OfxStatus {
    let n = n.max(1);
    let arg = arg as usize;
    std::thread::scope(|s| {
        for i in 0..n {
            s.spawn(move || {
                THREAD_INDEX.with(|t| t.set(Some(i)));
                f(i, n, arg as *mut c_void);
            });
        }
    });
    OfxStatus::OK
}

extern "C" fn num_cpus(n: *mut c_uint) -> OfxStatus {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as c_uint;
    // SAFETY: out-pointer.
    unsafe { out(n, cpus) }
}

extern "C" fn thread_index(n: *mut c_uint) -> OfxStatus {
    // SAFETY: out-pointer.
    unsafe { out(n, THREAD_INDEX.with(|t| t.get()).unwrap_or(0)) }
}

extern "C" fn is_spawned() -> c_int {
    c_int::from(THREAD_INDEX.with(|t| t.get()).is_some())
}

/// A recursive mutex, as OFX mutexes are.
struct HostMutex {
    state: Mutex<(Option<ThreadId>, u32)>,
    free: Condvar,
}

extern "C" fn mutex_create(m: *mut *mut c_void, count: c_int) -> OfxStatus {
    let owner = (count > 0).then(|| std::thread::current().id());
    let b = Box::new(HostMutex {
        state: Mutex::new((owner, count.max(0) as u32)),
        free: Condvar::new(),
    });
    // SAFETY: out-pointer.
    unsafe { out(m, Box::into_raw(b) as *mut c_void) }
}

extern "C" fn mutex_destroy(m: *mut c_void) -> OfxStatus {
    if !m.is_null() {
        // SAFETY: m came from mutex_create.
        drop(unsafe { Box::from_raw(m as *mut HostMutex) });
    }
    OfxStatus::OK
}

fn with_mutex(m: *mut c_void, f: impl FnOnce(&HostMutex) -> OfxStatus) -> OfxStatus {
    // SAFETY: m came from mutex_create.
    match unsafe { (m as *const HostMutex).as_ref() } {
        Some(m) => f(m),
        None => OfxStatus::ERR_BAD_HANDLE,
    }
}

extern "C" fn mutex_lock(m: *mut c_void) -> OfxStatus {
    with_mutex(m, |m| {
        let me = std::thread::current().id();
        let mut s = m.state.lock();
        while s.0.is_some_and(|o| o != me) {
            m.free.wait(&mut s);
        }
        *s = (Some(me), s.1 + 1);
        OfxStatus::OK
    })
}

extern "C" fn mutex_unlock(m: *mut c_void) -> OfxStatus {
    with_mutex(m, |m| {
        let mut s = m.state.lock();
        if s.0 != Some(std::thread::current().id()) {
            return OfxStatus::ERR_VALUE;
        }
        s.1 -= 1;
        if s.1 == 0 {
            s.0 = None;
            m.free.notify_one();
        }
        OfxStatus::OK
    })
}

extern "C" fn mutex_try_lock(m: *mut c_void) -> OfxStatus {
    with_mutex(m, |m| {
        let me = std::thread::current().id();
        let mut s = m.state.lock();
        if s.0.is_some_and(|o| o != me) {
            return OfxStatus::FAILED;
        }
        *s = (Some(me), s.1 + 1);
        OfxStatus::OK
    })
}

pub static MULTI_THREAD_SUITE: OfxMultiThreadSuiteV1 = OfxMultiThreadSuiteV1 {
    multi_thread,
    num_cpus,
    index: thread_index,
    is_spawned,
    mutex_create,
    mutex_destroy,
    mutex_lock,
    mutex_unlock,
    mutex_try_lock,
};

// ---------------------------------------------------------------- memory

#[repr(C)]
pub struct OfxMemorySuiteV1 {
    pub alloc: extern "C" fn(*mut c_void, usize, *mut *mut c_void) -> OfxStatus,
    pub free: extern "C" fn(*mut c_void) -> OfxStatus,
}

extern "C" fn memory_alloc(_h: *mut c_void, n: usize, p: *mut *mut c_void) -> OfxStatus {
    // A length header in front of the block, so free knows the size.
    let mut v = vec![0u8; n + 16].into_boxed_slice();
    v[..8].copy_from_slice(&(n + 16).to_ne_bytes());
    let base = Box::into_raw(v) as *mut u8;
    // SAFETY: base points at n + 16 bytes; p is an out-pointer.
    unsafe { out(p, base.add(16) as *mut c_void) }
}

extern "C" fn memory_free(p: *mut c_void) -> OfxStatus {
    if p.is_null() {
        return OfxStatus::OK;
    }
    // SAFETY: p came from memory_alloc, 16 bytes after a boxed slice whose length is stored first.
    unsafe {
        let base = (p as *mut u8).sub(16);
        let len = usize::from_ne_bytes(std::slice::from_raw_parts(base, 8).try_into().unwrap());
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(base, len)));
    }
    OfxStatus::OK
}

pub static MEMORY_SUITE: OfxMemorySuiteV1 = OfxMemorySuiteV1 {
    alloc: memory_alloc,
    free: memory_free,
};

// ---------------------------------------------------------------- fetchSuite

/// `OfxHost::fetchSuite`. Suites named in the host property
/// `equifx.test.MissingSuites` are withheld, to test hosts that lack them.
pub extern "C" fn fetch_suite(
    host: OfxPropertySetHandle,
    name: *const c_char,
    version: c_int,
) -> *const c_void {
    // SAFETY: host is the host property set this host made; name a C string.
    let (name, missing) = unsafe {
        let props = &*(host as *const PropSet);
        (text(name), props.strings("equifx.test.MissingSuites"))
    };
    if missing.iter().any(|m| m == name) {
        return std::ptr::null();
    }
    let p: *const c_void = match (name, version) {
        ("OfxPropertySuite", 1) => &props::SUITE as *const _ as *const c_void,
        ("OfxImageEffectSuite", 1) => &EFFECT_SUITE as *const _ as *const c_void,
        ("OfxParameterSuite", 1) => &shim().param as *const _ as *const c_void,
        ("OfxMessageSuite", 1) => &shim().message_v1 as *const _ as *const c_void,
        ("OfxMessageSuite", 2) => &shim().message_v2 as *const _ as *const c_void,
        ("OfxProgressSuite", 1) => &PROGRESS_SUITE as *const _ as *const c_void,
        ("OfxMultiThreadSuite", 1) => &MULTI_THREAD_SUITE as *const _ as *const c_void,
        ("OfxMemorySuite", 1) => &MEMORY_SUITE as *const _ as *const c_void,
        _ => std::ptr::null(),
    };
    p
}
