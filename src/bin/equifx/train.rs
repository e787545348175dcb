//! `equifx train`: build a model bundle from folders of images.

use std::path::PathBuf;

use equifx::model::ModelConfig;
use equifx::train::{train, Sampling, Stage, TrainConfig};
use equifx::Error;

#[derive(clap::Args)]
#[command(
    after_help = "Example (the shipped default bundle; see docs/training.md):\n  \
    equifx train --domain photo=data/photo --domain oil=data/oil --domain anime=data/anime --out models/default"
)]
pub struct TrainArgs {
    /// A domain and its image folder, `NAME=DIR`; repeat for each domain (at least two).
    /// Images (.png, .tif, .jpg, .webp) are found in sub-folders too; files that
    /// do not decode are left out with a warning. A `labels.csv` in the folder
    /// (a `file` column, path relative to DIR, and 0/1 attribute columns, as
    /// `equifx synth` writes) adds attribute statistics and heads.
    #[arg(long = "domain", value_name = "NAME=DIR", required = true)]
    domains: Vec<String>,
    /// Output bundle folder (manifest.toml, weights.safetensors, prior.safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Training picture side (multiple of 8, of 16 with --cinn-squeeze): the
    /// side of each crop, or of each whole image with `--sampling resize`.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// How training pictures are taken from the files: `crop` (random
    /// SIZE × SIZE crops, for pictures of any size and aspect ratio) or
    /// `resize` (each whole file squashed to SIZE × SIZE).
    #[arg(long, value_enum, default_value_t = SamplingMode::Crop)]
    sampling: SamplingMode,
    /// Train at this fraction of the files' own resolution, in (0, 1]:
    /// every picture is downscaled by it before cropping (crop sampling only).
    #[arg(long, default_value_t = 1.0)]
    pixel_scale: f64,
    /// Random zoom of the crops, in [0, 1): each crop's scale is drawn
    /// uniformly in [1 − F, 1] (times --pixel-scale); 0 = the files' own
    /// scale (crop sampling only).
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    scale_jitter: f64,
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
    /// Use at most this many (readable) images per domain, in path order.
    #[arg(long)]
    limit: Option<usize>,
    /// Start the autoencoder from this bundle (same architecture); with
    /// `--ae-steps 0` only a new cINN is trained on it.
    #[arg(long, value_name = "BUNDLE")]
    init_autoencoder: Option<PathBuf>,
    /// Continue the cINN of this bundle (same architecture and --seed) with a new schedule.
    #[arg(long, value_name = "BUNDLE")]
    init_cinn: Option<PathBuf>,
    /// Dequantisation noise on the latent, as a fraction of each channel's
    /// standard deviation (0 turns it off; see docs/experiments.md).
    #[arg(long, default_value_t = 0.1)]
    latent_noise: f64,
    /// Weight of the autoencoder's texture-energy term (mean |Laplacian| per
    /// 8×8 cell), which keeps painterly texture that L1 alone would blur away.
    #[arg(long, default_value_t = 1.0)]
    texture_weight: f64,
    /// Weight of the autoencoder's outline term: L1 weighted by where the
    /// picture's edges are, so corners and silhouettes are not rounded off.
    #[arg(long, default_value_t = 0.0)]
    outline_weight: f64,
    /// Weight of the autoencoder's adversarial term: a patch discriminator,
    /// trained alongside and never stored, penalises the soft, rounded edges
    /// L1 alone leaves where the latent is unsure. 0 turns it off.
    #[arg(long, default_value_t = 0.0)]
    adversarial_weight: f64,
    /// Weight of the cINN's shared attribute directions (from labels.csv):
    /// one direction per attribute for every domain, so a translation keeps
    /// the object's attributes up to each domain's own prior. 0 turns it off.
    #[arg(long, default_value_t = 0.0)]
    attribute_weight: f64,
    /// Train only the decoder (with --init-autoencoder): the latents stay as
    /// they are, so the cINN and heads trained on them stay valid.
    #[arg(long)]
    freeze_encoder: bool,
    /// Epochs of the pixel reader fitted at the end when the folders carry
    /// labels (the Fair Sampler's check by the pixels; `equifx fit-reader`
    /// refits it alone). 0: no reader.
    #[arg(long, default_value_t = 12)]
    reader_epochs: usize,
    #[command(flatten)]
    prior: PriorArgs,
    /// Network size: `small` (the default bundle) or `tiny` (tests).
    #[arg(long, default_value = "small")]
    preset: String,
    /// Coupling blocks of the cINN (overrides the preset).
    #[arg(long)]
    cinn_blocks: Option<usize>,
    /// Hidden width of the cINN's coupling subnets (overrides the preset).
    #[arg(long)]
    cinn_hidden: Option<usize>,
    /// Run the cINN on 2×2 space-to-depth blocks of the latent (wider reach
    /// for the couplings; frames align to 16 px).
    #[arg(long)]
    cinn_squeeze: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SamplingMode {
    Crop,
    Resize,
}

impl TrainArgs {
    fn sampling(&self) -> equifx::Result<Sampling> {
        let sampling = match self.sampling {
            SamplingMode::Crop => Sampling::Crop {
                pixel_scale: self.pixel_scale,
                scale_jitter: self.scale_jitter,
            },
            SamplingMode::Resize => {
                if self.pixel_scale != 1.0 || self.scale_jitter != 0.0 {
                    return Err(Error::InvalidArgument(
                        "--pixel-scale and --scale-jitter apply to --sampling crop only".into(),
                    ));
                }
                Sampling::Resize
            }
        };
        sampling.validate()?;
        Ok(sampling)
    }
}

/// How `equifx train` and `equifx fit-heads` lay out the latent prior.
#[derive(clap::Args)]
pub struct PriorArgs {
    /// Training images per prior component: each labelled cell is split into
    /// k-means clusters of about this size, so generated latents stay near
    /// real ones (a size above the cell's count: one component per cell).
    #[arg(long, default_value_t = 6)]
    prior_cluster_size: usize,
    /// Each component's width as a fraction of its cluster's spread (0, 1]:
    /// narrower components decode to cleaner outlines, at some diversity.
    #[arg(long, default_value_t = 0.6)]
    prior_spread: f64,
}

impl PriorArgs {
    fn options(&self, seed: u64) -> equifx::model::PriorOptions {
        equifx::model::PriorOptions {
            cluster_size: self.prior_cluster_size,
            spread: self.prior_spread,
            seed,
        }
    }
}

/// `NAME=DIR` pairs. Names become what every node, the CLI and hosts accept,
/// so they are checked as those check them, and must differ from each other
/// (ignoring ASCII case, as lookups do) and from `auto`.
fn parse_domains(args: &[String]) -> equifx::Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for d in args {
        let (name, dir) = d
            .split_once('=')
            .map(|(n, p)| (n.trim().to_string(), PathBuf::from(p)))
            .ok_or_else(|| Error::InvalidArgument(format!("--domain '{d}' must be NAME=DIR")))?;
        equifx::params::check_name(&name)
            .map_err(|e| Error::InvalidArgument(format!("--domain '{d}': {e}")))?;
        if name.eq_ignore_ascii_case("auto") {
            return Err(Error::InvalidArgument(
                "--domain auto=…: 'auto' means \"detect the domain\" in Domain Transfer; name the domain otherwise".into(),
            ));
        }
        if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            return Err(Error::InvalidArgument(format!(
                "--domain '{name}' is given twice"
            )));
        }
        out.push((name, dir));
    }
    Ok(out)
}

