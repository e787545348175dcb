//! A plugin scan loads the library, asks what it offers, maybe makes and frees
//! an instance, and unloads it, over and over. Memory must stay flat: Rust
//! never frees a library's statics, so every real unload would leak them.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::CString;

use equifx_ffi::capi::describe::equifx_node_info;
use equifx_ffi::capi::equifx_entry;
use equifx_ffi::capi::status::equifx_status::*;

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// dlopen → describe every node, create and free an instance → dlclose.
fn scan_cycle() {
    // SAFETY: loading our own library, whose initialisers are plain Rust statics.
    let lib = unsafe { libloading::Library::new(common::cdylib_path()) }.expect("dlopen");
    // SAFETY: the symbol has this signature (include/equifx.h).
    let get: libloading::Symbol<extern "C" fn(u32) -> *const equifx_entry> =
        unsafe { lib.get(b"equifx_get_entry") }.expect("equifx_get_entry");
    // SAFETY: the entry table is a static of the library, loaded until `lib` drops.
    let e = unsafe { &*get(equifx_ffi::capi::EQUIFX_ABI_VERSION) };
    for i in 0..(e.node_count)() {
        // SAFETY: every field is an integer, a nullable pointer or an enum with a 0 variant.
        let mut info: equifx_node_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<equifx_node_info>() as u32;
        assert_eq!((e.node_info)(i, &mut info), EQUIFX_STATUS_OK);
    }
    let id = CString::new("org.equifx.Exposure").unwrap();
    let mut inst = std::ptr::null_mut();
    assert_eq!((e.instance_new)(id.as_ptr(), &mut inst), EQUIFX_STATUS_OK);
    (e.instance_free)(inst);
    drop(lib);
}

#[test]
fn load_describe_unload_cycles_stay_flat() {
    for _ in 0..100 {
        scan_cycle();
    }
    let before = rss();
    const CYCLES: u64 = 1000;
    for _ in 0..CYCLES {
        scan_cycle();
    }
    let grown = rss().saturating_sub(before);
    // 30 KiB a cycle leaked before; allocator noise is far below 2 KiB a cycle.
    assert!(
        grown < CYCLES * 2048,
        "{} KiB more after {CYCLES} load/unload cycles",
        grown / 1024
    );
}
