//! What `equifx` says when the user's request cannot be met: each message
//! names the real problem, and every failure ends with a documented exit
//! code (never a signal), even when memory runs out.

use std::path::Path;
use std::process::{Command, Output};

use equifx::frame::Image;
use equifx::io::{write_image, Depth};

fn equifx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

/// `equifx` with its address space capped at `gib` GiB (`ulimit -v`), as a
/// farm task or a container with a memory limit runs it.
#[cfg(unix)]
fn equifx_capped(gib: u64) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", gib << 20))
        .arg(env!("CARGO_BIN_EXE_equifx"));
    c
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The process ended by itself with `code` (not killed by a signal, e.g. the
/// abort of a failed allocation) and said `expected` on stderr.
fn assert_exit(out: &Output, code: i32, expected: &[&str]) {
    let err = stderr(out);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            None,
            "equifx was killed by a signal ({:?}) instead of exiting with a documented code:\n{err}",
            out.status
        );
    }
    assert_eq!(out.status.code(), Some(code), "{err}");
    for e in expected {
        assert!(err.contains(e), "expected {e:?} in:\n{err}");
    }
}

fn input_png(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("in.png");
    write_image(&p, &Image::new(8, 6), Depth::U8).unwrap();
    p
}

// ------------------------------------------------------------------ memory --

#[cfg(unix)]
#[test]
fn a_frame_beyond_the_pixel_limit_is_refused_before_any_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let out = equifx_capped(8)
        .args(["render", "FairSampler", "--size", "65536x65536", "-o"])
        .arg(dir.path().join("big.png"))
        .output()
        .unwrap();
    assert_exit(&out, 2, &["65536×65536", "16384×16384"]);
}

#[cfg(unix)]
#[test]
fn running_out_of_memory_exits_3_with_a_message_instead_of_aborting() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("big.png");
    // 16384² is within the limit, but its working image alone takes 4 GiB.
    let out = equifx_capped(4)
        .args(["render", "FairSampler", "--size", "16384x16384", "-o"])
        .arg(&output)
        .output()
        .unwrap();
    assert_exit(&out, 3, &["out of memory", "16384×16384"]);
    assert!(!output.exists());
}

/// `equifx sample` scales its pictures to `--size` like the node does.
#[cfg(unix)]
#[test]
fn sample_beyond_the_limit_or_the_memory_fails_with_2_or_3_instead_of_aborting() {
    let dir = tempfile::tempdir().unwrap();
    for (side, gib, code, says) in [
        ("65536", 8, 2, "16384×16384"),
        ("16384", 4, 3, "out of memory"),
    ] {
        let out = equifx_capped(gib)
            .args(["sample", "--count", "1", "--size", side, "--out"])
            .arg(dir.path().join("s.png"))
            .output()
            .unwrap();
        assert_exit(&out, code, &[says]);
    }
    assert!(!dir.path().join("s.png").exists());
}

// ----------------------------------------------------------------- outputs --

#[test]
fn an_existing_folder_as_the_output_is_named_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = equifx()
        .args(["render", "Exposure"])
        .arg(input_png(dir.path()))
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 2, &["is a folder", &dir.path().display().to_string()]);
    assert!(!stderr(&out).contains("extension '.'"), "{}", stderr(&out));
}

#[test]
fn an_output_without_extension_says_so_and_lists_the_formats() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("frame");
    let out = equifx()
        .args(["render", "Exposure"])
        .arg(input_png(dir.path()))
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap();
    assert_exit(
        &out,
        2,
        &[
            &output.display().to_string(),
            "has no extension",
            ".png",
            ".exr",
            ".tif",
        ],
    );
    assert!(!stderr(&out).contains("extension '.'"), "{}", stderr(&out));
}

/// Outputs go to a temporary file renamed into place; when the folder
/// cannot take it, the message names the output asked for and the OS's
/// reason, not the temporary file.
#[cfg(target_os = "linux")]
#[test]
fn an_output_where_no_file_can_be_created_names_the_output_and_the_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = equifx()
        .args(["render", "Exposure"])
        .arg(input_png(dir.path()))
        .args(["-o", "/proc/out.png"])
        .output()
        .unwrap();
    assert_exit(&out, 2, &["/proc/out.png", "os error"]);
    assert!(!stderr(&out).contains(".partial"), "{}", stderr(&out));
}

// ----------------------------------------------------------------- records --

#[test]
fn a_file_given_as_the_bias_audit_records_folder_is_named_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records");
    std::fs::write(&records, b"not a folder").unwrap();
    let out = equifx()
        .args(["render", "BiasAudit"])
        .arg(input_png(dir.path()))
        .arg("-o")
        .arg(dir.path().join("out.png"))
        .arg("--param")
        .arg(format!("records={}", records.display()))
        .output()
        .unwrap();
    assert_exit(
        &out,
        2,
        &[&records.display().to_string(), "is a file, not a folder"],
    );
    assert!(!stderr(&out).contains("os error 17"), "{}", stderr(&out));
}

#[test]
fn a_file_given_to_audit_records_is_named_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records");
    std::fs::write(&records, b"not a folder").unwrap();
    let out = equifx()
        .args(["audit", "--records"])
        .arg(&records)
        .arg("--report")
        .arg(dir.path().join("report"))
        .output()
        .unwrap();
    assert_exit(
        &out,
        2,
        &[&records.display().to_string(), "is a file, not a folder"],
    );
}

/// `equifx nodes | head` closes the pipe before equifx is done: it stops
/// quietly (0 if all was written in time, 141 as for SIGPIPE otherwise),
/// never with a panic message.
#[test]
fn a_closed_output_pipe_ends_quietly_instead_of_panicking() {
    for _ in 0..5 {
        let mut child = equifx()
            .args(["nodes", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            matches!(out.status.code(), Some(0 | 141)),
            "{:?}: {err}",
            out.status
        );
    }
}
