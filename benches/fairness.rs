//! Fairness math without networks (spec DESIGN: "rebalanced sampling of 10,000
//! latents under 50 ms on the CPU"): the Fair Sampler drawing 10k latents of
//! the default bundle's size (512) with two correlated heads, the same with the
//! shipped bundle's own heads and prior mixture, the Rebalance plan of a 10k
//! batch, the audit of 10k frames' metadata, the same jobs over label-free
//! groups (finding them, sampling, planning), and decoded pictures per second
//! with and without the Fair Sampler's check by the pixels.
//!
//! `cargo bench --bench fairness`

use criterion::{criterion_group, criterion_main, Criterion};
use equifx::fairness::audit::inputs_from_frames;
use equifx::fairness::{
    audit, plan_rebalance, AttributeHead, AuditConfig, EditMode, FairSampler, HeadSet,
    SamplerOptions, Target,
};
use equifx::rng::StreamRng;

const D: usize = 512;
const N: u64 = 10_000;

fn heads() -> HeadSet {
    let mut r = StreamRng::new(1, b"bench-heads", 0);
    let mut head = |name: &str, b: f64| AttributeHead {
        name: name.into(),
        w: (0..D).map(|_| r.normal()).collect(),
        b,
        confusion: None,
    };
    let (a, mut c) = (head("warm", -8.0), head("round", 12.0));
    // Correlate the two heads (cos ≈ 0.3) as real attribute directions are.
    c.w.iter_mut()
        .zip(&a.w)
        .for_each(|(x, y)| *x = 0.95 * *x + 0.3 * y);
    HeadSet::new(&[a, c], D).expect("heads")
}

fn bench(c: &mut Criterion) {
    let hs = heads();
    let target = Target::Marginals(vec![Some(0.5), Some(0.5)]);
    let mut g = c.benchmark_group("fairness");
    g.sample_size(10);
    g.bench_function("sample 10k latents (D = 512, K = 2)", |b| {
        b.iter(|| {
            let s = FairSampler::new(hs.clone(), &target, N, 7, SamplerOptions::default())
                .expect("sampler");
            s.sample_range(0..N).expect("sample")
        })
    });
    let bundle = equifx::model::Bundle::load(
        &equifx::model::bundle::default_bundle_dir(),
        &candle_core::Device::Cpu,
    )
    .expect("the shipped bundle");
    let shipped = equifx::model::latents::head_set(&bundle, "photo").expect("heads");
    let components = bundle.prior.as_ref().map_or(1, |p| {
        p.components(bundle.manifest.domain_index("photo").unwrap_or(0))
            .len()
    });
    g.bench_function(
        format!("sample 10k latents, shipped photo heads and prior mixture (K = 2, {components} components)"),
        |b| {
            b.iter(|| {
                let s = FairSampler::new(shipped.clone(), &target, N, 7, SamplerOptions::default())
                    .expect("sampler");
                s.sample_range(0..N).expect("sample")
            })
        },
    );
    let s = FairSampler::new(
        hs.clone(),
        &Target::Joint(vec![0.6, 0.2, 0.15, 0.05]),
        N,
        8,
        SamplerOptions::default(),
    )
    .expect("sampler");
    let items = s.sample_range(0..N).expect("sample");
    let scores: Vec<Vec<f64>> = items.iter().map(|i| i.meta.scores.clone()).collect();
    let counts = equifx::fairness::ipf::largest_remainder(&[0.25; 4], N);
    g.bench_function("rebalance plan of 10k items (K = 2)", |b| {
        b.iter(|| {
            plan_rebalance(&scores, hs.sigma_inv(), &counts, EditMode::Minimal, 0.5).expect("plan")
        })
    });
    let frames: Vec<_> = items.iter().map(|i| i.meta.clone()).collect();
    let names = hs.names().to_vec();
    g.bench_function("audit 10k frames' metadata", |b| {
        b.iter(|| {
            let inputs = inputs_from_frames(&frames, &names, &[0.25; 4]).expect("inputs");
            audit(&inputs, &AuditConfig::default()).expect("audit")
        })
    });
    groups(&mut g, &bundle);
    pictures(&mut g, &bundle);
    g.finish();
}

/// Label-free groups on the shipped photo prior: finding them (`--groups
/// auto` and two), and the group sampler and group rebalance at 10k items.
fn groups(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    bundle: &equifx::model::Bundle,
) {
    use equifx::fairness::group_rebalance;
    use equifx::fairness::group_sampler::GroupSampler;
    use equifx::fairness::groups::{discover, GroupCount, AUTO_MAX};
    let Some(prior) = &bundle.prior else { return };
    let comps = prior.components(bundle.manifest.domain_index("photo").unwrap_or(0));
    g.bench_function(
        format!(
            "find groups automatically (photo, {} components)",
            comps.len()
        ),
        |b| b.iter(|| discover(comps, GroupCount::Auto { max: AUTO_MAX }, 0).expect("groups")),
    );
    g.bench_function(
        format!("find 2 groups (photo, {} components)", comps.len()),
        |b| b.iter(|| discover(comps, GroupCount::Fixed(2), 0).expect("groups")),
    );
    let two = discover(comps, GroupCount::Fixed(2), 0).expect("groups");
    g.bench_function("sample 10k latents over 2 groups, uniform", |b| {
        b.iter(|| {
            GroupSampler::new(comps, &two, &[0.5, 0.5], N, 7)
                .expect("sampler")
                .sample_range(0..N)
                .expect("sample")
        })
    });
    let natural: Vec<Vec<f32>> = GroupSampler::new(comps, &two, &two.shares, N, 8)
        .expect("sampler")
        .sample_range(0..N)
        .expect("sample")
        .into_iter()
        .map(|i| i.e)
        .collect();
    let counts = equifx::fairness::ipf::largest_remainder(&[0.5, 0.5], N);
    g.bench_function("rebalance plan of 10k items over 2 groups", |b| {
        b.iter(|| group_rebalance::plan(&natural, comps, &two, &counts).expect("plan"))
    });
}

/// Pictures per second: 1000 Fair Sampler pictures of each domain at
/// 25/25/25/25 over warm × round, decoded, with and without the check by the
/// pixels (which decodes and reads one picture per candidate).
fn pictures(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    bundle: &equifx::model::Bundle,
) {
    use equifx::model::pixel_check::{sample_checked, CheckOptions};
    const PICTURES: u64 = 1000;
    for domain in ["photo", "oil", "anime"] {
        let heads = equifx::model::latents::head_set(bundle, domain).expect("heads");
        let d = bundle.manifest.domain_index(domain).expect("domain");
        let target = Target::Joint(vec![0.25; 1 << heads.k()]);
        let sampler = FairSampler::new(heads, &target, PICTURES, 7, SamplerOptions::default())
            .expect("sampler");
        for (what, tries) in [("unchecked", 0), ("checked", CheckOptions::default().tries)] {
            let check = CheckOptions {
                tries,
                ..CheckOptions::default()
            };
            g.bench_function(
                format!("1000 {domain} pictures, 25/25/25/25, {what}"),
                |b| {
                    b.iter(|| {
                        sample_checked(bundle, &sampler, d, 0..PICTURES, check).expect("sample")
                    })
                },
            );
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
