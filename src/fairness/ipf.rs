//! Targets over the 2^K cells: the model's natural joint P_g (exact for K ≤ 2
//! through the bivariate normal, Monte Carlo with a fixed stream above), IPF
//! raking of that joint onto the marginals the artist set (closest in KL to the
//! natural dependence; unset attributes keep their natural conditional), and
//! deterministic largest-remainder counts (docs/fairness.md §4 step 1).

use serde::{Deserialize, Serialize};

use super::{cells, heads::HeadSet, normal};
use crate::error::{Error, Result};
use crate::rng::StreamRng;

/// What the artist asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A full joint over the 2^K cells (cell index convention of [`cells`]).
    Joint(Vec<f64>),
    /// P(attribute k present) per head; `None` keeps the natural conditional.
    Marginals(Vec<Option<f64>>),
}

/// Draws of the Monte Carlo natural joint for K > 2 (standard error < 0.0005 per cell).
const MC_DRAWS: u64 = 1 << 20;

/// P(v ∈ cell g) under the heads' latent law: the weighted sum over its
/// mixture components of [`component_joint`].
pub fn natural_joint(heads: &HeadSet) -> Vec<f64> {
    let joints: Vec<Vec<f64>> = (0..heads.components().len())
        .map(|c| component_joint(heads, c))
        .collect();
    mixture_joint(heads, &joints)
}

/// Σ_c w_c·joints[c]: the natural joint from the components' own.
pub fn mixture_joint(heads: &HeadSet, joints: &[Vec<f64>]) -> Vec<f64> {
    let mut joint = vec![0.0; cells::n_cells(heads.k())];
    for (comp, q) in heads.components().iter().zip(joints) {
        joint
            .iter_mut()
            .zip(q)
            .for_each(|(p, q)| *p += comp.weight * q);
    }
    joint
}

/// P(u ∈ cell g) for u ~ N(shift_c, Σ) (component `c`), cells split at u_k = −b̃_k.
pub fn component_joint(heads: &HeadSet, c: usize) -> Vec<f64> {
    let k = heads.k();
    let shift = &heads.components()[c].shift;
    let t: Vec<f64> = heads
        .offsets()
        .iter()
        .zip(shift)
        .map(|(b, s)| -b - s)
        .collect();
    match k {
        1 => vec![normal::cdf(t[0]), normal::sf(t[0])],
        2 => {
            let rho = heads.sigma()[1];
            let p11 = bvn_upper(t[0], t[1], rho);
            let p1x = normal::sf(t[0]);
            let px1 = normal::sf(t[1]);
            let p10 = p1x - p11;
            let p01 = px1 - p11;
            let p00 = 1.0 - p11 - p10 - p01;
            // Cell index: bit 0 = head 0, bit 1 = head 1.
            vec![p00.max(0.0), p10.max(0.0), p01.max(0.0), p11.max(0.0)]
        }
        _ => {
            let l = heads.sigma_chol();
            let mut counts = vec![0u64; cells::n_cells(k)];
            let mut rng = StreamRng::new(0, b"natural-joint", 0);
            let mut xi = vec![0.0; k];
            let mut s = vec![0.0; k];
            for _ in 0..MC_DRAWS {
                xi.iter_mut().for_each(|x| *x = rng.normal());
                for i in 0..k {
                    s[i] = (0..=i).map(|j| l[i * k + j] * xi[j]).sum::<f64>() - t[i];
                }
                counts[cells::cell_of(&s)] += 1;
            }
            counts.iter().map(|&c| c as f64 / MC_DRAWS as f64).collect()
        }
    }
}

/// Above this |ρ| the angle integral of [`bvn_upper`] gets peaked and the
/// slower integral over x takes over.
const PLACKETT_MAX_RHO: f64 = 0.95;

