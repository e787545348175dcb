//! Node and parameter descriptions for hosts, read from the manifest.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use equifx::manifest::NodeDescriptor;
use equifx::params::{ParamDescriptor, ParamKind};

use super::host_struct::{self, HostStruct};
use super::status::equifx_status;
use crate::guard::FfiError;
use crate::text::cstring;

/// The smallest `equifx_node_info.struct_size` this library accepts: the
/// struct's size in ABI 1 on 64-bit targets.
pub const EQUIFX_NODE_INFO_MIN_SIZE: u32 = 56;

/// The smallest `equifx_param_info.struct_size` this library accepts: the
/// struct's size in ABI 1 on 64-bit targets.
pub const EQUIFX_PARAM_INFO_MIN_SIZE: u32 = 80;

/// Kind of a parameter, deciding which `equifx_instance_set_*` call it takes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum equifx_param_kind {
    /// `equifx_instance_set_float`; `min`, `max`, `default_number` apply.
    EQUIFX_PARAM_KIND_FLOAT = 0,
    /// `equifx_instance_set_int`; `min`, `max`, `default_number` apply.
    EQUIFX_PARAM_KIND_INT = 1,
    /// `equifx_instance_set_bool`; `default_number` is 0 or 1.
    EQUIFX_PARAM_KIND_BOOL = 2,
    /// `equifx_instance_set_text` with one of the options; `default_text` applies.
    EQUIFX_PARAM_KIND_CHOICE = 3,
    /// `equifx_instance_set_text` with a path; `default_text` applies.
    EQUIFX_PARAM_KIND_PATH = 4,
    /// `equifx_instance_set_int` with a seed ≥ 0.
    EQUIFX_PARAM_KIND_SEED = 5,
    /// `equifx_instance_set_text` with a domain name of the instance's model
    /// bundle (`equifx_model_info` lists them; `min` is 1 when `auto` is also
    /// accepted); checked against the bundle when the instance renders.
    EQUIFX_PARAM_KIND_DOMAIN = 6,
    /// `equifx_instance_set_text` with attribute shares of the model bundle,
    /// `name=share` pairs separated by commas (share 0 … 1 or `natural`; `*`
    /// for every attribute not named); names are checked when rendering.
    EQUIFX_PARAM_KIND_SHARES = 7,
}

/// Description of a node. Strings are owned by the library and live as long
/// as it stays loaded.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct equifx_node_info {
    /// Set by the caller to `sizeof(equifx_node_info)`. Fields are only ever
    /// appended: any size from `EQUIFX_NODE_INFO_MIN_SIZE` up is accepted,
    /// the library fills only the fields that fit and sets `struct_size` to
    /// the bytes it filled; smaller sizes fail with
    /// `EQUIFX_STATUS_INVALID_ARGUMENT` and the struct is left alone.
    pub struct_size: u32,
    pub id: *const c_char,
    pub label: *const c_char,
    pub group: *const c_char,
    pub summary: *const c_char,
    pub version_major: u32,
    pub version_minor: u32,
    /// 0 for generators.
    pub input_count: u32,
    pub param_count: u32,
}

/// Description of one parameter. Strings are owned by the library.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct equifx_param_info {
    /// Set by the caller to `sizeof(equifx_param_info)`. Fields are only ever
    /// appended: any size from `EQUIFX_PARAM_INFO_MIN_SIZE` up is accepted,
    /// the library fills only the fields that fit and sets `struct_size` to
    /// the bytes it filled; smaller sizes fail with
    /// `EQUIFX_STATUS_INVALID_ARGUMENT` and the struct is left alone.
    pub struct_size: u32,
    pub id: *const c_char,
    pub label: *const c_char,
    pub hint: *const c_char,
    pub kind: equifx_param_kind,
    pub min: f64,
    pub max: f64,
    pub default_number: f64,
    /// Default of choice and path parameters; empty otherwise.
    pub default_text: *const c_char,
    /// Number of options of a choice parameter (see `equifx_param_get_option`).
    pub option_count: u32,
}

