//! The Bias Audit as one self-contained HTML page, for people who would rather
//! look than read: a header that says what was audited with what, a pass /
//! inconclusive / fail summary, and per attribute one sentence in words, a
//! disparity plot (inline SVG) and a table; the metrics sit folded away with a
//! glossary. No scripts, no external files: the page can be attached to a
//! review or a ticket as is, and prints one attribute per page region.
//!
//! Every figure is a `<span data-json="PATH" data-unit="UNIT">` naming the JSON
//! value it shows (`A - B` for a difference of two), so the page can be checked
//! against the JSON mechanically (tests/audit_report.rs).
//!
//! This file assembles the page; [`text`] holds the figures and sentences,
//! [`svg`] the charts, [`sequence`] and [`transfer`] their sections, and
//! [`files`] writes the page with the JSON and CSV.

mod files;
mod sequence;
mod svg;
mod text;
mod transfer;

use std::fmt::Write as _;

use super::audit::{AttributeAudit, AuditReport};
use text::{badge, deviation, esc, focus, lede, num, verdict_text, Unit, LEVEL, SHARE};

pub use files::{round_sig, CSV_COLUMNS};
pub use svg::{text_width, CHAR_EM};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;padding:0 1em;color:#1f2328;line-height:1.45}\
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}\
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.5em 0 1em}dl.run dt{font-weight:600}dl.run dd{margin:0}\
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right;vertical-align:top}\
th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}thead{display:table-header-group}\
td.verdict,th.verdict{text-align:left}.metrics td:last-child,.metrics th:last-child{text-align:left}\
.badge{display:inline-block;min-width:5.5em;text-align:center;border-radius:1em;padding:0 .6em;font-weight:600;font-size:.9em}\
.pass{background:#dafbe1;color:#116329}.inconclusive{background:#fff8c5;color:#7d4e00}.fail{background:#ffebe9;color:#a40e26}\
.lede{font-size:1.1em}.note{color:#57606a;font-size:.9em}code{font-size:.85em;word-break:break-all}\
svg{display:block;max-width:760px;height:auto}details{margin:.8em 0}summary{cursor:pointer;font-weight:600}\
section{break-inside:avoid}figure{margin:.5em 0;break-inside:avoid}figure.examples img{height:64px;margin:1px}\
@media print{body{margin:0;max-width:none}a{color:inherit;text-decoration:none}}";

/// Renders the report as HTML.
pub fn render(report: &AuditReport) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let title = if report.run.name.is_empty() {
        "Bias audit".to_string()
    } else {
        format!("Bias audit: {}", esc(&report.run.name))
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title}</title>\
<style>{STYLE}</style></head><body>\n<header><h1>{title}</h1>\n"
    );
    header(&mut h, report);
    h.push_str("</header>\n");
    summary(&mut h, report);
    for (i, a) in report.attributes.iter().enumerate() {
        attribute(&mut h, report, i, a);
    }
    transfer::transfer(&mut h, report);
    transfer::directional(&mut h, report);
    glossary(&mut h, report);
    h.push_str("</body></html>\n");
    h
}

