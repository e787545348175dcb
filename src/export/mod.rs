//! A bundle's networks for other runtimes: ONNX graphs of the encoder, the
//! decoder, the cINN per domain in both directions and the whole translation
//! per ordered domain pair, with `export.json` and `README.txt` describing
//! them (docs/onnx.md). The graphs cover the networks on model-space tensors;
//! colour encoding, resizing, padding, tiling, strength blending and
//! highlights stay with the host, as listed in the description.

pub mod onnx;
pub mod proto;

use std::path::Path;

use candle_core::Device;
use prost::Message;
use serde::Serialize;

use self::onnx::{float_value, Dim, Graph, Weights};
use crate::error::{Error, Result};
use crate::frame::ColourSpace;
use crate::model::bundle::{sha256_hex, WEIGHTS_FILE};
use crate::model::{Bundle, ModelConfig};

/// The file describing an export, for programs.
pub const EXPORT_JSON: &str = "export.json";
/// The same description, for people.
pub const README_TXT: &str = "README.txt";

/// One input or output of an exported graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: String,
    /// Dimensions: numbers are fixed, names symbolic (`N`, `H`, `W`, …).
    pub shape: Vec<Dim>,
    /// The values it holds.
    pub range: String,
}

/// One exported graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphSpec {
    pub file: String,
    /// `encoder`, `decoder`, `cinn_forward`, `cinn_inverse` or `translate`.
    pub kind: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_domain: Option<String>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub nodes: usize,
    pub bytes: usize,
    pub sha256: String,
}

/// The bundle an export was made from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportedBundle {
    pub path: String,
    pub weights_sha256: String,
    pub domains: Vec<String>,
    pub colour_space: ColourSpace,
    pub image_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_scale: Option<f64>,
    /// Image sides must be multiples of this.
    pub alignment: usize,
    pub architecture: ModelConfig,
}

/// What `export.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnnxExport {
    pub format: String,
    pub format_version: u32,
    pub equifx_version: String,
    pub onnx_opset: i64,
    pub onnx_ir_version: i64,
    pub bundle: ExportedBundle,
    /// What a host does to its pixels before the graphs.
    pub preprocessing: Vec<String>,
    /// What a host does to the graphs' outputs.
    pub postprocessing: Vec<String>,
    pub graphs: Vec<GraphSpec>,
}

impl OnnxExport {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Internal(format!("cannot write the export description: {e}")))
    }

    pub fn total_bytes(&self) -> usize {
        self.graphs.iter().map(|g| g.bytes).sum()
    }
}

/// File-name stems for the domains: letters, digits, `-` and `_` kept, other
/// characters `_`; names that would clash (ignoring case) get their index.
pub fn domain_stems(domains: &[String]) -> Vec<String> {
    let clean: Vec<String> = domains
        .iter()
        .map(|d| {
            d.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        })
        .collect();
    clean
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let clash = clean
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && o.eq_ignore_ascii_case(s));
            match (s.is_empty(), clash) {
                (true, _) => format!("domain{i}"),
                (false, true) => format!("{s}_{i}"),
                (false, false) => s.clone(),
            }
        })
        .collect()
}

const IMAGE_IN: &str = "[0, 1] in the bundle's colour encoding (see preprocessing)";
const IMAGE_OUT: &str = "(0, 1) (a sigmoid), the bundle's colour encoding";
const LATENT: &str = "real, unbounded: the autoencoder's latent z";
const GAUSSIAN: &str =
    "real: the shared space v, about standard normal per element for images of the domain";

fn spec(name: &str, dims: &[Dim], range: &str) -> TensorSpec {
    TensorSpec {
        name: name.to_string(),
        dtype: "float32".to_string(),
        shape: dims.to_vec(),
        range: range.to_string(),
    }
}

