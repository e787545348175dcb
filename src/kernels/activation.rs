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

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::conv::f32_data;

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

    /// The activation of a tensor that carries gradients (training): one
    /// pass forward and one backward, where candle's SiLU backward is nine
    /// element-wise passes over the layer. Tensors the kernels do not take
    /// go to [`Self::on_tensor`].
    pub(crate) fn on_tracked(self, t: Tensor) -> Result<Tensor> {
        if self == Activation::Identity
            || !super::enabled()
            || !t.device().is_cpu()
            || t.dtype() != DType::F32
            || !t.is_contiguous()
        {
            return self.on_tensor(t);
        }
        t.apply_op1(ActivationOp(self))
    }

    /// `out = g · act'(x)`, value by value: the backward pass.
    fn gradient(self, x: &[f32], g: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above), the only
            // requirement of a `target_feature` function.
            return unsafe { self.gradient_avx2(x, g, out) };
        }
        self.gradient_portable(x, g, out);
    }

    /// [`Self::gradient`] with 8-wide vectors; the same results (see [`Self::apply_avx2`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn gradient_avx2(self, x: &[f32], g: &[f32], out: &mut [f32]) {
        self.gradient_portable(x, g, out);
    }

    #[inline(always)]
    fn gradient_portable(self, x: &[f32], g: &[f32], out: &mut [f32]) {
        for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
            *o = g * self.derivative(x);
        }
    }

    /// d act(x) / dx.
    #[inline(always)]
    fn derivative(self, x: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Silu => {
                let s = 1.0 / (1.0 + exp(-x));
                s * (1.0 + x * (1.0 - s))
            }
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + exp(-x));
                s * (1.0 - s)
            }
        }
    }
}

/// Values per parallel task of the activation ops: element-wise, so the
/// split changes nothing but the speed.
const CHUNK: usize = 1 << 14;

/// An activation with its backward pass, as a candle op.
struct ActivationOp(Activation);

impl CustomOp1 for ActivationOp {
    fn name(&self) -> &'static str {
        "equifx-activation"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut out = f32_data((s, l), "activation")?.to_vec();
        out.par_chunks_mut(CHUNK).for_each(|c| self.0.apply(c));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(&grad, &ActivationGrad(self.0))?))
    }
}

/// (x, gradient of act(x)) → gradient of x.
struct ActivationGrad(Activation);

impl CustomOp2 for ActivationGrad {
    fn name(&self) -> &'static str {
        "equifx-activation-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_data((s1, l1), "activation input")?;
        let g = f32_data((s2, l2), "activation gradient")?;
        if x.len() != g.len() {
            bail!("equifx activation: gradient and input sizes differ")
        }
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(o, (x, g))| self.0.gradient(x, g, o));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
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

/// `t + c` for inference: one parallel pass on this crate's threads where
/// candle's op would take its element-wise pool, whose lock host threads
/// rendering different frames would queue on. The same f32 sums as candle's.
pub fn add_scalar(t: &Tensor, c: f32) -> Result<Tensor> {
    if !super::enabled()
        || t.track_op()
        || !t.device().is_cpu()
        || t.dtype() != DType::F32
        || !t.is_contiguous()
    {
        return t + f64::from(c);
    }
    t.apply_op1_no_bwd(&AddScalar(c))
}

struct AddScalar(f32);

