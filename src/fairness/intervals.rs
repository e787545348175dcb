//! Finite-batch uncertainty for the Bias Audit (docs/fairness.md §6):
//! Wilson score intervals (simultaneous by Bonferroni for K classes), the
//! Newcombe hybrid interval for a difference of independent proportions,
//! confusion correction (Rogan–Gladen / C⁻¹ with the interval mapped and widened
//! for the estimated error rates), the paired McNemar drift test, and the
//! moving-block bootstrap for dependent frame sequences with the class shares
//! of consecutive blocks, which show whether a sequence drifts.

use serde::{Deserialize, Serialize};

use super::{linalg, normal};
use crate::error::{Error, Result};
use crate::rng::StreamRng;

/// A two-sided interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
    pub fn half_width(&self) -> f64 {
        0.5 * (self.hi - self.lo)
    }
}

/// z for a two-sided interval of `level` shared by `k` simultaneous intervals (Bonferroni).
pub fn z_simultaneous(level: f64, k: usize) -> f64 {
    normal::isf((1.0 - level) / (2.0 * k.max(1) as f64))
}

/// Wilson score interval for `x` successes out of `n` at critical value `z`:
/// centre (p̂ + z²/2n)/(1 + z²/n), half-width z/(1 + z²/n)·√(p̂(1−p̂)/n + z²/4n²).
pub fn wilson(x: f64, n: f64, z: f64) -> Interval {
    if n <= 0.0 {
        return Interval { lo: 0.0, hi: 1.0 };
    }
    let p = x / n;
    let z2 = z * z;
    let den = 1.0 + z2 / n;
    let c = (p + z2 / (2.0 * n)) / den;
    let h = z / den * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Interval {
        lo: (c - h).max(0.0),
        hi: (c + h).min(1.0),
    }
}

/// Newcombe's hybrid score interval for Δ = p₁ − p₂ of independent samples,
/// from the two Wilson intervals at the same z.
pub fn newcombe(x1: f64, n1: f64, x2: f64, n2: f64, z: f64) -> (f64, Interval) {
    let (p1, p2) = (x1 / n1, x2 / n2);
    let (w1, w2) = (wilson(x1, n1, z), wilson(x2, n2, z));
    let d = p1 - p2;
    (
        d,
        Interval {
            lo: d - ((p1 - w1.lo).powi(2) + (w2.hi - p2).powi(2)).sqrt(),
            hi: d + ((w1.hi - p1).powi(2) + (p2 - w2.lo).powi(2)).sqrt(),
        },
    )
}

/// A K×K confusion matrix `counts[truth][predicted]`, measured on labelled data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfusionCounts {
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionCounts {
    fn k(&self) -> usize {
        self.counts.len()
    }
    /// C[h][a] = P(predict h | truth a).
    fn column_stochastic(&self) -> Result<Vec<f64>> {
        let k = self.k();
        let mut c = vec![0.0; k * k];
        for a in 0..k {
            let n: u64 = self.counts[a].iter().sum();
            if n == 0 || self.counts[a].len() != k {
                return Err(Error::InvalidArgument(format!(
                    "confusion matrix has no labelled items of class {a} (or a ragged row): measure it on data with every class"
                )));
            }
            for h in 0..k {
                c[h * k + a] = self.counts[a][h] as f64 / n as f64;
            }
        }
        Ok(c)
    }
}

/// Confusion-corrected class proportions with intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Corrected {
    pub proportions: Vec<f64>,
    pub intervals: Vec<Interval>,
}

