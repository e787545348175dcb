//! `equifx render`: run one node on an image file.

use std::path::PathBuf;

use equifx::io::{read_image, write_image};
use equifx::node::RenderContext;
use equifx::{Error, Instance};

#[derive(clap::Args)]
pub struct RenderArgs {
    /// Node id or label, e.g. `org.equifx.Exposure` or `Exposure` (see `equifx nodes`).
    node: String,
    /// Input image (.png, .tif, .exr). Omit for generator nodes.
    input: Option<PathBuf>,
    /// Output image; its extension picks the format. Written atomically.
    #[arg(short, long)]
    output: PathBuf,
    /// Parameter values, `name=value`; repeat for several.
    #[arg(short, long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Output size for generator nodes, `WIDTHxHEIGHT`.
    #[arg(long, default_value = "512x512")]
    size: String,
    /// Frame number (generators seed each frame from it).
    #[arg(long, default_value_t = 0)]
    frame: i64,
}

/// Resolves a node by id or (case-insensitive) label.
pub fn find_node(name: &str) -> equifx::Result<&'static str> {
    equifx::manifest::nodes()
        .iter()
        .find(|n| {
            n.id == name
                || n.label.eq_ignore_ascii_case(name)
                || n.id.rsplit('.').next() == Some(name)
        })
        .map(|n| n.id.as_str())
        .ok_or_else(|| Error::UnknownNode(name.to_string()))
}

/// Applies `name=value` pairs to an instance.
pub fn apply_params(instance: &mut Instance, pairs: &[String]) -> equifx::Result<()> {
    for kv in pairs {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Error::InvalidArgument(format!("parameter '{kv}' must be written name=value"))
        })?;
        instance.params_mut().set_from_str(k.trim(), v)?;
    }
    Ok(())
}

pub fn run(args: RenderArgs) -> equifx::Result<()> {
    let mut instance = Instance::new(find_node(&args.node)?)?;
    apply_params(&mut instance, &args.params)?;
    let ctx = RenderContext::default();
    let (inputs, width, height, depth) = match (&args.input, instance.descriptor().is_generator()) {
        (Some(path), false) => {
            let loaded = read_image(path)?;
            let (w, h) = (loaded.image.width(), loaded.image.height());
            (vec![loaded.image], w, h, loaded.depth)
        }
        (None, true) => {
            let (w, h) = parse_size(&args.size)?;
            (vec![], w, h, equifx::io::Depth::U8)
        }
        (None, false) => {
            return Err(Error::InvalidArgument(format!(
                "{} needs an input image",
                args.node
            )))
        }
        (Some(_), true) => {
            return Err(Error::InvalidArgument(format!(
                "{} is a generator and takes no input image",
                args.node
            )))
        }
    };
    let out = instance.render_images(&inputs, width, height, args.frame, &ctx)?;
    write_image(&args.output, &out, depth)?;
    tracing::info!(output = %args.output.display(), "wrote");
    Ok(())
}

pub fn parse_size(s: &str) -> equifx::Result<(usize, usize)> {
    let bad = || Error::InvalidArgument(format!("size '{s}' must be WIDTHxHEIGHT, e.g. 512x512"));
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (usize, usize) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if w == 0 || h == 0 || w > equifx::frame::MAX_DIMENSION || h > equifx::frame::MAX_DIMENSION {
        return Err(bad());
    }
    Ok((w, h))
}
