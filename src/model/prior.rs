//! The Gaussian space of the fairness nodes: per domain, the flow's v of the
//! domain's clean training latents fitted by N(μ_d, Σ_d), Σ_d = L_d L_dᵀ, and
//! whitened, ε = L_d⁻¹(v − μ_d).
//!
//! Why not v itself: the flow was trained on latents with dequantisation
//! noise, so most of v's unit variance is that noise, and the middle of
//! N(0, I) decodes to no object; clean latents fill a smaller cloud (mean
//! per-dimension variance ≈ 0.2) that a Gaussian describes well. The map is
//! affine, so ε is still exactly Gaussian under the fitted model, heads stay
//! linear and the sampler's conditional sampling stays exact — it is one more
//! invertible, domain-conditioned layer on top of the flow.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::fairness::linalg;

pub const PRIOR_FILE: &str = "prior.safetensors";

/// Weight of the shrinkage toward a scaled identity: with a few thousand
/// images for hundreds of dimensions the sample covariance's smallest
/// eigenvalues are noise, and an unshrunk factor would amplify them.
const SHRINKAGE: f64 = 0.05;

/// Mean and Cholesky factor of each domain's Gaussian.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    dim: usize,
    /// Per domain, μ (dim values).
    means: Vec<Vec<f64>>,
    /// Per domain, L packed row by row (row i holds i + 1 values).
    factors: Vec<Vec<f64>>,
}

fn packed_len(dim: usize) -> usize {
    dim * (dim + 1) / 2
}

fn row(i: usize) -> usize {
    i * (i + 1) / 2
}

