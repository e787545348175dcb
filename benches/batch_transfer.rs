//! Frames per second of a 1920×1080 PNG sequence through Domain Transfer
//! (default bundle, model resolution auto), as `equifx render` runs it on a
//! farm, in three set-ups:
//! - one thread: one worker, a compute pool of one thread;
//! - one worker on the default pool (every core);
//! - two workers on the default pool: two host threads rendering different
//!   frames through one node instance.
//!
//! The pool size is fixed when a process starts, so each set-up runs in a
//! child process of this bench (`RAYON_NUM_THREADS` set for the first). Each
//! child renders the first frame once before timing, so the model load and
//! the cold file cache are not counted. The ratio printed last is two threads
//! (two workers on a two-thread pool) over one.
//!
//! `cargo bench --bench batch_transfer` (EQUIFX_BENCH_FRAMES changes the 100 frames).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use equifx::batch::BatchJob;
use equifx::io::{write_image, Depth};
use equifx::sequence::{parse_frames, FramePattern};
use equifx::synth::{render_image, Bias, Scene, Style};
use equifx::Instance;

/// Set in a child: the input folder, the frame count and the worker count.
const CHILD: &str = "EQUIFX_BATCH_BENCH_CHILD";

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        let mut parts = spec.splitn(3, ';');
        let (frames, workers, dir) = (
            parts.next().and_then(|v| v.parse().ok()).expect("frames"),
            parts.next().and_then(|v| v.parse().ok()).expect("workers"),
            parts.next().expect("folder"),
        );
        let fps = run(Path::new(dir), frames, workers);
        println!("{fps}");
        return;
    }
    let frames: usize = std::env::var("EQUIFX_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().expect("temp dir");
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    for f in 1..=frames {
        let img = render_image(&Scene::sample(5, f as u64, bias), Style::Photo, 1920, 1080);
        write_image(&dir.path().join(format!("in.{f:04}.png")), &img, Depth::U8)
            .expect("write input");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "sequence: {frames} frames, 1920x1080 PNG, Domain Transfer photo -> oil, {cores} cores"
    );
    let child = |workers: usize, pool: Option<usize>| -> f64 {
        let mut cmd = Command::new(std::env::current_exe().expect("bench path"));
        cmd.env(
            CHILD,
            format!("{frames};{workers};{}", dir.path().display()),
        );
        match pool {
            Some(n) => cmd.env("RAYON_NUM_THREADS", n.to_string()),
            None => cmd.env_remove("RAYON_NUM_THREADS"),
        };
        let out = cmd.output().expect("child bench runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("frames per second")
    };
    let one = child(1, Some(1));
    println!("1 worker, pool of 1 thread (one thread): {one:.2} frames/s");
    let pooled = child(1, None);
    println!("1 worker, default pool:                  {pooled:.2} frames/s");
    let two = child(2, None);
    println!("2 workers, default pool:                 {two:.2} frames/s");
    println!(
        "2 workers / one thread: {:.2}x; 2 workers / 1 worker on the same pool: {:.2}x",
        two / one,
        two / pooled
    );
}

/// Frames per second of `workers` workers rendering the sequence in `dir`,
/// after one untimed frame.
fn run(dir: &Path, frames: usize, workers: usize) -> f64 {
    let job = |range: &str, threads: usize, out: &str| {
        let mut inst = Instance::new("org.equifx.DomainTransfer").expect("node");
        inst.params_mut()
            .set_from_str("source", "photo")
            .expect("param");
        inst.params_mut()
            .set_from_str("target", "oil")
            .expect("param");
        BatchJob {
            instance: inst,
            input: Some(
                FramePattern::parse(&format!("{}/in.%04d.png", dir.display())).expect("pattern"),
            ),
            output: FramePattern::parse(&format!("{}/{out}/o.%04d.png", dir.display()))
                .expect("pattern"),
            frames: parse_frames(range).expect("frames"),
            size: (0, 0),
            threads,
            skip_existing: false,
        }
    };
    let out = format!("out{workers}");
    let warm = job("1-1", 1, &format!("{out}-warm"));
    warm.run(&|_| {}, &AtomicBool::new(false)).expect("warm-up");
    let timed = job(&format!("1-{frames}"), workers, &out);
    let start = Instant::now();
    let summary = timed.run(&|_| {}, &AtomicBool::new(false)).expect("batch");
    let secs = start.elapsed().as_secs_f64();
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    frames as f64 / secs
}
