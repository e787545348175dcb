//! The fairness commands and nodes as users run them, on the shipped bundle:
//! `equifx sample`, `equifx rebalance`, `equifx audit`, and the Fair Sampler,
//! Rebalance and Bias Audit nodes agreeing with them frame by frame.

use std::path::Path;

mod common;

use common::cli::{
    assert_node_matches_cli, equifx, group_counts, groups_attribute, photo_renders, run,
};

use equifx::fairness::{cells, RebalancePlan, Sidecar};
use equifx::frame::Image;
use equifx::instance::Instance;
use equifx::io::read_image;
use equifx::node::RenderContext;

fn sample(dir: &Path, name: &str, count: u64, warm: f64, seed: u64) -> Sidecar {
    let out = dir.join(format!("{name}_####.png"));
    run(equifx()
        .args([
            "sample",
            "--domain",
            "photo",
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--target", &format!("warm={warm}")])
        .arg("--out")
        .arg(&out)
        .arg("--sidecar")
        .arg(dir.join(format!("{name}.json"))));
    Sidecar::read(&dir.join(format!("{name}.json"))).expect("sidecar")
}

#[test]
fn sample_meets_the_head_counts_exactly_is_deterministic_and_equals_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let n = 40;
    let side = sample(dir.path(), "a", n, 0.5, 9);
    let kw = side
        .attributes
        .iter()
        .position(|a| a == "warm")
        .expect("warm head");
    let warm = side
        .frames
        .iter()
        .filter(|f| cells::has(f.cell, kw))
        .count();
    assert_eq!(warm, 20, "the warm head cell count is exact");
    let mut counts = vec![0u64; side.counts.len()];
    side.frames.iter().for_each(|f| counts[f.cell] += 1);
    assert_eq!(counts, side.counts);
    // Same seed → identical files; another seed → other pictures.
    let again = sample(dir.path(), "b", n, 0.5, 9);
    assert_eq!(side.frames, again.frames);
    for i in [0, 17, 39] {
        let f = |s: &str| std::fs::read(dir.path().join(format!("{s}_{i:04}.png"))).unwrap();
        assert_eq!(f("a"), f("b"), "item {i} differs between runs");
    }
    let other = sample(dir.path(), "c", n, 0.5, 10);
    assert_ne!(side.frames, other.frames);
    // The node with N frames per block renders item i as frame i.
    let mut inst = Instance::new("org.equifx.FairSampler").unwrap();
    inst.params_mut()
        .set_from_str("block_length", &n.to_string())
        .unwrap();
    inst.params_mut().set_from_str("seed", "9").unwrap();
    inst.params_mut()
        .set_from_str("shares", "warm=0.5")
        .unwrap();
    let s = 64;
    let node = inst
        .render_images(&[], s, s, 17, &RenderContext::default())
        .unwrap();
    let cli = read_image(&dir.path().join("a_0017.png")).unwrap().image;
    assert_node_matches_cli(&node, &cli, "frame 17");
    // The shipped bundle has a pixel reader: every picture was checked, the
    // sidecar says how, and a redrawn item is the same picture in the node
    // (which draws it alone) as in the CLI (which draws 64 at a time).
    let checks: Vec<_> = side
        .frames
        .iter()
        .map(|f| f.pixel_check.clone().expect("every frame checked"))
        .collect();
    assert!(checks.iter().all(|c| (1..=16).contains(&c.attempts)));
    assert!(checks.iter().all(|c| c.passed || c.attempts == 16));
    assert_eq!(side.acceptance.len(), side.counts.len());
    let redrawn = checks
        .iter()
        .position(|c| c.attempts > 1)
        .expect("in 40 pictures at least one redraw");
    let node = inst
        .render_images(&[], s, s, redrawn as i64, &RenderContext::default())
        .unwrap();
    let cli = read_image(&dir.path().join(format!("a_{redrawn:04}.png")))
        .unwrap()
        .image;
    assert_node_matches_cli(&node, &cli, "a redrawn frame");
}

#[test]
fn rebalance_edits_the_minimum_leaves_the_rest_untouched_and_the_node_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let n = 30;
    sample(dir.path(), "in", n, 0.9, 3);
    let plan_path = dir.path().join("plan.json");
    run(equifx()
        .arg("rebalance")
        .arg(dir.path().join("in_####.png"))
        .args(["--domain", "photo", "--target", "warm=0.5"])
        .arg("--plan")
        .arg(&plan_path)
        .arg("--out")
        .arg(dir.path().join("out_####.png")));
    let plan = RebalancePlan::from_json(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    let minimum: u64 = plan
        .counts_before
        .iter()
        .zip(&plan.counts_after)
        .map(|(c, t)| c.saturating_sub(*t))
        .sum();
    assert_eq!(plan.edits.len() as u64, minimum, "the fewest edits");
    assert!(
        !plan.edits.is_empty(),
        "a 90 % warm batch needs edits to reach 50 %"
    );
    for i in 0..n as usize {
        let a = std::fs::read(dir.path().join(format!("in_{i:04}.png"))).unwrap();
        let b = std::fs::read(dir.path().join(format!("out_{i:04}.png"))).unwrap();
        if plan.edit_for(i).is_none() {
            assert_eq!(
                read_image(&dir.path().join(format!("in_{i:04}.png")))
                    .unwrap()
                    .image,
                read_image(&dir.path().join(format!("out_{i:04}.png")))
                    .unwrap()
                    .image,
                "unedited item {i} must pass through"
            );
        } else {
            assert_ne!(a, b, "edited item {i} must change");
        }
    }
    // The node applies the same edit to frame i.
    let edited = plan.edits[0].item;
    let mut inst = Instance::new("org.equifx.Rebalance").unwrap();
    inst.params_mut()
        .set_from_str("plan", plan_path.to_str().unwrap())
        .unwrap();
    let input = read_image(&dir.path().join(format!("in_{edited:04}.png")))
        .unwrap()
        .image;
    let (w, h) = (input.width(), input.height());
    let node = inst
        .render_images(
            std::slice::from_ref(&input),
            w,
            h,
            edited as i64,
            &RenderContext::default(),
        )
        .unwrap();
    let cli = read_image(&dir.path().join(format!("out_{edited:04}.png")))
        .unwrap()
        .image;
    assert_node_matches_cli(&node, &cli, &format!("edited frame {edited}"));
    // A frame the plan leaves alone passes through the node exactly.
    let untouched = (0..n as usize)
        .find(|i| plan.edit_for(*i).is_none())
        .unwrap();
    let img = read_image(&dir.path().join(format!("in_{untouched:04}.png")))
        .unwrap()
        .image;
    assert_eq!(
        inst.render_images(
            std::slice::from_ref(&img),
            w,
            h,
            untouched as i64,
            &RenderContext::default()
        )
        .unwrap(),
        img
    );
    // Negative control: a plan of another model is refused.
    let mut foreign = plan.clone();
    foreign.context.as_mut().unwrap().weights_sha256 = "0".repeat(64);
    std::fs::write(&plan_path, foreign.to_json().unwrap()).unwrap();
    assert!(inst
        .render_images(&[input], w, h, edited as i64, &RenderContext::default())
        .is_err());
}

#[test]
fn audit_reads_sidecars_records_and_images_and_writes_three_reports() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path(), "s", 24, 0.5, 5);
    let report = dir.path().join("reports/sidecar");
    let text = run(equifx()
        .args(["audit", "--domain", "photo", "--sidecar"])
        .arg(dir.path().join("s.json"))
        .arg("--report")
        .arg(&report));
    assert!(text.contains("warm (N = 24)"), "{text}");
    assert!(
        text.contains("inconclusive"),
        "24 frames cannot show balance: {text}"
    );
    for ext in ["json", "csv", "html"] {
        assert!(report.with_extension(ext).exists(), "{ext} report missing");
    }
    // The Bias Audit node records frames; `--records` audits them.
    let records = dir.path().join("records");
    let mut inst = Instance::new("org.equifx.BiasAudit").unwrap();
    inst.params_mut()
        .set_from_str("records", records.to_str().unwrap())
        .unwrap();
    for i in 0..24 {
        let img = read_image(&dir.path().join(format!("s_{i:04}.png")))
            .unwrap()
            .image;
        let (w, h) = (img.width(), img.height());
        let out = inst
            .render_images(
                std::slice::from_ref(&img),
                w,
                h,
                i,
                &RenderContext::default(),
            )
            .unwrap();
        assert_eq!(out, img, "Bias Audit passes frames through");
    }
    let from_records = run(equifx()
        .args(["audit", "--domain", "photo", "--records"])
        .arg(&records)
        .arg("--report")
        .arg(dir.path().join("reports/records")));
    let from_images = run(equifx()
        .args(["audit", "--domain", "photo"])
        .arg(dir.path().join("s_####.png"))
        .arg("--report")
        .arg(dir.path().join("reports/images")));
    assert_eq!(
        from_records, from_images,
        "records and images are the same audit"
    );
    // Bad input: an unknown attribute is a clear error, exit code 2.
    let out = equifx()
        .args([
            "audit",
            "--domain",
            "photo",
            "--target",
            "tall=0.5",
            "--sidecar",
        ])
        .arg(dir.path().join("s.json"))
        .arg("--report")
        .arg(dir.path().join("reports/bad"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown attribute 'tall'"));
}

#[test]
fn damaged_records_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("frame_000001.json"),
        r#"{"version":1,"attributes":["round","warm"],"frame":{"item":1,"seed":0,"cell":9,"scores":[0.1,0.2]}}"#,
    )
    .unwrap();
    let audit = || {
        equifx()
            .args(["audit", "--domain", "photo", "--records"])
            .arg(dir.path())
            .arg("--report")
            .arg(dir.path().join("r"))
            .output()
            .unwrap()
    };
    let out = audit();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("damaged"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.path().join("frame_000001.json"), "{not json").unwrap();
    let out = audit();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !dir.path().join("r.json").exists(),
        "no report from bad input"
    );
}

