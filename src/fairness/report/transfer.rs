//! The transfer section (inputs against outputs, McNemar's test) and the
//! directional amplification over domains.

use std::fmt::Write as _;

use super::super::audit::{AttributeAudit, AuditReport};
use super::super::intervals::McNemar;
use super::text::{esc, num, p_text, Unit, LEVEL};

pub(super) fn transfer(h: &mut String, report: &AuditReport) {
    if report.paired.is_empty() {
        return;
    }
    h.push_str("<section class=\"transfer\" id=\"transfer\"><h2>Transfer: inputs against outputs</h2>\n<p>Each output frame is compared with its own input: a flip is a frame whose attribute changed in the transfer.</p>\n");
    for (j, (name, m)) in report.paired.iter().enumerate() {
        let base = format!("paired.{j}.1");
        let _ = write!(h, "<h3>{}</h3><p>", esc(name));
        // The audited attributes are the inputs' own classes: with them the flips
        // read as "b of the n₀ frames without it".
        let inputs = report
            .attributes
            .iter()
            .enumerate()
            .find(|(_, a)| a.name == *name && a.classes.len() == 2 && a.n == m.n)
            .filter(|(_, a)| m.b <= a.classes[0].count && m.c <= a.classes[1].count);
        let b = num(&format!("{base}.b"), m.b as f64, Unit::Count);
        let c = num(&format!("{base}.c"), m.c as f64, Unit::Count);
        let n = esc(name);
        let (gained, lost) = match inputs {
            Some((i, a)) => {
                let n0 = num(
                    &format!("attributes.{i}.classes.0.count"),
                    a.classes[0].count as f64,
                    Unit::Count,
                );
                let n1 = num(
                    &format!("attributes.{i}.classes.1.count"),
                    a.classes[1].count as f64,
                    Unit::Count,
                );
                (
                    if m.b == 0 {
                        format!("None of {n0} frames without {n} came out {n}")
                    } else {
                        format!("{b} of {n0} frames without {n} came out {n}")
                    },
                    format!("{c} of {n1} {n} frames lost it"),
                )
            }
            None => (
                format!(
                    "Of {} frames, {b} came out {n} without having been",
                    num(&format!("{base}.n"), m.n as f64, Unit::Count)
                ),
                format!("{c} lost it"),
            ),
        };
        if m.b == 0 && m.c == 0 {
            let _ = write!(
                h,
                "None of the {} frames gained or lost {n}.",
                num(&format!("{base}.n"), m.n as f64, Unit::Count)
            );
        } else if m.c == 0 {
            let _ = write!(h, "{gained}; none went the other way.");
        } else {
            let _ = write!(h, "{gained}; {lost}.");
        }
        let changed = m.p_value < report.config.alpha;
        let _ = writeln!(
            h,
            " The {} share moved by {} points ({} interval {} to {}); McNemar's {}test gives {}: {}.</p>",
            esc(name),
            num(&format!("{base}.drift"), m.drift, Unit::Points { signed: true }),
            num("config.level", report.config.level, LEVEL),
            num(&format!("{base}.interval.lo"), m.interval.lo, Unit::Points { signed: true }),
            num(&format!("{base}.interval.hi"), m.interval.hi, Unit::Points { signed: true }),
            if m.exact { "exact " } else { "" },
            p_text(&format!("{base}.p_value"), m.p_value),
            if changed {
                "the transfer changes this attribute"
            } else {
                "no change beyond chance"
            }
        );
        if let Some((i, a)) = inputs {
            flip_table(h, i, a, j, m);
        }
    }
    h.push_str("</section>\n");
}

/// The 2 × 2 table of inputs against outputs.
fn flip_table(h: &mut String, i: usize, a: &AttributeAudit, j: usize, m: &McNemar) {
    let (n0, n1) = (a.classes[0].count, a.classes[1].count);
    let c0 = format!("attributes.{i}.classes.0.count");
    let c1 = format!("attributes.{i}.classes.1.count");
    let b = format!("paired.{j}.1.b");
    let c = format!("paired.{j}.1.c");
    let _ = writeln!(
        h,
        "<table class=\"flips\"><thead><tr><th>input ↓ / output →</th><th>{0}</th><th>{1}</th></tr></thead><tbody>\
<tr><td>{0}</td><td>{2}</td><td>{3}</td></tr><tr><td>{1}</td><td>{4}</td><td>{5}</td></tr></tbody></table>",
        esc(&a.classes[0].name),
        esc(&a.classes[1].name),
        num(&format!("{c0} - {b}"), (n0 - m.b) as f64, Unit::Count),
        num(&b, m.b as f64, Unit::Count),
        num(&c, m.c as f64, Unit::Count),
        num(&format!("{c1} - {c}"), (n1 - m.c) as f64, Unit::Count),
    );
}

pub(super) fn directional(h: &mut String, report: &AuditReport) {
    let Some(d) = &report.directional else {
        return;
    };
    let _ = write!(
        h,
        "<section class=\"directional\"><h2>Directional amplification</h2><p>Across domains, generation moved attribute \
shares along the training data's own domain–attribute links by {} points on average (Wang &amp; Russakovsky, domain → attribute; \
positive amplifies them).</p>\n<table><thead><tr><th>domain</th><th>class</th><th>change from training (points)</th><th>interval</th><th>training link</th></tr></thead><tbody>\n",
        num("directional.value", d.value, Unit::Points { signed: true })
    );
    for (t, term) in d.terms.iter().enumerate() {
        let base = format!("directional.terms.{t}");
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} to {}</td><td>{}</td></tr>",
            num(&format!("{base}.domain"), term.domain as f64, Unit::Count),
            num(&format!("{base}.class"), term.class as f64, Unit::Count),
            num(
                &format!("{base}.delta"),
                term.delta,
                Unit::Points { signed: true }
            ),
            num(
                &format!("{base}.interval.lo"),
                term.interval.lo,
                Unit::Points { signed: true }
            ),
            num(
                &format!("{base}.interval.hi"),
                term.interval.hi,
                Unit::Points { signed: true }
            ),
            match term.y {
                1 => "positive",
                -1 => "negative",
                _ => "none",
            }
        );
    }
    h.push_str("</tbody></table></section>\n");
}
