//! The generated header is usable from C (and C++): compile the example C
//! host against `include/equifx.h`, link the real library, run it, and check
//! its output against the core.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use equifx::frame::{AlphaMode, ColourSpace, FrameLayout, FrameMut, FrameRef, PixelFormat};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compile(compiler: &str, extra: &[&str]) -> Option<PathBuf> {
    let so = common::cdylib_path();
    let libdir = so.parent().unwrap();
    let exe = std::env::temp_dir().join(format!("equifx_c_host_{compiler}_{}", std::process::id()));
    let status = Command::new(compiler)
        .args(extra)
        .args(["-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("examples/c_host/main.c"))
        .arg(format!("-L{}", libdir.display()))
        .arg("-lequifx_ffi")
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .arg("-o")
        .arg(&exe)
        .status();
    match status {
        Ok(s) => {
            assert!(
                s.success(),
                "{compiler} failed to compile examples/c_host/main.c"
            );
            Some(exe)
        }
        Err(_) => {
            common::skip_unless_ci(&format!("{compiler} not found"));
            None
        }
    }
}

fn expected_hex() -> String {
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
    inst.params_mut().set_from_str("exposure", "1").unwrap();
    inst.render(
        &[FrameRef::new(layout, &src).unwrap()],
        &mut FrameMut::new(layout, &mut out).unwrap(),
        0,
        &Default::default(),
    )
    .unwrap();
    out.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(exe: &Path) {
    let out = Command::new(exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "C host failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("node org.equifx.Exposure"), "{stdout}");
    assert!(stdout.contains("not a finite number"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("output ")).unwrap();
    assert_eq!(&line["output ".len()..], expected_hex());
}

#[test]
fn c_host_compiles_against_the_header_and_renders_like_the_core() {
    if let Some(exe) = compile("cc", &["-std=c99"]) {
        run(&exe);
    }
}

#[test]
fn header_also_compiles_as_cpp() {
    if let Some(exe) = compile("g++", &["-x", "c++", "-std=c++17"]) {
        run(&exe);
    }
}
