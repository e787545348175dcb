//! The Bias Audit report: per attribute (or joint cell set), counts with
//! simultaneous Wilson intervals, the distances of docs/fairness.md §6 with the G-test, raw and
//! confusion-corrected shares, Zhao amplification against the training
//! reference with a Newcombe interval, the block bootstrap for frame sequences,
//! and a verdict that never calls a small batch fair: it is "imbalanced" (G-test
//! at α), "balanced within ±δ" (every simultaneous CI inside π ± δ, docs/fairness.md §6), or
//! "inconclusive — need N ≥ …". Reports serialise to JSON and CSV (fields and
//! units in docs/audit-report.md); the files themselves (JSON, CSV, HTML) are written by [`super::report`].

use serde::{Deserialize, Serialize};

use super::cells;
use super::intervals::{self, BlockBootstrap, Blocks, ConfusionCounts, Interval, McNemar};
use super::metadata::FrameMeta;
use super::metrics::{self, DirectionalBa, Distance, NullThresholds, ZhaoBa};
use super::normal;
use crate::error::{Error, Result};

/// Version of the JSON and CSV layout (docs/audit-report.md).
pub const SCHEMA_VERSION: u32 = 2;

/// Below this a chi-square tail is printed as a bound: the statistic is so far
/// out that `f64` keeps no relative accuracy (or underflows to 0).
pub const P_FLOOR: f64 = 1e-300;

/// "p = 3.95e-14", or the bound "p < 1e-300" when the tail underflowed.
pub fn format_p(p: f64) -> String {
    if p < P_FLOOR {
        "p < 1e-300".into()
    } else {
        format!("p = {p:.2e}")
    }
}

/// Statistical settings of an audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditConfig {
    /// Confidence level of the reported (simultaneous) intervals.
    pub level: f64,
    /// Significance level of the imbalance test (docs/fairness.md §6: 10⁻³).
    pub alpha: f64,
    /// Equivalence margin δ of the "balanced" verdict.
    pub delta: f64,
    /// Block bootstrap for frame sequences (`None` for i.i.d. batches).
    pub bootstrap: Option<BootstrapConfig>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            level: 0.95,
            alpha: 1e-3,
            delta: 0.05,
            bootstrap: None,
        }
    }
}

/// Block-bootstrap settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    pub blocks: Blocks,
    pub resamples: usize,
    pub seed: u64,
}

/// One audited attribute: a class label per frame plus what to compare with.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeInput {
    pub name: String,
    pub classes: Vec<String>,
    /// Class of each frame, in frame order.
    pub labels: Vec<usize>,
    /// Target shares π (normalised).
    pub target: Vec<f64>,
    /// Training counts per class from the manifest (the reference r, N_tr).
    pub reference: Option<Vec<u64>>,
    /// Confusion of the classifier that produced `labels`.
    pub confusion: Option<ConfusionCounts>,
}

/// The audit's conclusion about one attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The G-test rejects p = π at level α.
    Imbalanced { p_value: f64 },
    /// Every simultaneous interval lies inside π_k ± δ.
    Balanced { delta: f64 },
    /// No detectable imbalance, but too few frames to call the batch fair.
    Inconclusive { need_n: u64, min_detectable: f64 },
}

impl Verdict {
    /// A one-line human-readable statement.
    pub fn message(&self) -> String {
        match self {
            Verdict::Imbalanced { p_value } => format!("imbalanced (G-test {})", format_p(*p_value)),
            Verdict::Balanced { delta } => format!("balanced within ±{delta}"),
            Verdict::Inconclusive { need_n, min_detectable } => format!(
                "inconclusive — need N ≥ {need_n} (this batch detects only imbalances ≥ {min_detectable:.3})"
            ),
        }
    }

