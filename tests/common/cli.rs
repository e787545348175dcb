//! Running the `equifx` binary as users do, and reading what it wrote.

// Test files that share `common` for other parts use none of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use equifx::frame::{linear_to_srgb, Image};

/// The `equifx` binary of this build.
pub fn equifx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

/// Runs `cmd`, fails the test with its stderr unless it succeeds, and
/// returns its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("equifx runs");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The node's frame and the 8-bit file the CLI wrote for it agree to half an
/// 8-bit level (plus rounding slack) on every colour sample, in sRGB.
pub fn assert_node_matches_cli(node: &Image, cli: &Image, what: &str) {
    let worst = (0..3 * node.width() * node.height())
        .map(|i| (linear_to_srgb(node.data()[i]) - linear_to_srgb(cli.data()[i])).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 0.5 / 255.0 + 1e-4,
        "node and CLI differ by {worst} for {what}"
    );
}

/// The `groups` attribute of the audit report at `stem`.json.
pub fn groups_attribute(stem: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(stem.with_extension("json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "groups")
        .expect("a groups attribute")
        .clone()
}

/// Frames per group in the audit report at `stem`.json.
pub fn group_counts(stem: &Path) -> Vec<u64> {
    groups_attribute(stem)["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect()
}

/// Renders `count` fresh photos into `dir` with `equifx synth` at a planted
/// warm share (round 60 %, a mix no domain was trained at) and returns their
/// true warm share, read from the world's labels.csv.
pub fn photo_renders(dir: &Path, count: usize, warm: f64, seed: u64) -> f64 {
    run(equifx()
        .args(["synth", "--domain", "photo", "--count", &count.to_string()])
        .args(["--warm", &warm.to_string(), "--round", "0.6"])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(dir));
    let labels = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
    let column = labels
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "palette")
        .unwrap();
    let rows: Vec<&str> = labels.lines().skip(1).collect();
    rows.iter()
        .filter(|r| r.split(',').nth(column) == Some("warm"))
        .count() as f64
        / rows.len() as f64
}
