//! The OpenFX 1.5 ABI, declared by hand from the published OpenFX
//! specification (no header was copied). Citations name lines of the
//! official headers (`ofxCore.h:42`).
//!
//! Only what equifx uses is declared. Struct field order is the ABI: never
//! reorder. The test at the bottom checks every string constant against the
//! "value = macro name without its leading k" rule and the list of names
//! that break it.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

/// `OfxStatus` (ofxCore.h:35). A transparent newtype over `int`, so it is
/// ABI-identical to the C type while keeping statuses apart from plain ints.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfxStatus(pub c_int);

impl OfxStatus {
    pub const OK: OfxStatus = OfxStatus(0);
    pub const FAILED: OfxStatus = OfxStatus(1);
    /// kOfxStatGPURenderFailed (ofxGPURender.h): the host retries on the CPU.
    pub const GPU_RENDER_FAILED: OfxStatus = OfxStatus(1002);
    pub const ERR_FATAL: OfxStatus = OfxStatus(2);
    pub const ERR_UNKNOWN: OfxStatus = OfxStatus(3);
    pub const ERR_MISSING_HOST_FEATURE: OfxStatus = OfxStatus(4);
    pub const ERR_UNSUPPORTED: OfxStatus = OfxStatus(5);
    pub const ERR_EXISTS: OfxStatus = OfxStatus(6);
    pub const ERR_FORMAT: OfxStatus = OfxStatus(7);
    pub const ERR_MEMORY: OfxStatus = OfxStatus(8);
    pub const ERR_BAD_HANDLE: OfxStatus = OfxStatus(9);
    pub const ERR_BAD_INDEX: OfxStatus = OfxStatus(10);
    pub const ERR_VALUE: OfxStatus = OfxStatus(11);
    pub const REPLY_YES: OfxStatus = OfxStatus(12);
    pub const REPLY_NO: OfxStatus = OfxStatus(13);
    /// Returned for every action the plugin leaves to the host (ofxCore.h:1043).
    pub const REPLY_DEFAULT: OfxStatus = OfxStatus(14);
    pub const ERR_IMAGE_FORMAT: OfxStatus = OfxStatus(1000);
}

/// `OfxTime` (ofxCore.h:893).
pub type OfxTime = f64;

macro_rules! opaque {
    ($($name:ident),*) => {$(
        /// Opaque host object; only ever handled through a pointer.
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
        }
    )*};
}
opaque!(
    OfxPropertySetStruct,
    OfxImageEffectStruct,
    OfxImageClipStruct,
    OfxImageMemoryStruct,
    OfxParamSetStruct,
    OfxParamStruct
);

pub type OfxPropertySetHandle = *mut OfxPropertySetStruct;
pub type OfxImageEffectHandle = *mut OfxImageEffectStruct;
pub type OfxImageClipHandle = *mut OfxImageClipStruct;
pub type OfxImageMemoryHandle = *mut OfxImageMemoryStruct;
pub type OfxParamSetHandle = *mut OfxParamSetStruct;
pub type OfxParamHandle = *mut OfxParamStruct;

/// Integer rectangle, `x1 <= x < x2` (ofxCore.h:938).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OfxRectI {
    pub x1: c_int,
    pub y1: c_int,
    pub x2: c_int,
    pub y2: c_int,
}

/// Double rectangle in canonical coordinates (ofxCore.h:953).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OfxRectD {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

/// The host handed to `setHost` (ofxCore.h:42-66).
#[repr(C)]
pub struct OfxHost {
    pub host: OfxPropertySetHandle,
    /// Returns the suite struct, or NULL when the host lacks it.
    pub fetch_suite:
        unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int) -> *const c_void,
}