    /// The verdict's tag as in the JSON: `imbalanced`, `balanced` or `inconclusive`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Imbalanced { .. } => "imbalanced",
            Verdict::Balanced { .. } => "balanced",
            Verdict::Inconclusive { .. } => "inconclusive",
        }
    }

    /// The traffic-light reading of the verdict: `fail`, `pass` or `inconclusive`.
    pub fn status(&self) -> &'static str {
        match self {
            Verdict::Imbalanced { .. } => "fail",
            Verdict::Balanced { .. } => "pass",
            Verdict::Inconclusive { .. } => "inconclusive",
        }
    }
}

/// Per-class row of an attribute audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    pub name: String,
    pub count: u64,
    pub share: f64,
    /// Simultaneous Wilson interval at the configured level (effective N for sequences).
    pub interval: Interval,
    pub target: f64,
    pub reference: Option<f64>,
    pub corrected: Option<f64>,
    pub corrected_interval: Option<Interval>,
}

/// Audit of one attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeAudit {
    pub name: String,
    pub n: u64,
    /// N, or the bootstrap's effective N for sequences.
    pub n_effective: f64,
    pub classes: Vec<ClassRow>,
    pub distance: Distance,
    pub corrected_distance: Option<Distance>,
    pub null_thresholds: NullThresholds,
    pub amplification: Option<ZhaoBa>,
    pub bootstrap: Option<BlockBootstrap>,
    pub verdict: Verdict,
    pub corrected_verdict: Option<Verdict>,
    /// Why corrected values are missing although a confusion was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction_note: Option<String>,
    /// Per class, small PNG pictures of audited frames the class holds, so
    /// the HTML page shows what a class is (label-free groups have no other
    /// meaning); the JSON and CSV carry the numbers only.
    #[serde(skip)]
    pub examples: Vec<Vec<Vec<u8>>>,
}

/// Where an audit came from: the report's header, so a page found in a
/// ticket months later still says what was measured with what.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Name of the run (`equifx audit --name`).
    pub name: String,
    /// The audited images, sidecar or records folder, as given.
    pub inputs: Vec<String>,
    /// The model bundle that classified the frames.
    pub model: Option<String>,
    /// SHA-256 of the bundle's weights, hex.
    pub weights_sha256: Option<String>,
    /// The domain whose heads classified the frames.
    pub domain: Option<String>,
    /// When the audit ran, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub date: String,
    pub equifx_version: String,
}

impl RunInfo {
    /// A run named `name`, dated now, with this build's version.
    pub fn now(name: &str) -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        RunInfo {
            name: name.to_string(),
            date: utc_date(secs),
            equifx_version: env!("CARGO_PKG_VERSION").to_string(),
            ..RunInfo::default()
        }
    }
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar,
/// Hinnant's days-to-civil).
fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The whole audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    pub schema_version: u32,
    pub run: RunInfo,
    pub config: AuditConfig,
    pub attributes: Vec<AttributeAudit>,
    /// Paired input → output drift per attribute (transfer audits): the
    /// attribute's name and McNemar's flip table and test.
    pub paired: Vec<(String, McNemar)>,
    /// Directional amplification over several domains (`None` for a single-domain audit).
    pub directional: Option<DirectionalBa>,
}

