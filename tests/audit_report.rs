//! The Bias Audit report as a reader meets it: the numbers in the HTML agree
//! with the JSON and CSV, the chart's legend and labels stay clear of the data,
//! p-values are honest about underflow, and the page is small and self-contained.

use std::process::Command;

use equifx::fairness::audit::{format_p, AuditReport, BootstrapConfig};
use equifx::fairness::intervals::{self, Blocks, ConfusionCounts};
use equifx::fairness::report::{render, text_width, CHAR_EM};
use equifx::fairness::report::{round_sig, CSV_COLUMNS};
use equifx::fairness::{
    audit, audit_attribute, AttributeInput, AuditConfig, FrameMeta, Sidecar, Verdict,
};
use equifx::rng::StreamRng;
use serde_json::Value;

/// `n` labels of a binary attribute present with probability `p`.
fn bernoulli(seed: u64, n: usize, p: f64) -> Vec<usize> {
    let mut r = StreamRng::new(seed, b"audit-report-test", 0);
    (0..n).map(|_| usize::from(r.uniform() < p)).collect()
}

/// A 90 %-accurate head's confusion (`counts[truth][predicted]`).
fn confusion() -> ConfusionCounts {
    ConfusionCounts {
        counts: vec![vec![950, 50], vec![100, 900]],
    }
}

fn binary(name: &str, n: usize, p: f64, seed: u64) -> AttributeInput {
    AttributeInput {
        name: name.into(),
        classes: vec![format!("{name}-"), format!("{name}+")],
        labels: bernoulli(seed, n, p),
        target: vec![0.5, 0.5],
        reference: Some(vec![330, 670]),
        confusion: Some(confusion()),
    }
}

fn warm(n: usize, p: f64, seed: u64) -> AttributeInput {
    binary("warm", n, p, seed)
}

/// Two attributes: an imbalanced one with reference and confusion, and a
/// plain one near its target.
fn two_attributes() -> AuditReport {
    let round = AttributeInput {
        reference: None,
        confusion: None,
        ..binary("round", 400, 0.5, 2)
    };
    audit(&[warm(400, 0.62, 1), round], &AuditConfig::default()).expect("audit")
}

#[test]
fn corrected_p_value_is_its_g_test_p_value() {
    for (n, p) in [(400, 0.62), (1000, 0.6), (3000, 0.7)] {
        let a = audit_attribute(&warm(n, p, n as u64), &AuditConfig::default()).expect("audit");
        let g = a.corrected_distance.as_ref().expect("corrected distance");
        match a.corrected_verdict.as_ref().expect("corrected verdict") {
            Verdict::Imbalanced { p_value } => assert_eq!(
                *p_value, g.g_p_value,
                "N {n}: the corrected verdict's p differs from the corrected G-test's"
            ),
            v => panic!("N {n}, share {p}: expected the corrected audit to flag, got {v:?}"),
        }
    }
}

#[test]
fn sequence_verdicts_use_the_g_test_at_the_effective_size() {
    // Each label repeated 8 times: the bootstrap's effective N is far below N.
    let labels: Vec<usize> = bernoulli(7, 300, 0.65)
        .into_iter()
        .flat_map(|l| std::iter::repeat_n(l, 8))
        .collect();
    let config = AuditConfig {
        bootstrap: Some(BootstrapConfig {
            blocks: Blocks::Fixed(8),
            resamples: 500,
            seed: 1,
        }),
        ..AuditConfig::default()
    };
    let a = audit_attribute(
        &AttributeInput {
            labels,
            ..warm(0, 0.5, 0)
        },
        &config,
    )
    .expect("audit");
    let n = a.n as f64;
    assert!(a.n_effective < 0.5 * n, "N_eff {} of {n}", a.n_effective);
    let at_eff = |g: f64| equifx::fairness::normal::chi2_sf(g * a.n_effective / n, 1.0);
    for (v, d) in [
        (Some(&a.verdict), Some(&a.distance)),
        (a.corrected_verdict.as_ref(), a.corrected_distance.as_ref()),
    ] {
        if let (Some(Verdict::Imbalanced { p_value }), Some(d)) = (v, d) {
            assert_eq!(*p_value, at_eff(d.g));
            assert!(
                *p_value > d.g_p_value,
                "fewer effective frames, weaker evidence"
            );
        }
    }
}

#[test]
fn an_underflowed_p_value_prints_as_a_bound() {
    // G = 1503.75 on one degree of freedom: p ≈ e^−752, below the range of f64.
    let p = equifx::fairness::normal::chi2_sf(1503.75, 1.0);
    assert_eq!(format_p(p), "p < 1e-300");
    assert_eq!(format_p(3.95e-14), "p = 3.95e-14");
    // An audit that far out: 2000 frames, 95 % in one class against 50 %.
    let a = audit_attribute(&warm(2000, 0.95, 3), &AuditConfig::default()).expect("audit");
    let Verdict::Imbalanced { p_value } = a.verdict else {
        panic!("{:?}", a.verdict)
    };
    assert!(p_value < 1e-300, "{p_value}");
    assert!(
        a.verdict.message().contains("p < 1e-300"),
        "{}",
        a.verdict.message()
    );
    let report = AuditReport {
        attributes: vec![a],
        ..audit(&[], &AuditConfig::default()).expect("empty audit")
    };
    let text = visible_text(&render(&report));
    assert!(text.contains("p < 1e-300"), "no bound in the page");
    assert!(!text.contains("0.00e0"), "a zero p-value is printed");
    // Negative control: a p-value inside the range prints as a number.
    let b = audit_attribute(&warm(400, 0.62, 1), &AuditConfig::default()).expect("audit");
    let Verdict::Imbalanced { p_value } = b.verdict else {
        panic!("{:?}", b.verdict)
    };
    assert!(p_value > 1e-300 && b.verdict.message().contains(&format!("p = {p_value:.2e}")));
}

