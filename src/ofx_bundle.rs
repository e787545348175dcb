//! OpenFX bundle assembly: turns the built shared library into the directory
//! tree OFX hosts scan (`Reference/ofxPackaging.rst`):
//!
//! ```text
//! equifx.ofx.bundle/
//!   Contents/
//!     Info.plist                    (from plugin-manifest/ofx/Info.plist.in)
//!     Linux-x86-64/equifx.ofx       (the renamed libequifx_ffi.so)
//!     Resources/<node id>.png       (one icon per node, drawn here)
//! ```
//!
//! The bundle is built in a temporary sibling directory and renamed into
//! place, so a host scanning the plugin folder never sees half a bundle.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::write_bytes_atomic;

/// Name of the bundle directory; the binary inside is `equifx.ofx`.
pub const BUNDLE_NAME: &str = "equifx.ofx.bundle";

const PLIST_TEMPLATE: &str = include_str!("../plugin-manifest/ofx/Info.plist.in");

/// Icon size in pixels: what Natron and Nuke show in their node menus.
const ICON_SIZE: u32 = 128;

/// The OFX architecture directory for this build (ofxPackaging.rst:78-90).
pub fn architecture_dir() -> Result<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Ok("Linux-x86-64"),
        ("linux", "aarch64") => Ok("Linux-aarch64"),
        ("linux", "x86") => Ok("Linux-x86"),
        ("macos", _) => Ok("MacOS"),
        ("windows", "x86_64") => Ok("Win64"),
        (os, arch) => Err(Error::Unsupported(format!(
            "no OpenFX bundle architecture is defined for {os}/{arch}"
        ))),
    }
}

/// `Info.plist` for this version and node list.
pub fn info_plist() -> String {
    let plugins: Vec<&str> = crate::manifest::nodes()
        .iter()
        .map(|n| n.label.as_str())
        .collect();
    PLIST_TEMPLATE
        .replace("@EXECUTABLE@", "equifx.ofx")
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@PLUGINS@", &plugins.join(", "))
}

/// A 128×128 PNG icon for a node: a disc on a rounded tile, its hue derived
/// from the node id so every node is recognisable and the icon never changes
/// between builds.
pub fn icon_png(node_id: &str) -> Result<Vec<u8>> {
    // FNV-1a: a fixed, dependency-free hash, so colours are stable forever.
    let hash = node_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let hue = (hash % 360) as f32;
    let (r, g, b) = hsv(hue, 0.55, 0.95);
    let s = ICON_SIZE as f32;
    let img = image::RgbaImage::from_fn(ICON_SIZE, ICON_SIZE, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        // Rounded-square tile with a 16 px corner radius.
        let corner = 16.0;
        let dx = (px - s / 2.0).abs() - (s / 2.0 - corner);
        let dy = (py - s / 2.0).abs() - (s / 2.0 - corner);
        let outside = dx.max(0.0).hypot(dy.max(0.0)) - corner;
        let tile = (0.5 - outside).clamp(0.0, 1.0);
        let d = (px - s / 2.0).hypot(py - s / 2.0);
        let disc = (s * 0.3 - d + 0.5).clamp(0.0, 1.0);
        let shade = |c: f32| ((0.18 * (1.0 - disc) + c * disc) * 255.0).round() as u8;
        image::Rgba([shade(r), shade(g), shade(b), (tile * 255.0).round() as u8])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| Error::Internal(format!("icon for {node_id} does not encode: {e}")))?;
    Ok(bytes.into_inner())
}

fn hsv(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    (r + v - c, g + v - c, b + v - c)
}

fn create_dir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))
}

/// File name of the CUDA build of the library when it is installed beside the
/// CPU build (in the bundle: next to `equifx.ofx`). The CPU build loads it only
/// where it can run (see `ffi/src/variant.rs`).
pub const CUDA_VARIANT_FILE: &str = "libequifx_ffi_cuda.so";

fn read_plugin_library(path: &Path) -> Result<Vec<u8>> {
    let lib = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // A cheap guard against pointing at the wrong file (e.g. the rlib).
    if !lib.windows(12).any(|w| w == b"OfxGetPlugin") {
        return Err(Error::InvalidArgument(format!(
            "{} does not export OfxGetPlugin: pass the equifx-ffi shared library \
             (build it with `cargo build --release -p equifx-ffi`)",
            path.display()
        )));
    }
    Ok(lib)
}

