//! The Gaussian space of the fairness nodes: per domain, the flow's v of the
//! domain's clean training latents, whitened, ε = L_d⁻¹(v − μ_d), and
//! modelled as a mixture Σ_c π_c N(m_c, I): one component per cell of the
//! labelled attributes, or per k-means cluster inside each cell
//! ([`PriorOptions`]); Σ_d = L_d L_dᵀ is the covariance pooled within the
//! components (scaled by the spread²); without labels the clusters split the
//! whole domain.
//!
//! Why components: an attribute like the palette is discrete, so its classes
//! are separate clusters in v. One Gaussian over both puts its mass between
//! them too, and the cells' boundary regions decode to mixed, unreadable
//! objects; components keep each class where its images are. Each component
//! is Gaussian, so conditional sampling inside it stays exact.
//!
//! Why not v itself: the flow was trained on latents with dequantisation
//! noise, so most of v's unit variance is that noise, and the middle of
//! N(0, I) decodes to no object; clean latents fill a smaller cloud (mean
//! per-dimension variance ≈ 0.2) that a Gaussian describes well. The map is
//! affine, so ε is still exactly Gaussian under the fitted model, heads stay
//! linear and the sampler's conditional sampling stays exact — it is one more
//! invertible, domain-conditioned layer on top of the flow.
//!
//! One file because fitting, sampling, serialising and checking a hostile
//! prior all work on the same private layout; a quarter of it is tests.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::fairness::linalg;
use crate::rng::StreamRng;

pub const PRIOR_FILE: &str = "prior.safetensors";

/// Weight of the shrinkage toward a scaled identity: with a few thousand
/// images for hundreds of dimensions the sample covariance's smallest
/// eigenvalues are noise, and an unshrunk factor would amplify them.
const SHRINKAGE: f64 = 0.05;

/// Most mixture components a domain may have (a bound on what a loaded
/// file may make us allocate; a fit with more is refused before writing).
pub const MAX_COMPONENTS: usize = 4096;

pub use crate::fairness::mixture::Component;

/// Whitening and mixture components of each domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    dim: usize,
    /// Per domain, μ (dim values).
    means: Vec<Vec<f64>>,
    /// Per domain, L packed row by row (row i holds i + 1 values).
    factors: Vec<Vec<f64>>,
    /// Per domain, the components (weights sum to 1).
    components: Vec<Vec<Component>>,
}

fn packed_len(dim: usize) -> usize {
    dim * (dim + 1) / 2
}

fn row(i: usize) -> usize {
    i * (i + 1) / 2
}

/// L⁻¹(v − μ) for L packed by rows (forward substitution).
fn solve_lower(l: &[f64], dim: usize, v: &[f64], mu: &[f64]) -> Vec<f64> {
    let mut e = vec![0.0f64; dim];
    for i in 0..dim {
        let r = &l[row(i)..row(i) + i + 1];
        e[i] = (v[i] - mu[i] - linalg::dot(&r[..i], &e[..i])) / r[i];
    }
    e
}

/// How the prior's components are laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriorOptions {
    /// Each labelled cell of n images is split into ⌊n / cluster_size⌋ (at
    /// least 1) k-means clusters, one component each, and the covariance is
    /// pooled within the clusters. Sized by images rather than counted per
    /// cell, so a rare class is resolved as finely as a common one.
    ///
    /// Why: a class of images is not one Gaussian blob in v (a round outline
    /// is a non-linear structure of the latent), and a Gaussian as wide as the
    /// whole class puts mass where no image of it lies. Smaller clusters keep
    /// every component near real latents while the mixture still covers the
    /// class; each component is still Gaussian, so sampling stays exact.
    pub cluster_size: usize,
    /// Each component's standard deviation as a fraction of its cluster's
    /// (the mixture's bandwidth): the latents of a cluster lie near a curved
    /// surface, and the full-width Gaussian around them also reaches the
    /// latents that decode to lumpy outlines. Components stay Gaussian.
    pub spread: f64,
    /// Seeds the k-means start.
    pub seed: u64,
}

