//! The host as the plugin sees it: the `OfxHost` pointer from `setHost`, the
//! suites fetched in `Load` (reference-counted, because hosts such as MLT call
//! `Load` again for every frame without `Unload`), and thin safe wrappers for
//! the property, message and progress calls every other file uses.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::abi::*;
use crate::guard::FfiError;

/// The host pointer given to `setHost`; it must only be stored there (ofxCore.h:121-136).
static HOST: AtomicPtr<OfxHost> = AtomicPtr::new(std::ptr::null_mut());

/// Suites and the number of `Load`s not yet matched by an `Unload`.
static LOADED: Mutex<(usize, Option<Arc<Suites>>)> = Mutex::new((0, None));

/// The host's suites. Property, image effect and parameter are required;
/// message and progress are used when present.
pub struct Suites {
    pub prop: &'static OfxPropertySuiteV1,
    pub effect: &'static OfxImageEffectSuiteV1,
    pub param: &'static OfxParameterSuiteV1,
    message_v2: Option<&'static OfxMessageSuiteV2>,
    message_v1: Option<&'static OfxMessageSuiteV1>,
    pub progress: Option<&'static OfxProgressSuiteV1>,
    /// The host descriptor says `OfxImageEffectPropCudaRenderSupported = "true"`.
    pub host_offers_cuda: bool,
    /// The host descriptor says `OfxParamHostPropSupportsStrChoice = 1`
    /// (OpenFX 1.5 string-valued choices; MLT says 0).
    pub host_supports_str_choice: bool,
}

/// Stores the host pointer (the plugin's `setHost`).
pub fn set_host(host: *mut OfxHost) {
    HOST.store(host, Ordering::Release);
}

fn fetch<T>(host: &OfxHost, name: &CStr, version: c_int) -> Option<&'static T> {
    // SAFETY: fetch_suite is the host's function; it returns NULL or a pointer to
    // a suite struct of the named version that lives as long as the plugin is loaded.
    let p = unsafe { (host.fetch_suite)(host.host, name.as_ptr(), version) } as *const T;
    // SAFETY: non-null pointers from fetchSuite point to a valid, immutable T.
    unsafe { p.as_ref() }
}

/// `kOfxActionLoad`: fetches the suites (again, if the host loads twice).
/// Returns `ERR_MISSING_HOST_FEATURE` when a required suite is absent.
pub fn load() -> OfxStatus {
    // SAFETY: the host set this pointer in setHost and keeps the struct alive
    // while the plugin is loaded; NULL (no setHost yet) is handled.
    let Some(host) = (unsafe { HOST.load(Ordering::Acquire).as_ref() }) else {
        return OfxStatus::ERR_MISSING_HOST_FEATURE;
    };
    let (Some(prop), Some(effect), Some(param)) = (
        fetch(host, PROPERTY_SUITE, 1),
        fetch(host, IMAGE_EFFECT_SUITE, 1),
        fetch(host, PARAMETER_SUITE, 1),
    ) else {
        return OfxStatus::ERR_MISSING_HOST_FEATURE;
    };
    let suites = Suites {
        prop,
        effect,
        param,
        message_v2: fetch(host, MESSAGE_SUITE, 2),
        message_v1: fetch(host, MESSAGE_SUITE, 1),
        progress: fetch(host, PROGRESS_SUITE, 1),
        host_offers_cuda: false,
        host_supports_str_choice: false,
    };
    let host_props = Props::new(&suites, host.host);
    let host_offers_cuda = host_props
        .get_string(OfxImageEffectPropCudaRenderSupported, 0)
        .is_ok_and(|v| v == "true");
    // Absent (a host older than 1.5) means no.
    let host_supports_str_choice = host_props
        .get_int(OfxParamHostPropSupportsStrChoice, 0)
        .is_ok_and(|v| v == 1);
    let suites = Suites {
        host_offers_cuda,
        host_supports_str_choice,
        ..suites
    };
    let mut loaded = LOADED.lock();
    loaded.0 += 1;
    loaded.1 = Some(Arc::new(suites));
    OfxStatus::OK
}

