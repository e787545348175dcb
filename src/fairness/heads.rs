//! Attribute heads: linear boundaries (w, b) in v-space, fitted by
//! L2-regularised logistic regression **with intercept** on all labelled
//! latents (docs/fairness.md §2). The intercept matters: with P(attr) = 0.2 the
//! boundary sits at u = Φ⁻¹(0.8) ≈ 0.84, not at 0, and the model's natural
//! ratio Φ(b̃) is a self-check against the training ratio.
//!
//! [`AttributeHead`] is what the bundle manifest stores (serde, TOML-friendly);
//! [`HeadSet`] is the normalised, validated form the sampler and rebalancer use.

use serde::{Deserialize, Serialize};

use super::{cells, linalg, normal};
use crate::error::{Error, Result};

/// One attribute head as stored in the manifest: score = w·v + b, attribute
/// present when the score is positive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeHead {
    pub name: String,
    pub w: Vec<f64>,
    pub b: f64,
    /// Held-out confusion of the head against the labels, if measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Confusion>,
}

/// A 2×2 confusion matrix: `counts[truth][predicted]` (0 = absent, 1 = present).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub counts: [[u64; 2]; 2],
}

impl Confusion {
    /// Counts (truth, prediction) pairs.
    pub fn from_pairs(truth: &[bool], predicted: &[bool]) -> Self {
        let mut counts = [[0u64; 2]; 2];
        for (&t, &p) in truth.iter().zip(predicted) {
            counts[usize::from(t)][usize::from(p)] += 1;
        }
        Confusion { counts }
    }

    /// Number of items whose truth is `j`.
    pub fn n_true(&self, j: usize) -> u64 {
        self.counts[j][0] + self.counts[j][1]
    }

    /// α_j = P(predict j | true j) (CLEAM's notation), or `None` without items of class j.
    pub fn alpha(&self, j: usize) -> Option<f64> {
        let n = self.n_true(j);
        (n > 0).then(|| self.counts[j][j] as f64 / n as f64)
    }

    /// Overall disagreement rate between truth and prediction.
    pub fn error_rate(&self) -> f64 {
        let n = self.n_true(0) + self.n_true(1);
        if n == 0 {
            return 0.0;
        }
        (self.counts[0][1] + self.counts[1][0]) as f64 / n as f64
    }
}

impl AttributeHead {
    /// ‖w‖, the scale that turns scores into signed distances.
    pub fn norm(&self) -> f64 {
        linalg::dot(&self.w, &self.w).sqrt()
    }

    /// b̃ = b/‖w‖: minus the position of the boundary along ŵ.
    pub fn offset(&self) -> f64 {
        self.b / self.norm()
    }

    /// The model's natural ratio of the attribute, P(ŵ·v + b̃ > 0) = Φ(b̃) for v ~ N(0, I).
    pub fn natural_ratio(&self) -> f64 {
        normal::cdf(self.offset())
    }

    fn validate(&self, d: usize) -> Result<()> {
        if self.w.len() != d {
            return Err(Error::InvalidArgument(format!(
                "head '{}' has {} weights but the latent has {d} dimensions: refit the head on this bundle's latents",
                self.name,
                self.w.len()
            )));
        }
        if !self.w.iter().all(|x| x.is_finite()) || !self.b.is_finite() || self.norm() < 1e-12 {
            return Err(Error::InvalidArgument(format!(
                "head '{}' has zero or non-finite weights: refit it",
                self.name
            )));
        }
        Ok(())
    }
}

/// Options of the logistic fit.
#[derive(Clone, Copy, Debug)]
pub struct FitOptions {
    /// Penalty λ/2·‖w‖² (the intercept is not penalised).
    pub l2: f64,
    /// Fit an intercept. Only the negative control of docs/fairness.md §7 A1 turns this off.
    pub intercept: bool,
    pub max_iter: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            l2: 1.0,
            intercept: true,
            max_iter: 50,
        }
    }
}

