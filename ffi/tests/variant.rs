//! The CPU build hands its C ABI table and OpenFX entry points to a CUDA build
//! installed beside it only when that build loads, is the same equifx, and
//! finds a GPU; in every other case the host gets the CPU build and
//! `equifx_runtime_info` says why.
//!
//! No GPU is needed: each case installs a copy of the library this test run
//! built (so every case has its own once-per-process decision) next to a
//! stand-in for the CUDA variant — garbage bytes, a second copy of the CPU
//! build (a real equifx without CUDA), or a small C library that answers the
//! probe as a CUDA build on a GPU machine would.

mod common;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::{Path, PathBuf};
use std::process::Command;

use equifx_ffi::capi::{equifx_entry, EQUIFX_ABI_VERSION};
use equifx_ffi::variant::CUDA_VARIANT_FILE;

/// A fake CUDA variant: the exports the loader looks for, a table whose
/// `struct_size` is the marker 4242, and 42 OpenFX plugins.
const FAKE: &str = r#"
#include <stdint.h>
#include <stddef.h>
struct table { uint32_t abi_version; uint32_t struct_size; uint32_t (*version_number)(void); };
uint32_t equifx_version_number(void) { return FAKE_VERSION; }
static struct table ENTRY = { 1, 4242, equifx_version_number };
const struct table *equifx_get_entry(uint32_t abi) { return abi == 1 ? &ENTRY : NULL; }
int equifx_cuda_device_available(void) { return FAKE_AVAILABLE; }
int OfxGetNumberOfPlugins(void) { return 42; }
void *OfxGetPlugin(int n) { (void)n; return NULL; }
"#;

fn case_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("variant-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(common::cdylib_path(), dir.join("libequifx_ffi.so")).unwrap();
    dir
}

fn compile_fake(dir: &Path, version: u32, available: bool) {
    compile_fake_with(dir, version, available, &[]);
}

fn compile_fake_linked(dir: &Path, version: u32, link: &[&str]) {
    compile_fake_with(dir, version, true, link);
}

fn compile_fake_with(dir: &Path, version: u32, available: bool, link: &[&str]) {
    let src = dir.join("fake.c");
    std::fs::write(&src, FAKE).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(dir.join(CUDA_VARIANT_FILE))
        .arg(format!("-DFAKE_VERSION={version}u"))
        .arg(format!("-DFAKE_AVAILABLE={}", i32::from(available)))
        .arg(&src)
        .args(link)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success());
}

/// What a host sees after loading `dir/libequifx_ffi.so`.
struct Seen {
    table: *const equifx_entry,
    own_table: bool,
    plugins: c_int,
    info: String,
    version: u32,
    _lib: libloading::Library,
}

fn host_loads(dir: &Path) -> Seen {
    // SAFETY: our own library (a copy), whose initialisers are plain Rust statics.
    let lib = unsafe { libloading::Library::new(dir.join("libequifx_ffi.so")) }.unwrap();
    // SAFETY: signatures as declared in include/equifx.h and the OpenFX ABI.
    unsafe {
        let get: extern "C" fn(u32) -> *const equifx_entry = *lib.get(b"equifx_get_entry").unwrap();
        let count: extern "C" fn() -> c_int = *lib.get(b"OfxGetNumberOfPlugins").unwrap();
        let info: extern "C" fn() -> *const c_char = *lib.get(b"equifx_runtime_info").unwrap();
        let version: extern "C" fn() -> u32 = *lib.get(b"equifx_version_number").unwrap();
        let own_new: *const c_void = *lib.get(b"equifx_instance_new").unwrap();
        let table = get(EQUIFX_ABI_VERSION);
        assert!(!table.is_null());
        let own_table =
            (*table).struct_size != 4242 && (*table).instance_new as *const c_void == own_new;
        Seen {
            table,
            own_table,
            plugins: count(),
            info: CStr::from_ptr(info()).to_string_lossy().into_owned(),
            version: version(),
            _lib: lib,
        }
    }
}

fn assert_cpu(seen: &Seen, why: &str) {
    assert!(
        seen.own_table,
        "expected the CPU build's own table ({})",
        seen.info
    );
    assert!(
        seen.plugins >= 4,
        "the CPU build's OpenFX plugins: {}",
        seen.plugins
    );
    assert!(
        seen.info.starts_with("cpu:") && seen.info.contains(why),
        "info '{}' should say '{why}'",
        seen.info
    );
}

