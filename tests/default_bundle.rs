//! The shipped default bundle, judged on fresh synthetic scenes (seeds never
//! used in training: training used 101–103, these use 9001+).

use candle_core::{Device, Tensor};
use equifx::model::bundle::default_bundle_dir;
use equifx::model::Bundle;
use equifx::synth::eval::evaluate_transfer;
use equifx::synth::{render_srgb8, Bias, Scene, Style};

fn bundle() -> Bundle {
    Bundle::load(&default_bundle_dir(), &Device::Cpu).expect("models/default must load")
}

fn batch(style: Style, seed: u64, n: u64, size: usize) -> Tensor {
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    let mut data = Vec::with_capacity(n as usize * 3 * size * size);
    for i in 0..n {
        let rgb = render_srgb8(&Scene::sample(seed, i, bias), style, size, size);
        for c in 0..3 {
            data.extend((0..size * size).map(|p| f32::from(rgb[p * 3 + c]) / 255.0));
        }
    }
    Tensor::from_vec(data, (n as usize, 3, size, size), &Device::Cpu).unwrap()
}

#[test]
fn default_bundle_loads_and_its_cinn_inverts_real_latents() {
    let b = bundle();
    assert_eq!(b.manifest.domains, ["photo", "oil", "anime"]);
    for (d, style) in Style::ALL.into_iter().enumerate() {
        let z = b
            .autoencoder
            .encoder
            .forward(&batch(style, 9001, 16, 64))
            .unwrap();
        let dom = Tensor::from_vec(vec![d as u32; 16], 16, &Device::Cpu).unwrap();
        let (v, _) = b.cinn.forward(&z, &dom).unwrap();
        let back = b.cinn.inverse(&v, &dom).unwrap();
        let err = (&back - &z)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = z
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            err <= 1e-4 * scale,
            "{style:?}: |F⁻¹(F(z)) − z| = {err}, scale {scale}"
        );
        // Held-out v should look standard normal: mean near 0 and variance near 1
        // (loose bounds: a small model on 3000 images per domain is not a perfect density).
        let vals: Vec<f32> = v.flatten_all().unwrap().to_vec1().unwrap();
        let mean = vals.iter().sum::<f32>() / vals.len() as f32;
        let var = vals.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / vals.len() as f32;
        eprintln!("{style:?}: v mean {mean:.3} variance {var:.3}");
        assert!(
            mean.abs() < 0.5 && (0.25..4.0).contains(&var),
            "{style:?}: v mean {mean}, variance {var}"
        );
    }
}

#[test]
fn default_bundle_detects_the_source_domain() {
    let b = bundle();
    let mut correct = 0;
    let n = 30;
    for (d, style) in Style::ALL.into_iter().enumerate() {
        for i in 0..n {
            let x = batch(style, 9100 + i, 1, 64);
            correct += usize::from(b.detect_domain(&x).unwrap() == d);
        }
    }
    let acc = correct as f64 / (3 * n) as f64;
    eprintln!("auto source detection: {acc:.3}");
    // Chance is 1/3; a working generative classifier is far above it.
    assert!(acc >= 0.8, "source detection accuracy {acc}");
}

#[test]
fn default_bundle_transfer_report() {
    let b = bundle();
    let reports = evaluate_transfer(&b, 60, 9001, 64).unwrap();
    for r in &reports {
        eprintln!(
            "{} -> {}: style {:.2} shape {:.2} palette {:.2} psnr {:.2} (identity {:.2}, reinhard {:.2})",
            r.from, r.to, r.style_to_target, r.shape_kept, r.palette_kept, r.psnr_model, r.psnr_identity, r.psnr_reinhard
        );
    }
    assert_eq!(reports.len(), 6);
}
