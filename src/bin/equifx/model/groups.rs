//! `equifx model groups`: label-free groups of a bundle's prior components
//! per domain, stored in its manifest (docs/fairness.md §8).

use std::path::PathBuf;

use equifx::fairness::groups::{discover, GroupCount};
use equifx::model::bundle::default_bundle_dir;
use equifx::model::Bundle;
use equifx::Error;

/// Largest K `--groups auto` tries.
const AUTO_MAX: usize = 8;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  equifx model groups my_bundle --groups auto\n  \
equifx model groups my_bundle --domain photo --groups 2"
)]
pub struct GroupsArgs {
    /// The bundle folder (default: the shipped bundle). Its manifest.toml is
    /// rewritten with the groups.
    dir: Option<PathBuf>,
    /// The domain to group (repeat; default: every domain).
    #[arg(long)]
    domain: Vec<String>,
    /// How many groups: a number, or `auto` (the largest number up to 8
    /// whose groups are reproducible and tighter than chance; 1 if none).
    #[arg(long, default_value = "auto")]
    groups: String,
    /// Seed of the clustering: the same seed finds the same groups.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: GroupsArgs) -> equifx::Result<()> {
    let count = match args.groups.trim() {
        g if g.eq_ignore_ascii_case("auto") => GroupCount::Auto { max: AUTO_MAX },
        g => GroupCount::Fixed(g.parse().map_err(|_| {
            Error::InvalidArgument(format!(
                "--groups {g}: give a number of groups (1 or more) or `auto`"
            ))
        })?),
    };
    let dir = args.dir.unwrap_or_else(default_bundle_dir);
    let bundle = Bundle::load(&dir, &candle_core::Device::Cpu)?;
    let prior = bundle.prior.as_ref().ok_or_else(|| {
        Error::Model(format!(
            "{} has no prior to group: refit it with `equifx fit-heads`",
            dir.display()
        ))
    })?;
    let mut manifest = bundle.manifest.clone();
    let domains: Vec<String> = if args.domain.is_empty() {
        manifest.domains.clone()
    } else {
        args.domain
            .iter()
            .map(|d| Ok(manifest.domains[manifest.domain_index(d)?].clone()))
            .collect::<equifx::Result<_>>()?
    };
    for name in domains {
        let d = manifest.domain_index(&name)?;
        let groups = discover(prior.components(d), count, args.seed)?;
        let k = groups.shares.len();
        println!(
            "{name}: {k} group{} of {} components",
            if k == 1 { "" } else { "s" },
            groups.of_component.len()
        );
        for (g, share) in groups.shares.iter().enumerate() {
            println!("  group {g}: {:.1} % of the training data", 100.0 * share);
        }
        for e in &groups.evidence {
            println!(
                "  K = {}: stability {:.3}, gap {:.2} reference sd{}",
                e.k,
                e.stability,
                e.gap,
                if e.passes() { " (passes)" } else { "" }
            );
        }
        manifest.groups.insert(name, groups);
    }
    manifest.write(&dir)?;
    println!("groups written to {}", dir.join("manifest.toml").display());
    Ok(())
}