/// P(X > a, Y > c) for standard bivariate normal with correlation ρ.
///
/// For |ρ| ≤ 0.95 by Plackett's identity (as used by Drezner and Genz):
/// Q(a)·Q(c) + (1/2π)∫₀^{asin ρ} exp(−(a² + c² − 2ac·sin θ)/(2cos² θ)) dθ,
/// whose smooth integrand needs only exponentials (a few µs with 200
/// Simpson panels); the sampler evaluates it once per prior component.
/// Beyond, ∫_a^∞ φ(x)·Q((c − ρx)/√(1 − ρ²)) dx by composite Simpson (4000
/// panels on [max(a, −9), 9]). Both errors ≪ 1e-9.
pub fn bvn_upper(a: f64, c: f64, rho: f64) -> f64 {
    if rho.abs() <= PLACKETT_MAX_RHO {
        let end = rho.asin();
        let n = 200;
        let h = end / n as f64;
        let f = |t: f64| {
            let (sin, cos) = t.sin_cos();
            (-(a * a + c * c - 2.0 * a * c * sin) / (2.0 * cos * cos)).exp()
        };
        let mut sum = f(0.0) + f(end);
        for i in 1..n {
            sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        let p = normal::sf(a) * normal::sf(c) + sum * h / 3.0 / std::f64::consts::TAU;
        return p.clamp(0.0, 1.0);
    }
    bvn_upper_by_x(a, c, rho)
}

/// [`bvn_upper`] by integrating over x: valid for every ρ.
fn bvn_upper_by_x(a: f64, c: f64, rho: f64) -> f64 {
    if rho > 1.0 - 1e-12 {
        return normal::sf(a.max(c));
    }
    if rho < -1.0 + 1e-12 {
        return (normal::sf(a) - normal::cdf(c)).max(0.0);
    }
    let s = (1.0 - rho * rho).sqrt();
    let lo = a.max(-9.0);
    let hi = 9.0f64;
    if lo >= hi {
        return 0.0;
    }
    let n = 4000;
    let h = (hi - lo) / n as f64;
    let f = |x: f64| normal::pdf(x) * normal::sf((c - rho * x) / s);
    let mut sum = f(lo) + f(hi);
    for i in 1..n {
        sum += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    sum * h / 3.0
}

/// Rakes `natural` (over 2^K cells) onto the set marginals (IPF / Deming–Stephan).
pub fn rake(natural: &[f64], marginals: &[Option<f64>]) -> Result<Vec<f64>> {
    let k = marginals.len();
    if natural.len() != cells::n_cells(k) {
        return Err(Error::Internal(format!(
            "raking {} cells with {k} marginals",
            natural.len()
        )));
    }
    for (i, m) in marginals.iter().enumerate() {
        if let Some(t) = m {
            if !(0.0..=1.0).contains(t) {
                return Err(Error::InvalidParamValue {
                    param: format!("target[{i}]"),
                    reason: format!("{t} is not a proportion; use a value in [0, 1]"),
                });
            }
        }
    }
    let mut p = natural.to_vec();
    for _ in 0..10_000 {
        let mut worst: f64 = 0.0;
        for (k_, m) in marginals.iter().enumerate() {
            let Some(t) = *m else { continue };
            let on: f64 = p
                .iter()
                .enumerate()
                .filter(|(g, _)| cells::has(*g, k_))
                .map(|(_, x)| x)
                .sum();
            let off = 1.0 - on;
            if (t > 0.0 && on <= 0.0) || (t < 1.0 && off <= 0.0) {
                return Err(Error::InvalidParamValue {
                    param: format!("target[{k_}]"),
                    reason: "the model never produces the other side of this attribute under the other targets; relax the targets".into(),
                });
            }
            worst = worst.max((on - t).abs());
            for (g, x) in p.iter_mut().enumerate() {
                *x *= if cells::has(g, k_) {
                    if on > 0.0 {
                        t / on
                    } else {
                        0.0
                    }
                } else if off > 0.0 {
                    (1.0 - t) / off
                } else {
                    0.0
                };
            }
        }
        if worst < 1e-13 {
            break;
        }
    }
    let total: f64 = p.iter().sum();
    Ok(p.iter().map(|x| x / total).collect())
}

/// Resolves a target to a joint over the cells of `heads`.
pub fn resolve(target: &Target, heads: &HeadSet) -> Result<Vec<f64>> {
    resolve_on(target, heads, || natural_joint(heads))
}

/// [`resolve`] with the natural joint supplied by the caller (computed only
/// when the target needs it), for callers that have it already.
pub fn resolve_on(
    target: &Target,
    heads: &HeadSet,
    natural: impl FnOnce() -> Vec<f64>,
) -> Result<Vec<f64>> {
    let n = cells::n_cells(heads.k());
    match target {
        Target::Joint(pi) => {
            if pi.len() != n || pi.iter().any(|x| !x.is_finite() || *x < 0.0) {
                return Err(Error::InvalidParamValue {
                    param: "target".into(),
                    reason: format!("a joint target needs {n} non-negative shares (one per cell)"),
                });
            }
            let total: f64 = pi.iter().sum();
            if total <= 0.0 {
                return Err(Error::InvalidParamValue {
                    param: "target".into(),
                    reason: "all joint shares are zero; give at least one cell a positive share"
                        .into(),
                });
            }
            Ok(pi.iter().map(|x| x / total).collect())
        }
        Target::Marginals(m) => {
            if m.len() != heads.k() {
                return Err(Error::InvalidParamValue {
                    param: "target".into(),
                    reason: format!("{} marginals for {} attribute heads", m.len(), heads.k()),
                });
            }
            rake(&natural(), m)
        }
    }
}

/// Integer counts summing to `n` from shares `pi` (normalised): floors of n·π,
/// then the remaining units to the largest remainders (ties: lower cell first).
pub fn largest_remainder(pi: &[f64], n: u64) -> Vec<u64> {
    let total: f64 = pi.iter().sum();
    let exact: Vec<f64> = pi.iter().map(|p| p / total * n as f64).collect();
    let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let assigned: u64 = counts.iter().sum();
    let mut order: Vec<usize> = (0..pi.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &g in order.iter().take(n.saturating_sub(assigned) as usize) {
        counts[g] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bivariate_orthant_matches_closed_forms() {
        // Independence and Sheppard's formula P(X>0, Y>0) = ¼ + asin(ρ)/(2π).
        assert!((bvn_upper(0.3, -0.2, 0.0) - normal::sf(0.3) * normal::sf(-0.2)).abs() < 1e-10);
        for rho in [-0.7, 0.3, 0.9] {
            let exact = 0.25 + f64::asin(rho) / std::f64::consts::TAU;
            assert!(
                (bvn_upper(0.0, 0.0, rho) - exact).abs() < 1e-10,
                "rho {rho}"
            );
        }
    }

    /// The angle integral and the integral over x are two independent
    /// quadratures of the same probability: they must agree everywhere the
    /// fast one is used.
    #[test]
    fn bivariate_orthant_quadratures_agree() {
        for rho in [-0.95, -0.6, -0.1, 0.0, 0.2, 0.7, 0.95] {
            for a in [-3.0, -1.2, 0.0, 0.4, 2.5, 5.0] {
                for c in [-2.0, 0.0, 0.9, 3.5] {
                    let (fast, slow) = (bvn_upper(a, c, rho), bvn_upper_by_x(a, c, rho));
                    assert!(
                        (fast - slow).abs() < 1e-9,
                        "a {a} c {c} rho {rho}: {fast} vs {slow}"
                    );
                }
            }
        }
    }

    #[test]
    fn raking_matches_set_marginals_and_keeps_natural_odds_ratio() {
        let natural = [0.59, 0.109, 0.209, 0.092];
        let p = rake(&natural, &[Some(0.5), Some(0.5)]).expect("feasible");
        assert!(((p[1] + p[3]) - 0.5).abs() < 1e-12 && ((p[2] + p[3]) - 0.5).abs() < 1e-12);
        // IPF preserves the cross-product (odds) ratio of the seed table.
        let or = |q: &[f64]| q[0] * q[3] / (q[1] * q[2]);
        assert!((or(&p) / or(&natural) - 1.0).abs() < 1e-9);
        // An unset attribute keeps its natural conditional given the set one.
        let q = rake(&natural, &[Some(0.5), None]).expect("feasible");
        assert!((q[3] / (q[1] + q[3]) - natural[3] / (natural[1] + natural[3])).abs() < 1e-12);
    }

    #[test]
    fn largest_remainder_is_exact_and_deterministic() {
        assert_eq!(largest_remainder(&[0.25; 4], 10), vec![3, 3, 2, 2]);
        assert_eq!(largest_remainder(&[0.2, 0.8], 7), vec![1, 6]);
        assert_eq!(
            largest_remainder(&[1.0, 1.0, 1.0], 100).iter().sum::<u64>(),
            100
        );
    }
}
