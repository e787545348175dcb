//! The same seed gives bit-identical datasets across runs and thread counts
//! (compared run against run, not against stored hashes).

use std::path::Path;

use equifx::synth::{write_dataset, Bias, DatasetSpec, Style};

fn write_with_threads(threads: usize, out: &Path, style: Style) {
    let spec = DatasetSpec {
        style,
        count: 40,
        width: 48,
        height: 48,
        seed: 11,
        bias: Bias::default_for(style),
        out: out.to_path_buf(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| write_dataset(&spec, &|_| {})).unwrap();
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn datasets_are_identical_across_runs_and_thread_counts() {
    for style in Style::ALL {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        write_with_threads(1, &a, style);
        write_with_threads(2, &b, style);
        write_with_threads(3, &c, style);
        let (fa, fb, fc) = (files(&a), files(&b), files(&c));
        assert_eq!(fa.len(), 41, "40 images and labels.csv");
        assert!(
            fa == fb && fb == fc,
            "{style:?}: outputs differ between thread counts"
        );
    }
}

#[test]
fn different_seeds_give_different_scenes_and_the_planted_bias_shows() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DatasetSpec {
        style: Style::Oil,
        count: 2000,
        width: 8,
        height: 8,
        seed: 5,
        bias: Bias {
            warm: 0.9,
            round: 0.8,
        },
        out: dir.path().to_path_buf(),
    };
    let rows = write_dataset(&spec, &|_| {}).unwrap();
    let warm = rows.iter().filter(|r| r.palette == "warm").count() as f64 / 2000.0;
    let round = rows.iter().filter(|r| r.shape == "round").count() as f64 / 2000.0;
    // Binomial tolerance at α = 1e-3 (z = 3.29): sd = sqrt(p(1-p)/N).
    assert!(
        (warm - 0.9).abs() < 3.29 * (0.9f64 * 0.1 / 2000.0).sqrt(),
        "warm share {warm}"
    );
    assert!(
        (round - 0.8).abs() < 3.29 * (0.8f64 * 0.2 / 2000.0).sqrt(),
        "round share {round}"
    );
    let other = equifx::synth::Scene::sample(6, 0, spec.bias);
    assert_ne!(other, equifx::synth::Scene::sample(5, 0, spec.bias));
}
