//! Invertible channel mixing by a fixed permutation (log-determinant 0).
//! The permutation is stored in the bundle, so a trained model never depends
//! on how it was first drawn.

use candle_core::{Device, Result, Tensor};

use crate::rng::StreamRng;

pub struct Permutation {
    forward: Tensor,
    inverse: Tensor,
    order: Vec<usize>,
    inverse_order: Vec<usize>,
}

impl Permutation {
    /// A seeded random permutation of `channels` (Fisher–Yates).
    pub fn random(channels: usize, seed: u64, block: usize, device: &Device) -> Result<Self> {
        let mut r = StreamRng::new(seed, b"cinn-permutation", block as u64);
        let mut order: Vec<usize> = (0..channels).collect();
        for i in (1..channels).rev() {
            let j = (r.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        Self::from_order(order, device)
    }

    /// Builds from a stored order, refusing anything that is not a permutation.
    pub fn from_order(order: Vec<usize>, device: &Device) -> Result<Self> {
        let n = order.len();
        let mut inverse = vec![usize::MAX; n];
        for (i, &o) in order.iter().enumerate() {
            if o >= n || inverse[o] != usize::MAX {
                candle_core::bail!("stored channel order {order:?} is not a permutation of 0..{n}");
            }
            inverse[o] = i;
        }
        let as_tensor = |v: &[usize]| {
            Tensor::from_vec(v.iter().map(|&x| x as u32).collect::<Vec<_>>(), n, device)
        };
        Ok(Permutation {
            forward: as_tensor(&order)?,
            inverse: as_tensor(&inverse)?,
            order,
            inverse_order: inverse,
        })
    }

    pub fn order(&self) -> &[usize] {
        &self.order
    }

    pub fn inverse_order(&self) -> &[usize] {
        &self.inverse_order
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        xs.index_select(&self.forward, 1)
    }

    pub fn inverse(&self, ys: &Tensor) -> Result<Tensor> {
        ys.index_select(&self.inverse, 1)
    }
}
