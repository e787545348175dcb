//! ActNorm: a learned per-channel affine map, y = (x + shift) · exp(log_scale).
//! Its log-determinant is H · W · Σ log_scale for every sample.

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};

pub struct ActNorm {
    log_scale: Tensor,
    shift: Tensor,
}

impl ActNorm {
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(ActNorm {
            log_scale: vb.get_with_hints((1, channels, 1, 1), "log_scale", Init::Const(0.0))?,
            shift: vb.get_with_hints((1, channels, 1, 1), "shift", Init::Const(0.0))?,
        })
    }

    /// Returns y and the per-sample log-determinant (shape B).
    pub fn forward(&self, xs: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, _, h, w) = xs.dims4()?;
        let ys = xs
            .broadcast_add(&self.shift)?
            .broadcast_mul(&self.log_scale.exp()?)?;
        let logdet = (self.log_scale.sum_all()? * (h * w) as f64)?
            .broadcast_as(b)?
            .contiguous()?;
        Ok((ys, logdet))
    }

    pub fn inverse(&self, ys: &Tensor) -> Result<Tensor> {
        ys.broadcast_mul(&self.log_scale.neg()?.exp()?)?
            .broadcast_sub(&self.shift)
    }
}