/// `kOfxActionUnload`: forgets the suites once every `Load` is matched.
pub fn unload() -> OfxStatus {
    let mut loaded = LOADED.lock();
    loaded.0 = loaded.0.saturating_sub(1);
    if loaded.0 == 0 {
        loaded.1 = None;
    }
    OfxStatus::OK
}

/// The suites, or an error when an action arrives before `Load`.
pub fn get() -> Result<Arc<Suites>, FfiError> {
    LOADED
        .lock()
        .1
        .clone()
        .ok_or_else(|| FfiError::invalid("the host sent an action before kOfxActionLoad"))
}

fn host_failed(call: &str, name: &CStr, st: OfxStatus) -> FfiError {
    FfiError::invalid(format!(
        "the host's {call}({}) failed with OpenFX status {}",
        name.to_string_lossy(),
        st.0
    ))
}

/// A property set handle with typed accessors.
#[derive(Clone, Copy)]
pub struct Props<'s> {
    s: &'s Suites,
    h: OfxPropertySetHandle,
}

impl<'s> Props<'s> {
    pub fn new(s: &'s Suites, h: OfxPropertySetHandle) -> Self {
        Props { s, h }
    }

    /// Sets a string; the status is returned so callers decide whether the
    /// property was optional (hosts reject properties they do not know).
    pub fn set_string(&self, name: &CStr, index: c_int, value: &CStr) -> OfxStatus {
        // SAFETY: h came from the host; name and value are valid C strings for the call.
        unsafe { (self.s.prop.prop_set_string)(self.h, name.as_ptr(), index, value.as_ptr()) }
    }

    pub fn set_int(&self, name: &CStr, index: c_int, value: c_int) -> OfxStatus {
        // SAFETY: as in set_string.
        unsafe { (self.s.prop.prop_set_int)(self.h, name.as_ptr(), index, value) }
    }

    pub fn set_double(&self, name: &CStr, index: c_int, value: f64) -> OfxStatus {
        // SAFETY: as in set_string.
        unsafe { (self.s.prop.prop_set_double)(self.h, name.as_ptr(), index, value) }
    }

    pub fn set_double_n(&self, name: &CStr, values: &[f64]) -> OfxStatus {
        // SAFETY: values holds values.len() doubles for the duration of the call.
        unsafe {
            (self.s.prop.prop_set_double_n)(
                self.h,
                name.as_ptr(),
                values.len() as c_int,
                values.as_ptr(),
            )
        }
    }

    pub fn set_pointer(&self, name: &CStr, value: *mut c_void) -> OfxStatus {
        // SAFETY: as in set_string; the host stores the pointer value only.
        unsafe { (self.s.prop.prop_set_pointer)(self.h, name.as_ptr(), 0, value) }
    }

    /// Resets a property to its default (for a choice's options: none, so a
    /// shorter list leaves no stale entries). The status says whether the
    /// host did it.
    pub fn reset(&self, name: &CStr) -> OfxStatus {
        // SAFETY: h came from the host; name is a valid C string for the call.
        unsafe { (self.s.prop.prop_reset)(self.h, name.as_ptr()) }
    }

    /// Number of values a property holds.
    pub fn dimension(&self, name: &CStr) -> Result<c_int, FfiError> {
        let mut v: c_int = 0;
        // SAFETY: v is a valid out-pointer for one int.
        let st = unsafe { (self.s.prop.prop_get_dimension)(self.h, name.as_ptr(), &mut v) };
        (st == OfxStatus::OK)
            .then_some(v)
            .ok_or_else(|| host_failed("propGetDimension", name, st))
    }

    /// Sets a required string property: failure is an error.
    pub fn require_string(&self, name: &CStr, index: c_int, value: &CStr) -> Result<(), FfiError> {
        match self.set_string(name, index, value) {
            OfxStatus::OK => Ok(()),
            st => Err(host_failed("propSetString", name, st)),
        }
    }

    pub fn get_int(&self, name: &CStr, index: c_int) -> Result<c_int, FfiError> {
        let mut v: c_int = 0;
        // SAFETY: v is a valid out-pointer for one int.
        let st = unsafe { (self.s.prop.prop_get_int)(self.h, name.as_ptr(), index, &mut v) };
        (st == OfxStatus::OK)
            .then_some(v)
            .ok_or_else(|| host_failed("propGetInt", name, st))
    }