fn header(h: &mut String, report: &AuditReport) {
    let r = &report.run;
    h.push_str("<dl class=\"run\">");
    if !r.inputs.is_empty() {
        let shown: Vec<String> = r.inputs.iter().take(6).map(|i| esc(i)).collect();
        let more = r.inputs.len().saturating_sub(shown.len());
        let _ = write!(
            h,
            "<dt>Inputs</dt><dd><code>{}</code>{}</dd>",
            shown.join("</code>, <code>"),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    if let Some(a) = report.attributes.first() {
        let _ = write!(
            h,
            "<dt>Frames</dt><dd>N = {}</dd>",
            num("attributes.0.n", a.n as f64, Unit::Count)
        );
    }
    if let Some(m) = &r.model {
        let _ = write!(h, "<dt>Model</dt><dd><code>{}</code>", esc(m));
        if let Some(sha) = &r.weights_sha256 {
            let _ = write!(h, ", weights SHA-256 <code>{}</code>", esc(sha));
        }
        h.push_str("</dd>");
    }
    if let Some(d) = &r.domain {
        let _ = write!(h, "<dt>Domain</dt><dd>{}</dd>", esc(d));
    }
    if !r.date.is_empty() {
        let _ = write!(h, "<dt>Date</dt><dd>{}</dd>", esc(&r.date));
    }
    let _ = writeln!(
        h,
        "<dt>equifx</dt><dd>{}</dd><dt>Settings</dt><dd>{} simultaneous intervals; imbalance test at α = {}; \
balanced means every class within ±{} points of its target</dd></dl>",
        esc(&r.equifx_version),
        num("config.level", report.config.level, LEVEL),
        num("config.alpha", report.config.alpha, Unit::Plain),
        num(
            "config.delta",
            report.config.delta,
            Unit::Points { signed: false }
        )
    );
}

fn summary(h: &mut String, report: &AuditReport) {
    let corrected = report
        .attributes
        .iter()
        .any(|a| a.corrected_verdict.is_some());
    h.push_str(
        "<section class=\"summary\"><h2>Summary</h2>\n<table><thead><tr><th>attribute</th><th class=\"verdict\">verdict</th>",
    );
    if corrected {
        h.push_str("<th class=\"verdict\">corrected for classifier error</th>");
    }
    h.push_str("<th>largest deviation from target (points)</th><th>parity ratio</th><th>amplification (points)</th><th>frames</th></tr></thead><tbody>\n");
    for (i, a) in report.attributes.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td><a href=\"#attribute-{i}\">{}</a></td><td class=\"verdict\">{}</td>",
            esc(&a.name),
            badge(&a.verdict)
        );
        if corrected {
            let _ = write!(
                h,
                "<td class=\"verdict\">{}</td>",
                a.corrected_verdict.as_ref().map_or("–".into(), badge)
            );
        }
        let k = focus(a);
        let _ = writeln!(
            h,
            "<td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            deviation(i, a, k),
            esc(&a.classes[k].name),
            num(
                &format!("attributes.{i}.distance.parity_ratio"),
                a.distance.parity_ratio,
                Unit::Fixed(3)
            ),
            a.amplification.as_ref().map_or("–".into(), |z| num(
                &format!("attributes.{i}.amplification.value"),
                z.value,
                Unit::Points { signed: true }
            )),
            num(&format!("attributes.{i}.n"), a.n as f64, Unit::Count)
        );
    }
    h.push_str(
        "</tbody></table>\n<p class=\"note\"><span class=\"badge pass\">pass</span> balanced: every class's interval lies within the tolerance of its target. \
<span class=\"badge inconclusive\">inconclusive</span> no imbalance detected, but too few frames to call the batch balanced. \
<span class=\"badge fail\">fail</span> the G-test rejects the target.</p></section>\n",
    );
}

fn attribute(h: &mut String, report: &AuditReport, i: usize, a: &AttributeAudit) {
    let effective = a.n_effective < a.n as f64;
    let _ = write!(
        h,
        "<section class=\"attribute\" id=\"attribute-{i}\"><h2>{}</h2>\n{}<p class=\"verdict\">Verdict: {}.",
        esc(&a.name),
        lede(i, a, report),
        verdict_text(&format!("attributes.{i}.verdict"), &a.verdict, effective)
    );
    if let Some(v) = &a.corrected_verdict {
        let _ = write!(
            h,
            " Corrected for classifier error: {}.",
            verdict_text(&format!("attributes.{i}.corrected_verdict"), v, effective)
        );
    }
    if let Some(note) = &a.correction_note {
        let _ = write!(h, " No corrected values: {}.", esc(note));
    }
    h.push_str("</p>\n<figure>");
    h.push_str(&svg::plot(a, report.config.level, report.config.delta));
    h.push_str("</figure>\n");
    class_table(h, i, a);
    examples(h, a);
    if let Some(b) = &a.bootstrap {
        sequence::sequence(h, report, i, a, b);
    }
    metrics(h, i, a);
    h.push_str("</section>\n");
}

/// A row of pictures per class: audited frames the class holds.
fn examples(h: &mut String, a: &AttributeAudit) {
    use base64::Engine as _;
    if a.examples.iter().all(Vec::is_empty) {
        return;
    }
    h.push_str("<figure class=\"examples\"><figcaption>Frames the audit put in each class, the surest first</figcaption><table><tbody>\n");
    for (c, pictures) in a.classes.iter().zip(&a.examples) {
        let _ = write!(h, "<tr><td>{}</td><td>", esc(&c.name));
        for png in pictures {
            let _ = write!(
                h,
                "<img alt=\"a frame in {}\" src=\"data:image/png;base64,{}\"> ",
                esc(&c.name),
                base64::engine::general_purpose::STANDARD.encode(png)
            );
        }
        h.push_str("</td></tr>\n");
    }
    h.push_str("</tbody></table></figure>\n");
}