/// Corrects observed class counts for classifier error.
///
/// K = 2 is Rogan–Gladen, p̃ = (p̂ − (1 − α₀))/(α₀ + α₁ − 1), with the Wilson
/// endpoints mapped through the same monotone map and the half-widths widened by
/// the delta-method variance of the estimated α's. K > 2 is p̃ = C⁻¹ q̂ projected
/// onto the simplex, with delta-method intervals from Cov = C⁻¹ Cov(q̂) C⁻ᵀ.
pub fn correct(counts: &[u64], confusion: &ConfusionCounts, z: f64) -> Result<Corrected> {
    let k = counts.len();
    if confusion.k() != k {
        return Err(Error::InvalidArgument(format!(
            "confusion matrix is {}×{} but the attribute has {k} classes",
            confusion.k(),
            confusion.k()
        )));
    }
    let n: u64 = counts.iter().sum();
    let nf = n as f64;
    let c = confusion.column_stochastic()?;
    if k == 2 {
        let (a0, a1) = (c[0], c[3]);
        let j = a0 + a1 - 1.0;
        if j <= 0.05 {
            return Err(Error::InvalidArgument(format!(
                "classifier accuracy α₀ + α₁ − 1 = {j:.3} is too close to chance to correct for; improve the head"
            )));
        }
        let n0 = confusion.counts[0].iter().sum::<u64>() as f64;
        let n1 = confusion.counts[1].iter().sum::<u64>() as f64;
        let map = |p: f64| (p - (1.0 - a0)) / j;
        let w = wilson(counts[1] as f64, nf, z);
        let p1 = map(counts[1] as f64 / nf.max(1.0));
        let var_alpha = ((1.0 - p1) / j).powi(2) * a0 * (1.0 - a0) / n0
            + (p1 / j).powi(2) * a1 * (1.0 - a1) / n1;
        let widen = |h: f64| (h * h + z * z * var_alpha).sqrt();
        let lo = p1 - widen(p1 - map(w.lo));
        let hi = p1 + widen(map(w.hi) - p1);
        let p1c = p1.clamp(0.0, 1.0);
        let i1 = Interval {
            lo: lo.clamp(0.0, 1.0),
            hi: hi.clamp(0.0, 1.0),
        };
        return Ok(Corrected {
            proportions: vec![1.0 - p1c, p1c],
            intervals: vec![
                Interval {
                    lo: 1.0 - i1.hi,
                    hi: 1.0 - i1.lo,
                },
                i1,
            ],
        });
    }
    let q: Vec<f64> = counts.iter().map(|&x| x as f64 / nf.max(1.0)).collect();
    let raw = linalg::solve(&c, k, &q).ok_or_else(|| {
        Error::InvalidArgument(
            "the confusion matrix is singular: the classifier cannot tell some classes apart"
                .into(),
        )
    })?;
    let p = project_simplex(&raw);
    // Cov(q̂) = (diag(q) − q qᵀ)/N; Cov(p̃) = C⁻¹ Cov(q̂) C⁻ᵀ.
    let mut cinv = vec![0.0; k * k];
    for col in 0..k {
        let mut e = vec![0.0; k];
        e[col] = 1.0;
        let x = linalg::solve(&c, k, &e).unwrap_or_default();
        for row in 0..k.min(x.len()) {
            cinv[row * k + col] = x[row];
        }
    }
    let intervals = (0..k)
        .map(|a| {
            let var: f64 = (0..k)
                .flat_map(|i| (0..k).map(move |j| (i, j)))
                .map(|(i, j)| {
                    let cov = (if i == j { q[i] } else { 0.0 } - q[i] * q[j]) / nf.max(1.0);
                    cinv[a * k + i] * cov * cinv[a * k + j]
                })
                .sum();
            let h = z * var.max(0.0).sqrt();
            Interval {
                lo: (p[a] - h).max(0.0),
                hi: (p[a] + h).min(1.0),
            }
        })
        .collect();
    Ok(Corrected {
        proportions: p,
        intervals,
    })
}

/// Euclidean projection onto the probability simplex.
pub fn project_simplex(x: &[f64]) -> Vec<f64> {
    let mut s = x.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    let mut acc = 0.0;
    let mut theta = 0.0;
    for (i, v) in s.iter().enumerate() {
        acc += v;
        let t = (acc - 1.0) / (i + 1) as f64;
        if v - t > 0.0 {
            theta = t;
        }
    }
    x.iter().map(|v| (v - theta).max(0.0)).collect()
}

/// Paired drift of a binary attribute from inputs to outputs (transfer audit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    pub n: u64,
    /// #(in 0 → out 1).
    pub b: u64,
    /// #(in 1 → out 0).
    pub c: u64,
    /// (b − c)/N: the change of the attribute's share.
    pub drift: f64,
    pub interval: Interval,
    /// (b − c)²/(b + c), or `None` without discordant pairs.
    pub statistic: Option<f64>,
    pub p_value: f64,
    /// Whether the exact binomial test was used (b + c < 25).
    pub exact: bool,
}

