//! `equifx model export --onnx`: the exported graphs run in ONNX Runtime and
//! give what equifx's own networks give on the same inputs, to 1e-4.
//!
//! ONNX Runtime comes from PyPI into a virtualenv cached outside the
//! repository (`$EQUIFX_ORT_VENV`, else `$XDG_CACHE_HOME/equifx-test/ort-venv`,
//! else `~/.cache/equifx-test/ort-venv`), created on first use with
//! `python3 -m venv` and `pip install onnxruntime==1.* numpy` (and `onnx`, for
//! the structural check, when it installs). Without python3, pip or the
//! network the comparison is skipped with a message, except under `CI=true`,
//! where that is a failure (tests/common/venv.rs). tests/onnx/run_ort.py runs
//! the graphs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use equifx::model::bundle::{expected_tensors, sha256_hex, Manifest, WEIGHTS_FILE};
use equifx::model::{Bundle, ModelConfig};
use serde_json::Value;

mod common;
use common::tensor::{domain_ids, read_f32, write_f32};
use common::venv::{self, run, ORT};

/// Largest accepted |ONNX Runtime − equifx| over every element.
const TOLERANCE: f32 = 1e-4;

fn equifx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

fn shipped_bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

/// Seeded uniform and normal numbers: the project's own stream generator.
struct Rng(equifx::rng::StreamRng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(equifx::rng::StreamRng::new(seed, b"onnx-export-test", 0))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn uniform(&mut self) -> f32 {
        self.0.uniform() as f32
    }

    fn normal(&mut self) -> f32 {
        self.0.normal() as f32
    }

    fn tensor(&mut self, shape: &[usize], f: impl Fn(&mut Rng) -> f32) -> Tensor {
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| f(self)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }
}