/// Fits a head by Newton's method (IRLS with step halving) on `n` latents of
/// dimension `d` (row-major `xs`) and their labels.
pub fn fit_logistic(
    name: &str,
    xs: &[f32],
    labels: &[bool],
    d: usize,
    opts: FitOptions,
) -> Result<AttributeHead> {
    let n = labels.len();
    if d == 0 || xs.len() != n * d {
        return Err(Error::InvalidArgument(format!(
            "head fit: {} latent values for {n} labels of dimension {d}; pass one latent per label",
            xs.len()
        )));
    }
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 || pos == n {
        return Err(Error::InvalidArgument(format!(
            "head '{name}': all {n} labels are {}; label both classes to fit a boundary",
            if pos == 0 { "absent" } else { "present" }
        )));
    }
    let p = d + usize::from(opts.intercept);
    let row = |i: usize, k: usize| if k < d { f64::from(xs[i * d + k]) } else { 1.0 };
    let loss = |beta: &[f64]| -> f64 {
        let mut l = 0.5 * opts.l2 * linalg::dot(&beta[..d], &beta[..d]);
        for (i, &y) in labels.iter().enumerate() {
            let s: f64 = (0..p).map(|k| row(i, k) * beta[k]).sum();
            // −log σ(±s) computed stably.
            let m = if y { -s } else { s };
            l += if m > 0.0 {
                m + (-m).exp().ln_1p()
            } else {
                m.exp().ln_1p()
            };
        }
        l
    };
    let mut beta = vec![0.0; p];
    let mut current = loss(&beta);
    let mut xi = vec![0.0; p];
    for _ in 0..opts.max_iter {
        let mut grad = vec![0.0; p];
        let mut hess = vec![0.0; p * p];
        for (i, &y) in labels.iter().enumerate() {
            for (k, x) in xi.iter_mut().enumerate() {
                *x = row(i, k);
            }
            let s = linalg::dot(&xi, &beta);
            let pr = 1.0 / (1.0 + (-s).exp());
            let r = pr - f64::from(u8::from(y));
            let wt = pr * (1.0 - pr);
            for a in 0..p {
                grad[a] += r * xi[a];
                let wa = wt * xi[a];
                for b in 0..=a {
                    hess[a * p + b] += wa * xi[b];
                }
            }
        }
        for a in 0..p {
            for b in 0..a {
                hess[b * p + a] = hess[a * p + b];
            }
        }
        for k in 0..d {
            grad[k] += opts.l2 * beta[k];
            hess[k * p + k] += opts.l2 + 1e-12;
        }
        let l = linalg::cholesky(&hess, p).ok_or_else(|| {
            Error::Internal(format!(
                "head '{name}': singular Hessian in the logistic fit"
            ))
        })?;
        let step = linalg::cholesky_solve(&l, p, &grad);
        let decrement = linalg::dot(&step, &grad);
        let mut t = 1.0;
        loop {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - t * s).collect();
            let lt = loss(&trial);
            if lt <= current || t < 1e-8 {
                beta = trial;
                current = lt;
                break;
            }
            t *= 0.5;
        }
        if decrement < 1e-10 {
            break;
        }
    }
    beta.truncate(d);
    let b = if opts.intercept {
        let norm = linalg::dot(&beta, &beta).sqrt();
        -norm * error_minimising_threshold(xs, labels, d, &beta, norm)
    } else {
        0.0
    };
    let head = AttributeHead {
        name: name.to_string(),
        w: beta,
        b,
        confusion: None,
    };
    head.validate(d)?;
    Ok(head)
}

