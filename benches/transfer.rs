//! Domain Transfer cost on the CPU: seconds per megapixel and peak memory at
//! 512², 1920×1080 and 3840×2160 with the network run at full frame
//! resolution in 512-px tiles, beside this machine's own throughput for the
//! network's heaviest convolution and for a plain matmul (the roofline).
//!
//! `cargo bench --bench transfer` (one size: EQUIFX_BENCH_SIZES=512x512).

use std::time::Instant;

use candle_core::{Device, Tensor};
use equifx::node::RenderContext;
use equifx::synth::{render_image, Bias, Scene, Style};
use equifx::Instance;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 1024.0
            })
        })
        .unwrap_or(0.0)
}

fn gflops(flops: f64, f: impl Fn()) -> f64 {
    f();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    flops / best / 1e9
}

fn main() {
    let dev = Device::Cpu;
    // Roofline references on this machine.
    let a = Tensor::randn(0f32, 1f32, (1024, 1024), &dev).unwrap();
    let mm = gflops(2.0 * 1024f64.powi(3), || {
        a.matmul(&a).unwrap();
    });
    // The decoder's last 3×3 conv at 512² tile: 32 → 16 channels (the heaviest layer per pixel).
    let x = Tensor::randn(0f32, 1f32, (1, 32, 512, 512), &dev).unwrap();
    let k = Tensor::randn(0f32, 1f32, (16, 32, 3, 3), &dev).unwrap();
    let conv = gflops(2.0 * 512.0 * 512.0 * 16.0 * 32.0 * 9.0, || {
        x.conv2d(&k, 1, 1, 1, 1).unwrap();
    });
    println!("machine: matmul 1024² {mm:.1} GFLOP/s; conv2d 3×3 32→16 at 512² {conv:.1} GFLOP/s");

    let sizes = std::env::var("EQUIFX_BENCH_SIZES")
        .unwrap_or_else(|_| "512x512,1920x1080,3840x2160".into());
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    for s in sizes.split(',') {
        let (w, h) = s
            .split_once('x')
            .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
            .unwrap();
        let img = render_image(&Scene::sample(1, 0, bias), Style::Photo, w, h);
        let mut inst = Instance::new("org.equifx.DomainTransfer").unwrap();
        for (k, v) in [
            ("source", "photo"),
            ("target", "anime"),
            ("resolution", "8192"),
            ("tile_size", "512"),
            ("tile_overlap", "32"),
        ] {
            inst.params_mut().set_from_str(k, v).unwrap();
        }
        let ctx = RenderContext::default();
        let t = Instant::now();
        let out = inst
            .render_images(std::slice::from_ref(&img), w, h, 0, &ctx)
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(out.width(), w);
        let mp = (w * h) as f64 / 1e6;
        println!(
            "{w}x{h}: {secs:.2} s, {:.2} s/MP, peak RSS so far {:.0} MB",
            secs / mp,
            peak_rss_mb()
        );
    }
}
