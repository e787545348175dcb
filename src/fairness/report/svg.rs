//! The report's inline SVG charts and their geometry: plots in a fixed
//! coordinate system that scales with the page, legends laid out below the
//! data, and the text-width estimate that keeps labels clear of the marks.

use std::fmt::Write as _;

use super::super::audit::AttributeAudit;
use super::super::intervals::Interval;
use super::text::esc;

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
pub(super) fn plot(a: &AttributeAudit, level: f64, delta: f64) -> String {
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
    // The legend is laid out first: the height depends on how it wraps.
    let mut items = vec![
        (
            Swatch::Observed,
            format!("observed ± CI ({:.0} %)", 100.0 * level),
        ),
        (Swatch::Target, "target".into()),
        (
            Swatch::Band(TARGET),
            format!("target ± {:.1} points (balanced)", 100.0 * delta),
        ),
    ];
    if has_reference {
        items.push((Swatch::Reference, "training reference".into()));
    }
    if show_corrected {
        items.push((Swatch::Corrected, "corrected for classifier error".into()));
    }
    let (legend, height) = legend(&items, bottom + 46.0);
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
    s.push_str(&legend);
    s.push_str("</svg>");
    s
}

/// A legend entry's symbol.
#[derive(Clone, Copy)]
enum Swatch {
    Observed,
    /// The target as a vertical dashed line (the disparity plot's).
    Target,
    /// The target as a horizontal dashed line (the drift chart's).
    TargetAcross,
    /// A shaded band in this colour.
    Band(&'static str),
    Reference,
    Corrected,
    /// A block's share: a dot on a segment.
    Block,
}

/// The legend as a `<g class="legend">` wrapped into rows across the plot's
/// width from `top` down, and the SVG height that holds it.
fn legend(items: &[(Swatch, String)], top: f64) -> (String, f64) {
    let mut s = String::from("<g class=\"legend\">");
    let (mut lx, mut ly) = (12.0, top + 10.0);
    for (swatch, text) in items {
        let w = 22.0 + text_width(text, FONT);
        if lx + w > PLOT_W - 12.0 && lx > 12.0 {
            lx = 12.0;
            ly += 22.0;
        }
        let cx = lx + 8.0;
        match *swatch {
            Swatch::Observed => {
                s.push_str(&whisker(lx, lx + 16.0, ly, OBSERVED, "swatch"));
                let _ = write!(
                    s,
                    "<circle cx=\"{cx:.1}\" cy=\"{ly:.1}\" r=\"5\" fill=\"{OBSERVED}\"/>"
                );
            }
            Swatch::Target => {
                let _ = write!(
                    s,
                    "<line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"{TARGET}\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
                    ly - 8.0,
                    ly + 8.0
                );
            }
            Swatch::TargetAcross => {
                let _ = write!(
                    s,
                    "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{TARGET}\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
                    lx + 16.0
                );
            }
            Swatch::Band(colour) => {
                let _ = write!(
                    s,
                    "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"16\" height=\"14\" fill=\"{colour}\" fill-opacity=\"0.14\"/>",
                    ly - 7.0
                );
            }
            Swatch::Reference => s.push_str(&diamond(cx, ly, "swatch")),
            Swatch::Corrected => s.push_str(&square(cx, ly, "swatch")),
            Swatch::Block => {
                let _ = write!(
                    s,
                    "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{OBSERVED}\" stroke-width=\"2\"/>\
<circle cx=\"{cx:.1}\" cy=\"{ly:.1}\" r=\"4\" fill=\"{OBSERVED}\"/>",
                    lx + 16.0
                );
            }
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            lx + 22.0,
            ly + 4.0,
            esc(text)
        );
        lx += w + 18.0;
    }
    s.push_str("</g>");
    (s, ly + 16.0)
}

/// Height of the drift chart's plot area.
const DRIFT_H: f64 = 180.0;

/// Tick spacing of a frame axis over `0..=n`: 1, 2 or 5 times a power of ten,
/// at most six ticks.
fn frame_step(n: u64) -> u64 {
    let raw = (n as f64 / 5.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw - 1e-9)
        .unwrap_or(10.0 * mag)
        .round() as u64
}

/// What the drift chart shows: one class of a sequence audit.
pub(super) struct DriftChart<'a> {
    pub attribute: &'a str,
    pub class: &'a str,
    /// Frames in the sequence.
    pub n: u64,
    /// Per block: first frame, last frame, the class's share.
    pub blocks: Vec<(u64, u64, f64)>,
    /// The class's whole-sequence bootstrap interval.
    pub band: Interval,
    pub target: f64,
    pub level: f64,
    /// JSON path of the block shares and the class's index in them, for the
    /// dots' `data-json`.
    pub json: String,
    pub k: usize,
}

