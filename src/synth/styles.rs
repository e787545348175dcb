//! The three styles (domains) a scene renders in. Everything is computed
//! per pixel from the scene and the pixel's position, with analytic
//! anti-aliasing from the signed distance, so any size renders the same
//! picture and any thread renders the same pixel.

use std::f64::consts::TAU;

use serde::{Deserialize, Serialize};

use super::scene::{Scene, Shape};

/// A rendering style: the domain of the synthetic world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Smooth 3-D shading, soft drop shadow, mild sensor noise.
    Photo,
    /// Quantised colours with jitter, oriented brush strokes, canvas grain, no outline.
    Oil,
    /// Flat two-tone cel shading, dark outline, flat pastel background, no noise.
    Anime,
}

impl Style {
    pub const ALL: [Style; 3] = [Style::Photo, Style::Oil, Style::Anime];

    pub fn name(self) -> &'static str {
        match self {
            Style::Photo => "photo",
            Style::Oil => "oil",
            Style::Anime => "anime",
        }
    }

    pub fn parse(s: &str) -> crate::Result<Style> {
        Style::ALL
            .into_iter()
            .find(|d| d.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                crate::Error::InvalidArgument(format!(
                    "unknown domain '{s}': use photo, oil or anime"
                ))
            })
    }
}