/// The page's text as a reader sees it: tags removed, entities decoded.
fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Attributes of a start tag's text (`a="b" c="d"`).
fn attrs(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_string();
        let after = &rest[eq + 2..];
        let end = after.find('"').expect("closing quote");
        out.push((name, after[..end].to_string()));
        rest = &after[end + 1..];
    }
    out
}

fn attr<'a>(a: &'a [(String, String)], name: &str) -> Option<&'a str> {
    a.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Every `<span data-json=… data-unit=…>text</span>` of the page.
fn figures(html: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (i, _) in html.match_indices("<span data-json=") {
        let open_end = i + html[i..].find('>').expect("tag end");
        let a = attrs(&html[i..open_end]);
        let close = open_end + html[open_end..].find("</span>").expect("span end");
        out.push((
            attr(&a, "data-json").expect("path").to_string(),
            attr(&a, "data-unit").expect("unit").to_string(),
            unescape(&html[open_end + 1..close]),
        ));
    }
    out
}

fn json_at(json: &Value, path: &str) -> f64 {
    let v = path
        .split('.')
        .fold(json, |v, key| match key.parse::<usize>() {
            Ok(i) if v.is_array() => &v[i],
            _ => &v[key],
        });
    v.as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number in the JSON: {v}"))
}

/// A path, or the difference `A - B` of two.
fn resolve(json: &Value, expr: &str) -> f64 {
    match expr.split_once(" - ") {
        Some((a, b)) => json_at(json, a) - json_at(json, b),
        None => json_at(json, expr),
    }
}

/// Half a unit in the last shown decimal.
fn half_unit(text: &str) -> f64 {
    let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
    0.5 * 10f64.powi(-(decimals as i32))
}

/// Checks one shown figure against the JSON; `Err` says how it differs.
fn check_figure(json: &Value, path: &str, unit: &str, text: &str) -> Result<(), String> {
    let v = resolve(json, path);
    let bad = |shown: f64, want: f64| {
        Err(format!(
            "{path} ({unit}) shows {text:?} = {shown}, JSON {want}"
        ))
    };
    match unit {
        "percent" | "points" | "fixed" | "count" => {
            let t = text.trim_end_matches(" %");
            let shown: f64 = t
                .parse()
                .map_err(|_| format!("{path}: {text:?} is not a number"))?;
            let want = if unit == "percent" || unit == "points" {
                100.0 * v
            } else {
                v
            };
            if (shown - want).abs() > half_unit(t) + 1e-9 {
                return bad(shown, want);
            }
        }
        "p" => {
            if text == "< 1e-300" {
                if v >= 1e-300 {
                    return bad(0.0, v);
                }
            } else {
                let shown: f64 = text
                    .parse()
                    .map_err(|_| format!("{path}: {text:?} is not a p-value"))?;
                let scale = 10f64.powf(v.abs().log10().floor());
                if v < 1e-300 || (shown - v).abs() > 0.005 * scale * (1.0 + 1e-9) {
                    return bad(shown, v);
                }
            }
        }
        _ => return Err(format!("{path}: unknown unit {unit}")),
    }
    Ok(())
}

/// Inner HTML of every element that starts with `open` (up to its `close`).
fn blocks<'a>(html: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    html.match_indices(open)
        .map(|(i, _)| {
            let end = i + html[i..].find(close).expect("closed");
            &html[i..end]
        })
        .collect()
}

