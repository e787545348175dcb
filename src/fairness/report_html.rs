//! The Bias Audit as one self-contained HTML page: per attribute a table and
//! an inline SVG bar chart (drawn with plotters' SVG backend) of the training
//! reference, the observed share with its simultaneous interval, the
//! confusion-corrected share and the target, per class. No scripts, no external
//! files: the page can be attached to a review or a ticket as is.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::audit::{AttributeAudit, AuditReport};
use crate::error::{Error, Result};

const REFERENCE: RGBColor = RGBColor(150, 150, 150);
const OBSERVED: RGBColor = RGBColor(47, 108, 176);
const CORRECTED: RGBColor = RGBColor(230, 140, 30);
const TARGET: RGBColor = RGBColor(60, 160, 80);

/// Renders the report as HTML.
pub fn render(report: &AuditReport) -> Result<String> {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>equifx bias audit</title>\
<style>body{font-family:sans-serif;margin:2em;max-width:980px}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}td:first-child{text-align:left}\
.verdict{font-weight:bold}</style></head><body>\n<h1>Bias audit</h1>\n",
    );
    let _ = writeln!(
        h,
        "<p>Intervals: simultaneous Wilson at {:.0} %; imbalance test: G-test at α = {}; balanced means every interval within ±{} of the target.</p>",
        report.config.level * 100.0,
        report.config.alpha,
        report.config.delta
    );
    for a in &report.attributes {
        let _ = writeln!(h, "<h2>{}</h2>", esc(&a.name));
        let _ = writeln!(
            h,
            "<p class=\"verdict\">{}</p>{}",
            esc(&a.verdict.message()),
            a.corrected_verdict
                .as_ref()
                .map_or(String::new(), |v| format!(
                    "<p>Corrected for classifier error: {}</p>",
                    esc(&v.message())
                ))
        );
        let _ = writeln!(
            h,
            "<p>N = {} (effective {:.0}); FD = {:.4}, KL(p̂‖π) = {:.4} nats, TV = {:.4}, max-dev = {:.4}, G = {:.2} (p = {:.2e}), parity ratio = {:.3}{}</p>",
            a.n,
            a.n_effective,
            a.distance.fd,
            a.distance.kl,
            a.distance.tv,
            a.distance.max_dev,
            a.distance.g,
            a.distance.g_p_value,
            a.distance.parity_ratio,
            a.amplification.as_ref().map_or(String::new(), |b| format!(
                "; bias amplification (Zhao) = {:+.4} [{:+.4}, {:+.4}]",
                b.value, b.interval.lo, b.interval.hi
            ))
        );
        h.push_str(&chart(a)?);
        h.push_str("<table><tr><th>class</th><th>count</th><th>observed</th><th>interval</th><th>target</th><th>reference</th><th>corrected</th></tr>\n");
        let opt = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.4}"));
        for c in &a.classes {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>[{:.4}, {:.4}]</td><td>{:.4}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                c.count,
                c.share,
                c.interval.lo,
                c.interval.hi,
                c.target,
                opt(c.reference),
                opt(c.corrected)
            );
        }
        h.push_str("</table>\n");
    }
    for (name, m) in &report.paired {
        let _ = writeln!(
            h,
            "<h2>Paired drift: {}</h2><p>drift = {:+.4} [{:+.4}, {:+.4}], b = {}, c = {}, McNemar p = {:.2e}{}</p>",
            esc(name),
            m.drift,
            m.interval.lo,
            m.interval.hi,
            m.b,
            m.c,
            m.p_value,
            if m.exact { " (exact)" } else { "" }
        );
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

fn chart(a: &AttributeAudit) -> Result<String> {
    let k = a.classes.len();
    let top = a
        .classes
        .iter()
        .flat_map(|c| {
            [
                Some(c.interval.hi),
                Some(c.target),
                c.reference,
                c.corrected_interval.map(|i| i.hi),
            ]
        })
        .flatten()
        .fold(0.0, f64::max);
    let ymax = (top * 1.15).clamp(0.05, 1.0);
    let mut svg = String::new();
    let width = (160 * k as u32).clamp(420, 960);
    draw(&mut svg, a, ymax, width)
        .map_err(|e| Error::Internal(format!("drawing the audit chart: {e}")))?;
    Ok(format!("<div>{svg}</div>\n"))
}

fn draw(
    svg: &mut String,
    a: &AttributeAudit,
    ymax: f64,
    width: u32,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let k = a.classes.len();
    let root = SVGBackend::with_string(svg, (width, 320)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut ch = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..k as f64, 0f64..ymax)?;
    ch.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("share")
        .draw()?;
    let bar = |c: usize, slot: usize| {
        (
            c as f64 + 0.1 + 0.2 * slot as f64,
            c as f64 + 0.28 + 0.2 * slot as f64,
        )
    };
    let series: [(&str, RGBColor, usize); 4] = [
        ("reference", REFERENCE, 0),
        ("observed ± CI", OBSERVED, 1),
        ("corrected", CORRECTED, 2),
        ("target", TARGET, 3),
    ];
    for (label, colour, slot) in series {
        let values: Vec<(usize, f64)> = a
            .classes
            .iter()
            .enumerate()
            .filter_map(|(c, row)| {
                let v = match slot {
                    0 => row.reference,
                    1 => Some(row.share),
                    2 => row.corrected,
                    _ => Some(row.target),
                };
                v.map(|v| (c, v))
            })
            .collect();
        if values.is_empty() {
            continue;
        }
        ch.draw_series(values.iter().map(|&(c, v)| {
            let (x0, x1) = bar(c, slot);
            Rectangle::new([(x0, 0.0), (x1, v)], colour.filled())
        }))?
        .label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    for (c, row) in a.classes.iter().enumerate() {
        let mut whiskers = vec![(bar(c, 1), row.interval)];
        if let Some(iv) = row.corrected_interval {
            whiskers.push((bar(c, 2), iv));
        }
        for ((x0, x1), iv) in whiskers {
            let xm = 0.5 * (x0 + x1);
            ch.draw_series(std::iter::once(PathElement::new(
                vec![(xm, iv.lo), (xm, iv.hi)],
                BLACK.stroke_width(2),
            )))?;
            ch.draw_series(std::iter::once(PathElement::new(
                vec![(x0, iv.lo), (x1, iv.lo)],
                BLACK,
            )))?;
            ch.draw_series(std::iter::once(PathElement::new(
                vec![(x0, iv.hi), (x1, iv.hi)],
                BLACK,
            )))?;
        }
        let (px, py) = ch.backend_coord(&(c as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            row.name.clone(),
            (px - 4 * row.name.chars().count() as i32, py + 8),
            ("sans-serif", 13).into_font(),
        ))?;
    }
    ch.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
