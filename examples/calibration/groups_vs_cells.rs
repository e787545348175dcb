//! Label-free groups against the synthetic world's planted cells: for each
//! domain of the shipped bundle, fresh renders at the domain's planted shares
//! in a fairness space whose prior was fitted with the labels withheld
//! (tests/common/label_free.rs); the components are grouped by
//! `equifx::fairness::groups`, each render goes to its most probable group,
//! and the adjusted Rand index compares that with the palette (warm/cool),
//! the shape (round/angular) and their four cells. tests/fairness_groups.rs
//! holds the K = 2 bound at a smaller N.
//!
//! ```text
//! cargo run --release --example groups_vs_cells [N per domain, default 1500]
//! ```

#[path = "../../tests/common/bundle.rs"]
mod bundle;
#[path = "../../tests/common/label_free.rs"]
mod label_free;

use equifx::fairness::groups::{adjusted_rand_index, discover, GroupCount};
use equifx::synth::Style;
use label_free::{assign, label_free};

/// Renders seeds not used to train the shipped bundle.
const SEED: u64 = 7100;

fn main() -> equifx::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1500);
    let world = label_free(n, SEED);
    println!("{n} renders per domain, seed {SEED}, prior fitted without labels");
    println!("| domain | components | K asked → found | group shares | ARI palette | ARI shape | ARI cells | warm share per group |");
    println!("|---|---|---|---|---|---|---|---|");
    for (d, style) in Style::ALL.iter().enumerate() {
        let comps = world.prior.components(d);
        for (label, count) in [
            ("2", GroupCount::Fixed(2)),
            ("4", GroupCount::Fixed(4)),
            ("auto", GroupCount::Auto { max: 6 }),
        ] {
            let groups = discover(comps, count, 1)?;
            let assigned = assign(comps, &groups, &world.points[d]);
            let truth = &world.truth[d];
            let palette: Vec<usize> = truth.iter().map(|t| t.0).collect();
            let shape: Vec<usize> = truth.iter().map(|t| t.1).collect();
            let cells: Vec<usize> = truth.iter().map(|t| 2 * t.0 + t.1).collect();
            let k = groups.shares.len();
            let warm: Vec<String> = (0..k)
                .map(|g| {
                    let members = (0..assigned.len()).filter(|&i| assigned[i] == g);
                    let (all, w) = members.fold((0, 0), |(a, w), i| (a + 1, w + palette[i]));
                    format!("{:.2}", w as f64 / f64::from(all.max(1)))
                })
                .collect();
            let shares: Vec<String> = groups.shares.iter().map(|s| format!("{s:.2}")).collect();
            println!(
                "| {} | {} | {label} → {k} | {} | {:.3} | {:.3} | {:.3} | {} |",
                style.name(),
                comps.len(),
                shares.join(" / "),
                adjusted_rand_index(&assigned, &palette),
                adjusted_rand_index(&assigned, &shape),
                adjusted_rand_index(&assigned, &cells),
                warm.join(" / ")
            );
        }
    }
    Ok(())
}
