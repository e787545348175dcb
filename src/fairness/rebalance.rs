//! Rebalance (docs/fairness.md §5): bring an existing batch to target cell
//! counts with the fewest edits first and then the smallest total edit.
//!
//! Moving item i to cell h changes only the heads whose sign flips, by Δu
//! (zero on every other head, so those scores stay exactly as they were); the
//! latent edit is the minimum-norm Δv = Wᵀ Σ⁻¹ Δu with ‖Δv‖² = Δuᵀ Σ⁻¹ Δu. In
//! **minimal** mode Δu is the smallest (in that norm) that puts each flipped head
//! at least the margin m past its boundary; in **mirror** mode each flipped
//! score is reflected (u → −u, at least m), which keeps the attribute intensity
//! (R21). The batch plan is plain JSON so a per-frame filter can apply it.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::assignment;
use super::cells;
use super::heads::HeadSet;
use super::linalg;
use crate::error::{Error, Result};

/// How a flipped head is moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditMode {
    /// Cross to the margin m: Δu_k = s_k·(m + |u_k|) when Σ = I.
    Minimal,
    /// Reflect: new score s_k·max(|u_k|, m).
    Mirror,
    /// Between label-free groups: carry the item from its mixture component
    /// to the nearest one of the target group, Δε = m_c′ − m_c
    /// ([`super::group_rebalance`]).
    Transport,
}

/// One planned edit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    /// Index of the item (frame) in the batch.
    pub item: usize,
    pub from: usize,
    pub to: usize,
    /// Change of the signed head scores (zero on heads that keep their side).
    pub delta_u: Vec<f64>,
    /// c = Σ⁻¹ Δu: the latent edit is Δv = Wᵀ c.
    pub coeffs: Vec<f64>,
    /// The latent edit itself, for moves between label-free groups (whose
    /// edits are not combinations of the heads); then `delta_u` and `coeffs`
    /// are empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delta_e: Vec<f64>,
    /// ‖Δv‖² = Δuᵀ Σ⁻¹ Δu.
    pub cost: f64,
}

/// The plan for a batch: which items move where, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RebalancePlan {
    pub version: u32,
    pub mode: EditMode,
    pub margin: f64,
    pub n_items: usize,
    pub counts_before: Vec<u64>,
    pub counts_after: Vec<u64>,
    /// Edits sorted by item.
    pub edits: Vec<Edit>,
    /// When the classes are the domain's label-free groups instead of the
    /// heads' cells: the groups' names, in group order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// What the plan was made with, so it is never applied to other latents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<PlanContext>,
}

/// The model, domain and heads a plan's coefficients refer to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanContext {
    pub weights_sha256: String,
    pub domain: String,
    pub attributes: Vec<String>,
}

/// Version of the plan format.
pub const PLAN_VERSION: u32 = 1;

impl RebalancePlan {
    /// The edit of item `item`, if it is edited.
    pub fn edit_for(&self, item: usize) -> Option<&Edit> {
        self.edits
            .binary_search_by_key(&item, |e| e.item)
            .ok()
            .map(|i| &self.edits[i])
    }

    /// Fails unless the plan was made with this model (weights hash), domain
    /// and heads (`attributes`, in order: the coefficients refer to them).
    /// A plan between groups carries its latent edits whole, so the heads do
    /// not matter to it.
    pub fn check_context(
        &self,
        weights_sha256: &str,
        domain: &str,
        attributes: &[String],
    ) -> Result<()> {
        match &self.context {
            Some(c)
                if c.weights_sha256 == weights_sha256
                    && c.domain.eq_ignore_ascii_case(domain)
                    && (self.groups.is_some() || c.attributes == attributes) =>
            {
                Ok(())
            }
            Some(c) => Err(Error::InvalidArgument(format!(
                "the rebalance plan was made for domain '{}' (attributes {}) of model weights {}…, not this one; re-plan with this model",
                c.domain,
                c.attributes.join(", "),
                c.weights_sha256.chars().take(12).collect::<String>()
            ))),
            None => Err(Error::InvalidArgument(
                "the rebalance plan does not say which model it was made with; re-plan with `equifx rebalance`".into(),
            )),
        }
    }