/// splitmix64 finaliser: a stateless hash, so noise depends only on its inputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from a seed and integer coordinates.
fn hash01(seed: u64, a: i64, b: i64, c: u64) -> f64 {
    let h =
        mix(seed ^ mix((a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ mix((b as u64) ^ mix(c))));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Smooth lattice noise in [0, 1).
fn value_noise(seed: u64, x: f64, y: f64) -> f64 {
    let (xf, yf) = (x.floor(), y.floor());
    let (tx, ty) = (x - xf, y - yf);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let (x0, y0) = (xf as i64, yf as i64);
    let v = |dx: i64, dy: i64| hash01(seed, x0 + dx, y0 + dy, 7);
    let top = v(0, 0) + (v(1, 0) - v(0, 0)) * sx;
    let bottom = v(0, 1) + (v(1, 1) - v(0, 1)) * sx;
    top + (bottom - top) * sy
}

/// HSV (hue in degrees) to RGB in [0, 1].
pub fn hsv_to_rgb(h: f64, s: f64, v: f64) -> [f64; 3] {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

fn lerp3(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Lambert shading of the object at local position (x, y) (shorter-side
/// units from its centre) with signed distance `d`: a sphere for round
/// shapes, a bevelled slab for angular ones.
fn lambert(scene: &Scene, x: f64, y: f64, d: f64) -> f64 {
    let light = [scene.light.cos(), -scene.light.sin(), 0.9];
    let ln = (light[0] * light[0] + light[1] * light[1] + light[2] * light[2]).sqrt();
    let n = match scene.shape {
        Shape::Round => {
            let (px, py) = (x / scene.size, y / scene.size);
            let z = (1.0 - px * px - py * py).max(0.0).sqrt();
            [px, py, z]
        }
        Shape::Angular => {
            let e = 1e-3;
            let (gx, gy) = (
                (scene.sdf(x + e, y) - scene.sdf(x - e, y)) / (2.0 * e),
                (scene.sdf(x, y + e) - scene.sdf(x, y - e)) / (2.0 * e),
            );
            let bevel = (d / (0.3 * scene.size)).exp().min(1.0);
            [gx * bevel, gy * bevel, 1.0]
        }
    };
    let nn = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt().max(1e-9);
    ((n[0] * light[0] + n[1] * light[1] + n[2] * light[2]) / (nn * ln)).max(0.0)
}

/// The sRGB colour (components in [0, 1]) of pixel (px, py) of a `w × h` render.
pub fn pixel(scene: &Scene, style: Style, px: usize, py: usize, w: usize, h: usize) -> [f64; 3] {
    let m = w.min(h) as f64;
    let (fx, fy) = (px as f64 + 0.5, py as f64 + 0.5);
    // Local object coordinates in shorter-side units, and global ones for textures.
    let (x, y) = (
        (fx - scene.cx * w as f64) / m,
        (fy - scene.cy * h as f64) / m,
    );
    let (gx, gy) = (fx / m, fy / m);
    let d = scene.sdf(x, y);
    let seed = scene.texture_seed;
    let base = hsv_to_rgb(scene.hue, scene.saturation, scene.value);
    match style {
        Style::Photo => {
            let grad = 1.0 + 0.15 * (0.5 - fy / h as f64);
            let mut bg = hsv_to_rgb(scene.bg_hue, 0.1, scene.bg_value * grad);
            let off = 0.09 * scene.size / 0.25;
            let ds = scene.sdf(x + off * scene.light.cos(), y - off * scene.light.sin());
            let shadow = 0.5 * sigmoid(-ds / 0.03);
            bg = bg.map(|c| c * (1.0 - shadow));
            let cover = (0.5 - d * m).clamp(0.0, 1.0);
            let c = if cover > 0.0 {
                let shade = 0.5 + 0.5 * lambert(scene, x, y, d);
                lerp3(bg, base.map(|c| c * shade), cover)
            } else {
                bg
            };
            // Sensor noise: a triangular distribution (sum of two uniforms), σ ≈ 0.02.
            let noise = |ch: u64| {
                let h = mix(seed ^ mix(((py * w + px) as u64) * 4 + ch));
                let (a, b) = (
                    (h >> 40) as f64 / (1u64 << 24) as f64,
                    (h & 0xff_ffff) as f64 / (1u64 << 24) as f64,
                );
                (a + b - 1.0) * 0.05
            };
            [c[0] + noise(0), c[1] + noise(1), c[2] + noise(2)]
        }
        Style::Oil => {
            let (s, c) = scene.stroke_angle.sin_cos();
            let (u, v) = (gx * c + gy * s, -gx * s + gy * c);
            // Strokes about 1/14 of the frame wide and 1/3 long: coarse enough to
            // survive downsampling and an autoencoder, fine enough to read as paint.
            let stroke = 0.6 * value_noise(seed, u * 3.0, v * 14.0)
                + 0.4 * value_noise(seed ^ 5, u * 6.0, v * 28.0)
                - 0.5;
            let weave = (gx * TAU * 24.0).sin() * (gy * TAU * 24.0).sin();
            let bg_v = scene.bg_value + 0.16 * stroke + 0.035 * weave;
            let bg = hsv_to_rgb(35.0 + 0.2 * (scene.bg_hue - 180.0), 0.18, bg_v);
            // Painterly edge: the outline wobbles with the strokes.
            let dp = d + 0.025 * stroke;
            let cover = (0.5 - dp * m).clamp(0.0, 1.0);
            let grain = 0.02 * weave;
            if cover == 0.0 {
                return bg.map(|c| c + grain);
            }
            let lit = 0.55 + 0.45 * lambert(scene, x, y, d);
            let q = ((lit * 4.0).floor() / 4.0).clamp(0.4, 1.0);
            let hue = ((scene.hue + 16.0 * stroke) / 8.0).round() * 8.0;
            let obj = hsv_to_rgb(
                hue,
                scene.saturation,
                (scene.value * q + 0.14 * stroke).clamp(0.0, 1.0),
            );
            lerp3(bg, obj, cover).map(|c| c + grain)
        }
        Style::Anime => {
            let bg = hsv_to_rgb(scene.bg_hue, 0.18, 0.94);
            let (lx, ly) = (scene.light.cos(), -scene.light.sin());
            let lit = x * lx + y * ly + 0.25 * scene.size > 0.0;
            let obj = if lit {
                base
            } else {
                hsv_to_rgb(
                    scene.hue,
                    (scene.saturation + 0.08).min(1.0),
                    scene.value * 0.68,
                )
            };
            let ink = [0.1, 0.08, 0.12];
            let half = (0.012 + 1.0 / m).max(0.014);
            let cover = (0.5 - d * m).clamp(0.0, 1.0);
            let line = (0.5 - (d.abs() - half) * m).clamp(0.0, 1.0);
            lerp3(lerp3(bg, obj, cover), ink, line)
        }
    }
}

/// Renders a scene as 8-bit sRGB, row-major RGB.
pub fn render_srgb8(scene: &Scene, style: Style, w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h * 3];
    for py in 0..h {
        for px in 0..w {
            let c = pixel(scene, style, px, py, w, h);
            let i = (py * w + px) * 3;
            for k in 0..3 {
                out[i + k] = (c[k].clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    out
}

/// Renders a scene into the working image (linear light, opaque), as a node would receive it.
pub fn render_image(scene: &Scene, style: Style, w: usize, h: usize) -> crate::frame::Image {
    let bytes = render_srgb8(scene, style, w, h);
    let layout = crate::frame::FrameLayout::packed(
        w,
        h,
        crate::frame::PixelFormat::RGB_U8,
        crate::frame::ColourSpace::Srgb,
        crate::frame::AlphaMode::Straight,
    );
    // The layout is packed from the same sizes as the buffer: only memory can
    // fail, and `Image::new` then aborts like every allocation of the
    // synthetic world (whose scenes are small).
    crate::frame::FrameRef::new(layout, &bytes)
        .and_then(|f| crate::frame::Image::from_frame(&f))
        .unwrap_or_else(|_| crate::frame::Image::new(w, h))
}
