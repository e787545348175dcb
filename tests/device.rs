//! Device selection as users meet it, in the CPU build and in the CUDA build
//! alike (`scripts/cuda-build-check` runs this file in the CUDA build on a
//! machine without a GPU): `auto` falls back to the CPU and says so, an
//! explicit CUDA request is a clean `Device` error (exit code 3), and the
//! CPU result does not depend on whether CUDA was compiled in.
//!
//! On a machine where a CUDA device does answer, the fallback and refusal
//! checks have nothing to test and return early; the CPU checks still run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use equifx::device::{cuda_compiled, select, DeviceRequest};
use equifx::frame::Image;
use equifx::io::{read_image, write_image, Depth};
use equifx::node::RenderContext;
use equifx::{ErrorCode, Instance};

fn equifx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

/// True when a real CUDA device answers in this process.
fn gpu_present() -> bool {
    cuda_compiled() && select(DeviceRequest::Cuda(0)).is_ok()
}

/// A small deterministic frame with some structure in every channel.
fn frame(w: usize, h: usize) -> Image {
    let n = w * h;
    let data = (0..4 * n)
        .map(|i| {
            let (c, p) = (i / n, i % n);
            let (x, y) = ((p % w) as f32, (p / w) as f32);
            match c {
                0 => 0.1 + 0.8 * x / w as f32,
                1 => 0.1 + 0.8 * y / h as f32,
                2 => 0.5 + 0.4 * ((x * 0.7 + y * 1.3).sin()),
                // Opaque, so the EXR files' premultiplication is exact.
                _ => 1.0,
            }
        })
        .collect();
    Image::from_planes(w, h, data).unwrap()
}

fn input_file(dir: &Path) -> PathBuf {
    let path = dir.join("in.exr");
    write_image(&path, &frame(20, 12), Depth::F32).unwrap();
    path
}