/// A bundle with label-free groups audits images by group too: on fresh
/// renders at a planted warm share no domain was trained at, the group that
/// holds the warm pictures reads the renders' true warm share (from the
/// synthetic world's labels, not from the model) within its interval, and the
/// groups' training shares are the reference.
#[test]
fn audit_by_label_free_groups_reads_the_planted_palette() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = grouped_bundle(tmp.path(), &["photo"]);
    // A person looked at the groups and named them.
    run(equifx()
        .args(["model", "name-group"])
        .arg(&bundle)
        .args(["--domain", "photo", "0=warm", "1=cool"]));
    let renders = tmp.path().join("renders");
    let warm = photo_renders(&renders, 300, 0.4, 21);
    let report = tmp.path().join("audit");
    run(equifx()
        .arg("audit")
        .arg(renders.join("photo_######.png"))
        .args(["--domain", "photo", "--model"])
        .arg(&bundle)
        .arg("--report")
        .arg(&report));
    // `model info` (and so the C ABI's equifx_model_info) lists the groups by
    // the names targets take, with their training shares.
    let info: serde_json::Value = serde_json::from_str(&run(equifx()
        .args(["model", "info", "--json"])
        .arg(&bundle)))
    .unwrap();
    let photo = &info["domains"][0];
    assert_eq!(photo["name"], "photo");
    let listed: Vec<(&str, f64)> = photo["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap(),
                g["training_share"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0].0, listed[1].0), ("warm", "cool"));
    assert!((listed[0].1 - json_share(&bundle)).abs() < 1e-12);
    assert!((listed[0].1 + listed[1].1 - 1.0).abs() < 1e-9);
    let groups = groups_attribute(&report);
    let classes = groups["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 2);
    // Group 0 is the larger in training: the warm one (the bundle's photo
    // data is 67 % warm).
    let warm_group = &classes[0];
    assert_eq!(
        warm_group["name"], "warm",
        "the reports use the groups' names"
    );
    let (lo, hi) = (
        warm_group["interval"]["lo"].as_f64().unwrap(),
        warm_group["interval"]["hi"].as_f64().unwrap(),
    );
    assert!(
        lo <= warm && warm <= hi,
        "the warm group reads {} [{lo}, {hi}], the renders are {warm} warm",
        warm_group["share"]
    );
    let reference = warm_group["reference"].as_f64().unwrap();
    let trained = json_share(&bundle);
    assert!(
        (reference - trained).abs() < 1e-3,
        "{reference} vs {trained}"
    );
    // The Bias Audit node records each frame's group too: auditing its records
    // counts the same frames in the same groups as auditing the images.
    let records = tmp.path().join("records");
    let mut inst = Instance::new("org.equifx.BiasAudit").unwrap();
    for (param, value) in [
        ("records", records.to_str().unwrap()),
        ("model", bundle.to_str().unwrap()),
        ("domain", "photo"),
    ] {
        inst.params_mut().set_from_str(param, value).unwrap();
    }
    for i in 0..300 {
        let img = read_image(&renders.join(format!("photo_{i:06}.png")))
            .unwrap()
            .image;
        let (w, h) = (img.width(), img.height());
        inst.render_images(
            std::slice::from_ref(&img),
            w,
            h,
            i as i64,
            &RenderContext::default(),
        )
        .unwrap();
    }
    let from_records = tmp.path().join("records-audit");
    run(equifx()
        .args(["audit", "--domain", "photo", "--model"])
        .arg(&bundle)
        .arg("--records")
        .arg(&records)
        .arg("--report")
        .arg(&from_records));
    assert_eq!(group_counts(&from_records), group_counts(&report));
    // Normalised entropy, −Σ p ln p / ln 2, of the shares the report shows.
    let entropy = groups["distance"]["entropy"].as_f64().unwrap();
    let expected: f64 = classes
        .iter()
        .map(|c| c["share"].as_f64().unwrap())
        .map(|p| -p * p.ln() / 2f64.ln())
        .sum();
    assert!((entropy - expected).abs() < 1e-8, "{entropy} vs {expected}");
}

