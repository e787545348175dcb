//! `equifx audit`: attribute ratios of a batch or sequence against the
//! training data and a target, with intervals, distances, amplification and
//! a verdict; reports as JSON, CSV and a self-contained HTML page.

use std::path::{Path, PathBuf};

use equifx::fairness::audit::{inputs_from_frames, AttributeInput, BootstrapConfig, RunInfo};
use equifx::fairness::groups::{most_probable, posterior, Groups};
use equifx::fairness::intervals::{self, Blocks, ConfusionCounts};
use equifx::fairness::metadata::FrameRecord;
use equifx::fairness::mixture::Component;
use equifx::fairness::{audit, ipf, AuditConfig, FrameMeta, HeadSet, Sidecar};
use equifx::io::read_image;
use equifx::model::latents::{encode, head_set};
use equifx::model::Bundle;
use equifx::Error;

use crate::targets::{expand_inputs, ModelArgs, TargetArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    equifx audit renders/frame_####.png --domain photo --report audit/shot010\n  \
    equifx audit --sidecar samples/sidecar.json --report audit/samples\n  \
    equifx audit --records audit-records/ --sequence --report audit/shot020\n  \
    equifx audit inputs/#.png --domain photo --outputs translated/#.png --output-domain oil --report audit/drift")]
pub struct AuditArgs {
    /// Images to classify with the model's heads (files or `#` patterns).
    inputs: Vec<String>,
    /// Audit the Fair Sampler's metadata instead of images.
    #[arg(long, conflicts_with_all = ["inputs", "records"])]
    sidecar: Option<PathBuf>,
    /// Audit the per-frame records a Bias Audit node wrote into this folder.
    #[arg(long, conflicts_with = "inputs")]
    records: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    target: TargetArgs,
    /// The frames are a sequence (consecutive frames are alike): intervals
    /// come from a moving-block bootstrap, never from i.i.d. formulas.
    #[arg(long)]
    sequence: bool,
    /// Paired audit of a transfer: the outputs, one per input in the same order.
    #[arg(long, requires = "output_domain")]
    outputs: Vec<String>,
    /// Domain of `--outputs` (its heads classify them).
    #[arg(long)]
    output_domain: Option<String>,
    /// Report path without extension: writes STEM.json, STEM.csv and STEM.html.
    #[arg(long)]
    report: PathBuf,
    /// Name of the run in the report's header. Default: the sidecar's or the
    /// records folder's name, or the folder of the first image.
    #[arg(long)]
    name: Option<String>,
}

impl AuditArgs {
    /// What was audited, as given on the command line.
    fn sources(&self) -> Vec<String> {
        let mut out: Vec<String> = if let Some(s) = &self.sidecar {
            vec![s.display().to_string()]
        } else if let Some(r) = &self.records {
            vec![r.display().to_string()]
        } else {
            self.inputs.clone()
        };
        out.extend(self.outputs.iter().map(|o| format!("outputs: {o}")));
        out
    }

    fn run_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let from_path = |p: &Path| {
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let name = if let Some(s) = &self.sidecar {
            from_path(s)
        } else if let Some(r) = &self.records {
            from_path(r)
        } else {
            self.inputs.first().map_or(String::new(), |i| {
                let p = Path::new(i);
                match p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    Some(dir) => from_path(dir),
                    None => from_path(p)
                        .trim_end_matches(['#', '%', '_', '-', '.'])
                        .to_string(),
                }
            })
        };
        if name.is_empty() {
            from_path(&self.report)
        } else {
            name
        }
    }
}

/// Head cells and scores of images under `domain`, and each image's
/// label-free group when the bundle has groups for the domain, with the
/// group's posterior probability (1 without groups).
fn classify(
    bundle: &Bundle,
    heads: Option<&HeadSet>,
    files: &[PathBuf],
    domain: usize,
) -> equifx::Result<(Vec<FrameMeta>, Vec<f64>)> {
    let groups = domain_groups(bundle, domain);
    let mut frames = Vec::with_capacity(files.len());
    let mut sureness = Vec::with_capacity(files.len());
    for (chunk_no, chunk) in files.chunks(64).enumerate() {
        let images = chunk
            .iter()
            .map(|f| read_image(f).map(|l| l.image))
            .collect::<equifx::Result<Vec<_>>>()?;
        for (i, v) in encode(bundle, &images, domain)?.iter().enumerate() {
            let group = match groups {
                Some((components, g)) => {
                    let group = most_probable(components, g, v).ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "{}: its latent is not finite, so it falls in no group",
                            chunk[i].display()
                        ))
                    })?;
                    sureness.push(posterior(components, g, v)[group]);
                    Some(group)
                }
                None => {
                    sureness.push(1.0);
                    None
                }
            };
            frames.push(FrameMeta {
                item: (chunk_no * 64 + i) as u64,
                seed: 0,
                cell: heads.map_or(0, |h| h.cell(v)),
                scores: heads.map_or_else(Vec::new, |h| h.scores(v)),
                group,
                pixel_check: None,
            });
        }
    }
    Ok((frames, sureness))
}

