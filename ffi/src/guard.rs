//! The panic boundary and the thread-local last error.
//!
//! Every `extern "C"` body is `ffi_guard! { … }`: the block evaluates to
//! `Result<R, FfiError>`; errors become their status (or null / 0) with the
//! message stored for `equifx_last_error`, and a panic becomes
//! `EQUIFX_STATUS_PANIC` instead of unwinding into (and aborting) the host.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use equifx::ErrorCode;

use crate::capi::status::equifx_status;

/// An error on its way out through the C ABI or the OpenFX adapter.
#[derive(Debug)]
pub struct FfiError {
    pub status: equifx_status,
    /// The core's kind of error, when the core raised it: each adapter maps
    /// the core's kinds to its own statuses.
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl FfiError {
    pub fn new(status: equifx_status, message: impl Into<String>) -> Self {
        FfiError {
            status,
            code: None,
            message: message.into(),
        }
    }

    /// A required pointer argument was NULL.
    pub fn null(arg: &str) -> Self {
        FfiError::new(
            equifx_status::EQUIFX_STATUS_NULL_ARGUMENT,
            format!("argument '{arg}' is NULL"),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        FfiError::new(equifx_status::EQUIFX_STATUS_INVALID_ARGUMENT, message)
    }
}

impl From<equifx::Error> for FfiError {
    fn from(e: equifx::Error) -> Self {
        let code = e.code();
        FfiError {
            status: equifx_status::from(code),
            code: Some(code),
            message: e.to_string(),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Stores `message` as this thread's last error (interior NULs are replaced).
pub fn set_last_error(message: &str) {
    LAST_ERROR.with(|e| *e.borrow_mut() = crate::text::cstring(message));
}

/// Pointer to this thread's last error message; valid until the next failing
/// call on the same thread.
pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// What an exported function returns when its body failed or panicked.
pub trait Fallback {
    fn fallback(status: equifx_status) -> Self;
}

impl Fallback for equifx_status {
    fn fallback(status: equifx_status) -> Self {
        status
    }
}

impl<T> Fallback for *const T {
    fn fallback(_: equifx_status) -> Self {
        std::ptr::null()
    }
}

impl<T> Fallback for *mut T {
    fn fallback(_: equifx_status) -> Self {
        std::ptr::null_mut()
    }
}

impl Fallback for u32 {
    fn fallback(_: equifx_status) -> Self {
        0
    }
}

impl Fallback for () {
    fn fallback(_: equifx_status) -> Self {}
}

/// Turns the outcome of a guarded body into the value returned to C.
pub fn finish<R: Fallback>(outcome: std::thread::Result<Result<R, FfiError>>) -> R {
    match outcome {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            R::fallback(e.status)
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (please report): {what}"));
            R::fallback(equifx_status::EQUIFX_STATUS_PANIC)
        }
    }
}

/// Runs an exported function's body behind the panic boundary.
#[macro_export]
macro_rules! ffi_guard {
    ($($body:tt)*) => {
        $crate::guard::finish(::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<_, $crate::guard::FfiError> { $($body)* },
        )))
    };
}

/// Borrows a `*const T` argument, returning `NullArgument` when it is NULL.
#[macro_export]
macro_rules! try_ref {
    ($ptr:expr, $name:literal) => {{
        let p = $ptr;
        if p.is_null() {
            return Err($crate::guard::FfiError::null($name));
        }
        // SAFETY: non-null, and the API contract says the caller passes a valid,
        // properly aligned object that outlives this call.
        unsafe { &*p }
    }};
}

/// Reads a NUL-terminated UTF-8 string argument.
#[macro_export]
macro_rules! try_str {
    ($ptr:expr, $name:literal) => {{
        let p: *const ::std::ffi::c_char = $ptr;
        if p.is_null() {
            return Err($crate::guard::FfiError::null($name));
        }
        // SAFETY: non-null, and the API contract says it is a NUL-terminated string
        // that stays valid for the duration of the call.
        unsafe { ::std::ffi::CStr::from_ptr(p) }
            .to_str()
            .map_err(|_| {
                $crate::guard::FfiError::invalid(concat!(
                    "argument '",
                    $name,
                    "' is not valid UTF-8"
                ))
            })?
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicking(divisor: u32) -> equifx_status {
        ffi_guard! {
            let v: Vec<u32> = Vec::new();
            #[allow(clippy::indexing_slicing)]
            let x = v[divisor as usize];
            Ok(if x == 0 { equifx_status::EQUIFX_STATUS_OK } else { equifx_status::EQUIFX_STATUS_INTERNAL })
        }
    }

    fn null_returning() -> *const u8 {
        ffi_guard! { Err(FfiError::invalid("nothing to return")) }
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        assert_eq!(panicking(3), equifx_status::EQUIFX_STATUS_PANIC);
        // SAFETY: last_error_ptr returns a valid NUL-terminated string.
        let msg = unsafe { std::ffi::CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned();
        assert!(msg.contains("index out of bounds"), "{msg}");
    }

    #[test]
    fn errors_return_the_fallback_and_keep_the_message() {
        assert!(null_returning().is_null());
        // SAFETY: as above.
        let msg = unsafe { std::ffi::CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned();
        assert_eq!(msg, "nothing to return");
    }
}
