//! The audit's files: JSON with every float rounded to ten significant digits,
//! one CSV row per (attribute, class), and the HTML page beside them, each
//! written atomically. Fields, columns and units: docs/audit-report.md.

use std::path::Path;

use super::super::audit::{AttributeAudit, AuditReport, ClassRow, Verdict};
use super::super::intervals::McNemar;
use crate::error::{Error, Result};

/// Significant digits kept in the JSON and CSV: enough for every figure the
/// reports show, few enough that `0.49999999999999994` reads `0.5`.
const SIGNIFICANT_DIGITS: usize = 10;

/// `x` rounded to [`SIGNIFICANT_DIGITS`] significant digits.
pub fn round_sig(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.*e}", SIGNIFICANT_DIGITS - 1)
        .parse()
        .unwrap_or(x)
}

impl AuditReport {
    /// Pretty JSON with every float rounded to [`SIGNIFICANT_DIGITS`].
    pub fn to_json(&self) -> Result<String> {
        let err = |e: serde_json::Error| Error::Internal(format!("serialising audit: {e}"));
        let mut value = serde_json::to_value(self).map_err(err)?;
        round_floats(&mut value);
        serde_json::to_string_pretty(&value).map_err(err)
    }

    /// One row per (attribute, class) with the attribute's figures repeated,
    /// columns [`CSV_COLUMNS`]; shares are fractions, as in the JSON.
    pub fn to_csv(&self) -> String {
        let mut s = CSV_COLUMNS.join(",");
        s.push('\n');
        for a in &self.attributes {
            let paired = self
                .paired
                .iter()
                .find(|(name, _)| *name == a.name)
                .map(|(_, m)| m);
            for (k, c) in a.classes.iter().enumerate() {
                s.push_str(&csv_row(a, k, c, paired).join(","));
                s.push('\n');
            }
        }
        s
    }

    /// Writes `<stem>.json`, `<stem>.csv` and `<stem>.html` atomically.
    pub fn write_all(&self, stem: &Path) -> Result<()> {
        crate::io::write_bytes_atomic(&stem.with_extension("json"), self.to_json()?.as_bytes())?;
        crate::io::write_bytes_atomic(&stem.with_extension("csv"), self.to_csv().as_bytes())?;
        crate::io::write_bytes_atomic(&stem.with_extension("html"), super::render(self).as_bytes())
    }
}