/// Audits one attribute.
pub fn audit_attribute(input: &AttributeInput, config: &AuditConfig) -> Result<AttributeAudit> {
    let k = input.classes.len();
    if input.target.len() != k || k < 2 {
        return Err(Error::InvalidArgument(format!(
            "attribute '{}': {} classes but {} target shares",
            input.name,
            k,
            input.target.len()
        )));
    }
    if !(0.0 < config.level
        && config.level < 1.0
        && 0.0 < config.alpha
        && config.alpha < 1.0
        && config.delta > 0.0)
    {
        return Err(Error::InvalidArgument(
            "audit level and alpha must lie in (0, 1) and delta must be positive".into(),
        ));
    }
    let tsum: f64 = input.target.iter().sum();
    let target: Vec<f64> = input.target.iter().map(|t| t / tsum).collect();
    let counts = metrics::counts(&input.labels, k)?;
    let n = input.labels.len() as u64;
    let nf = n as f64;
    let distance = metrics::distance(&counts, &target)?;
    let z_sim = intervals::z_simultaneous(config.level, k);
    let bootstrap = config
        .bootstrap
        .map(|b| {
            intervals::block_bootstrap(
                &input.labels,
                k,
                b.blocks,
                b.resamples,
                config.level,
                b.seed,
            )
        })
        .transpose()?;
    let n_eff = bootstrap
        .as_ref()
        .map_or(nf, |b| b.n_eff.iter().cloned().fold(nf, f64::min))
        .max(1.0);
    let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / nf).collect();
    let ci: Vec<Interval> = shares
        .iter()
        .map(|p| intervals::wilson(p * n_eff, n_eff, z_sim))
        .collect();
    // A classifier too close to chance cannot be corrected for: the audit still
    // reports the raw values and says why the corrected ones are missing.
    let (corrected, correction_note) = match input
        .confusion
        .as_ref()
        .map(|c| intervals::correct(&counts, c, z_sim))
    {
        None => (None, None),
        Some(Ok(c)) => (Some(c), None),
        Some(Err(e)) => (None, Some(e.to_string())),
    };
    let reference_share = input.reference.as_ref().map(|r| {
        let t = r.iter().sum::<u64>().max(1) as f64;
        r.iter().map(|&x| x as f64 / t).collect::<Vec<_>>()
    });
    let amplification = input
        .reference
        .as_ref()
        .map(|r| metrics::zhao_ba(&counts, r, intervals::z_simultaneous(config.level, 1)))
        .transpose()?;
    let corrected_distance = corrected
        .as_ref()
        .map(|c| {
            let pseudo: Vec<u64> = c
                .proportions
                .iter()
                .map(|p| (p * nf).round() as u64)
                .collect();
            metrics::distance(&pseudo, &target)
        })
        .transpose()?;
    let verdict = decide(
        Some(g_test_at(&distance, n_eff, nf, k)),
        &ci,
        &target,
        n_eff,
        nf,
        config,
    );
    let corrected_verdict = corrected
        .as_ref()
        .zip(corrected_distance.as_ref())
        .map(|(c, d)| {
            // The G-test on corrected shares ignores that the classifier's error
            // rates are estimates: it only counts when the corrected intervals,
            // widened to the test level (same centre), also exclude the target.
            let z_test = intervals::z_simultaneous(1.0 - config.alpha, k);
            let scale = z_test / z_sim;
            let rejects =
                c.proportions
                    .iter()
                    .zip(&c.intervals)
                    .zip(&target)
                    .any(|((p, iv), t)| {
                        let lo = p - (p - iv.lo) * scale;
                        let hi = p + (iv.hi - p) * scale;
                        *t < lo || *t > hi
                    });
            let p = rejects.then(|| g_test_at(d, n_eff, nf, k));
            decide(p, &c.intervals, &target, n_eff, nf, config)
        });
    let classes = (0..k)
        .map(|c| ClassRow {
            name: input.classes[c].clone(),
            count: counts[c],
            share: shares[c],
            interval: ci[c],
            target: target[c],
            reference: reference_share.as_ref().map(|r| r[c]),
            corrected: corrected.as_ref().map(|x| x.proportions[c]),
            corrected_interval: corrected.as_ref().map(|x| x.intervals[c]),
        })
        .collect();
    Ok(AttributeAudit {
        name: input.name.clone(),
        n,
        n_effective: n_eff,
        classes,
        distance,
        corrected_distance,
        null_thresholds: metrics::null_thresholds(k, n, config.alpha),
        amplification,
        bootstrap,
        verdict,
        corrected_verdict,
        correction_note,
        examples: Vec::new(),
    })
}

/// The G-test's p-value at the effective size (G scales with N): for i.i.d.
/// frames exactly `distance.g_p_value`.
fn g_test_at(distance: &Distance, n_eff: f64, n: f64, k: usize) -> f64 {
    if n_eff >= n {
        return distance.g_p_value;
    }
    let g = distance.g * n_eff / n;
    if g.is_finite() {
        normal::chi2_sf(g, (k - 1) as f64)
    } else {
        0.0
    }
}

