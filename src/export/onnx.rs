//! The bundle's networks written out as ONNX graphs (opset 17, IR version 8):
//! the same operations, in the same order and with the same weights as
//! [`crate::model::autoencoder`] and [`crate::model::cinn`], so ONNX Runtime
//! reproduces equifx's outputs to float rounding.
//!
//! How each piece maps:
//! - conv2d → `Conv` (weights `[out, in, k, k]` and biases as stored);
//!   SiLU → `x · Sigmoid(x)` (opset 17 has no SiLU); nearest ×2 upsampling →
//!   `Resize` (nearest, asymmetric, floor: output pixel i reads input ⌊i/2⌋);
//! - ActNorm → `Add(shift)`, `Mul(exp(log_scale))` (the exponential taken
//!   here, in f32, as candle does);
//! - the stored channel permutation → `Gather` on axis 1;
//! - the 2×2 squeeze → `SpaceToDepth` followed by a `Gather` into equifx's
//!   channel order (c·4 + dy·2 + dx), its inverse → `DepthToSpace` in CRD
//!   mode, which is that order;
//! - a coupling → `Split`, the domain embedding `Expand`ed over space and
//!   `Concat`ed to the first half, the conv subnet, the soft clamp
//!   `2·tanh(s/2)` and the affine map of the second half.
//!
//! Every spatial size is a symbolic dimension; only the channel counts are
//! fixed.
//!
//! Long because it writes every layer of both networks node by node, in the
//! order the candle models run them; splitting it would separate each layer
//! from the one it must match.

use std::collections::{BTreeMap, HashSet};

use super::proto::{
    tensor_shape_proto, type_proto, AttributeProto, AttributeType, DataType, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::error::{Error, Result};
use crate::model::ModelConfig;

/// The ONNX operator set the graphs use.
pub const OPSET: i64 = 17;
/// The ONNX IR version the files declare.
pub const IR_VERSION: i64 = 8;

/// The soft clamp of the couplings' log-scales (`crate::model::cinn::coupling`).
const COUPLING_CLAMP: f32 = 2.0;

/// The tensors of a bundle's `weights.safetensors` (f32, little-endian).
pub struct Weights {
    tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)>,
}

impl Weights {
    /// Reads the f32 tensors of a safetensors file.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Weights> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Model(format!("weights are not readable safetensors ({e})")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(Error::Model(format!(
                    "tensor {name} is {:?}; bundles store f32",
                    view.dtype()
                )));
            }
            tensors.insert(name, (view.shape().to_vec(), view.data().to_vec()));
        }
        Ok(Weights { tensors })
    }

    fn get(&self, name: &str) -> Result<(&[usize], &[u8])> {
        self.tensors
            .get(name)
            .map(|(s, d)| (s.as_slice(), d.as_slice()))
            .ok_or_else(|| Error::Model(format!("the weights have no tensor {name}")))
    }

    fn floats(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (shape, data) = self.get(name)?;
        let v = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((shape.to_vec(), v))
    }
}

/// A dimension of a graph input or output (in JSON: a number or a name).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(usize),
    /// A symbolic dimension, e.g. `N` or `H`.
    Sym(String),
}

impl Dim {
    pub fn sym(s: &str) -> Dim {
        Dim::Sym(s.to_string())
    }

    pub fn label(&self) -> String {
        match self {
            Dim::Fixed(n) => n.to_string(),
            Dim::Sym(s) => s.clone(),
        }
    }
}

/// A float32 graph input or output.
pub fn float_value(name: &str, dims: &[Dim], doc: &str) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Dim::Fixed(n) => tensor_shape_proto::dimension::Value::DimValue(*n as i64),
                Dim::Sym(s) => tensor_shape_proto::dimension::Value::DimParam(s.clone()),
            }),
            denotation: None,
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: None,
        }),
        doc_string: Some(doc.to_string()),
    }
}

fn attr(name: &str, ty: AttributeType) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(ty as i32),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        i: Some(v),
        ..attr(name, AttributeType::Int)
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        ints: v.to_vec(),
        ..attr(name, AttributeType::Ints)
    }
}

fn attr_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        s: Some(v.as_bytes().to_vec()),
        ..attr(name, AttributeType::String)
    }
}

fn tensor(name: &str, dims: &[usize], ty: DataType, raw: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(ty as i32),
        name: Some(name.to_string()),
        doc_string: None,
        raw_data: Some(raw),
    }
}

