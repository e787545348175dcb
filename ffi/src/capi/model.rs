//! Questions about a model bundle that hosts ask before (or without)
//! creating an instance: which domains and attributes it has, so menus and
//! fields can offer the bundle's own names.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::path::PathBuf;

use equifx::model::ModelInfo;

use super::status::equifx_status;
use crate::guard::FfiError;

thread_local! {
    static MODEL_INFO: RefCell<CString> = RefCell::new(CString::default());
}

/// Describes the model bundle in folder `bundle_path` (NULL or "": the
/// shipped default bundle) as UTF-8 JSON into `*json_out`: its domains, each
/// with its attributes (training share, whether a head reads it), the
/// training size and pixel scale, architecture and hashes — what
/// `equifx model info --json` prints. The string is owned by the library and
/// stays valid until the next `equifx_model_info` call on the same thread.
#[no_mangle]
pub extern "C" fn equifx_model_info(
    bundle_path: *const c_char,
    json_out: *mut *const c_char,
) -> equifx_status {
    ffi_guard! {
        if json_out.is_null() {
            return Err(FfiError::null("json_out"));
        }
        let dir = if bundle_path.is_null() {
            ""
        } else {
            try_str!(bundle_path, "bundle_path")
        };
        let dir = if dir.trim().is_empty() {
            equifx::model::bundle::default_bundle_dir()
        } else {
            PathBuf::from(dir)
        };
        let json = ModelInfo::read(&dir)?.to_json()?;
        let text = CString::new(json).map_err(|_| {
            FfiError::invalid("the model's manifest holds a NUL character")
        })?;
        let ptr = MODEL_INFO.with(|slot| {
            *slot.borrow_mut() = text;
            slot.borrow().as_ptr()
        });
        // SAFETY: checked non-null above; the caller passes a writable pointer slot.
        unsafe { json_out.write(ptr) };
        Ok(equifx_status::EQUIFX_STATUS_OK)
    }
}
