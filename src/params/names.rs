//! Names that come from a model bundle (domains, attributes) and the
//! attribute-share lists that target them. Parameters hold them as text and
//! check only their syntax when set: which names exist is known once the
//! node loads its bundle, where [`AttributeShares::resolve`] checks them.

/// Longest domain or attribute name accepted (bytes).
const MAX_NAME_LEN: usize = 128;

/// Checks that `name` can be a domain or attribute name: not empty, at most
/// 128 bytes, no control characters and none of `=`, `,`, `;` (which
/// separate share lists), no surrounding spaces.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "the name is {} bytes long; names are at most {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if name.trim() != name {
        return Err(format!("'{name}' starts or ends with a space"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || matches!(c, '=' | ',' | ';'))
    {
        return Err(format!(
            "'{}' contains {c:?}; names cannot hold control characters, '=', ',' or ';'",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// The share one attribute is asked to have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Share {
    /// Keep the model's own share (given the other targets).
    Natural,
    /// This fraction of images, 0 … 1.
    Fixed(f64),
}

/// Target shares of a bundle's attributes, written `name=share` with
/// entries separated by `,` or `;`: `warm=0.5, round=natural`. `*` stands
/// for every attribute not named (`*=0.5` balances all of them); attributes
/// that are not mentioned keep their natural share. Empty text: all natural.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeShares {
    named: Vec<(String, Share)>,
    rest: Share,
}

impl AttributeShares {
    /// Parses the text form; the error says which entry is wrong and why.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut named: Vec<(String, Share)> = Vec::new();
        let mut rest = None;
        for entry in text.split([',', ';']).map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let (name, value) = entry.split_once('=').ok_or_else(|| {
                format!("'{entry}' must be NAME=SHARE (a share 0 … 1, or `natural`)")
            })?;
            let (name, value) = (name.trim(), value.trim());
            let share = if value.eq_ignore_ascii_case("natural") {
                Share::Natural
            } else {
                match value.parse::<f64>() {
                    Ok(s) if (0.0..=1.0).contains(&s) => Share::Fixed(s),
                    _ => {
                        return Err(format!(
                        "'{entry}': the share '{value}' must be a number from 0 to 1, or `natural`"
                    ))
                    }
                }
            };
            if name == "*" {
                if rest.replace(share).is_some() {
                    return Err("`*` is given twice".into());
                }
                continue;
            }
            check_name(name)?;
            if named.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(format!("attribute '{name}' is given twice"));
            }
            named.push((name.to_string(), share));
        }
        Ok(AttributeShares {
            named,
            rest: rest.unwrap_or(Share::Natural),
        })
    }

    /// The share of each of `attributes` (a bundle's heads, in order), `None`
    /// for natural. Names are matched without regard to ASCII case; a name the
    /// bundle does not have is an error that lists the ones it has.
    pub fn resolve(&self, attributes: &[String]) -> Result<Vec<Option<f64>>, String> {
        if let Some((unknown, _)) = self
            .named
            .iter()
            .find(|(n, _)| !attributes.iter().any(|a| a.eq_ignore_ascii_case(n)))
        {
            return Err(format!(
                "unknown attribute '{unknown}': this model's attributes are {}",
                if attributes.is_empty() {
                    "none".to_string()
                } else {
                    attributes.join(", ")
                }
            ));
        }
        Ok(attributes
            .iter()
            .map(|a| {
                let share = self
                    .named
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(a))
                    .map_or(self.rest, |(_, s)| *s);
                match share {
                    Share::Natural => None,
                    Share::Fixed(s) => Some(s),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shares_resolve_in_the_bundles_order_with_a_wildcard_for_the_rest() {
        let s = AttributeShares::parse(" hat = 0.25 ; *=0.5, Smiling=natural").unwrap();
        assert_eq!(
            s.resolve(&names(&["smiling", "glasses", "hat"])).unwrap(),
            vec![None, Some(0.5), Some(0.25)]
        );
        assert_eq!(
            AttributeShares::parse("")
                .unwrap()
                .resolve(&names(&["a", "b"]))
                .unwrap(),
            vec![None, None]
        );
    }

    #[test]
    fn unknown_attribute_names_list_the_bundles_own() {
        let e = AttributeShares::parse("warm=0.5")
            .unwrap()
            .resolve(&names(&["smiling", "hat"]))
            .unwrap_err();
        assert!(e.contains("'warm'") && e.contains("smiling, hat"), "{e}");
    }

    #[test]
    fn malformed_share_lists_are_refused_with_the_entry() {
        for bad in [
            "warm",
            "warm=1.5",
            "warm=-0.1",
            "warm=NaN",
            "warm=inf",
            "warm=0.5,warm=0.2",
            "*=0.5;*=0.1",
            "=0.5",
            "a\u{7}b=0.5",
        ] {
            assert!(AttributeShares::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_refuse_separators_controls_and_empty() {
        assert!(check_name("night sky").is_ok());
        assert!(check_name("夜").is_ok());
        for bad in ["", " a", "a=b", "a,b", "a;b", "a\nb", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