    pub fn get_double(&self, name: &CStr, index: c_int) -> Result<f64, FfiError> {
        let mut v = 0.0;
        // SAFETY: v is a valid out-pointer for one double.
        let st = unsafe { (self.s.prop.prop_get_double)(self.h, name.as_ptr(), index, &mut v) };
        (st == OfxStatus::OK)
            .then_some(v)
            .ok_or_else(|| host_failed("propGetDouble", name, st))
    }

    pub fn get_int4(&self, name: &CStr) -> Result<[c_int; 4], FfiError> {
        let mut v: [c_int; 4] = [0; 4];
        // SAFETY: v has room for the 4 ints asked for.
        let st = unsafe { (self.s.prop.prop_get_int_n)(self.h, name.as_ptr(), 4, v.as_mut_ptr()) };
        (st == OfxStatus::OK)
            .then_some(v)
            .ok_or_else(|| host_failed("propGetIntN", name, st))
    }

    pub fn get_pointer(&self, name: &CStr) -> Result<*mut c_void, FfiError> {
        let mut v: *mut c_void = std::ptr::null_mut();
        // SAFETY: v is a valid out-pointer for one pointer.
        let st = unsafe { (self.s.prop.prop_get_pointer)(self.h, name.as_ptr(), 0, &mut v) };
        (st == OfxStatus::OK)
            .then_some(v)
            .ok_or_else(|| host_failed("propGetPointer", name, st))
    }

    /// Reads a string property, copied at once (the host owns its storage).
    pub fn get_string(&self, name: &CStr, index: c_int) -> Result<String, FfiError> {
        let mut v: *mut c_char = std::ptr::null_mut();
        // SAFETY: v is a valid out-pointer for one string pointer.
        let st = unsafe { (self.s.prop.prop_get_string)(self.h, name.as_ptr(), index, &mut v) };
        if st != OfxStatus::OK || v.is_null() {
            return Err(host_failed("propGetString", name, st));
        }
        // SAFETY: the host returned a NUL-terminated string valid until the property changes;
        // it is copied before any other host call.
        Ok(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }
}

impl Suites {
    /// Shows an error to the artist: a persistent message on the effect when
    /// the host has message suite v2, a plain message otherwise.
    pub fn report_error(&self, effect: OfxImageEffectHandle, message: &str) {
        let text = crate::text::cstring(message);
        let id = c"org.equifx.error";
        if let Some(m) = self.message_v2 {
            // SAFETY: variadic call with format "%s" and exactly one C string argument.
            unsafe {
                (m.set_persistent_message)(
                    effect.cast(),
                    OfxMessageError.as_ptr(),
                    id.as_ptr(),
                    c"%s".as_ptr(),
                    text.as_ptr(),
                )
            };
        } else if let Some(m) = self.message_v1 {
            // SAFETY: as above.
            unsafe {
                (m.message)(
                    effect.cast(),
                    OfxMessageError.as_ptr(),
                    id.as_ptr(),
                    c"%s".as_ptr(),
                    text.as_ptr(),
                )
            };
        }
    }

    /// Clears an earlier persistent error after a successful render.
    pub fn clear_error(&self, effect: OfxImageEffectHandle) {
        if let Some(m) = self.message_v2 {
            // SAFETY: effect is the instance handle the host passed to this action.
            unsafe { (m.clear_persistent_message)(effect.cast()) };
        }
    }

    /// Property set of an effect (descriptor or instance).
    pub fn effect_props(&self, effect: OfxImageEffectHandle) -> Result<Props<'_>, FfiError> {
        let mut h: OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: effect came from the host for this action; h is a valid out-pointer.
        let st = unsafe { (self.effect.get_property_set)(effect, &mut h) };
        if st != OfxStatus::OK || h.is_null() {
            return Err(host_failed("getPropertySet", c"effect", st));
        }
        Ok(Props::new(self, h))
    }

    /// Parameter set of an effect.
    pub fn param_set(&self, effect: OfxImageEffectHandle) -> Result<OfxParamSetHandle, FfiError> {
        let mut h: OfxParamSetHandle = std::ptr::null_mut();
        // SAFETY: as in effect_props.
        let st = unsafe { (self.effect.get_param_set)(effect, &mut h) };
        if st != OfxStatus::OK || h.is_null() {
            return Err(host_failed("getParamSet", c"effect", st));
        }
        Ok(h)
    }

