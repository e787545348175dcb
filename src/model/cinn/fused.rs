//! One-pass CPU versions of the cINN's element-wise steps, for inference.
//!
//! The cINN's latents are small (68 × 120 positions at 1080p), so between
//! its convolutions a coupling spent more time in a dozen candle
//! element-wise ops (each a pass over memory and a round of candle's thread
//! pool) than in arithmetic. These ops do ActNorm with the channel
//! permutation, and the coupling's affine update, in one pass each. They
//! compute the same f32 expressions in the same order as the candle ops they
//! replace, and run only on contiguous f32 CPU tensors that need no
//! gradient; everything else takes the candle ops. (The whole cINN is tested
//! against candle's ops within 2 · 10⁻⁶ of the output's scale: the subnets'
//! fused activations round differently, see `kernels::activation`.)

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::conv::f32_data;

/// Whether the fused ops can take these tensors.
pub fn applies(ts: &[&Tensor]) -> bool {
    crate::kernels::enabled()
        && ts.iter().all(|t| {
            t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous() && !t.track_op()
        })
}

/// Channel k of the output is channel `src[k]` of the input, through a
/// per-channel affine map.
pub struct GatherAffine {
    pub src: Vec<usize>,
    pub map: ChannelMap,
}

/// The per-channel affine maps, each written as the candle ops compute it.
pub enum ChannelMap {
    /// (x + shift) · scale: ActNorm forward.
    ShiftThenScale { shift: Vec<f32>, scale: Vec<f32> },
    /// x · scale − shift: ActNorm inverse.
    ScaleThenUnshift { scale: Vec<f32>, shift: Vec<f32> },
}

impl CustomOp1 for GatherAffine {
    fn name(&self) -> &'static str {
        "equifx-cinn-gather-affine"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l.shape().dims4()?;
        let x = f32_data((s, l), "cINN input")?;
        if self.src.len() != c || self.src.iter().any(|&i| i >= c) {
            bail!("equifx cINN op: channel map does not fit {c} channels")
        }
        let plane = h * w;
        let mut out = vec![0f32; b * c * plane];
        out.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(bk, dst)| {
                let (img, k) = (bk / c, bk % c);
                let j = self.src[k];
                let src = &x[(img * c + j) * plane..][..plane];
                match &self.map {
                    ChannelMap::ShiftThenScale { shift, scale } => {
                        let (sh, sc) = (shift[j], scale[j]);
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = (v + sh) * sc;
                        }
                    }
                    ChannelMap::ScaleThenUnshift { scale, shift } => {
                        let (sc, sh) = (scale[k], shift[k]);
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = v * sc - sh;
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// The soft-clamped log-scale s = clamp · tanh(raw / clamp) of the first
/// `n` channels of the coupling's subnet output.
pub struct SoftClamp {
    pub n: usize,
    pub clamp: f32,
}

impl CustomOp1 for SoftClamp {
    fn name(&self) -> &'static str {
        "equifx-cinn-soft-clamp"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c2, h, w) = l.shape().dims4()?;
        let st = f32_data((s, l), "subnet output")?;
        if self.n > c2 {
            bail!("equifx cINN op: {} log-scales of {c2} channels", self.n)
        }
        let (n, plane) = (self.n, h * w);
        let inv = 1.0 / self.clamp;
        let mut out = vec![0f32; b * n * plane];
        out.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(bk, dst)| {
                let (img, k) = (bk / n, bk % n);
                let src = &st[(img * c2 + k) * plane..][..plane];
                for (d, &v) in dst.iter_mut().zip(src) {
                    // As candle's `(x / c).tanh() * c`: each a multiply-add by 0.
                    *d = (v * inv + 0.0).tanh() * self.clamp + 0.0;
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, n, h, w))))
    }
}

/// The coupling's affine update of the second part of `x` (channels
/// `half`…), given the soft-clamped log-scale `s` and the subnet output
/// `st` whose channels n… hold the shift t: forward x · eˢ + t, inverse
/// (x − t) · e⁻ˢ. The first part is copied.
pub struct AffineCoupling {
    pub half: usize,
    pub inverse: bool,
}

impl CustomOp3 for AffineCoupling {
    fn name(&self) -> &'static str {
        "equifx-cinn-affine-coupling"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l1.shape().dims4()?;
        let x = f32_data((s1, l1), "coupling input")?;
        let s = f32_data((s2, l2), "log-scale")?;
        let st = f32_data((s3, l3), "subnet output")?;
        let n = c.saturating_sub(self.half);
        if l2.shape().dims4()? != (b, n, h, w) || l3.shape().dims4()? != (b, 2 * n, h, w) {
            bail!("equifx cINN op: coupling shapes disagree")
        }
        let plane = h * w;
        let mut out = vec![0f32; b * c * plane];
        out.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(bk, dst)| {
                let (img, k) = (bk / c, bk % c);
                let src = &x[(img * c + k) * plane..][..plane];
                if k < self.half {
                    dst.copy_from_slice(src);
                    return;
                }
                let j = k - self.half;
                let sj = &s[(img * n + j) * plane..][..plane];
                let tj = &st[(img * 2 * n + n + j) * plane..][..plane];
                for ((d, &v), (&sv, &tv)) in dst.iter_mut().zip(src).zip(sj.iter().zip(tj)) {
                    *d = if self.inverse {
                        (v - tv) * (-sv).exp()
                    } else {
                        v * sv.exp() + tv
                    };
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use crate::model::bundle::default_bundle_dir;
    use crate::model::Bundle;

    use super::*;

    /// The largest |a − b| over the largest |b|.
    fn relative_gap(a: &Tensor, b: &Tensor) -> f32 {
        let scale = b
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let gap = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        gap.to_scalar::<f32>().unwrap() / scale
    }

    /// The shipped cINN on a random latent, through the fused ops (a plain
    /// tensor) and through candle's ops (the same values as a variable, so
    /// every step tracks gradients and the fused ops stand aside).
    #[test]
    fn the_fused_cinn_gives_candles_results() {
        let bundle = Bundle::load_as(&default_bundle_dir(), &Device::Cpu, DType::F32).unwrap();
        let (b, c) = (2, bundle.manifest.architecture.latent_channels);
        let z = Tensor::randn(0f32, 1.0, (b, c, 6, 10), &Device::Cpu).unwrap();
        let tracked = Var::from_tensor(&z).unwrap();
        assert!(applies(&[&z]) && !applies(&[tracked.as_tensor()]));
        let d = Tensor::new(&[0u32, 2], &Device::Cpu).unwrap();
        let (v, ld) = bundle.cinn.forward(&z, &d).unwrap();
        let (v_ref, ld_ref) = bundle.cinn.forward(&tracked, &d).unwrap();
        assert!(
            relative_gap(&v, &v_ref) < 2e-6,
            "{}",
            relative_gap(&v, &v_ref)
        );
        assert!(
            relative_gap(&ld, &ld_ref) < 2e-6,
            "{}",
            relative_gap(&ld, &ld_ref)
        );
        let back = bundle.cinn.inverse(&v, &d).unwrap();
        let back_ref = bundle
            .cinn
            .inverse(&Var::from_tensor(&v).unwrap(), &d)
            .unwrap();
        assert!(relative_gap(&back, &back_ref) < 2e-6);
        // And the inverse inverts: the check can fail.
        let err = (back - &z).unwrap().abs().unwrap().max_all().unwrap();
        assert!(err.to_scalar::<f32>().unwrap() < 1e-4);
    }
}