/// What the host does around the graphs, in the bundle's own terms.
fn processing(m: &crate::model::Manifest) -> (Vec<String>, Vec<String>) {
    let align = m.architecture.align();
    let mut pre = Vec::new();
    if m.colour_space == ColourSpace::Srgb {
        pre.push(
            "Colour: the networks see sRGB-encoded RGB. Convert scene-linear RGB with the sRGB \
             transfer function (per channel, sign kept: 12.92·v below 0.0031308, else \
             1.055·v^(1/2.4) − 0.055) and clamp to [0, 1]; alpha does not go through the network."
                .to_string(),
        );
    } else {
        pre.push(
            "Colour: the networks see linear RGB as it is, clamped to [0, 1]; alpha does not go \
             through the network."
                .to_string(),
        );
    }
    pre.push(
        "Layout: float32 N×3×H×W (planar RGB, rows top to bottom), values in [0, 1].".to_string(),
    );
    pre.push(format!(
        "Size: H and W must be multiples of {align}; pad (equifx reflects the border) and crop \
         the result back."
    ));
    pre.push(match m.pixel_scale {
        Some(s) => format!(
            "Scale: the bundle was trained on crops at {s} × the source pixels; equifx runs \
             Domain Transfer at that scale of the frame's own resolution (in tiles)."
        ),
        None => format!(
            "Scale: the bundle was trained on whole pictures at {0}×{0}; equifx runs Domain \
             Transfer with the shorter side resized to {0} (never upscaled) and resizes back.",
            m.image_size
        ),
    });
    let back = if m.colour_space == ColourSpace::Srgb {
        "Outputs are in the same encoding as the inputs: convert sRGB back to scene-linear \
         (the inverse of the above) for a linear pipeline, and put alpha back."
    } else {
        "Outputs are linear RGB like the inputs; put alpha back."
    };
    let post = vec![
        back.to_string(),
        "Full strength only: translate_* is x' = D(F⁻¹(F(E(x); s); t)). equifx's strength σ < 1 \
         is D((1 − σ)·z + σ·z') + (1 − σ)·(x − D(z)) with z = E(x), z' = F⁻¹(F(z; s); t) (the \
         encoder, cinn_* and decoder graphs), clamped to [0, 1]."
            .to_string(),
        "Same source and target: equifx returns D(E(x)) (encoder then decoder), without the cINN."
            .to_string(),
        "Not in the graphs: equifx's tiling with overlap, highlights above 1 carried around the \
         network, and the automatic source-domain detection (which needs the flow's \
         log-determinant)."
            .to_string(),
    ];
    (pre, post)
}