impl Default for PriorOptions {
    /// One full-width component per cell.
    fn default() -> Self {
        PriorOptions {
            cluster_size: usize::MAX,
            spread: 1.0,
            seed: 0,
        }
    }
}

impl PriorOptions {
    /// Writes the options into a manifest's provenance.
    pub fn record(&self, provenance: &mut std::collections::BTreeMap<String, String>) {
        provenance.insert("prior_cluster_size".into(), self.cluster_size.to_string());
        provenance.insert("prior_spread".into(), self.spread.to_string());
    }

    fn validate(&self) -> Result<()> {
        if self.cluster_size < 2 {
            return Err(Error::InvalidArgument(format!(
                "prior cluster size {} must be at least 2 images",
                self.cluster_size
            )));
        }
        if !(self.spread.is_finite() && self.spread > 0.0 && self.spread <= 1.0) {
            return Err(Error::InvalidArgument(format!(
                "prior spread {} must be in (0, 1]",
                self.spread
            )));
        }
        Ok(())
    }
}

/// Squared Euclidean distance.
fn dist2(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &c)| (f64::from(x) - c).powi(2))
        .sum()
}

/// Refines each cell into k-means clusters of about `size` images (k-means++
/// start from a stream keyed on (seed, domain, cell), Lloyd iterations to a
/// fixed point), numbered consecutively. Deterministic for a seed.
fn sub_cluster(
    flat: &[f32],
    dim: usize,
    cell: &[usize],
    size: usize,
    seed: u64,
    domain: usize,
) -> Vec<usize> {
    let rows: Vec<&[f32]> = flat.chunks_exact(dim).collect();
    let mut group = vec![0usize; cell.len()];
    let cells = cell.iter().max().map_or(0, |m| m + 1);
    let mut first_group = 0;
    for g in 0..cells {
        let idx: Vec<usize> = (0..cell.len()).filter(|&i| cell[i] == g).collect();
        let kk = (idx.len() / size).max(1);
        if kk == 1 {
            idx.iter().for_each(|&i| group[i] = first_group);
            first_group += 1;
            continue;
        }
        let mut rng = StreamRng::new(seed, b"prior-kmeans", ((domain as u64) << 32) | g as u64);
        // k-means++: each next centre drawn ∝ squared distance to the nearest one.
        let mut centres: Vec<Vec<f64>> = Vec::with_capacity(kk);
        if let Some(&first) = idx.get((rng.uniform() * idx.len() as f64) as usize) {
            centres.push(rows[first].iter().map(|&x| f64::from(x)).collect());
        }
        let mut nearest: Vec<f64> = idx.iter().map(|&i| dist2(rows[i], &centres[0])).collect();
        while centres.len() < kk {
            let total: f64 = nearest.iter().sum();
            if total <= 0.0 {
                break;
            }
            let mut u = rng.uniform() * total;
            let pick = nearest
                .iter()
                .position(|&w| {
                    u -= w;
                    u < 0.0
                })
                .unwrap_or(idx.len() - 1);
            let c: Vec<f64> = rows[idx[pick]].iter().map(|&x| f64::from(x)).collect();
            for (w, &i) in nearest.iter_mut().zip(&idx) {
                *w = w.min(dist2(rows[i], &c));
            }
            centres.push(c);
        }
        let mut assign = vec![usize::MAX; idx.len()];
        for _ in 0..100 {
            let mut changed = false;
            for (a, &i) in assign.iter_mut().zip(&idx) {
                let best = (0..centres.len())
                    .map(|j| (j, dist2(rows[i], &centres[j])))
                    .fold((0, f64::INFINITY), |b, x| if x.1 < b.1 { x } else { b })
                    .0;
                changed |= *a != best;
                *a = best;
            }
            if !changed {
                break;
            }
            let mut sums = vec![vec![0.0f64; dim]; centres.len()];
            let mut counts = vec![0usize; centres.len()];
            for (&a, &i) in assign.iter().zip(&idx) {
                counts[a] += 1;
                sums[a]
                    .iter_mut()
                    .zip(rows[i])
                    .for_each(|(s, &x)| *s += f64::from(x));
            }
            for ((c, s), &m) in centres.iter_mut().zip(sums).zip(&counts) {
                // An emptied cluster keeps its centre (and ends with no component).
                if m > 0 {
                    *c = s.into_iter().map(|x| x / m as f64).collect();
                }
            }
        }
        for (&a, &i) in assign.iter().zip(&idx) {
            group[i] = first_group + a;
        }
        first_group += kk;
    }
    group
}

