//! Inference with a loaded bundle: translation between domains (net2net:
//! v = F(E(x); a), z' = F⁻¹(v; b), x' = D(z')) and source-domain detection.

use candle_core::{DType, Tensor, D};

use super::Bundle;
use crate::error::Result;

impl Bundle {
    fn domain_tensor(&self, d: usize, batch: usize) -> Result<Tensor> {
        Ok(Tensor::from_vec(
            vec![d as u32; batch],
            batch,
            &self.device,
        )?)
    }

    /// `t` in the network's number format (inputs arrive as f32).
    fn to_net(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.to_dtype(self.dtype)?)
    }

    /// Translates images `xs` (B × 3 × H × W, the manifest's colour encoding,
    /// H and W multiples of `architecture.align()`) from domain `from` to `to`, blending latents by
    /// `strength`. Returns the translation and, below full strength, the
    /// reconstruction of the input (both through the decoder), so callers can
    /// carry over what the autoencoder cannot reproduce; at full strength that
    /// carry-over is weighted 0 and the decoder pass it would cost is skipped.
    pub fn translate(
        &self,
        xs: &Tensor,
        from: usize,
        to: usize,
        strength: f64,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let b = xs.dim(0)?;
        let z = self.autoencoder.encoder.forward(&self.to_net(xs)?)?;
        let decode = |z: &Tensor| -> Result<Tensor> {
            Ok(self.autoencoder.decoder.forward(z)?.to_dtype(DType::F32)?)
        };
        if from == to || strength == 0.0 {
            let recon = decode(&z)?;
            return Ok((recon.clone(), Some(recon)));
        }
        let (v, _) = self.cinn.forward(&z, &self.domain_tensor(from, b)?)?;
        let z2 = self.cinn.inverse(&v, &self.domain_tensor(to, b)?)?;
        if strength >= 1.0 {
            return Ok((decode(&z2)?, None));
        }
        let recon = decode(&z)?;
        let zb = ((&z * (1.0 - strength))? + (z2 * strength)?)?;
        Ok((decode(&zb)?, Some(recon)))
    }

    /// v = F(E(x); d): the images' coordinates in the shared Gaussian space.
    pub fn encode_v(&self, xs: &Tensor, domain: usize) -> Result<Tensor> {
        self.v_of_latents(
            &self.autoencoder.encoder.forward(&self.to_net(xs)?)?,
            domain,
        )
    }

    /// v = F(z; d) of autoencoder latents z.
    pub fn v_of_latents(&self, zs: &Tensor, domain: usize) -> Result<Tensor> {
        Ok(self
            .cinn
            .forward(&self.to_net(zs)?, &self.domain_tensor(domain, zs.dim(0)?)?)?
            .0
            .to_dtype(DType::F32)?)
    }

    /// x = D(F⁻¹(v; d)): images of domain `d` from latents v (B × C × h × w).
    pub fn decode_v(&self, vs: &Tensor, domain: usize) -> Result<Tensor> {
        let z = self
            .cinn
            .inverse(&self.to_net(vs)?, &self.domain_tensor(domain, vs.dim(0)?)?)?;
        Ok(self.autoencoder.decoder.forward(&z)?.to_dtype(DType::F32)?)
    }

    /// The domain under which the images' latents are most likely (mean
    /// log-likelihood per dimension under each domain's flow): a generative
    /// classifier that needs nothing beyond the model itself.
    pub fn detect_domain(&self, xs: &Tensor) -> Result<usize> {
        let b = xs.dim(0)?;
        let z = self.autoencoder.encoder.forward(&self.to_net(xs)?)?;
        let mut best = (0, f64::NEG_INFINITY);
        for d in 0..self.manifest.domains.len() {
            let (v, logdet) = self.cinn.forward(&z, &self.domain_tensor(d, b)?)?;
            let ll = ((v.sqr()?.flatten_from(1)?.sum(D::Minus1)? * -0.5)? + logdet)?
                .mean_all()?
                .to_dtype(DType::F32)?
                .to_scalar::<f32>()?;
            if f64::from(ll) > best.1 {
                best = (d, f64::from(ll));
            }
        }
        Ok(best.0)
    }
}