/// A graph under construction: nodes in topological order and the
/// initializers they read, each added once.
pub struct Graph<'w> {
    weights: &'w Weights,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: HashSet<String>,
    next: usize,
}

impl<'w> Graph<'w> {
    pub fn new(weights: &'w Weights) -> Self {
        Graph {
            weights,
            nodes: Vec::new(),
            initializers: Vec::new(),
            names: HashSet::new(),
            next: 0,
        }
    }

    /// A stored tensor, as an initializer under its name in the bundle.
    fn stored(&mut self, name: &str) -> Result<String> {
        if !self.names.contains(name) {
            let (shape, data) = self.weights.get(name)?;
            let t = tensor(name, shape, DataType::Float, data.to_vec());
            self.initializers.push(t);
            self.names.insert(name.to_string());
        }
        Ok(name.to_string())
    }

    /// A constant computed here; `make` runs only the first time `name` is asked for.
    fn constant_f32(
        &mut self,
        name: &str,
        make: impl FnOnce(&Weights) -> Result<(Vec<usize>, Vec<f32>)>,
    ) -> Result<String> {
        if !self.names.contains(name) {
            let (dims, v) = make(self.weights)?;
            let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            self.initializers
                .push(tensor(name, &dims, DataType::Float, raw));
            self.names.insert(name.to_string());
        }
        Ok(name.to_string())
    }

    fn constant_i64(
        &mut self,
        name: &str,
        make: impl FnOnce(&Weights) -> Result<(Vec<usize>, Vec<i64>)>,
    ) -> Result<String> {
        if !self.names.contains(name) {
            let (dims, v) = make(self.weights)?;
            let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            self.initializers
                .push(tensor(name, &dims, DataType::Int64, raw));
            self.names.insert(name.to_string());
        }
        Ok(name.to_string())
    }

    /// Adds a node named after `scope` with `outputs` fresh output values.
    fn op(
        &mut self,
        op_type: &str,
        scope: &str,
        inputs: &[&str],
        outputs: usize,
        attribute: Vec<AttributeProto>,
    ) -> Vec<String> {
        let name = format!("{scope}/{op_type}_{}", self.next);
        self.next += 1;
        let output: Vec<String> = if outputs == 1 {
            vec![name.clone()]
        } else {
            (0..outputs).map(|i| format!("{name}:{i}")).collect()
        };
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.clone(),
            name: Some(name),
            op_type: Some(op_type.to_string()),
            domain: None,
            attribute,
            doc_string: None,
        });
        output
    }

    fn op1(
        &mut self,
        op_type: &str,
        scope: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.op(op_type, scope, inputs, 1, attribute).remove(0)
    }

    /// Renames the value `from` to the graph output `to` (an `Identity`).
    pub fn output(&mut self, from: &str, to: &str) {
        self.nodes.push(NodeProto {
            input: vec![from.to_string()],
            output: vec![to.to_string()],
            name: Some(format!("output/{to}")),
            op_type: Some("Identity".to_string()),
            ..Default::default()
        });
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The finished model.
    pub fn into_model(
        self,
        name: &str,
        doc: &str,
        input: Vec<ValueInfoProto>,
        output: Vec<ValueInfoProto>,
        metadata: &[(String, String)],
    ) -> ModelProto {
        ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(OPSET),
            }],
            producer_name: Some("equifx".to_string()),
            producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            domain: Some("org.equifx".to_string()),
            model_version: Some(1),
            doc_string: Some(doc.to_string()),
            graph: Some(GraphProto {
                node: self.nodes,
                name: Some(name.to_string()),
                initializer: self.initializers,
                doc_string: Some(doc.to_string()),
                input,
                output,
                value_info: Vec::new(),
            }),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------
// The networks
// ---------------------------------------------------------------------------

/// candle_nn's conv2d: weight `[out, in, k, k]`, bias `[out]`, square stride
/// and zero padding.
fn conv(g: &mut Graph, prefix: &str, x: &str, stride: usize, pad: usize) -> Result<String> {
    let w = g.stored(&format!("{prefix}.weight"))?;
    let b = g.stored(&format!("{prefix}.bias"))?;
    let k = match g.weights.get(&w)?.0 {
        [_, _, kh, kw] if kh == kw => *kh as i64,
        s => {
            return Err(Error::Model(format!(
                "{w} has shape {s:?}, expected a square conv kernel"
            )))
        }
    };
    let (s, p) = (stride as i64, pad as i64);
    Ok(g.op1(
        "Conv",
        prefix,
        &[x, &w, &b],
        vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[s, s]),
            attr_ints("pads", &[p, p, p, p]),
            attr_ints("dilations", &[1, 1]),
            attr_int("group", 1),
        ],
    ))
}

