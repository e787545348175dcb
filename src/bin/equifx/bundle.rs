//! `equifx bundle`: assemble the OpenFX bundle from the built library.

use std::path::PathBuf;

use equifx::Error;

#[derive(clap::Args)]
pub struct BundleArgs {
    /// The equifx-ffi shared library. Default: `libequifx_ffi.so` next to
    /// this `equifx` executable (i.e. target/<profile>/ after `cargo build`).
    #[arg(long, value_name = "PATH")]
    library: Option<PathBuf>,
    /// The CUDA build of the same library (`cargo build --release -p equifx-ffi
    /// --features cuda`), installed beside the CPU build; hosts run it only
    /// where the NVIDIA libraries load and a GPU answers, else the CPU build.
    #[arg(long, value_name = "PATH")]
    cuda_variant: Option<PathBuf>,
    /// Directory to write `equifx.ofx.bundle` into, e.g. a folder on
    /// OFX_PLUGIN_PATH or /usr/OFX/Plugins. An existing bundle is replaced.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn default_library() -> equifx::Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::io("equifx executable", e))?;
    let name = format!(
        "{}equifx_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let lib = exe.with_file_name(&name);
    if lib.exists() {
        Ok(lib)
    } else {
        Err(Error::InvalidArgument(format!(
            "{} not found next to {}: build it with `cargo build --release -p equifx-ffi` or pass --library",
            name,
            exe.display()
        )))
    }
}

pub fn run(args: BundleArgs) -> equifx::Result<()> {
    let library = match args.library {
        Some(p) => p,
        None => default_library()?,
    };
    let bundle = equifx::ofx_bundle::assemble(&library, args.cuda_variant.as_deref(), &args.out)?;
    println!("{}", bundle.display());
    Ok(())
}
