//! Every `extern "C"` function must run inside `ffi_guard!`: a panic that
//! unwinds out of `extern "C"` aborts the host (nih-plug's CLAP bug). This
//! scans the source so a new function without the guard fails CI.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Whether `line` starts the definition of an `extern "C" fn`, exported or
/// not (a trampoline handed to a host crosses the boundary too): `pub`,
/// `pub(…)` and `unsafe` may come first. Function pointer types
/// (`extern "C" fn(…)`) have no name and do not count.
fn defines_extern_c_fn(line: &str) -> bool {
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub") {
        rest = match r.strip_prefix('(') {
            Some(r) => r.split_once(')').map_or("", |(_, r)| r),
            None => r,
        }
        .trim_start();
    }
    if let Some(r) = rest.strip_prefix("unsafe ") {
        rest = r.trim_start();
    }
    rest.strip_prefix("extern \"C\" fn ")
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

#[test]
fn the_scan_sees_every_extern_c_definition_and_no_pointer_type() {
    for def in [
        "pub extern \"C\" fn equifx_version_number() -> u32 {",
        "pub unsafe extern \"C\" fn f(p: *const u8) {",
        "    extern \"C\" fn entry(",
        "unsafe extern \"C\" fn set_host(host: *mut OfxHost) {",
        "pub(crate) extern \"C\" fn g() {",
    ] {
        assert!(defines_extern_c_fn(def), "{def}");
    }
    for not_def in [
        "    pub log: Option<extern \"C\" fn(*mut c_void, i32, *const c_char)>,",
        "        extern \"C\" fn(*const c_char, *mut *mut equifx_instance) -> equifx_status,",
        "pub type OfxPluginEntryPoint = unsafe extern \"C\" fn(",
        "    // extern \"C\" fn in a comment",
    ] {
        assert!(!defines_extern_c_fn(not_def), "{not_def}");
    }
}

#[test]
fn every_extern_c_function_body_starts_with_the_guard() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if defines_extern_c_fn(l) {
                // The body opens at the first line ending in '{' from here on.
                let open = (i..lines.len())
                    .find(|&j| lines[j].trim_end().ends_with('{'))
                    .unwrap();
                let first = lines[open + 1].trim();
                assert!(
                    first.starts_with("ffi_guard!"),
                    "{}:{}: extern \"C\" function body must start with ffi_guard!, found `{first}`",
                    f.display(),
                    i + 1
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 10,
        "the scan found only {checked} extern \"C\" functions; is it still looking in the right place?"
    );
}

#[test]
fn the_library_exports_only_equifx_and_openfx_symbols() {
    let so = common::cdylib_path();
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(so)
        .output();
    let Ok(out) = out else {
        common::skip_unless_ci("nm not available: the exported symbols were not checked");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let exported: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (kind, name) = (parts.nth(1)?, parts.next()?);
            (kind == "T").then_some(name)
        })
        .collect();
    assert!(exported.contains(&"equifx_get_entry"), "{exported:?}");
    for s in &exported {
        assert!(
            s.starts_with("equifx_") || *s == "OfxGetPlugin" || *s == "OfxGetNumberOfPlugins",
            "unexpected exported symbol {s}"
        );
    }
}

mod common;
