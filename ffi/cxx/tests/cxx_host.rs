//! The C++ API as a C++ studio tool uses it: `examples/cxx_host/main.cpp` is
//! compiled with g++ against `include/equifx_cxx.h` and linked with the static
//! library, then run. Also checks that the shipped header is the one cxx
//! generates from `src/lib.rs` (bless: `EQUIFX_BLESS=1 cargo test -p equifx-cxx`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bridge_include() -> PathBuf {
    Path::new(env!("OUT_DIR")).join("cxxbridge/include")
}

#[test]
fn shipped_header_is_the_generated_one() {
    let generated = std::fs::read_to_string(bridge_include().join("equifx-cxx/src/lib.rs.h"))
        .expect("generated header");
    let shipped = repo().join("include/equifx_cxx.h");
    if std::env::var_os("EQUIFX_BLESS").is_some() {
        std::fs::write(&shipped, &generated).expect("bless");
    }
    let current = std::fs::read_to_string(&shipped).unwrap_or_default();
    assert!(
        current == generated,
        "include/equifx_cxx.h is stale: run `EQUIFX_BLESS=1 cargo test -p equifx-cxx --test cxx_host`"
    );
}

#[test]
fn cpp_host_compiles_renders_and_catches_errors() {
    let dir = tempfile_dir();
    let exe = dir.join("cxx_host");
    let out = Command::new("g++")
        .args(["-std=c++17", "-O1", "-Wall", "-Werror"])
        .arg(repo().join("examples/cxx_host/main.cpp"))
        .arg("-I")
        .arg(repo().join("include"))
        .arg("-I")
        .arg(bridge_include())
        .arg(common::static_lib())
        .args(cuda_link_args())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .expect("g++ runs");
    assert!(
        out.status.success(),
        "g++ failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("host runs");
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "host failed:\n{text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for node in equifx::manifest::nodes() {
        assert!(text.contains(&format!("node {}", node.id)), "{text}");
    }
    assert!(text.contains("exposure +1 doubled 12 pixels"), "{text}");
    assert_eq!(text.matches("refused:").count(), 2, "{text}");
    assert!(
        text.contains("unknown node"),
        "the error names the problem: {text}"
    );
}

/// What a C++ program must add to link the static library of a CUDA build
/// (what `cargo rustc -p equifx-cxx --features cuda -- --print
/// native-static-libs` lists): candle's CUDA kernel archive `libmoe.a`, which
/// rustc does not bundle into the static library, and the CUDA libraries.
/// Nothing for the CPU build.
fn cuda_link_args() -> Vec<String> {
    if !equifx::device::cuda_compiled() {
        return Vec::new();
    }
    let exe = std::env::current_exe().expect("test exe");
    let build = exe.parent().expect("deps").join("../build");
    // The kernels of this build: the newest candle-kernels output with the archive.
    let kernels = std::fs::read_dir(&build)
        .expect("build dir")
        .filter_map(|e| e.ok().map(|e| e.path().join("out")))
        .filter(|p| {
            p.join("libmoe.a").exists()
                && p.parent()
                    .and_then(|d| d.file_name())
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("candle-kernels-"))
        })
        .max_by_key(|p| {
            std::fs::metadata(p.join("libmoe.a"))
                .and_then(|m| m.modified())
                .ok()
        })
        .expect("candle-kernels' libmoe.a in a CUDA build");
    let mut args = vec![format!("-L{}", kernels.display()), "-lmoe".into()];
    if let Some(root) = std::env::var_os("CUDA_ROOT").or_else(|| std::env::var_os("CUDA_PATH")) {
        let root = PathBuf::from(root);
        args.push(format!("-L{}", root.join("lib").display()));
        args.push(format!("-L{}", root.join("lib/stubs").display()));
    }
    for lib in [
        "cuda", "nvrtc", "curand", "cublas", "cublasLt", "cudart", "stdc++",
    ] {
        args.push(format!("-l{lib}"));
    }
    args
}

/// A fixed scratch folder under target/tmp, emptied on every run.
fn tempfile_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cxx-host");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
