//! How the style oracle's thresholds (src/synth/oracles.rs) were set: for each
//! style at 64² and 512², the style features (outline, texture, background
//! spread) of scenes on the tuning seeds 1000…1299, printed as min, 1 %,
//! median, 99 % and max. The thresholds sit midway between the classes; the
//! accuracy tests in tests/synth_oracles.rs use other seeds.
//!
//! Run it after changing a style or a feature, before moving a threshold:
//!
//! ```text
//! cargo run --example style_features
//! ```

use equifx::synth::{render_srgb8, style_features, Bias, Scene, Style};
use rayon::prelude::*;

fn main() {
    let bias = Bias {
        warm: 0.5,
        round: 0.5,
    };
    for size in [64, 512] {
        for style in Style::ALL {
            let f: Vec<_> = (1000..1300)
                .into_par_iter()
                .filter_map(|i| {
                    let rgb = render_srgb8(&Scene::sample(i, 0, bias), style, size, size);
                    style_features(&rgb, size, size)
                })
                .collect();
            let q = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                [
                    v[0],
                    v[v.len() / 100],
                    v[v.len() / 2],
                    v[v.len() * 99 / 100],
                    v[v.len() - 1],
                ]
            };
            let mut o: Vec<f64> = f.iter().map(|x| x.outline).collect();
            let mut t: Vec<f64> = f.iter().map(|x| x.texture).collect();
            let mut s: Vec<f64> = f.iter().map(|x| x.bg_spread).collect();
            println!(
                "{size} {:?}: outline {:.3?} texture {:.4?} spread {:.4?}",
                style,
                q(&mut o),
                q(&mut t),
                q(&mut s)
            );
        }
    }
}
