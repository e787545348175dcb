use candle_core::{Device, Tensor};
use equifx::model::bundle::{default_bundle_dir, Bundle};
use equifx::rng::StreamRng;
use equifx::synth::{palette_oracle, shape_oracle, style_oracle};

fn to8(t: &Tensor) -> Vec<Vec<u8>> {
    let (b, _, h, w) = t.dims4().unwrap();
    let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    (0..b)
        .map(|i| {
            (0..h * w)
                .flat_map(|p| (0..3).map(move |c| (c, p)))
                .map(|(c, p)| {
                    (v[i * 3 * h * w + c * h * w + p].clamp(0.0, 1.0) * 255.0).round() as u8
                })
                .collect()
        })
        .collect()
}

fn main() {
    let b = Bundle::load(
        &std::env::args()
            .nth(1)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(default_bundle_dir),
        &Device::Cpu,
    )
    .unwrap();
    let n = 100;
    for (d, name) in b.manifest.domains.iter().enumerate() {
        let mut vals = Vec::new();
        for i in 0..n {
            let mut r = StreamRng::new(5, b"probe", i as u64);
            for _ in 0..512 {
                vals.push(r.normal() as f32);
            }
        }
        let v = Tensor::from_vec(vals, (n, 8, 8, 8), &Device::Cpu).unwrap();
        let dt = Tensor::from_vec(vec![d as u32; n], n, &Device::Cpu).unwrap();
        let z = b.cinn.inverse(&v, &dt).unwrap();
        let x = b.autoencoder.decoder.forward(&z).unwrap();
        let imgs = to8(&x);
        let (mut warm, mut cool, mut none, mut round, mut ang, mut snone) = (0, 0, 0, 0, 0, 0);
        let mut styles = std::collections::BTreeMap::new();
        for im in &imgs {
            match palette_oracle(im, 64, 64).value {
                Some(equifx::synth::Palette::Warm) => warm += 1,
                Some(_) => cool += 1,
                None => none += 1,
            }
            match shape_oracle(im, 64, 64).value {
                Some(equifx::synth::Shape::Round) => round += 1,
                Some(_) => ang += 1,
                None => snone += 1,
            }
            *styles
                .entry(format!("{:?}", style_oracle(im, 64, 64).value))
                .or_insert(0) += 1;
        }
        println!("{name}: samples palette warm {warm} cool {cool} none {none}; shape round {round} angular {ang} none {snone}; style {styles:?}");
        let img = image::RgbImage::from_raw(
            64 * 10,
            64,
            (0..64)
                .flat_map(|y| (0..10).flat_map(move |k| (0..64).map(move |x| (k, y, x))))
                .flat_map(|(k, y, x)| {
                    let p = &imgs[k];
                    [
                        p[(y * 64 + x) * 3],
                        p[(y * 64 + x) * 3 + 1],
                        p[(y * 64 + x) * 3 + 2],
                    ]
                })
                .collect(),
        )
        .unwrap();
        img.save(format!("/tmp/probe_{name}.png")).unwrap();
        // encode training images
        let data = equifx::train::DomainData::load(
            name,
            std::path::Path::new(&format!("/work/data/{name}")),
            64,
            Some(300),
        )
        .unwrap();
        let flat: Vec<f32> = data.images.iter().flatten().copied().collect();
        let xs = Tensor::from_vec(flat, (300, 3, 64, 64), &Device::Cpu).unwrap();
        let z = b.autoencoder.encoder.forward(&xs).unwrap();
        let dt = Tensor::from_vec(vec![d as u32; 300], 300, &Device::Cpu).unwrap();
        let zz = z
            .transpose(0, 1)
            .unwrap()
            .flatten_from(1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let stds: Vec<String> = zz
            .iter()
            .map(|c| {
                let m = c.iter().map(|&x| x as f64).sum::<f64>() / c.len() as f64;
                format!(
                    "{:.4}",
                    (c.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / c.len() as f64)
                        .sqrt()
                )
            })
            .collect();
        println!("  z channel std: {stds:?}");
        let (v, _) = b.cinn.forward(&z, &dt).unwrap();
        let vv = v.flatten_from(1).unwrap().to_vec2::<f32>().unwrap();
        let mut var: Vec<f64> = (0..512)
            .map(|j| {
                let m = vv.iter().map(|r| r[j] as f64).sum::<f64>() / 300.0;
                vv.iter().map(|r| (r[j] as f64 - m).powi(2)).sum::<f64>() / 300.0
            })
            .collect();
        var.sort_by(f64::total_cmp);
        println!(
            "  train v var: min {:.3} med {:.3} max {:.3} mean {:.3}",
            var[0],
            var[256],
            var[511],
            var.iter().sum::<f64>() / 512.0
        );
    }
}