impl Prior {
    /// Fits each domain's prior to `vs[d]` (row-major, `dim` values per
    /// image) and the images' cells `cells[d]` (empty: unlabelled, one
    /// component). The within-cell covariance S is shrunk to
    /// (1 − λ)·S + λ·(tr S / dim)·I.
    pub fn fit(vs: &[Vec<f32>], cells: &[Vec<usize>], dim: usize) -> Result<Prior> {
        Prior::fit_with(vs, cells, dim, &PriorOptions::default())
    }

    /// [`Prior::fit`] with the cells split into clusters and the components
    /// narrowed as `opts` says.
    pub fn fit_with(
        vs: &[Vec<f32>],
        cells: &[Vec<usize>],
        dim: usize,
        opts: &PriorOptions,
    ) -> Result<Prior> {
        opts.validate()?;
        let mut means = Vec::with_capacity(vs.len());
        let mut factors = Vec::with_capacity(vs.len());
        let mut components = Vec::with_capacity(vs.len());
        for (d, flat) in vs.iter().enumerate() {
            let n = flat.len() / dim.max(1);
            if dim == 0 || flat.len() != n * dim || n < 2 {
                return Err(Error::InvalidArgument(format!(
                    "domain {d}: need at least 2 latents of {dim} values to fit its Gaussian"
                )));
            }
            let cell: Vec<usize> = match cells.get(d) {
                Some(c) if !c.is_empty() => {
                    if c.len() != n {
                        return Err(Error::InvalidArgument(format!(
                            "domain {d}: {} cell labels for {n} latents",
                            c.len()
                        )));
                    }
                    c.clone()
                }
                _ => vec![0; n],
            };
            let cell = sub_cluster(flat, dim, &cell, opts.cluster_size, opts.seed, d);
            let groups = cell.iter().max().map_or(1, |m| m + 1);
            let mut count = vec![0usize; groups];
            let mut group_mean = vec![vec![0.0; dim]; groups];
            for (v, &g) in flat.chunks_exact(dim).zip(&cell) {
                count[g] += 1;
                group_mean[g]
                    .iter_mut()
                    .zip(v)
                    .for_each(|(m, &x)| *m += f64::from(x));
            }
            for (m, &c) in group_mean.iter_mut().zip(&count) {
                m.iter_mut().for_each(|x| *x /= c.max(1) as f64);
            }
            let mean: Vec<f64> = (0..dim)
                .map(|j| {
                    group_mean
                        .iter()
                        .zip(&count)
                        .map(|(m, &c)| m[j] * c as f64)
                        .sum::<f64>()
                        / n as f64
                })
                .collect();
            let mut cov = vec![0.0; dim * dim];
            let mut centred = vec![0.0; dim];
            for (v, &g) in flat.chunks_exact(dim).zip(&cell) {
                centred
                    .iter_mut()
                    .zip(v.iter().zip(&group_mean[g]))
                    .for_each(|(c, (&x, m))| *c = f64::from(x) - m);
                for i in 0..dim {
                    let ci = centred[i];
                    let r = &mut cov[i * dim..i * dim + i + 1];
                    r.iter_mut()
                        .zip(&centred[..=i])
                        .for_each(|(s, cj)| *s += ci * cj);
                }
            }
            let used = count.iter().filter(|&&c| c > 0).count();
            let dof = n.saturating_sub(used).max(1) as f64;
            let trace = (0..dim).map(|i| cov[i * dim + i]).sum::<f64>() / dof;
            let spread2 = opts.spread * opts.spread;
            let floor = spread2 * SHRINKAGE * trace / dim as f64;
            for i in 0..dim {
                for j in 0..=i {
                    let s = spread2 * (1.0 - SHRINKAGE) * cov[i * dim + j] / dof;
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
            // Component means in the whitened space; empty cells get no component.
            let comps: Vec<Component> = group_mean
                .iter()
                .zip(&count)
                .filter(|(_, &c)| c > 0)
                .map(|(m, &c)| Component {
                    weight: c as f64 / n as f64,
                    mean: solve_lower(&packed, dim, m, &mean),
                })
                .collect();
            if comps.len() > MAX_COMPONENTS {
                return Err(Error::InvalidArgument(format!(
                    "domain {d}: {} prior components (at most {MAX_COMPONENTS}); use a larger cluster size",
                    comps.len()
                )));
            }
            means.push(mean);
            factors.push(packed);
            components.push(comps);
        }
        Ok(Prior {
            dim,
            means,
            factors,
            components,
        })
    }

    /// The mixture components of domain `d`.
    pub fn components(&self, d: usize) -> &[Component] {
        &self.components[d]
    }

    pub fn domains(&self) -> usize {
        self.means.len()
    }

    /// ε = L⁻¹(v − μ) for domain `d`.
    pub fn whiten(&self, d: usize, v: &[f32]) -> Vec<f32> {
        let v: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
        solve_lower(&self.factors[d], self.dim, &v, &self.means[d])
            .into_iter()
            .map(|x| x as f32)
            .collect()
    }

    /// v = μ + L ε for domain `d`.
    pub fn colour(&self, d: usize, e: &[f32]) -> Vec<f32> {
        let (mu, l) = (&self.means[d], &self.factors[d]);
        let e: Vec<f64> = e.iter().map(|&x| f64::from(x)).collect();
        (0..self.dim)
            .map(|i| (mu[i] + linalg::dot(&l[row(i)..row(i) + i + 1], &e[..=i])) as f32)
            .collect()
    }

    /// The safetensors bytes, f32: `mean` (domains × dim), `scale_tril`
    /// (domains × dim(dim+1)/2, L packed by rows), `component_mean` (domains ×
    /// C × dim) and `component_weight` (domains × C), C the most components of
    /// any domain (unused slots have weight 0).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let le = |vals: &mut dyn Iterator<Item = f64>| -> Vec<u8> {
            vals.flat_map(|x| (x as f32).to_le_bytes()).collect()
        };
        let (k, dim) = (self.domains(), self.dim);
        let c = self.components.iter().map(Vec::len).max().unwrap_or(1);
        let slot = |d: usize, i: usize| self.components[d].get(i);
        let mean = le(&mut self.means.iter().flatten().copied());
        let tril = le(&mut self.factors.iter().flatten().copied());
        let cmean = le(&mut (0..k).flat_map(|d| {
            (0..c).flat_map(move |i| {
                (0..dim).map(move |j| slot(d, i).map_or(0.0, |comp| comp.mean[j]))
            })
        }));
        let cweight = le(&mut (0..k)
            .flat_map(|d| (0..c).map(move |i| slot(d, i).map_or(0.0, |comp| comp.weight))));
        let views = [
            ("mean", vec![k, dim], &mean),
            ("scale_tril", vec![k, packed_len(dim)], &tril),
            ("component_mean", vec![k, c, dim], &cmean),
            ("component_weight", vec![k, c], &cweight),
        ];
        let views: Vec<(&str, TensorView<'_>)> = views
            .into_iter()
            .map(|(n, shape, data)| TensorView::new(Dtype::F32, shape, data).map(|v| (n, v)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Internal(e.to_string()))?;
        safetensors::serialize(views, None).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Reads and validates a prior of `domains` × `dim` from `bytes` (read from `path`).
    pub fn from_bytes(bytes: &[u8], domains: usize, dim: usize, path: &Path) -> Result<Prior> {
        let bad = |why: String| Error::Model(format!("{}: {why}", path.display()));
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let c = st
            .tensor("component_weight")
            .map_err(|_| bad("no tensor 'component_weight'".into()))?
            .shape()
            .get(1)
            .copied()
            .unwrap_or(0);
        if !(1..=MAX_COMPONENTS).contains(&c) {
            return Err(bad(format!(
                "{c} mixture components; expected 1 … {MAX_COMPONENTS}"
            )));
        }
        let mut tensors: HashMap<&str, Vec<f64>> = HashMap::new();
        for (name, shape) in [
            ("mean", vec![domains, dim]),
            ("scale_tril", vec![domains, packed_len(dim)]),
            ("component_mean", vec![domains, c, dim]),
            ("component_weight", vec![domains, c]),
        ] {
            let view = st
                .tensor(name)
                .map_err(|_| bad(format!("no tensor '{name}'")))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
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
            tensors.insert(name, vals);
        }
        if st.len() != 4 {
            return Err(bad(format!(
                "{} tensors; a prior holds exactly mean, scale_tril, component_mean and component_weight",
                st.len()
            )));
        }
        let split = |v: &[f64], n: usize| -> Vec<Vec<f64>> {
            v.chunks_exact(n).map(<[f64]>::to_vec).collect()
        };
        let cmeans = split(&tensors["component_mean"], dim);
        let weights = &tensors["component_weight"];
        let mut components = Vec::with_capacity(domains);
        for d in 0..domains {
            let w = &weights[d * c..(d + 1) * c];
            let total: f64 = w.iter().sum();
            if w.iter().any(|&x| x < 0.0) || (total - 1.0).abs() > 1e-4 {
                return Err(bad(format!(
                    "domain {d}: component weights {w:?} are not a distribution"
                )));
            }
            components.push(
                (0..c)
                    .filter(|&i| w[i] > 0.0)
                    .map(|i| Component {
                        weight: w[i] / total,
                        mean: cmeans[d * c + i].clone(),
                    })
                    .collect(),
            );
        }
        let prior = Prior {
            dim,
            means: split(&tensors["mean"], dim),
            factors: split(&tensors["scale_tril"], packed_len(dim)),
            components,
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
        let prior = Prior::fit(std::slice::from_ref(&flat), &[], dim).unwrap();
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

    /// Two labelled clusters with identity covariance: one component each,
    /// weighted by its share, at its whitened offset from the overall mean.
    #[test]
    fn labelled_clusters_become_components() {
        let n = 10_000;
        let mut r = StreamRng::new(3, b"prior-test", 0);
        let cells: Vec<usize> = (0..n).map(|i| usize::from(i % 10 >= 3)).collect();
        let flat: Vec<f32> = cells
            .iter()
            .flat_map(|&c| {
                let x = if c == 0 { -3.0 } else { 1.0 };
                [(x + r.normal()) as f32, r.normal() as f32]
            })
            .collect();
        let prior = Prior::fit(&[flat], &[cells], 2).unwrap();
        let comps = prior.components(0);
        assert_eq!(comps.len(), 2);
        // Overall mean −0.2; within-cell covariance I (the shrinkage target is I too).
        for (comp, (share, offset)) in comps.iter().zip([(0.3, -2.8), (0.7, 1.2)]) {
            assert!((comp.weight - share).abs() < 1e-12);
            // SE of a cluster mean ≤ 1/√3000 = 0.018; allow 4 SE.
            assert!((comp.mean[0] - offset).abs() < 0.075, "{:?}", comp.mean);
            assert!(comp.mean[1].abs() < 0.075, "{:?}", comp.mean);
        }
    }

    /// One unlabelled cell made of two separate unit blobs: split into two
    /// clusters it becomes two components with the blobs' shares and whitened
    /// offsets (the covariance pooled within the blobs is I); one cluster per
    /// cell gives one component with the blobs' spread in its covariance.
    /// The split is deterministic for a seed.
    #[test]
    fn clusters_split_a_cell_into_its_blobs() {
        let n = 6000;
        let mut r = StreamRng::new(4, b"prior-test", 0);
        let blob: Vec<bool> = (0..n).map(|i| i % 4 == 0).collect();
        let flat: Vec<f32> = blob
            .iter()
            .flat_map(|&b| {
                let x = if b { 6.0 } else { -2.0 };
                [(x + r.normal()) as f32, r.normal() as f32]
            })
            .collect();
        let opts = |cluster_size, spread| PriorOptions {
            cluster_size,
            spread,
            seed: 9,
        };
        let split = Prior::fit_with(std::slice::from_ref(&flat), &[], 2, &opts(3000, 1.0)).unwrap();
        let mut comps = split.components(0).to_vec();
        comps.sort_by(|a, b| a.weight.total_cmp(&b.weight));
        assert_eq!(comps.len(), 2);
        // Overall mean 0; blob means +6 (25 %) and −2 (75 %), SE ≤ 1/√1500.
        for (comp, (share, offset)) in comps.iter().zip([(0.25, 6.0), (0.75, -2.0)]) {
            assert!((comp.weight - share).abs() < 0.01, "{comp:?}");
            assert!((comp.mean[0] - offset).abs() < 0.1, "{:?}", comp.mean);
            assert!(comp.mean[1].abs() < 0.1, "{:?}", comp.mean);
        }
        let again = Prior::fit_with(std::slice::from_ref(&flat), &[], 2, &opts(3000, 1.0)).unwrap();
        assert_eq!(split, again);
        // Half the spread: the same components, twice as far apart in units of their width.
        let narrow =
            Prior::fit_with(std::slice::from_ref(&flat), &[], 2, &opts(3000, 0.5)).unwrap();
        for (a, b) in narrow.components(0).iter().zip(split.components(0)) {
            assert!((a.weight - b.weight).abs() < 1e-12);
            assert!(a
                .mean
                .iter()
                .zip(&b.mean)
                .all(|(x, y)| (x - 2.0 * y).abs() < 1e-9));
        }
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            assert!(
                Prior::fit_with(std::slice::from_ref(&flat), &[], 2, &opts(3000, bad)).is_err()
            );
        }
        assert!(Prior::fit_with(std::slice::from_ref(&flat), &[], 2, &opts(1, 1.0)).is_err());
        // Unsplit, the x variance includes the blobs' spread (0.25 · 0.75 · 8² + 1 = 13; the 5 % shrinkage moves it by < 0.3),
        // so the lone component sits at 0 and x whitens by ≈ √13.
        let whole = Prior::fit_with(&[flat], &[], 2, &opts(6000, 1.0)).unwrap();
        assert_eq!(whole.components(0).len(), 1);
        let e = whole.whiten(0, &[6.0, 0.0]);
        assert!((e[0] - 6.0 / 13f32.sqrt()).abs() < 0.1, "{e:?}");
    }

    #[test]
    fn bytes_round_trip_and_bad_files_are_refused() {
        let mut r = StreamRng::new(2, b"prior-test", 0);
        let flat: Vec<f32> = (0..400).map(|_| r.normal() as f32).collect();
        let cells: Vec<usize> = (0..100).map(|i| i % 3).collect();
        let prior = Prior::fit(&[flat.clone(), flat], &[cells, vec![]], 4).unwrap();
        let bytes = prior.to_bytes().unwrap();
        let p = Path::new("prior.safetensors");
        let back = Prior::from_bytes(&bytes, 2, 4, p).unwrap();
        assert_eq!(back.components(0).len(), 3);
        assert_eq!(back.components(1).len(), 1);
        for (a, b) in back.components(0).iter().zip(prior.components(0)) {
            assert!((a.weight - b.weight).abs() < 1e-6);
            assert!(a
                .mean
                .iter()
                .zip(&b.mean)
                .all(|(x, y)| (x - y).abs() < 1e-5));
        }
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
