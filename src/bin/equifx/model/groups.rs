//! `equifx model groups`: label-free groups of a bundle's prior components
//! per domain, stored in its manifest (docs/fairness.md §8).

use std::path::{Path, PathBuf};

use equifx::fairness::group_sampler::GroupSampler;
use equifx::fairness::groups::{discover, most_probable, GroupCount, Groups};
use equifx::fairness::mixture::Component;
use equifx::frame::Image;
use equifx::io::{write_image, Depth};
use equifx::model::latents::decode;
use equifx::model::Bundle;
use equifx::train::{encode_domain, CropDraw, DomainData, Sampling};
use equifx::Error;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  equifx model groups my_bundle --groups auto\n  \
equifx model groups my_bundle --domain photo --groups 2"
)]
pub struct GroupsArgs {
    /// The bundle folder; its manifest.toml is rewritten with the groups (so
    /// the shipped bundle is never changed by accident: copy it first).
    dir: PathBuf,
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
        g if g.eq_ignore_ascii_case("auto") => GroupCount::Auto {
            max: equifx::fairness::groups::AUTO_MAX,
        },
        g => GroupCount::Fixed(g.parse().map_err(|_| {
            Error::InvalidArgument(format!(
                "--groups {g}: give a number of groups (1 or more) or `auto`"
            ))
        })?),
    };
    let dir = args.dir;
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

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  equifx model group-sheet my_bundle -o sheets/\n\n\
Each group is a row: on the left the pictures of its heaviest components' centres (what the \
group typically holds; with --data, the training images nearest to them), on the right fresh \
samples from the group. Rows run from group 0 down."
)]
pub struct SheetArgs {
    /// The bundle folder, with groups (`equifx model groups`).
    dir: PathBuf,
    /// The domain to show (repeat; default: every domain with groups).
    #[arg(long)]
    domain: Vec<String>,
    /// Folder for the sheets, `groups-DOMAIN.png`.
    #[arg(short, long)]
    out: PathBuf,
    /// Pictures of each kind per row.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=32))]
    per_row: u64,
    /// Seed of the fresh samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A domain's training folder, `NAME=DIR` (repeat): its rows then begin
    /// with the training images nearest to each group's heaviest components,
    /// as the networks saw them, instead of the components' decoded centres
    /// (the first 5000 readable images in path order are searched).
    #[arg(long, value_name = "NAME=DIR")]
    data: Vec<String>,
}

/// Training images searched for exemplars, per domain.
const EXEMPLAR_POOL: usize = 5000;

/// A domain's training images in the fairness space, to pick exemplars from.
struct Exemplars {
    data: DomainData,
    points: Vec<Vec<f32>>,
    group: Vec<usize>,
}

impl Exemplars {
    fn load(bundle: &Bundle, name: &str, dir: &Path, groups: &Groups) -> equifx::Result<Self> {
        let d = bundle.manifest.domain_index(name)?;
        let prior = bundle
            .prior
            .as_ref()
            .ok_or_else(|| Error::Model("the bundle has no prior".into()))?;
        let data = DomainData::load(name, dir, Some(EXEMPLAR_POOL))?;
        let dim = bundle.manifest.latent_dim();
        let points: Vec<Vec<f32>> = encode_domain(bundle, &data, d)?
            .chunks_exact(dim)
            .map(|v| prior.whiten(d, v))
            .collect();
        let group = points
            .iter()
            .map(|e| most_probable(prior.components(d), groups, e).unwrap_or(usize::MAX))
            .collect();
        Ok(Exemplars {
            data,
            points,
            group,
        })
    }

    /// For each of `components` (of group `g`), the nearest training image
    /// the group holds, each image at most once, as the networks saw it.
    fn nearest(
        &self,
        bundle: &Bundle,
        comps: &[Component],
        g: usize,
        components: &[usize],
    ) -> equifx::Result<Vec<Image>> {
        let mut used = vec![false; self.points.len()];
        let s = bundle.manifest.image_size;
        let sampling = Sampling::of_bundle(bundle.manifest.pixel_scale);
        let space = bundle.manifest.colour_space;
        let mut out = Vec::new();
        for &c in components {
            let distance = |i: usize| -> f64 {
                self.points[i]
                    .iter()
                    .zip(&comps[c].mean)
                    .map(|(&x, m)| (f64::from(x) - m).powi(2))
                    .sum()
            };
            let Some(best) = (0..self.points.len())
                .filter(|&i| self.group[i] == g && !used[i])
                .min_by(|&a, &b| distance(a).total_cmp(&distance(b)))
            else {
                break;
            };
            used[best] = true;
            let picture = self.data.picture(best, sampling, s, CropDraw::CENTRE)?;
            let mut planes: Vec<f32> = picture.pixels.iter().map(|&v| space.to_linear(v)).collect();
            planes.extend(std::iter::repeat_n(1.0, s * s));
            out.push(Image::from_planes(s, s, planes)?);
        }
        Ok(out)
    }
}