/// Imbalanced if the test's p-value (`None`: no test applies) is below α;
/// balanced if every interval fits in π ± δ; otherwise inconclusive with the N
/// that makes the half-width ≤ δ/2 (docs/fairness.md §6: "about 4×" the N at
/// which the interval just fits), scaled to frames.
fn decide(
    p_value: Option<f64>,
    ci: &[Interval],
    target: &[f64],
    n_eff: f64,
    n: f64,
    config: &AuditConfig,
) -> Verdict {
    if let Some(p_value) = p_value.filter(|p| *p < config.alpha) {
        return Verdict::Imbalanced { p_value };
    }
    let d = config.delta;
    if ci
        .iter()
        .zip(target)
        .all(|(iv, t)| iv.lo >= t - d && iv.hi <= t + d)
    {
        return Verdict::Balanced { delta: d };
    }
    let k = target.len();
    let z = intervals::z_simultaneous(config.level, k);
    let n_fit = target
        .iter()
        .map(|t| (z * (t * (1.0 - t)).sqrt() / d).powi(2))
        .fold(0.0, f64::max);
    let frames_per_effective = (n / n_eff).max(1.0);
    let power = normal::isf(0.025) + normal::isf(0.2);
    Verdict::Inconclusive {
        need_n: (4.0 * n_fit * frames_per_effective).ceil() as u64,
        min_detectable: target
            .iter()
            .map(|t| power * (t * (1.0 - t) / n_eff).sqrt())
            .fold(0.0, f64::max),
    }
}

/// Class inputs from sampler metadata: one binary attribute per head plus the
/// joint cell over all heads (targets from the sidecar's joint).
pub fn inputs_from_frames(
    frames: &[FrameMeta],
    names: &[String],
    joint_target: &[f64],
) -> Result<Vec<AttributeInput>> {
    let k = names.len();
    let nc = cells::n_cells(k);
    if joint_target.len() != nc {
        return Err(Error::InvalidArgument(format!(
            "{} joint target shares for {k} attributes ({nc} cells)",
            joint_target.len()
        )));
    }
    let mut out = Vec::with_capacity(k + 1);
    for (j, name) in names.iter().enumerate() {
        let on: f64 = (0..nc)
            .filter(|&g| cells::has(g, j))
            .map(|g| joint_target[g])
            .sum();
        out.push(AttributeInput {
            name: name.clone(),
            classes: vec![format!("{name}-"), format!("{name}+")],
            labels: frames
                .iter()
                .map(|f| usize::from(cells::has(f.cell, j)))
                .collect(),
            target: vec![1.0 - on, on],
            reference: None,
            confusion: None,
        });
    }
    if k > 1 {
        out.push(AttributeInput {
            name: "joint".into(),
            classes: (0..nc).map(|g| cells::cell_name(g, names)).collect(),
            labels: frames.iter().map(|f| f.cell).collect(),
            target: joint_target.to_vec(),
            reference: None,
            confusion: None,
        });
    }
    Ok(out)
}

/// Audits several attributes into one report.
pub fn audit(inputs: &[AttributeInput], config: &AuditConfig) -> Result<AuditReport> {
    Ok(AuditReport {
        schema_version: SCHEMA_VERSION,
        run: RunInfo::now("audit"),
        config: config.clone(),
        attributes: inputs
            .iter()
            .map(|i| audit_attribute(i, config))
            .collect::<Result<_>>()?,
        paired: Vec::new(),
        directional: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_the_calendar() {
        assert_eq!(utc_date(0), "1970-01-01T00:00:00Z");
        // A leap day, the end of a century and an ordinary afternoon.
        assert_eq!(utc_date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_date(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(utc_date(1_796_560_932), "2026-12-06T12:42:12Z");
    }
}
