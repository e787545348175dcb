//! LeakSanitizer over whole host processes: the example C host and an ABI
//! sequence that creates, configures, renders and frees every node, built
//! with `-fsanitize=leak` and linked to the real library, must exit without a
//! definite leak. The sanitizer intercepts every `malloc` in the process,
//! the library's included. A negative control (a host that leaks on purpose)
//! proves the sanitizer is active. Skipped with a message where the C
//! compiler has no LeakSanitizer; under `CI=true` that is a failure.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The exit code LeakSanitizer is told to use when it finds a leak.
const LEAK_EXIT: i32 = 23;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiles `source` with LeakSanitizer against the library; None when the
/// compiler cannot.
fn compile(source: &Path, name: &str) -> Option<PathBuf> {
    let libdir = common::cdylib_path().parent().unwrap().to_path_buf();
    let exe = std::env::temp_dir().join(format!("equifx_lsan_{name}_{}", std::process::id()));
    let out = Command::new("gcc")
        .args([
            "-std=c99",
            "-g",
            "-fsanitize=leak",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .arg("-I")
        .arg(root().join("include"))
        .arg(source)
        .arg(format!("-L{}", libdir.display()))
        .arg("-lequifx_ffi")
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .ok()?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(
            why.contains("lsan") || why.contains("sanitize"),
            "{} does not compile: {why}",
            source.display()
        );
        return None;
    }
    Some(exe)
}

fn run(exe: &Path) -> Output {
    let out = Command::new(exe)
        .current_dir(std::env::temp_dir())
        .env("LSAN_OPTIONS", format!("exitcode={LEAK_EXIT}"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(exe);
    out
}

fn unavailable() {
    let msg = "gcc with -fsanitize=leak is not available: leak check skipped";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("{msg}");
}

#[test]
fn hosts_end_without_definite_leaks() {
    let control = root().join("ffi/tests/leak/leaks_on_purpose.c");
    let Some(exe) = compile(&control, "control") else {
        return unavailable();
    };
    let out = run(&exe);
    assert_eq!(
        out.status.code(),
        Some(LEAK_EXIT),
        "the negative control's leak went unseen: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    for (source, name) in [
        (root().join("examples/c_host/main.c"), "c_host"),
        (root().join("ffi/tests/leak/sequence.c"), "sequence"),
    ] {
        let exe = compile(&source, name).expect("compiles like the control");
        let out = run(&exe);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("LeakSanitizer"),
            "{name} exited with {:?}:\n{stderr}",
            out.status.code()
        );
    }
}