/// Pictures per class on the HTML page.
const EXAMPLES: usize = 8;

/// Per group, the PNGs of up to [`EXAMPLES`] of `files` it holds, the surest
/// first (height 64, the frame's aspect kept).
fn group_examples(
    files: &[PathBuf],
    frames: &[FrameMeta],
    sureness: &[f64],
    k: usize,
) -> equifx::Result<Vec<Vec<Vec<u8>>>> {
    let mut out = vec![Vec::new(); k];
    for (g, pictures) in out.iter_mut().enumerate() {
        let mut held: Vec<usize> = (0..frames.len())
            .filter(|&i| frames[i].group == Some(g))
            .collect();
        held.sort_by(|&a, &b| sureness[b].total_cmp(&sureness[a]).then(a.cmp(&b)));
        for &i in held.iter().take(EXAMPLES) {
            let img = read_image(&files[i])?.image;
            let h = 64;
            let w = (img.width() * h / img.height().max(1)).clamp(1, 4 * h);
            pictures.push(equifx::io::png_bytes(&equifx::frame::resize(&img, w, h))?);
        }
    }
    Ok(out)
}

/// The prior's components of `domain` and their label-free groups, if the
/// bundle has both.
fn domain_groups(bundle: &Bundle, domain: usize) -> Option<(&[Component], &Groups)> {
    let groups = bundle
        .manifest
        .groups
        .get(&bundle.manifest.domains[domain])?;
    Some((bundle.prior.as_ref()?.components(domain), groups))
}

/// The label-free groups as one more attribute: one class per group, a
/// uniform target, the groups' training shares as the reference; `None`
/// (with the reason) when the frames do not all carry a group of these.
fn groups_input(
    groups: &Groups,
    frames: &[FrameMeta],
    training_images: usize,
) -> std::result::Result<AttributeInput, String> {
    let k = groups.shares.len();
    if k < 2 {
        return Err(
            "the domain's label-free groups are one group: nothing to audit by groups".into(),
        );
    }
    let in_group: Vec<usize> = frames
        .iter()
        .map(|f| f.group.filter(|&g| g < k))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            "the domain has label-free groups, but these frames were scored without them (or with \
             other groups): audit the images, or render the records again"
                .to_string()
        })?;
    Ok(AttributeInput {
        name: "groups".into(),
        classes: (0..k).map(|g| groups.name(g)).collect(),
        labels: in_group,
        target: vec![1.0 / k as f64; k],
        reference: (training_images > 0).then(|| {
            groups
                .shares
                .iter()
                .map(|s| (s * training_images as f64).round() as u64)
                .collect()
        }),
        confusion: None,
    })
}