/// Gap between pictures, and the wider one between the two halves of a row.
const GAP: usize = 4;

pub fn sheet(args: SheetArgs) -> equifx::Result<()> {
    let bundle = Bundle::load(&args.dir, &candle_core::Device::Cpu)?;
    let m = &bundle.manifest;
    let names: Vec<String> = if args.domain.is_empty() {
        m.domains
            .iter()
            .filter(|d| m.groups.contains_key(*d))
            .cloned()
            .collect()
    } else {
        args.domain
            .iter()
            .map(|d| Ok(m.domains[m.domain_index(d)?].clone()))
            .collect::<equifx::Result<_>>()?
    };
    if names.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} has no groups to show: find them with `equifx model groups`",
            args.dir.display()
        )));
    }
    let mut data = std::collections::BTreeMap::new();
    for pair in &args.data {
        let (name, dir) = pair.split_once('=').ok_or_else(|| {
            Error::InvalidArgument(format!("--data '{pair}': give NAME=DIR, e.g. photo=shots/"))
        })?;
        data.insert(
            m.domains[m.domain_index(name.trim())?].clone(),
            PathBuf::from(dir),
        );
    }
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    for name in names {
        let d = m.domain_index(&name)?;
        let (Some(groups), Some(prior)) = (m.groups.get(&name), &bundle.prior) else {
            return Err(Error::InvalidArgument(format!(
                "domain '{name}' has no groups: find them with `equifx model groups --domain {name}`"
            )));
        };
        let comps = prior.components(d);
        let exemplars = data
            .get(&name)
            .map(|dir| Exemplars::load(&bundle, &name, dir, groups))
            .transpose()?;
        let per = args.per_row as usize;
        let mut rows = Vec::with_capacity(groups.shares.len());
        for g in 0..groups.shares.len() {
            let mut heaviest: Vec<usize> = (0..comps.len())
                .filter(|&c| groups.of_component[c] == g)
                .collect();
            heaviest.sort_by(|&a, &b| comps[b].weight.total_cmp(&comps[a].weight).then(a.cmp(&b)));
            heaviest.truncate(per);
            let left = match &exemplars {
                Some(x) => x.nearest(&bundle, comps, g, &heaviest)?,
                None => {
                    let centres: Vec<Vec<f32>> = heaviest
                        .iter()
                        .map(|&c| comps[c].mean.iter().map(|&x| x as f32).collect())
                        .collect();
                    decode(&bundle, &centres, d)?
                }
            };
            let mut target = vec![0.0; groups.shares.len()];
            target[g] = 1.0;
            let fresh: Vec<Vec<f32>> =
                GroupSampler::new(comps, groups, &target, per as u64, args.seed)?
                    .sample_range(0..per as u64)?
                    .into_iter()
                    .map(|i| i.e)
                    .collect();
            rows.push((left, decode(&bundle, &fresh, d)?));
        }
        let path = args.out.join(format!("groups-{name}.png"));
        write_image(&path, &compose(&rows, per)?, Depth::U8)?;
        for g in 0..groups.shares.len() {
            println!(
                "{name} row {g}: {} ({:.1} % of the training data)",
                groups.name(g),
                100.0 * groups.shares[g]
            );
        }
        println!("{}", path.display());
    }
    Ok(())
}

/// One row per group: its centres, a wider gap, its fresh samples, on a
/// dark background.
fn compose(rows: &[(Vec<Image>, Vec<Image>)], per: usize) -> equifx::Result<Image> {
    let side = rows
        .iter()
        .flat_map(|(a, b)| a.iter().chain(b))
        .map(Image::width)
        .max()
        .unwrap_or(1);
    let w = 2 * per * side + (2 * per + 2) * GAP + 3 * GAP;
    let h = rows.len() * side + (rows.len() + 1) * GAP;
    let mut data = vec![0.01f32; 4 * w * h];
    data[3 * w * h..].fill(1.0);
    for (r, (centres, fresh)) in rows.iter().enumerate() {
        let y0 = GAP + r * (side + GAP);
        let slots = (0..).zip(centres).chain((per..).zip(fresh));
        for (i, img) in slots {
            let half = if i < per { 0 } else { 3 * GAP };
            let x0 = GAP + i * (side + GAP) + half;
            for c in 0..4 {
                let plane = img.plane(c);
                for y in 0..img.height() {
                    let row = &plane[y * img.width()..(y + 1) * img.width()];
                    let at = c * w * h + (y0 + y) * w + x0;
                    data[at..at + row.len()].copy_from_slice(row);
                }
            }
        }
    }
    Image::from_planes(w, h, data)
}