/// McNemar's test on paired labels with the paired CI Var = (b + c − (b − c)²/N)/N².
pub fn mcnemar(input: &[bool], output: &[bool], z: f64) -> Result<McNemar> {
    if input.len() != output.len() || input.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "paired audit needs one output per input ({} inputs, {} outputs)",
            input.len(),
            output.len()
        )));
    }
    let n = input.len() as u64;
    let b = input
        .iter()
        .zip(output)
        .filter(|(i, o)| !**i && **o)
        .count() as u64;
    let c = input
        .iter()
        .zip(output)
        .filter(|(i, o)| **i && !**o)
        .count() as u64;
    let nf = n as f64;
    let diff = b as f64 - c as f64;
    let drift = diff / nf;
    let var = ((b + c) as f64 - diff * diff / nf) / (nf * nf);
    let h = z * var.max(0.0).sqrt();
    let exact = b + c < 25;
    let p_value = if b + c == 0 {
        1.0
    } else if exact {
        (2.0 * normal::binom_cdf(b.min(c), b + c, 0.5)).min(1.0)
    } else {
        normal::chi2_sf(diff * diff / (b + c) as f64, 1.0)
    };
    Ok(McNemar {
        n,
        b,
        c,
        drift,
        interval: Interval {
            lo: drift - h,
            hi: drift + h,
        },
        statistic: (b + c > 0).then(|| diff * diff / (b + c) as f64),
        p_value,
        exact,
    })
}

/// How a frame sequence is cut into blocks for the bootstrap.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocks {
    /// Overlapping blocks of this length starting anywhere (Künsch).
    Moving(usize),
    /// Non-overlapping blocks of this length from frame 0 (e.g. shots of fixed length).
    Fixed(usize),
}

/// Block-bootstrap result per class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockBootstrap {
    pub blocks: Blocks,
    pub resamples: usize,
    /// Percentile interval per class.
    pub intervals: Vec<Interval>,
    /// Effective sample size per class, N·Var_iid/Var_block (capped at N).
    pub n_eff: Vec<f64>,
    /// Class shares in consecutive blocks, to see drift (`None` when the
    /// sequence holds fewer than two bootstrap blocks).
    #[serde(default)]
    pub block_shares: Option<BlockShares>,
}

/// Most blocks [`BlockShares`] cuts a sequence into: enough points to show a
/// trend, few enough that every block holds many frames.
pub const DRIFT_BLOCKS: usize = 12;

/// One run of consecutive frames and its class shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceBlock {
    /// Position of the block's first frame in the sequence, from 0.
    pub first: u64,
    /// Position of its last frame (inclusive).
    pub last: u64,
    /// Share of each class among the block's frames.
    pub shares: Vec<f64>,
}

/// A sequence cut into at most [`DRIFT_BLOCKS`] consecutive blocks, each made
/// of whole bootstrap blocks (the last also takes the frames left over), so
/// frames the bootstrap keeps together stay in one block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockShares {
    pub blocks: Vec<SequenceBlock>,
    /// Per class, the number of blocks whose share lies outside the class's
    /// bootstrap interval.
    pub outside: Vec<u64>,
    /// G-test of equal class shares in every block (a K × B table), scaled to
    /// the effective size as the audit's own G-test is: small when the shares drift.
    pub p_value: f64,
}