/// The photo domain's first group's training share, from the manifest.
fn json_share(bundle: &Path) -> f64 {
    let m: toml::Table =
        toml::from_str(&std::fs::read_to_string(bundle.join("manifest.toml")).unwrap()).unwrap();
    m["groups"]["photo"]["shares"][0].as_float().unwrap()
}

/// A copy of the shipped bundle in `dir` with two label-free groups found in
/// each of `domains`.
fn grouped_bundle(dir: &Path, domains: &[&str]) -> std::path::PathBuf {
    let bundle = dir.join("bundle");
    common::bundle::copy_default(&bundle);
    let mut cmd = equifx();
    cmd.args(["model", "groups"]).arg(&bundle);
    for d in domains {
        cmd.args(["--domain", d]);
    }
    run(cmd.args(["--groups", "2"]));
    bundle
}

/// `equifx model group-sheet` lays each group out as a row, its components'
/// centres then fresh samples: in photo, whose two groups are the palette,
/// the pixel oracle reads the first row warm and the second cool.
#[test]
fn the_group_sheet_shows_each_group_in_its_own_row() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = grouped_bundle(tmp.path(), &["photo"]);
    let out = tmp.path().join("sheets");
    run(equifx()
        .args(["model", "group-sheet"])
        .arg(&bundle)
        .args(["--domain", "photo", "--per-row", "4", "-o"])
        .arg(&out));
    let sheet = read_image(&out.join("groups-photo.png")).unwrap().image;
    let (side, gap, per) = (64usize, 4usize, 4usize);
    assert_eq!(
        sheet.width(),
        2 * per * side + (2 * per + 2) * gap + 3 * gap
    );
    assert_eq!(sheet.height(), 2 * side + 3 * gap);
    for (row, want_warm) in [(0, true), (1, false)] {
        let agree = (0..2 * per)
            .filter(|&i| {
                let cell = sheet_cell(&sheet, row, i, per);
                common::oracle::oracle(&cell).0 == Some(want_warm)
            })
            .count();
        assert!(
            agree >= 6,
            "row {row}: {agree} of 8 pictures read as its group"
        );
    }
}

