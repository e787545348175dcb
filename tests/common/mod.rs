//! Helpers shared by the integration tests: a test file that needs them says
//! `mod common;`. Each part stands alone, so a bench or an example that
//! shares one includes that file by itself with `#[path]`.

pub mod bundle;
pub mod cli;
pub mod label_free;
pub mod level_a;
pub mod oracle;
pub mod stats;
pub mod tensor;
pub mod venv;
