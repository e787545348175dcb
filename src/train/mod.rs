//! `equifx train`: builds a model bundle from one folder of images per
//! domain (searched recursively; pictures are decoded per batch, as random
//! crops or whole-image resizes, see [`Sampling`]). The autoencoder is trained first (L1 + an edge loss, and optionally an adversarial term), then the
//! cINN by maximum likelihood on the frozen latents, and last the attribute
//! heads in v-space when the folders carry labels. Checkpoints hold the
//! weights *and* the optimiser state, and every batch is drawn from a stream
//! keyed on (seed, step), so a resumed run continues bit-identically.

mod adam;
mod alignment;
mod checkpoint;
mod config;
mod data;
mod discriminator;
mod export;
mod heads;
mod init;
mod losses;
mod reader;
mod stages;
mod step;
mod trainer;

pub use config::{Stage, TrainConfig};
pub use data::{draw_batch, Batch, CropDraw, DomainData, Picture, Placement, Sampling};
pub use heads::{encode_domain, fit_heads};
pub use reader::{fit_reader, ReaderOptions};
pub use step::Stepper;
pub use trainer::train;
