//! Tensors for the tests: batches rendered from synthetic scenes, how far two
//! results are apart, and the raw f32 files tensors are exchanged with ONNX
//! Runtime in. The tests get it through `mod common;`; `benches/transfer.rs`
//! and `benches/vs_onnxruntime.rs` include this file alone with `#[path]`.

// Each test or bench that includes this file uses only some of it.
#![allow(dead_code)]

use std::path::Path;

use candle_core::{Device, Tensor};
use equifx::model::cinn::Cinn;
use equifx::synth::{render_srgb8, Scene, Style};

/// The scenes rendered in `style` at `size`², as a (scenes, 3, size, size)
/// batch of sRGB values in [0, 1].
pub fn scene_batch(style: Style, scenes: &[Scene], size: usize) -> Tensor {
    let mut flat = Vec::with_capacity(scenes.len() * 3 * size * size);
    for s in scenes {
        let rgb = render_srgb8(s, style, size, size);
        for c in 0..3 {
            flat.extend((0..size * size).map(|p| f32::from(rgb[p * 3 + c]) / 255.0));
        }
    }
    Tensor::from_vec(flat, (scenes.len(), 3, size, size), &Device::Cpu).unwrap()
}

/// Domain index `d` for each of `n` items, as the cINN takes it.
pub fn domain_ids(d: usize, n: usize) -> Tensor {
    Tensor::from_vec(vec![d as u32; n], n, &Device::Cpu).unwrap()
}

/// The largest |value| in `t`.
pub fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Runs `cinn` forward on `z` and back, asserts the round trip recovers `z`
/// to 1e-4 of its largest magnitude, and returns the forward output v.
pub fn assert_round_trip(cinn: &Cinn, z: &Tensor, domains: &Tensor, what: &str) -> Tensor {
    let (v, _) = cinn.forward(z, domains).unwrap();
    let back = cinn.inverse(&v, domains).unwrap();
    let err = max_abs(&(&back - z).unwrap());
    let scale = max_abs(z);
    assert!(
        err <= 1e-4 * scale,
        "{what}: max |F⁻¹(F(z)) − z| = {err}, scale {scale}"
    );
    v
}

/// Writes a tensor's values as raw little-endian f32.
pub fn write_f32(path: &Path, t: &Tensor) {
    let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// Reads raw little-endian f32 values.
pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
