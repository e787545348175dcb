//! The networks and bundles: exact invertibility, exact log-determinant,
//! gradients everywhere, bundle validation, deterministic and resumable
//! training, and the Domain Transfer node on any frame size.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use equifx::model::cinn::{Cinn, Permutations};
use equifx::model::{Autoencoder, Bundle, ModelConfig};
use equifx::synth::{write_dataset, Bias, DatasetSpec, Style};

mod common;
use common::tensor::assert_round_trip;

fn tiny(domains: usize) -> ModelConfig {
    ModelConfig {
        latent_channels: 4,
        ae_channels: [4, 6, 8, 8],
        cinn_blocks: 3,
        cinn_hidden: 8,
        embed_dim: 2,
        domains,
        cinn_squeeze: false,
    }
}

/// A cINN with every weight random (no identity start), in `dtype`. The
/// coupling outputs and ActNorm parameters get N(0, scale²); 0.1 is about what
/// a trained model holds; much larger random scales compound over blocks into
/// an ill-conditioned map that no float format inverts to 1e-4.
fn random_cinn(cfg: &ModelConfig, dtype: DType, scale: f64) -> (VarMap, Cinn) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
    let cinn = Cinn::new(cfg, vb.pp("cinn"), Permutations::Seeded(3), &Device::Cpu).unwrap();
    equifx::model::init::reseed(&varmap, 9).unwrap();
    let mut r = equifx::rng::StreamRng::new(4, b"test-weights", 0);
    // In name order: the map's own order differs between processes.
    let vars = varmap.data().lock().unwrap();
    let mut named: Vec<_> = vars.iter().collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    for (name, var) in named {
        if name.contains("subnet.out") || name.contains("actnorm") {
            let n = var.elem_count();
            let vals: Vec<f64> = (0..n).map(|_| scale * r.normal()).collect();
            var.set(
                &Tensor::from_vec(vals, var.shape(), &Device::Cpu)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap(),
            )
            .unwrap();
        }
    }
    drop(vars);
    (varmap, cinn)
}

fn randn(shape: (usize, usize, usize, usize), dtype: DType, seed: u64) -> Tensor {
    let mut r = equifx::rng::StreamRng::new(seed, b"test-input", 0);
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    Tensor::from_vec(
        (0..n).map(|_| r.normal()).collect::<Vec<f64>>(),
        shape,
        &Device::Cpu,
    )
    .unwrap()
    .to_dtype(dtype)
    .unwrap()
}

#[test]
fn cinn_inverse_recovers_the_input() {
    for cinn_squeeze in [false, true] {
        cinn_inverse_recovers_the_input_with(ModelConfig {
            cinn_blocks: 4,
            latent_channels: 8,
            cinn_squeeze,
            ..tiny(3)
        });
    }
}

fn cinn_inverse_recovers_the_input_with(cfg: ModelConfig) {
    let (_, cinn) = random_cinn(&cfg, DType::F32, 0.1);
    let z = randn((4, 8, 6, 10), DType::F32, 1);
    let d = Tensor::from_vec(vec![0u32, 1, 2, 1], 4, &Device::Cpu).unwrap();
    let v = assert_round_trip(&cinn, &z, &d, "random cINN");
    // And v really changed: the test is not passing on an identity map.
    let moved = (&v - &z)
        .unwrap()
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(moved > 0.05, "{moved}");
}

/// log|det J| from the network equals the log-determinant of the Jacobian
/// computed by central finite differences (f64, 8 dimensions). Weights of
/// scale 0.3 keep the log-det well away from 0 at this size.
/// With the space-to-depth option the same 8 numbers pass through one 1×1
/// position of 8 channels.
#[test]
fn cinn_log_determinant_matches_the_numerical_jacobian() {
    for cinn_squeeze in [false, true] {
        cinn_log_determinant_matches_the_numerical_jacobian_with(ModelConfig {
            latent_channels: 2,
            cinn_squeeze,
            ..tiny(2)
        });
    }
}