fn transfer(input: &Path, output: &Path, device: &str, log: &str) -> Output {
    equifx()
        .arg("transfer")
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(["--to", "oil", "--from", "photo", "--device", device])
        .env("EQUIFX_LOG", log)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_clean_device_refusal(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{what}: {stderr}");
    assert!(
        stderr.contains("equifx: error: device:"),
        "{what}: {stderr}"
    );
    assert!(stderr.contains("--device cpu"), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

/// The exact bits of every sample, so that -0.0/0.0 and NaN payloads count.
fn bits(img: &Image) -> Vec<u32> {
    img.data().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn library_refuses_explicit_cuda_with_a_device_error() {
    if gpu_present() {
        return;
    }
    for n in [0, 1] {
        let e = select(DeviceRequest::Cuda(n)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Device, "cuda:{n}: {e}");
        let msg = e.to_string();
        assert!(msg.contains("--device cpu"), "cuda:{n}: {msg}");
        if cuda_compiled() {
            // The driver's own reason is passed on, not swallowed.
            assert!(msg.contains(&format!("CUDA device {n}")), "{msg}");
        } else {
            assert!(msg.contains("built without CUDA"), "{msg}");
        }
    }
    // The parser accepts every spelling the CLI documents.
    let req: DeviceRequest = "cuda:1".parse().unwrap();
    assert_eq!(select(req).unwrap_err().code(), ErrorCode::Device);
}

#[test]
fn library_auto_and_cpu_are_the_cpu_without_a_gpu() {
    assert!(select(DeviceRequest::Cpu).unwrap().is_cpu());
    if !gpu_present() {
        assert!(select(DeviceRequest::Auto).unwrap().is_cpu());
    }
}

#[test]
fn a_node_asked_for_cuda_fails_its_render_with_a_device_error() {
    if gpu_present() {
        return;
    }
    let mut inst = Instance::new(equifx::nodes::domain_transfer::ID).unwrap();
    inst.params_mut().set_from_str("device", "cuda").unwrap();
    let img = frame(8, 8);
    let e = inst
        .render_images(
            std::slice::from_ref(&img),
            8,
            8,
            0,
            &RenderContext::default(),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Device, "{e}");
}

#[test]
fn cli_explicit_cuda_exits_3_with_a_clear_message_and_writes_nothing() {
    if gpu_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = input_file(dir.path());
    let output = dir.path().join("out.exr");
    let out = transfer(&input, &output, "cuda", "warn");
    assert_clean_device_refusal(&out, "transfer --device cuda");
    assert!(!output.exists(), "no output on a refused device");

    // `cuda:N` where the command takes any device name (the node parameter
    // itself is a choice of auto, cpu and cuda).
    let pattern = dir.path().join("s_####.png");
    let out = equifx()
        .args(["sample", "--count", "1", "--device", "cuda:1", "--out"])
        .arg(&pattern)
        .output()
        .unwrap();
    assert_clean_device_refusal(&out, "sample --device cuda:1");
}

#[test]
fn cli_auto_falls_back_to_the_cpu_and_says_so() {
    if gpu_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = input_file(dir.path());
    let output = dir.path().join("out.exr");
    let out = transfer(&input, &output, "auto", "info");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(output.exists());
    let says: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("running on the CPU"))
        .collect();
    assert_eq!(says.len(), 1, "one clear line, once: {stderr}");
    if cuda_compiled() {
        assert!(says[0].contains("no CUDA device answered"), "{stderr}");
    } else {
        assert!(says[0].contains("built without CUDA"), "{stderr}");
    }
}

/// The CPU path gives the same bits through the CLI with `--device cpu`,
/// with `auto` (which is the CPU here) and through the library, in whichever
/// build runs this test. The CPU and CUDA builds share all CPU code, so
/// equality within each build plus the cross-build check below (which
/// `scripts/cuda-build-check` enables by pointing `EQUIFX_CPU_BUILD_BIN` at
/// the CPU build's `equifx`) shows the CPU result does not depend on CUDA
/// being compiled in.
#[test]
fn cpu_domain_transfer_is_bit_identical_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let input = input_file(dir.path());

    let cpu_out = dir.path().join("cpu.exr");
    let out = transfer(&input, &cpu_out, "cpu", "warn");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cpu = read_image(&cpu_out).unwrap().image;
    assert_ne!(
        bits(&cpu),
        bits(&frame(20, 12)),
        "the render must change something"
    );

    let mut inst = Instance::new(equifx::nodes::domain_transfer::ID).unwrap();
    for (k, v) in [("target", "oil"), ("source", "photo"), ("device", "cpu")] {
        inst.params_mut().set_from_str(k, v).unwrap();
    }
    let img = frame(20, 12);
    let lib = inst
        .render_images(
            std::slice::from_ref(&img),
            20,
            12,
            0,
            &RenderContext::default(),
        )
        .unwrap();
    assert!(bits(&lib) == bits(&cpu), "library vs CLI --device cpu");

    if !gpu_present() {
        let auto_out = dir.path().join("auto.exr");
        let out = transfer(&input, &auto_out, "auto", "warn");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let auto = read_image(&auto_out).unwrap().image;
        assert!(bits(&auto) == bits(&cpu), "--device auto vs --device cpu");
    }

    match std::env::var_os("EQUIFX_CPU_BUILD_BIN").filter(|p| !p.is_empty()) {
        Some(other) => {
            let other_out = dir.path().join("other.exr");
            let out = Command::new(&other)
                .arg("transfer")
                .arg(&input)
                .arg("-o")
                .arg(&other_out)
                .args(["--to", "oil", "--from", "photo", "--device", "cpu"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            let theirs = read_image(&other_out).unwrap().image;
            assert!(
                bits(&theirs) == bits(&cpu),
                "{} and this build disagree on the CPU",
                Path::new(&other).display()
            );
        }
        None => eprintln!("EQUIFX_CPU_BUILD_BIN not set: cross-build comparison skipped"),
    }
}
