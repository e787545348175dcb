//! The Fair Sampler (docs/fairness.md §4): exact conditional sampling of
//! p_fair(v) = Σ_g π_g·p(v | cell g) on the Gaussian v-space. Per item, the head
//! coordinates u = W v are drawn from N(0, Σ) truncated to the item's cell, and
//! the rest of v is a fresh N(0, I) draw with its head part replaced:
//! v = v₀ + Wᵀ Σ⁻¹ (u − W v₀). Then W v = u exactly and the orthogonal part is
//! untouched, so diversity inside each cell is the model's own.
//!
//! When the latent law is a mixture Σ_c w_c·N(m_c, I) (a bundle prior with a
//! component per k-means cluster of each labelled cell),
//! p(v | cell g) = Σ_c w_c P_c(g)·N_c(v | g) / P(g): the item first picks
//! component c with probability ∝ w_c·P_c(g), then draws
//! as above around m_c. Still exact, component by component.
//!
//! Frame independence: item i's cell is slot π(i) of the sorted count vector,
//! π a keyed Feistel permutation of 0..N (random access, no shuffle state), and
//! its draws come from `StreamRng::new(seed, b"fair-sampler", i)`. So frame i is
//! identical whether the sequence is rendered whole, in chunks or alone.

use std::ops::Range;

use rayon::prelude::*;

use super::cells;
use super::heads::HeadSet;
use super::ipf::{self, Target};
use super::metadata::{FrameMeta, Sidecar, METADATA_VERSION};
use super::normal;
use crate::error::{Error, Result};
use crate::rng::StreamRng;

/// Below this natural cell probability, K > 1 cells are drawn by Gibbs sweeps
/// instead of rejection (docs/fairness.md §4: "P_g < 10⁻³").
const REJECTION_FLOOR: f64 = 1e-3;
/// Gibbs sweeps per draw from a feasible start (chains are per item, so this is burn-in).
const GIBBS_SWEEPS: usize = 64;
/// Redraws allowed when f32 rounding moves a draw across a boundary.
const MAX_REDRAWS: usize = 64;

/// Sampler options beyond the target.
#[derive(Clone, Copy, Debug, Default)]
pub struct SamplerOptions {
    /// Ambiguity margin m ≥ 0: draw only where |u_k + b̃_k| ≥ m (off by default;
    /// it changes the natural within-cell law).
    pub margin: f64,
}

/// One generated latent and its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct SampledItem {
    pub v: Vec<f32>,
    pub meta: FrameMeta,
}

/// A configured sampler for a sequence of `n` items.
#[derive(Clone, Debug)]
pub struct FairSampler {
    heads: HeadSet,
    target: Vec<f64>,
    natural: Vec<f64>,
    counts: Vec<u64>,
    n: u64,
    seed: u64,
    /// Per component, cell and head: the interval of u_k − shift_c,k.
    bounds: Vec<Vec<Vec<(f64, f64)>>>,
    /// Per component, P_c(g).
    component_natural: Vec<Vec<f64>>,
    /// Per cell g, the running sums of w_c·P_c(g) over the components.
    component_cumulative: Vec<Vec<f64>>,
    slots: Slots,
}

