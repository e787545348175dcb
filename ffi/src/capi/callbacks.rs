//! Host callbacks for one render: progress, abort and log.

use std::ffi::{c_char, c_void};

use super::host_struct::{self, HostStruct};
use crate::guard::FfiError;

/// The smallest `equifx_callbacks.struct_size` this library accepts: the
/// struct's size in ABI 1 on 64-bit targets. Set `struct_size` to
/// `sizeof(equifx_callbacks)`; the struct only ever grows at the end, so a
/// host built against an older header keeps working.
pub const EQUIFX_CALLBACKS_MIN_SIZE: u32 = 40;

/// Optional host callbacks for a render; any function pointer may be NULL.
/// They are called on the rendering thread, with `userdata` first.
///
/// No lock is held while a callback runs: a callback may call any equifx
/// function, on any instance, including the one being rendered — read or set
/// its parameters (the render in flight keeps the values it started with;
/// the next render sees the new ones) or render it again — except
/// `equifx_instance_free` on an instance that is rendering. The render waits
/// for each callback, so keep them short.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct equifx_callbacks {
    /// Set to `sizeof(equifx_callbacks)`. Fields are only ever appended: any
    /// size from `EQUIFX_CALLBACKS_MIN_SIZE` up is accepted and only the
    /// fields that fit are read; smaller sizes fail with
    /// `EQUIFX_STATUS_INVALID_ARGUMENT`.
    pub struct_size: u32,
    pub userdata: *mut c_void,
    /// Progress in [0, 1]; every successful render reports 1 last.
    pub progress: Option<extern "C" fn(userdata: *mut c_void, fraction: f64)>,
    /// Return true to stop the render; it then fails with `EQUIFX_STATUS_ABORTED`.
    pub abort: Option<extern "C" fn(userdata: *mut c_void) -> bool>,
    /// Messages for the host's log; `level` is 0 error, 1 warning, 2 info.
    pub log: Option<extern "C" fn(userdata: *mut c_void, level: i32, message: *const c_char)>,
}

// SAFETY: repr(C), `struct_size: u32` first, and its only version is its current size.
unsafe impl HostStruct for equifx_callbacks {
    const NAME: &'static str = "equifx_callbacks";
    const MIN_SIZE_NAME: &'static str = "EQUIFX_CALLBACKS_MIN_SIZE";
    const VERSION_SIZES: &'static [usize] = &[EQUIFX_CALLBACKS_MIN_SIZE as usize];
    fn unset() -> Self {
        equifx_callbacks {
            struct_size: 0,
            userdata: std::ptr::null_mut(),
            progress: None,
            abort: None,
            log: None,
        }
    }
}

host_struct::assert_version_sizes!(equifx_callbacks);

/// The `level` a host's log callback receives; the numbers are ABI.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error = 0,
    Warning = 1,
    Info = 2,
}

/// The callbacks of one render, callable from Rust. The host promised the
/// pointers stay valid for the call, and calls happen on the calling thread
/// or on worker threads the render waits for.
pub struct HostCallbacks {
    userdata: usize,
    progress: Option<extern "C" fn(*mut c_void, f64)>,
    abort: Option<extern "C" fn(*mut c_void) -> bool>,
    log: Option<extern "C" fn(*mut c_void, i32, *const c_char)>,
}

impl HostCallbacks {
    /// The callbacks at `ptr` (NULL: none). A `struct_size` below the first
    /// version's is refused rather than silently dropping the callbacks.
    pub fn from_host(ptr: *const equifx_callbacks) -> Result<Self, FfiError> {
        let c = if ptr.is_null() {
            equifx_callbacks::unset()
        } else {
            // SAFETY: non-null; the host passes a struct of struct_size readable bytes,
            // whose fields (a pointer and optional function pointers) take any value.
            unsafe { host_struct::read(ptr, "callbacks") }?
        };
        Ok(HostCallbacks {
            userdata: c.userdata as usize,
            progress: c.progress,
            abort: c.abort,
            log: c.log,
        })
    }

    pub fn progress(&self, fraction: f64) {
        if let Some(f) = self.progress {
            f(self.userdata as *mut c_void, fraction);
        }
    }

    pub fn aborted(&self) -> bool {
        self.abort.is_some_and(|f| f(self.userdata as *mut c_void))
    }

    pub fn log(&self, level: LogLevel, message: &str) {
        if let Some(f) = self.log {
            let m = crate::text::cstring(message);
            f(self.userdata as *mut c_void, level as i32, m.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LogLevel;

    /// Pins the levels hosts receive: renumbering breaks compiled hosts.
    #[test]
    fn log_level_numbers_are_frozen() {
        let pinned = [
            (LogLevel::Error, 0),
            (LogLevel::Warning, 1),
            (LogLevel::Info, 2),
        ];
        for (level, n) in pinned {
            assert_eq!(level as i32, n, "{level:?}");
        }
    }
}
