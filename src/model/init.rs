//! Deterministic weight initialisation. candle's CPU random generator cannot
//! be seeded, so every variable is overwritten from our own counter-based
//! stream, keyed on (seed, variable name): the same seed gives the same
//! starting weights on any machine.

use candle_core::{Result, Tensor};
use candle_nn::VarMap;

use crate::rng::StreamRng;

fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Re-initialises every variable of `varmap` from `seed`:
/// - conv weights: He-uniform, bound √(6 / fan_in);
/// - biases, ActNorm parameters and the last conv of each coupling: zero, so
///   an untrained cINN is the identity and training starts stable;
/// - domain embeddings: N(0, 0.5²).
pub fn reseed(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("variable map lock poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let shape = var.shape().clone();
        let n = shape.elem_count();
        let mut r = StreamRng::new(seed, b"init", name_key(name));
        let zero = name.ends_with(".bias")
            || name.ends_with("log_scale")
            || name.ends_with("shift")
            || name.contains("coupling.subnet.out.");
        let values: Vec<f32> = if zero {
            vec![0.0; n]
        } else if name.ends_with("embedding") {
            (0..n).map(|_| (0.5 * r.normal()) as f32).collect()
        } else {
            let fan_in = (n / shape.dims().first().copied().unwrap_or(1).max(1)).max(1);
            let bound = (6.0 / fan_in as f64).sqrt();
            (0..n).map(|_| r.range(-bound, bound) as f32).collect()
        };
        var.set(&Tensor::from_vec(values, shape, var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}
