//! The activations fused into the convolutions at inference, on a vectorised
//! exponential.
//!
//! The networks apply SiLU or a sigmoid to every value of almost every
//! layer: about 60 exponentials per pixel of a frame. The C library's `expf`
//! runs one value at a time, which made it a tenth of a full-resolution
//! transfer; [`exp`] is branch-free arithmetic the compiler turns into SIMD
//! over a slice.
//!
//! # Numerics
//! [`exp`] is within 2 · 10⁻⁷ of eˣ, relative, over the range of f32 (tested
//! against f64), so SiLU and the sigmoid here stay within 4 · 10⁻⁷ of
//! candle's ops, relative (also tested). The result depends only on the
//! input: the same on every run and thread count; plain multiplies and adds
//! (no fused multiply-add), so also on every x86-64 machine.

use candle_core::{Result, Tensor};

/// The activation applied to a convolution's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    /// x · σ(x), as candle's `silu`.
    Silu,
    /// σ(x), as `candle_nn::ops::sigmoid`.
    Sigmoid,
}

impl Activation {
    /// The activation on every value of `values`, in place.
    pub fn apply(self, values: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above), the only
            // requirement of a `target_feature` function.
            return unsafe { self.apply_avx2(values) };
        }
        self.apply_portable(values);
    }

    /// [`Self::apply`] with 8-wide vectors. The same multiplies and adds as
    /// the portable version (no fused multiply-add), so the same results.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn apply_avx2(self, values: &mut [f32]) {
        self.apply_portable(values);
    }

    #[inline(always)]
    fn apply_portable(self, values: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Silu => values.iter_mut().for_each(|v| *v /= 1.0 + exp(-*v)),
            Activation::Sigmoid => values.iter_mut().for_each(|v| *v = 1.0 / (1.0 + exp(-*v))),
        }
    }

    /// The activation with candle's ops, which carry gradients.
    pub(crate) fn on_tensor(self, t: Tensor) -> Result<Tensor> {
        match self {
            Activation::Identity => Ok(t),
            Activation::Silu => t.silu(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(&t),
        }
    }
}

/// eˣ for f32: x = n · ln 2 + r with |r| ≤ ln 2 / 2, eʳ by its Taylor
/// polynomial to degree 7 (truncation below 3 · 10⁻⁹), times 2ⁿ built in
/// the exponent bits. Inputs are clamped to where eˣ is a normal f32, so
/// it saturates at 2¹²⁷·… instead of overflowing and never returns a
/// subnormal; NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n · LN2_HI is exact for |n| < 2⁹.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 · 2²³ rounds to an integer and leaves it in the low bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2_E + ROUND;
    let n = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let nf = t - ROUND;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::rng::StreamRng;

    fn samples() -> Vec<f32> {
        let mut r = StreamRng::new(1, b"exp-test", 0);
        let mut v: Vec<f32> = (0..200_000)
            .map(|_| ((r.uniform() * 2.0 - 1.0) * 87.0) as f32)
            .collect();
        v.extend((0..100_000).map(|_| (r.normal() * 4.0) as f32));
        v.extend([
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e-30,
            -1e-30,
            86.9,
            -86.9,
            0.346_573_6,
        ]);
        v
    }

    #[test]
    fn exp_is_within_its_bound_of_the_f64_exponential() {
        let mut worst = 0.0f64;
        for x in samples() {
            let truth = f64::from(x).exp();
            let rel = (f64::from(exp(x)) - truth).abs() / truth;
            assert!(rel <= 2e-7, "exp({x}) = {} vs {truth}: {rel:e}", exp(x));
            worst = worst.max(rel);
        }
        println!("worst relative error of exp: {worst:e}");
    }

    #[test]
    fn the_vector_paths_give_the_portable_results() {
        let xs = samples();
        for act in [Activation::Silu, Activation::Sigmoid] {
            let (mut dispatched, mut portable) = (xs.clone(), xs.clone());
            act.apply(&mut dispatched);
            act.apply_portable(&mut portable);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&dispatched), bits(&portable), "{act:?}");
        }
    }

    #[test]
    fn exp_saturates_and_keeps_nan() {
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(f32::INFINITY).is_finite() && exp(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn activations_match_candles_ops() {
        let xs = samples();
        let t = Tensor::from_vec(xs.clone(), xs.len(), &Device::Cpu).unwrap();
        for act in [Activation::Silu, Activation::Sigmoid] {
            let theirs = act.on_tensor(t.clone()).unwrap().to_vec1::<f32>().unwrap();
            let mut ours = xs.clone();
            act.apply(&mut ours);
            for ((x, o), t) in xs.iter().zip(&ours).zip(&theirs) {
                let err = (o - t).abs();
                assert!(err <= 4e-7 * t.abs() + 1e-38, "{act:?}({x}): {o} vs {t}");
            }
        }
        let mut same = xs.clone();
        Activation::Identity.apply(&mut same);
        assert_eq!(same, xs);
    }
}
