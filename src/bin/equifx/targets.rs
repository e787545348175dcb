//! Arguments the fairness commands share: the model, the domain and targets.

use std::path::PathBuf;
use std::sync::Arc;

use clap::builder::{OsStringValueParser, TypedValueParser};
use equifx::fairness::{HeadSet, Target};
use equifx::model::Bundle;
use equifx::params::AttributeShares;
use equifx::Error;

#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    // Defaults (and the precision options) come from the manifest, per
    // subcommand node (`manifest_args`).
    /// Model bundle (with attribute heads). Default (or empty, as in the nodes'
    /// `model` parameter): the shipped bundle.
    // Read as an OsString: clap's PathBuf parser refuses the empty value a
    // farm template passes for "the shipped bundle".
    #[arg(long, value_parser = OsStringValueParser::new().map(PathBuf::from))]
    pub model: Option<PathBuf>,
    /// The domain the images are (or are generated) in: a domain of the model.
    #[arg(long)]
    pub domain: String,
    /// Where the network runs: auto, cpu, cuda[:N].
    #[arg(long)]
    pub device: String,
    /// Number format of the network: f32, f16 (GPU memory; slower on the CPU) or bf16 (CUDA only).
    #[arg(long)]
    pub precision: String,
}

impl ModelArgs {
    /// The bundle, the domain's index and its heads (`None` for a domain
    /// trained without labels that has label-free groups instead).
    pub fn load(&self) -> equifx::Result<(Arc<Bundle>, usize, Option<HeadSet>)> {
        let device = equifx::device::select(self.device.parse()?)?;
        let dir = self
            .model
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(equifx::model::bundle::default_bundle_dir);
        let dtype = self
            .precision
            .parse::<equifx::device::Precision>()?
            .dtype_on(&device)?;
        let bundle = Bundle::load_cached(&dir, &device, dtype)?;
        let domain = bundle.manifest.domain_index(&self.domain)?;
        let heads = equifx::model::latents::heads_if_labelled(&bundle, &self.domain)?;
        Ok((bundle, domain, heads))
    }

    /// The heads [`Self::load`] gave, for a job that needs them; without
    /// them, the error says how to fit them.
    pub fn need_heads(&self, bundle: &Bundle, heads: Option<HeadSet>) -> equifx::Result<HeadSet> {
        heads.map_or_else(
            || equifx::model::latents::head_set(bundle, &self.domain),
            Ok,
        )
    }
}

#[derive(clap::Args, Clone)]
pub struct TargetArgs {
    /// Target share of one of the model's attributes, `NAME=SHARE` (e.g.
    /// `smiling=0.5`, `*=0.5` for every attribute not named, `NAME=natural`);
    /// repeat. Unset attributes keep their natural share given the others
    /// (IPF). Without this flag or --joint: every attribute at 50 %.
    #[arg(long = "target", value_name = "NAME=SHARE")]
    pub marginals: Vec<String>,
    /// Full joint target over the 2^K attribute cells instead, comma-separated
    /// in cell order (bit k set = attribute k present, attributes in head order).
    #[arg(long, value_name = "P0,P1,…", conflicts_with = "marginals")]
    pub joint: Option<String>,
}

impl TargetArgs {
    /// The target for `heads`.
    pub fn resolve(&self, heads: &HeadSet) -> equifx::Result<Target> {
        if let Some(j) = &self.joint {
            let p = j
                .split(',')
                .map(|x| {
                    x.trim().parse::<f64>().map_err(|_| {
                        Error::InvalidArgument(format!("--joint: '{x}' is not a number"))
                    })
                })
                .collect::<equifx::Result<Vec<_>>>()?;
            return Ok(Target::Joint(p));
        }
        // Without flags: the Fair Sampler node's own default, so both agree.
        let text = if self.marginals.is_empty() {
            match equifx::manifest::node(equifx::nodes::fair_sampler::ID)?
                .param("shares")
                .map(|p| p.kind.default_value())
            {
                Some(equifx::params::ParamValue::Text(t)) => t,
                _ => String::new(),
            }
        } else {
            self.marginals.join(",")
        };
        let shares = AttributeShares::parse(&text)
            .and_then(|s| s.resolve(heads.names()))
            .map_err(|e| Error::InvalidArgument(format!("--target: {e}")))?;
        Ok(Target::Marginals(shares))
    }
}

/// Expands image arguments: plain files, or `#`/`%04d` sequence patterns.
pub fn expand_inputs(args: &[String]) -> equifx::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        let pattern = equifx::sequence::FramePattern::parse(a)?;
        if pattern.is_sequence() {
            out.extend(pattern.scan()?.into_iter().map(|f| pattern.path(f)));
        } else {
            out.push(PathBuf::from(a));
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidArgument("no input images".into()));
    }
    Ok(out)
}