/// `html` with every tagged figure removed.
fn without_figures(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find("<span data-json=") {
        out.push_str(&rest[..i]);
        let end = i + rest[i..].find("</span>").expect("span end") + "</span>".len();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn sequence_and_transfer_report() -> AuditReport {
    let labels: Vec<usize> = bernoulli(11, 100, 0.4)
        .into_iter()
        .flat_map(|l| std::iter::repeat_n(l, 4))
        .collect();
    let config = AuditConfig {
        bootstrap: Some(BootstrapConfig {
            blocks: Blocks::Moving(4),
            resamples: 400,
            seed: 2,
        }),
        ..AuditConfig::default()
    };
    let input = AttributeInput {
        labels: labels.clone(),
        ..warm(0, 0.5, 0)
    };
    let mut report = audit(&[input], &config).expect("audit");
    // The transfer turns the first 10 cool frames warm and leaves the rest.
    let before: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
    let mut after = before.clone();
    after
        .iter_mut()
        .filter(|w| !**w)
        .take(10)
        .for_each(|w| *w = true);
    report.paired.push((
        "warm".into(),
        intervals::mcnemar(&before, &after, 1.96).expect("paired"),
    ));
    report
}

#[test]
fn every_figure_in_the_html_equals_the_json() {
    // 4000 frames alternating between the classes: balanced within the tolerance.
    let balanced = audit(
        &[AttributeInput {
            labels: (0..4000).map(|i| i % 2).collect(),
            ..warm(0, 0.5, 0)
        }],
        &AuditConfig::default(),
    )
    .expect("audit");
    assert!(matches!(
        balanced.attributes[0].verdict,
        Verdict::Balanced { .. }
    ));
    for report in [
        two_attributes(),
        sequence_and_transfer_report(),
        balanced,
        drifting_sequence(),
    ] {
        let html = render(&report);
        let json: Value = serde_json::from_str(&report.to_json().expect("json")).expect("parse");
        let shown = figures(&html);
        assert!(shown.len() > 40, "only {} tagged figures", shown.len());
        let errors: Vec<String> = shown
            .iter()
            .filter_map(|(path, unit, text)| check_figure(&json, path, unit, text).err())
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        // The tables and sentences show no figure that is not tagged.
        let mut prose = blocks(&html, "<table", "</table>");
        prose.extend(blocks(&html, "<p class=\"lede\"", "</p>"));
        prose.extend(blocks(&html, "<p class=\"verdict\"", "</p>"));
        prose.extend(blocks(&html, "<p class=\"drift\"", "</p>"));
        for block in prose {
            let bare = visible_text(&without_figures(block));
            assert!(
                !bare.chars().any(|c| c.is_ascii_digit()),
                "an untagged figure in: {bare}"
            );
        }
    }
    // Negative control: a figure off by one in its last decimal is caught.
    let report = two_attributes();
    let json: Value = serde_json::from_str(&report.to_json().expect("json")).expect("parse");
    let share = 100.0 * report.attributes[0].classes[1].share;
    let off = format!("{:.1} %", share + 0.1);
    assert!(check_figure(&json, "attributes.0.classes.1.share", "percent", &off).is_err());
    assert!(check_figure(
        &json,
        "attributes.0.classes.1.share",
        "percent",
        &format!("{share:.1} %")
    )
    .is_ok());
}

#[test]
fn sequence_and_transfer_sections_say_it_in_words() {
    let report = sequence_and_transfer_report();
    let text = visible_text(&render(&report));
    assert!(
        text.contains("audited as a sequence"),
        "no sequence section"
    );
    let n0 = report.attributes[0].classes[0].count;
    assert!(
        text.contains(&format!(
            "10 of {n0} frames without warm came out warm; none went the other way"
        )),
        "{text}"
    );
    // Without either, neither section appears.
    let plain = visible_text(&render(&two_attributes()));
    assert!(!plain.contains("audited as a sequence") && !plain.contains("Transfer"));
}

/// A bounding box in SVG user units.
#[derive(Clone, Copy, Debug)]
struct Bbox {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Bbox {
    fn overlaps(&self, o: &Bbox) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
    fn of_points(p: &[(f64, f64)], pad: f64) -> Bbox {
        let f = |g: fn(f64, f64) -> f64, i: bool, init: f64| {
            p.iter().map(|q| if i { q.1 } else { q.0 }).fold(init, g)
        };
        Bbox {
            x0: f(f64::min, false, f64::INFINITY) - pad,
            y0: f(f64::min, true, f64::INFINITY) - pad,
            x1: f(f64::max, false, f64::NEG_INFINITY) + pad,
            y1: f(f64::max, true, f64::NEG_INFINITY) + pad,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Mark,
    Label,
    Legend,
    Other,
}

/// Points of an SVG path made of M, L, H and V commands (absolute).
fn path_points(d: &str) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    let (mut x, mut y) = (0.0, 0.0);
    let spaced: String = d
        .chars()
        .flat_map(|c| {
            if c.is_ascii_alphabetic() {
                vec![' ', c, ' ']
            } else {
                vec![c]
            }
        })
        .collect();
    let mut tokens = spaced
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty());
    let num = |t: &mut dyn Iterator<Item = &str>| -> f64 {
        t.next().expect("number").parse().expect("path number")
    };
    while let Some(cmd) = tokens.next() {
        match cmd {
            "M" | "L" => {
                x = num(&mut tokens);
                y = num(&mut tokens);
            }
            "H" => x = num(&mut tokens),
            "V" => y = num(&mut tokens),
            other => panic!("path command {other} not understood"),
        }
        pts.push((x, y));
    }
    pts
}

/// Every drawn element of an SVG with its role and box. Text boxes use the
/// renderer's width estimate; strokes are padded by half their width.
fn svg_boxes(svg: &str) -> Vec<(Role, Bbox, String)> {
    let root = attrs(&svg[..svg.find('>').expect("svg tag")]);
    let base_font: f64 = attr(&root, "font-size").map_or(12.0, |f| f.parse().expect("font"));
    let mut out = Vec::new();
    let mut in_legend = false;
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        let end = i + rest[i..].find('>').expect("tag end");
        let tag = &rest[i + 1..end];
        let name = tag
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        let a = attrs(tag);
        let f = |k: &str| -> f64 { attr(&a, k).map_or(0.0, |v| v.parse().expect(k)) };
        let class = attr(&a, "class").unwrap_or_default();
        let role = if in_legend {
            Role::Legend
        } else if class.contains("mark") {
            Role::Mark
        } else if class.contains("label") {
            Role::Label
        } else {
            Role::Other
        };
        let pad = attr(&a, "stroke").map_or(0.0, |_| {
            0.5 * attr(&a, "stroke-width").map_or(1.0, |w| w.parse().expect("width"))
        });
        let b = match name {
            "g" => {
                in_legend = class == "legend";
                None
            }
            "/g" => {
                in_legend = false;
                None
            }
            "rect" => Some(Bbox::of_points(
                &[
                    (f("x"), f("y")),
                    (f("x") + f("width"), f("y") + f("height")),
                ],
                pad,
            )),
            "circle" => Some(Bbox::of_points(
                &[
                    (f("cx") - f("r"), f("cy") - f("r")),
                    (f("cx") + f("r"), f("cy") + f("r")),
                ],
                pad,
            )),
            "line" => Some(Bbox::of_points(
                &[(f("x1"), f("y1")), (f("x2"), f("y2"))],
                pad,
            )),
            "path" => Some(Bbox::of_points(
                &path_points(attr(&a, "d").expect("d")),
                pad,
            )),
            "polygon" => {
                let p: Vec<(f64, f64)> = attr(&a, "points")
                    .expect("points")
                    .split_whitespace()
                    .map(|p| {
                        let (x, y) = p.split_once(',').expect("x,y");
                        (x.parse().expect("x"), y.parse().expect("y"))
                    })
                    .collect();
                Some(Bbox::of_points(&p, pad))
            }
            "text" => {
                let close = end + rest[end..].find("</text>").expect("text end");
                let content = unescape(&rest[end + 1..close]);
                let size = attr(&a, "font-size").map_or(base_font, |s| s.parse().expect("size"));
                let w = text_width(&content, size);
                let x0 = match attr(&a, "text-anchor") {
                    Some("middle") => f("x") - 0.5 * w,
                    Some("end") => f("x") - w,
                    _ => f("x"),
                };
                out.push((
                    role,
                    Bbox {
                        x0,
                        y0: f("y") - 0.8 * size,
                        x1: x0 + w,
                        y1: f("y") + 0.25 * size,
                    },
                    format!("text {content:?}"),
                ));
                None
            }
            _ => None,
        };
        if let Some(b) = b {
            out.push((role, b, format!("{name} {class}")));
        }
        rest = &rest[end + 1..];
    }
    out
}

/// Pairs of elements that must not overlap but do.
fn collisions(svg: &str) -> Vec<String> {
    let boxes = svg_boxes(svg);
    let mut out = Vec::new();
    for (i, (ra, ba, da)) in boxes.iter().enumerate() {
        for (rb, bb, db) in &boxes[i + 1..] {
            let clash = matches!(
                (ra, rb),
                (Role::Legend, Role::Mark)
                    | (Role::Mark, Role::Legend)
                    | (Role::Label, Role::Mark)
                    | (Role::Mark, Role::Label)
                    | (Role::Legend, Role::Label)
                    | (Role::Label, Role::Legend)
                    | (Role::Label, Role::Label)
            ) || (*ra == Role::Legend
                && *rb == Role::Legend
                && da.starts_with("text")
                && db.starts_with("text"));
            if clash && ba.overlaps(bb) {
                out.push(format!("{da} {ba:?} overlaps {db} {bb:?}"));
            }
        }
    }
    out
}

fn svgs(html: &str) -> Vec<&str> {
    blocks(html, "<svg", "</svg>")
}

#[test]
fn legend_and_labels_stay_clear_of_the_data() {
    // Sans-serif text averages about 0.5 em a character; the estimate must not undercount.
    const { assert!(CHAR_EM >= 0.55) };
    let joint = AttributeInput {
        name: "joint".into(),
        classes: vec![
            "round- warm-".into(),
            "round+ warm-".into(),
            "round- warm+".into(),
            "round+ warm+".into(),
        ],
        labels: bernoulli(5, 500, 0.7)
            .iter()
            .zip(bernoulli(6, 500, 0.3))
            .map(|(a, b)| a + 2 * b)
            .collect(),
        target: vec![0.25; 4],
        reference: Some(vec![100, 300, 50, 550]),
        confusion: None,
    };
    let cases = [
        // The tallest share close to 100 %, where a legend inside the plot sat.
        warm(300, 0.97, 8),
        warm(400, 0.62, 1),
        warm(60, 0.5, 9),
        joint,
    ];
    let report = audit(&cases, &AuditConfig::default()).expect("audit");
    let html = render(&report);
    let plots = svgs(&html);
    assert_eq!(plots.len(), cases.len());
    for svg in &plots {
        let clashes = collisions(svg);
        assert!(clashes.is_empty(), "{}", clashes.join("\n"));
        let open = &svg[..svg.find('>').expect("svg tag")];
        assert!(
            open.contains("viewBox=\"0 0 ") && open.contains("width=\"100%\""),
            "{open}"
        );
        assert!(
            !open.contains("height="),
            "a fixed height stops the plot scaling"
        );
        let grid = svg.matches("class=\"grid\"").count();
        assert!((3..=7).contains(&grid), "{grid} gridlines");
        assert!(svg.contains("class=\"legend\""));
    }
    // Negative control: a legend entry drawn on the tallest observed dot is caught.
    let svg = plots[0];
    let dot = svg.find("<circle class=\"mark observed\"").expect("dot");
    let a = attrs(&svg[dot..dot + svg[dot..].find('>').expect("end")]);
    let planted = format!(
        "{svg}<g class=\"legend\"><text x=\"{}\" y=\"{}\">observed</text></g>",
        attr(&a, "cx").expect("cx"),
        attr(&a, "cy").expect("cy")
    );
    assert!(
        !collisions(&planted).is_empty(),
        "the overlap check sees nothing"
    );
}

#[test]
fn corrected_is_drawn_only_where_it_differs_from_observed() {
    let exact = AttributeInput {
        confusion: Some(ConfusionCounts {
            counts: vec![vec![1000, 0], vec![0, 1000]],
        }),
        ..warm(400, 0.62, 1)
    };
    let report = audit(&[exact, warm(400, 0.62, 1)], &AuditConfig::default()).expect("audit");
    let html = render(&report);
    let plots = svgs(&html);
    assert!(
        !plots[0].contains("mark corrected"),
        "corrected drawn over observed"
    );
    assert!(!plots[0].contains("corrected for classifier error"));
    assert!(
        plots[1].contains("mark corrected"),
        "a real correction must be drawn"
    );
}

#[test]
fn the_page_is_small_and_self_contained() {
    let html = render(&two_attributes());
    assert!(
        html.len() < 100_000,
        "{} bytes for two attributes",
        html.len()
    );
    for needle in [
        "http://", "https://", "<script", " src=", "url(", "@import", "<link",
    ] {
        assert!(
            !html.contains(needle),
            "the page loads or runs something: {needle}"
        );
    }
    // Summary first, print rules present, every verdict coloured.
    let summary = html.find("<section class=\"summary\"").expect("summary");
    assert!(summary < html.find("id=\"attribute-0\"").expect("section"));
    assert!(
        html.contains("break-inside:avoid") && html.contains("thead{display:table-header-group}")
    );
    assert!(html.contains("<details>") && html.contains("badge fail"));
}

#[test]
fn csv_has_plain_verdicts_and_the_figures_of_the_json() {
    let report = two_attributes();
    let csv = report.to_csv();
    let json: Value = serde_json::from_str(&report.to_json().expect("json")).expect("parse");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(header, CSV_COLUMNS);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    let col = |row: &[&str], name: &str| -> String {
        row[header.iter().position(|h| *h == name).expect(name)].to_string()
    };
    for (r, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), header.len());
        let (i, k) = (r / 2, r % 2);
        let a = &report.attributes[i];
        assert_eq!(col(row, "verdict"), a.verdict.name());
        assert!(["pass", "inconclusive", "fail"].contains(&col(row, "status").as_str()));
        for (name, path) in [
            ("share", format!("attributes.{i}.classes.{k}.share")),
            ("ci_lo", format!("attributes.{i}.classes.{k}.interval.lo")),
            ("g", format!("attributes.{i}.distance.g")),
            ("g_p_value", format!("attributes.{i}.distance.g_p_value")),
            (
                "parity_ratio",
                format!("attributes.{i}.distance.parity_ratio"),
            ),
            (
                "fd_null_max",
                format!("attributes.{i}.null_thresholds.fd_max"),
            ),
        ] {
            let v: f64 = col(row, name).parse().expect(name);
            assert_eq!(v, json_at(&json, &path), "{name}");
        }
        assert_eq!(col(row, "n"), a.n.to_string());
    }
    // The imbalanced attribute carries its amplification and corrected p-value.
    let warm_row = &rows[1];
    let p: f64 = col(warm_row, "corrected_p_value").parse().expect("p");
    assert_eq!(
        p,
        json_at(&json, "attributes.0.corrected_distance.g_p_value")
    );
    let vp: f64 = col(warm_row, "corrected_verdict_p_value")
        .parse()
        .expect("p");
    assert_eq!(
        vp, p,
        "corrected verdict and its G-test disagree in the CSV"
    );
    assert!(!col(warm_row, "amplification").is_empty());
}

