//! The conditional invertible network F(z; d): blocks of ActNorm, a fixed
//! channel permutation and an affine coupling conditioned on a learned
//! domain embedding. Trained so that v = F(z; d) is standard normal for every
//! domain d: v carries what domains share, the condition what is specific.
//! Exact inverse, exact log-determinant.

mod actnorm;
mod coupling;
mod fused;
mod mixing;

pub use actnorm::ActNorm;
pub use coupling::Coupling;
pub use mixing::Permutation;

use candle_core::{Device, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use super::config::ModelConfig;

pub struct Block {
    actnorm: ActNorm,
    permutation: Permutation,
    coupling: Coupling,
}

/// How block permutations are obtained.
pub enum Permutations {
    /// Drawn from a seed (a new model, before training).
    Seeded(u64),
    /// Read from the weights (`cinn.blocks.N.permutation`).
    Stored,
}

pub struct Cinn {
    embedding: Tensor,
    blocks: Vec<Block>,
    squeeze: bool,
}

/// 2×2 space-to-depth: (B, C, H, W) → (B, 4C, H/2, W/2), a bijection with
/// unit Jacobian.
pub fn squeeze(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    if h % 2 != 0 || w % 2 != 0 {
        candle_core::bail!("the cINN needs an even latent size, got {w}×{h}");
    }
    x.reshape((b, c, h / 2, 2, w / 2, 2))?
        .permute((0, 1, 3, 5, 2, 4))?
        .contiguous()?
        .reshape((b, 4 * c, h / 2, w / 2))
}

/// The inverse of [`squeeze`].
pub fn unsqueeze(x: &Tensor) -> Result<Tensor> {
    let (b, c4, h2, w2) = x.dims4()?;
    x.reshape((b, c4 / 4, 2, 2, h2, w2))?
        .permute((0, 1, 4, 2, 5, 3))?
        .contiguous()?
        .reshape((b, c4 / 4, 2 * h2, 2 * w2))
}

impl Cinn {
    pub fn new(
        cfg: &ModelConfig,
        vb: VarBuilder,
        perms: Permutations,
        device: &Device,
    ) -> Result<Self> {
        let c = cfg.flow_channels();
        let embedding = vb.get_with_hints(
            (cfg.domains, cfg.embed_dim),
            "embedding",
            Init::Randn {
                mean: 0.0,
                stdev: 0.5,
            },
        )?;
        let blocks = (0..cfg.cinn_blocks)
            .map(|i| {
                let bvb = vb.pp(format!("blocks.{i}"));
                let permutation = match perms {
                    Permutations::Seeded(seed) => Permutation::random(c, seed, i, device)?,
                    Permutations::Stored => {
                        let order = bvb
                            .get(c, "permutation")?
                            .to_dtype(candle_core::DType::F32)?
                            .to_vec1::<f32>()?;
                        if order.iter().any(|&o| o < 0.0 || o.fract() != 0.0) {
                            candle_core::bail!(
                                "cinn.blocks.{i}.permutation holds non-integer values"
                            );
                        }
                        Permutation::from_order(
                            order.into_iter().map(|o| o as usize).collect(),
                            device,
                        )?
                    }
                };
                Ok(Block {
                    actnorm: ActNorm::new(c, bvb.pp("actnorm"))?,
                    permutation,
                    coupling: Coupling::new(c, cfg.embed_dim, cfg.cinn_hidden, bvb.pp("coupling"))?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Cinn {
            embedding,
            blocks,
            squeeze: cfg.cinn_squeeze,
        })
    }

    /// The block permutations, to be saved with the weights.
    pub fn permutation_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        self.blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let v: Vec<f32> = b.permutation.order().iter().map(|&o| o as f32).collect();
                let n = v.len();
                Ok((
                    format!("cinn.blocks.{i}.permutation"),
                    Tensor::from_vec(v, n, &Device::Cpu)?,
                ))
            })
            .collect()
    }

    /// The domain embedding broadcast over the latent's spatial size.
    fn condition(&self, domains: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        let e = self.embedding.index_select(domains, 0)?;
        let (b, k) = e.dims2()?;
        e.reshape((b, k, 1, 1))?
            .broadcast_as((b, k, h, w))?
            .contiguous()
    }

    /// v = F(z; d) and log|det ∂v/∂z| per sample. `domains` holds one u32
    /// domain index per sample.
    pub fn forward(&self, zs: &Tensor, domains: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut x = if self.squeeze {
            squeeze(zs)?
        } else {
            zs.clone()
        };
        let (b, _, h, w) = x.dims4()?;
        let cond = self.condition(domains, h, w)?;
        let mut logdet = Tensor::zeros(b, zs.dtype(), zs.device())?;
        for blk in &self.blocks {
            let y = match blk.actnorm.forward_gathered(&x, blk.permutation.order())? {
                Some(y) => {
                    logdet = (logdet + blk.actnorm.logdet(&x)?)?;
                    y
                }
                None => {
                    let (y, ld) = blk.actnorm.forward(&x)?;
                    logdet = (logdet + ld)?;
                    blk.permutation.forward(&y)?
                }
            };
            let (y, ld) = blk.coupling.forward(&y, &cond)?;
            logdet = (logdet + ld)?;
            x = y;
        }
        if self.squeeze {
            x = unsqueeze(&x)?;
        }
        Ok((x, logdet))
    }

    /// z = F⁻¹(v; d).
    pub fn inverse(&self, vs: &Tensor, domains: &Tensor) -> Result<Tensor> {
        let mut y = if self.squeeze {
            squeeze(vs)?
        } else {
            vs.clone()
        };
        let (_, _, h, w) = y.dims4()?;
        let cond = self.condition(domains, h, w)?;
        for blk in self.blocks.iter().rev() {
            y = blk.coupling.inverse(&y, &cond)?;
            y = match blk
                .actnorm
                .inverse_gathered(&y, blk.permutation.inverse_order())?
            {
                Some(x) => x,
                None => blk.actnorm.inverse(&blk.permutation.inverse(&y)?)?,
            };
        }
        if self.squeeze {
            y = unsqueeze(&y)?;
        }
        Ok(y)
    }
}