fn cinn_log_determinant_matches_the_numerical_jacobian_with(cfg: ModelConfig) {
    let (_, cinn) = random_cinn(&cfg, DType::F64, 0.3);
    let dims = (1, 2, 2, 2);
    let n = 8;
    let z0: Vec<f64> = randn(dims, DType::F64, 2)
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let d = Tensor::from_vec(vec![1u32], 1, &Device::Cpu).unwrap();
    let f = |z: &[f64]| -> (Vec<f64>, f64) {
        let t = Tensor::from_vec(z.to_vec(), dims, &Device::Cpu).unwrap();
        let (v, ld) = cinn.forward(&t, &d).unwrap();
        (
            v.flatten_all().unwrap().to_vec1().unwrap(),
            ld.to_vec1::<f64>().unwrap()[0],
        )
    };
    let (_, logdet) = f(&z0);
    let eps = 1e-6;
    let mut jac = vec![vec![0.0; n]; n];
    for j in 0..n {
        let (mut a, mut b) = (z0.clone(), z0.clone());
        a[j] += eps;
        b[j] -= eps;
        let (fa, fb) = (f(&a).0, f(&b).0);
        for i in 0..n {
            jac[i][j] = (fa[i] - fb[i]) / (2.0 * eps);
        }
    }
    // log|det| by Gaussian elimination with partial pivoting.
    let mut m = jac;
    let mut log_abs_det = 0.0;
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))
            .unwrap();
        m.swap(c, p);
        log_abs_det += m[c][c].abs().ln();
        let pivot = m[c].clone();
        for row in m.iter_mut().skip(c + 1) {
            let k = row[c] / pivot[c];
            for (x, p) in row.iter_mut().zip(&pivot).skip(c) {
                *x -= k * p;
            }
        }
    }
    assert!(
        (log_abs_det - logdet).abs() < 1e-5,
        "numerical {log_abs_det} vs network {logdet}"
    );
    assert!(
        logdet.abs() > 0.1,
        "a trivial log-det would make this test vacuous: {logdet}"
    );
}

#[test]
fn every_variable_receives_a_gradient() {
    let cfg = tiny(3);
    let (varmap, cinn) = random_cinn(&cfg, DType::F32, 0.1);
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let ae = Autoencoder::new(&cfg, vb.pp("ae")).unwrap();
    equifx::model::init::reseed(&varmap, 1).unwrap();
    // reseed zeroes the coupling outputs; make them non-zero again so gradients flow through.
    for (name, var) in varmap.data().lock().unwrap().iter() {
        if name.contains("subnet.out.weight") {
            var.set(&(var.ones_like().unwrap() * 0.05).unwrap())
                .unwrap();
        }
    }
    let x = (randn((2, 3, 16, 16), DType::F32, 5).abs().unwrap() * 0.3).unwrap();
    let z = ae.encoder.forward(&x).unwrap();
    let d = Tensor::from_vec(vec![0u32, 2], 2, &Device::Cpu).unwrap();
    let (v, logdet) = cinn.forward(&z, &d).unwrap();
    let recon = ae.decoder.forward(&z).unwrap();
    let loss = ((v.sqr().unwrap().mean_all().unwrap() - logdet.mean_all().unwrap() * 1e-3)
        .unwrap()
        + (recon - &x).unwrap().abs().unwrap().mean_all().unwrap())
    .unwrap();
    let grads = loss.backward().unwrap();
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let g = grads
            .get(var)
            .unwrap_or_else(|| panic!("{name} got no gradient"));
        let mag = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(mag > 0.0, "{name} has an all-zero gradient");
    }
}

fn equifx_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

/// Small datasets for three domains, made once per test process.
fn datasets() -> &'static (tempfile::TempDir, Vec<(String, PathBuf)>) {
    static DATA: std::sync::OnceLock<(tempfile::TempDir, Vec<(String, PathBuf)>)> =
        std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vec::new();
        for (k, style) in Style::ALL.into_iter().enumerate() {
            let out = dir.path().join(style.name());
            let spec = DatasetSpec {
                style,
                count: 24,
                width: 16,
                height: 16,
                seed: 40 + k as u64,
                bias: Bias::default_for(style),
                out: out.clone(),
            };
            write_dataset(&spec, &|_| {}).unwrap();
            v.push((style.name().to_string(), out));
        }
        (dir, v)
    })
}

