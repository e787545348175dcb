//! The fully convolutional autoencoder: image (3 × H × W, values in [0, 1])
//! → latent z (C × H/8 × W/8) → image. Any H, W divisible by 8 work.

use candle_core::{Module, Tensor};
use candle_nn::{conv2d, Conv2dConfig, VarBuilder};

use super::config::ModelConfig;
use crate::kernels::{add_scalar, upsample2x_conv3x3, Activation, Conv2d};

fn same(k: usize) -> Conv2dConfig {
    Conv2dConfig {
        padding: k / 2,
        ..Default::default()
    }
}

fn down() -> Conv2dConfig {
    Conv2dConfig {
        padding: 1,
        stride: 2,
        ..Default::default()
    }
}

/// Image → latent.
pub struct Encoder {
    stem: Conv2d,
    stages: Vec<Conv2d>,
    out: Conv2d,
}

impl Encoder {
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let c = cfg.ae_channels;
        let stem = conv2d(3, c[0], 3, same(3), vb.pp("stem"))?.into();
        let stages = (0..3)
            .map(|i| Ok(conv2d(c[i], c[i + 1], 4, down(), vb.pp(format!("stages.{i}")))?.into()))
            .collect::<candle_core::Result<_>>()?;
        let out = conv2d(c[3], cfg.latent_channels, 3, same(3), vb.pp("out"))?.into();
        Ok(Encoder { stem, stages, out })
    }

    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        // Centre the input so the first layer sees zero-mean values.
        let mut h = self
            .stem
            .forward_act(&add_scalar(xs, -0.5)?, Activation::Silu)?;
        for s in &self.stages {
            h = s.forward_act(&h, Activation::Silu)?;
        }
        self.out.forward(&h)
    }
}

/// Latent → image. Upsampling is nearest ×2 followed by a 3×3 conv (which,
/// unlike bilinear, candle can train through), run as one op.
pub struct Decoder {
    stem: Conv2d,
    stages: Vec<Conv2d>,
    out: Conv2d,
}

impl Decoder {
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let c = cfg.ae_channels;
        let stem = conv2d(cfg.latent_channels, c[3], 3, same(3), vb.pp("stem"))?.into();
        let stages = (0..3)
            .map(|i| {
                let layer = conv2d(c[3 - i], c[2 - i], 3, same(3), vb.pp(format!("stages.{i}")))?;
                Ok(layer.into())
            })
            .collect::<candle_core::Result<_>>()?;
        let out = conv2d(c[0], 3, 3, same(3), vb.pp("out"))?.into();
        Ok(Decoder { stem, stages, out })
    }

    pub fn forward(&self, zs: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = self.stem.forward_act(zs, Activation::Silu)?;
        for s in &self.stages {
            let layer = s.inner();
            h = upsample2x_conv3x3(&h, layer.weight(), layer.bias(), Activation::Silu)?;
        }
        self.out.forward_act(&h, Activation::Sigmoid)
    }
}

/// Encoder and decoder together.
pub struct Autoencoder {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl Autoencoder {
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Autoencoder {
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            decoder: Decoder::new(cfg, vb.pp("decoder"))?,
        })
    }
}
