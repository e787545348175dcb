//! The C++ API (`include/equifx.hpp`, header-only over the C ABI) compiles
//! with warnings as errors, and the example C++ host renders exactly what
//! the core renders.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use equifx::frame::{AlphaMode, ColourSpace, FrameLayout, FrameMut, FrameRef, PixelFormat};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The core's own rendering of the example's frame: the oracle.
fn expected_hex(exposure: &str) -> String {
    let (w, h) = (4, 2);
    let src: Vec<u8> = (0..w * h * 4).map(|i| (i * 7 + 3) as u8).collect();
    let layout = FrameLayout {
        row_bytes: -(w as isize * 4),
        ..FrameLayout::packed(
            w,
            h,
            PixelFormat::RGBA_U8,
            ColourSpace::Srgb,
            AlphaMode::Straight,
        )
    };
    let mut out = vec![0u8; src.len()];
    let mut inst = equifx::Instance::new("org.equifx.Exposure").unwrap();
    inst.params_mut()
        .set_from_str("exposure", exposure)
        .unwrap();
    inst.render(
        &[FrameRef::new(layout, &src).unwrap()],
        &mut FrameMut::new(layout, &mut out).unwrap(),
        0,
        &Default::default(),
    )
    .unwrap();
    out.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn cpp_host_compiles_against_the_header_and_renders_like_the_core() {
    let so = common::cdylib_path();
    let libdir = so.parent().unwrap();
    let exe = std::env::temp_dir().join(format!("equifx_cpp_host_{}", std::process::id()));
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let status = Command::new(&cxx)
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("examples/cpp_host/main.cpp"))
        .arg(format!("-L{}", libdir.display()))
        .arg("-lequifx_ffi")
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .arg("-o")
        .arg(&exe)
        .status();
    let Ok(status) = status else {
        common::skip_unless_ci(&format!("{cxx} not found"));
        return;
    };
    assert!(
        status.success(),
        "{cxx} failed to compile examples/cpp_host/main.cpp"
    );
    let out = Command::new(&exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "C++ host failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("node org.equifx.Exposure"), "{stdout}");
    assert!(
        stdout.contains("unknown node 'org.equifx.NoSuchNode'"),
        "{stdout}"
    );
    assert!(stdout.contains("not a finite number"), "{stdout}");
    assert!(stdout.contains("progress 1.0"), "{stdout}");
    assert!(stdout.contains("aborted -> status 9"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("output ")).unwrap();
    assert_eq!(&line["output ".len()..], expected_hex("1"));
    // Negative control: the oracle tells exposures apart.
    assert_ne!(&line["output ".len()..], expected_hex("0.5"));
    let _ = std::fs::remove_file(&exe);
}