#[test]
fn json_is_versioned_rounded_and_names_the_run() {
    let report = two_attributes();
    let text = report.to_json().expect("json");
    let json: Value = serde_json::from_str(&text).expect("parse");
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["run"]["equifx_version"], env!("CARGO_PKG_VERSION"));
    let date = json["run"]["date"].as_str().expect("date");
    assert_eq!(date.len(), 20, "{date}");
    assert!(date.ends_with('Z') && date.as_bytes()[10] == b'T', "{date}");
    fn walk(v: &Value, bad: &mut Vec<f64>) {
        match v {
            Value::Number(n) if n.is_f64() => {
                let x = n.as_f64().expect("f64");
                if round_sig(x) != x {
                    bad.push(x);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, bad)),
            Value::Object(o) => o.values().for_each(|v| walk(v, bad)),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(&json, &mut bad);
    assert!(bad.is_empty(), "unrounded: {bad:?}");
    assert!(
        !text.contains("9999999") && !text.contains("0000001"),
        "{text}"
    );
    // Negative control: the float the rounding exists for.
    assert_eq!(round_sig(0.49999999999999994), 0.5);
}

#[test]
fn cli_report_header_names_the_run_model_and_version() {
    let dir = tempfile::tempdir().expect("tmp");
    // 200 frames of the shipped bundle's two photo heads, 70 % warm.
    let frames: Vec<FrameMeta> = bernoulli(21, 200, 0.7)
        .into_iter()
        .zip(bernoulli(22, 200, 0.5))
        .enumerate()
        .map(|(i, (w, r))| FrameMeta {
            item: i as u64,
            seed: 0,
            cell: r + 2 * w,
            scores: vec![
                if r == 1 { 0.5 } else { -0.5 },
                if w == 1 { 0.5 } else { -0.5 },
            ],
            group: None,
            pixel_check: None,
        })
        .collect();
    let side = Sidecar::from_frames(vec!["round".into(), "warm".into()], frames);
    let path = dir.path().join("shot010.json");
    std::fs::write(&path, side.to_json().expect("json")).expect("write");
    let stem = dir.path().join("out/report");
    let out = Command::new(env!("CARGO_BIN_EXE_equifx"))
        .args([
            "audit",
            "--domain",
            "photo",
            "--target",
            "warm=0.5,round=0.5",
            "--sidecar",
        ])
        .arg(&path)
        .arg("--report")
        .arg(&stem)
        .output()
        .expect("equifx runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(stem.with_extension("json")).expect("json"))
            .expect("parse");
    assert_eq!(
        json["run"]["name"], "shot010",
        "the name defaults to the sidecar's"
    );
    assert_eq!(json["run"]["domain"], "photo");
    let sha = json["run"]["weights_sha256"].as_str().expect("hash");
    assert_eq!(sha.len(), 64);
    let html = std::fs::read_to_string(stem.with_extension("html")).expect("html");
    let text = visible_text(&html);
    for needle in [
        "Bias audit: shot010",
        sha,
        env!("CARGO_PKG_VERSION"),
        "photo",
        "N = 200",
    ] {
        assert!(text.contains(needle), "header lacks {needle}");
    }
    // --name overrides the default.
    let out = Command::new(env!("CARGO_BIN_EXE_equifx"))
        .args([
            "audit",
            "--domain",
            "photo",
            "--name",
            "grade v2",
            "--sidecar",
        ])
        .arg(&path)
        .arg("--report")
        .arg(&stem)
        .output()
        .expect("equifx runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(stem.with_extension("html")).expect("html");
    assert!(html.contains("<h1>Bias audit: grade v2</h1>"));
}

/// `n` frames as a sequence audit with the CLI's block length (∛N frames).
fn sequence_audit(labels: Vec<usize>) -> AuditReport {
    let config = AuditConfig {
        bootstrap: Some(BootstrapConfig {
            blocks: Blocks::Moving((labels.len() as f64).cbrt().round() as usize),
            resamples: 400,
            seed: 3,
        }),
        ..AuditConfig::default()
    };
    let round = AttributeInput {
        labels: bernoulli(33, labels.len(), 0.5),
        reference: None,
        confusion: None,
        ..binary("round", 0, 0.5, 0)
    };
    let warm = AttributeInput {
        labels,
        ..warm(0, 0.5, 0)
    };
    audit(&[warm, round], &config).expect("audit")
}

/// Frames in the first half of [`drifting_sequence`] and the planted shares of warm.
const HALF: usize = 1200;
const PLANTED: [f64; 2] = [0.8, 0.2];

/// 2400 frames, warm in 80 % of the first half and 20 % of the second.
fn drifting_sequence() -> AuditReport {
    let mut labels = bernoulli(31, HALF, PLANTED[0]);
    labels.extend(bernoulli(32, HALF, PLANTED[1]));
    sequence_audit(labels)
}

/// A start tag: its name, its attributes and the text up to the next tag.
type Element = (String, Vec<(String, String)>, String);

/// Every start tag of `svg`.
fn elements(svg: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        let end = i + rest[i..].find('>').expect("tag end");
        let tag = &rest[i + 1..end];
        let name = tag.split_whitespace().next().unwrap_or_default();
        let after = &rest[end + 1..];
        let text = &after[..after.find('<').unwrap_or(after.len())];
        out.push((
            name.trim_end_matches('/').to_string(),
            attrs(tag),
            unescape(text),
        ));
        rest = after;
    }
    out
}

type Elements = [Element];

fn coord(a: &[(String, String)], name: &str) -> f64 {
    attr(a, name)
        .unwrap_or_else(|| panic!("no {name}"))
        .parse()
        .expect(name)
}

/// An axis as the reader gets it: the value → coordinate map through the
/// first and last of the `class` lines and the labels that follow them, read
/// at attribute `at` (`y1` for gridlines, `x1` for ticks).
fn axis_of(els: &Elements, class: &str, at: &str) -> impl Fn(f64) -> f64 {
    let marks: Vec<(f64, f64)> = els
        .windows(2)
        .filter(|w| w[0].0 == "line" && attr(&w[0].1, "class") == Some(class))
        .map(|w| {
            let label = w[1].2.trim_end_matches(" %");
            let v: f64 = label.parse().expect("axis label");
            let v = if w[1].2.ends_with(" %") { v / 100.0 } else { v };
            (v, coord(&w[0].1, at))
        })
        .collect();
    assert!(marks.len() >= 2, "fewer than two {class} marks");
    let ((v0, c0), (v1, c1)) = (marks[0], marks[marks.len() - 1]);
    move |v: f64| c0 + (v - v0) / (v1 - v0) * (c1 - c0)
}

/// How the drift chart of attribute `i` (class `k`) differs from the JSON:
/// dots at the blocks' shares, segments over their frames, the band on the
/// bootstrap interval and the target line, all read through the chart's own axes.
fn drift_chart_errors(svg: &str, json: &Value, i: usize, k: usize) -> Vec<String> {
    let els = elements(svg);
    let y = axis_of(&els, "grid", "y1");
    let x = axis_of(&els, "tick", "x1");
    let base = format!("attributes.{i}.bootstrap");
    let blocks = json_at_array(json, &format!("{base}.block_shares.blocks"));
    let mut errors = Vec::new();
    let near = |what: String, shown: f64, want: f64, tol: f64| {
        ((shown - want).abs() > tol)
            .then(|| format!("{what}: drawn at {shown}, JSON puts it at {want:.2}"))
    };
    let of = |tag: &str, class: &str| -> Vec<&Vec<(String, String)>> {
        els.iter()
            .filter(|e| e.0 == tag && attr(&e.1, "class") == Some(class))
            .map(|e| &e.1)
            .collect()
    };
    let dots = of("circle", "mark block");
    let segments = of("line", "mark block");
    if dots.len() != blocks.len() || segments.len() != blocks.len() {
        return vec![format!(
            "{} dots and {} segments for {} blocks",
            dots.len(),
            segments.len(),
            blocks.len()
        )];
    }
    // Coordinates are written to 0.1 and the axes read off rounded positions.
    let tol = 0.11;
    for (j, (dot, seg)) in dots.iter().zip(&segments).enumerate() {
        let path = format!("{base}.block_shares.blocks.{j}.shares.{k}");
        if attr(dot, "data-json") != Some(path.as_str()) {
            errors.push(format!("dot {j} names {:?}", attr(dot, "data-json")));
        }
        let share = json_at(json, &path);
        errors.extend(near(
            format!("block {j}'s dot"),
            coord(dot, "cy"),
            y(share),
            tol,
        ));
        errors.extend(near(
            format!("block {j}'s segment"),
            coord(seg, "y1"),
            y(share),
            tol,
        ));
        let first = json_at(json, &format!("{base}.block_shares.blocks.{j}.first"));
        let last = json_at(json, &format!("{base}.block_shares.blocks.{j}.last"));
        errors.extend(near(
            format!("block {j}'s start"),
            coord(seg, "x1"),
            x(first),
            tol,
        ));
        errors.extend(near(
            format!("block {j}'s end"),
            coord(seg, "x2"),
            x(last + 1.0),
            tol,
        ));
    }
    let band = of("rect", "mark band");
    assert_eq!(band.len(), 1, "one band");
    let (top, height) = (coord(band[0], "y"), coord(band[0], "height"));
    errors.extend(near(
        "band top".into(),
        top,
        y(json_at(json, &format!("{base}.intervals.{k}.hi"))),
        tol,
    ));
    errors.extend(near(
        "band bottom".into(),
        top + height,
        y(json_at(json, &format!("{base}.intervals.{k}.lo"))),
        2.0 * tol,
    ));
    let target = of("line", "mark target");
    assert_eq!(target.len(), 1, "one target line");
    errors.extend(near(
        "target".into(),
        coord(target[0], "y1"),
        y(json_at(json, &format!("attributes.{i}.classes.{k}.target"))),
        tol,
    ));
    errors
}

fn json_at_array<'a>(json: &'a Value, path: &str) -> &'a Vec<Value> {
    path.split('.')
        .fold(json, |v, key| match key.parse::<usize>() {
            Ok(i) if v.is_array() => &v[i],
            _ => &v[key],
        })
        .as_array()
        .unwrap_or_else(|| panic!("{path} is not an array"))
}

