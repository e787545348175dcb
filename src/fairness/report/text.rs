//! Words and figures of the page: every figure a tagged `<span>` naming the
//! JSON value it shows, and the sentences built from them.

use super::super::audit::{AttributeAudit, AuditReport, Verdict, P_FLOOR};

/// How a JSON value is shown on the page.
#[derive(Clone, Copy)]
pub(super) enum Unit {
    /// A share as a percentage with this many decimals: 0.62 → "62.0 %".
    Percent(usize),
    /// A difference of shares in percentage points, one decimal, signed or not.
    Points { signed: bool },
    /// A plain number with this many decimals.
    Fixed(usize),
    /// A whole number.
    Count,
    /// A number as Rust writes it (shortest round-trip form): 0.001 → "0.001".
    Plain,
    /// A p-value: "3.95e-14", or the bound "< 1e-300" below [`P_FLOOR`].
    P,
}

/// `x` (the JSON value at `path`) as a tagged figure.
pub(super) fn num(path: &str, x: f64, unit: Unit) -> String {
    let (text, name) = match unit {
        Unit::Percent(d) => (format!("{:.d$} %", 100.0 * x), "percent"),
        Unit::Points { signed } => (points(x, signed), "points"),
        Unit::Fixed(d) => (format!("{x:.d$}"), "fixed"),
        Unit::Count => (format!("{x:.0}"), "count"),
        Unit::Plain => (format!("{x}"), "fixed"),
        Unit::P if x < P_FLOOR => ("&lt; 1e-300".into(), "p"),
        Unit::P => (format!("{x:.2e}"), "p"),
    };
    format!("<span data-json=\"{path}\" data-unit=\"{name}\">{text}</span>")
}

fn points(x: f64, signed: bool) -> String {
    let s = if signed {
        format!("{:+.1}", 100.0 * x)
    } else {
        format!("{:.1}", 100.0 * x)
    };
    match s.as_str() {
        "+0.0" | "-0.0" => "0.0".into(),
        _ => s,
    }
}

pub(super) const SHARE: Unit = Unit::Percent(1);
pub(super) const LEVEL: Unit = Unit::Percent(0);

/// "p = 3.95e-14", or "p < 1e-300" for an underflowed tail.
pub(super) fn p_text(path: &str, p: f64) -> String {
    let op = if p < P_FLOOR { "" } else { "= " };
    format!("p {op}{}", num(path, p, Unit::P))
}

/// The coloured status, followed by the verdict's name where that says more
/// ("fail imbalanced", but just "inconclusive").
pub(super) fn badge(v: &Verdict) -> String {
    let name = if v.name() == v.status() {
        String::new()
    } else {
        format!(" {}", v.name())
    };
    format!("<span class=\"badge {0}\">{0}</span>{name}", v.status())
}

/// The class the attribute's sentence is about: the one furthest from its
/// target (for a binary attribute, the attribute present).
pub(super) fn focus(a: &AttributeAudit) -> usize {
    if a.classes.len() == 2 {
        return 1;
    }
    let dev = |k: usize| (a.classes[k].share - a.classes[k].target).abs();
    (0..a.classes.len())
        .reduce(|best, k| if dev(k) > dev(best) { k } else { best })
        .unwrap_or(0)
}

pub(super) fn deviation(i: usize, a: &AttributeAudit, k: usize) -> String {
    let c = &a.classes[k];
    num(
        &format!("attributes.{i}.classes.{k}.share - attributes.{i}.classes.{k}.target"),
        c.share - c.target,
        Unit::Points { signed: true },
    )
}

/// "read warm" / "do not read warm" for a binary attribute's classes, else
/// "fall in “name”".
pub(super) fn reads(attribute: &str, class: &str) -> String {
    match class.strip_prefix(attribute) {
        Some("+") => format!("read {}", esc(attribute)),
        Some("-") => format!("do not read {}", esc(attribute)),
        _ => format!("fall in “{}”", esc(class)),
    }
}

pub(super) fn lede(i: usize, a: &AttributeAudit, report: &AuditReport) -> String {
    let k = focus(a);
    let c = &a.classes[k];
    let base = format!("attributes.{i}.classes.{k}");
    let next = match &a.verdict {
        Verdict::Imbalanced { .. } => {
            "rebalance toward this target (<code>equifx rebalance</code>) or draw new frames with the Fair Sampler".to_string()
        }
        Verdict::Balanced { .. } => "nothing to do: every class is within the tolerance".to_string(),
        Verdict::Inconclusive { need_n, .. } => format!(
            "no imbalance is detectable yet; collect at least {} frames before calling it balanced",
            num(
                &format!("attributes.{i}.verdict.need_n"),
                *need_n as f64,
                Unit::Count
            )
        ),
    };
    let drifts = a
        .bootstrap
        .as_ref()
        .and_then(|b| b.block_shares.as_ref())
        .is_some_and(|s| s.p_value < report.config.alpha);
    let drift = if drifts {
        format!(" That is over the whole sequence: the share drifts along it (see <a href=\"#sequence-{i}\">Sequence</a>).")
    } else {
        String::new()
    };
    format!(
        "<p class=\"lede\">{} of frames {} against a {} target ({} points, {} interval {} to {}); {next}.{drift}</p>\n",
        num(&format!("{base}.share"), c.share, SHARE),
        reads(&a.name, &c.name),
        num(&format!("{base}.target"), c.target, SHARE),
        deviation(i, a, k),
        num("config.level", report.config.level, LEVEL),
        num(
            &format!("{base}.interval.lo - {base}.target"),
            c.interval.lo - c.target,
            Unit::Points { signed: true }
        ),
        num(
            &format!("{base}.interval.hi - {base}.target"),
            c.interval.hi - c.target,
            Unit::Points { signed: true }
        ),
    )
}

/// The verdict in words, with its p-value or tolerance.
pub(super) fn verdict_text(path: &str, v: &Verdict, effective: bool) -> String {
    let detail = match v {
        Verdict::Imbalanced { p_value } => format!(
            "the G-test{} rejects the target ({})",
            if effective { " at the effective N" } else { "" },
            p_text(&format!("{path}.p_value"), *p_value)
        ),
        Verdict::Balanced { delta } => format!(
            "every class within ±{} points of its target",
            num(
                &format!("{path}.delta"),
                *delta,
                Unit::Points { signed: false }
            )
        ),
        Verdict::Inconclusive {
            need_n,
            min_detectable,
        } => format!(
            "need N ≥ {} (this batch detects only deviations of {} points or more)",
            num(&format!("{path}.need_n"), *need_n as f64, Unit::Count),
            num(
                &format!("{path}.min_detectable"),
                *min_detectable,
                Unit::Points { signed: false }
            )
        ),
    };
    format!("{} — {detail}", badge(v))
}

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_signed_and_never_negative_zero() {
        assert_eq!(points(0.12, true), "+12.0");
        assert_eq!(points(-0.0004, true), "0.0");
        assert_eq!(points(-0.046, true), "-4.6");
        assert_eq!(points(0.05, false), "5.0");
        assert_eq!(
            num("a", 0.0, Unit::P),
            "<span data-json=\"a\" data-unit=\"p\">&lt; 1e-300</span>"
        );
    }
}
