//! The seed sweep behind `C_MIN` in tests/fairness_level_a.rs: fits the
//! Level A logistic head (N_FIT = 20 000 latents, d = 64, 5 % of labels
//! flipped) on 200 seeds, each with its own planted direction u, and prints
//! the minimum, 1 % quantile, median and maximum of cos(ŵ, u) over them.
//! `C_MIN` must sit below that minimum.
//!
//! Run it after changing the logistic fit or the planted world (a few minutes):
//!
//! ```text
//! cargo run --example a1_seed_sweep
//! ```

use equifx::fairness::{fit_logistic, normal, FitOptions};
use equifx::rng::StreamRng;

#[path = "../../tests/common/level_a.rs"]
mod level_a;
use level_a::{cos, natural, noisy_labels, unit, D, N_FIT};

fn main() {
    let mut cs = Vec::new();
    for seed in 0..200u64 {
        let mut r = StreamRng::new(100 + seed, b"sweep-u", 0);
        let u = unit((0..D).map(|_| r.normal()).collect());
        let vs = natural(1000 + seed, N_FIT);
        let xs: Vec<f32> = vs.iter().flatten().copied().collect();
        let l = noisy_labels(&vs, &u, normal::ppf(0.8), |i| {
            StreamRng::new(seed, b"sweep-flip", i as u64)
        });
        let h = fit_logistic("s", &xs, &l, D, FitOptions::default()).expect("fit");
        cs.push(cos(&h.w, &u));
    }
    cs.sort_by(f64::total_cmp);
    println!(
        "cos over 200 seeds: min {:.5} q01 {:.5} median {:.5} max {:.5}",
        cs[0], cs[2], cs[100], cs[199]
    );
}
