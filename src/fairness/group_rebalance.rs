//! Rebalance over label-free groups (docs/fairness.md §8): bring a batch to
//! exact counts per group with the fewest edits, then the smallest.
//!
//! Each item sits in its group's component c that explains it best,
//! ε = m_c + r. Moving it to group h carries it to a component c′ of h:
//! ε′ = m_c′ + r, i.e. Δε = m_c′ − m_c. Components are N(m, I), so this
//! keeps the item's own residual (what makes it this picture rather than the
//! component's average) and puts it where h's own pictures lie, instead of on
//! the boundary between the groups, where the decoder has seen nothing. Of
//! h's components the nearest one whose move the group posterior reads as h
//! is taken (cost ‖Δε‖²); which items move is the min-cost assignment shared
//! with the cell Rebalance.

use rayon::prelude::*;

use super::groups::{most_probable, most_probable_of, posterior_of_logs, Groups};
use super::mixture::Component;
use super::rebalance::{choose_moves, EditMode, RebalancePlan, PLAN_VERSION};
use crate::error::{Error, Result};

/// Plans the rebalance of a batch with whitened points `es` to exactly
/// `target_counts` items per group.
pub fn plan(
    es: &[Vec<f32>],
    components: &[Component],
    groups: &Groups,
    target_counts: &[u64],
) -> Result<RebalancePlan> {
    groups.check(components).map_err(|why| {
        Error::InvalidArgument(format!("the groups do not fit the components: {why}"))
    })?;
    let (group, component): (Vec<usize>, Vec<usize>) = es
        .par_iter()
        .enumerate()
        .map(|(i, e)| {
            locate(components, groups, e).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "item {i}'s latent is not finite (or not {} long), so it falls in no group",
                    components.first().map_or(0, |c| c.mean.len())
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let k = groups.shares.len();
    let (counts_before, moves) = choose_moves(&group, k, target_counts, |i, h| {
        move_to_group(&es[i], component[i], h, components, groups)
    })?;
    let edits = moves
        .into_iter()
        .map(|m| m.into_edit(|de| (Vec::new(), Vec::new(), de)))
        .collect();
    Ok(RebalancePlan {
        version: PLAN_VERSION,
        mode: EditMode::Transport,
        margin: 0.0,
        n_items: es.len(),
        counts_before,
        counts_after: target_counts.to_vec(),
        edits,
        groups: Some((0..k).map(|g| groups.name(g)).collect()),
        context: None,
    })
}

/// The most probable group of `e` ([`most_probable`]) and the component of
/// that group that explains `e` best (the lowest index on a tie); `None` for a
/// non-finite or wrongly sized `e`.
fn locate(components: &[Component], groups: &Groups, e: &[f32]) -> Option<(usize, usize)> {
    if e.iter().any(|x| !x.is_finite()) || components.iter().any(|c| c.mean.len() != e.len()) {
        return None;
    }
    let logs: Vec<f64> = components.iter().map(|c| c.log_density(e)).collect();
    let g = most_probable_of(&posterior_of_logs(&logs, groups))?;
    let c = (0..components.len())
        .filter(|&c| groups.of_component[c] == g)
        .max_by(|&a, &b| logs[a].total_cmp(&logs[b]).then(b.cmp(&a)))?;
    Some((g, c))
}

/// Δε = m_c′ − m_c to the nearest component c′ of group `h` after which `e`
/// reads as `h`, and its cost ‖Δε‖²; `None` if no component of h does.
fn move_to_group(
    e: &[f32],
    from: usize,
    h: usize,
    components: &[Component],
    groups: &Groups,
) -> Option<(Vec<f64>, f64)> {
    let m = &components[from].mean;
    let mut candidates: Vec<(f64, usize)> = (0..components.len())
        .filter(|&c| groups.of_component[c] == h)
        .map(|c| {
            let d2 = components[c]
                .mean
                .iter()
                .zip(m)
                .map(|(a, b)| (a - b).powi(2))
                .sum();
            (d2, c)
        })
        .collect();
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    candidates.into_iter().find_map(|(cost, c)| {
        let delta: Vec<f64> = components[c]
            .mean
            .iter()
            .zip(m)
            .map(|(a, b)| a - b)
            .collect();
        let moved: Vec<f32> = e
            .iter()
            .zip(&delta)
            .map(|(&x, d)| (f64::from(x) + d) as f32)
            .collect();
        (most_probable(components, groups, &moved) == Some(h)).then_some((delta, cost))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fairness::groups::{discover, GroupCount};
    use crate::rng::StreamRng;

    /// Three clusters of components in 6 dimensions along the first axis;
    /// items drawn from the mixture, 60 / 30 / 10.
    fn world(n: usize, seed: u64) -> (Vec<Component>, Groups, Vec<Vec<f32>>) {
        let mut r = StreamRng::new(seed, b"group-rebalance-test", 0);
        let centres = [6.0, 0.0, -6.0];
        let weights = [0.6, 0.3, 0.1];
        let comps: Vec<Component> = (0..15)
            .map(|i| Component {
                weight: weights[i % 3] / 5.0,
                mean: (0..6)
                    .map(|d| {
                        if d == 0 {
                            centres[i % 3]
                        } else {
                            0.5 * r.normal()
                        }
                    })
                    .collect(),
            })
            .collect();
        let groups = discover(&comps, GroupCount::Fixed(3), 1).unwrap();
        let es = (0..n)
            .map(|_| {
                let u = r.uniform();
                let mut acc = 0.0;
                let c = comps
                    .iter()
                    .position(|c| {
                        acc += c.weight;
                        u < acc
                    })
                    .unwrap_or(comps.len() - 1);
                comps[c]
                    .mean
                    .iter()
                    .map(|m| (m + r.normal()) as f32)
                    .collect()
            })
            .collect();
        (comps, groups, es)
    }

    #[test]
    fn edited_batch_has_the_target_counts_with_the_fewest_edits() {
        let (comps, groups, es) = world(300, 2);
        let before: Vec<usize> = es
            .iter()
            .map(|e| most_probable(&comps, &groups, e).unwrap())
            .collect();
        let target = [100u64, 100, 100];
        let plan = plan(&es, &comps, &groups, &target).unwrap();
        // Fewest: exactly the surplus moves.
        let surplus: u64 = (0..3)
            .map(|g| {
                let n = before.iter().filter(|&&b| b == g).count() as u64;
                n.saturating_sub(target[g])
            })
            .sum();
        assert_eq!(plan.edits.len() as u64, surplus);
        assert!(surplus > 50, "the world should be imbalanced: {surplus}");
        // Applying the plan gives exactly the target counts.
        let mut after = vec![0u64; 3];
        for (i, e) in es.iter().enumerate() {
            let mut e = e.clone();
            if let Some(edit) = plan.edit_for(i) {
                assert_eq!(edit.from, before[i]);
                edit.apply(&mut e, None).unwrap();
            }
            after[most_probable(&comps, &groups, &e).unwrap()] += 1;
        }
        assert_eq!(after, target);
        // The plan survives its JSON form.
        let json = plan.to_json().unwrap();
        let mut with_context = plan.clone();
        with_context.context = Some(super::super::rebalance::PlanContext {
            weights_sha256: "ab".into(),
            domain: "photo".into(),
            attributes: Vec::new(),
        });
        assert!(RebalancePlan::from_json(&json).is_ok());
        let back = RebalancePlan::from_json(&with_context.to_json().unwrap()).unwrap();
        assert_eq!(back, with_context);
        back.check_context("ab", "photo", &["warm".into()]).unwrap();
    }

    #[test]
    fn each_edit_is_the_cheapest_component_move_and_keeps_the_residual() {
        let (comps, groups, es) = world(200, 3);
        let plan = plan(&es, &comps, &groups, &[20, 90, 90]).unwrap();
        assert!(!plan.edits.is_empty());
        for edit in &plan.edits {
            let e = &es[edit.item];
            let (g, c) = locate(&comps, &groups, e).unwrap();
            assert_eq!(g, edit.from);
            // Δε is the difference of two component means, c's and one of
            // the target group's; no cheaper component of it reads as `to`.
            let to: Vec<usize> = (0..comps.len())
                .filter(|&k| groups.of_component[k] == edit.to)
                .collect();
            let used = to
                .iter()
                .copied()
                .find(|&k| {
                    comps[k]
                        .mean
                        .iter()
                        .zip(&comps[c].mean)
                        .zip(&edit.delta_e)
                        .all(|((a, b), d)| (a - b - d).abs() < 1e-12)
                })
                .expect("Δε is a difference of component means");
            let cost = |k: usize| -> f64 {
                comps[k]
                    .mean
                    .iter()
                    .zip(&comps[c].mean)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum()
            };
            assert!((edit.cost - cost(used)).abs() < 1e-9);
            for &k in &to {
                if cost(k) < cost(used) - 1e-12 {
                    let moved: Vec<f32> = e
                        .iter()
                        .zip(comps[k].mean.iter().zip(&comps[c].mean))
                        .map(|(&x, (a, b))| (f64::from(x) + a - b) as f32)
                        .collect();
                    assert_ne!(most_probable(&comps, &groups, &moved), Some(edit.to));
                }
            }
        }
    }

    #[test]
    fn a_batch_already_on_target_is_left_alone_and_bad_input_is_refused() {
        let (comps, groups, es) = world(100, 4);
        let before: Vec<u64> = (0..3)
            .map(|g| {
                es.iter()
                    .filter(|e| most_probable(&comps, &groups, e) == Some(g))
                    .count() as u64
            })
            .collect();
        assert!(plan(&es, &comps, &groups, &before)
            .unwrap()
            .edits
            .is_empty());
        assert!(plan(&es, &comps, &groups, &[50, 50]).is_err());
        assert!(plan(&es, &comps, &groups, &[50, 50, 1]).is_err());
        let mut bad = es.clone();
        bad[7][2] = f32::NAN;
        let err = plan(&bad, &comps, &groups, &before).unwrap_err();
        assert!(err.to_string().contains("item 7"), "{err}");
    }
}
