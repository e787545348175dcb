//! The node manifest (`plugin-manifest/nodes.toml`), compiled into the
//! library: the single declaration of every node and parameter.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::params::{ParamDescriptor, ParamValues};

/// The manifest source, embedded at build time so the library is self-contained.
pub const NODES_TOML: &str = include_str!("../plugin-manifest/nodes.toml");

/// A node as declared in the manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDescriptor {
    /// Stable id (`org.equifx.<PascalName>`); part of artists' project files.
    pub id: String,
    pub label: String,
    /// Menu path in hosts, e.g. `equifx/Colour`.
    pub group: String,
    /// [major, minor]: major changes only when old projects would render differently.
    pub version: [u32; 2],
    /// Named image inputs; empty for generators.
    #[serde(default)]
    pub inputs: Vec<String>,
    pub summary: String,
    #[serde(default, rename = "param")]
    pub params: Vec<ParamDescriptor>,
}

impl NodeDescriptor {
    pub fn is_generator(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Every parameter of this node at its default.
    pub fn default_values(&'static self) -> ParamValues {
        ParamValues::defaults(&self.id, &self.params)
    }

    pub fn param(&self, id: &str) -> Option<&ParamDescriptor> {
        self.params.iter().find(|p| p.id == id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    node: Vec<NodeDescriptor>,
}

/// Parses and checks a manifest: unique ids, defaults inside ranges.
pub fn parse(text: &str) -> Result<Vec<NodeDescriptor>> {
    let file: ManifestFile = toml::from_str(text)
        .map_err(|e| Error::Internal(format!("plugin manifest does not parse: {e}")))?;
    for (i, n) in file.node.iter().enumerate() {
        if file.node[..i].iter().any(|m| m.id == n.id) {
            return Err(Error::Internal(format!(
                "plugin manifest declares node '{}' twice",
                n.id
            )));
        }
        for (j, p) in n.params.iter().enumerate() {
            if n.params[..j].iter().any(|q| q.id == p.id) {
                return Err(Error::Internal(format!(
                    "node '{}' declares parameter '{}' twice",
                    n.id, p.id
                )));
            }
            crate::params::check_value(p, p.kind.default_value()).map_err(|e| {
                Error::Internal(format!("node '{}': default is invalid: {e}", n.id))
            })?;
        }
    }
    Ok(file.node)
}

/// Every node of this build, in manifest order.
pub fn nodes() -> &'static [NodeDescriptor] {
    static NODES: OnceLock<Vec<NodeDescriptor>> = OnceLock::new();
    // The embedded manifest is checked by `tests::embedded_manifest_is_valid`;
    // an invalid one cannot pass CI, so failing loudly here is a build defect.
    NODES.get_or_init(|| parse(NODES_TOML).unwrap_or_else(|e| panic!("{e}")))
}

/// The descriptor of node `id`.
pub fn node(id: &str) -> Result<&'static NodeDescriptor> {
    nodes()
        .iter()
        .find(|n| n.id == id)
        .ok_or_else(|| Error::UnknownNode(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_is_valid() {
        let nodes = parse(NODES_TOML).unwrap();
        assert!(!nodes.is_empty());
        for n in &nodes {
            assert!(n.id.starts_with("org.equifx."), "{}", n.id);
            for p in &n.params {
                assert!(
                    p.id.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "parameter id '{}' is not snake_case",
                    p.id
                );
            }
        }
    }

    #[test]
    fn defaults_outside_the_range_are_rejected() {
        let bad = r#"
[[node]]
id = "org.equifx.X"
label = "X"
group = "g"
version = [1, 0]
summary = "s"
[[node.param]]
id = "a"
label = "A"
kind = "float"
min = 0.0
max = 1.0
default = 2.0
"#;
        assert!(parse(bad).is_err());
    }
}
