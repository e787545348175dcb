//! The model behind every node: a fully convolutional autoencoder and a
//! conditional invertible network on its latent (net2net), packaged as a
//! bundle (manifest + safetensors) that is loaded once per process, and
//! [`latents`], the bridge that takes frames into the fairness nodes'
//! v-space and back.

pub mod autoencoder;
pub mod bundle;
pub mod cache;
pub mod cinn;
pub mod config;
pub mod info;
pub mod init;
pub mod latents;
pub mod pixel_check;
pub mod prior;
pub mod reader;
mod translate;

pub use autoencoder::Autoencoder;
pub use bundle::{Bundle, Manifest};
pub use cinn::Cinn;
pub use config::ModelConfig;
pub use info::{GroupInfo, ModelInfo};
pub use prior::{Prior, PriorOptions};
pub use reader::{PixelReader, ReaderInfo, ReaderOutput};
