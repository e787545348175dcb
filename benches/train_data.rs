//! Training data at studio scale: the time [`DomainData::load`] takes to list
//! a folder of N camera-sized JPEGs, the rate at which [`draw_batch`] then
//! takes 64-px crops from them (batches of 16, crop sampling at pixel scale 1
//! with scale jitter 0.5), and the peak resident memory of each run. Pictures
//! are streamed, never cached, so the peak should stay flat as N grows.
//!
//! Each N runs in a child process of this binary, so its peak (VmHWM, from
//! `/proc/self/status`) is its own; another child times the load-time check
//! equifx made before (every file fully decoded) for comparison. The
//! folders, N JPEGs of 1–4 Mpx with aspect ratios 0.5–2 and procedural
//! content, are written once (in parallel) under `target/bench-data/train-N`
//! and reused by later runs. Nothing timed is asserted.
//!
//! `cargo bench --bench train_data` runs N = 500 and 2,000; `-- --full` (or
//! `EQUIFX_BENCH_FULL=1`) adds N = 20,000, which takes ~10 GB of disk and
//! a quarter of an hour to generate on two cores. `-- --batches M` sets the
//! number of batches drawn (default 40); `-- --no-old` skips the old check.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use equifx::rng::StreamRng;
use equifx::train::{draw_batch, DomainData, Sampling};
use rayon::prelude::*;

const BATCH: usize = 16;
const CROP: usize = 64;
const SEED: u64 = 2024;
const SAMPLING: Sampling = Sampling::Crop {
    pixel_scale: 1.0,
    scale_jitter: 0.5,
};
/// Written into each finished folder; a change of the generator bumps it.
const COMPLETE: &str = ".complete-v1";

/// The procedural picture `i` of the benchmark: (width, height, RGB bytes).
/// A gradient between two colours, a separable sine grating, a disc and
/// per-pixel noise (so the JPEG holds fine detail, as photographs do).
fn render(i: usize) -> (u32, u32, Vec<u8>) {
    let mut r = StreamRng::new(SEED, b"bench-train-image", i as u64);
    let pixels = r.range(1.0e6, 4.0e6);
    let aspect = r.range(0.5f64.ln(), 2f64.ln()).exp();
    let w = (pixels * aspect).sqrt().round() as u32;
    let h = (pixels / f64::from(w)).round() as u32;
    let mut colour = || {
        [
            r.uniform() * 255.0,
            r.uniform() * 255.0,
            r.uniform() * 255.0,
        ]
    };
    let (c0, c1, disc) = (colour(), colour(), colour());
    let angle = r.range(0.0, std::f64::consts::TAU);
    let (dx, dy) = (
        angle.cos() / f64::from(w + h),
        angle.sin() / f64::from(w + h),
    );
    let (fx, fy) = (r.range(0.005, 0.2), r.range(0.005, 0.2));
    let grating = r.range(10.0, 40.0);
    let (cx, cy) = (r.uniform() * f64::from(w), r.uniform() * f64::from(h));
    let radius2 = (r.range(0.1, 0.4) * f64::from(w.min(h))).powi(2);
    let noise = r.range(4.0, 14.0);
    let sx: Vec<f64> = (0..w).map(|x| (f64::from(x) * fx).sin()).collect();
    let sy: Vec<f64> = (0..h).map(|y| (f64::from(y) * fy).sin()).collect();
    let mut rgb = Vec::with_capacity(3 * w as usize * h as usize);
    for y in 0..h {
        for x in 0..w {
            let t = 0.5
                + (f64::from(x) - f64::from(w) / 2.0) * dx
                + (f64::from(y) - f64::from(h) / 2.0) * dy;
            let inside = (f64::from(x) - cx).powi(2) + (f64::from(y) - cy).powi(2) < radius2;
            let wave = grating * sx[x as usize] * sy[y as usize];
            // A cheap integer hash of (x, y, i): noise without a generator per pixel.
            let mut hash = (x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77))
                .wrapping_add(i as u32 * 0xC2B2_AE3D);
            for c in 0..3 {
                hash ^= hash >> 15;
                hash = hash.wrapping_mul(0x2C1B_3C6D);
                let n = (f64::from(hash >> 24) / 255.0 - 0.5) * noise;
                let base = if inside {
                    disc[c]
                } else {
                    c0[c] + (c1[c] - c0[c]) * t
                };
                rgb.push((base + wave + n).clamp(0.0, 255.0) as u8);
            }
        }
    }
    (w, h, rgb)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn folder(n: usize) -> PathBuf {
    target_dir().join("bench-data").join(format!("train-{n}"))
}

fn file_of(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("s{}", i % 10))
        .join(format!("img{i:05}.jpg"))
}

/// The folder of `n` JPEGs, written unless an earlier run finished it. Each
/// file is written under a hidden name and renamed, so an interrupted run
/// leaves only whole files (which the next run keeps).
fn ensure_folder(n: usize) -> PathBuf {
    let dir = folder(n);
    if dir.join(COMPLETE).exists() {
        return dir;
    }
    for s in 0..10.min(n) {
        std::fs::create_dir_all(dir.join(format!("s{s}"))).expect("create the bench folder");
    }
    let t = Instant::now();
    let written: usize = (0..n)
        .into_par_iter()
        .map(|i| {
            let path = file_of(&dir, i);
            if path.exists() {
                return 0;
            }
            let (w, h, rgb) = render(i);
            let mut bytes = Vec::new();
            jpeg_encoder::Encoder::new(&mut bytes, 90)
                .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
                .expect("encode a JPEG");
            let tmp = path.with_file_name(format!(".tmp-{i}.jpg"));
            std::fs::write(&tmp, &bytes).expect("write a JPEG");
            std::fs::rename(&tmp, &path).expect("rename a JPEG");
            1
        })
        .sum();
    std::fs::write(dir.join(COMPLETE), format!("{n}\n")).expect("mark the folder complete");
    eprintln!(
        "train_data: wrote {written} of {n} JPEGs to {} in {:.0} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    dir
}

fn folder_bytes(dir: &Path, n: usize) -> u64 {
    (0..n)
        .map(|i| std::fs::metadata(file_of(dir, i)).map_or(0, |m| m.len()))
        .sum()
}

/// The process's peak resident set so far, in KiB (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The 1-minute load average (Linux only): the cores are shared with other
/// work, which slows the timed parts.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn kib(v: Option<u64>) -> u64 {
    v.unwrap_or(0)
}