// One test, run in order: the cases set EQUIFX_VARIANT, which must not
// change under another test's load.
#[test]
fn the_cpu_build_hands_over_only_to_a_working_cuda_variant_of_the_same_equifx() {
    if equifx::device::cuda_compiled() {
        // This test run built the CUDA variant itself: it never looks for
        // another one, even beside a stand-in that reports a GPU.
        let dir = case_dir("cuda-build");
        compile_fake(
            &dir,
            host_loads(&case_dir("cuda-build-alone")).version,
            true,
        );
        let seen = host_loads(&dir);
        assert!(
            seen.own_table && seen.info.starts_with("cuda build"),
            "{}",
            seen.info
        );
        for case in ["cuda-build", "cuda-build-alone"] {
            let _ = std::fs::remove_dir_all(
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("variant-{case}")),
            );
        }
        return;
    }
    // No variant: the normal install.
    let alone = host_loads(&case_dir("alone"));
    assert_cpu(&alone, "no CUDA variant installed");
    let version = alone.version;

    // A variant the dynamic loader refuses (what a CUDA build is on a machine
    // without the NVIDIA driver).
    let dir = case_dir("unloadable");
    std::fs::write(dir.join(CUDA_VARIANT_FILE), b"not an ELF file").unwrap();
    assert_cpu(&host_loads(&dir), "cannot be loaded here");

    // A variant linked against a driver library this machine does not have:
    // what a CUDA build is where libcuda.so.1 is missing.
    let dir = case_dir("missing-driver");
    std::fs::write(
        dir.join("drv.c"),
        "int cuInit(unsigned f) { (void)f; return 0; }\n",
    )
    .unwrap();
    let driver = dir.join("libequifx_test_driver.so");
    let ok = Command::new("cc")
        .args([
            "-shared",
            "-fPIC",
            "-Wl,-soname,libequifx_test_driver.so",
            "-o",
        ])
        .arg(&driver)
        .arg(dir.join("drv.c"))
        .status()
        .unwrap();
    assert!(ok.success());
    compile_fake_linked(
        &dir,
        version,
        &[
            "-L",
            dir.to_str().unwrap(),
            "-Wl,--no-as-needed",
            "-lequifx_test_driver",
        ],
    );
    std::fs::remove_file(&driver).unwrap();
    assert_cpu(
        &host_loads(&dir),
        "libequifx_test_driver.so: cannot open shared object file",
    );

    // A real equifx library that has no GPU to offer.
    let dir = case_dir("no-device");
    std::fs::copy(common::cdylib_path(), dir.join(CUDA_VARIANT_FILE)).unwrap();
    assert_cpu(&host_loads(&dir), "no CUDA device answered");

    // A working variant of another equifx version is not mixed with this one.
    let dir = case_dir("other-version");
    compile_fake(&dir, version + 1, true);
    assert_cpu(&host_loads(&dir), &format!("it is equifx {}", version + 1));

    // A working variant of this version with a GPU: the host gets its tables.
    let dir = case_dir("gpu");
    compile_fake(&dir, version, true);
    let seen = host_loads(&dir);
    assert!(!seen.own_table, "{}", seen.info);
    // SAFETY: the fake's static table.
    assert_eq!(unsafe { (*seen.table).struct_size }, 4242);
    assert_eq!(seen.plugins, 42, "OpenFX entry points forwarded too");
    assert!(seen.info.starts_with("cuda variant"), "{}", seen.info);

    // The same install, with the user forcing the CPU build.
    let dir = case_dir("forced-cpu");
    compile_fake(&dir, version, true);
    std::env::set_var("EQUIFX_VARIANT", "cpu");
    let forced = host_loads(&dir);
    std::env::remove_var("EQUIFX_VARIANT");
    assert_cpu(&forced, "EQUIFX_VARIANT=cpu");

    // Each case holds a 200 MB copy of the debug library; the loaded copies
    // stay mapped, so removing the files is safe.
    for case in [
        "alone",
        "unloadable",
        "missing-driver",
        "no-device",
        "other-version",
        "gpu",
        "forced-cpu",
    ] {
        let _ = std::fs::remove_dir_all(
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("variant-{case}")),
        );
    }
}

/// The probe a CPU build asks a variant: yes only for a CUDA build with a GPU
/// (in the CUDA build on this GPU-less machine, as in the CPU build: no).
#[test]
fn the_probe_answers_whether_this_build_can_open_a_cuda_device() {
    let lib = common::Lib::load();
    let available: extern "C" fn() -> c_int = lib.symbol(b"equifx_cuda_device_available");
    let gpu = equifx::device::cuda_compiled()
        && equifx::device::select(equifx::device::DeviceRequest::Cuda(0)).is_ok();
    assert_eq!(available(), c_int::from(gpu));
}
