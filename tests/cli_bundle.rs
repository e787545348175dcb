//! `equifx bundle` as a user runs it.

use std::process::Command;

fn equifx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

#[test]
fn bundle_writes_the_ofx_tree_and_prints_its_path() {
    let dir = tempfile::tempdir().unwrap();
    // Any file exporting the OFX entry names stands in for the library here;
    // ffi/tests/ofx_host.rs loads a bundle made from the real one.
    let lib = dir.path().join("libequifx_ffi.so");
    std::fs::write(&lib, b"\x7fELF OfxGetPlugin OfxGetNumberOfPlugins").unwrap();
    let out = equifx()
        .arg("bundle")
        .arg("--library")
        .arg(&lib)
        .arg("--out")
        .arg(dir.path().join("plugins"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let bundle = dir.path().join("plugins/equifx.ofx.bundle");
    assert_eq!(printed, bundle.display().to_string());
    let arch = equifx::ofx_bundle::architecture_dir().unwrap();
    assert!(bundle
        .join("Contents")
        .join(arch)
        .join("equifx.ofx")
        .is_file());
    assert!(bundle.join("Contents/Info.plist").is_file());
}

#[test]
fn bundle_refuses_a_file_that_is_not_the_plugin_and_says_what_to_build() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("libequifx.rlib");
    std::fs::write(&wrong, b"not a plugin").unwrap();
    let out = equifx()
        .args(["bundle", "--library"])
        .arg(&wrong)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cargo build --release -p equifx-ffi"), "{err}");
}
