//! The OpenFX adapter: every node of the manifest becomes an OFX image effect
//! in the same shared library as the C ABI. Hosts find the library renamed to
//! `equifx.ofx.bundle/Contents/Linux-x86-64/equifx.ofx` (see `equifx bundle`).
//!
//! Nothing here is specific to a node: ids, labels, groups, inputs and
//! parameters all come from `plugin-manifest/nodes.toml`, so a new node
//! appears in OFX hosts without touching this folder.
//!
//! Files: `abi` (hand-declared OFX types), `suites` (host suites and property
//! access), `describe` (Describe / DescribeInContext), `params` (parameter
//! definitions and values), `menus` (domain parameters whose menus follow
//! the model bundle), `instance` (instance data and the small actions),
//! `render` (images in and out).

pub mod abi;
mod cuda;
mod describe;
mod instance;
mod menus;
mod params;
mod render;
mod suites;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

use abi::*;
use equifx::manifest::NodeDescriptor;
use equifx::ErrorCode;

use crate::capi::status::equifx_status;
use crate::guard::{Fallback, FfiError};

/// How many plugins the library can expose: one entry trampoline each,
/// because OFX's `mainEntry` does not say which plugin it is called for.
pub const MAX_PLUGINS: usize = 32;

impl Fallback for OfxStatus {
    /// A panic caught at the boundary fails the action; the host keeps running.
    fn fallback(_: equifx_status) -> Self {
        OfxStatus::FAILED
    }
}

impl Fallback for c_int {
    /// Only `OfxGetNumberOfPlugins` returns a plain int: on failure, no plugins.
    fn fallback(_: equifx_status) -> Self {
        0
    }
}

struct PluginRecord {
    /// Owns the identifier string `plugin.plugin_identifier` points to.
    _id: CString,
    plugin: OfxPlugin,
}

// SAFETY: the record is immutable after construction; the raw pointers in
// `plugin` point into `_id` (never moved: CString's buffer is on the heap) and statics.
unsafe impl Sync for PluginRecord {}
// SAFETY: as above.
unsafe impl Send for PluginRecord {}

macro_rules! trampolines {
    ($($i:literal)*) => {
        [$({
            extern "C" fn entry(
                action: *const c_char,
                handle: *const c_void,
                in_args: OfxPropertySetHandle,
                out_args: OfxPropertySetHandle,
            ) -> OfxStatus {
                ffi_guard! { Ok(main_entry($i, action, handle, in_args, out_args)) }
            }
            entry as OfxPluginEntryPoint
        }),*]
    };
}

static ENTRIES: [OfxPluginEntryPoint; MAX_PLUGINS] = trampolines!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
);

extern "C" fn set_host(host: *mut OfxHost) {
    ffi_guard! {
        suites::set_host(host);
        Ok(())
    }
}

/// One `OfxPlugin` per manifest node, built once; ids are the manifest ids
/// (stable: hosts save projects by them), versions the manifest versions.
fn plugins() -> &'static [PluginRecord] {
    static PLUGINS: OnceLock<Vec<PluginRecord>> = OnceLock::new();
    PLUGINS.get_or_init(|| {
        equifx::manifest::nodes()
            .iter()
            .zip(ENTRIES.iter())
            .map(|(n, entry)| {
                let id = crate::text::cstring(&n.id);
                let plugin = OfxPlugin {
                    plugin_api: IMAGE_EFFECT_PLUGIN_API.as_ptr(),
                    api_version: IMAGE_EFFECT_PLUGIN_API_VERSION,
                    plugin_identifier: id.as_ptr(),
                    plugin_version_major: n.version[0],
                    plugin_version_minor: n.version[1],
                    set_host,
                    main_entry: *entry,
                };
                PluginRecord { _id: id, plugin }
            })
            .collect()
    })
}

/// Number of OFX plugins in this library: one per node.
#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    ffi_guard! {
        if let Some(cuda) = crate::variant::cuda_variant() {
            // SAFETY: the variant's own OpenFX entry point (same version, checked).
            return Ok(unsafe { (cuda.plugin_count)() });
        }
        Ok(plugins().len() as c_int)
    }
}

