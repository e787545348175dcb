//! Validated parameter values of one node instance.

use crate::error::{Error, Result};

use super::{ParamDescriptor, ParamKind};

/// A parameter value. Choices and paths are text; ints and seeds are `Int`.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Float(f64),
    Int(i64),
    Bool(bool),
    Text(String),
}

/// The current values of every parameter of one node, always valid: a value
/// is checked against its descriptor before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamValues {
    /// The node's id, for messages.
    node_id: &'static str,
    descriptors: &'static [ParamDescriptor],
    values: Vec<ParamValue>,
}

impl ParamValues {
    /// Every parameter of node `node_id`, declared by `descriptors`, at its
    /// default (see `NodeDescriptor::default_values`).
    pub fn defaults(node_id: &'static str, descriptors: &'static [ParamDescriptor]) -> Self {
        let values = descriptors.iter().map(|p| p.kind.default_value()).collect();
        ParamValues {
            node_id,
            descriptors,
            values,
        }
    }

    /// The id of the node these values belong to.
    pub fn node_id(&self) -> &'static str {
        self.node_id
    }

    /// The node's parameter declarations, in order.
    pub fn descriptors(&self) -> &'static [ParamDescriptor] {
        self.descriptors
    }

    fn index(&self, id: &str) -> Result<usize> {
        self.descriptors
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| Error::UnknownParam {
                node: self.node_id.to_string(),
                param: id.to_string(),
                known: self
                    .descriptors
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Sets a parameter after checking kind, finiteness and range.
    pub fn set(&mut self, id: &str, value: ParamValue) -> Result<()> {
        let i = self.index(id)?;
        let checked = check_value(&self.descriptors[i], value)?;
        self.values[i] = checked;
        Ok(())
    }

    /// Sets a parameter from text, as typed on a command line or in a job file.
    pub fn set_from_str(&mut self, id: &str, text: &str) -> Result<()> {
        let i = self.index(id)?;
        let p = &self.descriptors[i];
        let bad = |what: &str| Error::InvalidParamValue {
            param: id.to_string(),
            reason: format!("'{text}' is not {what}"),
        };
        let value = match &p.kind {
            ParamKind::Float { .. } => {
                ParamValue::Float(text.trim().parse().map_err(|_| bad("a number"))?)
            }
            ParamKind::Int { .. } | ParamKind::Seed { .. } => {
                ParamValue::Int(text.trim().parse().map_err(|_| bad("an integer"))?)
            }
            ParamKind::Bool { .. } => {
                ParamValue::Bool(match text.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => return Err(bad("a boolean (true/false)")),
                })
            }
            _ => ParamValue::Text(text.to_string()),
        };
        self.set(id, value)
    }

    pub fn get(&self, id: &str) -> Result<&ParamValue> {
        Ok(&self.values[self.index(id)?])
    }

    fn wrong_kind(&self, id: &str, want: &str) -> Error {
        Error::Internal(format!(
            "parameter '{id}' of {} read as {want}",
            self.node_id
        ))
    }

    pub fn float(&self, id: &str) -> Result<f64> {
        match self.get(id)? {
            ParamValue::Float(v) => Ok(*v),
            _ => Err(self.wrong_kind(id, "float")),
        }
    }

    pub fn int(&self, id: &str) -> Result<i64> {
        match self.get(id)? {
            ParamValue::Int(v) => Ok(*v),
            _ => Err(self.wrong_kind(id, "int")),
        }
    }

    pub fn bool(&self, id: &str) -> Result<bool> {
        match self.get(id)? {
            ParamValue::Bool(v) => Ok(*v),
            _ => Err(self.wrong_kind(id, "bool")),
        }
    }

    pub fn text(&self, id: &str) -> Result<&str> {
        match self.get(id)? {
            ParamValue::Text(v) => Ok(v),
            _ => Err(self.wrong_kind(id, "text")),
        }
    }

    /// (id, value) pairs in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&ParamDescriptor, &ParamValue)> {
        self.descriptors.iter().zip(&self.values)
    }
}

/// Checks `value` against the descriptor's kind, finiteness and range.
pub(crate) fn check_value(p: &ParamDescriptor, value: ParamValue) -> Result<ParamValue> {
    let err = |reason: String| Error::InvalidParamValue {
        param: p.id.clone(),
        reason,
    };
    match (&p.kind, value) {
        (ParamKind::Float { min, max, .. }, ParamValue::Float(v)) => {
            if !v.is_finite() {
                Err(err(format!("{v} is not a finite number")))
            } else if v < *min || v > *max {
                Err(err(format!("{v} is outside the range {min} … {max}")))
            } else {
                Ok(ParamValue::Float(v))
            }
        }
        // Integers are accepted for float parameters: hosts and job files write `2` for `2.0`.
        (ParamKind::Float { .. }, ParamValue::Int(v)) => {
            check_value(p, ParamValue::Float(v as f64))
        }
        (ParamKind::Int { min, max, .. }, ParamValue::Int(v)) => {
            if v < *min || v > *max {
                Err(err(format!("{v} is outside the range {min} … {max}")))
            } else {
                Ok(ParamValue::Int(v))
            }
        }
        (ParamKind::Seed { .. }, ParamValue::Int(v)) => {
            if v < 0 {
                Err(err(format!("seed {v} is negative; seeds are 0 … 2^63-1")))
            } else {
                Ok(ParamValue::Int(v))
            }
        }
        (ParamKind::Bool { .. }, ParamValue::Bool(v)) => Ok(ParamValue::Bool(v)),
        (ParamKind::Choice { options, .. }, ParamValue::Text(v)) => {
            if options.contains(&v) {
                Ok(ParamValue::Text(v))
            } else {
                Err(err(format!("'{v}' is not one of: {}", options.join(", "))))
            }
        }
        (ParamKind::Domain { auto, .. }, ParamValue::Text(v)) => {
            let v = v.trim().to_string();
            if v.eq_ignore_ascii_case("auto") && !auto {
                Err(err(
                    "'auto' is not accepted here: name a domain of the model".into(),
                ))
            } else {
                super::names::check_name(&v).map_err(err)?;
                Ok(ParamValue::Text(v))
            }
        }
        (ParamKind::Shares { .. }, ParamValue::Text(v)) => {
            super::AttributeShares::parse(&v).map_err(err)?;
            Ok(ParamValue::Text(v))
        }
        (ParamKind::Path { .. }, ParamValue::Text(v)) => Ok(ParamValue::Text(v)),
        (kind, v) => Err(err(format!(
            "a {} parameter cannot take {v:?}",
            kind.name()
        ))),
    }
}
