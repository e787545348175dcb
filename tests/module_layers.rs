//! The core crate's top-level modules form layers: no module reaches, directly
//! or through others, back into one that depends on it. Read from the paths
//! in the code (not comments) of every file under `src/` (the CLI in `src/bin/` is on top and
//! excluded): `crate::x`, and `super::x` / `super::super::x` where they climb
//! to the crate root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Top-level module → the top-level modules it names.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let top_of = |p: &Path| -> Option<(String, usize)> {
        let rel = p.strip_prefix(src).unwrap();
        let parts: Vec<_> = rel
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        let first = parts[0].trim_end_matches(".rs").to_string();
        if first == "lib" || first == "bin" {
            return None;
        }
        // Depth below the crate root of the module the file defines.
        let depth = match parts.last().map(String::as_str) {
            Some("mod.rs") => parts.len() - 1,
            _ => parts.len(),
        };
        Some((first, depth))
    };
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| top_of(f))
        .map(|t| t.0)
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some((top, depth)) = top_of(f) else {
            continue;
        };
        // Code only: comments may name any module.
        let text: String = std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let climb_to_root = "super::".repeat(depth);
        let mut named = Vec::new();
        for (i, _) in text.match_indices("crate::") {
            named.push(ident(&text[i + 7..]).to_string());
        }
        for (i, _) in text.match_indices(&climb_to_root) {
            // Not a longer climb that only ends here.
            if text[..i].ends_with("super::") {
                continue;
            }
            named.push(ident(&text[i + climb_to_root.len()..]).to_string());
        }
        let entry = deps.entry(top.clone()).or_default();
        for n in named {
            if n != top && modules.contains(&n) {
                entry.insert(n);
            }
        }
    }
    deps
}

/// A cycle through `start`, if there is one (depth-first search).
fn cycle_from(
    deps: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    let here = path.last().unwrap().clone();
    for next in deps.get(&here).into_iter().flatten() {
        if next == start {
            let mut c = path.clone();
            c.push(next.clone());
            return Some(c);
        }
        if !path.contains(next) {
            path.push(next.clone());
            if let Some(c) = cycle_from(deps, start, path) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let deps = dependencies(&src);
    assert!(
        deps.get("nodes").is_some_and(|d| d.contains("model")),
        "the scan must see nodes → model, or it sees nothing: {deps:?}"
    );
    let cycles: Vec<String> = deps
        .keys()
        .filter_map(|m| cycle_from(&deps, m, &mut vec![m.clone()]))
        .map(|c| c.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

/// What hosts load (the equifx-ffi library) does not pull in the CLI's
/// dependencies: they sit behind the core crate's `cli` feature.
#[test]
fn the_shared_library_builds_without_the_cli_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-p",
            "equifx-ffi",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--locked", "--format", "{p}"])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: BTreeSet<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(
        crates.contains("equifx") && crates.contains("candle-core"),
        "{tree}"
    );
    for cli_only in [
        "clap",
        "indicatif",
        "ctrlc",
        "tracing-subscriber",
        "plotters",
    ] {
        assert!(
            !crates.contains(cli_only),
            "{cli_only} reaches the shared library"
        );
    }
}