/// `OfxPluginEntryPoint` (ofxCore.h:82).
pub type OfxPluginEntryPoint = unsafe extern "C" fn(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus;

/// One plugin as returned by `OfxGetPlugin` (ofxCore.h:94-149).
#[repr(C)]
pub struct OfxPlugin {
    pub plugin_api: *const c_char,
    pub api_version: c_int,
    pub plugin_identifier: *const c_char,
    pub plugin_version_major: c_uint,
    pub plugin_version_minor: c_uint,
    pub set_host: unsafe extern "C" fn(*mut OfxHost),
    pub main_entry: OfxPluginEntryPoint,
}

// SAFETY: an OfxPlugin only holds pointers to immutable, 'static C strings and
// function pointers; sharing it between threads is sound.
unsafe impl Sync for OfxPlugin {}
// SAFETY: as above, nothing in it is tied to a thread.
unsafe impl Send for OfxPlugin {}

type H = OfxPropertySetHandle;
type S = *const c_char;

/// `OfxPropertySuiteV1`, 18 functions (ofxProperty.h:23-302).
#[repr(C)]
pub struct OfxPropertySuiteV1 {
    pub prop_set_pointer: unsafe extern "C" fn(H, S, c_int, *mut c_void) -> OfxStatus,
    pub prop_set_string: unsafe extern "C" fn(H, S, c_int, *const c_char) -> OfxStatus,
    pub prop_set_double: unsafe extern "C" fn(H, S, c_int, f64) -> OfxStatus,
    pub prop_set_int: unsafe extern "C" fn(H, S, c_int, c_int) -> OfxStatus,
    pub prop_set_pointer_n: unsafe extern "C" fn(H, S, c_int, *const *mut c_void) -> OfxStatus,
    pub prop_set_string_n: unsafe extern "C" fn(H, S, c_int, *const *const c_char) -> OfxStatus,
    pub prop_set_double_n: unsafe extern "C" fn(H, S, c_int, *const f64) -> OfxStatus,
    pub prop_set_int_n: unsafe extern "C" fn(H, S, c_int, *const c_int) -> OfxStatus,
    pub prop_get_pointer: unsafe extern "C" fn(H, S, c_int, *mut *mut c_void) -> OfxStatus,
    pub prop_get_string: unsafe extern "C" fn(H, S, c_int, *mut *mut c_char) -> OfxStatus,
    pub prop_get_double: unsafe extern "C" fn(H, S, c_int, *mut f64) -> OfxStatus,
    pub prop_get_int: unsafe extern "C" fn(H, S, c_int, *mut c_int) -> OfxStatus,
    pub prop_get_pointer_n: unsafe extern "C" fn(H, S, c_int, *mut *mut c_void) -> OfxStatus,
    pub prop_get_string_n: unsafe extern "C" fn(H, S, c_int, *mut *mut c_char) -> OfxStatus,
    pub prop_get_double_n: unsafe extern "C" fn(H, S, c_int, *mut f64) -> OfxStatus,
    pub prop_get_int_n: unsafe extern "C" fn(H, S, c_int, *mut c_int) -> OfxStatus,
    pub prop_reset: unsafe extern "C" fn(H, S) -> OfxStatus,
    pub prop_get_dimension: unsafe extern "C" fn(H, S, *mut c_int) -> OfxStatus,
}

type E = OfxImageEffectHandle;
type C = OfxImageClipHandle;

/// `OfxImageEffectSuiteV1`, 13 functions (ofxImageEffect.h:1771-2030).
#[repr(C)]
pub struct OfxImageEffectSuiteV1 {
    pub get_property_set: unsafe extern "C" fn(E, *mut H) -> OfxStatus,
    pub get_param_set: unsafe extern "C" fn(E, *mut OfxParamSetHandle) -> OfxStatus,
    pub clip_define: unsafe extern "C" fn(E, S, *mut H) -> OfxStatus,
    /// The last argument may be NULL.
    pub clip_get_handle: unsafe extern "C" fn(E, S, *mut C, *mut H) -> OfxStatus,
    pub clip_get_property_set: unsafe extern "C" fn(C, *mut H) -> OfxStatus,
    /// A NULL region means the whole image.
    pub clip_get_image: unsafe extern "C" fn(C, OfxTime, *const OfxRectD, *mut H) -> OfxStatus,
    pub clip_release_image: unsafe extern "C" fn(H) -> OfxStatus,
    pub clip_get_region_of_definition: unsafe extern "C" fn(C, OfxTime, *mut OfxRectD) -> OfxStatus,
    /// Returns 1 when the host wants the render to stop (not a status).
    pub abort: unsafe extern "C" fn(E) -> c_int,
    pub image_memory_alloc: unsafe extern "C" fn(E, usize, *mut OfxImageMemoryHandle) -> OfxStatus,
    pub image_memory_free: unsafe extern "C" fn(OfxImageMemoryHandle) -> OfxStatus,
    pub image_memory_lock:
        unsafe extern "C" fn(OfxImageMemoryHandle, *mut *mut c_void) -> OfxStatus,
    pub image_memory_unlock: unsafe extern "C" fn(OfxImageMemoryHandle) -> OfxStatus,
}

type P = OfxParamHandle;
type PS = OfxParamSetHandle;

/// `OfxParameterSuiteV1`, 18 functions, six of them C-variadic
/// (ofxParam.h:941-1312). Rust may call variadic function pointers; the
/// out-pointers passed must have the exact C type of the parameter's value.
#[repr(C)]
pub struct OfxParameterSuiteV1 {
    pub param_define: unsafe extern "C" fn(PS, S, S, *mut H) -> OfxStatus,
    pub param_get_handle: unsafe extern "C" fn(PS, S, *mut P, *mut H) -> OfxStatus,
    pub param_set_get_property_set: unsafe extern "C" fn(PS, *mut H) -> OfxStatus,
    pub param_get_property_set: unsafe extern "C" fn(P, *mut H) -> OfxStatus,
    pub param_get_value: unsafe extern "C" fn(P, ...) -> OfxStatus,
    pub param_get_value_at_time: unsafe extern "C" fn(P, OfxTime, ...) -> OfxStatus,
    pub param_get_derivative: unsafe extern "C" fn(P, OfxTime, ...) -> OfxStatus,
    pub param_get_integral: unsafe extern "C" fn(P, OfxTime, OfxTime, ...) -> OfxStatus,
    pub param_set_value: unsafe extern "C" fn(P, ...) -> OfxStatus,
    pub param_set_value_at_time: unsafe extern "C" fn(P, OfxTime, ...) -> OfxStatus,
    pub param_get_num_keys: unsafe extern "C" fn(P, *mut c_uint) -> OfxStatus,
    pub param_get_key_time: unsafe extern "C" fn(P, c_uint, *mut OfxTime) -> OfxStatus,
    pub param_get_key_index: unsafe extern "C" fn(P, OfxTime, c_int, *mut c_int) -> OfxStatus,
    pub param_delete_key: unsafe extern "C" fn(P, OfxTime) -> OfxStatus,
    pub param_delete_all_keys: unsafe extern "C" fn(P) -> OfxStatus,
    pub param_copy: unsafe extern "C" fn(P, P, OfxTime, *const c_void) -> OfxStatus,
    pub param_edit_begin: unsafe extern "C" fn(PS, S) -> OfxStatus,
    pub param_edit_end: unsafe extern "C" fn(PS) -> OfxStatus,
}

/// `OfxMessageSuiteV2` (ofxMessage.h:96-159); V1 is its first field alone.
/// Always call with the format `"%s"` so user text is never a format string.
#[repr(C)]
pub struct OfxMessageSuiteV2 {
    pub message: unsafe extern "C" fn(*mut c_void, S, S, S, ...) -> OfxStatus,
    pub set_persistent_message: unsafe extern "C" fn(*mut c_void, S, S, S, ...) -> OfxStatus,
    pub clear_persistent_message: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}

/// `OfxMessageSuiteV1` (ofxMessage.h:64-87).
#[repr(C)]
pub struct OfxMessageSuiteV1 {
    pub message: unsafe extern "C" fn(*mut c_void, S, S, S, ...) -> OfxStatus,
}

/// `OfxProgressSuiteV1` (ofxProgress.h:40-90). `progress_update` returns
/// `REPLY_NO` when the user cancelled.
#[repr(C)]
pub struct OfxProgressSuiteV1 {
    pub progress_start: unsafe extern "C" fn(*mut c_void, S) -> OfxStatus,
    pub progress_update: unsafe extern "C" fn(*mut c_void, f64) -> OfxStatus,
    pub progress_end: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}

/// Suite names and versions.
pub const PROPERTY_SUITE: &CStr = c"OfxPropertySuite";
pub const IMAGE_EFFECT_SUITE: &CStr = c"OfxImageEffectSuite";
pub const PARAMETER_SUITE: &CStr = c"OfxParameterSuite";
pub const MESSAGE_SUITE: &CStr = c"OfxMessageSuite";
pub const PROGRESS_SUITE: &CStr = c"OfxProgressSuite";

/// `kOfxImageEffectPluginApi` (irregular value, ofxImageEffect.h:26) and its version (:30).
pub const IMAGE_EFFECT_PLUGIN_API: &CStr = c"OfxImageEffectPluginAPI";
pub const IMAGE_EFFECT_PLUGIN_API_VERSION: c_int = 1;

/// Declares `&CStr` constants named after their OFX macro (minus `k`); the
/// value is the macro name without `k` unless given explicitly.
macro_rules! ofx_strings {
    ($($name:ident $(= $value:literal)?;)*) => {
        $(
            #[allow(non_upper_case_globals)]
            pub const $name: &CStr = ofx_strings!(@value $name $($value)?);
        )*
        /// Every (constant name, value) pair, for the naming-rule test.
        #[cfg(test)]
        pub const ALL_STRINGS: &[(&str, &CStr)] = &[$((stringify!($name), $name)),*];
    };
    (@value $name:ident $value:literal) => { $value };
    (@value $name:ident) => {
        match CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
            Ok(s) => s,
            Err(_) => c"",
        }
    };
}

