//! Colour encodings and alpha conventions of host frames. Nodes work in
//! linear light with straight alpha; these functions move host values there
//! and back.

/// Transfer function of the values in a frame, and of the pictures a model
/// bundle's networks see (`colour_space = "srgb"` in its manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourSpace {
    /// sRGB-encoded values (typical for 8-bit PNG/TIFF and display-referred hosts).
    Srgb,
    /// Scene-linear values (typical for float EXR and compositors' working space).
    Linear,
}

impl ColourSpace {
    /// The name manifests and reports use.
    pub fn name(self) -> &'static str {
        match self {
            ColourSpace::Srgb => "srgb",
            ColourSpace::Linear => "linear",
        }
    }

    /// A scene-linear value in this encoding.
    pub fn from_linear(self, v: f32) -> f32 {
        match self {
            ColourSpace::Srgb => linear_to_srgb(v),
            ColourSpace::Linear => v,
        }
    }

    /// A value in this encoding back to scene-linear.
    pub fn to_linear(self, v: f32) -> f32 {
        match self {
            ColourSpace::Srgb => srgb_to_linear(v),
            ColourSpace::Linear => v,
        }
    }
}

impl std::fmt::Display for ColourSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether colour channels are multiplied by alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlphaMode {
    Straight,
    Premultiplied,
}

/// sRGB electro-optical transfer: encoded → linear. Negative inputs are mirrored
/// so out-of-gamut float values survive a round trip.
pub fn srgb_to_linear(v: f32) -> f32 {
    let a = v.abs();
    let l = if a <= 0.04045 {
        a / 12.92
    } else {
        ((a + 0.055) / 1.055).powf(2.4)
    };
    l.copysign(v)
}

/// Inverse of [`srgb_to_linear`].
pub fn linear_to_srgb(v: f32) -> f32 {
    let a = v.abs();
    let e = if a <= 0.003_130_8 {
        a * 12.92
    } else {
        1.055 * a.powf(1.0 / 2.4) - 0.055
    };
    e.copysign(v)
}

/// Straight colour from premultiplied. Zero alpha leaves the colour as it is,
/// so additive (emissive) pixels with α = 0 survive a round trip.
pub fn unpremultiply(c: f32, a: f32) -> f32 {
    if a == 0.0 {
        c
    } else {
        c / a
    }
}

/// Inverse of [`unpremultiply`].
pub fn premultiply(c: f32, a: f32) -> f32 {
    if a == 0.0 {
        c
    } else {
        c * a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_round_trips_every_8_and_16_bit_code() {
        for i in 0..=255u32 {
            let e = i as f32 / 255.0;
            let back = (linear_to_srgb(srgb_to_linear(e)) * 255.0).round() as u32;
            assert_eq!(back, i);
        }
        for i in (0..=65535u32).step_by(7) {
            let e = i as f32 / 65535.0;
            let back = (linear_to_srgb(srgb_to_linear(e)) * 65535.0).round() as u32;
            assert_eq!(back, i);
        }
    }

    #[test]
    fn srgb_matches_the_standard_at_known_points() {
        // IEC 61966-2-1: 0.5 encoded ↔ 0.214041 linear; 1 ↔ 1; the linear segment below 0.04045.
        assert!((srgb_to_linear(0.5) - 0.214_041_14).abs() < 1e-6);
        assert!((srgb_to_linear(1.0) - 1.0).abs() < 1e-6);
        assert!((srgb_to_linear(0.02) - 0.02 / 12.92).abs() < 1e-9);
    }
}