/// Block bootstrap of class shares of a frame sequence (`labels[i]` < `k`).
pub fn block_bootstrap(
    labels: &[usize],
    k: usize,
    blocks: Blocks,
    resamples: usize,
    level: f64,
    seed: u64,
) -> Result<BlockBootstrap> {
    let n = labels.len();
    let len = match blocks {
        Blocks::Moving(l) | Blocks::Fixed(l) => l,
    };
    if n == 0 || len == 0 || len > n || resamples < 100 || labels.iter().any(|&l| l >= k) {
        return Err(Error::InvalidArgument(format!(
            "block bootstrap of {n} frames with blocks of {len} and {resamples} resamples: need 1 ≤ block ≤ frames, ≥ 100 resamples and labels below {k}"
        )));
    }
    // Prefix counts per class make any block's counts O(K).
    let mut prefix = vec![0u32; (n + 1) * k];
    for (i, &l) in labels.iter().enumerate() {
        for c in 0..k {
            prefix[(i + 1) * k + c] = prefix[i * k + c] + u32::from(l == c);
        }
    }
    let block_count =
        |start: usize, end: usize, c: usize| f64::from(prefix[end * k + c] - prefix[start * k + c]);
    let n_blocks = n.div_ceil(len);
    let mut shares: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); k];
    for r in 0..resamples {
        let mut rng = StreamRng::new(seed, b"block-bootstrap", r as u64);
        let mut tot = vec![0.0; k];
        let mut frames = 0.0;
        for _ in 0..n_blocks {
            let (s, e) = match blocks {
                Blocks::Moving(l) => {
                    let s = (rng.next_u64() % (n - l + 1) as u64) as usize;
                    (s, s + l)
                }
                Blocks::Fixed(l) => {
                    let b = (rng.next_u64() % n_blocks as u64) as usize;
                    (b * l, ((b + 1) * l).min(n))
                }
            };
            for (c, t) in tot.iter_mut().enumerate() {
                *t += block_count(s, e, c);
            }
            frames += (e - s) as f64;
        }
        for c in 0..k {
            shares[c].push(tot[c] / frames);
        }
    }
    let alpha = 1.0 - level;
    let nf = n as f64;
    let mut intervals = Vec::with_capacity(k);
    let mut n_eff = Vec::with_capacity(k);
    for (c, s) in shares.iter_mut().enumerate() {
        let mean = s.iter().sum::<f64>() / resamples as f64;
        let var_block = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (resamples - 1) as f64;
        let p = block_count(0, n, c) / nf;
        let var_iid = p * (1.0 - p) / nf;
        n_eff.push(if var_block > 0.0 {
            (nf * var_iid / var_block).min(nf)
        } else {
            nf
        });
        s.sort_by(f64::total_cmp);
        let q = |a: f64| s[((a * resamples as f64).floor() as usize).min(resamples - 1)];
        intervals.push(Interval {
            lo: q(alpha / 2.0),
            hi: q(1.0 - alpha / 2.0),
        });
    }
    let n_eff_min = n_eff.iter().copied().fold(nf, f64::min).max(1.0);
    let block_shares = block_shares(&prefix, k, len, &intervals, n_eff_min);
    Ok(BlockBootstrap {
        blocks,
        resamples,
        intervals,
        n_eff,
        block_shares,
    })
}

