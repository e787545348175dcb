//! The Bias Audit report as a reader meets it: the numbers in the HTML agree
//! with the JSON, the chart's legend and labels stay clear of the data, p-values
//! are honest about underflow, and the page is small and self-contained.

use equifx::fairness::intervals::ConfusionCounts;
use equifx::fairness::{audit_attribute, AttributeInput, AuditConfig, Verdict};
use equifx::rng::StreamRng;

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

fn warm(n: usize, p: f64, seed: u64) -> AttributeInput {
    AttributeInput {
        name: "warm".into(),
        classes: vec!["warm-".into(), "warm+".into()],
        labels: bernoulli(seed, n, p),
        target: vec![0.5, 0.5],
        reference: Some(vec![330, 670]),
        confusion: Some(confusion()),
    }
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
