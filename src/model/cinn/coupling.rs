//! Conditional affine coupling: the first half of the channels, together with
//! the domain embedding broadcast over space, predicts a scale and shift for
//! the second half. Scales are soft-clamped with tanh, which keeps the
//! inverse numerically stable.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{conv2d, Conv2dConfig, VarBuilder};

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

    fn scale_shift(&self, xa: &Tensor, cond: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self
            .conv1
            .forward_act(&Tensor::cat(&[xa, cond], 1)?, Activation::Silu)?;
        let h = self.conv2.forward_act(&h, Activation::Silu)?;
        let st = self.out.forward(&h)?;
        let n = st.dim(1)? / 2;
        let s = ((st.narrow(1, 0, n)? / CLAMP)?.tanh()? * CLAMP)?;
        Ok((s, st.narrow(1, n, n)?))
    }

    /// Returns y and the per-sample log-determinant.
    pub fn forward(&self, xs: &Tensor, cond: &Tensor) -> Result<(Tensor, Tensor)> {
        let c = xs.dim(1)?;
        let (xa, xb) = (
            xs.narrow(1, 0, self.half)?,
            xs.narrow(1, self.half, c - self.half)?,
        );
        let (s, t) = self.scale_shift(&xa, cond)?;
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
        let (s, t) = self.scale_shift(&ya, cond)?;
        let xb = (yb.sub(&t)? * s.neg()?.exp()?)?;
        Tensor::cat(&[&ya, &xb], 1)
    }
}