impl CustomOp1 for AddScalar {
    fn name(&self) -> &'static str {
        "equifx-add-scalar"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut out = f32_data((s, l), "add_scalar")?.to_vec();
        out.par_chunks_mut(CHUNK)
            .for_each(|c| c.iter_mut().for_each(|v| *v += self.0));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
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
            let g: Vec<f32> = xs.iter().map(|x| 1.0 + x.abs().sqrt()).collect();
            let (mut dispatched, mut portable) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
            act.gradient(&xs, &g, &mut dispatched);
            act.gradient_portable(&xs, &g, &mut portable);
            assert_eq!(bits(&dispatched), bits(&portable), "{act:?}'");
        }
    }

    #[test]
    fn add_scalar_matches_candles_sum_to_the_bit() {
        let xs = samples();
        let t = Tensor::from_vec(xs.clone(), xs.len(), &Device::Cpu).unwrap();
        let ours = add_scalar(&t, -0.5).unwrap().to_vec1::<f32>().unwrap();
        let theirs = (&t - 0.5).unwrap().to_vec1::<f32>().unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ours), bits(&theirs));
        assert!(xs.iter().zip(&ours).any(|(x, o)| x != o));
    }

    #[test]
    fn exp_saturates_and_keeps_nan() {
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(f32::INFINITY).is_finite() && exp(f32::NEG_INFINITY) < 1e-37);
    }

    /// Gradients of Σ proj · act(x) through the op and through candle's ops.
    fn gradients(act: Activation, xs: &[f32], tracked: bool) -> Vec<f32> {
        let x = candle_core::Var::from_vec(xs.to_vec(), xs.len(), &Device::Cpu).unwrap();
        let proj: Vec<f32> = (0..xs.len()).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let proj = Tensor::from_vec(proj, xs.len(), &Device::Cpu).unwrap();
        let t = x.as_tensor().clone();
        let y = if tracked {
            act.on_tracked(t).unwrap()
        } else {
            act.on_tensor(t).unwrap()
        };
        let g = (y * proj).unwrap().sum_all().unwrap().backward().unwrap();
        g.get(&x).unwrap().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn training_activations_match_candles_values_and_gradients() {
        let xs: Vec<f32> = samples().into_iter().filter(|x| x.abs() < 30.0).collect();
        for act in [Activation::Silu, Activation::Sigmoid] {
            let t = candle_core::Var::from_vec(xs.clone(), xs.len(), &Device::Cpu).unwrap();
            let ours = act.on_tracked(t.as_tensor().clone()).unwrap();
            let theirs = act.on_tensor(t.as_tensor().clone()).unwrap();
            for (o, t) in ours
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .zip(theirs.to_vec1::<f32>().unwrap())
            {
                assert!(
                    (o - t).abs() <= 4e-7 * t.abs() + 1e-38,
                    "{act:?}: {o} vs {t}"
                );
            }
            let (ours, theirs) = (gradients(act, &xs, true), gradients(act, &xs, false));
            for (i, ((x, o), t)) in xs.iter().zip(&ours).zip(&theirs).enumerate() {
                // SiLU's derivative σ·(1 + x·(1 − σ)) cancels near x ≈ −1.28,
                // so its rounding scales with the terms, σ·(1 + |x|), times
                // the projection, not with the result.
                let sigma = 1.0 / (1.0 + (-x).exp());
                let scale = sigma * (1.0 + x.abs()) * (1.0 + (i % 7) as f32 * 0.25);
                assert!((o - t).abs() <= 2e-6 * scale, "{act:?}'({x}): {o} vs {t}");
            }
        }
    }

    #[test]
    fn training_activation_gradients_match_finite_differences() {
        let xs: Vec<f64> = (-40..=40).map(|i| f64::from(i) * 0.2 + 0.013).collect();
        let f = |act: Activation, x: f64| match act {
            Activation::Silu => x / (1.0 + (-x).exp()),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Identity => x,
        };
        let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        for act in [Activation::Silu, Activation::Sigmoid] {
            let ours = gradients(act, &xs32, true);
            for (i, (&x, &o)) in xs.iter().zip(&ours).enumerate() {
                let x = f64::from(x as f32);
                let h = 1e-4;
                let fd = (f(act, x + h) - f(act, x - h)) / (2.0 * h);
                let proj = 1.0 + (i % 7) as f64 * 0.25;
                assert!(
                    (f64::from(o) - proj * fd).abs() <= 1e-5,
                    "{act:?}'({x}): {o} vs {}",
                    proj * fd
                );
            }
        }
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
