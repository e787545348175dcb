//! `equifx eval-transfer`: judge a bundle's Domain Transfer on fresh
//! synthetic scenes with the pixel oracles and PSNR against the true render.

use std::path::PathBuf;

use equifx::model::Bundle;
use equifx::synth::eval::{evaluate_transfer, EvalOptions};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Model bundle folder (default: the bundle Domain Transfer ships with).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Scenes per domain pair.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Seed of the evaluation scenes (use one never used for training).
    #[arg(long, default_value_t = 9001)]
    seed: u64,
    /// Frame width of the scenes (default: the training size for bundles
    /// trained on whole pictures, 512 for bundles trained on crops).
    #[arg(long)]
    width: Option<usize>,
    /// Frame height (default: the width).
    #[arg(long)]
    height: Option<usize>,
    /// Number format of the network (f16: to measure what half precision changes).
    // Default and options: Domain Transfer's `precision` (`manifest_args`).
    #[arg(long)]
    precision: String,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs) -> equifx::Result<()> {
    let dir = match args.model {
        Some(dir) => dir,
        None => equifx::nodes::model_params::bundle_path(
            &equifx::manifest::node(equifx::nodes::domain_transfer::ID)?.default_values(),
        )?,
    };
    let manifest = Bundle::read_manifest(&dir)?;
    let width = args.width.unwrap_or(match manifest.pixel_scale {
        Some(_) => 512,
        None => manifest.image_size,
    });
    let opts = EvalOptions {
        count: args.count,
        seed: args.seed,
        width,
        height: args.height.unwrap_or(width),
        precision: args.precision,
    };
    let reports = evaluate_transfer(&dir, &opts)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports)
                .map_err(|e| equifx::Error::Internal(e.to_string()))?
        );
        return Ok(());
    }
    println!("| pair | style → target | shape kept | palette kept | cool→warm | warm→cool | warm drift [95 % CI], McNemar p | PSNR model | identity | Reinhard | sharpness ÷ true |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &reports {
        let drift = r.warm_drift.as_ref().map_or("—".to_string(), |d| {
            format!(
                "{:+.3} [{:+.3}, {:+.3}], p = {:.1e}",
                d.drift, d.interval.lo, d.interval.hi, d.p_value
            )
        });
        println!(
            "| {} → {} | {:.1} % | {:.1} % | {:.1} % | {} | {} | {drift} | {:.2} dB | {:.2} dB | {:.2} dB | {:.2} |",
            r.from,
            r.to,
            100.0 * r.style_to_target,
            100.0 * r.shape_kept,
            100.0 * r.palette_kept,
            r.cool_to_warm,
            r.warm_to_cool,
            r.psnr_model,
            r.psnr_identity,
            r.psnr_reinhard,
            r.sharpness_ratio
        );
    }
    println!(
        "\n{} fresh scenes per pair (seed {}), {}×{}, bundle {}",
        opts.count,
        opts.seed,
        opts.width,
        opts.height,
        dir.display()
    );
    Ok(())
}
