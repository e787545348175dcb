//! The sequence section of an attribute: the block bootstrap in words, whether
//! the share drifts along the frames (a sentence and the drift chart), and the
//! bootstrap's figures per class and per block.

use std::fmt::Write as _;

use super::super::audit::{AttributeAudit, AuditReport};
use super::super::intervals::{BlockBootstrap, BlockShares, Blocks, SequenceBlock};
use super::svg::{drift_plot, DriftChart};
use super::text::{esc, num, p_text, reads, Unit, LEVEL, SHARE};

pub(super) fn sequence(
    h: &mut String,
    report: &AuditReport,
    i: usize,
    a: &AttributeAudit,
    b: &BlockBootstrap,
) {
    let (kind, len, key) = match b.blocks {
        Blocks::Moving(l) => ("overlapping", l, "moving"),
        Blocks::Fixed(l) => ("consecutive, non-overlapping", l, "fixed"),
    };
    let base = format!("attributes.{i}.bootstrap");
    let _ = writeln!(
        h,
        "<h3 id=\"sequence-{i}\">Sequence</h3><p>These frames were audited as a sequence: neighbouring frames look alike, so together they \
carry less evidence than as many separate pictures. A block bootstrap ({kind} blocks of {} frames, {} resamples) \
puts the effective number of frames at {} of {}; the intervals above and the G-test use that number.</p>",
        num(&format!("{base}.blocks.{key}"), len as f64, Unit::Count),
        num(
            &format!("{base}.resamples"),
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
    match &b.block_shares {
        Some(s) => drift(h, report, i, a, b, s),
        None => h.push_str(
            "<p class=\"drift\">The sequence is shorter than two bootstrap blocks: too short to see whether the share drifts.</p>\n",
        ),
    }
    h.push_str("<table class=\"sequence\"><thead><tr><th>class</th><th>bootstrap interval</th><th>effective frames</th>");
    if b.block_shares.is_some() {
        h.push_str("<th>blocks outside the interval</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for (k, (iv, n)) in b.intervals.iter().zip(&b.n_eff).enumerate() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{} – {}</td><td>{}</td>",
            esc(&a.classes[k].name),
            num(&format!("{base}.intervals.{k}.lo"), iv.lo, SHARE),
            num(&format!("{base}.intervals.{k}.hi"), iv.hi, SHARE),
            num(&format!("{base}.n_eff.{k}"), *n, Unit::Count)
        );
        if let Some(s) = &b.block_shares {
            let _ = write!(
                h,
                "<td>{}</td>",
                num(
                    &format!("{base}.block_shares.outside.{k}"),
                    s.outside[k] as f64,
                    Unit::Count
                )
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    if let Some(s) = &b.block_shares {
        block_table(h, i, a, s);
    }
}

/// The class the drift chart follows: for a binary attribute the attribute
/// present, otherwise the class whose share moves most between blocks.
fn drift_class(a: &AttributeAudit, s: &BlockShares) -> usize {
    if a.classes.len() == 2 {
        return 1;
    }
    let spread = |k: usize| {
        let (lo, hi) = s
            .blocks
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), b| {
                (lo.min(b.shares[k]), hi.max(b.shares[k]))
            });
        hi - lo
    };
    (0..a.classes.len())
        .reduce(|best, k| if spread(k) > spread(best) { k } else { best })
        .unwrap_or(0)
}

/// The drift sentence and chart: the first and last blocks' shares, how many
/// blocks lie outside the whole sequence's interval, and whether the blocks
/// differ by more than chance (the block-shares G-test at α).
fn drift(
    h: &mut String,
    report: &AuditReport,
    i: usize,
    a: &AttributeAudit,
    b: &BlockBootstrap,
    s: &BlockShares,
) {
    let k = drift_class(a, s);
    let base = format!("attributes.{i}.bootstrap.block_shares");
    let end = s.blocks.len() - 1;
    let block = |j: usize| {
        let blk = &s.blocks[j];
        format!(
            "{} (frames {})",
            num(
                &format!("{base}.blocks.{j}.shares.{k}"),
                blk.shares[k],
                SHARE
            ),
            frames(&base, j, blk)
        )
    };
    let band = format!(
        "the band of the whole sequence's {} bootstrap interval",
        num("config.level", report.config.level, LEVEL)
    );
    let outside = s.outside[k];
    let count = num(&format!("{base}.outside.{k}"), outside as f64, Unit::Count);
    let placed = match outside {
        0 => format!("every block lies inside {band}"),
        1 => format!("{count} block lies outside {band}"),
        _ => format!("{count} blocks lie outside {band}"),
    };
    let test = format!(
        "G-test of equal shares in every block at the effective number of frames: {}",
        p_text(&format!("{base}.p_value"), s.p_value)
    );
    let alpha = num("config.alpha", report.config.alpha, Unit::P);
    let conclusion = if s.p_value < report.config.alpha {
        format!(
            "The share drifts across the sequence: the blocks differ by more than chance ({test})."
        )
    } else if outside > 0 {
        format!(
            "No drift at the audit's level (α = {alpha}): a block holds fewer frames than the whole sequence, \
so its share scatters beyond that band, and these blocks differ no more than chance allows at that level ({test})."
        )
    } else {
        format!("No drift at the audit's level (α = {alpha}): the blocks differ no more than chance ({test}).")
    };
    let _ = writeln!(
        h,
        "<p class=\"drift\">Along the sequence, the share of frames that {} goes from {} to {}; {placed}. {conclusion}</p>",
        reads(&a.name, &a.classes[k].name),
        block(0),
        block(end)
    );
    let chart = DriftChart {
        attribute: &a.name,
        class: &a.classes[k].name,
        n: a.n,
        blocks: s
            .blocks
            .iter()
            .map(|blk| (blk.first, blk.last, blk.shares[k]))
            .collect(),
        band: b.intervals[k],
        target: a.classes[k].target,
        level: report.config.level,
        json: base,
        k,
    };
    let _ = writeln!(h, "<figure>{}</figure>", drift_plot(&chart));
}

/// Every block's frames and class shares, folded away.
fn block_table(h: &mut String, i: usize, a: &AttributeAudit, s: &BlockShares) {
    let base = format!("attributes.{i}.bootstrap.block_shares");
    h.push_str("<details><summary>Shares by block</summary><table class=\"blocks\"><thead><tr><th>frames</th>");
    for c in &a.classes {
        let _ = write!(h, "<th>{}</th>", esc(&c.name));
    }
    h.push_str("</tr></thead><tbody>\n");
    for (j, blk) in s.blocks.iter().enumerate() {
        let _ = write!(h, "<tr><td>{}</td>", frames(&base, j, blk));
        for (k, share) in blk.shares.iter().enumerate() {
            let _ = write!(
                h,
                "<td>{}</td>",
                num(&format!("{base}.blocks.{j}.shares.{k}"), *share, SHARE)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></details>\n");
}

/// "first–last": the frames of block `j`, each tagged with its JSON path.
fn frames(base: &str, j: usize, blk: &SequenceBlock) -> String {
    let at = |what: &str, x: u64| num(&format!("{base}.blocks.{j}.{what}"), x as f64, Unit::Count);
    format!("{}–{}", at("first", blk.first), at("last", blk.last))
}