/// Child: load the folder and draw `batches` batches; prints one `RESULT` line.
fn child_draw(n: usize, batches: usize) {
    let dir = folder(n);
    let start = peak_rss_kib();
    let t = Instant::now();
    let data = DomainData::load("bench", &dir, None).expect("load the bench folder");
    let load_s = t.elapsed().as_secs_f64();
    assert_eq!(data.len(), n, "{}: files missing", dir.display());
    let loaded = peak_rss_kib();
    let data = [data];
    let t = Instant::now();
    for step in 0..batches {
        let b =
            draw_batch(&data, SAMPLING, CROP, SEED, b"bench", step, BATCH).expect("draw a batch");
        std::hint::black_box(&b.pixels);
    }
    let draw_s = t.elapsed().as_secs_f64();
    println!(
        "RESULT load_s={load_s} crops_per_s={} start_kib={} load_kib={} end_kib={} unreadable={} \
         load_average={}",
        (batches * BATCH) as f64 / draw_s,
        kib(start),
        kib(loaded),
        kib(peak_rss_kib()),
        data[0].unreadable().len(),
        load_average(),
    );
}

/// Child: the load-time check equifx made before, every file decoded once
/// (256 at a time, in parallel, pixels dropped at once); prints its time.
fn child_old_check(n: usize) {
    let dir = folder(n);
    let files: Vec<PathBuf> = (0..n).map(|i| file_of(&dir, i)).collect();
    let t = Instant::now();
    let mut readable = 0;
    for chunk in files.chunks(256) {
        readable += chunk
            .par_iter()
            .filter(|f| {
                equifx::io::decode_with_image_crate(f)
                    .map(|img| drop(img.into_rgb8()))
                    .is_ok()
            })
            .count();
    }
    println!(
        "RESULT old_check_s={} readable={readable}",
        t.elapsed().as_secs_f64()
    );
}

/// Runs this binary as a child with `args`; the fields of its `RESULT` line.
fn run_child(args: &[String]) -> Vec<(String, f64)> {
    let exe = std::env::current_exe().expect("the bench binary");
    let out = Command::new(exe)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run a child");
    assert!(out.status.success(), "child {args:?} failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("child {args:?} printed no result: {stdout}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
        .collect()
}

fn field(fields: &[(String, f64)], key: &str) -> f64 {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map_or(f64::NAN, |&(_, v)| v)
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|p| args.get(p + 1))
            .map(|v| v.parse::<usize>().expect("a count"))
    };
    let batches = value("--batches").unwrap_or(40);
    if let Some(n) = value("--child-draw") {
        return child_draw(n, batches);
    }
    if let Some(n) = value("--child-old-check") {
        return child_old_check(n);
    }
    let full = args.iter().any(|a| a == "--full")
        || std::env::var("EQUIFX_BENCH_FULL").is_ok_and(|v| !v.is_empty() && v != "0");
    let old = !args.iter().any(|a| a == "--no-old");
    let mut sizes = vec![500, 2000];
    if full {
        sizes.push(20_000);
    }

    let threads = rayon::current_num_threads();
    let mut rows = Vec::new();
    for &n in &sizes {
        let dir = ensure_folder(n);
        let bytes = folder_bytes(&dir, n);
        let draw = run_child(&[
            "--child-draw".into(),
            n.to_string(),
            "--batches".into(),
            batches.to_string(),
        ]);
        let old_s = if old {
            field(
                &run_child(&["--child-old-check".into(), n.to_string()]),
                "old_check_s",
            )
        } else {
            f64::NAN
        };
        eprintln!("train_data: N = {n} done");
        rows.push((n, bytes, draw, old_s));
    }

    println!(
        "\ntrain_data: {batches} batches of {BATCH} crops of {CROP} px (crop sampling, pixel scale 1, \
         scale jitter 0.5), {threads} threads, files in the page cache"
    );
    println!(
        "{:>7} {:>9} {:>8} {:>12} {:>8} {:>10} {:>10} {:>10} {:>9}",
        "N",
        "data MB",
        "load s",
        "old check s",
        "crops/s",
        "RSS start",
        "peak load",
        "peak draw",
        "load avg"
    );
    for (n, bytes, f, old_s) in rows {
        let old_s = if old_s.is_nan() {
            "-".to_string()
        } else {
            format!("{old_s:.1}")
        };
        println!(
            "{n:>7} {:>9.0} {:>8.2} {old_s:>12} {:>8.1} {:>10.1} {:>10.1} {:>10.1} {:>9.2}",
            bytes as f64 / 1e6,
            field(&f, "load_s"),
            field(&f, "crops_per_s"),
            mib(field(&f, "start_kib")),
            mib(field(&f, "load_kib")),
            mib(field(&f, "end_kib")),
            field(&f, "load_average"),
        );
    }
    println!(
        "(RSS columns: peak resident MiB at start, after the load, after the draws; \
         load avg: the machine's 1-minute load average after the draws, {threads} cores here)"
    );
}
