//! CPU by default, CUDA where it can run: the CPU build of this library is the
//! one every host loads, and it hands over to a CUDA build of the same library
//! only where that build can start and finds a GPU.
//!
//! Why: candle links the CUDA libraries at build time, so a CUDA build of
//! `libequifx_ffi.so` cannot even be loaded on a machine without the NVIDIA
//! driver — shipped alone it would take the host's plugin scan down with it.
//! So the CUDA build is installed *beside* the CPU build as
//! [`CUDA_VARIANT_FILE`], and the CPU build's entry points
//! ([`equifx_get_entry`](crate::capi::equifx_get_entry), `OfxGetNumberOfPlugins`,
//! `OfxGetPlugin`) return the variant's tables when, once per process:
//! 1. `EQUIFX_VARIANT` is not `cpu`,
//! 2. the variant file exists (next to this library, or at `EQUIFX_CUDA_LIBRARY`),
//! 3. the dynamic loader can load it (its NVIDIA libraries resolve), and
//! 4. its [`equifx_cuda_device_available`] answers yes.
//!
//! Otherwise everything stays in this library, on the CPU, and
//! [`equifx_runtime_info`] says why. Hosts that link the exported `equifx_*`
//! functions directly always get this library; the table and OpenFX paths are
//! the ones that switch.

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::capi::equifx_entry;
use crate::ofx::abi::OfxPlugin;

pub use equifx::ofx_bundle::CUDA_VARIANT_FILE;

type GetEntry = unsafe extern "C" fn(u32) -> *const equifx_entry;
type PluginCount = unsafe extern "C" fn() -> c_int;
type GetPlugin = unsafe extern "C" fn(c_int) -> *mut OfxPlugin;

/// The CUDA variant's entry points, valid for the life of the process (the
/// library is never unloaded).
pub struct Variant {
    pub get_entry: GetEntry,
    pub plugin_count: PluginCount,
    pub get_plugin: GetPlugin,
}

struct Decision {
    variant: Option<Variant>,
    /// One line for hosts and logs: what runs and why.
    info: CString,
}

/// True in the CUDA build itself, which never looks for another variant.
const IS_CUDA_BUILD: bool = equifx::device::cuda_compiled();

fn decision() -> &'static Decision {
    static DECISION: OnceLock<Decision> = OnceLock::new();
    DECISION.get_or_init(|| {
        let (variant, info) = if IS_CUDA_BUILD {
            (
                None,
                "cuda build: devices as the node parameter selects".into(),
            )
        } else {
            match choose() {
                Ok(v) => (
                    Some(v.0),
                    format!("cuda variant {}: a CUDA device answered", v.1.display()),
                ),
                Err(why) => (None, format!("cpu: {why}")),
            }
        };
        if variant.is_some() || info.contains("not used") {
            // Seen in the host's terminal or log: a GPU install that silently
            // ran on the CPU is the complaint this line prevents.
            eprintln!("equifx: {info}");
        }
        let info = crate::text::cstring(&info);
        Decision { variant, info }
    })
}

/// The CUDA variant, if this process uses one.
pub fn cuda_variant() -> Option<&'static Variant> {
    decision().variant.as_ref()
}

/// Where this library itself was loaded from.
fn own_path() -> Option<PathBuf> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    let addr = own_path as *const c_void;
    // SAFETY: `addr` is the address of a function in this object and `info`
    // is a valid, writable Dl_info; dladdr only reads the loader's tables.
    let found = unsafe { libc::dladdr(addr, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr returned a NUL-terminated path owned by the loader, valid
    // while this object stays loaded (we copy it at once).
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(name.to_string_lossy().into_owned()))
}

fn candidate() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("EQUIFX_CUDA_LIBRARY") {
        return Ok(PathBuf::from(p));
    }
    let own = own_path().ok_or("cannot tell where this library was loaded from")?;
    Ok(own
        .parent()
        .unwrap_or(Path::new("."))
        .join(CUDA_VARIANT_FILE))
}

