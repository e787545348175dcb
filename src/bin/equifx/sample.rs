//! `equifx sample`: the Fair Sampler over a whole batch, with its metadata.

use std::path::PathBuf;

use equifx::fairness::group_sampler::GroupSampler;
use equifx::fairness::{FairSampler, FrameMeta, Sidecar};
use equifx::frame::Image;
use equifx::io::{write_image, Depth};
use equifx::model::latents::{decode, fit_to_frame};
use equifx::model::pixel_check::{sample_checked, CheckOptions};
use equifx::nodes::fair_sampler::{block_sampler, group_block_sampler};
use equifx::sequence::FramePattern;
use equifx::Error;

use crate::targets::{ModelArgs, TargetArgs};

#[derive(clap::Args)]
#[command(after_help = "Example (2000 photos, half of them warm):\n  \
    equifx sample --domain photo --target warm=0.5 --count 2000 --out samples/photo_####.png")]
pub struct SampleArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    target: TargetArgs,
    /// Number of images; the target mix is met exactly over them.
    #[arg(long, default_value_t = 100)]
    count: u64,
    /// Same seed, same images, on any machine.
    // Default and range: the Fair Sampler's `seed` (`manifest_args`).
    #[arg(long)]
    seed: u64,
    /// Output pattern with `#` (or `%04d`) for the item index.
    #[arg(long)]
    out: String,
    /// Side of the square output images (default: the model's training size).
    #[arg(long)]
    size: Option<usize>,
    /// Per-image metadata (head cell and scores), JSON; default `sidecar.json` beside the images.
    #[arg(long)]
    sidecar: Option<PathBuf>,
    /// Balance over the bundle's label-free groups of the domain instead of
    /// its attributes: `uniform`, shares by group name (`warm=0.5, *=natural`)
    /// or one share per group (`0.5,0.3,0.2`). Find the groups first with
    /// `equifx model groups`.
    #[arg(long, value_name = "uniform|NAME=SHARE,…|S0,S1,…", conflicts_with_all = ["marginals", "joint"])]
    groups: Option<String>,
    /// Candidates per image for the check by the pixels (bundles with a
    /// pixel reader; attribute targets): a picture whose reader does not
    /// see its cell is drawn again from the same cell. 0: no check.
    // Default and range: the Fair Sampler's `check_tries` (`manifest_args`).
    #[arg(long, id = "check-tries")]
    check_tries: i64,
    /// How sure the pixel reader must be that a picture shows each attribute
    /// of its cell; higher redraws more and, well above the default, favours
    /// the pictures easiest to read over the model's own variety.
    // Default and range: the Fair Sampler's `check_threshold` (`manifest_args`).
    #[arg(long, id = "check-threshold")]
    check_threshold: f64,
}

pub fn run(args: SampleArgs) -> equifx::Result<()> {
    let (bundle, domain, heads) = args.model.load()?;
    if args.count == 0 {
        return Err(Error::InvalidArgument("--count must be at least 1".into()));
    }
    let pattern = FramePattern::parse(&args.out)?;
    if !pattern.is_sequence() && args.count > 1 {
        return Err(Error::InvalidArgument(format!(
            "--out '{}' has no # for the item index",
            args.out
        )));
    }
    let draw = match &args.groups {
        Some(spec) => Draw::Groups(group_block_sampler(
            &bundle, domain, spec, args.count, args.seed, 0,
        )?),
        None => {
            let heads = args.model.need_heads(&bundle, heads.clone())?;
            let target = args.target.resolve(&heads)?;
            let sampler = block_sampler(heads.clone(), &target, args.count, args.seed, 0)?;
            Draw::Attributes(Box::new(sampler))
        }
    };
    let side = args.size.unwrap_or(bundle.manifest.image_size);
    // Within the frame limit, and the memory of scaling a picture to it
    // (which cannot fail softly) there, before the first is drawn.
    equifx::frame::check_size(side, side)?;
    equifx::memory::ensure_available(equifx::memory::image_bytes(side, side) / 4 * 9, &|| {
        format!("scaling the sampled pictures to {side}×{side}")
    })?;
    let bar = indicatif::ProgressBar::new(args.count);
    let mut frames = Vec::with_capacity(args.count as usize);
    for start in (0..args.count).step_by(64) {
        let range = start..(start + 64).min(args.count);
        let drawn: Vec<(FrameMeta, Image)> = match &draw {
            Draw::Groups(g) => {
                let (metas, es): (Vec<FrameMeta>, Vec<Vec<f32>>) = g
                    .sample_range(range)?
                    .into_iter()
                    .map(|i| {
                        let meta = FrameMeta {
                            item: i.item,
                            seed: args.seed,
                            cell: heads.as_ref().map_or(0, |h| h.cell(&i.e)),
                            scores: heads.as_ref().map_or_else(Vec::new, |h| h.scores(&i.e)),
                            group: Some(i.group),
                            pixel_check: None,
                        };
                        (meta, i.e)
                    })
                    .unzip();
                metas
                    .into_iter()
                    .zip(decode(&bundle, &es, domain)?)
                    .collect()
            }
            Draw::Attributes(sampler) => {
                let check = CheckOptions {
                    tries: u32::try_from(args.check_tries).unwrap_or(0),
                    threshold: args.check_threshold as f32,
                };
                sample_checked(&bundle, sampler, domain, range, check)?
                    .into_iter()
                    .map(|c| {
                        let mut meta = c.item.meta;
                        meta.pixel_check = c.check;
                        (meta, c.picture)
                    })
                    .collect()
            }
        };
        for (meta, img) in drawn {
            let path = pattern.path(meta.item as i64);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            write_image(&path, &fit_to_frame(&img, side, side), Depth::U8)?;
            frames.push(meta);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let sidecar_path = args.sidecar.unwrap_or_else(|| {
        pattern
            .path(0)
            .parent()
            .map_or_else(|| PathBuf::from("sidecar.json"), |d| d.join("sidecar.json"))
    });
    let (what, counts, target) = match draw {
        Draw::Groups(g) => {
            let attributes = heads.as_ref().map_or_else(Vec::new, |h| h.names().to_vec());
            Sidecar::from_frames(attributes, frames).write(&sidecar_path)?;
            (
                "groups".to_string(),
                g.counts().to_vec(),
                g.target().to_vec(),
            )
        }
        Draw::Attributes(sampler) => {
            let what = format!("cells {}", sampler.heads().names().join("×"));
            let (counts, target) = (sampler.counts().to_vec(), sampler.target().to_vec());
            let sidecar = sampler.sidecar(frames);
            if !sidecar.acceptance.is_empty() {
                let rates: Vec<String> = sidecar
                    .acceptance
                    .iter()
                    .map(|r| r.map_or("-".into(), |r| format!("{:.0} %", 100.0 * r)))
                    .collect();
                eprintln!(
                    "pixel check: share of candidates that showed their cell, per cell: {}",
                    rates.join(", ")
                );
            }
            sidecar.write(&sidecar_path)?;
            (what, counts, target)
        }
    };
    let target: Vec<f64> = target
        .iter()
        .map(|p| (p * 1000.0).round() / 1000.0)
        .collect();
    eprintln!(
        "wrote {} images; {what} got {counts:?} (target {target:?}); metadata in {}",
        args.count,
        sidecar_path.display()
    );
    Ok(())
}

/// What draws the batch: the Fair Sampler over the attributes' cells, or
/// over the label-free groups (`--groups`).
enum Draw {
    Attributes(Box<FairSampler>),
    Groups(GroupSampler),
}