/// The position t along ŵ that minimises the number of training labels on the
/// wrong side of the boundary ŵ·v = t (the midpoint of the best gap).
///
/// The logistic intercept alone is biased when classes are imbalanced and labels
/// are noisy: a sigmoid of finite slope fitted to a noisy 80/20 step puts the
/// boundary too far into the minority side (measured on the Level A world with
/// 5 % flips: Φ(b̃) = 0.1875 instead of 0.2, outside the Wilson bound). The
/// 0-1 risk minimiser along the fitted direction is consistent for any label
/// noise below 50 %, so the direction comes from the logistic fit and the cut
/// from this sweep.
fn error_minimising_threshold(xs: &[f32], labels: &[bool], d: usize, w: &[f64], norm: f64) -> f64 {
    let mut proj: Vec<(f64, bool)> = labels
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let s: f64 = xs[i * d..(i + 1) * d]
                .iter()
                .zip(w)
                .map(|(x, a)| f64::from(*x) * a)
                .sum();
            (s / norm, y)
        })
        .collect();
    proj.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Cut after position j (j = 0 → everything positive): errors = positives at or
    // below the cut + negatives above it.
    let negatives = proj.iter().filter(|p| !p.1).count();
    let mut errors = negatives;
    let (mut best, mut best_lo, mut best_hi) = (errors, 0usize, 0usize);
    for (j, &(_, y)) in proj.iter().enumerate() {
        if y {
            errors += 1;
        } else {
            errors -= 1;
        }
        let cut = j + 1;
        if errors < best {
            (best, best_lo, best_hi) = (errors, cut, cut);
        } else if errors == best {
            best_hi = cut;
        }
    }
    // Among equally good cuts take the middle one, then the midpoint of its gap.
    let cut = (best_lo + best_hi) / 2;
    let n = proj.len();
    match cut {
        0 => proj[0].0 - 1e-6,
        c if c >= n => proj[n - 1].0 + 1e-6,
        c => 0.5 * (proj[c - 1].0 + proj[c].0),
    }
}

/// The heads of one bundle in normalised form: unit rows ŵ_k, offsets b̃_k,
/// Σ = W Wᵀ with its inverse and Cholesky factor.
#[derive(Clone, Debug)]
pub struct HeadSet {
    names: Vec<String>,
    d: usize,
    w: Vec<f64>,
    offsets: Vec<f64>,
    sigma: Vec<f64>,
    sigma_inv: Vec<f64>,
    sigma_chol: Vec<f64>,
    components: Vec<Component>,
}

/// One component of the law of v the heads are read against: N(mean, I)
/// with a weight. A plain bundle has one, N(0, I); a bundle whose prior has a
/// component per k-means cluster of each labelled cell has several (see `model::prior`).
#[derive(Clone, Debug)]
pub struct Component {
    pub weight: f64,
    /// The mean (empty: 0).
    pub mean: Vec<f64>,
    /// W·mean, the mean of u under this component.
    pub shift: Vec<f64>,
}