pub fn run(args: AuditArgs) -> equifx::Result<()> {
    if let Some(file) = args.records.as_ref().filter(|d| d.is_file()) {
        return Err(Error::InvalidArgument(format!(
            "--records {}: is a file, not a folder: give the folder the Bias Audit node wrote \
             its frame_*.json records into (or a sidecar with --sidecar)",
            file.display()
        )));
    }
    let (bundle, domain, heads) = args.model.load()?;
    let names = heads.as_ref().map_or(&[][..], |h| h.names());
    // Images audited from their pixels, and how sure each one's group is.
    let mut pictures = None;
    let frames: Sidecar = if let Some(s) = &args.sidecar {
        Sidecar::read(s)?
    } else if let Some(dir) = &args.records {
        FrameRecord::read_dir(dir)?
    } else {
        let files = expand_inputs(&args.inputs)?;
        let (metas, sureness) = classify(&bundle, heads.as_ref(), &files, domain)?;
        pictures = Some((files, sureness));
        Sidecar::from_frames(names.to_vec(), metas)
    };
    if frames.attributes != names {
        return Err(Error::InvalidArgument(format!(
            "the frames were scored with heads {:?}, but this model's {} heads are {names:?}",
            frames.attributes, args.model.domain,
        )));
    }
    let mut inputs = match &heads {
        Some(heads) => {
            let joint = ipf::resolve(&args.target.resolve(heads)?, heads)?;
            inputs_from_frames(&frames.frames, &frames.attributes, &joint)?
        }
        None => Vec::new(),
    };
    // Reference (training share) and head confusion per attribute, from the manifest.
    let m = &bundle.manifest;
    let stats = m.training.iter().find(|t| t.name == m.domains[domain]);
    let head_list = if heads.is_some() {
        m.heads_of(&m.domains[domain])?
    } else {
        &[]
    };
    for (input, head) in inputs.iter_mut().zip(head_list) {
        if let Some(share) = stats.and_then(|s| {
            s.attributes
                .get(&head.name)
                .map(|r| (r, s.labelled_count(&head.name)))
        }) {
            let on = (share.0 * share.1 as f64).round() as u64;
            input.reference = Some(vec![share.1 as u64 - on, on]);
        }
        input.confusion = head.confusion.map(|c| ConfusionCounts {
            counts: c.counts.iter().map(|r| r.to_vec()).collect(),
        });
    }
    if let Some((_, groups)) = domain_groups(&bundle, domain) {
        match groups_input(groups, &frames.frames, stats.map_or(0, |s| s.images)) {
            Ok(input) => inputs.push(input),
            Err(why) if inputs.is_empty() => return Err(Error::InvalidArgument(why)),
            Err(why) => eprintln!("{why}"),
        }
    }
    let n = frames.frames.len();
    let config = AuditConfig {
        bootstrap: args.sequence.then(|| BootstrapConfig {
            blocks: Blocks::Moving(((n as f64).cbrt().round() as usize).max(1)),
            resamples: 2000,
            seed: 0,
        }),
        ..AuditConfig::default()
    };
    let mut report = audit(&inputs, &config)?;
    if let (Some((files, sureness)), Some(groups)) = (
        &pictures,
        // The groups come last (a head may be called "groups" too).
        report
            .attributes
            .iter_mut()
            .rev()
            .find(|a| a.name == "groups"),
    ) {
        groups.examples = group_examples(files, &frames.frames, sureness, groups.classes.len())?;
    }
    // Empty, as a farm template passes it, is the shipped bundle too.
    let model_dir = args
        .model
        .model
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(equifx::model::bundle::default_bundle_dir);
    report.run = RunInfo {
        inputs: args.sources(),
        model: Some(model_dir.display().to_string()),
        weights_sha256: Some(m.weights_sha256.clone()),
        domain: Some(args.model.domain.clone()),
        ..RunInfo::now(&args.run_name())
    };
    if !args.outputs.is_empty() {
        let out_domain_name = args.output_domain.as_deref().unwrap_or_default();
        let out_domain = m.domain_index(out_domain_name)?;
        let out_heads = head_set(&bundle, out_domain_name)?;
        let out_files = expand_inputs(&args.outputs)?;
        let (outs, _) = classify(&bundle, Some(&out_heads), &out_files, out_domain)?;
        if outs.len() != frames.frames.len() {
            return Err(Error::InvalidArgument(format!(
                "{} inputs but {} outputs: a paired audit needs one output per input",
                frames.frames.len(),
                outs.len()
            )));
        }
        let z = equifx::fairness::normal::isf((1.0 - config.level) / 2.0);
        for (k, name) in names.iter().enumerate() {
            let Some(ko) = out_heads.names().iter().position(|o| o == name) else {
                continue;
            };
            let a: Vec<bool> = frames.frames.iter().map(|f| f.scores[k] > 0.0).collect();
            let b: Vec<bool> = outs.iter().map(|f| f.scores[ko] > 0.0).collect();
            report
                .paired
                .push((name.clone(), intervals::mcnemar(&a, &b, z)?));
        }
    }
    if let Some(dir) = args.report.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    report.write_all(&args.report)?;
    for a in &report.attributes {
        let shares: Vec<String> = a
            .classes
            .iter()
            .map(|c| {
                format!(
                    "{} {:.1} % [{:.1}, {:.1}]",
                    c.name,
                    100.0 * c.share,
                    100.0 * c.interval.lo,
                    100.0 * c.interval.hi
                )
            })
            .collect();
        println!(
            "{} (N = {}): {} — {}",
            a.name,
            a.n,
            shares.join(", "),
            a.verdict.message()
        );
        if let Some(note) = &a.correction_note {
            println!("  no confusion-corrected values: {note}");
        }
    }
    for (name, p) in &report.paired {
        println!(
            "{name}: paired drift {:+.3} (b = {}, c = {}, p = {:.2e})",
            p.drift, p.b, p.c, p.p_value
        );
    }
    eprintln!("report: {}.{{json,csv,html}}", args.report.display());
    Ok(())
}
