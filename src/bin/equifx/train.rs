//! `equifx train`: build a model bundle from folders of images.

use std::path::PathBuf;

use equifx::model::ModelConfig;
use equifx::train::{train, Stage, TrainConfig};
use equifx::Error;

#[derive(clap::Args)]
#[command(after_help = "Example (the shipped default bundle; see README):\n  \
    equifx train --domain photo=data/photo --domain oil=data/oil --domain anime=data/anime --out models/default")]
pub struct TrainArgs {
    /// A domain and its image folder, `NAME=DIR`; repeat for each domain (at least two).
    /// A `labels.csv` in the folder (as `equifx synth` writes) adds attribute statistics.
    #[arg(long = "domain", value_name = "NAME=DIR", required = true)]
    domains: Vec<String>,
    /// Output bundle folder (manifest.toml + weights.safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Training image side (multiple of 8); images are resized to it.
    #[arg(long, default_value_t = 64)]
    size: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Autoencoder training steps.
    #[arg(long, default_value_t = 1500)]
    ae_steps: usize,
    /// cINN training steps.
    #[arg(long, default_value_t = 2000)]
    cinn_steps: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    ae_lr: f64,
    #[arg(long, default_value_t = 1e-3)]
    cinn_lr: f64,
    /// Steps between checkpoints (written to OUT/.checkpoint).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    /// Continue from OUT/.checkpoint after an interruption.
    #[arg(long)]
    resume: bool,
    /// Use at most this many images per domain.
    #[arg(long)]
    limit: Option<usize>,
    /// Network size: `small` (the default bundle) or `tiny` (tests).
    #[arg(long, default_value = "small")]
    preset: String,
}

pub fn run(args: TrainArgs) -> equifx::Result<()> {
    let domains = args
        .domains
        .iter()
        .map(|d| {
            d.split_once('=')
                .map(|(n, p)| (n.trim().to_string(), PathBuf::from(p)))
                .ok_or_else(|| Error::InvalidArgument(format!("--domain '{d}' must be NAME=DIR")))
        })
        .collect::<equifx::Result<Vec<_>>>()?;
    if domains.len() < 2 {
        return Err(Error::InvalidArgument(
            "give at least two --domain NAME=DIR".into(),
        ));
    }
    let arch = match args.preset.as_str() {
        "small" => ModelConfig::small(domains.len()),
        "tiny" => ModelConfig {
            latent_channels: 4,
            ae_channels: [4, 6, 8, 8],
            cinn_blocks: 2,
            cinn_hidden: 8,
            embed_dim: 2,
            domains: domains.len(),
        },
        other => {
            return Err(Error::InvalidArgument(format!(
                "--preset '{other}': use small or tiny"
            )))
        }
    };
    let cfg = TrainConfig {
        out: args.out,
        domains,
        size: args.size,
        arch,
        seed: args.seed,
        ae_steps: args.ae_steps,
        cinn_steps: args.cinn_steps,
        batch: args.batch,
        ae_lr: args.ae_lr,
        cinn_lr: args.cinn_lr,
        checkpoint_every: args.checkpoint_every.max(1),
        resume: args.resume,
        limit: args.limit,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:>12} {bar:30} {pos}/{len} steps {msg} ({eta} left)",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let bars = [
        indicatif::ProgressBar::new(cfg.ae_steps as u64),
        indicatif::ProgressBar::new(cfg.cinn_steps as u64),
    ];
    for (b, name) in bars.iter().zip(["autoencoder", "cINN"]) {
        b.set_style(style.clone());
        b.set_prefix(name);
    }
    let manifest = train(&cfg, &|stage, step, _total, loss| {
        let b = &bars[usize::from(stage == Stage::Cinn)];
        b.set_position(step as u64);
        b.set_message(format!("loss {loss:.4}"));
        if step % 100 == 0 {
            tracing::info!(?stage, step, loss, "training");
        }
    })?;
    for b in &bars {
        b.finish();
    }
    eprintln!(
        "wrote bundle {} (domains: {}; final losses: ae {}, cINN {} nats/dim)",
        cfg.out.display(),
        manifest.domains.join(", "),
        manifest
            .provenance
            .get("final_ae_loss")
            .map_or("-", String::as_str),
        manifest
            .provenance
            .get("final_cinn_nll_per_dim")
            .map_or("-", String::as_str)
    );
    Ok(())
}