/// Plugin `nth` (0-based), or NULL when out of range. The struct is static.
#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut OfxPlugin {
    ffi_guard! {
        if let Some(cuda) = crate::variant::cuda_variant() {
            // SAFETY: as in OfxGetNumberOfPlugins; the variant range-checks `nth`.
            return Ok(unsafe { (cuda.get_plugin)(nth) });
        }
        let record = usize::try_from(nth)
            .ok()
            .and_then(|i| plugins().get(i))
            .ok_or_else(|| FfiError::invalid(format!("no OpenFX plugin number {nth}")))?;
        // Hosts take a non-const pointer but never write through it (ofxCore.h:638).
        Ok(&record.plugin as *const OfxPlugin as *mut OfxPlugin)
    }
}

fn node(index: usize) -> Result<&'static NodeDescriptor, FfiError> {
    equifx::manifest::nodes()
        .get(index)
        .ok_or_else(|| FfiError::invalid(format!("no equifx node number {index}")))
}

/// Runs one action for plugin `index`, turning errors into an OFX status and
/// a message the artist sees.
fn main_entry(
    index: usize,
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    if action.is_null() {
        return OfxStatus::ERR_UNKNOWN;
    }
    // SAFETY: non-null; the host passes a NUL-terminated action name.
    let action = unsafe { CStr::from_ptr(action) };
    let effect = handle as OfxImageEffectHandle;
    if action == OfxActionLoad {
        return suites::load();
    }
    if action == OfxActionUnload {
        return suites::unload();
    }
    let outcome = suites::get().and_then(|s| {
        let node = node(index)?;
        let result = dispatch(&s, node, action, effect, in_args, out_args);
        Ok((s, node, result))
    });
    match outcome {
        Ok((_, _, Ok(status))) => status,
        // The host asked to stop: not an error (ofxImageEffect.h:1936-1949).
        Ok((_, _, Err(e))) if e.code == Some(ErrorCode::Aborted) => OfxStatus::OK,
        Ok((s, node, Err(e))) => {
            if !effect.is_null() {
                s.report_error(effect, &format!("{}: {}", node.label, e.message));
            }
            crate::guard::set_last_error(&e.message);
            failure_status(&e)
        }
        Err(e) => {
            crate::guard::set_last_error(&e.message);
            OfxStatus::FAILED
        }
    }
}

/// The OFX status of a failed action: out of memory is the one failure
/// OpenFX names, and hosts may free their caches and render again on it.
fn failure_status(e: &FfiError) -> OfxStatus {
    if e.code == Some(ErrorCode::OutOfMemory) {
        OfxStatus::ERR_MEMORY
    } else {
        OfxStatus::FAILED
    }
}

fn dispatch(
    s: &suites::Suites,
    node: &'static NodeDescriptor,
    action: &CStr,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> Result<OfxStatus, FfiError> {
    if action == OfxActionDescribe {
        describe::describe(s, node, effect)
    } else if action == OfxImageEffectActionDescribeInContext {
        describe::describe_in_context(s, node, effect, in_args)
    } else if action == OfxActionCreateInstance {
        instance::create(s, node, effect)
    } else if action == OfxActionDestroyInstance {
        instance::destroy(s, effect)
    } else if action == OfxImageEffectActionRender {
        render::render(s, effect, in_args)
    } else if action == OfxImageEffectActionIsIdentity {
        instance::is_identity(s, effect, in_args, out_args)
    } else if action == OfxImageEffectActionGetRegionsOfInterest {
        instance::regions_of_interest(s, effect, in_args, out_args)
    } else if action == OfxImageEffectActionGetClipPreferences {
        instance::clip_preferences(s, effect, out_args)
    } else if action == OfxActionInstanceChanged {
        menus::instance_changed(s, effect, in_args)
    } else {
        Ok(OfxStatus::REPLY_DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_node_gets_a_trampoline() {
        assert!(equifx::manifest::nodes().len() <= MAX_PLUGINS);
        assert_eq!(plugins().len(), equifx::manifest::nodes().len());
    }

    #[test]
    fn out_of_memory_is_kofxstaterrmemory_and_other_failures_failed() {
        let oom = FfiError::from(equifx::Error::OutOfMemory("a frame".into()));
        assert_eq!(failure_status(&oom), OfxStatus::ERR_MEMORY);
        let model = FfiError::from(equifx::Error::Model("no bundle".into()));
        assert_eq!(failure_status(&model), OfxStatus::FAILED);
    }
}