/// The share of one class in consecutive blocks of a sequence: a dot on a
/// segment spanning each block's frames, the whole sequence's bootstrap
/// interval as a band, and the target dashed; the legend sits below the plot.
pub(super) fn drift_plot(c: &DriftChart) -> String {
    let top = c
        .blocks
        .iter()
        .map(|b| b.2)
        .chain([c.band.hi, c.target])
        .fold(0.0, f64::max);
    let (step, ymax) = axis(top);
    let left = 12.0 + text_width("100 %", 11.0) + 12.0;
    let right = PLOT_W - 20.0;
    let bottom = PLOT_TOP + DRIFT_H;
    let n = c.n.max(1) as f64;
    let x = |frame: f64| left + frame.clamp(0.0, n) / n * (right - left);
    let y = |v: f64| bottom - v.clamp(0.0, ymax) / ymax * DRIFT_H;
    let items = [
        (Swatch::Block, format!("share of {} in a block", c.class)),
        (
            Swatch::Band(OBSERVED),
            format!(
                "whole sequence: {:.0} % bootstrap interval",
                100.0 * c.level
            ),
        ),
        (Swatch::TargetAcross, "target".into()),
    ];
    let (legend, height) = legend(&items, bottom + 46.0);
    let mut s = String::with_capacity(8 * 1024);
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {PLOT_W} {height}\" width=\"100%\" role=\"img\" aria-label=\"{0}: share of {1} per block of frames against the whole sequence's interval\" \
font-family=\"sans-serif\" font-size=\"{FONT}\">\
<text class=\"label\" x=\"12\" y=\"20\" font-size=\"14\" font-weight=\"600\">{0}: share of {1}, block by block</text>",
        esc(c.attribute),
        esc(c.class)
    );
    let mut t = 0.0;
    while t <= ymax + 1e-9 {
        let gy = y(t);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{left:.1}\" y1=\"{gy:.1}\" x2=\"{right:.1}\" y2=\"{gy:.1}\" stroke=\"#e1e4e8\"/>\
<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{:.0} %</text>",
            left - 8.0,
            gy + 4.0,
            100.0 * t
        );
        t += step;
    }
    let fstep = frame_step(c.n);
    for f in (0..=c.n).step_by(fstep as usize) {
        let tx = x(f as f64);
        let _ = write!(
            s,
            "<line class=\"tick\" x1=\"{tx:.1}\" y1=\"{bottom}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#8c959f\"/>\
<text class=\"label\" x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{f}</text>",
            bottom + 4.0,
            bottom + 18.0
        );
    }
    let _ = write!(
        s,
        "<rect class=\"frame\" x=\"{left:.1}\" y=\"{PLOT_TOP}\" width=\"{:.1}\" height=\"{DRIFT_H}\" fill=\"none\" stroke=\"#8c959f\"/>\
<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">frame (position in the sequence, from 0)</text>\
<rect class=\"mark band\" x=\"{left:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{OBSERVED}\" fill-opacity=\"0.14\"/>\
<line class=\"mark target\" x1=\"{left:.1}\" y1=\"{ty:.1}\" x2=\"{right:.1}\" y2=\"{ty:.1}\" stroke=\"{TARGET}\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
        right - left,
        0.5 * (left + right),
        bottom + 36.0,
        y(c.band.hi),
        right - left,
        y(c.band.lo) - y(c.band.hi),
        ty = y(c.target)
    );
    for (j, &(first, last, share)) in c.blocks.iter().enumerate() {
        let (x0, x1, by) = (x(first as f64), x((last + 1) as f64), y(share));
        let _ = write!(
            s,
            "<line class=\"mark block\" x1=\"{x0:.1}\" y1=\"{by:.1}\" x2=\"{x1:.1}\" y2=\"{by:.1}\" stroke=\"{OBSERVED}\" stroke-width=\"2\"/>\
<circle class=\"mark block\" data-json=\"{json}.blocks.{j}.shares.{k}\" cx=\"{:.1}\" cy=\"{by:.1}\" r=\"4\" fill=\"{OBSERVED}\"/>",
            0.5 * (x0 + x1),
            json = c.json,
            k = c.k
        );
    }
    s.push_str(&legend);
    s.push_str("</svg>");
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
    fn frame_axes_have_a_handful_of_round_ticks() {
        for n in [1, 7, 60, 400, 2400, 99_999] {
            let step = frame_step(n);
            let ticks = n / step + 1;
            assert!((2..=6).contains(&ticks), "{n} frames: {ticks} ticks");
            let lead = step / 10u64.pow(step.ilog10());
            assert!([1, 2, 5].contains(&lead), "{n} frames: step {step}");
        }
    }
}