    /// Σ ‖Δv_i‖² over the batch.
    pub fn total_cost(&self) -> f64 {
        self.edits.iter().map(|e| e.cost).sum()
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Internal(format!("serialising plan: {e}")))
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let p: RebalancePlan = serde_json::from_str(text).map_err(|e| {
            Error::InvalidArgument(format!("rebalance plan is not valid JSON: {e}"))
        })?;
        if p.version != PLAN_VERSION {
            return Err(Error::Unsupported(format!(
                "rebalance plan version {} (this build reads {PLAN_VERSION}): re-plan the batch",
                p.version
            )));
        }
        p.validate()?;
        Ok(p)
    }

    /// Refuses a plan that is not what `equifx rebalance` writes: edits out
    /// of order or past the batch, cells outside the heads' 2^K, vectors of
    /// the wrong length, or numbers that are not finite.
    fn validate(&self) -> Result<()> {
        let bad = |what: String| {
            Err(Error::InvalidArgument(format!(
                "rebalance plan: {what}; re-plan the batch with `equifx rebalance`"
            )))
        };
        let Some(context) = &self.context else {
            return Ok(());
        };
        let k = context.attributes.len();
        let n_cells = self.counts_before.len();
        let expected = match &self.groups {
            Some(names) => Some(names.len()).filter(|&g| g > 0),
            None if k == 0 => None,
            None => u32::try_from(k).ok().and_then(|k| 1usize.checked_shl(k)),
        };
        if expected != Some(n_cells) || self.counts_after.len() != n_cells {
            return bad(format!("class counts are not {n_cells} long"));
        }
        if self.groups.is_some() != (self.mode == EditMode::Transport) {
            return bad(format!(
                "a plan in {:?} mode {} groups",
                self.mode,
                if self.groups.is_some() {
                    "between"
                } else {
                    "without"
                }
            ));
        }
        let dim = self.edits.first().map_or(0, |e| e.delta_e.len());
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return bad(format!("margin {} is not a finite number ≥ 0", self.margin));
        }
        for (i, e) in self.edits.iter().enumerate() {
            if e.item >= self.n_items {
                return bad(format!(
                    "edit of item {} in a batch of {}",
                    e.item, self.n_items
                ));
            }
            if i > 0 && self.edits[i - 1].item >= e.item {
                return bad(format!("edits are not sorted by item (item {})", e.item));
            }
            if e.from >= n_cells || e.to >= n_cells {
                return bad(format!(
                    "item {} moves between cells beyond {n_cells}",
                    e.item
                ));
            }
            let sizes = if self.groups.is_some() {
                (0, 0, dim)
            } else {
                (k, k, 0)
            };
            if (e.coeffs.len(), e.delta_u.len(), e.delta_e.len()) != sizes
                || (self.groups.is_some() && dim == 0)
            {
                return bad(format!("item {}'s edit is not {:?} long", e.item, sizes));
            }
            let finite = e
                .coeffs
                .iter()
                .chain(&e.delta_u)
                .chain(&e.delta_e)
                .all(|x| x.is_finite());
            if !finite || !e.cost.is_finite() {
                return bad(format!("item {}'s edit is not finite", e.item));
            }
        }
        Ok(())
    }
}

impl Edit {
    /// Applies the edit to the fairness-space point `e` of its item; an edit
    /// between cells needs the heads it was planned with.
    pub fn apply(&self, e: &mut [f32], heads: Option<&HeadSet>) -> Result<()> {
        if self.delta_e.is_empty() {
            let heads = heads.ok_or_else(|| {
                Error::InvalidArgument(
                    "the plan edits attribute cells, but the domain has no attribute heads".into(),
                )
            })?;
            heads.add_combination(e, &self.coeffs);
            return Ok(());
        }
        if self.delta_e.len() != e.len() {
            return Err(Error::InvalidArgument(format!(
                "the plan's edit of item {} has {} values; this model's latent has {}",
                self.item,
                self.delta_e.len(),
                e.len()
            )));
        }
        for (x, d) in e.iter_mut().zip(&self.delta_e) {
            *x = (f64::from(*x) + d) as f32;
        }
        Ok(())
    }
}

