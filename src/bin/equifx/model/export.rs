//! `equifx model export --onnx [DIR] -o OUT`: a bundle's networks as ONNX
//! graphs (docs/onnx.md).

use std::path::PathBuf;

#[derive(clap::Args)]
#[command(
    after_help = "Writes encoder.onnx, decoder.onnx, cinn_forward_<domain>.onnx, \
                        cinn_inverse_<domain>.onnx and translate_<source>_to_<target>.onnx \
                        (ONNX opset 17), with export.json and README.txt describing their \
                        inputs, outputs and the pre- and post-processing a host does.\n\n\
                        Examples:\n  equifx model export --onnx -o onnx/\n  \
                        equifx model export --onnx my_bundle -o my_bundle_onnx/"
)]
pub struct ExportArgs {
    /// Export as ONNX graphs, from the bundle folder DIR (default: the shipped bundle).
    #[arg(long, value_name = "DIR", num_args = 0..=1, required = true)]
    onnx: Option<Option<PathBuf>>,
    /// Output folder (created when missing; files of an earlier export are replaced).
    #[arg(short, long, value_name = "OUT")]
    out: PathBuf,
}

pub fn run(args: ExportArgs) -> equifx::Result<()> {
    let dir = args
        .onnx
        .flatten()
        .unwrap_or_else(equifx::model::bundle::default_bundle_dir);
    let export = equifx::export::export_onnx(&dir, &args.out)?;
    println!(
        "wrote {} ONNX graphs ({:.1} MB, opset {}) from {} to {}",
        export.graphs.len(),
        export.total_bytes() as f64 / 1e6,
        export.onnx_opset,
        dir.display(),
        args.out.display()
    );
    for g in &export.graphs {
        println!("  {}  {}", g.file, g.description);
    }
    println!(
        "  {}, {}: inputs, outputs and the host's pre- and post-processing",
        equifx::export::EXPORT_JSON,
        equifx::export::README_TXT
    );
    Ok(())
}