/// Exports the networks of the bundle at `bundle_dir` into the folder
/// `out_dir` (created when missing; files of an earlier export are replaced).
/// Every file is written atomically.
pub fn export_onnx(bundle_dir: &Path, out_dir: &Path) -> Result<OnnxExport> {
    // The loader checks the manifest, the hash, every tensor's name, shape and
    // values and the permutations; the prior plays no part in the graphs.
    let bundle = Bundle::load_without_prior(bundle_dir, &Device::Cpu)?;
    let m = &bundle.manifest;
    let cfg = &m.architecture;
    let wpath = bundle_dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&wpath).map_err(|e| Error::io(&wpath, e))?;
    if sha256_hex(&bytes) != m.weights_sha256 {
        return Err(Error::Model(format!(
            "{}: changed while it was being exported; export again",
            wpath.display()
        )));
    }
    let weights = Weights::from_safetensors(&bytes)?;

    if out_dir.exists() && !out_dir.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{}: the export goes to a folder, and this is a file",
            out_dir.display()
        )));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;

    let c = cfg.latent_channels;
    let image = |h: &str, w: &str| vec![Dim::sym("N"), Dim::Fixed(3), Dim::sym(h), Dim::sym(w)];
    let latent = |h: &str, w: &str| vec![Dim::sym("N"), Dim::Fixed(c), Dim::sym(h), Dim::sym(w)];
    let domains_json = serde_json::to_string(&m.domains)
        .map_err(|e| Error::Internal(format!("cannot list the domains: {e}")))?;
    let stems = domain_stems(&m.domains);

    let mut graphs = Vec::new();
    let mut write = |kind: &str,
                     file: String,
                     description: String,
                     domains: [Option<usize>; 3],
                     io: [(&str, Vec<Dim>, &str); 2],
                     build: &dyn Fn(&mut Graph, &str) -> Result<String>|
     -> Result<()> {
        let [(in_name, in_dims, in_range), (out_name, out_dims, out_range)] = io;
        let mut g = Graph::new(&weights);
        let y = build(&mut g, in_name)?;
        g.output(&y, out_name);
        let nodes = g.node_count();
        let name = |d: Option<usize>| d.map(|d| m.domains[d].clone());
        let [domain, source, target] = domains.map(name);
        let mut meta = vec![
            ("equifx.kind".to_string(), kind.to_string()),
            (
                "equifx.weights_sha256".to_string(),
                m.weights_sha256.clone(),
            ),
            (
                "equifx.colour_space".to_string(),
                m.colour_space.to_string(),
            ),
            ("equifx.alignment".to_string(), cfg.align().to_string()),
            ("equifx.domains".to_string(), domains_json.clone()),
        ];
        for (k, v) in [
            ("domain", &domain),
            ("source_domain", &source),
            ("target_domain", &target),
        ] {
            if let Some(v) = v {
                meta.push((format!("equifx.{k}"), v.clone()));
            }
        }
        let model = g.into_model(
            file.trim_end_matches(".onnx"),
            &description,
            vec![float_value(in_name, &in_dims, in_range)],
            vec![float_value(out_name, &out_dims, out_range)],
            &meta,
        );
        let bytes = model.encode_to_vec();
        crate::io::write_bytes_atomic(&out_dir.join(&file), &bytes)?;
        graphs.push(GraphSpec {
            file,
            kind: kind.to_string(),
            description,
            domain,
            source_domain: source,
            target_domain: target,
            inputs: vec![spec(in_name, &in_dims, in_range)],
            outputs: vec![spec(out_name, &out_dims, out_range)],
            nodes,
            bytes: bytes.len(),
            sha256: sha256_hex(&bytes),
        });
        Ok(())
    };

    write(
        "encoder",
        "encoder.onnx".into(),
        "Encoder E: image x → latent z at 1/8 of its size.".into(),
        [None; 3],
        [
            ("x", image("H", "W"), IMAGE_IN),
            ("z", latent("H/8", "W/8"), LATENT),
        ],
        &|g, x| onnx::encoder(g, x),
    )?;
    write(
        "decoder",
        "decoder.onnx".into(),
        "Decoder D: latent z → image x at 8 × its size.".into(),
        [None; 3],
        [
            ("z", latent("h", "w"), LATENT),
            ("x", image("8h", "8w"), IMAGE_OUT),
        ],
        &|g, z| onnx::decoder(g, z),
    )?;
    let even = if cfg.cinn_squeeze {
        " (h and w even)"
    } else {
        ""
    };
    for (d, stem) in stems.iter().enumerate() {
        let name = &m.domains[d];
        write(
            "cinn_forward",
            format!("cinn_forward_{stem}.onnx"),
            format!("cINN forward v = F(z; {name}): latent z{even} → shared space v."),
            [Some(d), None, None],
            [
                ("z", latent("h", "w"), LATENT),
                ("v", latent("h", "w"), GAUSSIAN),
            ],
            &|g, z| onnx::cinn_forward(g, cfg, z, d),
        )?;
        write(
            "cinn_inverse",
            format!("cinn_inverse_{stem}.onnx"),
            format!("cINN inverse z = F⁻¹(v; {name}): shared space v{even} → latent z."),
            [Some(d), None, None],
            [
                ("v", latent("h", "w"), GAUSSIAN),
                ("z", latent("h", "w"), LATENT),
            ],
            &|g, v| onnx::cinn_inverse(g, cfg, v, d),
        )?;
    }
    for (s, s_stem) in stems.iter().enumerate() {
        for (t, t_stem) in stems.iter().enumerate() {
            if s == t {
                continue;
            }
            let (sn, tn) = (&m.domains[s], &m.domains[t]);
            write(
                "translate",
                format!("translate_{s_stem}_to_{t_stem}.onnx"),
                format!(
                    "Domain Transfer {sn} → {tn} at full strength: y = D(F⁻¹(F(E(x); {sn}); {tn}))."
                ),
                [None, Some(s), Some(t)],
                [
                    ("x", image("H", "W"), IMAGE_IN),
                    ("y", image("H", "W"), IMAGE_OUT),
                ],
                &|g, x| {
                    let z = onnx::encoder(g, x)?;
                    let v = onnx::cinn_forward(g, cfg, &z, s)?;
                    let z2 = onnx::cinn_inverse(g, cfg, &v, t)?;
                    onnx::decoder(g, &z2)
                },
            )?;
        }
    }

    let (preprocessing, postprocessing) = processing(m);
    let export = OnnxExport {
        format: "equifx-onnx-export".to_string(),
        format_version: 1,
        equifx_version: env!("CARGO_PKG_VERSION").to_string(),
        onnx_opset: onnx::OPSET,
        onnx_ir_version: onnx::IR_VERSION,
        bundle: ExportedBundle {
            path: bundle_dir.display().to_string(),
            weights_sha256: m.weights_sha256.clone(),
            domains: m.domains.clone(),
            colour_space: m.colour_space,
            image_size: m.image_size,
            pixel_scale: m.pixel_scale,
            alignment: cfg.align(),
            architecture: cfg.clone(),
        },
        preprocessing,
        postprocessing,
        graphs,
    };
    crate::io::write_bytes_atomic(&out_dir.join(EXPORT_JSON), export.to_json()?.as_bytes())?;
    crate::io::write_bytes_atomic(&out_dir.join(README_TXT), readme(&export).as_bytes())?;
    Ok(export)
}

