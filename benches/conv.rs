//! conv2d on the CPU: candle's own (`Tensor::conv2d` and the bias broadcast
//! after it, as `candle_nn::Conv2d` runs it) against `equifx::kernels::conv2d`
//! (bias fused), on the networks' shapes: a 64-channel 3×3 conv at 512², a
//! 4×4 stride-2 down-sampling conv, the 3-channel stem at 832² (the largest
//! tile), a training-sized batch of a cINN coupling conv, and the decoder's
//! last two convolutions at 512² (most of a translation's FLOPs).
//!
//! Criterion's throughput is in FLOP (2 per multiply-add), so its "Gelem/s"
//! reads as GFLOP/s; a summary table with both rates and the speed-up (best
//! of three timed runs each) is printed at the end.
//!
//! `cargo bench --bench conv` (`EQUIFX_BENCH_SUMMARY=1` prints only the table).

use std::time::Instant;

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use equifx::rng::StreamRng;

struct Case {
    name: &'static str,
    x: (usize, usize, usize, usize),
    w: (usize, usize, usize, usize),
    padding: usize,
    stride: usize,
}

const CASES: [Case; 6] = [
    Case {
        name: "(1,64,512,512)x(64,64,3,3) p1",
        x: (1, 64, 512, 512),
        w: (64, 64, 3, 3),
        padding: 1,
        stride: 1,
    },
    Case {
        name: "(1,16,512,512)x(32,16,4,4) s2 p1",
        x: (1, 16, 512, 512),
        w: (32, 16, 4, 4),
        padding: 1,
        stride: 2,
    },
    Case {
        name: "(1,3,832,832)x(16,3,3,3) p1",
        x: (1, 3, 832, 832),
        w: (16, 3, 3, 3),
        padding: 1,
        stride: 1,
    },
    Case {
        name: "(8,72,16,16)x(64,72,3,3) p1",
        x: (8, 72, 16, 16),
        w: (64, 72, 3, 3),
        padding: 1,
        stride: 1,
    },
    // The decoder's two full-resolution convs, most of a translation's FLOPs.
    Case {
        name: "(1,32,512,512)x(16,32,3,3) p1",
        x: (1, 32, 512, 512),
        w: (16, 32, 3, 3),
        padding: 1,
        stride: 1,
    },
    Case {
        name: "(1,16,512,512)x(3,16,3,3) p1",
        x: (1, 16, 512, 512),
        w: (3, 16, 3, 3),
        padding: 1,
        stride: 1,
    },
];

impl Case {
    fn flops(&self) -> f64 {
        let (b, ci, h, w) = self.x;
        let (co, _, kh, kw) = self.w;
        let oh = (h + 2 * self.padding - kh) / self.stride + 1;
        let ow = (w + 2 * self.padding - kw) / self.stride + 1;
        2.0 * (b * co * oh * ow * ci * kh * kw) as f64
    }

    fn tensors(&self) -> (Tensor, Tensor, Tensor) {
        let mut r = StreamRng::new(1, b"bench-conv", 0);
        let mut randn = |dims: &[usize]| {
            let n = dims.iter().product();
            let v: Vec<f32> = (0..n).map(|_| r.normal() as f32).collect();
            Tensor::from_vec(v, dims, &Device::Cpu).expect("tensor")
        };
        let (b, ci, h, w) = self.x;
        let (co, _, kh, kw) = self.w;
        (
            randn(&[b, ci, h, w]),
            randn(&[co, ci, kh, kw]),
            randn(&[co]),
        )
    }
}

fn candle(x: &Tensor, w: &Tensor, b: &Tensor, c: &Case) -> Tensor {
    let y = x.conv2d(w, c.padding, c.stride, 1, 1).expect("conv");
    let n = b.dims1().expect("bias");
    y.broadcast_add(&b.reshape((1, n, 1, 1)).expect("reshape"))
        .expect("add")
}

fn kernel(x: &Tensor, w: &Tensor, b: &Tensor, c: &Case) -> Tensor {
    equifx::kernels::conv2d(x, w, Some(b), c.padding, c.stride).expect("conv")
}

fn best_of_3(f: impl Fn() -> Tensor) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn summary() {
    println!(
        "\n{:<36} {:>14} {:>14} {:>8}",
        "shape", "candle GFLOP/s", "kernel GFLOP/s", "speed-up"
    );
    for c in &CASES {
        let (x, w, b) = c.tensors();
        let tc = best_of_3(|| candle(&x, &w, &b, c));
        let tk = best_of_3(|| kernel(&x, &w, &b, c));
        let g = c.flops() / 1e9;
        println!(
            "{:<36} {:>14.1} {:>14.1} {:>7.1}×",
            c.name,
            g / tc,
            g / tk,
            tc / tk
        );
    }
    println!("(threads: {})", rayon::current_num_threads());
}

fn bench(cr: &mut Criterion) {
    if std::env::var_os("EQUIFX_BENCH_SUMMARY").is_some() {
        summary();
        return;
    }
    for c in &CASES {
        let (x, w, b) = c.tensors();
        let mut g = cr.benchmark_group(c.name);
        g.sample_size(10);
        g.throughput(Throughput::Elements(c.flops() as u64));
        g.bench_function("candle", |bch| bch.iter(|| candle(&x, &w, &b, c)));
        g.bench_function("kernel", |bch| bch.iter(|| kernel(&x, &w, &b, c)));
        g.finish();
    }
    summary();
}

criterion_group!(benches, bench);
criterion_main!(benches);
