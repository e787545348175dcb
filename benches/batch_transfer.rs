//! Frames per second of a 100-frame 1920×1080 sequence through Domain
//! Transfer (default bundle, model resolution auto) with 1 and 2 worker
//! threads, PNG in and out, as `equifx render` runs it on a farm.
//!
//! `cargo bench --bench batch_transfer` (set EQUIFX_BENCH_FRAMES to change 100).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use equifx::batch::BatchJob;
use equifx::io::{write_image, Depth};
use equifx::sequence::{parse_frames, FramePattern};
use equifx::synth::{render_image, Bias, Scene, Style};
use equifx::Instance;

fn main() {
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
    println!("sequence: {frames} frames, 1920x1080 PNG, Domain Transfer photo -> oil");
    for threads in [1, 2] {
        let mut inst = Instance::new("org.equifx.DomainTransfer").expect("node");
        inst.params_mut()
            .set_from_str("source", "photo")
            .expect("param");
        inst.params_mut()
            .set_from_str("target", "oil")
            .expect("param");
        let out = dir.path().join(format!("out{threads}"));
        let job = BatchJob {
            instance: inst,
            input: Some(
                FramePattern::parse(&format!("{}/in.%04d.png", dir.path().display()))
                    .expect("pattern"),
            ),
            output: FramePattern::parse(&format!("{}/o.%04d.png", out.display())).expect("pattern"),
            frames: parse_frames(&format!("1-{frames}")).expect("frames"),
            size: (0, 0),
            threads,
            skip_existing: false,
        };
        let start = Instant::now();
        let summary = job.run(&|_| {}, &AtomicBool::new(false)).expect("batch");
        let secs = start.elapsed().as_secs_f64();
        assert!(summary.failed.is_empty(), "{:?}", summary.failed);
        println!(
            "threads {threads}: {:.2} s, {:.2} frames/s",
            secs,
            frames as f64 / secs
        );
    }
}
