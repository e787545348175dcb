//! Test host helpers: build the real cdylib, load it with libloading and call
//! it only through `equifx_get_entry`, the way a host application does.
#![allow(dead_code)]

use std::ffi::{c_void, CStr, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

use equifx_ffi::capi::equifx_entry;
use equifx_ffi::capi::frame::equifx_frame;
use equifx_ffi::capi::status::equifx_status;

/// The shared library `cargo test` built for this run: test executables live
/// in `target/<profile>/deps/`, and cargo writes the crate's cdylib there (and
/// a copy one level up) before running any test. Building it again with a
/// nested cargo would resolve features differently and recompile everything.
pub fn cdylib_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let name = format!(
            "{}equifx_ffi.{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_EXTENSION
        );
        let exe = std::env::current_exe().expect("test executable path");
        let deps = exe.parent().expect("deps folder");
        [deps.join(&name), deps.join("..").join(&name)]
            .into_iter()
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!(
                    "{name} not found next to {}: run the tests with cargo",
                    exe.display()
                )
            })
    })
}

/// The loaded library and its entry table.
pub struct Lib {
    _lib: libloading::Library,
    pub entry: &'static equifx_entry,
}

impl Lib {
    pub fn load() -> Lib {
        // SAFETY: loading our own library, whose initialisers are plain Rust statics.
        let lib = unsafe { libloading::Library::new(cdylib_path()) }.expect("dlopen libequifx");
        // SAFETY: the symbol has this signature (see include/equifx.h).
        let get: libloading::Symbol<extern "C" fn(u32) -> *const equifx_entry> =
            unsafe { lib.get(b"equifx_get_entry") }.expect("equifx_get_entry exported");
        let p = get(equifx_ffi::capi::EQUIFX_ABI_VERSION);
        assert!(!p.is_null());
        // SAFETY: the table is a static inside the library, which `_lib` keeps loaded.
        let entry = unsafe { &*p };
        Lib { _lib: lib, entry }
    }

    /// Looks up a raw exported symbol.
    pub fn symbol<T: Copy>(&self, name: &[u8]) -> T {
        // SAFETY: tests ask only for symbols with the signature they name.
        unsafe { *self._lib.get::<T>(name).expect("symbol exported") }
    }

    pub fn last_error(&self) -> String {
        // SAFETY: equifx_last_error never returns NULL and the string is NUL-terminated.
        unsafe { CStr::from_ptr((self.entry.last_error)()) }
            .to_string_lossy()
            .into_owned()
    }

    pub fn new_instance(&self, node: &str) -> *mut equifx_ffi::capi::instance::equifx_instance {
        let id = CString::new(node).unwrap();
        let mut inst = std::ptr::null_mut();
        let st = (self.entry.instance_new)(id.as_ptr(), &mut inst);
        assert_eq!(st, equifx_status::EQUIFX_STATUS_OK, "{}", self.last_error());
        inst
    }
}

/// An equifx_frame over `buf`, whose first byte is the buffer's lowest address.
pub fn frame(
    w: u32,
    h: u32,
    format: u32,
    colour: u32,
    alpha: u32,
    row_bytes: isize,
    buf: &mut [u8],
) -> equifx_frame {
    equifx_frame {
        struct_size: std::mem::size_of::<equifx_frame>() as u32,
        width: w,
        height: h,
        pixel_format: format,
        colour_space: colour,
        alpha_mode: alpha,
        row_bytes,
        data: buf.as_mut_ptr() as *mut c_void,
        data_len: buf.len(),
    }
}

/// Deterministic test pixels: a bit pattern with every byte position exercised.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// Test pixels for float formats: finite values in [0, 2).
pub fn pattern_f32(count: usize, seed: u32) -> Vec<u8> {
    (0..count)
        .flat_map(|i| {
            let v = ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 23) as f32;
            v.to_ne_bytes()
        })
        .collect()
}

/// A test that needs a tool this machine lacks says so and passes, except
/// under `CI=true`, where a missing tool means the check did not run: fail.
pub fn skip_unless_ci(why: &str) {
    eprintln!("SKIPPED: {why}");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{why} (CI=true: this check must run)"
    );
}
