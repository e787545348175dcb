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

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  equifx model name-group my_bundle --domain photo 0=warm 1=cool"
)]
pub struct NameArgs {
    /// The bundle folder; its manifest.toml is rewritten with the names.
    dir: PathBuf,
    /// The domain whose groups these are.
    #[arg(long)]
    domain: String,
    /// `GROUP=NAME` (e.g. `2=outdoor`); an empty name unnames the group.
    #[arg(required = true, value_name = "GROUP=NAME")]
    names: Vec<String>,
}

pub fn name(args: NameArgs) -> equifx::Result<()> {
    let dir = args.dir;
    // Loaded whole, so names are only ever given to groups that fit the prior.
    let bundle = Bundle::load(&dir, &candle_core::Device::Cpu)?;
    let mut manifest = bundle.manifest.clone();
    let domain = manifest.domains[manifest.domain_index(&args.domain)?].clone();
    let groups = manifest.groups.get_mut(&domain).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "domain '{domain}' has no groups to name: find them first with \
             `equifx model groups {} --domain {domain}`",
            dir.display()
        ))
    })?;
    for pair in &args.names {
        let (g, name) = pair.split_once('=').ok_or_else(|| {
            Error::InvalidArgument(format!("'{pair}': give GROUP=NAME, e.g. 0=warm"))
        })?;
        let g: usize = g.trim().parse().map_err(|_| {
            Error::InvalidArgument(format!("'{pair}': '{g}' is not a group number"))
        })?;
        groups.set_name(g, name)?;
    }
    for g in 0..groups.shares.len() {
        println!(
            "{domain} group {g}: {} ({:.1} % of the training data)",
            groups.name(g),
            100.0 * groups.shares[g]
        );
    }
    manifest.write(&dir)
}
