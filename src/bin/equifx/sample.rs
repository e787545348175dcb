//! `equifx sample`: the Fair Sampler over a whole batch, with its metadata.

use std::path::PathBuf;

use equifx::io::{write_image, Depth};
use equifx::model::latents::{decode, fit_to_frame};
use equifx::nodes::fair_sampler::block_sampler;
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
}

pub fn run(args: SampleArgs) -> equifx::Result<()> {
    let (bundle, domain, heads) = args.model.load()?;
    let target = args.target.resolve(&heads)?;
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
    let sampler = block_sampler(heads, &target, args.count, args.seed, 0)?;
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
        let items = sampler.sample_range(start..(start + 64).min(args.count))?;
        let vs: Vec<Vec<f32>> = items.iter().map(|i| i.v.clone()).collect();
        for (item, img) in items.into_iter().zip(decode(&bundle, &vs, domain)?) {
            let path = pattern.path(item.meta.item as i64);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            write_image(&path, &fit_to_frame(&img, side, side), Depth::U8)?;
            frames.push(item.meta);
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
    let counts = sampler.counts().to_vec();
    sampler.sidecar(frames).write(&sidecar_path)?;
    eprintln!(
        "wrote {} images; cells {} got {:?} (target {:?}); metadata in {}",
        args.count,
        sampler.heads().names().join("×"),
        counts,
        sampler
            .target()
            .iter()
            .map(|p| (p * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>(),
        sidecar_path.display()
    );
    Ok(())
}