fn train_cmd(out: &Path) -> Command {
    let mut c = equifx_bin();
    c.args([
        "train",
        "--preset",
        "tiny",
        "--size",
        "16",
        "--ae-steps",
        "30",
        "--cinn-steps",
        "30",
        "--batch",
        "4",
        "--checkpoint-every",
        "5",
        "--seed",
        "3",
        // The shared attribute directions are trained and checkpointed too,
        // and so is the decoder's discriminator.
        "--attribute-weight",
        "0.5",
        "--adversarial-weight",
        "0.1",
        "--out",
    ]);
    c.arg(out);
    for (name, dir) in &datasets().1 {
        c.arg("--domain").arg(format!("{name}={}", dir.display()));
    }
    c
}

fn trained_bundle() -> &'static Path {
    static B: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bundle");
        let st = train_cmd(&out)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        (dir, out)
    })
    .1
}

#[test]
fn training_is_deterministic_and_a_killed_run_resumes_bit_identically() {
    let reference = std::fs::read(trained_bundle().join("weights.safetensors")).unwrap();
    let names =
        candle_core::safetensors::load(trained_bundle().join("weights.safetensors"), &Device::Cpu)
            .unwrap();
    assert!(
        names
            .keys()
            .all(|k| k.starts_with("ae.") || k.starts_with("cinn.")),
        "a training-only network reached the bundle: {:?}",
        names
            .keys()
            .filter(|k| !k.starts_with("ae.") && !k.starts_with("cinn."))
            .collect::<Vec<_>>()
    );
    let dir = tempfile::tempdir().unwrap();
    // Same command again: identical weights.
    let again = dir.path().join("again");
    assert!(train_cmd(&again)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success());
    assert!(
        std::fs::read(again.join("weights.safetensors")).unwrap() == reference,
        "two runs of the same seed differ"
    );

    // Kill a run after its first checkpoints, then resume it.
    let killed = dir.path().join("killed");
    let mut child = train_cmd(&killed)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = killed.join(".checkpoint/state.json");
    let started = std::time::Instant::now();
    while !state.exists() && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(state.exists(), "no checkpoint appeared");
    assert!(
        !killed.join("weights.safetensors").exists(),
        "the kill must land before the run finished"
    );
    let st = train_cmd(&killed)
        .arg("--resume")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        std::fs::read(killed.join("weights.safetensors")).unwrap() == reference,
        "resumed run differs from an uninterrupted one"
    );
}

/// `--freeze-encoder` trains the decoder alone: the encoder's weights (and so
/// the latents the cINN and heads were trained on) come out bit-identical, the
/// decoder's change.
#[test]
fn a_frozen_encoder_is_left_exactly_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decoder-only");
    let mut cmd = equifx_bin();
    cmd.args([
        "train", "--preset", "tiny", "--size", "16", "--batch", "4", "--seed", "3",
    ])
    .args(["--ae-steps", "5", "--cinn-steps", "0", "--freeze-encoder"])
    // The decoder trains with more latent noise than the carried-over cINN did.
    .args(["--latent-noise", "0.5"])
    .arg("--init-autoencoder")
    .arg(trained_bundle())
    .arg("--init-cinn")
    .arg(trained_bundle())
    .arg("--out")
    .arg(&out);
    for (name, dir) in &datasets().1 {
        cmd.arg("--domain").arg(format!("{name}={}", dir.display()));
    }
    assert!(cmd
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success());
    let load = |dir: &Path| {
        candle_core::safetensors::load(dir.join("weights.safetensors"), &Device::Cpu).unwrap()
    };
    let (before, after) = (load(trained_bundle()), load(&out));
    let bytes = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (mut encoder, mut decoder_changed) = (0, false);
    for (name, t) in &before {
        if name.starts_with("ae.encoder.") {
            encoder += 1;
            assert!(bytes(t) == bytes(&after[name]), "{name} changed");
        } else if name.starts_with("ae.decoder.") {
            decoder_changed |= bytes(t) != bytes(&after[name]);
        }
    }
    assert!(encoder > 0, "no encoder tensors found");
    assert!(decoder_changed, "the decoder did not train");
    for (name, t) in before.iter().filter(|(k, _)| k.starts_with("cinn.")) {
        assert!(bytes(t) == bytes(&after[name]), "{name} changed");
    }
    // The manifest records the noise the cINN was trained with, not the decoder's.
    let noise = |dir: &Path| Bundle::read_manifest(dir).unwrap().latent_noise;
    assert!(!noise(trained_bundle()).is_empty());
    assert_eq!(noise(&out), noise(trained_bundle()));
    assert!(
        before.keys().all(|k| !k.starts_with("align.")),
        "the attribute term's tensors leaked into the bundle"
    );

    // Freezing a freshly initialised encoder is a mistake, refused up front.
    let mut orphan = equifx_bin();
    orphan
        .args([
            "train",
            "--preset",
            "tiny",
            "--size",
            "16",
            "--freeze-encoder",
        ])
        .arg("--out")
        .arg(dir.path().join("orphan"));
    for (name, dir) in &datasets().1 {
        orphan
            .arg("--domain")
            .arg(format!("{name}={}", dir.display()));
    }
    let res = orphan.output().unwrap();
    assert_eq!(res.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&res.stderr).contains("--init-autoencoder"),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
}

