//! The Fair Sampler with a target mix over label-free groups
//! (docs/fairness.md §8). A batch of n items holds exactly round(n·target_g)
//! items of each group (largest remainder); item i's group is slot π(i) of
//! the sorted counts, π the Fair Sampler's keyed permutation, so an item is
//! the same whether the batch is drawn whole, in chunks or alone. Within its
//! group an item picks a component c with probability ∝ π_c and draws
//! ε ~ N(m_c, I): the group's own law, so diversity inside a group is the
//! model's.

use std::ops::Range;

use rayon::prelude::*;

use super::groups::Groups;
use super::ipf;
use super::mixture::Component;
use super::sampler::Slots;
use crate::error::{Error, Result};
use crate::rng::StreamRng;

/// One generated point of the whitened space and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupItem {
    pub item: u64,
    pub group: usize,
    pub component: usize,
    pub e: Vec<f32>,
}

/// A configured sampler for a batch of `n` items.
#[derive(Clone, Debug)]
pub struct GroupSampler {
    components: Vec<Component>,
    /// Per group, its components and their running weight sums.
    members: Vec<Vec<(usize, f64)>>,
    target: Vec<f64>,
    counts: Vec<u64>,
    n: u64,
    seed: u64,
    slots: Slots,
}

impl GroupSampler {
    /// `target` is one non-negative share per group (normalised here).
    pub fn new(
        components: &[Component],
        groups: &Groups,
        target: &[f64],
        n: u64,
        seed: u64,
    ) -> Result<Self> {
        groups.check(components).map_err(|why| {
            Error::InvalidArgument(format!("the groups do not fit the components: {why}"))
        })?;
        let k = groups.shares.len();
        let total: f64 = target.iter().sum();
        if target.len() != k || target.iter().any(|t| !(t.is_finite() && *t >= 0.0)) || total <= 0.0
        {
            return Err(Error::InvalidArgument(format!(
                "a target of {target:?} for {k} groups: give one non-negative share per group, \
                 not all zero"
            )));
        }
        let target: Vec<f64> = target.iter().map(|t| t / total).collect();
        let mut members = vec![Vec::new(); k];
        for (c, (&g, comp)) in groups.of_component.iter().zip(components).enumerate() {
            let run = members[g].last().map_or(0.0, |&(_, s)| s) + comp.weight;
            members[g].push((c, run));
        }
        let counts = ipf::largest_remainder(&target, n);
        Ok(GroupSampler {
            components: components.to_vec(),
            members,
            target,
            slots: Slots::new(&counts, n, seed),
            counts,
            n,
            seed,
        })
    }

    /// The normalised target shares.
    pub fn target(&self) -> &[f64] {
        &self.target
    }

    /// Items per group in the batch.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The group of item `i` (i < n).
    pub fn group_of_item(&self, i: u64) -> usize {
        self.slots.class_of(i)
    }

    /// Generates item `i` alone.
    pub fn sample_item(&self, i: u64) -> Result<GroupItem> {
        if i >= self.n {
            return Err(Error::InvalidArgument(format!(
                "item {i} requested from a sampler of {} items",
                self.n
            )));
        }
        let group = self.group_of_item(i);
        let mut rng = StreamRng::new(self.seed, b"group-sampler", i);
        let members = &self.members[group];
        let total = members.last().map_or(0.0, |&(_, s)| s);
        let u = rng.uniform() * total;
        let at = members
            .partition_point(|&(_, s)| s <= u)
            .min(members.len() - 1);
        let component = members[at].0;
        let mean = &self.components[component].mean;
        let mut z = vec![0.0f64; mean.len()];
        rng.fill_normals(&mut z);
        Ok(GroupItem {
            item: i,
            group,
            component,
            e: z.iter().zip(mean).map(|(z, m)| (z + m) as f32).collect(),
        })
    }