/// The edit (Δu, cost) that moves an item with signed scores `u` into cell `to`.
/// `sigma_inv` is Σ⁻¹ (K×K); only heads whose side differs are moved.
pub fn edit_to_cell(
    u: &[f64],
    to: usize,
    sigma_inv: &[f64],
    mode: EditMode,
    margin: f64,
) -> (Vec<f64>, f64) {
    let k = u.len();
    let from = cells::cell_of(u);
    let flipped: Vec<usize> = (0..k)
        .filter(|&j| cells::has(from, j) != cells::has(to, j))
        .collect();
    let mut du = vec![0.0; k];
    if flipped.is_empty() {
        return (du, 0.0);
    }
    // In y_j = s_j·Δu_j the constraint is y_j ≥ r_j, r_j = m + |u_j| > 0 (minimal).
    let s: Vec<f64> = flipped.iter().map(|&j| cells::sign(to, j)).collect();
    let f = flipped.len();
    let a: Vec<f64> = (0..f * f)
        .map(|x| {
            let (p, q) = (x / f, x % f);
            s[p] * s[q] * sigma_inv[flipped[p] * k + flipped[q]]
        })
        .collect();
    let r: Vec<f64> = flipped.iter().map(|&j| margin + u[j].abs()).collect();
    let y = match mode {
        EditMode::Mirror => flipped
            .iter()
            .map(|&j| u[j].abs() + u[j].abs().max(margin))
            .collect(),
        EditMode::Minimal | EditMode::Transport => min_quadratic_above(&a, f, &r),
    };
    let cost: f64 = (0..f)
        .map(|p| (0..f).map(|q| y[p] * a[p * f + q] * y[q]).sum::<f64>())
        .sum();
    for (p, &j) in flipped.iter().enumerate() {
        du[j] = s[p] * y[p];
    }
    (du, cost)
}

/// argmin yᵀ A y subject to y ≥ r (r > 0, A positive definite, dim ≤ 8): the
/// optimum has some set T of active bounds and solves the free part exactly,
/// so enumerating the 2^f active sets and keeping the cheapest feasible
/// candidate is exact.
fn min_quadratic_above(a: &[f64], f: usize, r: &[f64]) -> Vec<f64> {
    let mut best = (f64::INFINITY, r.to_vec());
    for active in 1u32..(1 << f) {
        let free: Vec<usize> = (0..f).filter(|&p| active & (1 << p) == 0).collect();
        let mut y = r.to_vec();
        if !free.is_empty() {
            let nf = free.len();
            let aff: Vec<f64> = (0..nf * nf)
                .map(|x| a[free[x / nf] * f + free[x % nf]])
                .collect();
            let rhs: Vec<f64> = free
                .iter()
                .map(|&p| {
                    -(0..f)
                        .filter(|q| active & (1 << q) != 0)
                        .map(|q| a[p * f + q] * r[q])
                        .sum::<f64>()
                })
                .collect();
            let Some(sol) = linalg::solve(&aff, nf, &rhs) else {
                continue;
            };
            if free.iter().zip(&sol).any(|(&p, &x)| x < r[p] - 1e-12) {
                continue;
            }
            for (&p, x) in free.iter().zip(sol) {
                y[p] = x.max(r[p]);
            }
        }
        let cost: f64 = (0..f)
            .map(|p| (0..f).map(|q| y[p] * a[p * f + q] * y[q]).sum::<f64>())
            .sum();
        if cost < best.0 {
            best = (cost, y);
        }
    }
    best.1
}

/// Plans the rebalance of a batch whose items have signed scores `scores[i]`
/// (u_i = W v_i + b̃), to exactly `target_counts` items per cell.
pub fn plan(
    scores: &[Vec<f64>],
    sigma_inv: &[f64],
    target_counts: &[u64],
    mode: EditMode,
    margin: f64,
) -> Result<RebalancePlan> {
    let n = scores.len();
    let k = scores.first().map_or(0, Vec::len);
    let nc = cells::n_cells(k);
    if k == 0
        || sigma_inv.len() != k * k
        || scores
            .iter()
            .any(|s| s.len() != k || s.iter().any(|x| !x.is_finite()))
    {
        return Err(Error::InvalidArgument(format!(
            "rebalance needs the same number of finite head scores for every item and a {k}×{k} Σ⁻¹"
        )));
    }
    if mode == EditMode::Transport {
        return Err(Error::InvalidArgument(
            "transport edits move items between label-free groups, not head cells".into(),
        ));
    }
    if !(margin > 0.0 && margin.is_finite()) {
        return Err(Error::InvalidParamValue {
            param: "margin".into(),
            reason: format!("{margin}: edited items need a positive margin past the boundary"),
        });
    }
    let cell: Vec<usize> = scores.iter().map(|s| cells::cell_of(s)).collect();
    let (counts_before, moves) = choose_moves(&cell, nc, target_counts, |i, h| {
        Some(edit_to_cell(&scores[i], h, sigma_inv, mode, margin))
    })?;
    let edits = moves
        .into_iter()
        .map(|m| {
            let coeffs = linalg::mat_vec(sigma_inv, k, &m.edit);
            m.into_edit(|du| (du, coeffs, Vec::new()))
        })
        .collect();
    Ok(RebalancePlan {
        version: PLAN_VERSION,
        mode,
        margin,
        n_items: n,
        counts_before,
        counts_after: target_counts.to_vec(),
        edits,
        groups: None,
        context: None,
    })
}

