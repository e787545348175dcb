//! Training data from studio-like folders: nested sub-folders, pictures of
//! any size and aspect ratio (PNG and JPEG), broken files, a partial
//! labels.csv; batches of random crops that are reproducible whatever the
//! thread count, and an `equifx train` run on two such folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use equifx::model::Bundle;
use equifx::train::{draw_batch, CropDraw, DomainData, Sampling};

/// A picture whose every pixel differs from its neighbours (so a crop at a
/// wrong offset cannot match by chance): a function of (x, y, seed).
fn pattern(w: u32, h: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let v = x.wrapping_mul(7) ^ y.wrapping_mul(13) ^ seed.wrapping_mul(31);
        image::Rgb([
            (v % 251) as u8,
            ((x * 3 + y * 5 + seed) % 256) as u8,
            ((x ^ (y * 2)) % 256) as u8,
        ])
    })
}

fn save(root: &Path, rel: &str, img: &image::RgbImage) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(&path).unwrap();
}

/// The studio-like folder: five readable pictures in nested folders, a
/// corrupt JPEG, a 0-byte PNG, files training must not read (text, OpenEXR
/// by extension, a hidden file) and a labels.csv with a quoted file name,
/// a missing row, an empty cell and a row for the corrupt file.
fn studio_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    save(root, "b.png", &pattern(300, 200, 1));
    save(root, "a/tall.jpg", &pattern(64, 640, 2));
    save(root, "a/deep/one.png", &pattern(1, 1, 3));
    save(root, "z/wide.jpg", &pattern(640, 96, 4));
    save(root, "z/with, comma.png", &pattern(80, 120, 5));
    save(root, ".hidden.png", &pattern(70, 70, 6));
    std::fs::write(
        root.join("corrupt.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg at all",
    )
    .unwrap();
    std::fs::write(root.join("empty.png"), b"").unwrap();
    std::fs::write(root.join("notes.txt"), b"hello").unwrap();
    std::fs::write(root.join("scan.exr"), b"not read").unwrap();
    std::fs::write(
        root.join("labels.csv"),
        "file,smiling,hat\n\
         b.png,1,0\n\
         a/tall.jpg,0,\n\
         a/deep/one.png,yes,TRUE\n\
         \"z/with, comma.png\",True,1\n\
         corrupt.jpg,1,1\n",
    )
    .unwrap();
    dir
}

const FILES: [&str; 5] = [
    "a/deep/one.png",
    "a/tall.jpg",
    "b.png",
    "z/wide.jpg",
    "z/with, comma.png",
];

#[test]
fn images_are_found_recursively_sorted_and_broken_files_skipped_and_counted() {
    let dir = studio_folder();
    let d = DomainData::load("day", dir.path(), None).unwrap();
    let files: Vec<PathBuf> = FILES.iter().map(PathBuf::from).collect();
    assert_eq!(d.files, files);
    assert_eq!(
        d.skipped,
        [PathBuf::from("corrupt.jpg"), PathBuf::from("empty.png")]
    );
    assert_eq!(d.len(), 5);
    // Oracle: the CSV rows as written above, in FILES order.
    assert_eq!(d.labels.keys().collect::<Vec<_>>(), ["hat", "smiling"]);
    assert_eq!(
        d.labels["smiling"],
        [Some(true), Some(false), Some(true), None, Some(true)]
    );
    assert_eq!(
        d.labels["hat"],
        [Some(true), None, Some(false), None, Some(true)]
    );
    let shares = d.attribute_shares();
    assert!((shares["smiling"] - 3.0 / 4.0).abs() < 1e-12, "{shares:?}");
    assert!((shares["hat"] - 2.0 / 3.0).abs() < 1e-12, "{shares:?}");

    // --limit counts readable images, in path order.
    let some = DomainData::load("day", dir.path(), Some(2)).unwrap();
    assert_eq!(some.files, files[..2]);
    assert_eq!(some.labels["smiling"], [Some(true), Some(false)]);

    // A folder of nothing but broken files is an error, not an empty domain.
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("x.png"), b"").unwrap();
    assert!(DomainData::load("x", broken.path(), None).is_err());
}

