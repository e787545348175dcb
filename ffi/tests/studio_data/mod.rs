//! The studio data the own-names tests of the C ABI, OpenFX and C++ API
//! share (the C++ tests include this file by path): two domain folders,
//! `day` and `night`, of PNGs and TIFFs of mixed sizes in nested folders,
//! with a labels.csv of `smiling` and `hat` and two unlabelled pictures, and
//! the tiny bundle trained on them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use equifx::frame::{AlphaMode, ColourSpace, FrameLayout, FrameRef, Image, PixelFormat};
use equifx::io::{write_image, Depth};

/// Labelled pictures per domain (enough of both classes of both attributes
/// for every head's fit and held-out split), and pictures without a row.
pub const LABELLED: u32 = 96;
pub const UNLABELLED: u32 = 2;
pub const SIZES: [(u32, u32); 6] = [(40, 30), (24, 64), (100, 70), (30, 40), (64, 24), (70, 100)];

/// A procedural picture as sRGB RGBA bytes: `day` bright, `night` dark;
/// `smiling` draws a red smile and `hat` a green block in every 8 × 8 tile.
pub fn picture_bytes(w: u32, h: u32, night: bool, smiling: bool, hat: bool, seed: u32) -> Vec<u8> {
    let (ox, oy) = (seed % 8, (seed / 8) % 8);
    let mut out = Vec::with_capacity((4 * w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let t = (x + y) as f32 / (w + h) as f32;
            let (tx, ty) = ((x + ox) % 8, (y + oy) % 8);
            let smile = matches!((tx, ty), (1, 4) | (6, 4)) || (ty == 5 && (2..=5).contains(&tx));
            let block = (1..=2).contains(&ty) && (2..=5).contains(&tx);
            let rgb = if smiling && smile {
                [230, 40, 60]
            } else if hat && block {
                [30, 170, 40]
            } else if night {
                [(20.0 + 30.0 * t) as u8, (25.0 + 20.0 * t) as u8, 60]
            } else {
                [(200.0 + 40.0 * t) as u8, (210.0 + 30.0 * t) as u8, 235]
            };
            out.extend_from_slice(&rgb);
            out.push(255);
        }
    }
    out
}

/// The picture in the working space (scene-linear planar floats).
pub fn picture(w: u32, h: u32, night: bool, smiling: bool, hat: bool, seed: u32) -> Image {
    let bytes = picture_bytes(w, h, night, smiling, hat, seed);
    let layout = FrameLayout::packed(
        w as usize,
        h as usize,
        PixelFormat::RGBA_U8,
        ColourSpace::Srgb,
        AlphaMode::Straight,
    );
    Image::from_frame(&FrameRef::new(layout, &bytes).unwrap()).unwrap()
}

/// Labels of picture `i`: day 5/8 smiling and 3/8 hat, night the other way.
pub fn labels(night: bool, i: u32) -> (bool, bool) {
    if night {
        ((3 * i + 1) % 8 < 3, (5 * i) % 8 < 5)
    } else {
        ((5 * i) % 8 < 5, (3 * i + 1) % 8 < 3)
    }
}

/// One domain folder (PNG and TIFF, nested, mixed sizes, a labels.csv);
/// returns the labelled share of (smiling, hat).
pub fn write_domain(root: &Path, night: bool) -> (f64, f64) {
    let mut csv = String::from("file,smiling,hat\n");
    let (mut smiling, mut hat) = (0, 0);
    for i in 0..LABELLED + UNLABELLED {
        let sub = ["", "a/", "a/b/"][(i % 3) as usize];
        let ext = if i.is_multiple_of(2) { "png" } else { "tif" };
        let rel = format!("{sub}img_{i:03}.{ext}");
        let (w, h) = SIZES[(i % SIZES.len() as u32) as usize];
        let (s, ha) = labels(night, i);
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_image(&path, &picture(w, h, night, s, ha, i), Depth::U8).unwrap();
        if i < LABELLED {
            csv += &format!("{rel},{},{}\n", u8::from(s), u8::from(ha));
            smiling += u32::from(s);
            hat += u32::from(ha);
        }
    }
    std::fs::write(root.join("labels.csv"), csv).unwrap();
    (
        f64::from(smiling) / f64::from(LABELLED),
        f64::from(hat) / f64::from(LABELLED),
    )
}

/// Writes both domain folders under `root` and trains the tiny bundle there
/// in-process (the library's `equifx train`); returns the bundle folder and
/// the labelled (smiling, hat) shares of `day` and `night`.
pub fn train(root: &Path, command: &str) -> (PathBuf, [(f64, f64); 2]) {
    let shares = [
        write_domain(&root.join("day"), false),
        write_domain(&root.join("night"), true),
    ];
    let bundle = root.join("bundle");
    let cfg = equifx::train::TrainConfig {
        out: bundle.clone(),
        domains: vec![
            ("day".into(), root.join("day")),
            ("night".into(), root.join("night")),
        ],
        size: 16,
        sampling: equifx::train::Sampling::Crop {
            pixel_scale: 1.0,
            scale_jitter: 0.0,
        },
        arch: equifx::model::ModelConfig {
            latent_channels: 4,
            ae_channels: [4, 6, 8, 8],
            cinn_blocks: 2,
            cinn_hidden: 8,
            embed_dim: 2,
            domains: 2,
            cinn_squeeze: false,
        },
        seed: 3,
        ae_steps: 40,
        cinn_steps: 40,
        batch: 8,
        ae_lr: 2e-3,
        cinn_lr: 1e-3,
        checkpoint_every: 1000,
        resume: false,
        limit: None,
        init_autoencoder: None,
        init_cinn: None,
        latent_noise: 0.1,
        texture_weight: 1.0,
        outline_weight: 0.0,
        adversarial_weight: 0.0,
        attribute_weight: 0.0,
        freeze_encoder: false,
        prior: equifx::model::PriorOptions {
            cluster_size: 6,
            spread: 0.6,
            seed: 3,
        },
        // A reader, so the Fair Sampler checks its pictures by the studio's names too.
        reader_epochs: 2,
        command: command.into(),
    };
    equifx::train::train(&cfg, &|_, _, _, _| {}).expect("training the studio bundle");
    (bundle, shares)
}