    /// Items `range` in parallel; identical to [`Self::sample_item`] per item.
    pub fn sample_range(&self, range: Range<u64>) -> Result<Vec<GroupItem>> {
        range.into_par_iter().map(|i| self.sample_item(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fairness::groups::{discover, GroupCount};

    /// Two well-separated clusters of components in 8 dimensions, 70 / 30.
    fn world() -> (Vec<Component>, Groups) {
        let mut r = StreamRng::new(3, b"group-sampler-test", 0);
        let comps: Vec<Component> = (0..20)
            .map(|i| {
                let side = if i % 10 < 7 { 4.0 } else { -4.0 };
                Component {
                    weight: r.range(0.5, 1.5),
                    mean: (0..8)
                        .map(|d| if d == 0 { side } else { 0.3 * r.normal() })
                        .collect(),
                }
            })
            .collect();
        let groups = discover(&comps, GroupCount::Fixed(2), 1).unwrap();
        (comps, groups)
    }

    #[test]
    fn counts_are_exact_and_items_do_not_depend_on_the_chunking() {
        let (comps, groups) = world();
        let s = GroupSampler::new(&comps, &groups, &[1.0, 1.0], 1001, 9).unwrap();
        assert_eq!(s.counts().iter().sum::<u64>(), 1001);
        let items = s.sample_range(0..1001).unwrap();
        for g in 0..2 {
            let got = items.iter().filter(|i| i.group == g).count() as u64;
            assert_eq!(got, s.counts()[g]);
            assert!(got == 500 || got == 501, "{got}");
        }
        for i in [0u64, 17, 500, 1000] {
            assert_eq!(s.sample_item(i).unwrap(), items[i as usize]);
        }
        // Every item's component belongs to its group.
        assert!(items
            .iter()
            .all(|i| groups.of_component[i.component] == i.group));
        // A skewed target: exact too.
        let skew = GroupSampler::new(&comps, &groups, &[0.1, 0.9], 1000, 9).unwrap();
        assert_eq!(skew.counts(), &[100, 900]);
    }

    #[test]
    fn within_a_group_the_components_and_points_follow_the_mixture() {
        let (comps, groups) = world();
        let n = 20_000u64;
        let s = GroupSampler::new(&comps, &groups, &[1.0, 0.0], n, 4).unwrap();
        let items = s.sample_range(0..n).unwrap();
        let mine: Vec<usize> = (0..comps.len())
            .filter(|&c| groups.of_component[c] == 0)
            .collect();
        let w: f64 = mine.iter().map(|&c| comps[c].weight).sum();
        // Pearson's X² of the component picks against π_c / Σ π over the group;
        // at most 13 degrees of freedom here: the 0.999 quantile of χ²₁₃ is 34.5.
        let x2: f64 = mine
            .iter()
            .map(|&c| {
                let expected = n as f64 * comps[c].weight / w;
                let got = items.iter().filter(|i| i.component == c).count() as f64;
                (got - expected).powi(2) / expected
            })
            .sum();
        assert!(mine.len() <= 14, "{} components", mine.len());
        assert!(x2 < 34.5, "component picks X² = {x2}");
        // Points are N(m_c, I) around their component: residuals have mean 0
        // and variance 1 per coordinate (8·n values; 4 standard errors).
        let res: Vec<f64> = items
            .iter()
            .flat_map(|i| {
                i.e.iter()
                    .zip(&comps[i.component].mean)
                    .map(|(&x, m)| f64::from(x) - m)
                    .collect::<Vec<_>>()
            })
            .collect();
        let m = res.len() as f64;
        let mean = res.iter().sum::<f64>() / m;
        let var = res.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m;
        assert!(mean.abs() < 4.0 / m.sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 4.0 * (2.0 / m).sqrt(), "variance {var}");
    }

    #[test]
    fn bad_targets_are_refused() {
        let (comps, groups) = world();
        for bad in [
            vec![1.0],
            vec![1.0, f64::NAN],
            vec![-0.5, 1.5],
            vec![0.0, 0.0],
        ] {
            assert!(
                GroupSampler::new(&comps, &groups, &bad, 10, 0).is_err(),
                "{bad:?}"
            );
        }
        let s = GroupSampler::new(&comps, &groups, &[1.0, 1.0], 10, 0).unwrap();
        assert!(s.sample_item(10).is_err());
    }
}
