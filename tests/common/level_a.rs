//! The planted world of Level A (docs/fairness.md §7) in parts: latents
//! v ~ N(0, I_D) and linear attributes 𝟙[u·v > t] whose labels are flipped at
//! rate FLIP before a head is fitted on N_FIT of them. `tests/fairness_level_a.rs`
//! builds its world from these (through `mod common;`), and
//! `examples/calibration/a1_seed_sweep.rs` (which includes this file alone
//! with `#[path]`) repeats the fit over many seeds to calibrate its bound.

// The example uses only some of it.
#![allow(dead_code)]

use equifx::rng::StreamRng;

/// Latent dimension.
pub const D: usize = 64;
/// Latents a head is fitted on.
pub const N_FIT: usize = 20_000;
/// Share of fitting labels flipped.
pub const FLIP: f64 = 0.05;

pub fn unit(v: Vec<f64>) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

pub fn dot(a: &[f64], v: &[f32]) -> f64 {
    a.iter().zip(v).map(|(x, y)| x * f64::from(*y)).sum()
}

pub fn cos(a: &[f64], b: &[f64]) -> f64 {
    let n = |x: &[f64]| x.iter().map(|y| y * y).sum::<f64>().sqrt();
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (n(a) * n(b))
}

/// n natural latents v ~ N(0, I_D).
pub fn natural(seed: u64, n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let mut r = StreamRng::new(seed, b"level-a-natural", i as u64);
            (0..D).map(|_| r.normal() as f32).collect()
        })
        .collect()
}

/// The labels 𝟙[u·v > t] of `vs`, label i flipped when `flip(i)` draws a
/// uniform below FLIP.
pub fn noisy_labels(
    vs: &[Vec<f32>],
    u: &[f64],
    t: f64,
    flip: impl Fn(usize) -> StreamRng,
) -> Vec<bool> {
    vs.iter()
        .enumerate()
        .map(|(i, v)| (dot(u, v) > t) ^ (flip(i).uniform() < FLIP))
        .collect()
}