fn class_table(h: &mut String, i: usize, a: &AttributeAudit) {
    let reference = a.classes.iter().any(|c| c.reference.is_some());
    let corrected = a.classes.iter().any(|c| c.corrected.is_some());
    h.push_str("<table class=\"classes\"><thead><tr><th>class</th><th>frames</th><th>observed</th><th>interval</th><th>target</th><th>deviation (points)</th>");
    if reference {
        h.push_str("<th>training reference</th>");
    }
    if corrected {
        h.push_str("<th>corrected</th><th>corrected interval</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    let pct = |path: String, x: f64| num(&path, x, SHARE);
    for (k, c) in a.classes.iter().enumerate() {
        let base = format!("attributes.{i}.classes.{k}");
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td><td>{}</td>",
            esc(&c.name),
            num(&format!("{base}.count"), c.count as f64, Unit::Count),
            pct(format!("{base}.share"), c.share),
            pct(format!("{base}.interval.lo"), c.interval.lo),
            pct(format!("{base}.interval.hi"), c.interval.hi),
            pct(format!("{base}.target"), c.target),
            deviation(i, a, k)
        );
        if reference {
            let _ = write!(
                h,
                "<td>{}</td>",
                c.reference
                    .map_or("–".into(), |r| pct(format!("{base}.reference"), r))
            );
        }
        if corrected {
            let _ = write!(
                h,
                "<td>{}</td><td>{}</td>",
                c.corrected
                    .map_or("–".into(), |r| pct(format!("{base}.corrected"), r)),
                c.corrected_interval.map_or("–".into(), |iv| format!(
                    "{} – {}",
                    pct(format!("{base}.corrected_interval.lo"), iv.lo),
                    pct(format!("{base}.corrected_interval.hi"), iv.hi)
                ))
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}

fn metrics(h: &mut String, i: usize, a: &AttributeAudit) {
    let d = &a.distance;
    let cd = a.corrected_distance.as_ref();
    let base = format!("attributes.{i}");
    let row = |h: &mut String,
               name: &str,
               key: &str,
               x: f64,
               y: Option<f64>,
               unit: Unit,
               meaning: &str| {
        let _ = write!(
            h,
            "<tr><td>{name}</td><td>{}</td>",
            num(&format!("{base}.distance.{key}"), x, unit)
        );
        if cd.is_some() {
            let _ = write!(
                h,
                "<td>{}</td>",
                y.map_or("–".into(), |y| num(
                    &format!("{base}.corrected_distance.{key}"),
                    y,
                    unit
                ))
            );
        }
        let _ = writeln!(h, "<td>{meaning}</td></tr>");
    };
    let _ = writeln!(
        h,
        "<details><summary>Metrics</summary><table class=\"metrics\"><thead><tr><th>metric</th><th>observed</th>{}<th>meaning</th></tr></thead><tbody>",
        if cd.is_some() { "<th>corrected</th>" } else { "" }
    );
    let pts = Unit::Points { signed: false };
    row(
        h,
        "max-dev (points)",
        "max_dev",
        d.max_dev,
        cd.map(|c| c.max_dev),
        pts,
        "largest gap between a class's share and its target",
    );
    row(
        h,
        "TV (points)",
        "tv",
        d.tv,
        cd.map(|c| c.tv),
        pts,
        "total variation: the share of frames that would have to change class to meet the target",
    );
    row(
        h,
        "KL (nats)",
        "kl",
        d.kl,
        cd.map(|c| c.kl),
        Unit::Fixed(4),
        "Kullback–Leibler divergence of the shares from the target; zero when they match",
    );
    row(h, "FD", "fd", d.fd, cd.map(|c| c.fd), Unit::Fixed(4),
        "fairness discrepancy: distance of the shares from equal shares (always against uniform, whatever the target)");
    row(
        h,
        "G",
        "g",
        d.g,
        cd.map(|c| c.g),
        Unit::Fixed(2),
        "G-test statistic, twice N times KL; large when the gap is more than chance at this N",
    );
    let _ = write!(
        h,
        "<tr><td>G-test p</td><td>{}</td>",
        num(&format!("{base}.distance.g_p_value"), d.g_p_value, Unit::P)
    );
    if let Some(c) = cd {
        let _ = write!(
            h,
            "<td>{}</td>",
            num(
                &format!("{base}.corrected_distance.g_p_value"),
                c.g_p_value,
                Unit::P
            )
        );
    }
    h.push_str("<td>chance of a gap at least this large if the frames met the target; a bound where it is below what a double can hold</td></tr>\n");
    row(
        h,
        "parity ratio",
        "parity_ratio",
        d.parity_ratio,
        cd.map(|c| c.parity_ratio),
        Unit::Fixed(3),
        "smallest class share over largest; one when all classes are equally common",
    );
    row(
        h,
        "normalised entropy",
        "entropy",
        d.entropy,
        cd.map(|c| c.entropy),
        Unit::Fixed(3),
        "how evenly the frames spread over the classes, whatever the target: one when equally common, zero when all are in one class",
    );
    if let Some(z) = &a.amplification {
        let _ = writeln!(
            h,
            "<tr><td>amplification (points)</td><td>{} ({} to {})</td>{}<td>Zhao et al.: how far the classes the training data favoured moved beyond their training share; positive amplifies the training bias</td></tr>",
            num(&format!("{base}.amplification.value"), z.value, Unit::Points { signed: true }),
            num(&format!("{base}.amplification.interval.lo"), z.interval.lo, Unit::Points { signed: true }),
            num(&format!("{base}.amplification.interval.hi"), z.interval.hi, Unit::Points { signed: true }),
            if cd.is_some() { "<td>–</td>" } else { "" }
        );
    }
    let t = &a.null_thresholds;
    let _ = writeln!(
        h,
        "</tbody></table><p class=\"note\">A batch of this size with exactly equal shares stays, at α, below FD {}, KL {} nats, \
and within {} points of equal shares in every class.</p></details>",
        num(&format!("{base}.null_thresholds.fd_max"), t.fd_max, Unit::Fixed(4)),
        num(&format!("{base}.null_thresholds.kl_max"), t.kl_max, Unit::Fixed(4)),
        num(&format!("{base}.null_thresholds.max_dev"), t.max_dev, pts)
    );
}

fn glossary(h: &mut String, report: &AuditReport) {
    let _ = writeln!(
        h,
        "<section class=\"glossary\"><h2>Glossary</h2><dl>\
<dt>observed share and interval</dt><dd>The share of frames the attribute heads put in a class, with a simultaneous \
{} Wilson interval: all classes' intervals hold together at that level, not just each one on its own.</dd>\
<dt>target</dt><dd>The share asked for. With two or more attributes the target is joint: a share for every combination \
(cell) of attributes, so asking for half warm and half round also fixes how many frames are both; attributes left unset \
keep their natural relation to the ones set. The <em>joint</em> attribute audits those cells together.</dd>\
<dt>tolerance</dt><dd>The shaded band of ±{} points around the target: a class counts as balanced when its whole \
interval lies inside.</dd>\
<dt>reference</dt><dd>The attribute's share in the model's training data, from the bundle's manifest. A batch further \
from the target than the reference, on the same side, amplifies the training data's bias.</dd>\
<dt>corrected</dt><dd>The share after undoing the classifier's own known mistakes, measured on labelled pictures the \
heads never trained on: a head that calls some cool pictures warm inflates the warm share, and the correction removes \
that. Its interval also carries the uncertainty of those error rates, so it is wider. It is drawn only where it differs \
from the observed share.</dd>\
<dt>effective frames</dt><dd>For a sequence, the number of independent pictures the frames are worth.</dd>\
<dt>blocks</dt><dd>For a sequence, runs of consecutive frames, each made of whole bootstrap blocks. The share in each \
block shows whether the attribute drifts along the sequence. A block has fewer frames than the sequence, so its share \
scatters beyond the whole sequence's interval even without drift: the sequence is said to drift only when the blocks \
differ by more than chance.</dd>\
</dl></section>",
        num("config.level", report.config.level, LEVEL),
        num(
            "config.delta",
            report.config.delta,
            Unit::Points { signed: false }
        )
    );
}