ofx_strings! {
    // Actions (ofxCore.h:189-629, ofxImageEffect.h:157-693).
    OfxActionLoad;
    OfxActionDescribe;
    OfxActionUnload;
    OfxActionCreateInstance;
    OfxActionDestroyInstance;
    OfxActionInstanceChanged;
    OfxImageEffectActionDescribeInContext;
    OfxImageEffectActionGetRegionsOfInterest;
    OfxImageEffectActionGetClipPreferences;
    OfxImageEffectActionIsIdentity;
    OfxImageEffectActionRender;

    // Generic properties.
    OfxPropLabel;
    OfxPropShortLabel;
    OfxPropLongLabel;
    OfxPropName;
    OfxPropTime;
    OfxPropInstanceData;
    OfxPropPluginDescription;
    OfxPropVersion;
    OfxPropVersionLabel;
    OfxPropType;
    OfxTypeParameter;

    // Effect descriptor.
    OfxImageEffectPluginPropGrouping;
    OfxImageEffectPropSupportedContexts;
    OfxImageEffectPropSupportedPixelDepths;
    OfxImageEffectPropSupportsMultipleClipDepths = c"OfxImageEffectPropMultipleClipDepths";
    OfxImageEffectPropSupportsMultipleClipPARs;
    OfxImageEffectPropSupportsTiles;
    OfxImageEffectPropSupportsMultiResolution;
    OfxImageEffectPropTemporalClipAccess;
    OfxImageEffectPluginRenderThreadSafety;
    OfxImageEffectRenderFullySafe;
    OfxImageEffectPluginPropHostFrameThreading;
    OfxImageEffectPluginPropSingleInstance;
    OfxImageEffectPropContext;
    OfxImageEffectContextFilter;
    OfxImageEffectContextGeneral;
    OfxImageEffectContextGenerator;
    OfxImageEffectFrameVarying;

    // Clips and images.
    OfxImageEffectOutputClipName = c"Output";
    OfxImageEffectSimpleSourceClipName = c"Source";
    OfxImageEffectPropSupportedComponents;
    OfxImageComponentRGBA;
    OfxImageComponentRGB;
    OfxImageClipPropOptional;
    OfxImagePropData;
    OfxImagePropRowBytes;
    OfxImagePropBounds;
    OfxImageEffectPropPixelDepth;
    OfxImageEffectPropComponents;
    OfxImageEffectPropPreMultiplication;
    OfxImageOpaque;
    OfxImagePreMultiplied = c"OfxImageAlphaPremultiplied";
    OfxImageUnPreMultiplied = c"OfxImageAlphaUnPremultiplied";
    OfxBitDepthByte;
    OfxBitDepthShort;
    OfxBitDepthHalf;
    OfxBitDepthFloat;
    OfxImageEffectPropRenderWindow;

    // CUDA render (OpenFX 1.5, ofxGPURender.h).
    OfxImageEffectPropCudaRenderSupported;
    OfxImageEffectPropCudaStreamSupported;
    OfxImageEffectPropCudaEnabled;
    OfxImageEffectPropRegionOfInterest;

    // Parameters.
    OfxParamTypeDouble;
    OfxParamTypeInteger;
    OfxParamTypeBoolean;
    OfxParamTypeChoice;
    OfxParamTypeString;
    // OpenFX 1.5 string-valued choice (ofxParam.h:50, :700).
    OfxParamTypeStrChoice;
    OfxParamHostPropSupportsStrChoice;
    OfxParamPropChoiceEnum;
    OfxParamPropType;
    OfxParamPropPersistant;
    OfxParamPropEvaluateOnChange;
    OfxParamPropDefault;
    OfxParamPropMin;
    OfxParamPropMax;
    OfxParamPropDisplayMin;
    OfxParamPropDisplayMax;
    OfxParamPropHint;
    OfxParamPropScriptName;
    OfxParamPropAnimates;
    OfxParamPropChoiceOption;
    OfxParamPropDoubleType;
    OfxParamDoubleTypePlain;
    OfxParamPropStringMode;
    OfxParamStringIsFilePath;
    OfxParamStringIsSingleLine;
    OfxParamPropStringFilePathExists;

    // Messages (ofxMessage.h:14-59).
    OfxMessageError;
}

