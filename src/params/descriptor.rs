//! Parameter descriptors: what a parameter is called, its kind, range and default.

use serde::Deserialize;

use super::ParamValue;

/// The kind of a parameter, with its range and default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ParamKind {
    /// A real number in `[min, max]`, e.g. exposure in stops.
    Float {
        min: f64,
        max: f64,
        default: f64,
        #[serde(default)]
        unit: String,
    },
    /// An integer in `[min, max]`.
    Int {
        min: i64,
        max: i64,
        default: i64,
    },
    Bool {
        default: bool,
    },
    /// One of a fixed list of option names.
    Choice {
        options: Vec<String>,
        default: String,
    },
    /// The name of a domain of the model bundle the node loads. Which names
    /// exist is known only once the bundle is loaded, so the value is checked
    /// against the bundle when the node renders; hosts store the name.
    Domain {
        default: String,
        /// Whether `auto` (let the model detect the domain) is accepted.
        #[serde(default)]
        auto: bool,
    },
    /// Target shares of the bundle's attributes, `name=share` pairs (see
    /// [`super::AttributeShares`]); names are checked against the bundle at render.
    Shares {
        default: String,
    },
    /// A file or folder path (e.g. a model bundle); empty means "use the default".
    Path {
        #[serde(default)]
        default: String,
    },
    /// A random seed (non-negative 63-bit integer): same seed, same output.
    Seed {
        #[serde(default)]
        default: i64,
    },
}

impl ParamKind {
    /// Whether the value is text (choices, names, shares, paths).
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            ParamKind::Choice { .. }
                | ParamKind::Domain { .. }
                | ParamKind::Shares { .. }
                | ParamKind::Path { .. }
        )
    }

    /// Short stable name of the kind, as used by the C ABI and docs.
    pub fn name(&self) -> &'static str {
        match self {
            ParamKind::Float { .. } => "float",
            ParamKind::Int { .. } => "int",
            ParamKind::Bool { .. } => "bool",
            ParamKind::Choice { .. } => "choice",
            ParamKind::Domain { .. } => "domain",
            ParamKind::Shares { .. } => "shares",
            ParamKind::Path { .. } => "path",
            ParamKind::Seed { .. } => "seed",
        }
    }

    pub fn default_value(&self) -> ParamValue {
        match self {
            ParamKind::Float { default, .. } => ParamValue::Float(*default),
            ParamKind::Int { default, .. } | ParamKind::Seed { default } => {
                ParamValue::Int(*default)
            }
            ParamKind::Bool { default } => ParamValue::Bool(*default),
            ParamKind::Choice { default, .. }
            | ParamKind::Domain { default, .. }
            | ParamKind::Shares { default }
            | ParamKind::Path { default } => ParamValue::Text(default.clone()),
        }
    }
}

/// One parameter of a node, as declared in the manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ParamDescriptor {
    /// Stable snake_case id; part of artists' project files, never renamed.
    pub id: String,
    /// What hosts show next to the control.
    pub label: String,
    /// Tooltip: what the parameter does, in the artist's words.
    #[serde(default)]
    pub hint: String,
    #[serde(flatten)]
    pub kind: ParamKind,
}