fn round_floats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(r) = n
                .as_f64()
                .map(round_sig)
                .and_then(serde_json::Number::from_f64)
            {
                *n = r;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(round_floats),
        serde_json::Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

/// The CSV header; docs/audit-report.md gives each column's meaning and unit.
pub const CSV_COLUMNS: [&str; 53] = [
    "attribute",
    "class",
    "n",
    "n_effective",
    "count",
    "share",
    "ci_lo",
    "ci_hi",
    "target",
    "deviation",
    "reference",
    "corrected",
    "corrected_lo",
    "corrected_hi",
    "bootstrap_lo",
    "bootstrap_hi",
    "bootstrap_n_eff",
    "fd",
    "l1_uniform",
    "kl",
    "tv",
    "max_dev",
    "pearson",
    "g",
    "g_p_value",
    "parity_ratio",
    "entropy",
    "fd_null_max",
    "kl_null_max",
    "max_dev_null",
    "amplification",
    "amplification_lo",
    "amplification_hi",
    "verdict",
    "status",
    "verdict_p_value",
    "need_n",
    "min_detectable",
    "corrected_verdict",
    "corrected_status",
    "corrected_verdict_p_value",
    "corrected_fd",
    "corrected_kl",
    "corrected_tv",
    "corrected_max_dev",
    "corrected_g",
    "corrected_p_value",
    "paired_b",
    "paired_c",
    "drift",
    "drift_lo",
    "drift_hi",
    "mcnemar_p_value",
];

/// A number as written to the CSV: rounded like the JSON, exponent when tiny.
fn csv_num(x: f64) -> String {
    if x.is_finite() {
        format!("{:?}", round_sig(x))
    } else {
        String::new()
    }
}

fn csv_opt(x: Option<f64>) -> String {
    x.map_or(String::new(), csv_num)
}

fn csv_row(
    a: &AttributeAudit,
    k: usize,
    c: &ClassRow,
    paired: Option<&McNemar>,
) -> [String; CSV_COLUMNS.len()] {
    let boot = a.bootstrap.as_ref();
    let d = &a.distance;
    let cd = a.corrected_distance.as_ref();
    let amp = a.amplification.as_ref();
    let (need_n, min_detectable) = match a.verdict {
        Verdict::Inconclusive {
            need_n,
            min_detectable,
        } => (need_n.to_string(), csv_num(min_detectable)),
        _ => (String::new(), String::new()),
    };
    let verdict_p = |v: Option<&Verdict>| match v {
        Some(Verdict::Imbalanced { p_value }) => csv_num(*p_value),
        _ => String::new(),
    };
    [
        csv_field(&a.name),
        csv_field(&c.name),
        a.n.to_string(),
        csv_num(a.n_effective),
        c.count.to_string(),
        csv_num(c.share),
        csv_num(c.interval.lo),
        csv_num(c.interval.hi),
        csv_num(c.target),
        csv_num(c.share - c.target),
        csv_opt(c.reference),
        csv_opt(c.corrected),
        csv_opt(c.corrected_interval.map(|i| i.lo)),
        csv_opt(c.corrected_interval.map(|i| i.hi)),
        csv_opt(boot.map(|b| b.intervals[k].lo)),
        csv_opt(boot.map(|b| b.intervals[k].hi)),
        csv_opt(boot.map(|b| b.n_eff[k])),
        csv_num(d.fd),
        csv_num(d.l1_uniform),
        csv_num(d.kl),
        csv_num(d.tv),
        csv_num(d.max_dev),
        csv_num(d.pearson),
        csv_num(d.g),
        csv_num(d.g_p_value),
        csv_num(d.parity_ratio),
        csv_num(d.entropy),
        csv_num(a.null_thresholds.fd_max),
        csv_num(a.null_thresholds.kl_max),
        csv_num(a.null_thresholds.max_dev),
        csv_opt(amp.map(|z| z.value)),
        csv_opt(amp.map(|z| z.interval.lo)),
        csv_opt(amp.map(|z| z.interval.hi)),
        a.verdict.name().to_string(),
        a.verdict.status().to_string(),
        verdict_p(Some(&a.verdict)),
        need_n,
        min_detectable,
        a.corrected_verdict
            .as_ref()
            .map_or(String::new(), |v| v.name().to_string()),
        a.corrected_verdict
            .as_ref()
            .map_or(String::new(), |v| v.status().to_string()),
        verdict_p(a.corrected_verdict.as_ref()),
        csv_opt(cd.map(|x| x.fd)),
        csv_opt(cd.map(|x| x.kl)),
        csv_opt(cd.map(|x| x.tv)),
        csv_opt(cd.map(|x| x.max_dev)),
        csv_opt(cd.map(|x| x.g)),
        csv_opt(cd.map(|x| x.g_p_value)),
        paired.map_or(String::new(), |m| m.b.to_string()),
        paired.map_or(String::new(), |m| m.c.to_string()),
        csv_opt(paired.map(|m| m.drift)),
        csv_opt(paired.map(|m| m.interval.lo)),
        csv_opt(paired.map(|m| m.interval.hi)),
        csv_opt(paired.map(|m| m.p_value)),
    ]
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_ten_significant_digits() {
        assert_eq!(round_sig(0.49999999999999994), 0.5);
        assert_eq!(round_sig(3.133788024664163e-14), 3.133788025e-14);
        assert_eq!(round_sig(0.0), 0.0);
        assert!(round_sig(f64::INFINITY).is_infinite());
        // Ten digits survive: the shown figures never need more.
        assert_eq!(round_sig(0.123_456_789_1), 0.123_456_789_1);
    }
}
