//! Half precision: what f16 inference changes against f32 (measured on fresh
//! synthetic scenes, printed with `--nocapture`), and that bf16, which the
//! CPU backend cannot run, is refused with a device error instead of failing
//! inside the network.

use candle_core::{DType, Device, Tensor};
use equifx::model::bundle::{default_bundle_dir, Bundle};
use equifx::node::RenderContext;
use equifx::synth::{render_image, Bias, Scene, Style};
use equifx::{ErrorCode, Instance};

mod common;
use common::tensor::{max_abs, scene_batch};

/// 8-bit PSNR between two image batches with values in [0, 1].
fn psnr_8bit(a: &Tensor, b: &Tensor) -> f64 {
    let q = |t: &Tensor| -> Vec<f64> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| (f64::from(*v).clamp(0.0, 1.0) * 255.0).round())
            .collect()
    };
    let (a, b) = (q(a), q(b));
    let mse = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

/// f16 keeps 11 significant bits (relative rounding 2^-11 ≈ 4.9e-4 per
/// operation). Through the ~30 layers of the default network these errors
/// add up to a few 8-bit levels at most, i.e. a PSNR far above 30 dB between
/// the f16 and f32 outputs; a broken conversion (a weight left in the wrong
/// type, an overflow to inf) lands far below it.
#[test]
fn f16_translation_stays_close_to_f32() {
    let dir = default_bundle_dir();
    let f32b = Bundle::load_as(&dir, &Device::Cpu, DType::F32).unwrap();
    let f16b = Bundle::load_as(&dir, &Device::Cpu, DType::F16).unwrap();
    let size = f32b.manifest.image_size;
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    let scenes: Vec<Scene> = (0..6).map(|i| Scene::sample(4242, i, bias)).collect();
    let styles = [Style::Photo, Style::Oil, Style::Anime];
    let mut worst = f64::INFINITY;
    for (from, fs) in styles.iter().enumerate() {
        let x = scene_batch(*fs, &scenes, size);
        for (to, ts) in styles.iter().enumerate() {
            if to == from {
                continue;
            }
            let (a, _) = f32b.translate(&x, from, to, 1.0).unwrap();
            let (b, _) = f16b.translate(&x, from, to, 1.0).unwrap();
            assert_eq!(b.dtype(), DType::F32, "outputs come back as f32");
            let p = psnr_8bit(&a, &b);
            let max = max_abs(&(a - b).unwrap());
            println!(
                "f16 vs f32, {} → {}: PSNR {p:.1} dB, max |Δ| {max:.4}",
                fs.name(),
                ts.name()
            );
            worst = worst.min(p);
        }
    }
    assert!(
        worst > 30.0,
        "f16 drifts from f32: worst PSNR {worst:.1} dB"
    );
}

#[test]
fn the_node_renders_in_f16_and_refuses_bf16_on_the_cpu() {
    let scene = Scene::sample(
        77,
        0,
        Bias {
            warm: 0.5,
            round: 0.5,
        },
    );
    let input = render_image(&scene, Style::Photo, 40, 24);
    let render = |precision: &str| {
        let mut inst = Instance::new(equifx::nodes::domain_transfer::ID).unwrap();
        let p = inst.params_mut();
        p.set_from_str("source", "photo").unwrap();
        p.set_from_str("target", "anime").unwrap();
        p.set_from_str("device", "cpu").unwrap();
        p.set_from_str("precision", precision).unwrap();
        inst.render_images(
            std::slice::from_ref(&input),
            40,
            24,
            0,
            &RenderContext::default(),
        )
    };
    let full = render("f32").unwrap();
    let half = render("f16").unwrap();
    let max = (0..4)
        .flat_map(|c| {
            full.plane(c)
                .iter()
                .zip(half.plane(c))
                .map(|(a, b)| (a - b).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0f32, f32::max);
    assert!(max < 0.1, "f16 node output differs from f32 by {max}");
    assert_eq!(
        full.plane(3),
        half.plane(3),
        "alpha passes through untouched"
    );
    let e = render("bf16").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Device, "{e}");
    assert!(e.to_string().contains("bf16"), "{e}");
}