/// Prefix of the per-clip RoI outArgs of GetRegionsOfInterest; HostSupport
/// and the header prose use this spelling, not the YAML comment's.
pub const ROI_PREFIX: &str = "OfxImageClipPropRoI_";

#[cfg(test)]
mod tests {
    use super::*;

    /// The macros whose value is *not* their name without `k`.
    const IRREGULAR: &[(&str, &str)] = &[
        (
            "OfxImageEffectPropSupportsMultipleClipDepths",
            "OfxImageEffectPropMultipleClipDepths",
        ),
        ("OfxImageEffectOutputClipName", "Output"),
        ("OfxImageEffectSimpleSourceClipName", "Source"),
        ("OfxImagePreMultiplied", "OfxImageAlphaPremultiplied"),
        ("OfxImageUnPreMultiplied", "OfxImageAlphaUnPremultiplied"),
    ];

    #[test]
    fn every_string_constant_follows_the_naming_rule_or_the_exception_list() {
        for (name, value) in ALL_STRINGS {
            let value = value.to_string_lossy();
            let want = IRREGULAR
                .iter()
                .find(|(n, _)| n == name)
                .map_or(*name, |(_, v)| *v);
            assert_eq!(value, want, "constant k{name}");
        }
        // Every exception is used, so the list cannot silently rot.
        for (n, _) in IRREGULAR {
            assert!(ALL_STRINGS.iter().any(|(m, _)| m == n), "{n} unused");
        }
    }

    #[test]
    fn struct_layouts_match_lp64_c() {
        use std::mem::size_of;
        let fp = size_of::<usize>();
        assert_eq!(size_of::<OfxRectI>(), 16);
        assert_eq!(size_of::<OfxRectD>(), 32);
        assert_eq!(size_of::<OfxHost>(), 2 * fp);
        // pluginApi, apiVersion (+pad), id, major, minor, setHost, mainEntry.
        assert_eq!(size_of::<OfxPlugin>(), 8 + 8 + 8 + 4 + 4 + 8 + 8);
        assert_eq!(size_of::<OfxPropertySuiteV1>(), 18 * fp);
        assert_eq!(size_of::<OfxImageEffectSuiteV1>(), 13 * fp);
        assert_eq!(size_of::<OfxParameterSuiteV1>(), 18 * fp);
        assert_eq!(size_of::<OfxMessageSuiteV2>(), 3 * fp);
        assert_eq!(size_of::<OfxProgressSuiteV1>(), 3 * fp);
        assert_eq!(size_of::<OfxStatus>(), size_of::<c_int>());
    }
}
