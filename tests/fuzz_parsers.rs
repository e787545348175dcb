//! Every reader of outside input, fed mutated copies of valid files: bundle
//! manifests, rebalance plans, fair-sampler sidecars, audit records, training
//! labels and images in every format we read. A reader may refuse, never
//! panic; what it accepts must be usable by the code that consumes it.
//!
//! The case budget is fixed so CI time is bounded; `FUZZ_CASES=N` raises it
//! for a longer local campaign (docs/fuzzing.md).

use std::path::Path;

use equifx::fairness::metadata::{FrameRecord, Sidecar};
use equifx::fairness::RebalancePlan;
use equifx::frame::Image;
use equifx::io::image_file::{read_image, write_image, Depth};
use equifx::model::bundle::{default_bundle_dir, MANIFEST_FILE};
use equifx::model::Bundle;
use equifx::train::DomainData;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// One edit of a byte string: overwrite, insert or delete at a position
/// (taken modulo the length), or cut the string there.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// Replace a byte with one that matters to text formats.
    Special(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(b"0123456789-+.eE\"',:[]{}=\n\\\0\xff".to_vec());
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        2 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        4 => (any::<usize>(), special).prop_map(|(p, b)| Mutation::Special(p, b)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..6)
}

fn apply(seed: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in edits {
        if b.is_empty() {
            break;
        }
        match *m {
            Mutation::Set(p, v) | Mutation::Special(p, v) => {
                let i = p % b.len();
                b[i] = v;
            }
            Mutation::Insert(p, v) => b.insert(p % (b.len() + 1), v),
            Mutation::Delete(p) => {
                b.remove(p % b.len());
            }
            Mutation::Truncate(p) => b.truncate(p % b.len()),
        }
    }
    b
}