fn choose() -> Result<(Variant, PathBuf), String> {
    if std::env::var("EQUIFX_VARIANT").is_ok_and(|v| v.eq_ignore_ascii_case("cpu")) {
        return Err("EQUIFX_VARIANT=cpu".into());
    }
    let path = candidate()?;
    if !path.is_file() {
        return Err(format!("no CUDA variant installed ({})", path.display()));
    }
    if own_path().and_then(|p| p.canonicalize().ok()) == path.canonicalize().ok() {
        return Err(format!("{} is this library itself", path.display()));
    }
    // SAFETY: loading runs the variant's initialisers; the variant is a build
    // of this same crate (its own statics, no conflicting global state).
    let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| {
        // The loader's own words (e.g. "libcuda.so.1: cannot open shared
        // object file") are in the error's source.
        let detail = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
        format!(
            "CUDA variant {} not used: it cannot be loaded here ({detail})",
            path.display()
        )
    })?;
    let not_ours = |e: libloading::Error| {
        format!(
            "CUDA variant {} not used: it is not an equifx library ({e})",
            path.display()
        )
    };
    // SAFETY: the symbols are declared in equifx.h / the OpenFX ABI with exactly
    // these signatures; the library stays loaded for the rest of the process.
    let (probe, version, variant) = unsafe {
        let probe = *lib
            .get::<unsafe extern "C" fn() -> c_int>(b"equifx_cuda_device_available\0")
            .map_err(not_ours)?;
        let version = *lib
            .get::<unsafe extern "C" fn() -> u32>(b"equifx_version_number\0")
            .map_err(not_ours)?;
        let variant = Variant {
            get_entry: *lib
                .get::<GetEntry>(b"equifx_get_entry\0")
                .map_err(not_ours)?,
            plugin_count: *lib
                .get::<PluginCount>(b"OfxGetNumberOfPlugins\0")
                .map_err(not_ours)?,
            get_plugin: *lib.get::<GetPlugin>(b"OfxGetPlugin\0").map_err(not_ours)?,
        };
        (probe, version, variant)
    };
    // Never unload: its code may run on host threads until the process ends,
    // and unloading Rust libraries with thread-local state is not safe.
    std::mem::forget(lib);
    // Only these two exports are called before the variant is known to be a
    // CUDA build: a CPU build's table would itself look for a variant.
    // SAFETY: guarded equifx exports taking no arguments.
    let (their_version, ours) = (unsafe { version() }, crate::capi::equifx_version_number());
    if their_version != ours {
        return Err(format!(
            "CUDA variant {} not used: it is equifx {their_version}, this library is {ours}",
            path.display()
        ));
    }
    // SAFETY: as above.
    if unsafe { probe() } != 1 {
        return Err(format!(
            "CUDA variant {} not used: no CUDA device answered",
            path.display()
        ));
    }
    // SAFETY: a CUDA build's table (checked above), static in the variant.
    if unsafe { (variant.get_entry)(crate::capi::EQUIFX_ABI_VERSION) }.is_null() {
        return Err(format!(
            "CUDA variant {} not used: it does not provide ABI {}",
            path.display(),
            crate::capi::EQUIFX_ABI_VERSION
        ));
    }
    Ok((variant, path))
}

/// 1 when this library can open CUDA device 0, else 0. The CPU build's loader
/// asks a CUDA variant this before handing over to it; hosts may ask too.
#[no_mangle]
pub extern "C" fn equifx_cuda_device_available() -> c_int {
    ffi_guard! {
        Ok(c_int::from(
            IS_CUDA_BUILD
                && equifx::device::select(equifx::device::DeviceRequest::Cuda(0)).is_ok(),
        ))
    }
}

/// What runs in this process and why, e.g. `cpu: no CUDA variant installed
/// (…)` or `cuda variant …: a CUDA device answered`. Owned by the library.
#[no_mangle]
pub extern "C" fn equifx_runtime_info() -> *const c_char {
    ffi_guard! { Ok(decision().info.as_ptr()) }
}