impl HeadSet {
    /// Validates and normalises `heads` for latents of dimension `d`.
    pub fn new(heads: &[AttributeHead], d: usize) -> Result<Self> {
        if heads.is_empty() || heads.len() > 8 {
            return Err(Error::InvalidArgument(format!(
                "{} attribute heads given; use between 1 and 8",
                heads.len()
            )));
        }
        let k = heads.len();
        let mut w = Vec::with_capacity(k * d);
        for h in heads {
            h.validate(d)?;
            let nrm = h.norm();
            w.extend(h.w.iter().map(|x| x / nrm));
        }
        let offsets: Vec<f64> = heads.iter().map(AttributeHead::offset).collect();
        let mut sigma = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                sigma[i * k + j] = linalg::dot(&w[i * d..(i + 1) * d], &w[j * d..(j + 1) * d]);
            }
        }
        let err = || {
            Error::InvalidArgument(
                "attribute heads are (nearly) collinear, so their cells cannot be set independently: drop one of them"
                    .into(),
            )
        };
        let sigma_chol = linalg::cholesky(&sigma, k).ok_or_else(err)?;
        let sigma_inv = linalg::inverse_spd(&sigma, k).ok_or_else(err)?;
        if sigma_inv.iter().any(|x| x.abs() > 1e6) {
            return Err(err());
        }
        Ok(HeadSet {
            names: heads.iter().map(|h| h.name.clone()).collect(),
            d,
            w,
            offsets,
            sigma,
            sigma_inv,
            sigma_chol,
            components: vec![Component {
                weight: 1.0,
                mean: Vec::new(),
                shift: vec![0.0; k],
            }],
        })
    }

    /// The heads read against the mixture Σ_c weight_c·N(mean_c, I) instead of N(0, I).
    pub fn with_components(mut self, mixture: &[(f64, Vec<f64>)]) -> Result<Self> {
        let total: f64 = mixture.iter().map(|(w, _)| w).sum();
        if mixture.is_empty()
            || mixture
                .iter()
                .any(|(w, m)| !(w.is_finite() && *w >= 0.0) || m.len() != self.d)
            || (total - 1.0).abs() > 1e-6
        {
            return Err(Error::InvalidArgument(format!(
                "a mixture of {} components whose weights do not sum to 1 or whose means are not {}-dimensional",
                mixture.len(),
                self.d
            )));
        }
        self.components = mixture
            .iter()
            .map(|(weight, mean)| Component {
                weight: *weight,
                shift: (0..self.k())
                    .map(|k| linalg::dot(self.row(k), mean))
                    .collect(),
                mean: mean.clone(),
            })
            .collect();
        Ok(self)
    }

    /// The mixture components of the latent law (one, N(0, I), by default).
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The model's natural share of attribute `k`: Σ_c w_c·Φ(b̃_k + W_k·m_c)
    /// (Φ(b̃_k) for N(0, I)).
    pub fn natural_share(&self, k: usize) -> f64 {
        self.components
            .iter()
            .map(|c| c.weight * normal::cdf(self.offsets[k] + c.shift[k]))
            .sum()
    }

    pub fn k(&self) -> usize {
        self.offsets.len()
    }
    pub fn dim(&self) -> usize {
        self.d
    }
    pub fn names(&self) -> &[String] {
        &self.names
    }
    /// Row k of W (unit length).
    pub fn row(&self, k: usize) -> &[f64] {
        &self.w[k * self.d..(k + 1) * self.d]
    }
    /// b̃, one per head.
    pub fn offsets(&self) -> &[f64] {
        &self.offsets
    }
    /// Σ = W Wᵀ, row-major K×K.
    pub fn sigma(&self) -> &[f64] {
        &self.sigma
    }
    pub fn sigma_inv(&self) -> &[f64] {
        &self.sigma_inv
    }
    /// Lower Cholesky factor of Σ.
    pub fn sigma_chol(&self) -> &[f64] {
        &self.sigma_chol
    }

    /// Projections u = W v (without offsets).
    pub fn project(&self, v: &[f32]) -> Vec<f64> {
        (0..self.k())
            .map(|k| {
                self.row(k)
                    .iter()
                    .zip(v)
                    .map(|(a, b)| a * f64::from(*b))
                    .sum()
            })
            .collect()
    }

    /// Signed scores u_k + b̃_k: positive means attribute present.
    pub fn scores(&self, v: &[f32]) -> Vec<f64> {
        let mut u = self.project(v);
        u.iter_mut().zip(&self.offsets).for_each(|(x, b)| *x += b);
        u
    }

    /// The head cell of a latent.
    pub fn cell(&self, v: &[f32]) -> usize {
        cells::cell_of(&self.scores(v))
    }

    /// Adds Wᵀ c to `v` in f64 and rounds once: the edit whose head-space
    /// effect is W Wᵀ c = Σ c.
    pub fn add_combination(&self, v: &mut [f32], c: &[f64]) {
        for (j, x) in v.iter_mut().enumerate() {
            let delta: f64 = (0..self.k()).map(|k| c[k] * self.w[k * self.d + j]).sum();
            *x = (f64::from(*x) + delta) as f32;
        }
    }
}
