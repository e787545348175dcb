//! Conditional affine coupling: the first half of the channels, together with
//! the domain embedding broadcast over space, predicts a scale and shift for
//! the second half. Scales are soft-clamped with tanh, which keeps the
//! inverse numerically stable.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{conv2d, Conv2dConfig, VarBuilder};

use super::fused;
use crate::kernels::{Activation, Conv2d};

/// Log-scales lie in (−CLAMP, CLAMP).
const CLAMP: f64 = 2.0;

pub struct Coupling {
    conv1: Conv2d,
    conv2: Conv2d,
    out: Conv2d,
    half: usize,
}

impl Coupling {
    pub fn new(channels: usize, embed: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        let half = channels / 2;
        let pad = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let vb = vb.pp("subnet");
        Ok(Coupling {
            conv1: conv2d(half + embed, hidden, 3, pad, vb.pp("conv1"))?.into(),
            conv2: conv2d(hidden, hidden, 1, Default::default(), vb.pp("conv2"))?.into(),
            out: conv2d(hidden, 2 * (channels - half), 3, pad, vb.pp("out"))?.into(),
            half,
        })
    }

    /// The subnet's output: log-scales in its first half, shifts in its second.
    fn subnet(&self, xa: &Tensor, cond: &Tensor) -> Result<Tensor> {
        let h = self
            .conv1
            .forward_act(&Tensor::cat(&[xa, cond], 1)?, Activation::Silu)?;
        let h = self.conv2.forward_act(&h, Activation::Silu)?;
        self.out.forward(&h)
    }

    fn scale_shift(st: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = st.dim(1)? / 2;
        let s = ((st.narrow(1, 0, n)? / CLAMP)?.tanh()? * CLAMP)?;
        Ok((s, st.narrow(1, n, n)?))
    }

    /// The soft-clamped log-scales and the updated tensor in two passes, for
    /// inference on the CPU (see [`fused`]); `None` where those do not apply.
    fn fused(&self, xs: &Tensor, st: &Tensor, inverse: bool) -> Result<Option<(Tensor, Tensor)>> {
        if !fused::applies(&[xs, st]) {
            return Ok(None);
        }
        let n = st.dim(1)? / 2;
        let s = st.apply_op1_no_bwd(&fused::SoftClamp {
            n,
            clamp: CLAMP as f32,
        })?;
        let op = fused::AffineCoupling {
            half: self.half,
            inverse,
        };
        let y = xs.apply_op3_no_bwd(&s, st, &op)?;
        Ok(Some((y, s)))
    }

    /// Returns y and the per-sample log-determinant.
    pub fn forward(&self, xs: &Tensor, cond: &Tensor) -> Result<(Tensor, Tensor)> {
        let c = xs.dim(1)?;
        let (xa, xb) = (
            xs.narrow(1, 0, self.half)?,
            xs.narrow(1, self.half, c - self.half)?,
        );
        let st = self.subnet(&xa, cond)?;
        if let Some((y, s)) = self.fused(xs, &st, false)? {
            return Ok((y, s.flatten_from(1)?.sum(D::Minus1)?));
        }
        let (s, t) = Self::scale_shift(&st)?;
        let yb = (xb * s.exp()?)?.add(&t)?;
        let logdet = s.flatten_from(1)?.sum(D::Minus1)?;
        Ok((Tensor::cat(&[&xa, &yb], 1)?, logdet))
    }

    pub fn inverse(&self, ys: &Tensor, cond: &Tensor) -> Result<Tensor> {
        let c = ys.dim(1)?;
        let (ya, yb) = (
            ys.narrow(1, 0, self.half)?,
            ys.narrow(1, self.half, c - self.half)?,
        );
        let st = self.subnet(&ya, cond)?;
        if let Some((x, _)) = self.fused(ys, &st, true)? {
            return Ok(x);
        }
        let (s, t) = Self::scale_shift(&st)?;
        let xb = (yb.sub(&t)? * s.neg()?.exp()?)?;
        Tensor::cat(&[&ya, &xb], 1)
    }
}
