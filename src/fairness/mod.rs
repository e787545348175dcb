//! Fairness math of the Fair Sampler, Rebalance and Bias Audit nodes
//! (docs/fairness.md), on the bundle's Gaussian v-space where
//! v ~ N(0, I) exactly and attribute heads are linear.
//!
//! Nothing here needs a network: the nodes pass latents in and out
//! ([`crate::model::latents`] takes frames there and back).
//! - [`heads`]: logistic heads with intercept, confusion, the normalised [`HeadSet`];
//! - [`ipf`], [`sampler`]: natural joint, IPF targets, exact conditional sampling;
//! - [`rebalance`], [`group_rebalance`], [`assignment`]: fewest-then-smallest edits of a batch, between cells or groups;
//! - [`metrics`], [`intervals`], [`audit`], [`report`]: the audit and its files (HTML, JSON, CSV);
//! - [`mixture`], [`groups`], [`group_target`], [`group_sampler`]: the prior's Gaussian mixture, its label-free groups, the mixes artists ask of them, and sampling such a mix;
//! - [`metadata`]: the per-frame JSON sidecar shared by sampler and audit;
//! - [`normal`], [`linalg`], [`cells`]: the numeric and indexing groundwork.

pub mod assignment;
pub mod audit;
pub mod cells;
pub mod group_rebalance;
pub mod group_sampler;
pub mod group_target;
pub mod groups;
pub mod heads;
pub mod intervals;
pub mod ipf;
pub mod linalg;
pub mod metadata;
pub mod metrics;
pub mod mixture;
pub mod normal;
pub mod rebalance;
pub mod report;
pub mod sampler;

pub use audit::{audit, audit_attribute, AttributeInput, AuditConfig, AuditReport, Verdict};
pub use heads::{fit_logistic, AttributeHead, Confusion, FitOptions, HeadSet};
pub use ipf::Target;
pub use metadata::{FrameMeta, PixelCheck, Sidecar};
pub use rebalance::{plan as plan_rebalance, EditMode, RebalancePlan};
pub use sampler::{FairSampler, SampledItem, SamplerOptions};