/// [`BlockShares`] of a sequence from its per-class prefix counts
/// (`prefix[i * k + c]`: frames of class c before frame i) and bootstrap
/// blocks of `len` frames.
fn block_shares(
    prefix: &[u32],
    k: usize,
    len: usize,
    intervals: &[Interval],
    n_eff: f64,
) -> Option<BlockShares> {
    let n = prefix.len() / k - 1;
    let whole = n / len;
    let b = whole.min(DRIFT_BLOCKS);
    if b < 2 {
        return None;
    }
    let count = |s: usize, e: usize, c: usize| f64::from(prefix[e * k + c] - prefix[s * k + c]);
    let nf = n as f64;
    let total: Vec<f64> = (0..k).map(|c| count(0, n, c)).collect();
    let bounds: Vec<usize> = (0..b).map(|j| len * (j * whole / b)).chain([n]).collect();
    let mut g = 0.0;
    let mut blocks = Vec::with_capacity(b);
    for w in bounds.windows(2) {
        let (s, e) = (w[0], w[1]);
        let size = (e - s) as f64;
        let mut shares = Vec::with_capacity(k);
        for (c, t) in total.iter().enumerate() {
            let x = count(s, e, c);
            if x > 0.0 {
                g += 2.0 * x * (x * nf / (size * t)).ln();
            }
            shares.push(x / size);
        }
        blocks.push(SequenceBlock {
            first: s as u64,
            last: (e - 1) as u64,
            shares,
        });
    }
    let present = total.iter().filter(|&&t| t > 0.0).count();
    let df = (present.saturating_sub(1) * (b - 1)) as f64;
    let p_value = if df > 0.0 {
        normal::chi2_sf(g.max(0.0) * n_eff / nf, df)
    } else {
        1.0
    };
    let outside = (0..k)
        .map(|c| {
            blocks
                .iter()
                .filter(|blk| !intervals[c].contains(blk.shares[c]))
                .count() as u64
        })
        .collect();
    Some(BlockShares {
        blocks,
        outside,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_formula_by_hand() {
        // x = 20, n = 100, z = 1.96: z²/n = 0.038416; centre = (0.2 + 0.019208)/1.038416
        // = 0.2110984; half = 1.96/1.038416·√(0.0016 + 0.00009604) = 0.0777325.
        let w = wilson(20.0, 100.0, 1.96);
        assert!((w.lo - (0.211_098_4 - 0.077_732_5)).abs() < 1e-6, "{w:?}");
        assert!((w.hi - (0.211_098_4 + 0.077_732_5)).abs() < 1e-6, "{w:?}");
        // Wilson 95 % half-widths at p = 0.5: 0.069 / 0.031 / 0.022 for N = 200 / 1000 / 2000.
        for (n, h) in [(200.0, 0.069), (1000.0, 0.031), (2000.0, 0.022)] {
            assert!((wilson(n / 2.0, n, 1.959_964).half_width() - h).abs() < 5e-4);
        }
        // Bonferroni for K = 4 at 95 %: z = Φ⁻¹(1 − 0.05/8) = 2.4977.
        assert!((z_simultaneous(0.95, 4) - 2.497_705).abs() < 1e-5);
    }

    #[test]
    fn rogan_gladen_inverts_the_mixture() {
        // α₀ = 0.98, α₁ = 0.90, true p = 0.5: E[p̂] = 0.5·0.9 + 0.5·0.02 = 0.46.
        let conf = ConfusionCounts {
            counts: vec![vec![980, 20], vec![100, 900]],
        };
        let c = correct(&[540, 460], &conf, 1.96).expect("correctable");
        assert!((c.proportions[1] - 0.5).abs() < 1e-12);
        assert!(c.intervals[1].contains(0.5));
        // K = 3 with the same logic: C⁻¹ of the expected mixture is the truth.
        let conf3 = ConfusionCounts {
            counts: vec![vec![90, 5, 5], vec![10, 80, 10], vec![0, 0, 100]],
        };
        let truth = [0.2, 0.3, 0.5];
        // q_h = Σ_a C[h][a]·p_a, times 10⁴ items.
        let q: Vec<u64> = (0..3)
            .map(|h| {
                let s: f64 = (0..3)
                    .map(|a| conf3.counts[a][h] as f64 / 100.0 * truth[a])
                    .sum();
                (s * 10_000.0).round() as u64
            })
            .collect();
        let c3 = correct(&q, &conf3, 1.96).expect("correctable");
        for (p, t) in c3.proportions.iter().zip(&truth) {
            assert!((p - t).abs() < 1e-9);
        }
    }

    #[test]
    fn mcnemar_uses_exact_binomial_for_few_discordant_pairs() {
        let input = [false, false, false, false, true, true];
        let output = [true, true, true, false, true, true];
        let m = mcnemar(&input, &output, 1.96).expect("paired");
        assert_eq!((m.b, m.c), (3, 0));
        assert!(m.exact);
        // Two-sided exact p = 2·(½)³ = 0.25.
        assert!((m.p_value - 0.25).abs() < 1e-12);
        assert!((m.drift - 0.5).abs() < 1e-12);
    }

    #[test]
    fn block_shares_cover_the_sequence_and_see_a_planted_drift() {
        // 600 frames: a quarter of the first half and three quarters of the second are class 1.
        let drift: Vec<usize> = (0..600)
            .map(|i| usize::from(i % 4 < if i < 300 { 1 } else { 3 }))
            .collect();
        let steady: Vec<usize> = (0..600).map(|i| usize::from(i % 2 == 0)).collect();
        let run = |labels: &[usize]| {
            block_bootstrap(labels, 2, Blocks::Moving(8), 200, 0.95, 1)
                .expect("bootstrap")
                .block_shares
                .expect("enough blocks")
        };
        let d = run(&drift);
        assert_eq!(d.blocks.len(), DRIFT_BLOCKS);
        assert_eq!(d.blocks[0].first, 0);
        assert_eq!(d.blocks.last().map(|b| b.last), Some(599));
        for w in d.blocks.windows(2) {
            assert_eq!(w[1].first, w[0].last + 1);
            assert_eq!(w[0].first % 8, 0, "a block splits a bootstrap block");
        }
        assert!(
            (d.blocks[0].shares[1] - 0.25).abs() < 0.02,
            "{:?}",
            d.blocks[0]
        );
        assert!(d.p_value < 1e-6, "drift missed: p = {}", d.p_value);
        // Negative control: the same length without drift.
        let s = run(&steady);
        assert!(s.p_value > 0.5, "steady sequence drifts: p = {}", s.p_value);
        // Too short for two bootstrap blocks: no block shares.
        let short = block_bootstrap(&steady[..10], 2, Blocks::Fixed(8), 100, 0.95, 1);
        assert!(short.expect("bootstrap").block_shares.is_none());
    }
}
