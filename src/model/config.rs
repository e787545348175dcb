//! Network sizes, read from a bundle's manifest and checked before any
//! tensor is built, so a bad manifest is an error message, not a panic.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Sizes of the autoencoder and the conditional INN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Channels of the latent z (at 1/8 of the image resolution).
    pub latent_channels: usize,
    /// Encoder widths after the stem and after each of the three stride-2
    /// stages; the decoder mirrors them.
    pub ae_channels: [usize; 4],
    /// Coupling blocks of the cINN.
    pub cinn_blocks: usize,
    /// Hidden width of each coupling's conv subnet.
    pub cinn_hidden: usize,
    /// Size of the learned per-domain embedding.
    pub embed_dim: usize,
    /// Number of domains the cINN is conditioned on.
    pub domains: usize,
    /// The cINN works on 2×2 space-to-depth blocks of the latent: its
    /// couplings see four times the channels with twice the spatial reach,
    /// which is what lets a flow place one coherent object. Frames then
    /// align to 16 pixels instead of 8.
    #[serde(default)]
    pub cinn_squeeze: bool,
}

impl ModelConfig {
    /// The latent is 1/8 of the image on each side.
    pub const STRIDE: usize = 8;

    /// The shipped default: small enough to train on a 2-core CPU.
    pub fn small(domains: usize) -> Self {
        ModelConfig {
            latent_channels: 8,
            ae_channels: [16, 32, 48, 64],
            cinn_blocks: 8,
            cinn_hidden: 64,
            embed_dim: 8,
            domains,
            cinn_squeeze: false,
        }
    }

    /// Frame sides the network takes are multiples of this.
    pub fn align(&self) -> usize {
        if self.cinn_squeeze {
            2 * Self::STRIDE
        } else {
            Self::STRIDE
        }
    }

    /// Channels the cINN's blocks work on.
    pub fn flow_channels(&self) -> usize {
        if self.cinn_squeeze {
            4 * self.latent_channels
        } else {
            self.latent_channels
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| {
            Error::Model(format!(
                "model architecture in the manifest is invalid: {why}"
            ))
        };
        if self.latent_channels < 2
            || self.latent_channels > 256
            || !self.latent_channels.is_multiple_of(2)
        {
            return Err(bad(format!(
                "latent_channels {} must be even and 2 … 256",
                self.latent_channels
            )));
        }
        if self.ae_channels.iter().any(|&c| c == 0 || c > 1024) {
            return Err(bad(format!(
                "ae_channels {:?} must be 1 … 1024",
                self.ae_channels
            )));
        }
        if self.cinn_blocks == 0 || self.cinn_blocks > 64 {
            return Err(bad(format!(
                "cinn_blocks {} must be 1 … 64",
                self.cinn_blocks
            )));
        }
        if self.cinn_hidden == 0 || self.cinn_hidden > 1024 || self.embed_dim > 256 {
            return Err(bad(
                "cinn_hidden must be 1 … 1024 and embed_dim at most 256".into(),
            ));
        }
        if self.domains == 0 || self.domains > 64 {
            return Err(bad(format!("{} domains: need 1 … 64", self.domains)));
        }
        Ok(())
    }
}