/// Builds `out_dir/equifx.ofx.bundle` from the shared library at `library`
/// (`libequifx_ffi.so`, the CPU build), with the CUDA build of the same
/// library beside it when `cuda_variant` is given, replacing an existing
/// bundle, and returns its path.
pub fn assemble(library: &Path, cuda_variant: Option<&Path>, out_dir: &Path) -> Result<PathBuf> {
    let lib = read_plugin_library(library)?;
    let variant = cuda_variant.map(read_plugin_library).transpose()?;
    create_dir(out_dir)?;
    let bundle = out_dir.join(BUNDLE_NAME);
    let staging = out_dir.join(format!(".{BUNDLE_NAME}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    let result =
        fill(&staging, &lib, variant.as_deref()).and_then(|()| swap_into_place(&staging, &bundle));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result.map(|()| bundle)
}

fn fill(staging: &Path, lib: &[u8], cuda_variant: Option<&[u8]>) -> Result<()> {
    let contents = staging.join("Contents");
    let arch = contents.join(architecture_dir()?);
    let resources = contents.join("Resources");
    create_dir(&arch)?;
    create_dir(&resources)?;
    let binaries = [("equifx.ofx", Some(lib)), (CUDA_VARIANT_FILE, cuda_variant)];
    for (name, bytes) in binaries {
        let Some(bytes) = bytes else { continue };
        let binary = arch.join(name);
        write_bytes_atomic(&binary, bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| Error::io(&binary, e))?;
        }
    }
    write_bytes_atomic(&contents.join("Info.plist"), info_plist().as_bytes())?;
    for n in crate::manifest::nodes() {
        write_bytes_atomic(&resources.join(format!("{}.png", n.id)), &icon_png(&n.id)?)?;
    }
    Ok(())
}

/// Renames the finished staging directory over the bundle; an old bundle is
/// moved aside first and removed only after the new one is in place.
fn swap_into_place(staging: &Path, bundle: &Path) -> Result<()> {
    let old = bundle.with_extension(format!("bundle.old-{}", std::process::id()));
    let had_old = bundle.exists();
    if had_old {
        std::fs::rename(bundle, &old).map_err(|e| Error::io(bundle, e))?;
    }
    if let Err(e) = std::fs::rename(staging, bundle) {
        if had_old {
            let _ = std::fs::rename(&old, bundle);
        }
        return Err(Error::io(bundle, e));
    }
    if had_old {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_library(dir: &Path) -> PathBuf {
        let p = dir.join("libequifx_ffi.so");
        std::fs::write(&p, b"\x7fELF....OfxGetPlugin....OfxGetNumberOfPlugins").unwrap();
        p
    }

    #[test]
    fn bundle_has_the_packaging_layout_and_replaces_an_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let lib = fake_library(dir.path());
        let out = dir.path().join("plugins");
        let b = assemble(&lib, None, &out).unwrap();
        // Second run replaces the first without leftovers.
        let b2 = assemble(&lib, None, &out).unwrap();
        assert_eq!(b, b2);
        assert!(!b
            .join("Contents")
            .join(architecture_dir().unwrap())
            .join(CUDA_VARIANT_FILE)
            .exists());
        let binary = b
            .join("Contents")
            .join(architecture_dir().unwrap())
            .join("equifx.ofx");
        assert_eq!(
            std::fs::read(&binary).unwrap(),
            std::fs::read(&lib).unwrap()
        );
        let plist = std::fs::read_to_string(b.join("Contents/Info.plist")).unwrap();
        assert!(plist.contains("<string>equifx.ofx</string>"));
        assert!(plist.contains(env!("CARGO_PKG_VERSION")));
        assert!(!plist.contains('@'), "unreplaced placeholder in {plist}");
        for n in crate::manifest::nodes() {
            let icon = b.join(format!("Contents/Resources/{}.png", n.id));
            let img = image::open(&icon).unwrap();
            assert_eq!((img.width(), img.height()), (ICON_SIZE, ICON_SIZE));
        }
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            vec![BUNDLE_NAME.to_string()],
            "staging or old dirs left behind"
        );
    }

    #[test]
    fn a_file_that_is_not_the_plugin_library_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let not_lib = dir.path().join("libequifx.rlib");
        std::fs::write(&not_lib, b"just some archive").unwrap();
        let err = assemble(&not_lib, None, &dir.path().join("out")).unwrap_err();
        assert!(err.to_string().contains("OfxGetPlugin"), "{err}");
        assert!(!dir.path().join("out").join(BUNDLE_NAME).exists());
        // The same for a wrong CUDA variant, and nothing is half-written.
        let lib = fake_library(dir.path());
        let err = assemble(&lib, Some(&not_lib), &dir.path().join("out")).unwrap_err();
        assert!(err.to_string().contains("libequifx.rlib"), "{err}");
        assert!(!dir.path().join("out").join(BUNDLE_NAME).exists());
    }

    #[test]
    fn the_cuda_variant_goes_beside_the_plugin_binary() {
        let dir = tempfile::tempdir().unwrap();
        let lib = fake_library(dir.path());
        let cuda = dir.path().join("libequifx_ffi_cuda_build.so");
        std::fs::write(&cuda, b"\x7fELF..cuda..OfxGetPlugin").unwrap();
        let b = assemble(&lib, Some(&cuda), &dir.path().join("out")).unwrap();
        let arch = b.join("Contents").join(architecture_dir().unwrap());
        assert_eq!(
            std::fs::read(arch.join("equifx.ofx")).unwrap(),
            std::fs::read(&lib).unwrap()
        );
        assert_eq!(
            std::fs::read(arch.join(CUDA_VARIANT_FILE)).unwrap(),
            std::fs::read(&cuda).unwrap()
        );
    }

    #[test]
    fn icons_differ_between_nodes_and_are_stable() {
        assert_eq!(
            icon_png("org.equifx.A").unwrap(),
            icon_png("org.equifx.A").unwrap()
        );
        assert_ne!(
            icon_png("org.equifx.A").unwrap(),
            icon_png("org.equifx.B").unwrap()
        );
    }
}
