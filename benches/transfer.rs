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

#[path = "../tests/common/tensor.rs"]
mod tensor;
use tensor::max_abs;

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

/// Convolution FLOPs per output pixel of one translation with the default
/// architecture (`ae_channels` [16, 32, 48, 64], latent 8): the encoder once,
/// the decoder twice (translation and reconstruction); the cINN at 1/64 of the
/// pixels is left out (under 3 % of the total).
fn network_flops_per_pixel() -> f64 {
    // (k², c_in, c_out, pixels relative to the frame)
    let encoder = [
        (9.0, 3.0, 16.0, 1.0),
        (16.0, 16.0, 32.0, 0.25),
        (16.0, 32.0, 48.0, 1.0 / 16.0),
        (16.0, 48.0, 64.0, 1.0 / 64.0),
        (9.0, 64.0, 8.0, 1.0 / 64.0),
    ];
    let decoder = [
        (9.0, 8.0, 64.0, 1.0 / 64.0),
        (9.0, 64.0, 48.0, 1.0 / 16.0),
        (9.0, 48.0, 32.0, 0.25),
        (9.0, 32.0, 16.0, 1.0),
        (9.0, 16.0, 3.0, 1.0),
    ];
    let cost = |layers: &[(f64, f64, f64, f64)]| -> f64 {
        layers.iter().map(|(k, i, o, p)| 2.0 * k * i * o * p).sum()
    };
    cost(&encoder) + 2.0 * cost(&decoder)
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
    // The same convolution as im2col + one matmul, written with candle's own
    // tensor ops (so it would stay differentiable): how much of the gap to the
    // matmul rate is candle's conv kernel rather than the arithmetic.
    let im2col = |x: &Tensor, k: &Tensor| -> Tensor {
        let (_, c, h, w) = x.dims4().unwrap();
        let o = k.dim(0).unwrap();
        let xp = x
            .pad_with_zeros(2, 1, 1)
            .unwrap()
            .pad_with_zeros(3, 1, 1)
            .unwrap();
        let shifts: Vec<Tensor> = (0..9)
            .map(|i| xp.narrow(2, i / 3, h).unwrap().narrow(3, i % 3, w).unwrap())
            .collect();
        let cols = Tensor::stack(&shifts, 2)
            .unwrap()
            .reshape((c * 9, h * w))
            .unwrap();
        k.reshape((o, c * 9))
            .unwrap()
            .matmul(&cols)
            .unwrap()
            .reshape((1, o, h, w))
            .unwrap()
    };
    let diff = max_abs(&(im2col(&x, &k) - x.conv2d(&k, 1, 1, 1, 1).unwrap()).unwrap());
    let unfolded = gflops(2.0 * 512.0 * 512.0 * 16.0 * 32.0 * 9.0, || {
        im2col(&x, &k);
    });
    println!(
        "machine: matmul 1024² {mm:.1} GFLOP/s; conv2d 3×3 32→16 at 512² {conv:.1} GFLOP/s; \
         the same as im2col + matmul in candle ops {unfolded:.1} GFLOP/s (max |Δ| {diff:.1e})"
    );

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
            "{w}x{h}: {secs:.2} s, {:.2} s/MP ({:.1} GFLOP/s of autoencoder convolutions), peak RSS so far {:.0} MB",
            secs / mp,
            network_flops_per_pixel() * (w * h) as f64 / secs / 1e9,
            peak_rss_mb()
        );
    }
}
