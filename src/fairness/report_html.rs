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

use std::fmt::Write as _;

use super::audit::{AttributeAudit, AuditReport, Verdict, P_FLOOR};
use super::intervals::{Blocks, McNemar};

const OBSERVED: &str = "#2f6cb0";
const CORRECTED: &str = "#d9730d";
const TARGET: &str = "#2e8b57";
const REFERENCE: &str = "#666666";

/// Width of the plots' coordinate system; the SVG scales to the page.
const PLOT_W: f64 = 640.0;
const FONT: f64 = 12.0;
/// Estimated advance of one character in em: the layout keeps labels and
/// legend clear of the data with this estimate (the tests use the same one).
pub const CHAR_EM: f64 = 0.6;
const ROW_H: f64 = 34.0;
const PLOT_TOP: f64 = 36.0;

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
section{break-inside:avoid}figure{margin:.5em 0;break-inside:avoid}\
@media print{body{margin:0;max-width:none}a{color:inherit;text-decoration:none}}";

/// How a JSON value is shown on the page.
#[derive(Clone, Copy)]
enum Unit {
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
fn num(path: &str, x: f64, unit: Unit) -> String {
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

const SHARE: Unit = Unit::Percent(1);
const LEVEL: Unit = Unit::Percent(0);

/// "p = 3.95e-14", or "p < 1e-300" for an underflowed tail.
fn p_text(path: &str, p: f64) -> String {
    let op = if p < P_FLOOR { "" } else { "= " };
    format!("p {op}{}", num(path, p, Unit::P))
}

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
    transfer(&mut h, report);
    directional(&mut h, report);
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

/// The coloured status, followed by the verdict's name where that says more
/// ("fail imbalanced", but just "inconclusive").
fn badge(v: &Verdict) -> String {
    let name = if v.name() == v.status() {
        String::new()
    } else {
        format!(" {}", v.name())
    };
    format!("<span class=\"badge {0}\">{0}</span>{name}", v.status())
}

/// The class the attribute's sentence is about: the one furthest from its
/// target (for a binary attribute, the attribute present).
fn focus(a: &AttributeAudit) -> usize {
    if a.classes.len() == 2 {
        return 1;
    }
    let dev = |k: usize| (a.classes[k].share - a.classes[k].target).abs();
    (0..a.classes.len())
        .reduce(|best, k| if dev(k) > dev(best) { k } else { best })
        .unwrap_or(0)
}

fn deviation(i: usize, a: &AttributeAudit, k: usize) -> String {
    let c = &a.classes[k];
    num(
        &format!("attributes.{i}.classes.{k}.share - attributes.{i}.classes.{k}.target"),
        c.share - c.target,
        Unit::Points { signed: true },
    )
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

/// "read warm" / "do not read warm" for a binary attribute's classes, else
/// "fall in “name”".
fn reads(attribute: &str, class: &str) -> String {
    match class.strip_prefix(attribute) {
        Some("+") => format!("read {}", esc(attribute)),
        Some("-") => format!("do not read {}", esc(attribute)),
        _ => format!("fall in “{}”", esc(class)),
    }
}

fn lede(i: usize, a: &AttributeAudit, report: &AuditReport) -> String {
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
    format!(
        "<p class=\"lede\">{} of frames {} against a {} target ({} points, {} interval {} to {}); {next}.</p>\n",
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
fn verdict_text(path: &str, v: &Verdict, effective: bool) -> String {
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
    h.push_str(&plot(a, report.config.level, report.config.delta));
    h.push_str("</figure>\n");
    class_table(h, i, a);
    if let Some(b) = &a.bootstrap {
        sequence(h, i, a, b);
    }
    metrics(h, i, a);
    h.push_str("</section>\n");
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

fn sequence(h: &mut String, i: usize, a: &AttributeAudit, b: &super::intervals::BlockBootstrap) {
    let (kind, len, key) = match b.blocks {
        Blocks::Moving(l) => ("overlapping", l, "moving"),
        Blocks::Fixed(l) => ("consecutive, non-overlapping", l, "fixed"),
    };
    let _ = write!(
        h,
        "<h3>Sequence</h3><p>These frames were audited as a sequence: neighbouring frames look alike, so together they \
carry less evidence than as many separate pictures. A block bootstrap ({kind} blocks of {} frames, {} resamples) \
puts the effective number of frames at {} of {}; the intervals above and the G-test use that number.</p>\n\
<table class=\"sequence\"><thead><tr><th>class</th><th>bootstrap interval</th><th>effective frames</th></tr></thead><tbody>\n",
        num(
            &format!("attributes.{i}.bootstrap.blocks.{key}"),
            len as f64,
            Unit::Count
        ),
        num(
            &format!("attributes.{i}.bootstrap.resamples"),
            b.resamples as f64,
            Unit::Count
        ),
        num(
            &format!("attributes.{i}.n_effective"),
            a.n_effective,
            Unit::Count
        ),
        num(&format!("attributes.{i}.n"), a.n as f64, Unit::Count)
    );
    for (k, (iv, n)) in b.intervals.iter().zip(&b.n_eff).enumerate() {
        let base = format!("attributes.{i}.bootstrap");
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{} – {}</td><td>{}</td></tr>",
            esc(&a.classes[k].name),
            num(&format!("{base}.intervals.{k}.lo"), iv.lo, SHARE),
            num(&format!("{base}.intervals.{k}.hi"), iv.hi, SHARE),
            num(&format!("{base}.n_eff.{k}"), *n, Unit::Count)
        );
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

fn transfer(h: &mut String, report: &AuditReport) {
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

fn directional(h: &mut String, report: &AuditReport) {
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
</dl></section>",
        num("config.level", report.config.level, LEVEL),
        num(
            "config.delta",
            report.config.delta,
            Unit::Points { signed: false }
        )
    );
}

/// Whether the corrected shares differ visibly (at the plot's 0.1-point
/// resolution) from the observed ones.
fn corrected_differs(a: &AttributeAudit) -> bool {
    let far = |x: f64, y: f64| (x - y).abs() >= 5e-4;
    a.classes
        .iter()
        .any(|c| match (c.corrected, c.corrected_interval) {
            (Some(p), Some(iv)) => {
                far(p, c.share) || far(iv.lo, c.interval.lo) || far(iv.hi, c.interval.hi)
            }
            _ => false,
        })
}

/// Gridline spacing and the axis end: at most six gridlines over the data.
fn axis(top: f64) -> (f64, f64) {
    let raw = (top * 1.05).clamp(0.01, 1.0);
    let step = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25]
        .into_iter()
        .find(|s| raw / s <= 5.0)
        .unwrap_or(0.25);
    (step, ((raw / step).ceil() * step).min(1.0))
}

/// Estimated width of `text` at `size` px.
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * CHAR_EM
}

/// The disparity plot of one attribute: per class the observed share with its
/// interval, the target with its tolerance band, the training reference and,
/// where it differs, the corrected share. The legend sits below the plot.
fn plot(a: &AttributeAudit, level: f64, delta: f64) -> String {
    let show_corrected = corrected_differs(a);
    let has_reference = a.classes.iter().any(|c| c.reference.is_some());
    let top = a
        .classes
        .iter()
        .flat_map(|c| {
            [
                Some(c.interval.hi),
                Some((c.target + delta).min(1.0)),
                c.reference,
                c.corrected_interval
                    .filter(|_| show_corrected)
                    .map(|i| i.hi),
            ]
        })
        .flatten()
        .fold(0.0, f64::max);
    let (step, xmax) = axis(top);
    let label_w = a
        .classes
        .iter()
        .map(|c| text_width(&c.name, FONT))
        .fold(0.0, f64::max)
        .clamp(30.0, 220.0);
    let left = 12.0 + label_w + 14.0;
    let right = PLOT_W - 20.0;
    let bottom = PLOT_TOP + ROW_H * a.classes.len() as f64;
    let x = |v: f64| left + v.clamp(0.0, xmax) / xmax * (right - left);
    let mut s = String::with_capacity(8 * 1024);
    // Legend rows are laid out first: the height depends on how they wrap.
    let mut items: Vec<(&str, String)> = vec![
        (
            "observed",
            format!("observed ± CI ({:.0} %)", 100.0 * level),
        ),
        ("target", "target".into()),
        (
            "band",
            format!("target ± {:.1} points (balanced)", 100.0 * delta),
        ),
    ];
    if has_reference {
        items.push(("reference", "training reference".into()));
    }
    if show_corrected {
        items.push(("corrected", "corrected for classifier error".into()));
    }
    let legend_top = bottom + 46.0;
    let mut placed = Vec::with_capacity(items.len());
    let (mut lx, mut ly) = (12.0, legend_top + 10.0);
    for (kind, text) in items {
        let w = 22.0 + text_width(&text, FONT);
        if lx + w > PLOT_W - 12.0 && lx > 12.0 {
            lx = 12.0;
            ly += 22.0;
        }
        placed.push((kind, text, lx, ly));
        lx += w + 18.0;
    }
    let height = ly + 16.0;
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {PLOT_W} {height}\" width=\"100%\" role=\"img\" aria-label=\"{}: observed share per class against the target\" \
font-family=\"sans-serif\" font-size=\"{FONT}\">",
        esc(&a.name)
    );
    let _ = write!(
        s,
        "<text class=\"label\" x=\"12\" y=\"20\" font-size=\"14\" font-weight=\"600\">{}: share of frames per class</text>",
        esc(&a.name)
    );
    let mut t = 0.0;
    while t <= xmax + 1e-9 {
        let gx = x(t);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{gx:.1}\" y1=\"{PLOT_TOP}\" x2=\"{gx:.1}\" y2=\"{bottom}\" stroke=\"#e1e4e8\"/>\
<text class=\"label\" x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{:.0} %</text>",
            bottom + 16.0,
            100.0 * t
        );
        t += step;
    }
    let _ = write!(
        s,
        "<rect class=\"frame\" x=\"{left:.1}\" y=\"{PLOT_TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#8c959f\"/>\
<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">share of frames (%)</text>",
        right - left,
        bottom - PLOT_TOP,
        0.5 * (left + right),
        bottom + 34.0
    );
    for (k, c) in a.classes.iter().enumerate() {
        let yc = PLOT_TOP + ROW_H * (k as f64 + 0.5);
        let _ = write!(
            s,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 14.0,
            yc + 4.0,
            esc(&c.name)
        );
        let (b0, b1) = (x(c.target - delta), x(c.target + delta));
        let _ = write!(
            s,
            "<rect class=\"mark band\" x=\"{b0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"28\" fill=\"{TARGET}\" fill-opacity=\"0.14\"/>\
<line class=\"mark target\" x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"{TARGET}\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
            yc - 14.0,
            b1 - b0,
            yc - 14.0,
            yc + 14.0,
            tx = x(c.target)
        );
        if let Some(r) = c.reference {
            s.push_str(&diamond(x(r), yc - 9.0, "mark reference"));
        }
        s.push_str(&whisker(
            x(c.interval.lo),
            x(c.interval.hi),
            yc,
            OBSERVED,
            "mark observed",
        ));
        let _ = write!(
            s,
            "<circle class=\"mark observed\" cx=\"{:.1}\" cy=\"{yc:.1}\" r=\"5\" fill=\"{OBSERVED}\"/>",
            x(c.share)
        );
        if let (true, Some(p), Some(iv)) = (show_corrected, c.corrected, c.corrected_interval) {
            s.push_str(&whisker(
                x(iv.lo),
                x(iv.hi),
                yc + 9.0,
                CORRECTED,
                "mark corrected",
            ));
            s.push_str(&square(x(p), yc + 9.0, "mark corrected"));
        }
    }
    s.push_str("<g class=\"legend\">");
    for (kind, text, lx, ly) in placed {
        let cx = lx + 8.0;
        match kind {
            "observed" => {
                s.push_str(&whisker(lx, lx + 16.0, ly, OBSERVED, "swatch"));
                let _ = write!(
                    s,
                    "<circle cx=\"{cx:.1}\" cy=\"{ly:.1}\" r=\"5\" fill=\"{OBSERVED}\"/>"
                );
            }
            "target" => {
                let _ = write!(
                    s,
                    "<line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"{TARGET}\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
                    ly - 8.0,
                    ly + 8.0
                );
            }
            "band" => {
                let _ = write!(
                    s,
                    "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"16\" height=\"14\" fill=\"{TARGET}\" fill-opacity=\"0.14\"/>",
                    ly - 7.0
                );
            }
            "reference" => s.push_str(&diamond(cx, ly, "swatch")),
            _ => s.push_str(&square(cx, ly, "swatch")),
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            lx + 22.0,
            ly + 4.0,
            esc(&text)
        );
    }
    s.push_str("</g></svg>");
    s
}

fn whisker(x0: f64, x1: f64, y: f64, colour: &str, class: &str) -> String {
    format!(
        "<path class=\"{class}\" d=\"M{x0:.1} {:.1}V{:.1}M{x0:.1} {y:.1}H{x1:.1}M{x1:.1} {:.1}V{:.1}\" stroke=\"{colour}\" stroke-width=\"1.5\" fill=\"none\"/>",
        y - 4.0,
        y + 4.0,
        y - 4.0,
        y + 4.0
    )
}

fn diamond(cx: f64, cy: f64, class: &str) -> String {
    format!(
        "<polygon class=\"{class}\" points=\"{cx:.1},{:.1} {:.1},{cy:.1} {cx:.1},{:.1} {:.1},{cy:.1}\" fill=\"#fff\" stroke=\"{REFERENCE}\" stroke-width=\"1.5\"/>",
        cy - 5.0,
        cx + 5.0,
        cy + 5.0,
        cx - 5.0
    )
}

fn square(cx: f64, cy: f64, class: &str) -> String {
    format!(
        "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"8\" fill=\"{CORRECTED}\"/>",
        cx - 4.0,
        cy - 4.0
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_have_a_handful_of_gridlines_covering_the_data() {
        for top in [0.003, 0.04, 0.12, 0.37, 0.5, 0.62, 0.97, 1.0] {
            let (step, end) = axis(top);
            let lines = (end / step).round() as usize + 1;
            assert!((2..=6).contains(&lines), "top {top}: {lines} gridlines");
            assert!(
                end >= top.min(1.0) && end <= 1.0,
                "top {top}: axis ends at {end}"
            );
        }
    }

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
