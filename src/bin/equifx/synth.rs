//! `equifx synth` and `equifx contact-sheet`: the synthetic world on disk.

use std::path::PathBuf;

use equifx::synth::{contact_sheet, write_dataset, Bias, DatasetSpec, Style};

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  equifx synth --domain oil --count 5000 --size 64 --seed 7 --out data/oil"
)]
pub struct SynthArgs {
    /// Domain (style) to render: photo, oil or anime.
    #[arg(long)]
    domain: String,
    /// Number of images.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Image size in pixels: `N` for N × N, or `WIDTHxHEIGHT` (scenes are laid
    /// out relative to the shorter side, so any shape renders the same world).
    #[arg(long, default_value = "64")]
    size: String,
    /// Seed: the same seed gives the same images on any machine.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Share of warm-palette scenes (default: the domain's planted bias: photo 0.7, oil 0.9, anime 0.5).
    #[arg(long)]
    warm: Option<f64>,
    /// Share of round shapes (default 0.8).
    #[arg(long)]
    round: Option<f64>,
    /// Output folder; gets `<domain>_NNNNNN.png` files and `labels.csv`.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: SynthArgs) -> equifx::Result<()> {
    let style = Style::parse(&args.domain)?;
    let default = Bias::default_for(style);
    let (width, height) = match args.size.parse::<usize>() {
        Ok(n) => (n, n),
        Err(_) => super::render::parse_size(&args.size)?,
    };
    let spec = DatasetSpec {
        style,
        count: args.count,
        width,
        height,
        seed: args.seed,
        bias: Bias {
            warm: args.warm.unwrap_or(default.warm),
            round: args.round.unwrap_or(default.round),
        },
        out: args.out,
    };
    let bar = indicatif::ProgressBar::new(spec.count as u64);
    if spec.count < 200 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    write_dataset(&spec, &|_| bar.inc(1))?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} {} images and labels.csv to {}",
        spec.count,
        style.name(),
        spec.out.display()
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct ContactSheetArgs {
    /// Number of scenes (rows); each is shown in photo, oil and anime.
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// Side of each thumbnail, in pixels.
    #[arg(long, default_value_t = 128)]
    size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output PNG.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run_contact_sheet(args: ContactSheetArgs) -> equifx::Result<()> {
    contact_sheet(args.seed, args.count, args.size, &args.output)
}
