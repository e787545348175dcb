//! The decoder's adversarial term: a small patch discriminator learns to tell
//! training pictures from the decoder's reconstructions, and the decoder is
//! rewarded for pictures it cannot tell apart.
//!
//! Why: a decoder trained on L1 alone renders the average of every picture
//! its latent could stand for, and where that latent is unsure (a small
//! object's corner) the average is a rounded, soft edge that no training
//! picture has. The discriminator sees such edges as fake, so the decoder
//! commits to a sharp one instead. It judges patches of about 26 pixels, the
//! scale of an outline, not of a whole scene, and exists only while training:
//! the bundle never stores it.

use candle_core::{Module, Tensor};
use candle_nn::{conv2d, Conv2dConfig, VarBuilder};

use crate::kernels::{add_scalar, Conv2d};

/// Where the discriminator's variables live in the run's variable map.
pub(super) const PREFIX: &str = "disc.";

/// Negative slope of the leaky ReLUs: a discriminator whose units can die
/// stops giving the decoder a gradient.
const SLOPE: f64 = 0.2;

pub(super) struct Discriminator {
    layers: Vec<Conv2d>,
}

impl Discriminator {
    /// Two stride-2 4 × 4 convolutions then two 3 × 3: one logit per 4 × 4
    /// block of the picture.
    pub(super) fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        let down = Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let same = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let layers = vec![
            conv2d(3, 32, 4, down, vb.pp("0"))?.into(),
            conv2d(32, 64, 4, down, vb.pp("1"))?.into(),
            conv2d(64, 64, 3, same, vb.pp("2"))?.into(),
            conv2d(64, 1, 3, same, vb.pp("3"))?.into(),
        ];
        Ok(Discriminator { layers })
    }

    /// Patch logits (B, 1, S/4, S/4) of pictures (B, 3, S, S) in 0 … 1;
    /// positive means "a training picture".
    pub(super) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = add_scalar(x, -0.5)?;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = candle_nn::ops::leaky_relu(&h, SLOPE)?;
            }
        }
        Ok(h)
    }
}

/// The discriminator's hinge loss: real patches pushed above +1, fake below −1.
pub(super) fn discriminator_loss(real: &Tensor, fake: &Tensor) -> candle_core::Result<Tensor> {
    let real = (1.0 - real)?.relu()?.mean_all()?;
    let fake = (fake + 1.0)?.relu()?.mean_all()?;
    real + fake
}

/// The decoder's side of the hinge game: raise the logits of its pictures.
pub(super) fn decoder_loss(fake: &Tensor) -> candle_core::Result<Tensor> {
    fake.mean_all()?.neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn scalar(t: &Tensor) -> f32 {
        t.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn hinge_loss_is_zero_only_past_the_margins() {
        let d = Device::Cpu;
        let sure = Tensor::new(&[1.5f32, 2.0], &d).unwrap();
        let unsure = Tensor::new(&[0.0f32, 0.5], &d).unwrap();
        // Real above +1 and fake below −1: nothing to learn.
        assert_eq!(
            scalar(&discriminator_loss(&sure, &sure.neg().unwrap()).unwrap()),
            0.0
        );
        // mean(1 − r) + mean(1 + f) by hand: (1 + 0.5)/2 + (1 + 1.5)/2.
        let l = discriminator_loss(&unsure, &unsure).unwrap();
        assert!((scalar(&l) - 2.0).abs() < 1e-6);
        assert!((scalar(&decoder_loss(&unsure).unwrap()) + 0.25).abs() < 1e-6);
    }

    #[test]
    fn one_logit_per_four_by_four_block() {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let disc = Discriminator::new(vb.pp("disc")).unwrap();
        let x = Tensor::zeros((2, 3, 64, 48), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(disc.forward(&x).unwrap().dims(), &[2, 1, 16, 12]);
    }
}