impl Prior {
    /// Fits one Gaussian per domain to `vs[d]` (row-major, `dim` values per
    /// image), with covariance (1 − λ)·S + λ·(tr S / dim)·I.
    pub fn fit(vs: &[Vec<f32>], dim: usize) -> Result<Prior> {
        let mut means = Vec::with_capacity(vs.len());
        let mut factors = Vec::with_capacity(vs.len());
        for (d, flat) in vs.iter().enumerate() {
            let n = flat.len() / dim.max(1);
            if dim == 0 || flat.len() != n * dim || n < 2 {
                return Err(Error::InvalidArgument(format!(
                    "domain {d}: need at least 2 latents of {dim} values to fit its Gaussian"
                )));
            }
            let mut mean = vec![0.0; dim];
            for v in flat.chunks_exact(dim) {
                mean.iter_mut()
                    .zip(v)
                    .for_each(|(m, &x)| *m += f64::from(x) / n as f64);
            }
            let mut cov = vec![0.0; dim * dim];
            let mut centred = vec![0.0; dim];
            for v in flat.chunks_exact(dim) {
                centred
                    .iter_mut()
                    .zip(v.iter().zip(&mean))
                    .for_each(|(c, (&x, m))| *c = f64::from(x) - m);
                for i in 0..dim {
                    let ci = centred[i];
                    let r = &mut cov[i * dim..i * dim + i + 1];
                    r.iter_mut()
                        .zip(&centred[..=i])
                        .for_each(|(s, cj)| *s += ci * cj);
                }
            }
            let trace = (0..dim).map(|i| cov[i * dim + i]).sum::<f64>() / (n - 1) as f64;
            let floor = SHRINKAGE * trace / dim as f64;
            for i in 0..dim {
                for j in 0..=i {
                    let s = (1.0 - SHRINKAGE) * cov[i * dim + j] / (n - 1) as f64;
                    cov[i * dim + j] = s;
                    cov[j * dim + i] = s;
                }
                cov[i * dim + i] += floor;
            }
            let l = linalg::cholesky(&cov, dim).ok_or_else(|| {
                Error::Model(format!(
                    "domain {d}: the latents' covariance is not positive definite (all images identical?)"
                ))
            })?;
            let mut packed = Vec::with_capacity(packed_len(dim));
            for i in 0..dim {
                packed.extend_from_slice(&l[i * dim..i * dim + i + 1]);
            }
            means.push(mean);
            factors.push(packed);
        }
        Ok(Prior {
            dim,
            means,
            factors,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn domains(&self) -> usize {
        self.means.len()
    }

    /// ε = L⁻¹(v − μ) for domain `d` (forward substitution).
    pub fn whiten(&self, d: usize, v: &[f32]) -> Vec<f32> {
        let (mu, l) = (&self.means[d], &self.factors[d]);
        let mut e = vec![0.0f64; self.dim];
        for i in 0..self.dim {
            let r = &l[row(i)..row(i) + i + 1];
            let s = f64::from(v[i]) - mu[i] - linalg::dot(&r[..i], &e[..i]);
            e[i] = s / r[i];
        }
        e.into_iter().map(|x| x as f32).collect()
    }

    /// v = μ + L ε for domain `d`.
    pub fn colour(&self, d: usize, e: &[f32]) -> Vec<f32> {
        let (mu, l) = (&self.means[d], &self.factors[d]);
        let e: Vec<f64> = e.iter().map(|&x| f64::from(x)).collect();
        (0..self.dim)
            .map(|i| (mu[i] + linalg::dot(&l[row(i)..row(i) + i + 1], &e[..=i])) as f32)
            .collect()
    }

    /// The safetensors bytes: `mean` (domains × dim) and `scale_tril`
    /// (domains × dim(dim+1)/2, L packed by rows), f32.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let le = |rows: &[Vec<f64>]| -> Vec<u8> {
            rows.iter()
                .flatten()
                .flat_map(|&x| (x as f32).to_le_bytes())
                .collect()
        };
        let (mean, tril) = (le(&self.means), le(&self.factors));
        let k = self.domains();
        let views = [
            (
                "mean",
                TensorView::new(Dtype::F32, vec![k, self.dim], &mean),
            ),
            (
                "scale_tril",
                TensorView::new(Dtype::F32, vec![k, packed_len(self.dim)], &tril),
            ),
        ];
        let views: Vec<(&str, TensorView<'_>)> = views
            .into_iter()
            .map(|(n, v)| v.map(|v| (n, v)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Internal(e.to_string()))?;
        safetensors::serialize(views, None).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Reads and validates a prior of `domains` × `dim` from `bytes` (read from `path`).
    pub fn from_bytes(bytes: &[u8], domains: usize, dim: usize, path: &Path) -> Result<Prior> {
        let bad = |why: String| Error::Model(format!("{}: {why}", path.display()));
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let mut tensors: HashMap<String, Vec<f64>> = HashMap::new();
        for (name, shape) in [
            ("mean", [domains, dim]),
            ("scale_tril", [domains, packed_len(dim)]),
        ] {
            let view = st
                .tensor(name)
                .map_err(|_| bad(format!("no tensor '{name}'")))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape {
                return Err(bad(format!(
                    "tensor {name} is {:?} {:?}, expected F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            let vals: Vec<f64> = view
                .data()
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            if vals.iter().any(|x| !x.is_finite()) {
                return Err(bad(format!("tensor {name} holds NaN or infinite values")));
            }
            tensors.insert(name.into(), vals);
        }
        if st.len() != 2 {
            return Err(bad(format!(
                "{} tensors; a prior holds exactly mean and scale_tril",
                st.len()
            )));
        }
        let split = |v: &[f64], n: usize| -> Vec<Vec<f64>> {
            v.chunks_exact(n).map(<[f64]>::to_vec).collect()
        };
        let prior = Prior {
            dim,
            means: split(&tensors["mean"], dim),
            factors: split(&tensors["scale_tril"], packed_len(dim)),
        };
        for (d, l) in prior.factors.iter().enumerate() {
            if let Some(i) = (0..dim).find(|&i| l[row(i) + i] <= 0.0) {
                return Err(bad(format!(
                    "domain {d}: diagonal {i} of the Cholesky factor is not positive"
                )));
            }
        }
        Ok(prior)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::StreamRng;

    /// Samples of a known correlated Gaussian: the fit recovers its mean and
    /// its covariance shrunk as documented, within sampling error.
    #[test]
    fn fit_recovers_a_known_gaussian() {
        let (dim, n) = (3, 20_000);
        let mu = [1.0, -2.0, 0.5];
        // L of the true covariance Σ = L Lᵀ.
        let l = [[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.5, 0.3, 0.4]];
        let mut r = StreamRng::new(1, b"prior-test", 0);
        let flat: Vec<f32> = (0..n)
            .flat_map(|_| {
                let e: Vec<f64> = (0..dim).map(|_| r.normal()).collect();
                (0..dim)
                    .map(|i| (mu[i] + (0..=i).map(|k| l[i][k] * e[k]).sum::<f64>()) as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        let prior = Prior::fit(std::slice::from_ref(&flat), dim).unwrap();
        // Mean: SE = σ/√n ≤ 1/141; allow 4 SE.
        for (m, want) in prior.means[0].iter().zip(mu) {
            assert!((m - want).abs() < 4.0 / (n as f64).sqrt());
        }
        let sigma = |i: usize, j: usize| (0..dim).map(|k| l[i][k] * l[j][k]).sum::<f64>();
        let mean_var = (0..dim).map(|i| sigma(i, i)).sum::<f64>() / dim as f64;
        let f = &prior.factors[0];
        for i in 0..dim {
            for j in 0..=i {
                let fitted: f64 = (0..=j).map(|k| f[row(i) + k] * f[row(j) + k]).sum();
                let want = (1.0 - SHRINKAGE) * sigma(i, j)
                    + if i == j { SHRINKAGE * mean_var } else { 0.0 };
                // SD of a sample covariance entry: √((σᵢᵢσⱼⱼ + σᵢⱼ²)/n) ≤ 0.01 here.
                assert!(
                    (fitted - want).abs() < 0.04,
                    "cov[{i}][{j}] {fitted} vs {want}"
                );
            }
        }
        // colour inverts whiten.
        for v in flat.chunks_exact(dim).take(50) {
            let back = prior.colour(0, &prior.whiten(0, v));
            for (a, b) in back.iter().zip(v) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()));
            }
        }
    }

    #[test]
    fn bytes_round_trip_and_bad_files_are_refused() {
        let mut r = StreamRng::new(2, b"prior-test", 0);
        let flat: Vec<f32> = (0..400).map(|_| r.normal() as f32).collect();
        let prior = Prior::fit(&[flat.clone(), flat], 4).unwrap();
        let bytes = prior.to_bytes().unwrap();
        let p = Path::new("prior.safetensors");
        let back = Prior::from_bytes(&bytes, 2, 4, p).unwrap();
        for (a, b) in back
            .factors
            .iter()
            .flatten()
            .zip(prior.factors.iter().flatten())
        {
            assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()));
        }
        assert!(
            Prior::from_bytes(&bytes, 3, 4, p).is_err(),
            "wrong domain count"
        );
        assert!(
            Prior::from_bytes(&bytes, 2, 5, p).is_err(),
            "wrong dimension"
        );
        assert!(
            Prior::from_bytes(&bytes[..bytes.len() - 7], 2, 4, p).is_err(),
            "truncated"
        );
    }
}