    /// Handle of parameter `name` of a parameter set.
    pub fn param_handle(
        &self,
        set: OfxParamSetHandle,
        name: &CStr,
    ) -> Result<OfxParamHandle, FfiError> {
        let mut h: OfxParamHandle = std::ptr::null_mut();
        // SAFETY: set came from the host; name is a C string; h is an out-pointer;
        // the property-set out-pointer may be NULL.
        let st = unsafe {
            (self.param.param_get_handle)(set, name.as_ptr(), &mut h, std::ptr::null_mut())
        };
        if st != OfxStatus::OK || h.is_null() {
            return Err(host_failed("paramGetHandle", name, st));
        }
        Ok(h)
    }

    /// Property set of a parameter (descriptor or instance).
    pub fn param_props(&self, param: OfxParamHandle) -> Result<Props<'_>, FfiError> {
        let mut h: OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: param came from the host; h is a valid out-pointer.
        let st = unsafe { (self.param.param_get_property_set)(param, &mut h) };
        if st != OfxStatus::OK || h.is_null() {
            return Err(host_failed("paramGetPropertySet", c"parameter", st));
        }
        Ok(Props::new(self, h))
    }

    /// The current value of a String or StrChoice parameter, copied.
    /// (`paramGetValue`: outside render, where values have no time.)
    pub fn param_text(&self, param: OfxParamHandle) -> Result<String, FfiError> {
        let mut v: *mut c_char = std::ptr::null_mut();
        // SAFETY: String and StrChoice parameters are read through one `char**`.
        let st = unsafe { (self.param.param_get_value)(param, &mut v as *mut *mut c_char) };
        if st != OfxStatus::OK {
            return Err(host_failed("paramGetValue", c"string parameter", st));
        }
        if v.is_null() {
            return Ok(String::new());
        }
        // SAFETY: the host returned a NUL-terminated string it owns; it is
        // copied before any other host call.
        Ok(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }

    /// The current index of a Choice parameter.
    pub fn param_index(&self, param: OfxParamHandle) -> Result<c_int, FfiError> {
        let mut v: c_int = 0;
        // SAFETY: a Choice parameter's index is read through one `int*`.
        let st = unsafe { (self.param.param_get_value)(param, &mut v as *mut c_int) };
        (st == OfxStatus::OK)
            .then_some(v)
            .ok_or_else(|| host_failed("paramGetValue", c"choice parameter", st))
    }

    /// Sets a String parameter (`paramSetValue`, one `char*`; the host copies it).
    pub fn set_param_text(&self, param: OfxParamHandle, value: &CStr) -> OfxStatus {
        // SAFETY: a String parameter is set from one `const char*`, valid for the call.
        unsafe { (self.param.param_set_value)(param, value.as_ptr()) }
    }

    /// Sets a Choice parameter's index (`paramSetValue`, one `int`).
    pub fn set_param_index(&self, param: OfxParamHandle, index: c_int) -> OfxStatus {
        // SAFETY: a Choice parameter is set from one `int` (no promotion needed).
        unsafe { (self.param.param_set_value)(param, index) }
    }

    /// Handle of clip `name` of an instance.
    pub fn clip(
        &self,
        effect: OfxImageEffectHandle,
        name: &CStr,
    ) -> Result<OfxImageClipHandle, FfiError> {
        let mut c: OfxImageClipHandle = std::ptr::null_mut();
        // SAFETY: name is a valid C string; c is a valid out-pointer; the property
        // set out-pointer may be NULL (ofxImageEffect.h clipGetHandle).
        let st = unsafe {
            (self.effect.clip_get_handle)(effect, name.as_ptr(), &mut c, std::ptr::null_mut())
        };
        if st != OfxStatus::OK || c.is_null() {
            return Err(host_failed("clipGetHandle", name, st));
        }
        Ok(c)
    }

    /// True once the host asked the render of `effect` to stop.
    pub fn aborted(&self, effect: OfxImageEffectHandle) -> bool {
        // SAFETY: effect is the instance the host is rendering.
        unsafe { (self.effect.abort)(effect) != 0 }
    }
}
