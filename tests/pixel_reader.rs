//! The pixel reader (`equifx fit-reader`, `src/model/reader.rs`): what the
//! shipped one claims about itself holds on fresh renders, fitting is
//! resumable bit-identically, and a folder without labels is a clear error.

use candle_core::{Device, Tensor};
use equifx::fairness::normal;
use equifx::model::bundle::default_bundle_dir;
use equifx::model::Bundle;
use equifx::synth::{render_srgb8, write_dataset, Bias, DatasetSpec, Palette, Scene, Shape, Style};
use equifx::train::{fit_reader, DomainData, ReaderOptions};

mod common;
use common::cli::equifx;

/// On 600 fresh renders a domain (scenes no training image shows), the
/// shipped reader reads each attribute as well as the held-out accuracy the
/// manifest records, within z·√(p(1−p)/n) (α = 10⁻³, Bonferroni over the
/// six outputs): the number `model info` prints is one users can rely on.
#[test]
fn the_shipped_reader_is_as_accurate_on_fresh_renders_as_it_claims() {
    let b = Bundle::load(&default_bundle_dir(), &Device::Cpu).expect("bundle");
    let reader = b.reader.as_ref().expect("the shipped bundle has a reader");
    let s = b.manifest.image_size;
    let n = 600;
    let z = normal::isf(1e-3 / 6.0);
    for style in [Style::Photo, Style::Oil, Style::Anime] {
        let scenes: Vec<Scene> = (0..n)
            .map(|i| Scene::sample(9191, i, Bias::default_for(style)))
            .collect();
        // Planar sRGB in [0, 1], as the training files hold them.
        let pixels: Vec<f32> = scenes
            .iter()
            .flat_map(|scene| {
                let rgb = render_srgb8(scene, style, s, s);
                (0..3)
                    .flat_map(|c| {
                        rgb.chunks_exact(3)
                            .map(|p| f32::from(p[c]) / 255.0)
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let x = Tensor::from_vec(pixels, (n as usize, 3, s, s), &Device::Cpu).unwrap();
        let logits = reader.logits(&x).unwrap().to_vec2::<f32>().unwrap();
        for (attribute, truth) in [
            (
                "warm",
                scenes
                    .iter()
                    .map(|s| s.palette == Palette::Warm)
                    .collect::<Vec<_>>(),
            ),
            (
                "round",
                scenes.iter().map(|s| s.shape == Shape::Round).collect(),
            ),
        ] {
            let k = reader
                .output_of(style.name(), attribute)
                .expect("an output per domain and attribute");
            let right = logits
                .iter()
                .zip(&truth)
                .filter(|(z, t)| (z[k] > 0.0) == **t)
                .count() as f64
                / n as f64;
            let claimed = reader.outputs()[k].held_out_accuracy;
            let tol = z
                * (claimed * (1.0 - claimed) / n as f64)
                    .sqrt()
                    .max(1.0 / n as f64);
            eprintln!(
                "{}/{attribute}: fresh renders {right:.3}, claimed {claimed:.3} (−{tol:.3} allowed)",
                style.name()
            );
            assert!(
                right >= claimed - tol,
                "{}/{attribute}: reads {right:.3} of fresh renders right, the manifest claims {claimed:.3}",
                style.name()
            );
            assert!(claimed > 0.9, "{}/{attribute}", style.name());
        }
    }
}

fn labelled(root: &std::path::Path, style: Style, count: usize) -> DomainData {
    let out = root.join(style.name());
    let spec = DatasetSpec {
        style,
        count,
        width: 64,
        height: 64,
        seed: 5,
        bias: Bias::default_for(style),
        out: out.clone(),
    };
    write_dataset(&spec, &|_| {}).expect("synthetic data");
    DomainData::load(style.name(), &out, None).expect("load")
}

/// Two epochs in one run, and one epoch then a resumed second, write the
/// same reader byte for byte.
#[test]
fn a_resumed_fit_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![
        labelled(dir.path(), Style::Photo, 96),
        labelled(dir.path(), Style::Oil, 96),
    ];
    let manifest = Bundle::read_manifest(&default_bundle_dir()).expect("manifest");
    let fit = |epochs: usize, checkpoint: &str, out: &str| {
        let out = dir.path().join(out);
        std::fs::create_dir_all(&out).unwrap();
        let options = ReaderOptions {
            epochs,
            checkpoint: Some(dir.path().join(checkpoint)),
            ..ReaderOptions::default()
        };
        let info = fit_reader(&manifest, &data, &options, &out).expect("fit");
        (info, std::fs::read(out.join("reader.safetensors")).unwrap())
    };
    let (whole, whole_bytes) = fit(2, "ck-a", "a");
    assert_eq!(whole.outputs.len(), 4, "warm and round of two domains");
    fit(1, "ck-b", "b");
    let (resumed, resumed_bytes) = fit(2, "ck-b", "b");
    assert_eq!(whole, resumed);
    assert!(whole_bytes == resumed_bytes, "the resumed reader differs");
    // A checkpoint of other labels is refused rather than mixed in.
    let options = ReaderOptions {
        epochs: 2,
        checkpoint: Some(dir.path().join("ck-b")),
        ..ReaderOptions::default()
    };
    let e = fit_reader(&manifest, &data[..1], &options, dir.path()).expect_err("refused");
    assert!(e.to_string().contains("other labels"), "{e}");
}

#[test]
fn fit_reader_without_labels_is_a_clear_error_and_leaves_the_bundle_alone() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    for f in ["manifest.toml", "weights.safetensors", "prior.safetensors"] {
        std::fs::copy(default_bundle_dir().join(f), bundle.join(f)).unwrap();
    }
    let before = std::fs::read(bundle.join("manifest.toml")).unwrap();
    let data = labelled(dir.path(), Style::Photo, 12);
    std::fs::remove_file(data.root.join("labels.csv")).unwrap();
    let out = equifx()
        .args(["fit-reader", "--model"])
        .arg(&bundle)
        .arg("--domain")
        .arg(format!("photo={}", data.root.display()))
        .arg("--checkpoint")
        .arg(dir.path().join("ck"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("labels.csv"), "{stderr}");
    assert_eq!(before, std::fs::read(bundle.join("manifest.toml")).unwrap());
    assert!(!bundle.join("reader.safetensors").exists());
}
