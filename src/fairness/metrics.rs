//! Distribution-to-target and amplification metrics of the Bias Audit
//! (docs/fairness.md §6). Counts are always taken over **all** K classes (the
//! reference implementation's `np.unique` drops empty classes, which turns an
//! all-one-class batch's FD of 0.707 into 0.5).

use serde::{Deserialize, Serialize};

use super::intervals::{self, Interval};
use super::normal;
use crate::error::{Error, Result};

/// Counts of `labels` over classes 0..k.
pub fn counts(labels: &[usize], k: usize) -> Result<Vec<u64>> {
    let mut c = vec![0u64; k];
    for &l in labels {
        *c.get_mut(l).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "class label {l} out of range for an attribute with {k} classes"
            ))
        })? += 1;
    }
    Ok(c)
}

/// The distances (docs/fairness.md §6) of observed shares p̂ against a target π.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distance {
    /// Fairness discrepancy ‖p̂ − U‖₂ (always against uniform, as C20 defines it).
    pub fd: f64,
    /// Σ|p̂_k − 1/K|.
    pub l1_uniform: f64,
    /// KL(p̂ ‖ π) in nats (0·ln 0 = 0).
    pub kl: f64,
    /// ½ Σ|p̂_k − π_k|.
    pub tv: f64,
    /// max_k |p̂_k − π_k|.
    pub max_dev: f64,
    /// Pearson X² = N Σ (p̂_k − π_k)²/π_k.
    pub pearson: f64,
    /// G = 2N·KL(p̂‖π).
    pub g: f64,
    /// P(χ²_{K−1} > G).
    pub g_p_value: f64,
    /// min_k p̂_k / max_k p̂_k (demographic-parity style).
    pub parity_ratio: f64,
    /// Normalised entropy −Σ p̂_k ln p̂_k / ln K: 1 when every class is equally
    /// common, 0 when one class holds every frame. A balance diagnostic that
    /// needs no target, as for groups found without labels.
    pub entropy: f64,
}

/// Computes [`Distance`] for class counts and a target (normalised shares).
pub fn distance(counts: &[u64], target: &[f64]) -> Result<Distance> {
    let k = counts.len();
    if target.len() != k || k < 2 {
        return Err(Error::InvalidArgument(format!(
            "{k} class counts against a target of {} shares; give one share per class (at least 2)",
            target.len()
        )));
    }
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return Err(Error::InvalidArgument("no frames to audit".into()));
    }
    let nf = n as f64;
    let p: Vec<f64> = counts.iter().map(|&c| c as f64 / nf).collect();
    let u = 1.0 / k as f64;
    let kl: f64 = p
        .iter()
        .zip(target)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, t)| {
            if *t > 0.0 {
                a * (a / t).ln()
            } else {
                f64::INFINITY
            }
        })
        .sum();
    let g = 2.0 * nf * kl;
    let max = p.iter().cloned().fold(0.0, f64::max);
    let min = p.iter().cloned().fold(1.0, f64::min);
    Ok(Distance {
        fd: p.iter().map(|a| (a - u).powi(2)).sum::<f64>().sqrt(),
        l1_uniform: p.iter().map(|a| (a - u).abs()).sum(),
        kl,
        tv: 0.5
            * p.iter()
                .zip(target)
                .map(|(a, t)| (a - t).abs())
                .sum::<f64>(),
        max_dev: p
            .iter()
            .zip(target)
            .map(|(a, t)| (a - t).abs())
            .fold(0.0, f64::max),
        pearson: nf
            * p.iter()
                .zip(target)
                .map(|(a, t)| {
                    if *t > 0.0 {
                        (a - t).powi(2) / t
                    } else {
                        f64::INFINITY
                    }
                })
                .sum::<f64>(),
        g,
        g_p_value: if g.is_finite() {
            normal::chi2_sf(g, (k - 1) as f64)
        } else {
            0.0
        },
        parity_ratio: if max > 0.0 { min / max } else { 0.0 },
        // Σ p̂ ln(1/p̂), term by term non-negative: one class gives 0, not −0.
        entropy: p
            .iter()
            .filter(|a| **a > 0.0)
            .map(|a| a * (1.0 / a).ln())
            .sum::<f64>()
            / (k as f64).ln(),
    })
}

