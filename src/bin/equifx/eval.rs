//! `equifx eval-transfer`: judge a bundle's Domain Transfer on fresh
//! synthetic scenes with the pixel oracles and PSNR against the true render.

use std::path::PathBuf;

use equifx::model::Bundle;
use equifx::synth::eval::evaluate_transfer;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Model bundle folder (default: the shipped bundle).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Scenes per domain pair.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Seed of the evaluation scenes (use one never used for training).
    #[arg(long, default_value_t = 9001)]
    seed: u64,
    /// Number format of the network: f32 or f16 (to measure what half precision changes).
    #[arg(long, default_value = "f32")]
    precision: String,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs) -> equifx::Result<()> {
    let dir = args
        .model
        .unwrap_or_else(equifx::model::bundle::default_bundle_dir);
    let device = candle_core::Device::Cpu;
    let dtype = args
        .precision
        .parse::<equifx::device::Precision>()?
        .dtype_on(&device)?;
    let bundle = Bundle::load_as(&dir, &device, dtype)?;
    let size = bundle.manifest.image_size;
    let reports = evaluate_transfer(&bundle, args.count, args.seed, size)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports)
                .map_err(|e| equifx::Error::Internal(e.to_string()))?
        );
        return Ok(());
    }
    println!("| pair | style → target | shape kept | palette kept | cool→warm | warm→cool | warm drift [95 % CI], McNemar p | PSNR model | identity | Reinhard |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &reports {
        let drift = r.warm_drift.as_ref().map_or("—".to_string(), |d| {
            format!(
                "{:+.3} [{:+.3}, {:+.3}], p = {:.1e}",
                d.drift, d.interval.lo, d.interval.hi, d.p_value
            )
        });
        println!(
            "| {} → {} | {:.1} % | {:.1} % | {:.1} % | {} | {} | {drift} | {:.2} dB | {:.2} dB | {:.2} dB |",
            r.from,
            r.to,
            100.0 * r.style_to_target,
            100.0 * r.shape_kept,
            100.0 * r.palette_kept,
            r.cool_to_warm,
            r.warm_to_cool,
            r.psnr_model,
            r.psnr_identity,
            r.psnr_reinhard
        );
    }
    println!(
        "\n{} fresh scenes per pair (seed {}), {size}×{size}, bundle {}",
        args.count,
        args.seed,
        dir.display()
    );
    Ok(())
}
