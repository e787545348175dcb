//! ActNorm: a learned per-channel affine map, y = (x + shift) · exp(log_scale).
//! Its log-determinant is H · W · Σ log_scale for every sample.

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};

use super::fused::{self, ChannelMap, GatherAffine};

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
        let ys = xs
            .broadcast_add(&self.shift)?
            .broadcast_mul(&self.log_scale.exp()?)?;
        Ok((ys, self.logdet(xs)?))
    }

    /// The per-sample log-determinant for an input shaped like `xs`.
    pub fn logdet(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, _, h, w) = xs.dims4()?;
        (self.log_scale.sum_all()? * (h * w) as f64)?
            .broadcast_as(b)?
            .contiguous()
    }

    /// The forward map followed by gathering channel `order[k]` into channel
    /// k (ActNorm, then a permutation), in one pass; `None` where the fused
    /// op does not apply (see [`fused`]).
    pub fn forward_gathered(&self, xs: &Tensor, order: &[usize]) -> Result<Option<Tensor>> {
        if !fused::applies(&[xs, &self.log_scale, &self.shift]) {
            return Ok(None);
        }
        let map = ChannelMap::ShiftThenScale {
            shift: self.shift.flatten_all()?.to_vec1()?,
            scale: self.log_scale.exp()?.flatten_all()?.to_vec1()?,
        };
        let op = GatherAffine {
            src: order.to_vec(),
            map,
        };
        Ok(Some(xs.apply_op1_no_bwd(&op)?))
    }

    /// Channel `order[k]` gathered into channel k, then the inverse map, in
    /// one pass (the inverse of a permutation, then of ActNorm).
    pub fn inverse_gathered(&self, ys: &Tensor, order: &[usize]) -> Result<Option<Tensor>> {
        if !fused::applies(&[ys, &self.log_scale, &self.shift]) {
            return Ok(None);
        }
        let map = ChannelMap::ScaleThenUnshift {
            scale: self.log_scale.neg()?.exp()?.flatten_all()?.to_vec1()?,
            shift: self.shift.flatten_all()?.to_vec1()?,
        };
        let op = GatherAffine {
            src: order.to_vec(),
            map,
        };
        Ok(Some(ys.apply_op1_no_bwd(&op)?))
    }

    pub fn inverse(&self, ys: &Tensor) -> Result<Tensor> {
        ys.broadcast_mul(&self.log_scale.neg()?.exp()?)?
            .broadcast_sub(&self.shift)
    }
}