#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
    equifx fit-heads --model models/default --domain photo=data/photo --domain oil=data/oil --domain anime=data/anime")]
pub struct FitHeadsArgs {
    #[command(flatten)]
    labelled: LabelledArgs,
    /// Seed of the held-out split that measures each head's confusion.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    prior: PriorArgs,
}

/// A bundle to fit something into, and the labelled folders to fit it on.
#[derive(clap::Args)]
struct LabelledArgs {
    /// The bundle whose manifest gets the result (rewritten in place, atomically).
    #[arg(long)]
    model: PathBuf,
    /// A domain and its labelled image folder (`labels.csv` beside the images), `NAME=DIR`;
    /// repeat. Images are seen as the bundle was trained: centre crops at its
    /// pixel scale, or whole images resized.
    #[arg(long = "domain", value_name = "NAME=DIR", required = true)]
    domains: Vec<String>,
    /// Use at most this many images per domain.
    #[arg(long)]
    limit: Option<usize>,
}

impl LabelledArgs {
    /// The folders, listed (no pixels are read yet).
    fn data(&self) -> equifx::Result<Vec<equifx::train::DomainData>> {
        parse_domains(&self.domains)?
            .iter()
            .map(|(n, d)| equifx::train::DomainData::load(n, d, self.limit))
            .collect()
    }
}

/// `equifx fit-heads`: (re)fits the prior and the attribute heads of an existing bundle.
pub fn run_fit_heads(args: FitHeadsArgs) -> equifx::Result<()> {
    let model = &args.labelled.model;
    let bundle = equifx::model::Bundle::load_without_prior(model, &candle_core::Device::Cpu)?;
    let data = args.labelled.data()?;
    if let Some(d) = data.iter().find(|d| d.labels.is_empty()) {
        return Err(Error::InvalidArgument(format!(
            "domain '{}' has no labels.csv with binary attributes beside its images",
            d.name
        )));
    }
    let options = args.prior.options(args.seed);
    let (prior, heads) = equifx::train::fit_heads(&bundle, &data, args.seed, &options)?;
    if heads.is_empty() {
        return Err(Error::InvalidArgument(
            "no head could be fitted: every attribute has too few labelled images of one class"
                .into(),
        ));
    }
    let mut manifest = bundle.manifest.clone();
    options.record(&mut manifest.provenance);
    manifest.write_prior(model, &prior)?;
    // Heads live in the prior's coordinates: none of the old ones stay valid.
    manifest.heads = heads;
    manifest.write(model)?;
    // Natural shares are read against the new prior, so from the bundle as written.
    let bundle = equifx::model::Bundle::load(model, &candle_core::Device::Cpu)?;
    for (domain, heads) in &bundle.manifest.heads {
        let set = equifx::model::latents::head_set(&bundle, domain)?;
        for (k, head) in heads.iter().enumerate() {
            eprintln!(
                "{domain}/{}: natural share {:.3}, held-out error {:.2} %",
                head.name,
                set.natural_share(k),
                100.0 * head.confusion.map_or(f64::NAN, |c| c.error_rate())
            );
        }
    }
    eprintln!("wrote the prior and heads into {}", model.display());
    Ok(())
}

