//! Python tools from PyPI in virtualenvs cached outside the repository,
//! created on first use. Shared by `tests/onnx_export.rs` and
//! `tests/openjd.rs` (through `mod common;`) and `benches/vs_onnxruntime.rs`
//! (which includes this file alone with `#[path]`).
//!
//! A venv lives in `$<its variable>`, else `$XDG_CACHE_HOME/equifx-test/<name>`,
//! else `~/.cache/equifx-test/<name>`. It is built beside that place and
//! renamed into it, so a run that is killed, or a concurrent one, never leaves
//! a half-installed venv in use.

// Each test or bench that includes this file uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A cached virtualenv and what goes into it.
pub struct Venv {
    /// Folder name under `equifx-test/` in the cache.
    pub name: &'static str,
    /// Environment variable that names another folder.
    pub env: &'static str,
    /// pip requirements the venv cannot do without.
    pub packages: &'static [&'static str],
    /// pip requirements installed when they can be; a failure is only reported.
    pub optional: &'static [&'static str],
    /// Arguments to the venv's python that succeed once the venv is ready.
    pub probe: &'static [&'static str],
}

/// ONNX Runtime and numpy, plus onnx for the export test's structural check.
pub const ORT: Venv = Venv {
    name: "ort-venv",
    env: "EQUIFX_ORT_VENV",
    packages: &["onnxruntime==1.*", "numpy"],
    optional: &["onnx"],
    probe: &["-c", "import onnxruntime, numpy"],
};

impl Venv {
    pub fn dir(&self) -> PathBuf {
        if let Some(p) = std::env::var_os(self.env) {
            return PathBuf::from(p);
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("equifx-test").join(self.name)
    }

    fn ready(&self, python: &Path) -> bool {
        python.exists() && run(Command::new(python).args(self.probe)).is_ok()
    }

    /// The venv's python, the venv created first when it is missing or fails
    /// its probe.
    pub fn python(&self) -> Result<PathBuf, String> {
        let venv = self.dir();
        let python = venv.join("bin/python");
        if self.ready(&python) {
            return Ok(python);
        }
        run(Command::new("python3").arg("--version")).map_err(|e| format!("no python3: {e}"))?;
        let parent = venv.parent().ok_or("the venv path has no parent")?;
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        let partial = parent.join(format!("{}.partial-{}", self.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        eprintln!(
            "equifx: creating {} (python3 -m venv, pip install {})",
            venv.display(),
            [self.packages, self.optional].concat().join(" ")
        );
        let built = (|| {
            run(Command::new("python3").args(["-m", "venv"]).arg(&partial))?;
            pip_install(&partial.join("bin/python"), self.packages)?;
            for package in self.optional {
                if let Err(e) = pip_install(&partial.join("bin/python"), &[package]) {
                    eprintln!("equifx: {package} did not install, what needs it is left out: {e}");
                }
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
        if self.ready(&python) {
            Ok(python)
        } else {
            Err(format!(
                "{} fails its check {:?} after installing",
                venv.display(),
                self.probe
            ))
        }
    }
}

/// What a test does without the venv: under `CI=true` it fails; elsewhere it
/// prints SKIPPED and why, and gets `None`.
pub fn or_skip(venv: &Result<PathBuf, String>, test: &str, what: &str) -> Option<PathBuf> {
    match venv {
        Ok(python) => Some(python.clone()),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: needs {what} under CI=true: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: cannot set up {what} (needs python3, pip and PyPI): {e}");
            None
        }
    }
}

/// Runs `cmd`; on failure, the last lines of its stderr.
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

fn pip_install(python: &Path, packages: &[&str]) -> Result<(), String> {
    run(Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages))
}

/// Installs `package` into the venv of `python` when `import module` fails
/// there (e.g. pillow for the ONNX Runtime bench's PNG codec).
pub fn ensure_module(python: &Path, module: &str, package: &str) -> Result<(), String> {
    let import = || run(Command::new(python).args(["-c", &format!("import {module}")]));
    if import().is_ok() {
        return Ok(());
    }
    eprintln!("equifx: pip install {package} into {}", python.display());
    pip_install(python, &[package])?;
    import()
}
