//! The registry: every node this build implements. Adding a node means one
//! file here, one line in [`NODES`], and its entry in `plugin-manifest/nodes.toml`.

pub mod bias_audit;
pub mod domain_transfer;
pub mod exposure;
pub mod fair_sampler;
pub mod model_params;
pub mod rebalance;

use crate::error::{Error, Result};
use crate::node::Node;

/// All nodes, in manifest order.
pub static NODES: &[&dyn Node] = &[
    &exposure::Exposure,
    &domain_transfer::DomainTransfer,
    &fair_sampler::FairSampler,
    &rebalance::Rebalance,
    &bias_audit::BiasAudit,
];

/// The implementation of node `id`.
pub fn find(id: &str) -> Result<&'static dyn Node> {
    NODES
        .iter()
        .copied()
        .find(|n| n.id() == id)
        .ok_or_else(|| Error::UnknownNode(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_implements_exactly_the_manifest() {
        let implemented: Vec<&str> = NODES.iter().map(|n| n.id()).collect();
        let declared: Vec<&str> = crate::manifest::nodes()
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(implemented, declared);
    }
}