fn two_domains() -> (tempfile::TempDir, Vec<DomainData>) {
    let dir = studio_folder();
    let other = dir.path().join("other");
    save(&other, "p.png", &pattern(100, 40, 7));
    save(&other, "q/r.jpg", &pattern(48, 300, 8));
    let data = vec![
        DomainData::load("one", dir.path(), None).unwrap(),
        DomainData::load("two", &other, None).unwrap(),
    ];
    // The first folder holds the second one's files too: a sub-folder is searched.
    assert_eq!(data[0].len(), 7);
    (dir, data)
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn a_batch_is_the_same_for_the_same_seed_and_step_whatever_the_threads() {
    let (_dir, data) = two_domains();
    let sampling = Sampling::Crop {
        pixel_scale: 0.8,
        scale_jitter: 0.5,
    };
    let batch = |step: usize| draw_batch(&data, sampling, 32, 9, b"test", step, 12).unwrap();
    let one = in_pool(1, || batch(3));
    let two = in_pool(2, || batch(3));
    let again = batch(3);
    assert_eq!(one.pixels.len(), 12 * 3 * 32 * 32);
    assert!(one == two, "1 and 2 threads differ");
    assert!(one == again, "two calls differ");
    // Another step or seed draws other pictures.
    assert_ne!(batch(4).pixels, one.pixels);
    let reseeded = draw_batch(&data, sampling, 32, 10, b"test", 3, 12).unwrap();
    assert_ne!(reseeded.pixels, one.pixels);
    // The jitter really varies the scale.
    let scales: std::collections::BTreeSet<(u32, u32)> = (0..8)
        .flat_map(|s| batch(s).placements)
        .map(|p| p.scaled)
        .collect();
    assert!(scales.len() > 4, "{scales:?}");
}

/// Oracle: at scale 1 a crop is the file's own pixels at the recorded
/// offset, read here straight from the file by the image crate.
#[test]
fn a_crop_at_scale_one_is_the_files_pixels_at_its_offset() {
    let (_dir, data) = two_domains();
    let size = 32;
    let n = size * size;
    let (mut checked, mut moved) = (0, 0);
    for step in 0..6 {
        let b = draw_batch(&data, Sampling::default(), size, 4, b"oracle", step, 8).unwrap();
        for k in 0..8 {
            let d = &data[b.domains[k] as usize];
            let src = image::open(d.path(b.images[k])).unwrap().to_rgb8();
            let p = b.placements[k];
            if p.scaled != src.dimensions() {
                // Only the 1 × 1 file is smaller than the crop.
                assert_eq!(src.dimensions(), (1, 1));
                continue;
            }
            let pixels = &b.pixels[k * 3 * n..(k + 1) * 3 * n];
            for y in 0..size {
                for x in 0..size {
                    let px = src.get_pixel(p.x + x as u32, p.y + y as u32);
                    for c in 0..3 {
                        assert_eq!(
                            pixels[c * n + y * size + x],
                            f32::from(px[c]) / 255.0,
                            "step {step} item {k} ({x}, {y}) channel {c}"
                        );
                    }
                }
            }
            checked += 1;
            moved += usize::from(p.x > 0 || p.y > 0);
        }
    }
    assert!(checked >= 20, "{checked} crops checked");
    assert!(moved >= 10, "{moved} crops away from the corner");
}

/// The 1 × 1 file is upscaled to cover the crop: every pixel is its colour.
#[test]
fn a_picture_smaller_than_the_crop_is_upscaled() {
    let dir = studio_folder();
    let d = DomainData::load("day", dir.path(), None).unwrap();
    let p = d
        .picture(0, Sampling::default(), 16, CropDraw::CENTRE)
        .unwrap();
    assert_eq!(p.placement.scaled, (16, 16));
    let colour = pattern(1, 1, 3).get_pixel(0, 0).0;
    for (c, &channel) in colour.iter().enumerate() {
        let want = f32::from(channel) / 255.0;
        for &v in &p.pixels[c * 256..(c + 1) * 256] {
            assert!((v - want).abs() <= 1.0 / 255.0, "{v} vs {want}");
        }
    }
}

/// The loader before crops, verbatim: decode, to RGB8, Triangle resize to
/// size × size unless already that size, planar / 255.
fn old_load_image(path: &Path, size: usize) -> Vec<f32> {
    let img = image::ImageReader::open(path)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap()
        .into_rgb8();
    let img = if (img.width() as usize, img.height() as usize) == (size, size) {
        img
    } else {
        image::imageops::resize(
            &img,
            size as u32,
            size as u32,
            image::imageops::FilterType::Triangle,
        )
    };
    let n = size * size;
    let mut planar = vec![0f32; 3 * n];
    for (p, px) in img.pixels().enumerate() {
        for c in 0..3 {
            planar[c * n + p] = f32::from(px[c]) / 255.0;
        }
    }
    planar
}

#[test]
fn resize_sampling_reproduces_the_old_whole_image_resize() {
    let (_dir, data) = two_domains();
    let size = 24;
    let d = &data[0];
    let all = d
        .centre_pictures(0..d.len(), Sampling::Resize, size)
        .unwrap();
    let want: Vec<f32> = (0..d.len())
        .flat_map(|i| old_load_image(&d.path(i), size))
        .collect();
    assert!(all == want, "resize differs from the old loader");
    let b = draw_batch(&data, Sampling::Resize, size, 2, b"resize", 0, 6).unwrap();
    let n = 3 * size * size;
    for k in 0..6 {
        let path = data[b.domains[k] as usize].path(b.images[k]);
        assert!(
            b.pixels[k * n..(k + 1) * n] == old_load_image(&path, size)[..],
            "item {k}"
        );
    }
    // A square file of the training size is the same picture either way.
    let square = tempfile::tempdir().unwrap();
    save(square.path(), "s.png", &pattern(24, 24, 9));
    let s = DomainData::load("s", square.path(), None).unwrap();
    let draw = CropDraw {
        scale: 0.7,
        x: 0.9,
        y: 0.2,
    };
    assert_eq!(
        s.picture(0, Sampling::default(), size, draw)
            .unwrap()
            .pixels,
        s.picture(0, Sampling::Resize, size, draw).unwrap().pixels
    );
}

/// One labelled domain folder for the end-to-end run: `count` pictures of
/// assorted sizes in nested folders; returns the labels written, by file.
fn labelled_domain(
    root: &Path,
    seed: u32,
    count: u32,
) -> BTreeMap<String, (Option<bool>, Option<bool>)> {
    let mut rows = BTreeMap::new();
    let mut csv = String::from("file,smiling,hat\n");
    for i in 0..count {
        let (w, h) = (16 + (i * 7) % 40, 16 + (i * 11) % 50);
        let rel = if i % 3 == 0 {
            format!("sub/{i}.png")
        } else {
            format!("p{i}.jpg")
        };
        save(root, &rel, &pattern(w, h, seed * 100 + i));
        let smiling = (i % 4 != 3).then_some((i + seed).is_multiple_of(3));
        let hat = (i % 5 != 4).then_some(i % 2 == 0);
        if i == 1 {
            continue; // no row at all
        }
        let cell = |v: Option<bool>| v.map_or("", |b| if b { "1" } else { "0" });
        csv.push_str(&format!("\"{rel}\",{},{}\n", cell(smiling), cell(hat)));
        rows.insert(rel, (smiling, hat));
    }
    std::fs::write(root.join("labels.csv"), csv).unwrap();
    rows
}

fn share(rows: &BTreeMap<String, (Option<bool>, Option<bool>)>, hat: bool) -> f64 {
    let labels: Vec<bool> = rows
        .values()
        .filter_map(|&(s, h)| if hat { h } else { s })
        .collect();
    labels.iter().filter(|&&b| b).count() as f64 / labels.len() as f64
}

fn train(dir: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
        .args(["train", "--preset", "tiny", "--size", "16", "--batch", "4"])
        .args(["--ae-steps", "2", "--cinn-steps", "2", "--seed", "5"])
        .arg("--domain")
        .arg(format!("day={}", dir.join("day").display()))
        .arg("--domain")
        .arg(format!("night={}", dir.join("night").display()))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn equifx_train_on_two_studio_folders_records_shares_scale_and_skipped_files() {
    let dir = tempfile::tempdir().unwrap();
    let day = labelled_domain(&dir.path().join("day"), 1, 14);
    let night = labelled_domain(&dir.path().join("night"), 2, 12);
    std::fs::write(dir.path().join("day/sub/broken.jpg"), b"\xff\xd8garbage").unwrap();
    std::fs::write(dir.path().join("day/empty.png"), b"").unwrap();
    // A JPEG cut short: its header reads, so it is listed at load, and it is
    // left out and counted when training first decodes it.
    let mut whole = Vec::new();
    pattern(64, 48, 3)
        .write_to(
            &mut std::io::Cursor::new(&mut whole),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    std::fs::write(dir.path().join("day/cut.jpg"), &whole[..whole.len() / 2]).unwrap();
    assert!(image::ImageReader::open(dir.path().join("day/cut.jpg"))
        .unwrap()
        .into_dimensions()
        .is_ok());

    let out = dir.path().join("bundle");
    let run = train(
        dir.path(),
        &out,
        &["--pixel-scale", "0.5", "--scale-jitter", "0.25"],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let m = Bundle::read_manifest(&out).unwrap();
    assert_eq!(m.domains, ["day", "night"]);
    assert_eq!(m.pixel_scale, Some(0.5));
    assert_eq!(m.image_size, 16);
    // The image count is of listed files: cut.jpg is one (15 = 14 + 1).
    for (stats, (rows, count)) in m.training.iter().zip([(&day, 15), (&night, 12)]) {
        assert_eq!(stats.images, count, "{}", stats.name);
        for (attr, hat) in [("smiling", false), ("hat", true)] {
            let want = share(rows, hat);
            let got = stats.attributes[attr];
            assert!(
                (got - want).abs() < 1e-12,
                "{} {attr}: {got} vs {want}",
                stats.name
            );
        }
    }
    assert_eq!(m.provenance["skipped_files.day"], "3");
    assert_eq!(m.provenance["skipped_files.night"], "0");
    let named = &m.provenance["skipped_examples.day"];
    assert!(
        named.contains("empty.png") && named.contains("broken.jpg") && named.contains("cut.jpg"),
        "{named}"
    );
    assert_eq!(m.provenance["sampling"], "crop");
    assert_eq!(m.provenance["scale_jitter"], "0.25");
    // Labels give the bundle a pixel reader: one output per domain and attribute.
    let reader = m
        .reader
        .as_ref()
        .expect("a labelled run fits a pixel reader");
    let mut outputs: Vec<(&str, &str)> = reader
        .outputs
        .iter()
        .map(|o| (o.domain.as_str(), o.attribute.as_str()))
        .collect();
    outputs.sort();
    assert_eq!(
        outputs,
        [
            ("day", "hat"),
            ("day", "smiling"),
            ("night", "hat"),
            ("night", "smiling")
        ]
    );
    assert!(!out.join(".checkpoint-reader").exists());
    assert!(Bundle::load(&out, &candle_core::Device::Cpu)
        .unwrap()
        .reader
        .is_some());

    // Whole-image resizes record no pixel scale; --reader-epochs 0 fits no reader.
    let resized = dir.path().join("resized");
    let run = train(
        dir.path(),
        &resized,
        &["--sampling", "resize", "--reader-epochs", "0"],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let m = Bundle::read_manifest(&resized).unwrap();
    assert_eq!(m.pixel_scale, None);
    assert!(m.reader.is_none());
    assert!(!resized.join("reader.safetensors").exists());
    assert_eq!(m.provenance["sampling"], "resize");

    // Crop options with resize sampling, or out of range, are refused.
    for bad in [
        &["--sampling", "resize", "--scale-jitter", "0.2"][..],
        &["--pixel-scale", "0"][..],
        &["--scale-jitter", "1"][..],
    ] {
        let run = train(dir.path(), &dir.path().join("bad"), bad);
        assert_eq!(run.status.code(), Some(2), "{bad:?}");
    }
}
