//! `equifx transfer`: Domain Transfer on an image, and `--project` to see one
//! input rendered in every domain side by side (the data-bias note's view).

use std::path::PathBuf;

use equifx::frame::Image;
use equifx::io::{read_image, write_image};
use equifx::node::RenderContext;
use equifx::Instance;

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    equifx transfer plate.png --to anime -o plate_anime.png\n  \
    equifx transfer plate.png --project -o plate_all_domains.png")]
pub struct TransferArgs {
    // Flags that set Domain Transfer parameters get their defaults, ranges and
    // options from the manifest (`manifest_args`).
    /// Input image (.png, .tif, .exr, .jpg, .webp).
    input: PathBuf,
    /// Output image; its extension picks the format.
    #[arg(short, long)]
    output: PathBuf,
    /// Target domain: a domain of the model (`equifx model info` lists them;
    /// the shipped model has photo, oil and anime).
    #[arg(long)]
    to: String,
    /// Source domain (a domain of the model), or `auto` to detect it.
    #[arg(long)]
    from: String,
    /// 0 = untouched … 1 = full translation.
    #[arg(long)]
    strength: f64,
    /// Model bundle folder (default: the shipped bundle).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Render the input into every domain, side by side (input first).
    #[arg(long)]
    project: bool,
    /// Where the network runs.
    #[arg(long)]
    device: String,
    /// Number format of the network: f32, f16 (GPU memory; slower on the CPU) or bf16 (CUDA only).
    #[arg(long)]
    precision: String,
    /// Further node parameters, `name=value` (e.g. resolution=128, tile_size=256).
    #[arg(short, long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
}

fn instance(args: &TransferArgs, target: &str) -> equifx::Result<Instance> {
    let mut inst = Instance::new(equifx::nodes::domain_transfer::ID)?;
    let p = inst.params_mut();
    p.set_from_str("target", target)?;
    p.set_from_str("source", &args.from)?;
    p.set_from_str("strength", &args.strength.to_string())?;
    p.set_from_str("device", &args.device)?;
    p.set_from_str("precision", &args.precision)?;
    if let Some(m) = &args.model {
        p.set_from_str("model", &m.to_string_lossy())?;
    }
    crate::render::apply_params(&mut inst, &args.params)?;
    Ok(inst)
}

pub fn run(args: TransferArgs) -> equifx::Result<()> {
    let loaded = read_image(&args.input)?;
    let (w, h) = (loaded.image.width(), loaded.image.height());
    let ctx = RenderContext::default();
    let inputs = std::slice::from_ref(&loaded.image);
    if !args.project {
        let out = instance(&args, &args.to)?.render_images(inputs, w, h, 0, &ctx)?;
        return write_image(&args.output, &out, loaded.depth);
    }
    let probe = instance(&args, &args.to)?;
    let bundle = equifx::nodes::model_params::load_bundle(probe.params())?;
    let domains = bundle.manifest.domains.clone();
    let mut panels = vec![loaded.image.try_clone()?];
    for d in &domains {
        panels.push(instance(&args, d)?.render_images(inputs, w, h, 0, &ctx)?);
    }
    let mut sheet = Image::try_new(w * panels.len(), h)?;
    let sw = w * panels.len();
    for (k, panel) in panels.iter().enumerate() {
        for c in 0..4 {
            let (src, dst) = (panel.plane(c), sheet.plane_mut(c));
            for y in 0..h {
                dst[y * sw + k * w..y * sw + (k + 1) * w].copy_from_slice(&src[y * w..(y + 1) * w]);
            }
        }
    }
    eprintln!("panels: input, {}", domains.join(", "));
    write_image(&args.output, &sheet, loaded.depth)
}