fn export(bundle: &Path, out: &Path) -> Value {
    let o = equifx()
        .args(["model", "export", "--onnx"])
        .arg(bundle)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(out.join("export.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// One graph run on one input, with what equifx computes for it.
struct Case {
    graph: PathBuf,
    input: &'static str,
    output: &'static str,
    x: Tensor,
    reference: Tensor,
}

/// Every graph of `bundle`'s export in `out` on random inputs of each size.
fn cases(bundle: &Bundle, out: &Path, sizes: &[[usize; 4]], seed: u64) -> Vec<Case> {
    let m = &bundle.manifest;
    let stems = equifx::export::domain_stems(&m.domains);
    let mut rng = Rng::new(seed);
    let mut cases = Vec::new();
    let case = |file: String, input, output, x: &Tensor, reference: Tensor| Case {
        graph: out.join(file),
        input,
        output,
        x: x.clone(),
        reference: reference.to_dtype(DType::F32).unwrap(),
    };
    for &shape in sizes {
        let b = shape[0];
        let x = rng.tensor(&shape, Rng::uniform);
        let z = bundle.autoencoder.encoder.forward(&x).unwrap();
        cases.push(case("encoder.onnx".into(), "x", "z", &x, z.clone()));
        let d = bundle.autoencoder.decoder.forward(&z).unwrap();
        cases.push(case("decoder.onnx".into(), "z", "x", &z, d));
        for (di, stem) in stems.iter().enumerate() {
            let dom = domain_ids(di, b);
            let (v, _) = bundle.cinn.forward(&z, &dom).unwrap();
            cases.push(case(format!("cinn_forward_{stem}.onnx"), "z", "v", &z, v));
            let v = rng.tensor(z.dims(), Rng::normal);
            let back = bundle.cinn.inverse(&v, &dom).unwrap();
            cases.push(case(
                format!("cinn_inverse_{stem}.onnx"),
                "v",
                "z",
                &v,
                back,
            ));
        }
        for (s, ss) in stems.iter().enumerate() {
            for (t, ts) in stems.iter().enumerate() {
                if s != t {
                    let (y, _) = bundle.translate(&x, s, t, 1.0).unwrap();
                    cases.push(case(
                        format!("translate_{ss}_to_{ts}.onnx"),
                        "x",
                        "y",
                        &x,
                        y,
                    ));
                }
            }
        }
    }
    cases
}

// ---------------------------------------------------------------------------
// A second, random bundle: no squeeze, other sizes, two domains
// ---------------------------------------------------------------------------

/// A bundle of random (non-trivial) weights with the flat cINN, written to `dir`.
fn random_flat_bundle(dir: &Path) {
    let mut m: Manifest = Bundle::read_manifest(&shipped_bundle()).unwrap();
    let cfg = ModelConfig {
        latent_channels: 6,
        ae_channels: [8, 12, 10, 16],
        cinn_blocks: 3,
        cinn_hidden: 24,
        embed_dim: 5,
        domains: 2,
        cinn_squeeze: false,
    };
    let mut rng = Rng::new(77);
    let mut tensors = HashMap::new();
    for (name, shape) in expected_tensors(&cfg).unwrap() {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = if name.ends_with(".permutation") {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
            }
            order.into_iter().map(|o| o as f32).collect()
        } else {
            let bound = if name.ends_with(".weight") {
                (3.0 / (n / shape[0]) as f32).sqrt()
            } else if name.ends_with("embedding") {
                1.0
            } else {
                0.3
            };
            (0..n)
                .map(|_| bound * (2.0 * rng.uniform() - 1.0))
                .collect()
        };
        tensors.insert(name, Tensor::from_vec(v, shape, &Device::Cpu).unwrap());
    }
    std::fs::create_dir_all(dir).unwrap();
    candle_core::safetensors::save(&tensors, dir.join(WEIGHTS_FILE)).unwrap();
    m.domains = vec!["photo".into(), "oil paint".into()];
    m.training.truncate(2);
    for (s, d) in m.training.iter_mut().zip(&m.domains) {
        s.name = d.clone();
    }
    m.architecture = cfg;
    m.image_size = 32;
    m.heads = BTreeMap::new();
    m.latent_noise.clear();
    m.prior_sha256 = None;
    m.reader = None;
    m.weights_sha256 = sha256_hex(&std::fs::read(dir.join(WEIGHTS_FILE)).unwrap());
    m.write(dir).unwrap();
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn exported_graphs_match_equifx_in_onnx_runtime() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let shipped = shipped_bundle();
    let out_shipped = tmp.path().join("shipped");
    let flat = tmp.path().join("flat-bundle");
    let out_flat = tmp.path().join("flat");
    random_flat_bundle(&flat);

    // What is written, whatever runs it.
    let desc = export(&shipped, &out_shipped);
    let domains: Vec<String> = Bundle::read_manifest(&shipped).unwrap().domains;
    let n = domains.len();
    let graphs = desc["graphs"].as_array().unwrap();
    assert_eq!(graphs.len(), 2 + 2 * n + n * (n - 1));
    for name in [
        "encoder",
        "decoder",
        "cinn_forward_photo",
        "cinn_inverse_anime",
    ] {
        assert!(out_shipped.join(format!("{name}.onnx")).is_file(), "{name}");
    }
    assert!(out_shipped.join("translate_photo_to_oil.onnx").is_file());
    assert!(!out_shipped.join("translate_oil_to_oil.onnx").exists());
    assert_eq!(desc["onnx_opset"], 17);
    assert_eq!(desc["onnx_ir_version"], 8);
    let manifest = Bundle::read_manifest(&shipped).unwrap();
    assert_eq!(desc["bundle"]["weights_sha256"], manifest.weights_sha256);
    let readme = std::fs::read_to_string(out_shipped.join("README.txt")).unwrap();
    assert!(
        readme.contains(&manifest.weights_sha256) && readme.contains("translate_oil_to_anime.onnx")
    );
    for g in graphs {
        let bytes = std::fs::read(out_shipped.join(g["file"].as_str().unwrap())).unwrap();
        assert_eq!(g["sha256"], sha256_hex(&bytes), "{}", g["file"]);
    }
    // The export is deterministic: the same bytes from the default bundle.
    let again = tmp.path().join("again");
    let o = equifx()
        .args(["model", "export", "--onnx", "-o"])
        .arg(&again)
        .env("EQUIFX_MODEL", &shipped)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for g in graphs {
        let f = g["file"].as_str().unwrap();
        assert_eq!(
            std::fs::read(out_shipped.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f} differs between two exports"
        );
    }
    let desc_flat = export(&flat, &out_flat);
    assert!(out_flat.join("translate_oil_paint_to_photo.onnx").is_file());
    assert_eq!(desc_flat["graphs"].as_array().unwrap().len(), 2 + 4 + 2);

    let setup = Instant::now();
    let Some(python) = venv::or_skip(
        &ORT.python(),
        "exported_graphs_match_equifx_in_onnx_runtime",
        "ONNX Runtime",
    ) else {
        return;
    };
    let setup = setup.elapsed();

    // equifx's own outputs on random inputs; the shipped bundle aligns to 16,
    // the flat one to 8.
    let b = Bundle::load(&shipped, &Device::Cpu).unwrap();
    assert_eq!(b.manifest.architecture.align(), 16);
    let mut all = cases(&b, &out_shipped, &[[2, 3, 64, 64], [1, 3, 96, 160]], 1);
    let bf = Bundle::load(&flat, &Device::Cpu).unwrap();
    all.extend(cases(&bf, &out_flat, &[[2, 3, 24, 40], [1, 3, 16, 8]], 2));

    let io = tmp.path().join("io");
    std::fs::create_dir_all(&io).unwrap();
    let job: Vec<Value> = all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let input = io.join(format!("{i}.in.f32"));
            write_f32(&input, &c.x);
            serde_json::json!({
                "model": c.graph,
                "input": c.input,
                "shape": c.x.dims(),
                "input_file": input,
                "output": c.output,
                "output_file": io.join(format!("{i}.out.f32")),
            })
        })
        .collect();
    let job_path = io.join("job.json");
    let result_path = io.join("result.json");
    std::fs::write(&job_path, serde_json::json!({ "cases": job }).to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/run_ort.py");
    let ort_started = Instant::now();
    run(Command::new(&python)
        .arg(&script)
        .arg(&job_path)
        .arg(&result_path))
    .unwrap_or_else(|e| panic!("ONNX Runtime could not run the exported graphs: {e}"));
    let ort_time = ort_started.elapsed();
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&result_path).unwrap()).unwrap();

    // Declared shapes: batch and spatial sizes symbolic, channels fixed.
    for (path, model) in result["models"].as_object().unwrap() {
        for dir in ["inputs", "outputs"] {
            for (name, dims) in model[dir].as_object().unwrap() {
                let d = dims.as_array().unwrap();
                assert_eq!(d.len(), 4, "{path} {name}");
                for k in [0, 2, 3] {
                    assert!(
                        d[k].is_string(),
                        "{path} {name}: dim {k} is {} not symbolic",
                        d[k]
                    );
                }
                assert!(d[1].is_u64(), "{path} {name}: channels not fixed");
            }
        }
        let checker = model["checker"].as_str().unwrap();
        assert!(
            checker.starts_with("passed") || checker == "onnx not installed",
            "{path}: {checker}"
        );
    }

    let mut worst: BTreeMap<String, (f32, f32)> = BTreeMap::new();
    for (i, c) in all.iter().enumerate() {
        let got = read_f32(&io.join(format!("{i}.out.f32")));
        let shape: Vec<usize> = result["cases"][i]["output_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(shape, c.reference.dims(), "{}", c.graph.display());
        let want = c.reference.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(
                0.0f32,
                |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
            );
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let key = format!(
            "{}/{}",
            c.graph
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy(),
            c.graph.file_name().unwrap().to_string_lossy()
        );
        let e = worst.entry(key).or_insert((0.0, 0.0));
        *e = (e.0.max(diff), e.1.max(scale));
    }
    eprintln!(
        "onnx_export: onnxruntime {}, onnx {}; max |ORT − equifx| per graph (max |equifx| beside):",
        result["onnxruntime"], result["onnx"]
    );
    for (g, (d, s)) in &worst {
        eprintln!("  {g:<40} {d:.2e}   ({s:.3})");
    }
    eprintln!(
        "onnx_export: venv {:.1}s, ONNX Runtime {:.1}s, whole test {:.1}s",
        setup.as_secs_f64(),
        ort_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let bad: Vec<_> = worst.iter().filter(|(_, (d, _))| *d > TOLERANCE).collect();
    assert!(
        bad.is_empty(),
        "graphs off by more than {TOLERANCE}: {bad:?}"
    );
}

#[test]
fn export_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let fail = |cmd: &mut Command| {
        let o = cmd.output().unwrap();
        assert!(!o.status.success());
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let export_cmd = |bundle: &Path, out: &Path| {
        let mut c = equifx();
        c.args(["model", "export", "--onnx"])
            .arg(bundle)
            .arg("-o")
            .arg(out);
        c
    };
    let out = tmp.path().join("out");

    // Not a bundle: a model error (exit 3) that names the folder.
    let (code, err) = fail(&mut export_cmd(tmp.path(), &out));
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("manifest") && err.contains("model bundle folder"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written for a bad bundle");

    // OUT is a file, or below one: exit 2 and a message that names it.
    let file = tmp.path().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    for target in [file.clone(), file.join("sub")] {
        let (code, err) = fail(&mut export_cmd(&shipped_bundle(), &target));
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(&*file.to_string_lossy()), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");

    // No format or no output folder: usage errors.
    let (code, err) = fail(equifx().args(["model", "export", "-o"]).arg(&out));
    assert_eq!(code, Some(2));
    assert!(err.contains("--onnx"), "{err}");
    let (code, err) = fail(equifx().args(["model", "export", "--onnx"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("--out"), "{err}");
}