/// One move [`choose_moves`] picked: `item` goes from class `from` to `to`
/// by `edit`, at `cost`.
pub(crate) struct Move<E> {
    pub item: usize,
    pub from: usize,
    pub to: usize,
    pub edit: E,
    pub cost: f64,
}

impl<E> Move<E> {
    /// The plan's edit of this move; `parts` turns the move's own edit into
    /// (Δu, coefficients, Δε).
    pub fn into_edit(self, parts: impl FnOnce(E) -> (Vec<f64>, Vec<f64>, Vec<f64>)) -> Edit {
        let (delta_u, coeffs, delta_e) = parts(self.edit);
        Edit {
            item: self.item,
            from: self.from,
            to: self.to,
            delta_u,
            coeffs,
            delta_e,
            cost: self.cost,
        }
    }
}

/// Which items of a batch move to which class so that class c ends with
/// exactly `target_counts[c]` items: only the Σ_c max(0, n_c − t_c) surplus
/// items move (the minimum number of edits), and which ones and where to is
/// the min-cost assignment of the surplus classes' items to "stay" (cost 0)
/// or to a deficit class h (`option(i, h)`: the edit and its cost, `None`
/// when item i cannot reach h). Returns the counts before and the moves by item.
pub(crate) fn choose_moves<E: Send>(
    class: &[usize],
    n_classes: usize,
    target_counts: &[u64],
    option: impl Fn(usize, usize) -> Option<(E, f64)> + Sync,
) -> Result<(Vec<u64>, Vec<Move<E>>)> {
    let n = class.len();
    if target_counts.len() != n_classes || target_counts.iter().sum::<u64>() != n as u64 {
        return Err(Error::InvalidParamValue {
            param: "target".into(),
            reason: format!(
                "{} target counts summing to {} for {n} items in {n_classes} classes; counts must cover the batch exactly",
                target_counts.len(),
                target_counts.iter().sum::<u64>()
            ),
        });
    }
    let mut counts_before = vec![0u64; n_classes];
    class.iter().for_each(|&g| counts_before[g] += 1);
    // Bins: "stay in g" for each surplus class g (capacity t_g), then deficit classes h (capacity t_h − n_h).
    let surplus: Vec<usize> = (0..n_classes)
        .filter(|&g| counts_before[g] > target_counts[g])
        .collect();
    let deficit: Vec<usize> = (0..n_classes)
        .filter(|&g| counts_before[g] < target_counts[g])
        .collect();
    let movers: Vec<usize> = (0..n).filter(|&i| surplus.contains(&class[i])).collect();
    let mut caps: Vec<usize> = surplus.iter().map(|&g| target_counts[g] as usize).collect();
    caps.extend(
        deficit
            .iter()
            .map(|&h| (target_counts[h] - counts_before[h]) as usize),
    );
    let mut options: Vec<Vec<Option<(E, f64)>>> = movers
        .par_iter()
        .map(|&i| deficit.iter().map(|&h| option(i, h)).collect())
        .collect();
    let costs: Vec<Vec<f64>> = movers
        .iter()
        .zip(&options)
        .map(|(&i, row)| {
            surplus
                .iter()
                .map(|&g| if g == class[i] { 0.0 } else { f64::INFINITY })
                .chain(
                    row.iter()
                        .map(|o| o.as_ref().map_or(f64::INFINITY, |o| o.1)),
                )
                .collect()
        })
        .collect();
    let bins = assignment::assign(&costs, &caps)?;
    let mut moves = Vec::new();
    for (m, &i) in movers.iter().enumerate() {
        let Some(d) = bins[m].checked_sub(surplus.len()) else {
            continue;
        };
        let (edit, cost) = options[m][d]
            .take()
            .ok_or_else(|| Error::Internal(format!("item {i} assigned to an unreachable class")))?;
        moves.push(Move {
            item: i,
            from: class[i],
            to: deficit[d],
            edit,
            cost,
        });
    }
    Ok((counts_before, moves))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan as `equifx rebalance` writes it: two heads, item 1 moved.
    fn plan_json() -> serde_json::Value {
        serde_json::json!({
            "version": 1, "mode": "minimal", "margin": 0.1, "n_items": 3,
            "counts_before": [1, 1, 1, 0], "counts_after": [1, 1, 0, 1],
            "edits": [{"item": 1, "from": 2, "to": 3, "delta_u": [0.4, 0.0],
                       "coeffs": [0.4, 0.0], "cost": 0.16}],
            "context": {"weights_sha256": "ab", "domain": "photo",
                        "attributes": ["warm", "round"]}
        })
    }

    #[test]
    fn hostile_plans_are_refused_with_a_reason() {
        assert!(RebalancePlan::from_json(&plan_json().to_string()).is_ok());
        type Case = (&'static str, fn(&mut serde_json::Value));
        let cases: [Case; 8] = [
            ("empty coeffs", |p| {
                p["edits"][0]["coeffs"] = serde_json::json!([])
            }),
            ("short coeffs", |p| {
                p["edits"][0]["coeffs"] = serde_json::json!([0.4])
            }),
            ("short delta_u", |p| {
                p["edits"][0]["delta_u"] = serde_json::json!([0.4])
            }),
            ("item past the batch", |p| p["edits"][0]["item"] = 3.into()),
            ("cell past 2^K", |p| p["edits"][0]["to"] = 4.into()),
            ("counts not 2^K", |p| {
                p["counts_after"] = serde_json::json!([1, 1])
            }),
            ("negative margin", |p| p["margin"] = (-1.0).into()),
            ("unsorted edits", |p| {
                let e = p["edits"][0].clone();
                let mut f = e.clone();
                f["item"] = 0.into();
                p["edits"] = serde_json::json!([e, f]);
            }),
        ];
        for (what, break_it) in cases {
            let mut p = plan_json();
            break_it(&mut p);
            let err = RebalancePlan::from_json(&p.to_string())
                .err()
                .unwrap_or_else(|| panic!("{what}: accepted"));
            assert!(matches!(err, Error::InvalidArgument(_)), "{what}: {err}");
        }
    }

    #[test]
    fn a_plan_of_other_heads_or_a_multibyte_hash_is_refused_not_sliced() {
        let mut p = plan_json();
        p["context"]["weights_sha256"] = "aéééééé€".into();
        let plan = RebalancePlan::from_json(&p.to_string()).unwrap();
        let names = ["warm".to_string(), "round".to_string()];
        let err = plan.check_context("ab", "photo", &names).unwrap_err();
        assert!(err.to_string().contains("aéééééé€"), "{err}");
        let plan = RebalancePlan::from_json(&plan_json().to_string()).unwrap();
        plan.check_context("ab", "photo", &names).unwrap();
        let swapped = [names[1].clone(), names[0].clone()];
        assert!(plan.check_context("ab", "photo", &swapped).is_err());
    }

    #[test]
    fn minimal_edit_with_identity_covariance_is_the_closed_form() {
        // Σ = I: Δu_k = s_k·(m + |u_k|) on flipped heads, 0 elsewhere.
        let (du, cost) = edit_to_cell(
            &[-0.3, 0.7],
            0b11,
            &[1.0, 0.0, 0.0, 1.0],
            EditMode::Minimal,
            0.1,
        );
        assert!((du[0] - 0.4).abs() < 1e-12 && du[1] == 0.0);
        assert!((cost - 0.16).abs() < 1e-12);
        let (du, _) = edit_to_cell(
            &[-0.3, 0.7],
            0b01,
            &[1.0, 0.0, 0.0, 1.0],
            EditMode::Mirror,
            0.1,
        );
        assert!((du[0] - 0.6).abs() < 1e-12 && (du[1] + 1.4).abs() < 1e-12);
    }

    #[test]
    fn correlated_two_head_edit_is_the_qp_optimum() {
        // Compare with a fine grid search of yᵀAy over y ≥ r.
        let rho: f64 = 0.6;
        let det = 1.0 - rho * rho;
        let inv = [1.0 / det, -rho / det, -rho / det, 1.0 / det];
        let u = [-0.2, -1.0];
        let (du, cost) = edit_to_cell(&u, 0b11, &inv, EditMode::Minimal, 0.05);
        let mut best = f64::INFINITY;
        for a in 0..400 {
            for b in 0..400 {
                let y = [0.25 + a as f64 * 0.005, 1.05 + b as f64 * 0.005];
                let c = inv[0] * y[0] * y[0] + 2.0 * inv[1] * y[0] * y[1] + inv[3] * y[1] * y[1];
                best = best.min(c);
            }
        }
        assert!(
            cost <= best + 1e-9 && cost > best - 1e-3,
            "qp {cost} grid {best}"
        );
        assert!(du[0] >= 0.25 - 1e-12 && du[1] >= 1.05 - 1e-12);
    }
}
