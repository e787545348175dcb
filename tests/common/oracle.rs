//! The synthetic world's pixel oracles applied to working-space pictures: the
//! judges of the fairness tests, never the model's heads.

// Test files that share `common` for other parts use none of it.
#![allow(dead_code)]

use equifx::frame::{linear_to_srgb, Image};
use equifx::synth::{palette_oracle, shape_oracle, Palette, Shape};

/// The picture as 8-bit sRGB, as the oracles read it.
pub fn srgb8(img: &Image) -> Vec<u8> {
    let n = img.width() * img.height();
    (0..n)
        .flat_map(|p| {
            [0, 1, 2]
                .map(|c| (linear_to_srgb(img.plane(c)[p]).clamp(0.0, 1.0) * 255.0).round() as u8)
        })
        .collect()
}

/// Pixel-oracle readings (warm?, round?) of a picture; `None` where the oracle cannot tell.
pub fn oracle(img: &Image) -> (Option<bool>, Option<bool>) {
    let rgb = srgb8(img);
    let (w, h) = (img.width(), img.height());
    (
        palette_oracle(&rgb, w, h).value.map(|p| p == Palette::Warm),
        shape_oracle(&rgb, w, h).value.map(|s| s == Shape::Round),
    )
}
