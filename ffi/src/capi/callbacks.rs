//! Host callbacks for one render: progress, abort and log.

use std::ffi::{c_char, c_void, CString};

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
pub struct equifx_callbacks {
    /// Set to `sizeof(equifx_callbacks)`.
    pub struct_size: u32,
    pub userdata: *mut c_void,
    /// Progress in [0, 1]; every successful render reports 1 last.
    pub progress: Option<extern "C" fn(userdata: *mut c_void, fraction: f64)>,
    /// Return true to stop the render; it then fails with `EQUIFX_STATUS_ABORTED`.
    pub abort: Option<extern "C" fn(userdata: *mut c_void) -> bool>,
    /// Messages for the host's log; `level` is 0 error, 1 warning, 2 info.
    pub log: Option<extern "C" fn(userdata: *mut c_void, level: i32, message: *const c_char)>,
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
    pub fn new(cb: Option<&equifx_callbacks>) -> Self {
        match cb {
            Some(c) if c.struct_size as usize >= std::mem::size_of::<equifx_callbacks>() => {
                HostCallbacks {
                    userdata: c.userdata as usize,
                    progress: c.progress,
                    abort: c.abort,
                    log: c.log,
                }
            }
            _ => HostCallbacks {
                userdata: 0,
                progress: None,
                abort: None,
                log: None,
            },
        }
    }

    pub fn progress(&self, fraction: f64) {
        if let Some(f) = self.progress {
            f(self.userdata as *mut c_void, fraction);
        }
    }

    pub fn aborted(&self) -> bool {
        self.abort.is_some_and(|f| f(self.userdata as *mut c_void))
    }

    pub fn log(&self, level: i32, message: &str) {
        if let (Some(f), Ok(m)) = (self.log, CString::new(message.replace('\0', " "))) {
            f(self.userdata as *mut c_void, level, m.as_ptr());
        }
    }
}
