//! The C ABI. Hosts either link the exported `equifx_*` functions directly
//! (see `include/equifx.h`) or `dlsym` only [`equifx_get_entry`] and call
//! through the returned table, CLAP-style.
//!
//! Conventions: every function returns an [`equifx_status`] (or a pointer
//! that is NULL on failure); details come from [`equifx_last_error`]; output
//! parameters come last, are named `*_out`, and are written only on success;
//! structs passed by pointer start with `struct_size` and only ever grow at
//! the end (see [`host_struct`]).

pub mod callbacks;
pub mod describe;
pub mod frame;
pub mod host_struct;
pub mod instance;
pub mod model;
pub mod status;

use std::ffi::c_char;

use status::equifx_status;

/// The ABI version this library implements. Bumped only for incompatible
/// changes; additions append to [`equifx_entry`] and keep the version.
pub const EQUIFX_ABI_VERSION: u32 = 1;

/// The function table returned by [`equifx_get_entry`]. Fields are only ever
/// appended; check `struct_size` before using a field added after version 1.
#[repr(C)]
pub struct equifx_entry {
    pub abi_version: u32,
    pub struct_size: u32,
    pub version_number: extern "C" fn() -> u32,
    pub last_error: extern "C" fn() -> *const c_char,
    pub node_count: extern "C" fn() -> u32,
    pub node_info: extern "C" fn(u32, *mut describe::equifx_node_info) -> equifx_status,
    pub param_info: extern "C" fn(u32, u32, *mut describe::equifx_param_info) -> equifx_status,
    pub param_option: extern "C" fn(u32, u32, u32) -> *const c_char,
    pub instance_new:
        extern "C" fn(*const c_char, *mut *mut instance::equifx_instance) -> equifx_status,
    pub instance_free: extern "C" fn(*mut instance::equifx_instance),
    pub instance_set_float:
        extern "C" fn(*mut instance::equifx_instance, *const c_char, f64) -> equifx_status,
    pub instance_set_int:
        extern "C" fn(*mut instance::equifx_instance, *const c_char, i64) -> equifx_status,
    pub instance_set_bool:
        extern "C" fn(*mut instance::equifx_instance, *const c_char, bool) -> equifx_status,
    pub instance_set_text: extern "C" fn(
        *mut instance::equifx_instance,
        *const c_char,
        *const c_char,
    ) -> equifx_status,
    pub instance_get_float:
        extern "C" fn(*const instance::equifx_instance, *const c_char, *mut f64) -> equifx_status,
    pub instance_render: extern "C" fn(
        *const instance::equifx_instance,
        *const frame::equifx_frame,
        usize,
        *const frame::equifx_frame,
        i64,
        *const callbacks::equifx_callbacks,
    ) -> equifx_status,
    /// Appended after the first release: check `struct_size` covers it.
    pub model_info: extern "C" fn(*const c_char, *mut *const c_char) -> equifx_status,
}

static ENTRY: equifx_entry = equifx_entry {
    abi_version: EQUIFX_ABI_VERSION,
    struct_size: std::mem::size_of::<equifx_entry>() as u32,
    version_number: equifx_version_number,
    last_error: equifx_last_error,
    node_count: describe::equifx_node_count,
    node_info: describe::equifx_node_get_info,
    param_info: describe::equifx_param_get_info,
    param_option: describe::equifx_param_get_option,
    instance_new: instance::equifx_instance_new,
    instance_free: instance::equifx_instance_free,
    instance_set_float: instance::equifx_instance_set_float,
    instance_set_int: instance::equifx_instance_set_int,
    instance_set_bool: instance::equifx_instance_set_bool,
    instance_set_text: instance::equifx_instance_set_text,
    instance_get_float: instance::equifx_instance_get_float,
    instance_render: instance::equifx_instance_render,
    model_info: model::equifx_model_info,
};

/// Returns the function table for ABI `abi_version`, or NULL (with the
/// reason in `equifx_last_error()`) when this library does not provide it.
/// The table is static: never free it.
#[no_mangle]
pub extern "C" fn equifx_get_entry(abi_version: u32) -> *const equifx_entry {
    ffi_guard! {
        if abi_version != EQUIFX_ABI_VERSION {
            return Err(crate::guard::FfiError::new(
                equifx_status::EQUIFX_STATUS_ABI_MISMATCH,
                format!(
                    "host asked for equifx ABI {abi_version}, this library (equifx {}) provides ABI {EQUIFX_ABI_VERSION}: \
                     update the host or install a matching equifx",
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        if let Some(cuda) = crate::variant::cuda_variant() {
            // SAFETY: checked when the variant was chosen: same version and
            // ABI, and its table for this ABI is static.
            return Ok(unsafe { (cuda.get_entry)(abi_version) });
        }
        Ok(&ENTRY as *const equifx_entry)
    }
}

/// The library version as `MAJOR * 10000 + MINOR * 100 + PATCH`; compare
/// with `EQUIFX_VERSION_NUMBER` from the header the host was built with.
#[no_mangle]
pub extern "C" fn equifx_version_number() -> u32 {
    ffi_guard! {
        let part = |s: &str| s.parse::<u32>().unwrap_or(0);
        Ok(part(env!("CARGO_PKG_VERSION_MAJOR")) * 10_000
            + part(env!("CARGO_PKG_VERSION_MINOR")) * 100
            + part(env!("CARGO_PKG_VERSION_PATCH")))
    }
}

/// The message of the last failed call on this thread (empty if none).
/// The pointer stays valid until the next failing call on the same thread;
/// the library owns it.
#[no_mangle]
pub extern "C" fn equifx_last_error() -> *const c_char {
    ffi_guard! { Ok(crate::guard::last_error_ptr()) }
}