// SAFETY: repr(C), `struct_size: u32` first, and its only version is its current size.
unsafe impl HostStruct for equifx_node_info {
    const NAME: &'static str = "equifx_node_info";
    const MIN_SIZE_NAME: &'static str = "EQUIFX_NODE_INFO_MIN_SIZE";
    const VERSION_SIZES: &'static [usize] = &[EQUIFX_NODE_INFO_MIN_SIZE as usize];
    fn unset() -> Self {
        equifx_node_info {
            struct_size: 0,
            id: std::ptr::null(),
            label: std::ptr::null(),
            group: std::ptr::null(),
            summary: std::ptr::null(),
            version_major: 0,
            version_minor: 0,
            input_count: 0,
            param_count: 0,
        }
    }
}

// SAFETY: repr(C), `struct_size: u32` first, and its only version is its current size.
unsafe impl HostStruct for equifx_param_info {
    const NAME: &'static str = "equifx_param_info";
    const MIN_SIZE_NAME: &'static str = "EQUIFX_PARAM_INFO_MIN_SIZE";
    const VERSION_SIZES: &'static [usize] = &[EQUIFX_PARAM_INFO_MIN_SIZE as usize];
    fn unset() -> Self {
        equifx_param_info {
            struct_size: 0,
            id: std::ptr::null(),
            label: std::ptr::null(),
            hint: std::ptr::null(),
            kind: equifx_param_kind::EQUIFX_PARAM_KIND_FLOAT,
            min: 0.0,
            max: 0.0,
            default_number: 0.0,
            default_text: std::ptr::null(),
            option_count: 0,
        }
    }
}

host_struct::assert_version_sizes!(equifx_node_info);

host_struct::assert_version_sizes!(equifx_param_info);

struct ParamStrings {
    id: CString,
    label: CString,
    hint: CString,
    default_text: CString,
    options: Vec<CString>,
}

struct NodeStrings {
    id: CString,
    label: CString,
    group: CString,
    summary: CString,
    params: Vec<ParamStrings>,
}

/// C copies of the manifest strings, built once and kept for the library's life.
fn strings() -> &'static [NodeStrings] {
    static STRINGS: OnceLock<Vec<NodeStrings>> = OnceLock::new();
    STRINGS.get_or_init(|| {
        equifx::manifest::nodes()
            .iter()
            .map(|n| NodeStrings {
                id: cstring(&n.id),
                label: cstring(&n.label),
                group: cstring(&n.group),
                summary: cstring(&n.summary),
                params: n
                    .params
                    .iter()
                    .map(|p| {
                        let (default_text, options) = match &p.kind {
                            ParamKind::Choice { options, default } => (
                                cstring(default),
                                options.iter().map(|o| cstring(o)).collect(),
                            ),
                            ParamKind::Path { default }
                            | ParamKind::Domain { default, .. }
                            | ParamKind::Shares { default } => (cstring(default), vec![]),
                            _ => (CString::default(), vec![]),
                        };
                        ParamStrings {
                            id: cstring(&p.id),
                            label: cstring(&p.label),
                            hint: cstring(&p.hint),
                            default_text,
                            options,
                        }
                    })
                    .collect(),
            })
            .collect()
    })
}

fn out_of_range(what: &str, index: u32, count: usize) -> FfiError {
    FfiError::new(
        equifx_status::EQUIFX_STATUS_OUT_OF_RANGE,
        format!("{what} index {index} is out of range: there are {count}"),
    )
}

fn lookup(node_index: u32) -> Result<(&'static NodeDescriptor, &'static NodeStrings), FfiError> {
    let nodes = equifx::manifest::nodes();
    let i = node_index as usize;
    match (nodes.get(i), strings().get(i)) {
        (Some(n), Some(s)) => Ok((n, s)),
        _ => Err(out_of_range("node", node_index, nodes.len())),
    }
}

fn lookup_param(
    node_index: u32,
    param_index: u32,
) -> Result<(&'static ParamDescriptor, &'static ParamStrings), FfiError> {
    let (n, s) = lookup(node_index)?;
    let j = param_index as usize;
    match (n.params.get(j), s.params.get(j)) {
        (Some(p), Some(ps)) => Ok((p, ps)),
        _ => Err(out_of_range("parameter", param_index, n.params.len())),
    }
}

/// Number of nodes in this library.
#[no_mangle]
pub extern "C" fn equifx_node_count() -> u32 {
    ffi_guard! { Ok(equifx::manifest::nodes().len() as u32) }
}

