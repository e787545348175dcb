//! The oracles must read attributes and style from pixels alone, accurately,
//! on renders never used to tune them (tuning used seeds 1000…1299, whose
//! style features `cargo run --example style_features` prints; these tests
//! use seeds 1 and 2), at 64×64 and at 512×512, and must refuse to answer
//! where the pixels carry no answer (negative controls).

use equifx::synth::{
    object_geometry, palette_oracle, render_srgb8, shape_oracle, style_oracle, Bias, Scene, Style,
};
use rayon::prelude::*;

const SCENES: u64 = 1000;

struct Accuracy {
    palette: f64,
    shape: f64,
    style: [f64; 3],
}

fn measure(seed: u64, size: usize) -> Accuracy {
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    let per_scene: Vec<[u32; 5]> = (0..SCENES)
        .into_par_iter()
        .map(|i| {
            let scene = Scene::sample(seed, i, bias);
            let mut hits = [0u32; 5];
            for (k, style) in Style::ALL.into_iter().enumerate() {
                let rgb = render_srgb8(&scene, style, size, size);
                hits[2 + k] = u32::from(style_oracle(&rgb, size, size).value == Some(style));
                // Attributes are judged on every style; each scene counts once per style.
                hits[0] += u32::from(palette_oracle(&rgb, size, size).value == Some(scene.palette));
                hits[1] += u32::from(shape_oracle(&rgb, size, size).value == Some(scene.shape));
            }
            hits
        })
        .collect();
    let total = |k: usize| per_scene.iter().map(|h| f64::from(h[k])).sum::<f64>();
    Accuracy {
        palette: total(0) / (3 * SCENES) as f64,
        shape: total(1) / (3 * SCENES) as f64,
        style: [
            total(2) / SCENES as f64,
            total(3) / SCENES as f64,
            total(4) / SCENES as f64,
        ],
    }
}

fn check(a: &Accuracy, size: usize) {
    eprintln!(
        "{size}px: palette {:.4} shape {:.4} style photo/oil/anime {:.4?}",
        a.palette, a.shape, a.style
    );
    assert!(
        a.palette >= 0.97,
        "palette accuracy {:.4} at {size}px",
        a.palette
    );
    assert!(a.shape >= 0.97, "shape accuracy {:.4} at {size}px", a.shape);
    for (k, acc) in a.style.iter().enumerate() {
        assert!(
            *acc >= 0.95,
            "style accuracy for {:?} is {acc:.4} at {size}px",
            Style::ALL[k]
        );
    }
}

#[test]
fn oracles_are_accurate_at_64px() {
    check(&measure(1, 64), 64);
}

#[test]
fn oracles_are_accurate_at_512px() {
    check(&measure(2, 512), 512);
}

/// Spearman's rank correlation of the pairs (no ties expected).
fn spearman(pairs: &[(f64, f64)]) -> f64 {
    let rank = |key: fn(&(f64, f64)) -> f64| -> Vec<f64> {
        let mut idx: Vec<usize> = (0..pairs.len()).collect();
        idx.sort_by(|&a, &b| key(&pairs[a]).total_cmp(&key(&pairs[b])));
        let mut r = vec![0.0; pairs.len()];
        idx.iter().enumerate().for_each(|(k, &i)| r[i] = k as f64);
        r
    };
    let (ra, rb) = (rank(|p| p.0), rank(|p| p.1));
    let n = pairs.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(a, b)| (a - b).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// The geometry oracle finds the object where the scene put it: centroid
/// within 5 % of the frame of the scene's centre (objects clipped by the frame
/// edge may miss), and area rising with the drawn size (rank correlation).
#[test]
fn geometry_oracle_finds_the_object_where_the_scene_put_it() {
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    let size = 64;
    let (mut near, mut seen, mut pairs) = (0usize, 0usize, Vec::new());
    for i in 0..SCENES {
        let scene = Scene::sample(1, i, bias);
        let rgb = render_srgb8(&scene, Style::Photo, size, size);
        let Some(g) = object_geometry(&rgb, size, size) else {
            continue;
        };
        seen += 1;
        near += usize::from((g.x - scene.cx).abs() < 0.05 && (g.y - scene.cy).abs() < 0.05);
        pairs.push((scene.corners, scene.size, g.area));
    }
    assert!(seen as f64 >= 0.97 * SCENES as f64, "{seen} objects found");
    assert!(
        near as f64 >= 0.9 * seen as f64,
        "{near} of {seen} centroids near the centre"
    );
    // Drawn area depends on the outline too, so compare within each kind of outline.
    for corners in [0, 3, 4] {
        let kind: Vec<(f64, f64)> = pairs
            .iter()
            .filter(|p| p.0 == corners)
            .map(|p| (p.1, p.2))
            .collect();
        let rho = spearman(&kind);
        eprintln!(
            "{corners} corners: area vs size rank correlation {rho:.3} over {}",
            kind.len()
        );
        assert!(
            rho > 0.8,
            "{corners} corners: area vs size rank correlation {rho:.3}"
        );
    }
    eprintln!("centroids near the centre: {near} of {seen}");
}

fn greyscale(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|p| {
            let l = ((u32::from(p[0]) * 2126 + u32::from(p[1]) * 7152 + u32::from(p[2]) * 722)
                / 10000) as u8;
            [l, l, l]
        })
        .collect()
}

/// Negative controls: with the colour removed there is no palette to read
/// (and no object to segment, so no shape or style either); a flat frame
/// has no style; a hue-rotated object flips the palette verdict.
#[test]
fn oracles_refuse_frames_that_carry_no_answer() {
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    let mut confident = 0;
    for i in 0..200 {
        let scene = Scene::sample(3, i, bias);
        for style in Style::ALL {
            let grey = greyscale(&render_srgb8(&scene, style, 64, 64));
            confident += usize::from(palette_oracle(&grey, 64, 64).value.is_some());
            confident += usize::from(shape_oracle(&grey, 64, 64).value.is_some());
            confident += usize::from(style_oracle(&grey, 64, 64).value.is_some());
        }
    }
    assert_eq!(
        confident, 0,
        "greyscale frames got {confident} confident answers"
    );
    let flat = vec![128u8; 64 * 64 * 3];
    assert!(style_oracle(&flat, 64, 64).value.is_none());
    assert!(palette_oracle(&flat, 64, 64).value.is_none());

    // Rotating every hue by 180° turns warm objects cool: the palette oracle must follow.
    let mut flipped = 0;
    let n = 200;
    for i in 0..n {
        let mut scene = Scene::sample(4, i, bias);
        let truth = scene.palette;
        scene.hue = (scene.hue + 180.0) % 360.0;
        let rgb = render_srgb8(&scene, Style::Photo, 64, 64);
        flipped += usize::from(
            palette_oracle(&rgb, 64, 64)
                .value
                .is_some_and(|p| p != truth),
        );
    }
    assert!(
        flipped as f64 >= 0.97 * n as f64,
        "only {flipped}/{n} hue-rotated objects changed palette"
    );
}
