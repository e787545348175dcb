//! The parameter model: typed descriptors (read from `plugin-manifest/`) and
//! validated values. Every host interface derives its parameter view from
//! these, so a parameter is declared exactly once.

mod descriptor;
mod names;
mod values;

pub use descriptor::{ParamDescriptor, ParamKind};
pub use names::{check_name, AttributeShares, Share};
pub(crate) use values::check_value;
pub use values::{ParamValue, ParamValues};
