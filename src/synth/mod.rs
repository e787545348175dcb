//! The synthetic world: seeded scenes (one object on a background) rendered
//! in three styles at any size, with oracles that read attributes and style
//! back from pixels alone. It is the ground truth every claim of the nodes is
//! checked against, since nothing can be downloaded.

mod dataset;
pub mod eval;
mod oracles;
mod scene;
mod styles;

pub use dataset::{contact_sheet, write_dataset, DatasetSpec, LabelRow};
pub use oracles::{
    object_geometry, palette_oracle, shape_oracle, style_features, style_oracle, Geometry,
    Measured, StyleFeatures,
};
pub use scene::{Bias, Palette, Scene, Shape};
pub use styles::{hsv_to_rgb, pixel, render_image, render_srgb8, Style};