/// `README.txt`: the description for people.
pub fn readme(e: &OnnxExport) -> String {
    let b = &e.bundle;
    let mut s = format!(
        "ONNX export of an equifx model bundle\n\
         =====================================\n\n\
         bundle:          {}\n\
         weights sha256:  {}\n\
         domains:         {}\n\
         colour encoding: {}\n\
         alignment:       image sides are multiples of {}\n\
         ONNX:            opset {}, IR version {}, float32; written by equifx {}\n\n\
         Every graph takes one float32 input and gives one float32 output. N, H, W\n\
         (and h, w for latents) are free: any batch size, any aligned image size.\n\
         export.json says the same for programs; docs/onnx.md in the equifx sources\n\
         has an ONNX Runtime example.\n\n",
        b.path,
        b.weights_sha256,
        b.domains.join(", "),
        b.colour_space,
        b.alignment,
        e.onnx_opset,
        e.onnx_ir_version,
        e.equifx_version
    );
    s += "Before the graphs (the host's job)\n----------------------------------\n";
    for p in &e.preprocessing {
        s += &format!("- {p}\n");
    }
    s += "\nAfter the graphs\n----------------\n";
    for p in &e.postprocessing {
        s += &format!("- {p}\n");
    }
    s += "\nGraphs\n------\n";
    for g in &e.graphs {
        s += &format!("{}\n  {}\n", g.file, g.description);
        let io = |dir: &str, t: &TensorSpec| {
            format!(
                "  {dir} {:<2} {} [{}]: {}\n",
                t.name,
                t.dtype,
                t.shape
                    .iter()
                    .map(Dim::label)
                    .collect::<Vec<_>>()
                    .join(", "),
                t.range
            )
        };
        for t in &g.inputs {
            s += &io("in ", t);
        }
        for t in &g.outputs {
            s += &io("out", t);
        }
        s += &format!(
            "  {} nodes, {} bytes, sha256 {}\n\n",
            g.nodes, g.bytes, g.sha256
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_stems_are_file_safe_and_distinct() {
        let d = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(domain_stems(&d(&["photo", "oil"])), ["photo", "oil"]);
        assert_eq!(
            domain_stems(&d(&["a/b", "a b", "", "Oil", "oil", "x-y_z"])),
            ["a_b_0", "a_b_1", "domain2", "Oil_3", "oil_4", "x-y_z"]
        );
    }
}
