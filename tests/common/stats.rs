//! Two-sample statistics the fairness tests judge distributions by.

// Test files that share `common` for other parts use none of it.
#![allow(dead_code)]

/// Two-sample Kolmogorov–Smirnov distance (sorts both samples).
pub fn ks2(a: &mut [f64], b: &mut [f64]) -> f64 {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// The KS distance two samples of sizes `n` and `m` exceed with probability
/// at most `alpha` when they come from one continuous law (the asymptotic
/// c(α)·√((n + m)/(n·m)), c(α) = √(−ln(α/2)/2)).
pub fn ks_critical(alpha: f64, n: usize, m: usize) -> f64 {
    (-(alpha / 2.0).ln() / 2.0).sqrt() * ((n + m) as f64 / (n * m) as f64).sqrt()
}