impl FairSampler {
    /// Resolves the target (IPF for marginals), rounds counts and checks that
    /// every cell with items can be sampled.
    pub fn new(
        heads: HeadSet,
        target: &Target,
        n: u64,
        seed: u64,
        opts: SamplerOptions,
    ) -> Result<Self> {
        if !(opts.margin >= 0.0 && opts.margin.is_finite()) {
            return Err(Error::InvalidParamValue {
                param: "margin".into(),
                reason: format!("{} is not a non-negative distance", opts.margin),
            });
        }
        let component_natural: Vec<Vec<f64>> = (0..heads.components().len())
            .map(|c| ipf::component_joint(&heads, c))
            .collect();
        let natural = ipf::mixture_joint(&heads, &component_natural);
        let component_cumulative: Vec<Vec<f64>> = (0..natural.len())
            .map(|g| {
                heads
                    .components()
                    .iter()
                    .zip(&component_natural)
                    .scan(0.0, |acc, (c, p)| {
                        *acc += c.weight * p[g];
                        Some(*acc)
                    })
                    .collect()
            })
            .collect();
        let target = ipf::resolve_on(target, &heads, || natural.clone())?;
        let counts = ipf::largest_remainder(&target, n);
        let k = heads.k();
        let bounds: Vec<Vec<Vec<(f64, f64)>>> = heads
            .components()
            .iter()
            .map(|comp| {
                (0..cells::n_cells(k))
                    .map(|g| {
                        (0..k)
                            .map(|j| {
                                let t = -heads.offsets()[j] - comp.shift[j];
                                if cells::has(g, j) {
                                    (t + opts.margin, f64::INFINITY)
                                } else {
                                    (f64::NEG_INFINITY, t - opts.margin)
                                }
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Ok(FairSampler {
            slots: Slots::new(&counts, n, seed),
            heads,
            target,
            natural,
            counts,
            n,
            seed,
            bounds,
            component_natural,
            component_cumulative,
        })
    }

    pub fn heads(&self) -> &HeadSet {
        &self.heads
    }
    /// The resolved target joint over cells.
    pub fn target(&self) -> &[f64] {
        &self.target
    }
    /// The model's natural joint over cells.
    pub fn natural(&self) -> &[f64] {
        &self.natural
    }
    /// Exact item count per cell.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }
    pub fn len(&self) -> u64 {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The cell of item `i` (i < n).
    pub fn cell_of_item(&self, i: u64) -> usize {
        self.slots.class_of(i)
    }

    /// Generates item `i` alone.
    pub fn sample_item(&self, i: u64) -> Result<SampledItem> {
        self.sample_attempt(i, 0)
    }

    /// Candidate `attempt` for item `i`: attempt 0 is [`Self::sample_item`];
    /// each later one is another independent draw from the same cell, for
    /// a check that turns a candidate down (the item's cell, and so the
    /// block's counts, never change).
    pub fn sample_attempt(&self, i: u64, attempt: u32) -> Result<SampledItem> {
        if i >= self.n {
            return Err(Error::InvalidArgument(format!(
                "item {i} requested from a sampler of {} items",
                self.n
            )));
        }
        let g = self.cell_of_item(i);
        let seed = match attempt {
            0 => self.seed,
            a => StreamRng::new(self.seed, b"fair-sampler-attempt", u64::from(a)).next_u64(),
        };
        let mut rng = StreamRng::new(seed, b"fair-sampler", i);
        let d = self.heads.dim();
        let k = self.heads.k();
        let mut v0 = vec![0.0; d];
        let mut r = vec![0.0; k];
        // A draw within f32 rounding of a boundary could land in the neighbouring
        // cell once v is stored as f32; such (rare) draws are redrawn from the same
        // stream, so the head counts are exact and the item stays deterministic.
        let c = self.pick_component(g, &mut rng);
        let comp = &self.heads.components()[c];
        for _ in 0..MAX_REDRAWS {
            let u = self.draw_u(g, c, &mut rng);
            rng.fill_normals(&mut v0);
            // v = v₀ + Wᵀ Σ⁻¹ (u − W v₀)
            for (j, rj) in r.iter_mut().enumerate() {
                *rj = u[j] - super::linalg::dot(self.heads.row(j), &v0);
            }
            let c = super::linalg::mat_vec(self.heads.sigma_inv(), k, &r);
            for (j, cj) in c.iter().enumerate() {
                let row = self.heads.row(j);
                v0.iter_mut().zip(row).for_each(|(x, w)| *x += cj * w);
            }
            if !comp.mean.is_empty() {
                v0.iter_mut().zip(&comp.mean).for_each(|(x, m)| *x += m);
            }
            let v: Vec<f32> = v0.iter().map(|&x| x as f32).collect();
            if self.heads.cell(&v) == g {
                let scores = u
                    .iter()
                    .zip(self.heads.offsets().iter().zip(&comp.shift))
                    .map(|(a, (b, s))| a + b + s)
                    .collect();
                return Ok(SampledItem {
                    v,
                    meta: FrameMeta {
                        item: i,
                        seed: self.seed,
                        cell: g,
                        scores,
                        group: None,
                        pixel_check: None,
                    },
                });
            }
        }
        Err(Error::Internal(format!(
            "fair sampler: item {i} kept landing outside cell {g}; the cell is too thin for f32 latents (lower the margin or the target of this cell)"
        )))
    }

    /// Generates items `range` in parallel; identical to calling [`Self::sample_item`] per item.
    pub fn sample_range(&self, range: Range<u64>) -> Result<Vec<SampledItem>> {
        range.into_par_iter().map(|i| self.sample_item(i)).collect()
    }

    /// The sidecar for the given frames.
    pub fn sidecar(&self, frames: Vec<FrameMeta>) -> Sidecar {
        Sidecar {
            version: METADATA_VERSION,
            attributes: self.heads.names().to_vec(),
            seed: self.seed,
            target: self.target.clone(),
            counts: self.counts.clone(),
            acceptance: if frames.iter().any(|f| f.pixel_check.is_some()) {
                super::metadata::acceptance(
                    self.counts.len(),
                    frames
                        .iter()
                        .filter_map(|f| f.pixel_check.as_ref().map(|c| (f.cell, c))),
                )
            } else {
                Vec::new()
            },
            frames,
        }
    }

    /// The mixture component of an item of cell g: c with probability
    /// ∝ w_c·P_c(g). No draw is spent when there is one component.
    fn pick_component(&self, g: usize, rng: &mut StreamRng) -> usize {
        let cumulative = &self.component_cumulative[g];
        if cumulative.len() == 1 {
            return 0;
        }
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = rng.uniform() * total;
        let c = cumulative.partition_point(|&s| s <= x);
        // Rounding at the top end: the last component with any mass.
        c.min(cumulative.partition_point(|&s| s < total))
    }

    /// u − shift_c ~ N(0, Σ) truncated to cell g of component c.
    fn draw_u(&self, g: usize, c: usize, rng: &mut StreamRng) -> Vec<f64> {
        let k = self.heads.k();
        let b = &self.bounds[c][g];
        if k == 1 {
            return vec![normal::truncated_quantile(
                b[0].0,
                b[0].1,
                rng.uniform_open(),
            )];
        }
        let inside = |u: &[f64]| u.iter().zip(b).all(|(x, (lo, hi))| *x > *lo && *x < *hi);
        let p = self.component_natural[c][g];
        if p >= REJECTION_FLOOR {
            let l = self.heads.sigma_chol();
            let mut xi = vec![0.0; k];
            let mut u = vec![0.0; k];
            let tries = (100.0 / p).ceil() as usize;
            for _ in 0..tries {
                xi.iter_mut().for_each(|x| *x = rng.normal());
                for i in 0..k {
                    u[i] = (0..=i).map(|j| l[i * k + j] * xi[j]).sum();
                }
                if inside(&u) {
                    return u;
                }
            }
        }
        self.gibbs(b, rng)
    }

    /// Gibbs sweeps with 1-D truncated conditionals, from a feasible start.
    fn gibbs(&self, b: &[(f64, f64)], rng: &mut StreamRng) -> Vec<f64> {
        let k = self.heads.k();
        let lam = self.heads.sigma_inv();
        let mut u: Vec<f64> = b
            .iter()
            .map(|&(lo, hi)| if lo.is_finite() { lo + 0.5 } else { hi - 0.5 })
            .collect();
        for _ in 0..GIBBS_SWEEPS {
            for j in 0..k {
                let lkk = lam[j * k + j];
                let mu = -(0..k)
                    .filter(|&i| i != j)
                    .map(|i| lam[j * k + i] * u[i])
                    .sum::<f64>()
                    / lkk;
                let sd = 1.0 / lkk.sqrt();
                let z = normal::truncated_quantile(
                    (b[j].0 - mu) / sd,
                    (b[j].1 - mu) / sd,
                    rng.uniform_open(),
                );
                u[j] = mu + sd * z;
            }
        }
        u
    }
}

/// The class of each item of a batch of n: the classes' exact counts laid
/// out slot after slot, item i at slot π(i) of a keyed permutation, so any
/// item's class is known without drawing the others.
#[derive(Clone, Debug)]
pub(super) struct Slots {
    /// starts[c] = first slot of class c.
    starts: Vec<u64>,
    perm: Permutation,
}

impl Slots {
    /// `counts` sum to `n`.
    pub(super) fn new(counts: &[u64], n: u64, seed: u64) -> Self {
        let starts = counts
            .iter()
            .scan(0, |acc, c| {
                let s = *acc;
                *acc += c;
                Some(s)
            })
            .collect();
        Slots {
            starts,
            perm: Permutation::new(n, seed),
        }
    }

    /// The class of item `i` (i < n).
    pub(super) fn class_of(&self, i: u64) -> usize {
        let slot = self.perm.apply(i);
        self.starts.partition_point(|&s| s <= slot) - 1
    }
}

/// A keyed bijection of 0..n with O(1) random access: a 6-round balanced
/// Feistel network on the next even power of two, with cycle walking.
#[derive(Clone, Debug)]
struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 6],
}

impl Permutation {
    fn new(n: u64, seed: u64) -> Self {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2);
        let half_bits = bits.div_ceil(2);
        let mut rng = StreamRng::new(seed, b"fair-sampler-permutation", 0);
        let keys = std::array::from_fn(|_| rng.next_u64());
        Permutation { n, half_bits, keys }
    }

    fn apply(&self, i: u64) -> u64 {
        let mut x = i;
        loop {
            x = self.round_trip(x);
            if x < self.n {
                return x;
            }
        }
    }

    fn round_trip(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut l, mut r) = (x >> self.half_bits, x & mask);
        for key in self.keys {
            let f = mix64(r ^ key) & mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half_bits) | r
    }
}

/// SplitMix64's finaliser: a strong 64-bit mixing function for the Feistel rounds.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fairness::AttributeHead;

    /// A mixture of two unit Gaussians, one head along v₁ (present when
    /// v₁ > 0.5), components apart along v₂ ⟂ the head. In each cell the
    /// component shares must be ∝ w_c·P_c(g) and v within a component its
    /// truncated law, so the cell means of v₁ and v₂ have closed forms.
    #[test]
    fn mixture_cells_draw_components_by_their_mass_in_the_cell() {
        let head = AttributeHead {
            name: "a".into(),
            w: vec![1.0, 0.0],
            b: -0.5,
            confusion: None,
        };
        let comps = [(0.3, vec![-1.0, 2.0]), (0.7, vec![1.5, -2.0])];
        let heads = HeadSet::new(&[head], 2)
            .unwrap()
            .with_components(&comps)
            .unwrap();
        let n = 20_000u64;
        let s = FairSampler::new(
            heads,
            &Target::Marginals(vec![Some(0.5)]),
            n,
            11,
            SamplerOptions::default(),
        )
        .unwrap();
        let items = s.sample_range(0..n).unwrap();
        for present in [false, true] {
            let g = usize::from(present);
            // q_c ∝ w_c·P_c(g); E[z | z > a] = φ(a)/Q(a), E[z | z < a] = −φ(a)/Φ(a).
            let a: Vec<f64> = comps.iter().map(|(_, m)| 0.5 - m[0]).collect();
            let mass: Vec<f64> = comps
                .iter()
                .zip(&a)
                .map(|((w, _), &a)| {
                    w * if present {
                        normal::sf(a)
                    } else {
                        normal::cdf(a)
                    }
                })
                .collect();
            let q: Vec<f64> = mass.iter().map(|m| m / mass.iter().sum::<f64>()).collect();
            let tail = |a: f64| {
                if present {
                    normal::pdf(a) / normal::sf(a)
                } else {
                    -normal::pdf(a) / normal::cdf(a)
                }
            };
            let want1: f64 = (0..2).map(|c| q[c] * (comps[c].1[0] + tail(a[c]))).sum();
            let want2: f64 = (0..2).map(|c| q[c] * comps[c].1[1]).sum();
            let var2 =
                1.0 + (0..2).map(|c| q[c] * comps[c].1[1].powi(2)).sum::<f64>() - want2 * want2;
            let in_cell: Vec<&SampledItem> = items.iter().filter(|i| i.meta.cell == g).collect();
            assert_eq!(in_cell.len() as u64, n / 2, "head counts are exact");
            assert!(in_cell.iter().all(|i| (i.v[0] > 0.5) == present));
            let m = in_cell.len() as f64;
            let mean = |j: usize| in_cell.iter().map(|i| f64::from(i.v[j])).sum::<f64>() / m;
            // v₁'s within-cell SD is below 2.2 here; 3.29 SE at α = 10⁻³.
            assert!(
                (mean(0) - want1).abs() < 3.29 * 2.2 / m.sqrt(),
                "cell {g}: E[v₁] {} vs {want1}",
                mean(0)
            );
            assert!(
                (mean(1) - want2).abs() < 3.29 * (var2 / m).sqrt(),
                "cell {g}: E[v₂] {} vs {want2}",
                mean(1)
            );
        }
    }

    #[test]
    fn permutation_is_a_bijection_for_awkward_sizes() {
        for n in [1u64, 2, 3, 7, 100, 1000, 1025] {
            let p = Permutation::new(n, 9);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let j = p.apply(i) as usize;
                assert!(!seen[j], "n {n}: {j} hit twice");
                seen[j] = true;
            }
        }
        // Different seeds give different orders (negative control for the key).
        let a: Vec<u64> = (0..50).map(|i| Permutation::new(50, 1).apply(i)).collect();
        let b: Vec<u64> = (0..50).map(|i| Permutation::new(50, 2).apply(i)).collect();
        assert_ne!(a, b);
    }
}