/// Thresholds under H₀: p = uniform at level α (docs/fairness.md §7 A5(iii)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NullThresholds {
    /// √(χ²_{K−1,1−α}/(N K)).
    pub fd_max: f64,
    /// χ²_{K−1,1−α}/(2N) nats.
    pub kl_max: f64,
    /// Bonferroni max |p̂_k − 1/K| = z_{1−α/(2K)}·√((1/K)(1 − 1/K)/N).
    pub max_dev: f64,
}

pub fn null_thresholds(k: usize, n: u64, alpha: f64) -> NullThresholds {
    let nf = n as f64;
    let kf = k as f64;
    let chi = normal::chi2_quantile(1.0 - alpha, kf - 1.0);
    NullThresholds {
        fd_max: (chi / (nf * kf)).sqrt(),
        kl_max: chi / (2.0 * nf),
        max_dev: intervals::z_simultaneous(1.0 - alpha, k)
            * ((1.0 / kf) * (1.0 - 1.0 / kf) / nf).sqrt(),
    }
}

/// Zhao et al.'s bias amplification for one "task" (domain) and K classes:
/// Σ over classes with training share > 1/K of (p̂_gen − r_train), with the
/// Newcombe interval of that sum's terms (independent samples).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZhaoBa {
    pub value: f64,
    /// Interval of the summed differences (a single term for K = 2; for several
    /// terms, the Newcombe half-widths are combined in quadrature).
    pub interval: Interval,
    /// Classes whose training interval straddles 1/K: their sign is unstable.
    pub unstable_classes: Vec<usize>,
}

/// Zhao BA of generated counts against training counts (same K classes).
pub fn zhao_ba(generated: &[u64], training: &[u64], z: f64) -> Result<ZhaoBa> {
    let k = generated.len();
    if training.len() != k || k < 2 {
        return Err(Error::InvalidArgument(format!(
            "bias amplification needs the same classes on both sides ({k} generated, {} training)",
            training.len()
        )));
    }
    let ng = generated.iter().sum::<u64>() as f64;
    let nt = training.iter().sum::<u64>() as f64;
    if ng == 0.0 || nt == 0.0 {
        return Err(Error::InvalidArgument(
            "bias amplification needs frames on both sides".into(),
        ));
    }
    let u = 1.0 / k as f64;
    let (mut value, mut lo2, mut hi2) = (0.0, 0.0, 0.0);
    let mut unstable = Vec::new();
    for c in 0..k {
        let r = training[c] as f64 / nt;
        if intervals::wilson(training[c] as f64, nt, z).contains(u) {
            unstable.push(c);
        }
        if r > u {
            let (d, iv) = intervals::newcombe(generated[c] as f64, ng, training[c] as f64, nt, z);
            value += d;
            lo2 += (d - iv.lo).powi(2);
            hi2 += (iv.hi - d).powi(2);
        }
    }
    Ok(ZhaoBa {
        value,
        interval: Interval {
            lo: value - lo2.sqrt(),
            hi: value + hi2.sqrt(),
        },
        unstable_classes: unstable,
    })
}

/// One (attribute class a, domain t) term of directional amplification T → A.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectionalTerm {
    pub domain: usize,
    pub class: usize,
    /// Δ_{a,t} = p̂_gen(a | t) − r_train(a | t).
    pub delta: f64,
    pub interval: Interval,
    /// sign(P(a, t) − P(a)·P(t)) in training: +1, 0 or −1.
    pub y: i8,
}

/// Wang & Russakovsky's BiasAmp T→A (official code's sign convention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectionalBa {
    /// (1/(|A||T|)) Σ y_at·Δ_at.
    pub value: f64,
    pub terms: Vec<DirectionalTerm>,
}