/// SiLU: x · σ(x).
fn silu(g: &mut Graph, scope: &str, x: &str) -> String {
    let s = g.op1("Sigmoid", scope, &[x], vec![]);
    g.op1("Mul", scope, &[x, &s], vec![])
}

/// Image (N × 3 × H × W, [0, 1]) → latent z (N × C × H/8 × W/8).
pub fn encoder(g: &mut Graph, x: &str) -> Result<String> {
    let p = "ae.encoder";
    let half = g.constant_f32("ae.encoder.input_centre", |_| Ok((vec![], vec![0.5])))?;
    let h = g.op1("Sub", p, &[x, &half], vec![]);
    let h = conv(g, "ae.encoder.stem", &h, 1, 1)?;
    let mut h = silu(g, "ae.encoder.stem", &h);
    for i in 0..3 {
        let s = format!("ae.encoder.stages.{i}");
        let c = conv(g, &s, &h, 2, 1)?;
        h = silu(g, &s, &c);
    }
    conv(g, "ae.encoder.out", &h, 1, 1)
}

/// Latent z (N × C × h × w) → image (N × 3 × 8h × 8w, in (0, 1)).
pub fn decoder(g: &mut Graph, z: &str) -> Result<String> {
    let scales = g.constant_f32("ae.decoder.upsample_scales", |_| {
        Ok((vec![4], vec![1.0, 1.0, 2.0, 2.0]))
    })?;
    let c = conv(g, "ae.decoder.stem", z, 1, 1)?;
    let mut h = silu(g, "ae.decoder.stem", &c);
    for i in 0..3 {
        let s = format!("ae.decoder.stages.{i}");
        let up = g.op1(
            "Resize",
            &s,
            &[&h, "", &scales],
            vec![
                attr_str("mode", "nearest"),
                attr_str("coordinate_transformation_mode", "asymmetric"),
                attr_str("nearest_mode", "floor"),
            ],
        );
        let c = conv(g, &s, &up, 1, 1)?;
        h = silu(g, &s, &c);
    }
    let o = conv(g, "ae.decoder.out", &h, 1, 1)?;
    Ok(g.op1("Sigmoid", "ae.decoder.out", &[&o], vec![]))
}

/// 2×2 space-to-depth in equifx's channel order (c·4 + dy·2 + dx).
fn squeeze(g: &mut Graph, cfg: &ModelConfig, x: &str) -> Result<String> {
    let c = cfg.latent_channels;
    // SpaceToDepth puts input channel c of block offset (dy, dx) at
    // (dy·2 + dx)·C + c; equifx's channel k = c·4 + dy·2 + dx reads from there.
    let order = g.constant_i64("cinn.squeeze.channel_order", |_| {
        Ok((
            vec![4 * c],
            (0..4 * c).map(|k| ((k % 4) * c + k / 4) as i64).collect(),
        ))
    })?;
    let s = g.op1(
        "SpaceToDepth",
        "cinn.squeeze",
        &[x],
        vec![attr_int("blocksize", 2)],
    );
    Ok(g.op1(
        "Gather",
        "cinn.squeeze",
        &[&s, &order],
        vec![attr_int("axis", 1)],
    ))
}

/// The inverse of [`squeeze`]: depth-to-space in CRD order is exactly it.
fn unsqueeze(g: &mut Graph, x: &str) -> String {
    g.op1(
        "DepthToSpace",
        "cinn.unsqueeze",
        &[x],
        vec![attr_int("blocksize", 2), attr_str("mode", "CRD")],
    )
}

