//! Minimum-cost assignment of many items to few capacitated bins, the core of
//! Rebalance (docs/fairness.md §5). Items are inserted one at a time and each is
//! routed along a shortest augmenting path (successive shortest paths, as the
//! Hungarian method adds rows); the residual graph is compressed onto the bins:
//! the arc j → j′ costs the cheapest move of an item currently in j to j′, kept
//! in one lazy heap per bin pair. Cost O(N·(B² log N + B³)) for N items and B bins,
//! polynomial and fast for B ≤ 32.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};

/// Relative improvement below which a shorter path is rounding, not real.
const RELAX_TOLERANCE: f64 = 1e-12;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Key(f64);
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Key {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// Assigns every item to a bin so that bin j receives exactly `caps[j]` items
/// and Σ cost(i, bin_i) is minimal. `cost(i, j)` = `f64::INFINITY` forbids the
/// pair. Requires Σ caps = number of items. Returns the bin of each item.
pub fn assign(costs: &[Vec<f64>], caps: &[usize]) -> Result<Vec<usize>> {
    let n = costs.len();
    let b = caps.len();
    if caps.iter().sum::<usize>() != n || costs.iter().any(|c| c.len() != b) {
        return Err(Error::Internal(format!(
            "assignment of {n} items to bins of total capacity {}",
            caps.iter().sum::<usize>()
        )));
    }
    let mut bin_of = vec![usize::MAX; n];
    let mut load = vec![0usize; b];
    // heaps[j * b + j2]: items in j keyed by the cost change of moving them to j2.
    let mut heaps: Vec<BinaryHeap<Reverse<(Key, usize)>>> = vec![BinaryHeap::new(); b * b];
    let push = |heaps: &mut Vec<BinaryHeap<Reverse<(Key, usize)>>>, i: usize, j: usize| {
        for j2 in 0..b {
            if j2 != j && costs[i][j2].is_finite() {
                heaps[j * b + j2].push(Reverse((Key(costs[i][j2] - costs[i][j]), i)));
            }
        }
    };
    let mut arc = vec![(f64::INFINITY, usize::MAX); b * b];
    for i in 0..n {
        // Cheapest valid move per bin pair (drop stale heap tops).
        for j in 0..b {
            for j2 in 0..b {
                let h = &mut heaps[j * b + j2];
                while let Some(Reverse((_, it))) = h.peek() {
                    if bin_of[*it] == j {
                        break;
                    }
                    h.pop();
                }
                arc[j * b + j2] = h
                    .peek()
                    .map_or((f64::INFINITY, usize::MAX), |Reverse((k, it))| (k.0, *it));
            }
        }
        // Bellman–Ford from item i over the bins (no negative cycles: the
        // current assignment is optimal for the items inserted so far).
        let mut dist: Vec<f64> = costs[i].clone();
        let mut pred: Vec<Option<(usize, usize)>> = vec![None; b];
        for _ in 0..b {
            let mut changed = false;
            for j in 0..b {
                if !dist[j].is_finite() {
                    continue;
                }
                for j2 in 0..b {
                    let (c, it) = arc[j * b + j2];
                    // Only a real improvement counts: with tied costs (items of
                    // one mixture component) a cycle of exact cost 0 can sum to
                    // −1e-16 in floating point, and relaxing along it would
                    // never end in a path.
                    let slack = RELAX_TOLERANCE * (1.0 + dist[j2].abs());
                    let better = dist[j2].is_infinite() || dist[j] + c < dist[j2] - slack;
                    if c.is_finite() && better {
                        dist[j2] = dist[j] + c;
                        pred[j2] = Some((j, it));
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let end = (0..b)
            .filter(|&j| load[j] < caps[j] && dist[j].is_finite())
            .min_by(|&x, &y| dist[x].total_cmp(&dist[y]).then(x.cmp(&y)))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "item {i} cannot be placed in any bin with free capacity"
                ))
            })?;
        load[end] += 1;
        let mut j = end;
        let mut guard = 0;
        while let Some((jp, it)) = pred[j] {
            bin_of[it] = j;
            push(&mut heaps, it, j);
            j = jp;
            guard += 1;
            if guard > b {
                return Err(Error::Internal("assignment: cyclic augmenting path".into()));
            }
        }
        bin_of[i] = j;
        push(&mut heaps, i, j);
    }
    Ok(bin_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive optimum over all capacity-respecting assignments.
    fn brute(costs: &[Vec<f64>], caps: &mut [usize], i: usize) -> f64 {
        if i == costs.len() {
            return 0.0;
        }
        let mut best = f64::INFINITY;
        for j in 0..caps.len() {
            if caps[j] > 0 && costs[i][j].is_finite() {
                caps[j] -= 1;
                best = best.min(costs[i][j] + brute(costs, caps, i + 1));
                caps[j] += 1;
            }
        }
        best
    }

    #[test]
    fn matches_exhaustive_search_on_random_small_problems() {
        let mut rng = crate::rng::StreamRng::new(5, b"assignment-test", 0);
        for _ in 0..200 {
            let n = 1 + (rng.next_u64() % 8) as usize;
            let b = 1 + (rng.next_u64() % 4) as usize;
            let costs: Vec<Vec<f64>> = (0..n)
                .map(|_| {
                    (0..b)
                        .map(|_| {
                            if rng.uniform() < 0.15 {
                                f64::INFINITY
                            } else {
                                (rng.uniform() * 10.0).floor()
                            }
                        })
                        .collect()
                })
                .collect();
            let mut caps = vec![0usize; b];
            for _ in 0..n {
                caps[(rng.next_u64() % b as u64) as usize] += 1;
            }
            let best = brute(&costs, &mut caps.clone(), 0);
            match assign(&costs, &caps) {
                Ok(bins) => {
                    let total: f64 = bins.iter().enumerate().map(|(i, &j)| costs[i][j]).sum();
                    for (j, &cap) in caps.iter().enumerate() {
                        assert_eq!(bins.iter().filter(|&&x| x == j).count(), cap);
                    }
                    assert!((total - best).abs() < 1e-9, "got {total}, optimum {best}");
                }
                Err(_) => assert!(best.is_infinite(), "reported infeasible but optimum {best}"),
            }
        }
    }
}