/// Cases per reader: `base`, or `FUZZ_CASES` when set.
fn runner(base: u32) -> TestRunner {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(base);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs `check` on mutated copies of `seed`; a panic inside is a failure
/// that proptest shrinks to a small reproduction.
fn fuzz(base: u32, seed: &[u8], check: impl Fn(&[u8])) {
    runner(base)
        .run(&mutations(), |edits| {
            check(&apply(seed, &edits));
            Ok(())
        })
        .unwrap();
}

#[test]
fn rebalance_plans() {
    let seed = serde_json::json!({
        "version": 1, "mode": "mirror", "margin": 0.25, "n_items": 4,
        "counts_before": [2, 1, 1, 0], "counts_after": [1, 1, 1, 1],
        "edits": [{"item": 2, "from": 0, "to": 3, "delta_u": [0.5, 0.75],
                   "coeffs": [0.5, 0.75], "cost": 0.8125}],
        "context": {"weights_sha256": "0123abcd", "domain": "photo",
                    "attributes": ["warm", "round"]}
    })
    .to_string();
    let names = ["warm".to_string(), "round".to_string()];
    fuzz(3000, seed.as_bytes(), |bytes| {
        let Ok(plan) = RebalancePlan::from_json(&String::from_utf8_lossy(bytes)) else {
            return;
        };
        if plan.check_context("0123abcd", "photo", &names).is_ok() {
            for i in 0..plan.n_items.min(64) {
                if let Some(e) = plan.edit_for(i) {
                    assert_eq!(e.coeffs.len(), names.len());
                    assert!(e.coeffs.iter().all(|c| c.is_finite()));
                }
            }
        }
        let _ = plan.to_json().unwrap();
    });
}

#[test]
fn sampler_sidecars() {
    let seed = serde_json::json!({
        "version": 1, "attributes": ["warm", "round"], "seed": 7,
        "target": [0.25, 0.25, 0.25, 0.25], "counts": [1, 1, 1, 1],
        "frames": [
            {"item": 0, "seed": 7, "cell": 0, "scores": [-0.5, -1.5]},
            {"item": 1, "seed": 7, "cell": 3, "scores": [0.5, 1.5]}
        ]
    })
    .to_string();
    fuzz(3000, seed.as_bytes(), |bytes| {
        if let Ok(s) = Sidecar::from_json(&String::from_utf8_lossy(bytes)) {
            let cells = 1usize << s.attributes.len();
            assert_eq!(s.counts.len(), cells);
            assert!(s.frames.iter().all(|f| f.cell < cells));
            let _ = s.to_json().unwrap();
        }
    });
}

#[test]
fn audit_records() {
    let seed = serde_json::json!({
        "version": 1, "attributes": ["smiling", "hat"],
        "frame": {"item": 3, "seed": 0, "cell": 2, "scores": [-0.25, 0.5]}
    })
    .to_string();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join(FrameRecord::file_name(1));
    std::fs::write(&good, &seed).unwrap();
    let mutated = dir.path().join(FrameRecord::file_name(2));
    fuzz(1000, seed.as_bytes(), |bytes| {
        std::fs::write(&mutated, bytes).unwrap();
        if let Ok(s) = FrameRecord::read_dir(dir.path()) {
            assert_eq!(s.frames.len(), 2);
            assert!(s
                .frames
                .iter()
                .all(|f| f.scores.len() == s.attributes.len()));
        }
    });
}

#[test]
fn bundle_manifests() {
    let text = std::fs::read(default_bundle_dir().join(MANIFEST_FILE)).unwrap();
    // The heads are most of the file; mutate the part that describes the model.
    let cut = String::from_utf8_lossy(&text)
        .find("[heads")
        .unwrap_or(text.len());
    let seed = &text[..cut];
    let dir = tempfile::tempdir().unwrap();
    fuzz(400, seed, |bytes| {
        std::fs::write(dir.path().join(MANIFEST_FILE), bytes).unwrap();
        if let Ok(m) = Bundle::read_manifest(dir.path()) {
            assert_eq!(m.domains.len(), m.architecture.domains);
            let _ = m.latent_dim();
        }
    });
}

/// Writes a small picture as `name` in `dir`.
fn picture(dir: &Path, name: &str) {
    let (w, h) = (12usize, 10usize);
    let data: Vec<f32> = (0..4 * w * h).map(|i| (i % 17) as f32 / 17.0).collect();
    let img = Image::from_planes(w, h, data).unwrap();
    write_image(&dir.join(name), &img, Depth::U8).unwrap();
}

#[test]
fn training_labels() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for name in ["a.png", "b.png", "sub/c.png"] {
        picture(dir.path(), name);
    }
    let seed = "file,smiling,\"hat\"\na.png,1,true\nb.png,0,no\nsub/c.png,yes,\n";
    fuzz(600, seed.as_bytes(), |bytes| {
        std::fs::write(dir.path().join("labels.csv"), bytes).unwrap();
        if let Ok(d) = DomainData::load("day", dir.path(), None) {
            assert_eq!(d.files.len(), 3);
            for labels in d.labels.values() {
                assert_eq!(labels.len(), d.files.len());
            }
            for share in d.attribute_shares().values() {
                assert!((0.0..=1.0).contains(share), "share {share}");
            }
        }
    });
}

/// Valid small files of every format we read, as bytes.
fn image_seeds(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let (w, h) = (16u32, 12u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mut out = Vec::new();
    for name in ["s.png", "s.tif", "s.exr"] {
        picture(dir, name);
        out.push((name, std::fs::read(dir.join(name)).unwrap()));
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out.push(("s.jpg", jpeg));
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out.push(("s.webp", webp));
    out
}

#[test]
fn image_files() {
    let dir = tempfile::tempdir().unwrap();
    for (name, seed) in image_seeds(dir.path()) {
        let path = dir.path().join(format!("fuzz-{name}"));
        fuzz(300, &seed, |bytes| {
            std::fs::write(&path, bytes).unwrap();
            if let Ok(img) = read_image(&path) {
                let (w, h) = (img.image.width(), img.image.height());
                assert!(w > 0 && h > 0);
                assert_eq!(img.image.data().len(), 4 * w * h);
            }
        });
    }
}
