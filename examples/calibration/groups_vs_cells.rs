//! Label-free groups against the synthetic world's planted cells: for each
//! domain of the shipped bundle, fresh renders at the domain's planted shares
//! in a fairness space whose prior was fitted with the labels withheld
//! (tests/common/label_free.rs); the components are grouped by
//! `equifx::fairness::groups`, each render goes to its most probable group,
//! and the adjusted Rand index compares that with the palette (warm/cool),
//! the shape (round/angular) and their four cells. tests/fairness_groups.rs
//! holds the K = 2 bound at a smaller N. It then says what four groups
//! follow: the share of each scene parameter's variance between them (η²).
//! With a folder as the second argument it also writes the label-free bundle
//! there, to look at with `equifx model group-sheet`.
//!
//! ```text
//! cargo run --release --example groups_vs_cells [N per domain, default 1500] [BUNDLE_DIR]
//! ```

#[path = "../../tests/common/bundle.rs"]
mod bundle;
#[path = "../../tests/common/label_free.rs"]
mod label_free;

use equifx::fairness::groups::{adjusted_rand_index, discover, GroupCount};
use equifx::synth::{Palette, Scene, Shape, Style};
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
    follows(&world)?;
    if let Some(dir) = std::env::args().nth(2) {
        let (bundle, _) = label_free::label_free_bundle(std::path::Path::new(&dir), n, SEED, 2);
        println!(
            "\nthe label-free bundle (two groups a domain): {}",
            bundle.display()
        );
    }
    Ok(())
}

/// What four groups follow: for each scene parameter, the share of its
/// variance between the groups (η², 0 = the groups ignore it, 1 = it is
/// constant inside each group), and each group's mean of the top one.
fn follows(world: &label_free::LabelFree) -> equifx::Result<()> {
    type Param = (&'static str, fn(&Scene) -> f64);
    let params: [Param; 12] = [
        ("warm", |s| f64::from(u8::from(s.palette == Palette::Warm))),
        ("round", |s| f64::from(u8::from(s.shape == Shape::Round))),
        ("size", |s| s.size),
        ("x", |s| s.cx),
        ("y", |s| s.cy),
        ("object value", |s| s.value),
        ("object saturation", |s| s.saturation),
        ("background value", |s| s.bg_value),
        ("background hue (cos)", |s| s.bg_hue.to_radians().cos()),
        ("light (cos)", |s| s.light.cos()),
        ("elongation", |s| s.elongation),
        ("stroke angle (cos 2θ)", |s| (2.0 * s.stroke_angle).cos()),
    ];
    println!(
        "\nWhat K = 4 groups follow (η², the share of a parameter's variance between groups):"
    );
    println!("| domain | {} |", params.map(|p| p.0).join(" | "));
    println!("|---|{}", "---|".repeat(params.len()));
    for (d, style) in Style::ALL.iter().enumerate() {
        let comps = world.prior.components(d);
        let groups = discover(comps, GroupCount::Fixed(4), 1)?;
        let assigned = assign(comps, &groups, &world.points[d]);
        let scenes = &world.scenes[d];
        let eta: Vec<String> = params
            .iter()
            .map(|(_, f)| {
                let x: Vec<f64> = scenes.iter().map(f).collect();
                format!("{:.2}", eta_squared(&x, &assigned, 4))
            })
            .collect();
        println!("| {} | {} |", style.name(), eta.join(" | "));
        for (name, f) in &params[2..] {
            let x: Vec<f64> = scenes.iter().map(f).collect();
            let means: Vec<String> = (0..4)
                .map(|g| {
                    let v: Vec<f64> = (0..x.len())
                        .filter(|&i| assigned[i] == g)
                        .map(|i| x[i])
                        .collect();
                    format!("{:.2}", v.iter().sum::<f64>() / v.len().max(1) as f64)
                })
                .collect();
            eprintln!("{} {name}: group means {}", style.name(), means.join(" / "));
        }
    }
    Ok(())
}

/// Between-group share of the variance of `x` under the labels `g` (< k).
fn eta_squared(x: &[f64], g: &[usize], k: usize) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let total: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
    let between: f64 = (0..k)
        .map(|j| {
            let v: Vec<f64> = (0..x.len()).filter(|&i| g[i] == j).map(|i| x[i]).collect();
            if v.is_empty() {
                return 0.0;
            }
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.len() as f64 * (m - mean).powi(2)
        })
        .sum();
    if total > 0.0 {
        between / total
    } else {
        0.0
    }
}