#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
    equifx fit-reader --model models/default --domain photo=data/photo --domain oil=data/oil --domain anime=data/anime")]
pub struct FitReaderArgs {
    /// Every labelled attribute of each folder becomes one reader output.
    #[command(flatten)]
    labelled: LabelledArgs,
    /// Seeds the weights and the epochs' order; the held-out split is the
    /// heads' (`fit-heads --seed`).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Passes over the training images.
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Continue from the checkpoint of a stopped run with the same settings.
    #[arg(long)]
    resume: bool,
    /// Checkpoint folder (default: ~/.cache/equifx-train/reader-<bundle folder name>).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
}

/// `equifx fit-reader`: fits the pixel reader of an existing bundle.
pub fn run_fit_reader(args: FitReaderArgs) -> equifx::Result<()> {
    let model = &args.labelled.model;
    let manifest = equifx::model::Bundle::read_manifest(model)?;
    let data = args.labelled.data()?;
    let checkpoint = args.checkpoint.unwrap_or_else(|| {
        let name = model
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "bundle".into());
        std::env::var_os("HOME")
            .map_or_else(std::env::temp_dir, PathBuf::from)
            .join(".cache/equifx-train")
            .join(format!("reader-{name}"))
    });
    if !args.resume && checkpoint.join("reader-state.json").exists() {
        std::fs::remove_dir_all(&checkpoint).map_err(|e| Error::io(&checkpoint, e))?;
    }
    let options = equifx::train::ReaderOptions {
        epochs: args.epochs,
        seed: args.seed,
        checkpoint: Some(checkpoint.clone()),
        ..Default::default()
    };
    let info = equifx::train::fit_reader(&manifest, &data, &options, model)?;
    for o in &info.outputs {
        eprintln!(
            "{}/{}: held-out accuracy {:.2} %",
            o.domain,
            o.attribute,
            100.0 * o.held_out_accuracy
        );
    }
    // Read again: the bundle may have changed while the reader trained.
    let mut manifest = equifx::model::Bundle::read_manifest(model)?;
    manifest.reader = Some(info);
    manifest.write(model)?;
    let _ = std::fs::remove_dir_all(&checkpoint);
    eprintln!("wrote the pixel reader into {}", model.display());
    Ok(())
}

pub fn run(args: TrainArgs) -> equifx::Result<()> {
    let domains = parse_domains(&args.domains)?;
    if domains.len() < 2 {
        return Err(Error::InvalidArgument(
            "give at least two --domain NAME=DIR".into(),
        ));
    }
    let mut arch = match args.preset.as_str() {
        "small" => ModelConfig::small(domains.len()),
        "tiny" => ModelConfig {
            latent_channels: 4,
            ae_channels: [4, 6, 8, 8],
            cinn_blocks: 2,
            cinn_hidden: 8,
            embed_dim: 2,
            domains: domains.len(),
            cinn_squeeze: false,
        },
        other => {
            return Err(Error::InvalidArgument(format!(
                "--preset '{other}': use small or tiny"
            )))
        }
    };
    arch.cinn_blocks = args.cinn_blocks.unwrap_or(arch.cinn_blocks);
    arch.cinn_hidden = args.cinn_hidden.unwrap_or(arch.cinn_hidden);
    arch.cinn_squeeze |= args.cinn_squeeze;
    let sampling = args.sampling()?;
    let cfg = TrainConfig {
        out: args.out,
        domains,
        size: args.size,
        sampling,
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
        init_autoencoder: args.init_autoencoder,
        init_cinn: args.init_cinn,
        latent_noise: args.latent_noise,
        texture_weight: args.texture_weight,
        outline_weight: args.outline_weight,
        adversarial_weight: args.adversarial_weight,
        attribute_weight: args.attribute_weight,
        freeze_encoder: args.freeze_encoder,
        reader_epochs: args.reader_epochs,
        prior: args.prior.options(args.seed),
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
    for (key, count) in &manifest.provenance {
        if let Some(domain) = key.strip_prefix("skipped_files.") {
            if count != "0" {
                eprintln!("{domain}: {count} unreadable image files were left out (see the manifest's provenance)");
            }
        }
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