/// Describes node `node_index` (0 ≤ index < `equifx_node_count()`) into
/// `*info_out`, whose `struct_size` the caller sets first (see
/// `equifx_node_info`).
#[no_mangle]
pub extern "C" fn equifx_node_get_info(
    node_index: u32,
    info_out: *mut equifx_node_info,
) -> equifx_status {
    ffi_guard! {
        if info_out.is_null() {
            return Err(FfiError::null("info_out"));
        }
        // SAFETY: non-null; the caller has set struct_size, the struct's first field.
        let filled = unsafe { host_struct::covered_at(info_out, "info_out") }?;
        let (n, s) = lookup(node_index)?;
        let info = equifx_node_info {
            struct_size: 0,
            id: s.id.as_ptr(),
            label: s.label.as_ptr(),
            group: s.group.as_ptr(),
            summary: s.summary.as_ptr(),
            version_major: n.version[0],
            version_minor: n.version[1],
            input_count: n.inputs.len() as u32,
            param_count: n.params.len() as u32,
        };
        // SAFETY: non-null; the caller passes struct_size writable bytes, and `filled`
        // came from covered_at on this pointer.
        unsafe { host_struct::fill(info_out, info, filled) };
        Ok(equifx_status::EQUIFX_STATUS_OK)
    }
}

/// Describes parameter `param_index` of node `node_index` into `*info_out`,
/// whose `struct_size` the caller sets first (see `equifx_param_info`).
#[no_mangle]
pub extern "C" fn equifx_param_get_info(
    node_index: u32,
    param_index: u32,
    info_out: *mut equifx_param_info,
) -> equifx_status {
    ffi_guard! {
        if info_out.is_null() {
            return Err(FfiError::null("info_out"));
        }
        // SAFETY: non-null; the caller has set struct_size, the struct's first field.
        let filled = unsafe { host_struct::covered_at(info_out, "info_out") }?;
        let (p, s) = lookup_param(node_index, param_index)?;
        use equifx_param_kind::*;
        let (kind, min, max, default_number) = match &p.kind {
            ParamKind::Float { min, max, default, .. } => (EQUIFX_PARAM_KIND_FLOAT, *min, *max, *default),
            ParamKind::Int { min, max, default } => (EQUIFX_PARAM_KIND_INT, *min as f64, *max as f64, *default as f64),
            ParamKind::Bool { default } => (EQUIFX_PARAM_KIND_BOOL, 0.0, 1.0, f64::from(u8::from(*default))),
            ParamKind::Choice { options, .. } => (EQUIFX_PARAM_KIND_CHOICE, 0.0, options.len() as f64, 0.0),
            ParamKind::Path { .. } => (EQUIFX_PARAM_KIND_PATH, 0.0, 0.0, 0.0),
            ParamKind::Seed { default } => (EQUIFX_PARAM_KIND_SEED, 0.0, i64::MAX as f64, *default as f64),
            ParamKind::Domain { auto, .. } => (EQUIFX_PARAM_KIND_DOMAIN, f64::from(u8::from(*auto)), 0.0, 0.0),
            ParamKind::Shares { .. } => (EQUIFX_PARAM_KIND_SHARES, 0.0, 0.0, 0.0),
        };
        let info = equifx_param_info {
            struct_size: 0,
            id: s.id.as_ptr(),
            label: s.label.as_ptr(),
            hint: s.hint.as_ptr(),
            kind,
            min,
            max,
            default_number,
            default_text: s.default_text.as_ptr(),
            option_count: s.options.len() as u32,
        };
        // SAFETY: non-null; the caller passes struct_size writable bytes, and `filled`
        // came from covered_at on this pointer.
        unsafe { host_struct::fill(info_out, info, filled) };
        Ok(equifx_status::EQUIFX_STATUS_OK)
    }
}

/// Option `option_index` of a choice parameter, or NULL when out of range.
/// The string is owned by the library.
#[no_mangle]
pub extern "C" fn equifx_param_get_option(
    node_index: u32,
    param_index: u32,
    option_index: u32,
) -> *const c_char {
    ffi_guard! {
        let (_, s) = lookup_param(node_index, param_index)?;
        s.options
            .get(option_index as usize)
            .map(|o| o.as_ptr())
            .ok_or_else(|| out_of_range("option", option_index, s.options.len()))
    }
}