/// The embedding of `domain` broadcast over the spatial size of `like`
/// (None when the embedding is empty).
fn condition(
    g: &mut Graph,
    cfg: &ModelConfig,
    like: &str,
    domain: usize,
) -> Result<Option<String>> {
    let k = cfg.embed_dim;
    if k == 0 {
        return Ok(None);
    }
    let scope = format!("cinn.condition.{domain}");
    let row = g.constant_f32(&format!("cinn.embedding.{domain}"), |w| {
        let (shape, v) = w.floats("cinn.embedding")?;
        if shape != [cfg.domains, k] || domain >= cfg.domains {
            return Err(Error::Model(format!(
                "cinn.embedding has shape {shape:?}, expected [{}, {k}]",
                cfg.domains
            )));
        }
        Ok((vec![1, k, 1, 1], v[domain * k..(domain + 1) * k].to_vec()))
    })?;
    let kdim = g.constant_i64("cinn.condition.channels", |_| Ok((vec![1], vec![k as i64])))?;
    let n = g.op1(
        "Shape",
        &scope,
        &[like],
        vec![attr_int("start", 0), attr_int("end", 1)],
    );
    let hw = g.op1(
        "Shape",
        &scope,
        &[like],
        vec![attr_int("start", 2), attr_int("end", 4)],
    );
    let shape = g.op1(
        "Concat",
        &scope,
        &[&n, &kdim, &hw],
        vec![attr_int("axis", 0)],
    );
    Ok(Some(g.op1("Expand", &scope, &[&row, &shape], vec![])))
}

/// ActNorm's exp(±log_scale), computed in f32 like candle does.
fn actnorm_scale(g: &mut Graph, prefix: &str, sign: f32) -> Result<String> {
    let suffix = if sign > 0.0 { "scale" } else { "inverse_scale" };
    g.constant_f32(&format!("{prefix}.actnorm.{suffix}"), |w| {
        let (shape, v) = w.floats(&format!("{prefix}.actnorm.log_scale"))?;
        Ok((shape, v.iter().map(|&l| (sign * l).exp()).collect()))
    })
}

/// The block's stored permutation (`forward`) or its inverse, as Gather indices.
fn permutation(g: &mut Graph, prefix: &str, forward: bool) -> Result<String> {
    let name = format!(
        "{prefix}.permutation.{}",
        if forward { "forward" } else { "inverse" }
    );
    let stored = format!("{prefix}.permutation");
    g.constant_i64(&name, |w| {
        let (shape, v) = w.floats(&stored)?;
        let n = v.len();
        let mut inverse = vec![usize::MAX; n];
        for (i, &o) in v.iter().enumerate() {
            let ok = o >= 0.0 && o.fract() == 0.0 && (o as usize) < n;
            if !ok || inverse[o as usize] != usize::MAX {
                return Err(Error::Model(format!("{stored} is not a permutation")));
            }
            inverse[o as usize] = i;
        }
        let idx: Vec<i64> = if forward {
            v.iter().map(|&o| o as i64).collect()
        } else {
            inverse.iter().map(|&i| i as i64).collect()
        };
        Ok((shape, idx))
    })
}

/// The coupling subnet: the scale (soft-clamped) and shift for the second half.
fn scale_shift(
    g: &mut Graph,
    prefix: &str,
    xa: &str,
    cond: Option<&str>,
) -> Result<(String, String)> {
    let scope = format!("{prefix}.coupling");
    let sub = format!("{prefix}.coupling.subnet");
    let input = match cond {
        Some(c) => g.op1("Concat", &scope, &[xa, c], vec![attr_int("axis", 1)]),
        None => xa.to_string(),
    };
    let h = conv(g, &format!("{sub}.conv1"), &input, 1, 1)?;
    let h = silu(g, &format!("{sub}.conv1"), &h);
    let h = conv(g, &format!("{sub}.conv2"), &h, 1, 0)?;
    let h = silu(g, &format!("{sub}.conv2"), &h);
    let st = conv(g, &format!("{sub}.out"), &h, 1, 1)?;
    let n = (g.weights.get(&format!("{sub}.out.bias"))?.0)[0] / 2;
    let split = g.constant_i64(&format!("cinn.split_{n}_{n}"), |_| {
        Ok((vec![2], vec![n as i64, n as i64]))
    })?;
    let parts = g.op(
        "Split",
        &scope,
        &[&st, &split],
        2,
        vec![attr_int("axis", 1)],
    );
    let clamp = g.constant_f32("cinn.coupling_clamp", |_| {
        Ok((vec![], vec![COUPLING_CLAMP]))
    })?;
    let s = g.op1("Div", &scope, &[&parts[0], &clamp], vec![]);
    let s = g.op1("Tanh", &scope, &[&s], vec![]);
    let s = g.op1("Mul", &scope, &[&s, &clamp], vec![]);
    Ok((s, parts[1].clone()))
}