/// The drift chart of each attribute, in page order.
fn drift_charts(html: &str) -> Vec<&str> {
    svgs(html)
        .into_iter()
        .filter(|s| s.contains("mark block"))
        .collect()
}

#[test]
fn a_planted_drift_shows_in_the_block_shares_and_the_chart() {
    let report = drifting_sequence();
    let html = render(&report);
    let json: Value = serde_json::from_str(&report.to_json().expect("json")).expect("parse");
    let parts = json_at_array(&json, "attributes.0.bootstrap.block_shares.blocks");
    assert!((4..=12).contains(&parts.len()), "{} blocks", parts.len());
    let mut next = 0.0;
    for (j, b) in parts.iter().enumerate() {
        let (first, last) = (
            b["first"].as_f64().expect("first"),
            b["last"].as_f64().expect("last"),
        );
        assert_eq!(first, next, "block {j} does not follow on");
        next = last + 1.0;
        // The planted share of the block's frames, and 4 binomial standard errors.
        let size = last - first + 1.0;
        let early = (HALF as f64 - first).clamp(0.0, size);
        let p = (early * PLANTED[0] + (size - early) * PLANTED[1]) / size;
        let tol = 4.0 * (p * (1.0 - p) / size).sqrt();
        let share = b["shares"][1].as_f64().expect("share");
        assert!(
            (share - p).abs() <= tol,
            "block {j} (frames {first}–{last}): share {share}, planted {p} ± {tol}"
        );
    }
    assert_eq!(next, 2.0 * HALF as f64, "the blocks miss frames");
    // The chart draws exactly the JSON's blocks, band and target.
    let charts = drift_charts(&html);
    assert_eq!(charts.len(), 2, "one drift chart per attribute");
    for (i, svg) in charts.iter().enumerate() {
        let errors = drift_chart_errors(svg, &json, i, 1);
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        let clashes = collisions(svg);
        assert!(clashes.is_empty(), "{}", clashes.join("\n"));
        let grid = svg.matches("class=\"grid\"").count();
        assert!((3..=7).contains(&grid), "{grid} gridlines");
        let open = &svg[..svg.find('>').expect("svg tag")];
        assert!(
            open.contains("width=\"100%\"") && !open.contains("height="),
            "{open}"
        );
    }
    // The table's block figures are the JSON's, one row per block.
    let shown = figures(&html);
    for j in 0..parts.len() {
        let path = format!("attributes.0.bootstrap.block_shares.blocks.{j}.shares.1");
        let rows: Vec<_> = shown.iter().filter(|f| f.0 == path).collect();
        assert!(!rows.is_empty(), "block {j} is not in the table");
        for (path, unit, text) in rows {
            check_figure(&json, path, unit, text).expect("block figure");
        }
    }
    // The sentence reads the drift off the data: the first and last blocks' shares.
    let sentence = blocks(&html, "<p class=\"drift\"", "</p>")[0];
    for j in [0, parts.len() - 1] {
        assert!(
            sentence.contains(&format!("blocks.{j}.shares.1\"")),
            "the sentence lacks block {j}: {sentence}"
        );
    }
    let text = visible_text(sentence);
    assert!(
        text.contains("The share drifts across the sequence"),
        "{text}"
    );
    // The steady attribute on the same page does not drift.
    let steady = visible_text(blocks(&html, "<p class=\"drift\"", "</p>")[1]);
    assert!(steady.contains("No drift"), "{steady}");
    // The opening sentence of the drifting attribute says the overall share hides a drift.
    let ledes = blocks(&html, "<p class=\"lede\"", "</p>");
    assert!(
        visible_text(ledes[0]).contains("drifts along it"),
        "{}",
        ledes[0]
    );
    assert!(!visible_text(ledes[1]).contains("drifts"), "{}", ledes[1]);
    assert!(
        html.len() < 100_000,
        "{} bytes for two attributes",
        html.len()
    );
    // Negative controls: a dot moved by two units, and a legend entry on a dot.
    let svg = charts[0];
    let at = svg.find("<circle class=\"mark block\"").expect("dot");
    let cy = at + svg[at..].find("cy=\"").expect("cy") + 4;
    let end = cy + svg[cy..].find('"').expect("quote");
    let y: f64 = svg[cy..end].parse().expect("cy");
    let moved = format!("{}{:.1}{}", &svg[..cy], y + 2.0, &svg[end..]);
    assert!(
        !drift_chart_errors(&moved, &json, 0, 1).is_empty(),
        "a misplaced dot goes unnoticed"
    );
    let planted = format!(
        "{svg}<g class=\"legend\"><text x=\"{}\" y=\"{}\">share</text></g>",
        attr(
            &attrs(&svg[at..at + svg[at..].find('>').expect("end")]),
            "cx"
        )
        .expect("cx"),
        y
    );
    assert!(
        !collisions(&planted).is_empty(),
        "the overlap check sees nothing"
    );
}