/// Directional amplification from per-domain class counts (`[domain][class]`),
/// generated vs training.
pub fn directional_ba(
    generated: &[Vec<u64>],
    training: &[Vec<u64>],
    z: f64,
) -> Result<DirectionalBa> {
    let t = training.len();
    let k = training.first().map_or(0, Vec::len);
    if t == 0 || generated.len() != t || generated.iter().chain(training).any(|r| r.len() != k) {
        return Err(Error::InvalidArgument(
            "directional amplification needs class counts for the same domains and classes on both sides".into(),
        ));
    }
    let tot: f64 = training.iter().flatten().sum::<u64>() as f64;
    let mut terms = Vec::with_capacity(t * k);
    for d in 0..t {
        let nt = training[d].iter().sum::<u64>() as f64;
        let ng = generated[d].iter().sum::<u64>() as f64;
        if nt == 0.0 || ng == 0.0 {
            return Err(Error::InvalidArgument(format!(
                "domain {d} has no frames on one side"
            )));
        }
        for a in 0..k {
            let p_at = training[d][a] as f64 / tot;
            let p_a = training.iter().map(|r| r[a]).sum::<u64>() as f64 / tot;
            let p_t = nt / tot;
            let cov = p_at - p_a * p_t;
            let y = if cov.abs() < 1e-15 {
                0
            } else if cov > 0.0 {
                1
            } else {
                -1
            };
            let (delta, interval) =
                intervals::newcombe(generated[d][a] as f64, ng, training[d][a] as f64, nt, z);
            terms.push(DirectionalTerm {
                domain: d,
                class: a,
                delta,
                interval,
                y,
            });
        }
    }
    let value = terms.iter().map(|x| f64::from(x.y) * x.delta).sum::<f64>() / (t * k) as f64;
    Ok(DirectionalBa { value, terms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_entropy_is_one_for_equal_shares_and_zero_for_one_class() {
        let e = |counts: &[u64]| {
            distance(counts, &vec![1.0 / counts.len() as f64; counts.len()])
                .unwrap()
                .entropy
        };
        assert!((e(&[50, 50]) - 1.0).abs() < 1e-12);
        assert!((e(&[7, 7, 7, 7]) - 1.0).abs() < 1e-12);
        assert_eq!(e(&[0, 40, 0]).to_bits(), 0.0f64.to_bits(), "+0, not -0");
        // 1/4 and 3/4: −(¼ ln ¼ + ¾ ln ¾)/ln 2 = 0.811278…
        assert!((e(&[25, 75]) - 0.811_278_124_459_132_8).abs() < 1e-12);
    }

    #[test]
    fn planted_80_20_values_and_empty_classes() {
        // Worked by hand: 80/20 → FD 0.4243, TV 0.30, KL 0.1927 nats.
        let d = distance(&[800, 200], &[0.5, 0.5]).expect("valid");
        assert!((d.fd - 0.3 * 2f64.sqrt()).abs() < 1e-12);
        assert!((d.tv - 0.3).abs() < 1e-12);
        assert!((d.kl - (0.2 * 0.4f64.ln() + 0.8 * 1.6f64.ln())).abs() < 1e-12);
        assert!(
            (d.pearson - 1000.0 * 2.0 * d.fd * d.fd).abs() < 1e-9,
            "X² = N·K·FD² for uniform π"
        );
        // All one class: FD = √½ = 0.707 (not 0.5 as with dropped classes).
        let e = distance(&[0, 10], &[0.5, 0.5]).expect("valid");
        assert!((e.fd - 0.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn null_thresholds_reproduce_the_hand_computed_table() {
        // The table of docs/fairness.md §6, computed by hand from χ² and z: (K, N) → FD_max, KL_max, max-dev.
        for (k, n, fd, kl, md) in [
            (2, 500, 0.104, 0.0108, 0.078),
            (2, 2000, 0.052, 0.0027, 0.039),
            (4, 500, 0.090, 0.0163, 0.071),
            (4, 2000, 0.045, 0.0041, 0.036),
            (4, 10_000, 0.020, 0.0008, 0.016),
        ] {
            let t = null_thresholds(k, n, 1e-3);
            assert!((t.fd_max - fd).abs() < 6e-4, "{k} {n} fd {}", t.fd_max);
            assert!((t.kl_max - kl).abs() < 6e-5, "{k} {n} kl {}", t.kl_max);
            assert!((t.max_dev - md).abs() < 6e-4, "{k} {n} md {}", t.max_dev);
        }
    }

    #[test]
    fn directional_sign_follows_training_dependence() {
        // Training: domain 0 is 80 % class 1, domain 1 is 40 %; generation amplifies both.
        let train = vec![vec![200, 800], vec![600, 400]];
        let gen = vec![vec![100, 900], vec![700, 300]];
        let d = directional_ba(&gen, &train, 1.96).expect("valid");
        assert!(
            d.value > 0.0,
            "amplifying both domains must give positive BiasAmp→"
        );
        let none = directional_ba(&train, &train, 1.96).expect("valid");
        assert!(none.value.abs() < 1e-12);
    }
}