fn copy_bundle(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["manifest.toml", "weights.safetensors", "prior.safetensors"] {
        std::fs::copy(trained_bundle().join(f), to.join(f)).unwrap();
    }
}

fn load_err(dir: &Path) -> String {
    match Bundle::load(dir, &Device::Cpu) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => {
            assert_eq!(e.code(), equifx::ErrorCode::Model);
            e.to_string()
        }
    }
}

fn rewrite_weights(dir: &Path, edit: impl FnOnce(&mut std::collections::HashMap<String, Tensor>)) {
    let mut t =
        candle_core::safetensors::load(dir.join("weights.safetensors"), &Device::Cpu).unwrap();
    edit(&mut t);
    candle_core::safetensors::save(&t, dir.join("weights.safetensors")).unwrap();
    let bytes = std::fs::read(dir.join("weights.safetensors")).unwrap();
    set_hash(dir, &equifx::model::bundle::sha256_hex(&bytes));
}

fn set_hash(dir: &Path, hash: &str) {
    set_manifest_hash(dir, "weights_sha256", hash);
}

fn set_manifest_hash(dir: &Path, key: &str, hash: &str) {
    let m = std::fs::read_to_string(dir.join("manifest.toml")).unwrap();
    let m: String = m
        .lines()
        .map(|l| {
            if l.starts_with(key) {
                format!("{key} = \"{hash}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.join("manifest.toml"), m).unwrap();
}

fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

/// Cuts `file` in half and records the half's hash under `key`, so only the
/// file's own reader can notice.
fn truncate_with_matching_hash(dir: &Path, file: &str, key: &str) {
    let bytes = std::fs::read(dir.join(file)).unwrap();
    let half = &bytes[..bytes.len() / 2];
    std::fs::write(dir.join(file), half).unwrap();
    set_manifest_hash(dir, key, &equifx::model::bundle::sha256_hex(half));
}

#[test]
fn broken_bundles_give_clear_errors_and_never_panic() {
    assert!(Bundle::load(trained_bundle(), &Device::Cpu).is_ok());
    let root = tempfile::tempdir().unwrap();
    let case = |name: &str| {
        let d = root.path().join(name);
        copy_bundle(&d);
        d
    };

    let d = case("no-manifest");
    std::fs::remove_file(d.join("manifest.toml")).unwrap();
    assert!(load_err(&d).contains("model bundle folder"));

    // The weights and the prior: missing, changed, truncated (with a matching
    // hash, so only the file's own reader can notice).
    for (file, key, what) in [
        ("weights.safetensors", "weights_sha256", "weights"),
        ("prior.safetensors", "prior_sha256", "prior"),
    ] {
        let d = case(&format!("no-{what}"));
        std::fs::remove_file(d.join(file)).unwrap();
        assert!(load_err(&d).contains(&format!("cannot read the {what}")));

        let d = case(&format!("{what}-hash"));
        flip_last_byte(&d.join(file));
        assert!(load_err(&d).contains("does not match the hash"), "{what}");

        let d = case(&format!("{what}-truncated"));
        truncate_with_matching_hash(&d, file, key);
        assert!(
            load_err(&d).contains("not a readable safetensors"),
            "{what}"
        );
    }

    let d = case("version");
    let m = std::fs::read_to_string(d.join("manifest.toml"))
        .unwrap()
        .replace("format_version = 1", "format_version = 7");
    std::fs::write(d.join("manifest.toml"), m).unwrap();
    assert!(load_err(&d).contains("format 7"));

    let d = case("missing-tensor");
    rewrite_weights(&d, |t| {
        t.remove("ae.decoder.out.weight");
    });
    assert!(load_err(&d).contains("ae.decoder.out.weight"));

    let d = case("extra-tensor");
    rewrite_weights(&d, |t| {
        t.insert(
            "ae.surprise".into(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
    });
    assert!(load_err(&d).contains("ae.surprise"));

    let d = case("wrong-shape");
    rewrite_weights(&d, |t| {
        t.insert(
            "cinn.embedding".into(),
            Tensor::zeros((3, 5), DType::F32, &Device::Cpu).unwrap(),
        );
    });
    assert!(load_err(&d).contains("cinn.embedding"));

    let d = case("nan");
    rewrite_weights(&d, |t| {
        let e = t.get("cinn.embedding").unwrap();
        let mut v: Vec<f32> = e.flatten_all().unwrap().to_vec1().unwrap();
        v[0] = f32::NAN;
        t.insert(
            "cinn.embedding".into(),
            Tensor::from_vec(v, e.shape(), &Device::Cpu).unwrap(),
        );
    });
    assert!(load_err(&d).contains("NaN"));

    let d = case("not-a-permutation");
    rewrite_weights(&d, |t| {
        t.insert(
            "cinn.blocks.0.permutation".into(),
            Tensor::from_vec(vec![0f32, 0., 1., 2.], 4, &Device::Cpu).unwrap(),
        );
    });
    assert!(load_err(&d).contains("not a permutation"));

    let d = case("colour-space");
    let m = std::fs::read_to_string(d.join("manifest.toml")).unwrap();
    assert!(m.contains("colour_space = \"srgb\""), "{m}");
    std::fs::write(
        d.join("manifest.toml"),
        m.replace("colour_space = \"srgb\"", "colour_space = \"rec709\""),
    )
    .unwrap();
    let e = load_err(&d);
    assert!(e.contains("rec709") && e.contains("srgb"), "{e}");

    let d = case("garbage-manifest");
    std::fs::write(d.join("manifest.toml"), "this is = not [ a manifest").unwrap();
    assert!(load_err(&d).contains("not a valid manifest"));
}

fn transfer_instance(model: &Path, params: &[(&str, &str)]) -> equifx::Instance {
    let mut inst = equifx::Instance::new("org.equifx.DomainTransfer").unwrap();
    inst.params_mut()
        .set_from_str("model", &model.to_string_lossy())
        .unwrap();
    for (k, v) in params {
        inst.params_mut().set_from_str(k, v).unwrap();
    }
    inst
}

fn noise_image(w: usize, h: usize, seed: u64) -> equifx::frame::Image {
    let mut r = equifx::rng::StreamRng::new(seed, b"dt-input", 0);
    let data = (0..4 * w * h)
        .map(|i| {
            if i >= 3 * w * h {
                0.5
            } else {
                r.uniform() as f32
            }
        })
        .collect();
    equifx::frame::Image::from_planes(w, h, data).unwrap()
}

/// The tiny test bundle (frames align to 8 px) and the shipped one, whose
/// space-to-depth cINN aligns them to 16 px.
fn both_bundles() -> [PathBuf; 2] {
    [
        trained_bundle().to_path_buf(),
        equifx::model::bundle::default_bundle_dir(),
    ]
}

#[test]
fn domain_transfer_renders_any_frame_size_and_keeps_alpha() {
    let ctx = equifx::node::RenderContext::default();
    for model in both_bundles() {
        let inst = transfer_instance(&model, &[("target", "oil"), ("source", "photo")]);
        for (w, h) in [(1, 1), (13, 7), (16, 16), (40, 24), (90, 17)] {
            let img = noise_image(w, h, 1);
            let out = inst
                .render_images(std::slice::from_ref(&img), w, h, 0, &ctx)
                .unwrap();
            assert_eq!((out.width(), out.height()), (w, h));
            assert!(out.data().iter().all(|v| v.is_finite()));
            assert_eq!(out.plane(3), img.plane(3), "alpha passes through");
        }
    }
    // Strength 0 is the input, exactly.
    let inst0 = transfer_instance(trained_bundle(), &[("strength", "0")]);
    let img = noise_image(24, 16, 2);
    assert_eq!(
        inst0
            .render_images(std::slice::from_ref(&img), 24, 16, 0, &ctx)
            .unwrap(),
        img
    );
    // A domain the bundle does not have is refused when rendering, with the
    // bundle's own names in the message.
    let inst = transfer_instance(trained_bundle(), &[("target", "watercolour")]);
    let e = inst
        .render_images(std::slice::from_ref(&img), 24, 16, 0, &ctx)
        .unwrap_err();
    assert_eq!(e.code(), equifx::ErrorCode::InvalidParamValue, "{e}");
    let names = equifx::model::Bundle::read_manifest(trained_bundle())
        .unwrap()
        .domains;
    assert!(
        names.iter().all(|d| e.to_string().contains(d.as_str())),
        "{e}"
    );
}

/// Tiles change only what the network sees near tile edges, where the
/// feathering hides it: on the interior the tiled result matches the whole
/// frame on average within 2/255 (mean) — a seam would show as a band of
/// much larger errors along the tile grid.
#[test]
fn tiled_and_untiled_transfer_agree() {
    for model in both_bundles() {
        tiled_and_untiled_transfer_agree_with(&model);
    }
}

fn tiled_and_untiled_transfer_agree_with(model: &Path) {
    let ctx = equifx::node::RenderContext::default();
    let (w, h) = (96, 64);
    let img = noise_image(w, h, 3);
    let whole = transfer_instance(
        model,
        &[
            ("resolution", "4096"),
            ("tile_size", "4096"),
            ("source", "anime"),
        ],
    );
    let tiled = transfer_instance(
        model,
        &[
            ("resolution", "4096"),
            ("tile_size", "64"),
            ("tile_overlap", "24"),
            ("source", "anime"),
        ],
    );
    let a = whole
        .render_images(std::slice::from_ref(&img), w, h, 0, &ctx)
        .unwrap();
    let b = tiled
        .render_images(std::slice::from_ref(&img), w, h, 0, &ctx)
        .unwrap();
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for c in 0..3 {
        for y in 8..h - 8 {
            for x in 8..w - 8 {
                let (p, q) = (a.plane(c)[y * w + x], b.plane(c)[y * w + x]);
                let (p, q) = (
                    equifx::frame::linear_to_srgb(p),
                    equifx::frame::linear_to_srgb(q),
                );
                sum += f64::from((p - q).abs());
                n += 1;
            }
        }
    }
    let mean = sum / n as f64;
    assert!(
        mean < 2.0 / 255.0,
        "{}: mean interior difference {mean}",
        model.display()
    );
}

/// A domain trained without labels gets label-free groups in the bundle (and
/// no heads); a labelled domain gets no groups. The groups fit the prior they
/// were found on: the bundle loads.
#[test]
fn training_without_labels_finds_groups_for_that_domain() {
    let dir = tempfile::tempdir().unwrap();
    let unlabelled = dir.path().join("oil-unlabelled");
    std::fs::create_dir_all(&unlabelled).unwrap();
    let (_, sets) = datasets();
    for entry in std::fs::read_dir(&sets[1].1).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "png") {
            std::fs::copy(&path, unlabelled.join(path.file_name().unwrap())).unwrap();
        }
    }
    let out = dir.path().join("bundle");
    let mut cmd = equifx_bin();
    cmd.args(["train", "--preset", "tiny", "--size", "16"])
        .args([
            "--ae-steps",
            "10",
            "--cinn-steps",
            "10",
            "--batch",
            "4",
            "--seed",
            "3",
        ])
        .arg("--domain")
        .arg(format!("{}={}", sets[0].0, sets[0].1.display()))
        .arg("--domain")
        .arg(format!("oil={}", unlabelled.display()))
        .arg("--out")
        .arg(&out);
    let st = cmd.stderr(std::process::Stdio::null()).status().unwrap();
    assert!(st.success());
    let bundle = Bundle::load(&out, &Device::Cpu).unwrap();
    let m = &bundle.manifest;
    assert_eq!(m.groups.keys().collect::<Vec<_>>(), ["oil"]);
    assert!(!m.heads.contains_key("oil"), "heads without labels");
    let shares = &m.groups["oil"].shares;
    assert!(
        (shares.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "{shares:?}"
    );
}