#[test]
fn a_steady_sequence_reads_no_drift() {
    // Independent frames at 50 %, and the same with every label held for six
    // frames: neighbours alike, but no drift.
    let independent = bernoulli(41, 2400, 0.5);
    let held: Vec<usize> = bernoulli(42, 400, 0.5)
        .into_iter()
        .flat_map(|l| std::iter::repeat_n(l, 6))
        .collect();
    for (labels, alike) in [(independent, false), (held, true)] {
        let report = sequence_audit(labels);
        let html = render(&report);
        let a = &report.attributes[0];
        let s = a
            .bootstrap
            .as_ref()
            .and_then(|b| b.block_shares.as_ref())
            .expect("block shares");
        assert!(s.p_value >= report.config.alpha, "p = {}", s.p_value);
        let text = visible_text(blocks(&html, "<p class=\"drift\"", "</p>")[0]);
        assert!(text.contains("No drift"), "{text}");
        assert!(!text.contains("drifts across"), "{text}");
        // The G-test of the blocks counting every frame as independent: it
        // calls the held sequence drifting, so the effective size is what keeps it steady.
        let n = a.n as f64;
        let g: f64 = s
            .blocks
            .iter()
            .flat_map(|blk| {
                let size = (blk.last - blk.first + 1) as f64;
                blk.shares.iter().zip(&a.classes).map(move |(p, c)| {
                    let x = p * size;
                    if x > 0.0 {
                        2.0 * x * (x * n / (size * c.count as f64)).ln()
                    } else {
                        0.0
                    }
                })
            })
            .sum();
        let naive = equifx::fairness::normal::chi2_sf(g, (s.blocks.len() - 1) as f64);
        assert_eq!(naive < report.config.alpha, alike, "naive p = {naive}");
    }
    // Negative control: the planted drift is not read as steady.
    let html = render(&drifting_sequence());
    let text = visible_text(blocks(&html, "<p class=\"drift\"", "</p>")[0]);
    assert!(!text.contains("No drift"), "{text}");
}