/// Picture `i` of row `row` of a group sheet with `per` pictures a half-row
/// (64-pixel pictures, 4-pixel gaps, 12 between the halves).
fn sheet_cell(sheet: &Image, row: usize, i: usize, per: usize) -> Image {
    let (side, gap) = (64, 4);
    let x0 = gap + i * (side + gap) + if i < per { 0 } else { 3 * gap };
    let y0 = gap + row * (side + gap);
    let mut data = Vec::with_capacity(4 * side * side);
    for c in 0..4 {
        let plane = sheet.plane(c);
        for y in y0..y0 + side {
            data.extend_from_slice(&plane[y * sheet.width() + x0..][..side]);
        }
    }
    Image::from_planes(side, side, data).unwrap()
}

/// With the domain's training folder, each row begins with training images:
/// every picture of a row's left half is one of the folder's images (to
/// 8-bit rounding), a different one each, and the warm group's are warm by
/// the pixel oracle and the cool group's cool.
#[test]
fn the_group_sheet_shows_training_exemplars_from_the_data_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = grouped_bundle(tmp.path(), &["photo"]);
    let data = tmp.path().join("training");
    run(equifx()
        .args([
            "synth", "--domain", "photo", "--count", "120", "--seed", "3",
        ])
        .arg("--out")
        .arg(&data));
    let out = tmp.path().join("sheets");
    run(equifx()
        .args(["model", "group-sheet"])
        .arg(&bundle)
        .args(["--domain", "photo", "--per-row", "4", "-o"])
        .arg(&out)
        .arg("--data")
        .arg(format!("photo={}", data.display())));
    let sheet = read_image(&out.join("groups-photo.png")).unwrap().image;
    let training: Vec<Image> = (0..120)
        .map(|i| {
            read_image(&data.join(format!("photo_{i:06}.png")))
                .unwrap()
                .image
        })
        .collect();
    let srgb = |img: &Image| common::oracle::srgb8(img);
    let training8: Vec<Vec<u8>> = training.iter().map(srgb).collect();
    let mut seen = Vec::new();
    for (row, want_warm) in [(0, true), (1, false)] {
        for i in 0..4 {
            let cell = sheet_cell(&sheet, row, i, 4);
            let cell8 = srgb(&cell);
            let source = training8
                .iter()
                .position(|t| t.iter().zip(&cell8).all(|(a, b)| a.abs_diff(*b) <= 1))
                .unwrap_or_else(|| panic!("row {row} picture {i} is no training image"));
            assert!(
                !seen.contains(&source),
                "training image {source} shown twice"
            );
            seen.push(source);
            assert_eq!(
                common::oracle::oracle(&cell).0,
                Some(want_warm),
                "row {row} picture {i} (training image {source})"
            );
        }
    }
}
