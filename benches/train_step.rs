//! Time per training step of each stage, on the hand-written kernels and on
//! candle's own ops (`equifx::kernels::with_candle_ops`), in one run.
//!
//! The networks are the default bundle's (`small`, two domains, the shipped
//! recipe's loss weights), a batch of 16 synthetic-world pictures of 64 px,
//! in memory: no file is read, so what is timed is the step alone (forward,
//! loss, backward, Adam). The two builds step twin networks from the same
//! seed and alternate: per pair, `STEPS` steps of one, then of the other,
//! each after its own warm-up; the figures are the median (min–max) over
//! pairs of the mean time per step, and of the ratios pair by pair.
//!
//! `cargo bench --bench train_step` (`EQUIFX_BENCH_PAIRS=N`, default 5;
//! `EQUIFX_BENCH_STEPS=N` steps per timing, default 8).

use std::time::Instant;

use candle_core::{Device, Tensor};
use equifx::kernels::with_candle_ops;
use equifx::model::{ModelConfig, PriorOptions};
use equifx::synth::{render_srgb8, Bias, Scene, Style};
use equifx::train::{Sampling, Stepper, TrainConfig};

const BATCH: usize = 16;
const SIZE: usize = 64;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The shipped recipe's settings at the default bundle's sizes.
fn config() -> TrainConfig {
    TrainConfig {
        out: std::env::temp_dir().join("equifx-train-step-bench"),
        domains: vec![
            ("photo".into(), "photo".into()),
            ("anime".into(), "anime".into()),
        ],
        size: SIZE,
        sampling: Sampling::Crop {
            pixel_scale: 1.0,
            scale_jitter: 0.0,
        },
        arch: ModelConfig::small(2),
        seed: 1,
        ae_steps: 1500,
        cinn_steps: 2000,
        batch: BATCH,
        ae_lr: 2e-3,
        cinn_lr: 1e-3,
        checkpoint_every: 100,
        resume: false,
        limit: None,
        init_autoencoder: None,
        init_cinn: None,
        latent_noise: 0.1,
        texture_weight: 1.0,
        outline_weight: 0.0,
        adversarial_weight: 0.0,
        attribute_weight: 0.0,
        freeze_encoder: false,
        reader_epochs: 0,
        prior: PriorOptions::default(),
        command: "benches/train_step.rs".into(),
    }
}

/// Pictures (BATCH, 3, SIZE, SIZE) in 0 … 1, half photo and half anime
/// scenes of the synthetic world, with their domain indices.
fn batch() -> (Tensor, Vec<u32>) {
    let mut planar = Vec::with_capacity(BATCH * 3 * SIZE * SIZE);
    let mut domains = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        let (style, d) = if i % 2 == 0 {
            (Style::Photo, 0)
        } else {
            (Style::Anime, 1)
        };
        let scene = Scene::sample(7, i as u64, Bias::default_for(style));
        let rgb = render_srgb8(&scene, style, SIZE, SIZE);
        for c in 0..3 {
            planar.extend(rgb.iter().skip(c).step_by(3).map(|&v| f32::from(v) / 255.0));
        }
        domains.push(d);
    }
    let x = Tensor::from_vec(planar, (BATCH, 3, SIZE, SIZE), &Device::Cpu).expect("batch tensor");
    (x, domains)
}

/// Seconds per step over `steps` steps of `step`, after one untimed step.
fn time(steps: usize, first: &mut usize, mut step: impl FnMut(usize) -> f64) -> f64 {
    let loss = step(*first);
    assert!(loss.is_finite(), "training diverged: loss {loss}");
    let t = Instant::now();
    for k in 1..=steps {
        std::hint::black_box(step(*first + k));
    }
    *first += steps + 1;
    t.elapsed().as_secs_f64() / steps as f64
}

fn summary(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn main() {
    let pairs = env_usize("EQUIFX_BENCH_PAIRS", 5);
    let steps = env_usize("EQUIFX_BENCH_STEPS", 8);
    let cfg = config();
    let (x, domains) = batch();
    let mut kernels = Stepper::new(&cfg).expect("networks");
    let mut candle = Stepper::new(&cfg).expect("networks");
    let z = kernels.encode(&x).expect("latents");
    kernels.prepare_cinn(&z).expect("cINN init");
    candle.prepare_cinn(&z).expect("cINN init");
    println!(
        "training step, batch {BATCH} × {SIZE} px, `small` networks, {} threads; {pairs} pairs of {steps} steps",
        rayon::current_num_threads()
    );
    println!("| stage | kernels ms/step | candle ops ms/step | speed-up |");
    println!("|---|---|---|---|");
    type Step<'a> = dyn Fn(&mut Stepper, usize) -> f64 + 'a;
    let stages: [(&str, Box<Step>); 2] = [
        (
            "autoencoder",
            Box::new(|s: &mut Stepper, k| s.autoencoder_step(&x, k).expect("autoencoder step")),
        ),
        (
            "cINN",
            Box::new(|s: &mut Stepper, k| s.cinn_step(&z, &domains, k).expect("cINN step")),
        ),
    ];
    for (name, step) in &stages {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut k_ours, mut k_theirs) = (0, 0);
        for _ in 0..pairs {
            ours.push(time(steps, &mut k_ours, |k| step(&mut kernels, k)));
            theirs.push(with_candle_ops(|| {
                time(steps, &mut k_theirs, |k| step(&mut candle, k))
            }));
        }
        let ratios: Vec<f64> = theirs.iter().zip(&ours).map(|(t, o)| t / o).collect();
        let (o, t, r) = (summary(&ours), summary(&theirs), summary(&ratios));
        println!(
            "| {name} | {:.1} ({:.1}–{:.1}) | {:.1} ({:.1}–{:.1}) | **{:.2}×** ({:.2}–{:.2}) |",
            o.0 * 1e3,
            o.1 * 1e3,
            o.2 * 1e3,
            t.0 * 1e3,
            t.1 * 1e3,
            t.2 * 1e3,
            r.0,
            r.1,
            r.2
        );
    }
}
