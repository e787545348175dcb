//! ONNX Runtime from PyPI in a virtualenv cached outside the repository, and
//! the raw little-endian f32 files tensors are exchanged with it in; shared by
//! `tests/onnx_export.rs` and `benches/vs_onnxruntime.rs` (each includes this
//! file with `#[path]`).
//!
//! The venv is `$EQUIFX_ORT_VENV`, else `$XDG_CACHE_HOME/equifx-test/ort-venv`,
//! else `~/.cache/equifx-test/ort-venv`, created on first use with
//! `python3 -m venv` and `pip install onnxruntime==1.* numpy` (and `onnx`, for
//! the test's structural check, when it installs).

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn venv_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("EQUIFX_ORT_VENV") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("equifx-test/ort-venv")
}

pub fn run(cmd: &mut Command) -> Result<(), String> {
    let o = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&o.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect();
        Err(format!(
            "{cmd:?} failed ({}): {}",
            o.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }
}

pub fn has_ort(python: &Path) -> bool {
    python.exists() && run(Command::new(python).args(["-c", "import onnxruntime, numpy"])).is_ok()
}

/// The venv's python with onnxruntime and numpy, created when missing.
pub fn ort_python() -> Result<PathBuf, String> {
    let venv = venv_dir();
    let python = venv.join("bin/python");
    if has_ort(&python) {
        return Ok(python);
    }
    run(Command::new("python3").arg("--version")).map_err(|e| format!("no python3: {e}"))?;
    let parent = venv.parent().ok_or("the venv path has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    // Built beside its final place and renamed into it, so a run that is
    // killed or a concurrent one never leaves a half-installed venv in use.
    let partial = parent.join(format!("ort-venv.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    eprintln!(
        "equifx: creating {} (python3 -m venv, pip install onnxruntime numpy onnx)",
        venv.display()
    );
    let built = (|| {
        run(Command::new("python3").args(["-m", "venv"]).arg(&partial))?;
        let pip = |pkgs: &[&str]| {
            run(Command::new(partial.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(pkgs))
        };
        pip(&["onnxruntime==1.*", "numpy"])?;
        if let Err(e) = pip(&["onnx"]) {
            eprintln!("equifx: no onnx package, the structural check is left out: {e}");
        }
        Ok::<_, String>(())
    })();
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(&venv);
    if std::fs::rename(&partial, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    if has_ort(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{} has no onnxruntime after installing",
            venv.display()
        ))
    }
}

/// Installs `package` into the venv of `python` when `import module` fails
/// there (e.g. pillow for the bench's PNG codec); the test needs none.
#[allow(dead_code)]
pub fn ensure_module(python: &Path, module: &str, package: &str) -> Result<(), String> {
    if run(Command::new(python).args(["-c", &format!("import {module}")])).is_ok() {
        return Ok(());
    }
    eprintln!("equifx: pip install {package} into {}", python.display());
    run(Command::new(python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        package,
    ]))?;
    run(Command::new(python).args(["-c", &format!("import {module}")]))
}

/// Writes a tensor's values as raw little-endian f32.
pub fn write_f32(path: &Path, t: &candle_core::Tensor) {
    let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// Reads raw little-endian f32 values.
pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
