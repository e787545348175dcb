//! The synthetic world's renders in the shipped bundle's fairness space with
//! the labels withheld from the prior: it is refitted without cells, so its
//! components split each whole domain, as `equifx train` fits them for data
//! without `labels.csv`. The networks are the shipped ones, whose cINN was
//! trained with shared attribute directions for the palette and the shape
//! (docs/fairness.md §8 says what changes with a cINN trained without
//! labels). The planted palette and shape of every render stay known, to
//! judge label-free groups by.

// Test files that share `common` for other parts use none of it.
#![allow(dead_code)]

use candle_core::Device;
use equifx::fairness::groups::{most_probable, Groups};
use equifx::fairness::mixture::Component;
use equifx::model::bundle::default_bundle_dir;
use equifx::model::latents::encode;
use equifx::model::{Bundle, Prior, PriorOptions};
use equifx::synth::{render_image, Bias, Palette, Scene, Shape, Style};
use rayon::prelude::*;

/// `equifx train`'s default prior options, as a studio's training without
/// labels fits them.
pub const TRAIN_DEFAULT_PRIOR: PriorOptions = PriorOptions {
    cluster_size: 6,
    spread: 0.6,
    seed: 0,
};

pub struct LabelFree {
    pub prior: Prior,
    /// Per domain (in `Style::ALL` order, the bundle's domain index), each
    /// render's whitened coordinates.
    pub points: Vec<Vec<Vec<f32>>>,
    /// Per domain, each render's (warm, round) as 0/1.
    pub truth: Vec<Vec<(usize, usize)>>,
    /// Per domain, each render's whole scene (position, size, background…).
    pub scenes: Vec<Vec<Scene>>,
}

/// `n` renders per domain at the domain's planted shares from `seed`,
/// encoded by the shipped bundle under a prior fitted without labels.
pub fn label_free(n: usize, seed: u64) -> LabelFree {
    let bundle = Bundle::load_without_prior(&default_bundle_dir(), &Device::Cpu).unwrap();
    let dim = bundle.manifest.latent_dim();
    let s = bundle.manifest.image_size;
    let mut vs = Vec::new();
    let mut truth = Vec::new();
    let mut all_scenes = Vec::new();
    for (i, style) in Style::ALL.into_iter().enumerate() {
        assert_eq!(bundle.manifest.domain_index(style.name()).unwrap(), i);
        let scenes: Vec<Scene> = (0..n as u64)
            .map(|k| Scene::sample(seed, k, Bias::default_for(style)))
            .collect();
        let frames: Vec<_> = scenes
            .par_iter()
            .map(|sc| render_image(sc, style, s, s))
            .collect();
        let v = encode(&bundle, &frames, i).unwrap();
        vs.push(v.into_iter().flatten().collect::<Vec<f32>>());
        truth.push(
            scenes
                .iter()
                .map(|sc| {
                    (
                        usize::from(sc.palette == Palette::Warm),
                        usize::from(sc.shape == Shape::Round),
                    )
                })
                .collect(),
        );
        all_scenes.push(scenes);
    }
    let cells = vec![Vec::new(); vs.len()];
    let prior = Prior::fit_with(&vs, &cells, dim, &TRAIN_DEFAULT_PRIOR).unwrap();
    let points = vs
        .iter()
        .enumerate()
        .map(|(d, v)| v.chunks_exact(dim).map(|x| prior.whiten(d, x)).collect())
        .collect();
    LabelFree {
        prior,
        points,
        truth,
        scenes: all_scenes,
    }
}

/// Each point's most probable group.
pub fn assign(components: &[Component], groups: &Groups, points: &[Vec<f32>]) -> Vec<usize> {
    points
        .par_iter()
        .map(|p| most_probable(components, groups, p).expect("a finite point"))
        .collect()
}

/// A copy of the shipped bundle in `dir` made like one `equifx train` makes
/// from folders without `labels.csv`: the prior fitted without labels on `n`
/// renders per domain, no heads and no attribute statistics, and `k`
/// label-free groups per domain (the shipped networks, see the module doc). Returns the bundle folder and the renders
/// the prior was fitted on.
pub fn label_free_bundle(
    dir: &std::path::Path,
    n: usize,
    seed: u64,
    k: usize,
) -> (std::path::PathBuf, LabelFree) {
    use equifx::fairness::groups::{discover, GroupCount};
    let world = label_free(n, seed);
    let out = dir.join("label-free-bundle");
    super::bundle::copy_default(&out);
    let mut manifest = Bundle::read_manifest(&out).unwrap();
    manifest.write_prior(&out, &world.prior).unwrap();
    manifest.heads.clear();
    for stats in &mut manifest.training {
        stats.attributes.clear();
    }
    for (d, name) in manifest.domains.clone().into_iter().enumerate() {
        let groups = discover(world.prior.components(d), GroupCount::Fixed(k), 0).unwrap();
        manifest.groups.insert(name, groups);
    }
    manifest.write(&out).unwrap();
    (out, world)
}
