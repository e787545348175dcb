//! `equifx rebalance`: plans (and applies) the fewest, smallest edits that
//! bring a batch of images to a target attribute mix.

use std::path::PathBuf;

use equifx::fairness::group_target::group_target;
use equifx::fairness::rebalance::PlanContext;
use equifx::fairness::{group_rebalance, ipf, plan_rebalance, EditMode};
use equifx::io::{read_image, write_image};
use equifx::model::latents::{apply_edit, encode};
use equifx::sequence::FramePattern;
use equifx::Error;

use crate::targets::{expand_inputs, ModelArgs, TargetArgs};

#[derive(clap::Args)]
#[command(after_help = "Example (plan and edit a shot to 50 % warm):\n  \
    equifx rebalance shot/frame_####.png --domain photo --target warm=0.5 --plan shot.plan.json --out fixed/frame_####.png")]
pub struct RebalanceArgs {
    /// Input images: files or `#` sequence patterns, in batch order.
    #[arg(required = true)]
    inputs: Vec<String>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    target: TargetArgs,
    /// `minimal` (cross each flipped boundary by the margin) or `mirror`
    /// (reflect the score, keeping the attribute's intensity).
    #[arg(long, default_value = "minimal")]
    mode: String,
    /// Distance past a boundary an edited score must land (in v-space units).
    #[arg(long, default_value_t = 0.5)]
    margin: f64,
    /// Where to write the plan (JSON) the Rebalance node applies frame by frame.
    #[arg(long)]
    plan: PathBuf,
    /// Also write the rebalanced images (pattern with `#` for the batch index);
    /// unedited images are written unchanged.
    #[arg(long)]
    out: Option<String>,
    /// Rebalance over the domain's label-free groups instead of its
    /// attributes: `uniform`, shares by group name (`warm=0.5, *=natural`) or
    /// one share per group. An edited image moves to the nearest mixture
    /// component of its new group, keeping its own variation.
    #[arg(long, value_name = "uniform|NAME=SHARE,…|S0,S1,…", conflicts_with_all = ["marginals", "joint"])]
    groups: Option<String>,
}

pub fn run(args: RebalanceArgs) -> equifx::Result<()> {
    let mode = match args.mode.as_str() {
        "minimal" => EditMode::Minimal,
        "mirror" => EditMode::Mirror,
        m => {
            return Err(Error::InvalidArgument(format!(
                "--mode '{m}': use minimal or mirror"
            )))
        }
    };
    let (bundle, domain, heads) = args.model.load()?;
    let files = expand_inputs(&args.inputs)?;
    let loaded = files
        .iter()
        .map(|f| read_image(f))
        .collect::<equifx::Result<Vec<_>>>()?;
    let images: Vec<_> = loaded.iter().map(|l| l.image.clone()).collect();
    let n = images.len() as u64;
    let vs = encode(&bundle, &images, domain)?;
    let (mut plan, classes) = match &args.groups {
        Some(spec) => {
            let name = &bundle.manifest.domains[domain];
            let (Some(groups), Some(prior)) = (bundle.manifest.groups.get(name), &bundle.prior)
            else {
                return Err(Error::InvalidArgument(format!(
                    "--groups: the model has no label-free groups for domain '{name}': find \
                     them with `equifx model groups BUNDLE --domain {name}`"
                )));
            };
            let target = group_target(spec, groups)?;
            let counts = ipf::largest_remainder(&target, n);
            let plan = group_rebalance::plan(&vs, prior.components(domain), groups, &counts)?;
            (plan, "groups".to_string())
        }
        None => {
            let heads = args.model.need_heads(&bundle, heads.clone())?;
            let target = ipf::resolve(&args.target.resolve(&heads)?, &heads)?;
            let scores: Vec<Vec<f64>> = vs.iter().map(|v| heads.scores(v)).collect();
            let counts = ipf::largest_remainder(&target, n);
            let plan = plan_rebalance(&scores, heads.sigma_inv(), &counts, mode, args.margin)?;
            (plan, format!("cells {}", heads.names().join("×")))
        }
    };
    plan.context = Some(PlanContext {
        weights_sha256: bundle.manifest.weights_sha256.clone(),
        domain: bundle.manifest.domains[domain].clone(),
        attributes: heads.as_ref().map_or_else(Vec::new, |h| h.names().to_vec()),
    });
    equifx::io::write_bytes_atomic(&args.plan, plan.to_json()?.as_bytes())?;
    eprintln!(
        "{n} images; {classes} before {:?}, after {:?}; {} edited (the minimum), total ‖Δv‖² {:.3}; plan in {}",
        plan.counts_before,
        plan.counts_after,
        plan.edits.len(),
        plan.total_cost(),
        args.plan.display()
    );
    let Some(out) = args.out else { return Ok(()) };
    let pattern = FramePattern::parse(&out)?;
    if !pattern.is_sequence() && n > 1 {
        return Err(Error::InvalidArgument(format!(
            "--out '{out}' has no # for the batch index"
        )));
    }
    let bar = indicatif::ProgressBar::new(n);
    for (i, (l, v)) in loaded.iter().zip(&vs).enumerate() {
        let path = pattern.path(i as i64);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let img = match plan.edit_for(i) {
            Some(edit) => {
                let mut edited = v.clone();
                edit.apply(&mut edited, heads.as_ref())?;
                apply_edit(&bundle, &l.image, v, &edited, domain)?
            }
            None => l.image.clone(),
        };
        write_image(&path, &img, l.depth)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}