/// Splits the channels into the half the subnet sees and the rest.
fn halves(g: &mut Graph, prefix: &str, x: &str, channels: usize) -> Result<(String, String)> {
    let scope = format!("{prefix}.coupling");
    let half = channels / 2;
    let split = g.constant_i64(&format!("cinn.split_{half}_{}", channels - half), |_| {
        Ok((vec![2], vec![half as i64, (channels - half) as i64]))
    })?;
    let p = g.op("Split", &scope, &[x, &split], 2, vec![attr_int("axis", 1)]);
    Ok((p[0].clone(), p[1].clone()))
}

/// v = F(z; domain).
pub fn cinn_forward(g: &mut Graph, cfg: &ModelConfig, z: &str, domain: usize) -> Result<String> {
    let c = cfg.flow_channels();
    let mut x = if cfg.cinn_squeeze {
        squeeze(g, cfg, z)?
    } else {
        z.to_string()
    };
    let cond = condition(g, cfg, &x, domain)?;
    for i in 0..cfg.cinn_blocks {
        let p = format!("cinn.blocks.{i}");
        let shift = g.stored(&format!("{p}.actnorm.shift"))?;
        let scale = actnorm_scale(g, &p, 1.0)?;
        let a = format!("{p}.actnorm");
        let y = g.op1("Add", &a, &[&x, &shift], vec![]);
        let y = g.op1("Mul", &a, &[&y, &scale], vec![]);
        let perm = permutation(g, &p, true)?;
        let y = g.op1(
            "Gather",
            &format!("{p}.permutation"),
            &[&y, &perm],
            vec![attr_int("axis", 1)],
        );
        let (xa, xb) = halves(g, &p, &y, c)?;
        let (s, t) = scale_shift(g, &p, &xa, cond.as_deref())?;
        let scope = format!("{p}.coupling");
        let es = g.op1("Exp", &scope, &[&s], vec![]);
        let yb = g.op1("Mul", &scope, &[&xb, &es], vec![]);
        let yb = g.op1("Add", &scope, &[&yb, &t], vec![]);
        x = g.op1("Concat", &scope, &[&xa, &yb], vec![attr_int("axis", 1)]);
    }
    Ok(if cfg.cinn_squeeze {
        unsqueeze(g, &x)
    } else {
        x
    })
}

/// z = F⁻¹(v; domain).
pub fn cinn_inverse(g: &mut Graph, cfg: &ModelConfig, v: &str, domain: usize) -> Result<String> {
    let c = cfg.flow_channels();
    let mut y = if cfg.cinn_squeeze {
        squeeze(g, cfg, v)?
    } else {
        v.to_string()
    };
    let cond = condition(g, cfg, &y, domain)?;
    for i in (0..cfg.cinn_blocks).rev() {
        let p = format!("cinn.blocks.{i}");
        let (ya, yb) = halves(g, &p, &y, c)?;
        let (s, t) = scale_shift(g, &p, &ya, cond.as_deref())?;
        let scope = format!("{p}.coupling");
        let ns = g.op1("Neg", &scope, &[&s], vec![]);
        let ens = g.op1("Exp", &scope, &[&ns], vec![]);
        let xb = g.op1("Sub", &scope, &[&yb, &t], vec![]);
        let xb = g.op1("Mul", &scope, &[&xb, &ens], vec![]);
        let x = g.op1("Concat", &scope, &[&ya, &xb], vec![attr_int("axis", 1)]);
        let perm = permutation(g, &p, false)?;
        let x = g.op1(
            "Gather",
            &format!("{p}.permutation"),
            &[&x, &perm],
            vec![attr_int("axis", 1)],
        );
        let a = format!("{p}.actnorm");
        let shift = g.stored(&format!("{p}.actnorm.shift"))?;
        let scale = actnorm_scale(g, &p, -1.0)?;
        let x = g.op1("Mul", &a, &[&x, &scale], vec![]);
        y = g.op1("Sub", &a, &[&x, &shift], vec![]);
    }
    Ok(if cfg.cinn_squeeze {
        unsqueeze(g, &y)
    } else {
        y
    })
}
