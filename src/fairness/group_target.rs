//! Target mixes over a domain's label-free groups, written the way artists
//! write attribute shares (docs/fairness.md §8), so the Fair Sampler node,
//! `equifx sample --groups` and `equifx rebalance --groups` read one syntax:
//!
//! - `uniform`: every group equally often;
//! - `NAME=SHARE, …` with the groups' names (`group 0`, … until someone names
//!   them; `*` for every group not named; `natural` for its training share);
//! - `S0,S1,…`: one share per group, in group order.
//!
//! Groups left natural split what the fixed ones leave in proportion to their
//! training shares. When every group has a fixed share the shares are
//! normalised, so `*=0.5` means "all groups alike" whatever their number.

use super::groups::Groups;
use crate::error::{Error, Result};
use crate::params::AttributeShares;

/// The normalised share of each group that `text` asks for.
pub fn group_target(text: &str, groups: &Groups) -> Result<Vec<f64>> {
    let k = groups.shares.len();
    let bad = |why: String| Error::InvalidArgument(format!("group target '{text}': {why}"));
    let text = text.trim();
    let raw: Vec<f64> = if text.eq_ignore_ascii_case("uniform") {
        vec![1.0; k]
    } else if text.contains('=') {
        let names: Vec<String> = (0..k).map(|g| groups.name(g)).collect();
        let asked = AttributeShares::parse(text)
            .and_then(|s| s.resolve(&names))
            .map_err(|why| bad(why.replace("attribute", "group")))?;
        let fixed: f64 = asked.iter().flatten().sum();
        let natural: f64 = (0..k)
            .filter(|&g| asked[g].is_none())
            .map(|g| groups.shares[g])
            .sum();
        if natural > 0.0 && fixed > 1.0 + 1e-9 {
            return Err(bad(format!(
                "the named groups' shares add up to {fixed}, leaving nothing for the groups \
                 kept natural"
            )));
        }
        let rest = (1.0 - fixed).max(0.0);
        (0..k)
            .map(|g| asked[g].unwrap_or_else(|| rest * groups.shares[g] / natural))
            .collect()
    } else {
        text.split(',')
            .map(|x| {
                x.trim().parse::<f64>().map_err(|_| {
                    bad(format!(
                        "'{x}' is not a share; give `uniform`, NAME=SHARE pairs or {k} shares"
                    ))
                })
            })
            .collect::<Result<_>>()?
    };
    if raw.len() != k {
        return Err(bad(format!(
            "{} shares for {k} groups: give one per group",
            raw.len()
        )));
    }
    if raw.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
        return Err(bad("shares must be finite numbers ≥ 0".into()));
    }
    let total: f64 = raw.iter().sum();
    if total <= 0.0 {
        return Err(bad(
            "every share is 0: at least one group must be drawn".into()
        ));
    }
    Ok(raw.into_iter().map(|s| s / total).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_groups() -> Groups {
        Groups {
            of_component: vec![0, 1, 2],
            shares: vec![0.6, 0.3, 0.1],
            evidence: Vec::new(),
            names: vec!["warm".into(), String::new(), "cool".into()],
        }
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn every_spelling_of_a_mix_resolves_to_normalised_shares() {
        let g = three_groups();
        let third = [1.0 / 3.0; 3];
        assert!(close(&group_target("Uniform", &g).unwrap(), &third));
        assert!(close(&group_target("*=0.5", &g).unwrap(), &third));
        assert!(close(&group_target("1, 1, 1", &g).unwrap(), &third));
        assert!(close(
            &group_target("2,1,1", &g).unwrap(),
            &[0.5, 0.25, 0.25]
        ));
        // Named and unnamed groups by name; case does not matter.
        assert!(close(
            &group_target("WARM=0.2, group 1=0.3, cool=0.5", &g).unwrap(),
            &[0.2, 0.3, 0.5]
        ));
        // The groups kept natural split the rest by their training shares 3:1.
        assert!(close(
            &group_target("warm=0.6", &g).unwrap(),
            &[0.6, 0.3, 0.1]
        ));
        assert!(close(
            &group_target("warm=0.2", &g).unwrap(),
            &[0.2, 0.6, 0.2]
        ));
        assert!(close(
            &group_target("warm=natural, *=0.2", &g).unwrap(),
            &[0.6, 0.2, 0.2]
        ));
    }

    #[test]
    fn impossible_mixes_are_refused_with_a_reason() {
        let g = three_groups();
        for (text, says) in [
            ("1,1", "2 shares for 3 groups"),
            ("1,x,1", "'x' is not a share"),
            ("0,0,0", "every share is 0"),
            ("1,-1,1", "≥ 0"),
            ("1,NaN,1", "finite"),
            ("hat=0.5", "unknown group 'hat'"),
            ("warm=0.8, cool=0.7", "add up to 1.5"),
            ("warm=2", "from 0 to 1"),
            ("*=0", "every share is 0"),
        ] {
            let err = group_target(text, &g).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
