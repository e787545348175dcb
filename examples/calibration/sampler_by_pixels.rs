//! The Fair Sampler judged by the pixels: for joint targets over warm × round
//! (25/25/25/25 and 40/10/10/40 in the oracle's cell order) and marginal
//! targets, N pictures a domain from the shipped bundle (or the bundle given),
//! decoded and read by the synthetic world's palette and shape oracles. Per
//! target it prints the oracle's cell shares among readable pictures, the
//! largest deviation from the target in points, KL(oracle ‖ target), the
//! unreadable share, and for marginals the oracle's share of the attribute;
//! on stderr, pictures per second. `EQUIFX_CHECK_TRIES=0` turns the check by
//! the pixels off.
//!
//! ```text
//! cargo run --release --example sampler_by_pixels [N, default 10000] [BUNDLE_DIR]
//! ```

#[path = "../../tests/common/oracle.rs"]
mod oracle;

use equifx::fairness::{FairSampler, HeadSet, SamplerOptions, Target};
use equifx::model::bundle::default_bundle_dir;
use equifx::model::latents::head_set;
use equifx::model::pixel_check::{sample_checked, CheckOptions};
use equifx::model::Bundle;

/// Oracle cells are warm·2 + round: cool-angular, cool-round, warm-angular, warm-round.
const CELLS: [&str; 4] = ["cool-angular", "cool-round", "warm-angular", "warm-round"];

fn main() -> equifx::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::args()
        .nth(2)
        .map_or_else(default_bundle_dir, std::path::PathBuf::from);
    let b = Bundle::load(&dir, &candle_core::Device::Cpu)?;
    println!("{} pictures a target and domain, {}", n, dir.display());
    println!(
        "| domain | target | oracle cells ({}) | largest deviation (points) | KL | unreadable |",
        CELLS.join(" / ")
    );
    println!("|---|---|---|---|---|---|");
    for domain in ["photo", "oil", "anime"] {
        let heads = head_set(&b, domain)?;
        let d = b.manifest.domain_index(domain)?;
        for (name, oracle_target) in [
            ("25/25/25/25", [0.25; 4]),
            ("40/10/10/40", [0.4, 0.1, 0.1, 0.4]),
        ] {
            let joint = to_head_order(&heads, &oracle_target);
            let cells = oracle_cells(&b, d, &heads, &Target::Joint(joint), n)?;
            let readable: usize = cells[..4].iter().sum();
            let shares: Vec<f64> = cells[..4]
                .iter()
                .map(|&c| c as f64 / readable as f64)
                .collect();
            let deviation = shares
                .iter()
                .zip(&oracle_target)
                .map(|(s, t)| (s - t).abs())
                .fold(0.0, f64::max);
            let kl: f64 = shares
                .iter()
                .zip(&oracle_target)
                .filter(|(s, _)| **s > 0.0)
                .map(|(s, t)| s * (s / t).ln())
                .sum();
            let shown: Vec<String> = shares.iter().map(|s| format!("{:.1}", 100.0 * s)).collect();
            println!(
                "| {domain} | {name} | {} | {:.1} | {:.4} | {:.1} % |",
                shown.join(" / "),
                100.0 * deviation,
                kl,
                100.0 * cells[4] as f64 / n as f64
            );
        }
        for (attribute, share) in [("warm", 0.5), ("warm", 0.3), ("round", 0.5)] {
            let mut marginals = vec![None; heads.k()];
            marginals[index(&heads, attribute)] = Some(share);
            let cells = oracle_cells(&b, d, &heads, &Target::Marginals(marginals), n)?;
            let readable: usize = cells[..4].iter().sum();
            let with = if attribute == "warm" {
                cells[2] + cells[3]
            } else {
                cells[1] + cells[3]
            };
            println!(
                "| {domain} | {attribute} {:.0} % | {attribute} by the oracle {:.1} % | {:.1} | | {:.1} % |",
                100.0 * share,
                100.0 * with as f64 / readable as f64,
                100.0 * (with as f64 / readable as f64 - share).abs(),
                100.0 * cells[4] as f64 / n as f64
            );
        }
    }
    Ok(())
}

fn index(heads: &HeadSet, name: &str) -> usize {
    heads
        .names()
        .iter()
        .position(|n| n == name)
        .expect("the shipped bundle's heads are warm and round")
}

/// A joint over the oracle's cells as a joint over the heads' cells.
fn to_head_order(heads: &HeadSet, oracle_target: &[f64; 4]) -> Vec<f64> {
    let (kw, kr) = (index(heads, "warm"), index(heads, "round"));
    (0..1usize << heads.k())
        .map(|g| oracle_target[((g >> kw) & 1) * 2 + ((g >> kr) & 1)])
        .collect()
}

/// The check by the pixels as `EQUIFX_CHECK_TRIES` (0 = off) and
/// `EQUIFX_CHECK_THRESHOLD` set it (default: the sampler's defaults).
fn check_options() -> CheckOptions {
    let default = CheckOptions::default();
    CheckOptions {
        tries: std::env::var("EQUIFX_CHECK_TRIES")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(default.tries),
        threshold: std::env::var("EQUIFX_CHECK_THRESHOLD")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(default.threshold),
    }
}

/// Pictures per oracle cell, and unreadable ones last.
fn oracle_cells(
    b: &Bundle,
    d: usize,
    heads: &HeadSet,
    target: &Target,
    n: u64,
) -> equifx::Result<[usize; 5]> {
    let sampler = FairSampler::new(heads.clone(), target, n, 11, SamplerOptions::default())?;
    let mut cells = [0usize; 5];
    let mut seconds = 0.0;
    for start in (0..n).step_by(1000) {
        let range = start..(start + 1000).min(n);
        let t = std::time::Instant::now();
        let checked = sample_checked(b, &sampler, d, range, check_options())?;
        seconds += t.elapsed().as_secs_f64();
        for c in checked {
            match oracle::oracle(&c.picture) {
                (Some(w), Some(r)) => cells[usize::from(w) * 2 + usize::from(r)] += 1,
                _ => cells[4] += 1,
            }
        }
    }
    eprintln!(
        "{}: {:.0} pictures per second (sampled, decoded{})",
        b.manifest.domains[d],
        n as f64 / seconds,
        if b.reader.is_some() && check_options().tries > 0 {
            " and checked"
        } else {
            ""
        }
    );
    Ok(cells)
}
