//! Scene descriptions: what is in a picture, independent of style and size.

use serde::{Deserialize, Serialize};

use crate::rng::StreamRng;

/// The shape attribute: round (circles, near-circles) or angular (polygons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Round,
    Angular,
}

/// The palette attribute: warm (reds, oranges, yellows) or cool (cyans, blues).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Palette {
    Warm,
    Cool,
}

/// The planted bias of a dataset: probabilities of warm palette and round shape,
/// drawn independently per scene.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bias {
    pub warm: f64,
    pub round: f64,
}

impl Bias {
    /// The design's default bias of a domain: photo 70 % warm, oil 90 %,
    /// anime 50 %; 80 % round everywhere.
    pub fn default_for(style: super::Style) -> Bias {
        let warm = match style {
            super::Style::Photo => 0.7,
            super::Style::Oil => 0.9,
            super::Style::Anime => 0.5,
        };
        Bias { warm, round: 0.8 }
    }
}

/// One object on a background. Lengths are fractions of the frame's shorter
/// side and positions fractions of each side, so a scene renders at any size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub shape: Shape,
    pub palette: Palette,
    /// Polygon corner count for angular shapes (3 or 4); 0 for round ones.
    pub corners: u32,
    /// Ellipse elongation for round shapes (0 = circle).
    pub elongation: f64,
    /// Object hue in degrees [0, 360), saturation and value in [0, 1].
    pub hue: f64,
    pub saturation: f64,
    pub value: f64,
    /// Object centre, as fractions of width and height.
    pub cx: f64,
    pub cy: f64,
    /// Circumradius as a fraction of the shorter side.
    pub size: f64,
    /// Rotation in radians.
    pub rotation: f64,
    /// Background hue (degrees) and brightness.
    pub bg_hue: f64,
    pub bg_value: f64,
    /// Direction the light comes from (radians; 0 = from the right, π/2 = from above).
    pub light: f64,
    /// Brush-stroke direction for the oil style (radians).
    pub stroke_angle: f64,
    /// Seeds the per-pixel texture and noise of this scene.
    pub texture_seed: u64,
}

impl Scene {
    /// Scene `index` of the stream `seed` under `bias`. The same (seed, index)
    /// always gives the same scene, whatever else is drawn.
    pub fn sample(seed: u64, index: u64, bias: Bias) -> Scene {
        let mut r = StreamRng::new(seed, b"synth-scene", index);
        let shape = if r.uniform() < bias.round {
            Shape::Round
        } else {
            Shape::Angular
        };
        let palette = if r.uniform() < bias.warm {
            Palette::Warm
        } else {
            Palette::Cool
        };
        let hue = match palette {
            // 340°…50°: reds, oranges, yellows.
            Palette::Warm => (r.range(-20.0, 50.0) + 360.0) % 360.0,
            // 175°…245°: cyans and blues.
            Palette::Cool => r.range(175.0, 245.0),
        };
        let (corners, elongation) = match shape {
            Shape::Round => (0, r.range(0.0, 0.08)),
            Shape::Angular => (if r.uniform() < 0.5 { 3 } else { 4 }, 0.0),
        };
        let size = r.range(0.2, 0.3);
        Scene {
            shape,
            palette,
            corners,
            elongation,
            hue,
            saturation: r.range(0.65, 0.9),
            value: r.range(0.75, 0.95),
            cx: r.range(0.5 - (0.45 - size), 0.5 + (0.45 - size)),
            cy: r.range(0.5 - (0.45 - size), 0.5 + (0.45 - size)),
            size,
            rotation: r.range(0.0, std::f64::consts::TAU),
            bg_hue: r.range(0.0, 360.0),
            bg_value: r.range(0.6, 0.85),
            light: r.range(0.5, 2.6),
            stroke_angle: r.range(0.0, std::f64::consts::PI),
            texture_seed: r.next_u64(),
        }
    }

    /// Signed distance from the object's outline at (x, y) in shorter-side
    /// units (negative inside), with the object centred at the origin.
    pub fn sdf(&self, x: f64, y: f64) -> f64 {
        let (s, c) = (-self.rotation).sin_cos();
        let (u, v) = (c * x - s * y, s * x + c * y);
        match self.shape {
            Shape::Round => {
                let (a, b) = (
                    self.size * (1.0 + self.elongation),
                    self.size * (1.0 - self.elongation),
                );
                // Distance to an ellipse, first-order accurate near the outline.
                let k = ((u / a).powi(2) + (v / b).powi(2)).sqrt();
                if k == 0.0 {
                    return -b;
                }
                let grad = ((u / (a * a)).powi(2) + (v / (b * b)).powi(2)).sqrt() / k;
                (k - 1.0) / grad.max(1e-9)
            }
            Shape::Angular => {
                let n = self.corners as f64;
                let apothem = self.size * (std::f64::consts::PI / n).cos();
                let mut d = f64::MIN;
                for i in 0..self.corners {
                    let a = std::f64::consts::TAU * (i as f64 + 0.5) / n;
                    d = d.max(u * a.cos() + v * a.sin() - apothem);
                }
                d
            }
        }
    }
}
