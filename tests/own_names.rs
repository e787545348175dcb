//! A studio's own bundle through the CLI: `equifx train` on two folders of
//! JPEGs and PNGs of mixed sizes (domains `day` and `night`, attributes
//! `smiling` and `hat` in a labels.csv), then every node and command driven
//! by those names — and refused, with the bundle's names listed, when a name
//! is not the bundle's. Oracles: the names, labels and picture sizes written
//! here, never values read back from equifx first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use equifx::fairness::{RebalancePlan, Sidecar};

/// Side of the square training crops (`--size`); the Fair Sampler's CLI
/// writes pictures of this side by default.
const TRAIN_SIZE: u32 = 16;
/// Labelled pictures per domain (enough of both classes of both attributes
/// for every head's fit and held-out split), and pictures without a row.
const LABELLED: u32 = 96;
const UNLABELLED: u32 = 2;
/// The picture sizes of the studio folders, cycled: landscape, portrait, large.
const SIZES: [(u32, u32); 6] = [(40, 30), (24, 64), (100, 70), (30, 40), (64, 24), (70, 100)];

/// A procedural picture: `day` bright, `night` dark; `smiling` draws a red
/// smile and `hat` a green block in every 8 × 8 tile, so any crop of the
/// picture shows them (training takes random crops).
fn picture(w: u32, h: u32, night: bool, smiling: bool, hat: bool, seed: u32) -> image::RgbImage {
    let (ox, oy) = (seed % 8, (seed / 8) % 8);
    image::RgbImage::from_fn(w, h, |x, y| {
        let t = (x + y) as f32 / (w + h) as f32;
        let (tx, ty) = ((x + ox) % 8, (y + oy) % 8);
        let smile = matches!((tx, ty), (1, 4) | (6, 4)) || (ty == 5 && (2..=5).contains(&tx));
        let block = (1..=2).contains(&ty) && (2..=5).contains(&tx);
        if smiling && smile {
            image::Rgb([230, 40, 60])
        } else if hat && block {
            image::Rgb([30, 170, 40])
        } else if night {
            image::Rgb([(20.0 + 30.0 * t) as u8, (25.0 + 20.0 * t) as u8, 60])
        } else {
            image::Rgb([(200.0 + 40.0 * t) as u8, (210.0 + 30.0 * t) as u8, 235])
        }
    })
}

/// The (smiling, hat) labels of one picture of a studio folder (`None`: no
/// labels.csv row).
type Entry = Option<(bool, bool)>;

/// The labels of picture `i` of a domain: day is 5/8 smiling and 3/8 with a
/// hat, night the other way round; every (smiling, hat) cell occurs.
fn labels(night: bool, i: u32) -> (bool, bool) {
    if night {
        ((3 * i + 1) % 8 < 3, (5 * i) % 8 < 5)
    } else {
        ((5 * i) % 8 < 5, (3 * i + 1) % 8 < 3)
    }
}

/// Writes one domain's folder: nested sub-folders, PNG and JPEG, the sizes
/// of [`SIZES`], a labels.csv with a row for each labelled picture.
fn write_domain(root: &Path, night: bool) -> Vec<Entry> {
    let mut csv = String::from("file,smiling,hat\n");
    let mut entries = Vec::new();
    for i in 0..LABELLED + UNLABELLED {
        let sub = ["", "a/", "a/b/"][(i % 3) as usize];
        let ext = if i.is_multiple_of(2) { "png" } else { "jpg" };
        let rel = format!("{sub}img_{i:03}.{ext}");
        let size = SIZES[(i % SIZES.len() as u32) as usize];
        let l = (i < LABELLED).then(|| labels(night, i));
        let (s, h) = l.unwrap_or((i.is_multiple_of(2), !i.is_multiple_of(2)));
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        picture(size.0, size.1, night, s, h, i).save(&path).unwrap();
        if let Some((s, h)) = l {
            csv += &format!("{rel},{},{}\n", u8::from(s), u8::from(h));
        }
        entries.push(l);
    }
    std::fs::write(root.join("labels.csv"), csv).unwrap();
    entries
}

/// Share of the labelled pictures that have the attribute: the oracle of
/// `model info`'s training shares.
fn share(entries: &[Entry], hat: bool) -> f64 {
    let l: Vec<bool> = entries
        .iter()
        .filter_map(|e| e.map(|(s, h)| if hat { h } else { s }))
        .collect();
    l.iter().filter(|&&b| b).count() as f64 / l.len() as f64
}

struct Studio {
    root: PathBuf,
    bundle: PathBuf,
    /// Pictures written per domain, `day` then `night`.
    domains: Vec<(&'static str, Vec<Entry>)>,
}

fn equifx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

/// The studio folders and the bundle trained on them, once per test binary,
/// in a fixed folder under target/tmp that every run replaces.
fn studio() -> &'static Studio {
    static STUDIO: OnceLock<Studio> = OnceLock::new();
    STUDIO.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("own-names-cli");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let domains = vec![
            ("day", write_domain(&root.join("day"), false)),
            ("night", write_domain(&root.join("night"), true)),
        ];
        let bundle = root.join("bundle");
        let started = std::time::Instant::now();
        let out = equifx()
            .args([
                "train",
                "--preset",
                "tiny",
                "--size",
                &TRAIN_SIZE.to_string(),
            ])
            .args(["--batch", "8", "--ae-steps", "40", "--cinn-steps", "40"])
            .args(["--seed", "3", "--checkpoint-every", "1000"])
            .arg("--domain")
            .arg(format!("day={}", root.join("day").display()))
            .arg("--domain")
            .arg(format!("night={}", root.join("night").display()))
            .arg("--out")
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "equifx train failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("trained the studio bundle in {:.1?}", started.elapsed());
        Studio {
            root,
            bundle,
            domains,
        }
    })
}

/// A fresh folder for one test's outputs.
fn scratch(name: &str) -> PathBuf {
    let d = studio().root.join("out").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("equifx runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must fail with exit code 2; returns its stderr.
fn refused(cmd: &mut Command) -> String {
    let out = cmd.output().expect("equifx runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
    stderr
}

/// `equifx SUBCOMMAND --model BUNDLE`.
fn with_model(subcommand: &str) -> Command {
    let mut cmd = equifx();
    cmd.arg(subcommand).arg("--model").arg(&studio().bundle);
    cmd
}

fn model_param() -> String {
    format!("model={}", studio().bundle.display())
}

/// A fresh picture (not a training one) of the given size and domain.
fn fresh(dir: &Path, name: &str, size: (u32, u32), night: bool, seed: u32) -> PathBuf {
    let path = dir.join(name);
    picture(
        size.0,
        size.1,
        night,
        seed.is_multiple_of(2),
        seed.is_multiple_of(3),
        seed + 500,
    )
    .save(&path)
    .unwrap();
    path
}

fn dims(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn attribute_set(names: &[String]) -> BTreeSet<&str> {
    names.iter().map(String::as_str).collect()
}

const ATTRIBUTES: [&str; 2] = ["hat", "smiling"];

#[test]
fn model_info_lists_the_studios_domains_and_attributes_with_their_label_shares() {
    let s = studio();
    let text = run(equifx().args(["model", "info"]).arg(&s.bundle));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let json = run(equifx().args(["model", "info", "--json"]).arg(&s.bundle));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let domains = json["domains"].as_array().expect("domains array");
    assert_eq!(
        domains
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["day", "night"],
        "the --domain names, in the order given"
    );
    for ((name, entries), d) in s.domains.iter().zip(domains) {
        // Every picture written counts, labelled or not.
        assert_eq!(d["training_images"].as_u64(), Some(entries.len() as u64));
        assert!(
            text.contains(&format!("{name}  ({} training images)", entries.len())),
            "{text}"
        );
        let attrs = d["attributes"].as_array().unwrap();
        let names: BTreeSet<&str> = attrs.iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, BTreeSet::from(ATTRIBUTES), "{name}");
        for a in attrs {
            let attr = a["name"].as_str().unwrap();
            let want = share(entries, attr == "hat");
            let got = a["training_share"].as_f64().unwrap();
            assert!((got - want).abs() < 1e-12, "{name}/{attr}: {got} vs {want}");
            assert_eq!(a["has_head"], true, "{name}/{attr}: no head was fitted");
            let line = format!("{attr}: {:.1} % of the training data, head", 100.0 * want);
            assert!(text.contains(&line), "missing `{line}` in:\n{text}");
        }
    }
    // The oracle shares are not the same everywhere (the check can fail).
    assert_ne!(share(&s.domains[0].1, false), share(&s.domains[1].1, false));
    assert_eq!(json["image_size"].as_u64(), Some(u64::from(TRAIN_SIZE)));
}

#[test]
fn transfer_and_the_domain_transfer_node_take_the_bundles_domain_names() {
    let dir = scratch("transfer");
    for (k, size) in [(40, 30), (24, 64), (100, 70)].into_iter().enumerate() {
        let ext = if k == 1 { "png" } else { "jpg" };
        let input = fresh(&dir, &format!("in{k}.{ext}"), size, false, k as u32);
        let out = dir.join(format!("night{k}.png"));
        run(with_model("transfer")
            .arg(&input)
            .args(["--to", "night", "--from", "day", "-o"])
            .arg(&out));
        assert_eq!(dims(&out), size, "{}", input.display());
        // The node, with the source detected among the bundle's domains.
        let node_out = dir.join(format!("node{k}.png"));
        run(equifx()
            .args(["render", "org.equifx.DomainTransfer"])
            .arg(&input)
            .arg("-o")
            .arg(&node_out)
            .args(["--param", &model_param(), "--param", "target=night"]));
        assert_eq!(dims(&node_out), size);
    }
    let input = dir.join("in0.jpg");
    let out = dir.join("never.png");
    // Names of another bundle (the shipped one's) are refused, listing this one's.
    let e = refused(
        with_model("transfer")
            .arg(&input)
            .args(["--to", "anime", "--from", "day", "-o"])
            .arg(&out),
    );
    assert!(e.contains("'anime'") && e.contains("day, night"), "{e}");
    let e = refused(
        with_model("transfer")
            .arg(&input)
            .args(["--to", "night", "--from", "photo", "-o"])
            .arg(&out),
    );
    assert!(e.contains("'photo'") && e.contains("day, night"), "{e}");
    let e = refused(
        equifx()
            .args(["render", "org.equifx.DomainTransfer"])
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .args(["--param", &model_param(), "--param", "target=anime"]),
    );
    assert!(e.contains("'anime'") && e.contains("day, night"), "{e}");
    assert!(!out.exists(), "a refused render wrote its output");
}

/// Items of the sidecar with attribute `name` present (cell bit k = the
/// sidecar's attribute k).
fn with_attribute(side: &Sidecar, name: &str) -> usize {
    let k = side
        .attributes
        .iter()
        .position(|a| a == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", side.attributes));
    side.frames.iter().filter(|f| f.cell >> k & 1 == 1).count()
}

#[test]
fn sample_and_the_fair_sampler_node_target_the_bundles_attributes() {
    let dir = scratch("sample");
    let count = 8;
    run(with_model("sample")
        .args(["--domain", "night", "--target", "smiling=0.5"])
        .args(["--count", &count.to_string(), "--out"])
        .arg(dir.join("s_####.png")));
    let side = Sidecar::read(&dir.join("sidecar.json")).expect("sidecar beside the images");
    assert_eq!(attribute_set(&side.attributes), BTreeSet::from(ATTRIBUTES));
    assert_eq!(side.frames.len(), count);
    // 0.5 × 8. Exact: with one other attribute left natural, the two cells of
    // each smiling class sum to 4 and largest-remainder rounding gives each
    // class exactly one of the two leftover units.
    assert_eq!(with_attribute(&side, "smiling"), count / 2);
    for i in 0..count {
        let f = dir.join(format!("s_{i:04}.png"));
        assert_eq!(dims(&f), (TRAIN_SIZE, TRAIN_SIZE), "{}", f.display());
    }
    let e = refused(
        with_model("sample")
            .args(["--domain", "night", "--target", "warm=0.5"])
            .args(["--count", "2", "--out"])
            .arg(dir.join("w_####.png")),
    );
    assert!(
        e.contains("'warm'") && e.contains("smiling") && e.contains("hat"),
        "{e}"
    );
    let e = refused(
        with_model("sample")
            .args(["--domain", "photo", "--target", "smiling=0.5"])
            .args(["--count", "2", "--out"])
            .arg(dir.join("p_####.png")),
    );
    assert!(e.contains("'photo'") && e.contains("day, night"), "{e}");

    // The node: generator frames of the size asked for.
    let (w, h) = (24, 20);
    run(equifx()
        .args(["render", "org.equifx.FairSampler", "-o"])
        .arg(dir.join("fs_####.png"))
        .args(["--frames", "0-3", "--size", &format!("{w}x{h}")])
        .args(["--param", &model_param(), "--param", "domain=day"])
        .args(["--param", "shares=hat=0.25, *=0.5", "--progress", "none"]));
    for f in 0..4 {
        assert_eq!(dims(&dir.join(format!("fs_{f:04}.png"))), (w, h));
    }
    let e = refused(
        equifx()
            .args(["render", "org.equifx.FairSampler", "-o"])
            .arg(dir.join("bad.png"))
            .args(["--param", &model_param(), "--param", "domain=day"])
            .args(["--param", "shares=warm=0.5"]),
    );
    assert!(
        e.contains("'warm'") && e.contains("smiling") && e.contains("hat"),
        "{e}"
    );
    let e = refused(
        equifx()
            .args(["render", "org.equifx.FairSampler", "-o"])
            .arg(dir.join("bad.png"))
            .args(["--param", &model_param(), "--param", "domain=anime"]),
    );
    assert!(e.contains("'anime'") && e.contains("day, night"), "{e}");
    // A share out of 0 … 1 is refused when set, before any model is loaded.
    refused(
        equifx()
            .args(["render", "org.equifx.FairSampler", "-o"])
            .arg(dir.join("bad.png"))
            .args(["--param", &model_param(), "--param", "shares=smiling=2"]),
    );
    assert!(!dir.join("bad.png").exists());
}

/// Eight fresh day pictures of mixed sizes as a sequence `in_####.png`.
fn day_batch(dir: &Path) -> Vec<(u32, u32)> {
    (0..8)
        .map(|i| {
            let size = SIZES[i % SIZES.len()];
            fresh(dir, &format!("in_{i:04}.png"), size, false, i as u32);
            size
        })
        .collect()
}

#[test]
fn rebalance_and_its_node_work_in_the_bundles_domain() {
    let dir = scratch("rebalance");
    let sizes = day_batch(&dir);
    let plan_path = dir.join("plan.json");
    let pattern = dir.join("in_####.png");
    run(with_model("rebalance")
        .arg(&pattern)
        .args(["--domain", "day", "--target", "smiling=0.5", "--plan"])
        .arg(&plan_path)
        .arg("--out")
        .arg(dir.join("fixed_####.png")));
    let plan = RebalancePlan::from_json(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    assert_eq!(plan.n_items, sizes.len());
    let ctx = plan.context.as_ref().expect("plan context");
    assert_eq!(ctx.domain, "day");
    assert_eq!(attribute_set(&ctx.attributes), BTreeSet::from(ATTRIBUTES));
    let k = ctx.attributes.iter().position(|a| a == "smiling").unwrap();
    let smiling_after: u64 = plan
        .counts_after
        .iter()
        .enumerate()
        .filter(|(cell, _)| cell >> k & 1 == 1)
        .map(|(_, n)| n)
        .sum();
    // 0.5 × 8, exact for the reason given in the sample test.
    assert_eq!(smiling_after, 4, "{:?}", plan.counts_after);
    for (i, size) in sizes.iter().enumerate() {
        assert_eq!(dims(&dir.join(format!("fixed_{i:04}.png"))), *size);
    }

    // The node applies the plan in the same domain, frame by frame.
    run(equifx()
        .args(["render", "org.equifx.Rebalance"])
        .arg(&pattern)
        .arg("-o")
        .arg(dir.join("node_####.png"))
        .args(["--param", &model_param(), "--param", "domain=day"])
        .arg("--param")
        .arg(format!("plan={}", plan_path.display()))
        .args(["--progress", "none"]));
    for (i, size) in sizes.iter().enumerate() {
        assert_eq!(dims(&dir.join(format!("node_{i:04}.png"))), *size);
    }
    // An unknown domain is refused on a frame the plan edits (frames it
    // leaves alone pass through without loading the model).
    if let Some(edit) = plan.edits.first() {
        let e = refused(
            equifx()
                .args(["render", "org.equifx.Rebalance"])
                .arg(&pattern)
                .arg("-o")
                .arg(dir.join("bad_####.png"))
                .args(["--frames", &edit.item.to_string()])
                .args(["--param", &model_param(), "--param", "domain=dusk"])
                .arg("--param")
                .arg(format!("plan={}", plan_path.display())),
        );
        assert!(e.contains("'dusk'") && e.contains("day, night"), "{e}");
    } else {
        eprintln!("the plan edits no frame: the node's unknown-domain check is not exercised");
    }
    let e = refused(
        with_model("rebalance")
            .arg(&pattern)
            .args(["--domain", "day", "--target", "warm=0.5", "--plan"])
            .arg(dir.join("never.json")),
    );
    assert!(
        e.contains("'warm'") && e.contains("smiling") && e.contains("hat"),
        "{e}"
    );
}

/// The audit report's attributes: name → (N, class names).
fn report_attributes(stem: &Path) -> BTreeMap<String, (u64, Vec<String>)> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stem.with_extension("json")).unwrap())
            .unwrap();
    json["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let classes = a["classes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect();
            (
                a["name"].as_str().unwrap().to_string(),
                (a["n"].as_u64().unwrap(), classes),
            )
        })
        .collect()
}

/// What an audit of `n` frames reports: each of the bundle's attributes
/// with its two classes, and their joint over the four cells.
fn check_report(stem: &Path, n: u64) {
    let r = report_attributes(stem);
    assert_eq!(
        r.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["hat", "joint", "smiling"]),
        "{r:?}"
    );
    for a in ATTRIBUTES {
        assert_eq!(r[a], (n, vec![format!("{a}-"), format!("{a}+")]), "{a}");
    }
    let (joint_n, cells) = &r["joint"];
    assert_eq!(*joint_n, n);
    assert_eq!(cells.len(), 4, "{cells:?}");
    assert!(
        cells
            .iter()
            .all(|c| c.contains("hat") && c.contains("smiling")),
        "{cells:?}"
    );
}

#[test]
fn audit_and_the_bias_audit_node_record_the_bundles_attributes() {
    let dir = scratch("audit");
    let sizes = day_batch(&dir);
    let n = sizes.len() as u64;
    let pattern = dir.join("in_####.png");
    let stem = dir.join("report");
    run(with_model("audit")
        .arg(&pattern)
        .args(["--domain", "day", "--report"])
        .arg(&stem));
    check_report(&stem, n);

    // The node passes the frames through and writes one record per frame.
    let records = dir.join("records");
    run(equifx()
        .args(["render", "org.equifx.BiasAudit"])
        .arg(&pattern)
        .arg("-o")
        .arg(dir.join("through_####.png"))
        .args(["--param", &model_param(), "--param", "domain=day"])
        .arg("--param")
        .arg(format!("records={}", records.display()))
        .args(["--progress", "none"]));
    for i in 0..sizes.len() {
        let written = image::open(dir.join(format!("through_{i:04}.png")))
            .unwrap()
            .to_rgb8();
        let read = image::open(dir.join(format!("in_{i:04}.png")))
            .unwrap()
            .to_rgb8();
        assert!(written == read, "frame {i} was not passed through");
        let rec: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(records.join(format!("frame_{i:06}.json"))).unwrap(),
        )
        .unwrap();
        let names: BTreeSet<&str> = rec["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(names, BTreeSet::from(ATTRIBUTES), "frame {i}");
        assert_eq!(rec["frame"]["item"].as_u64(), Some(i as u64));
    }
    let from_records = dir.join("from_records");
    run(with_model("audit")
        .args(["--domain", "day", "--records"])
        .arg(&records)
        .arg("--report")
        .arg(&from_records));
    check_report(&from_records, n);

    let e = refused(
        with_model("audit")
            .arg(&pattern)
            .args(["--domain", "photo", "--report"])
            .arg(dir.join("never")),
    );
    assert!(e.contains("'photo'") && e.contains("day, night"), "{e}");
    let e = refused(
        equifx()
            .args(["render", "org.equifx.BiasAudit"])
            .arg(dir.join("in_0000.png"))
            .arg("-o")
            .arg(dir.join("never.png"))
            .args(["--param", &model_param(), "--param", "domain=photo"])
            .arg("--param")
            .arg(format!("records={}", dir.join("never").display())),
    );
    assert!(e.contains("'photo'") && e.contains("day, night"), "{e}");
}

/// The audit's reference is the training data: the share of the domain's
/// labelled pictures with each attribute, as `model info` reports it: with
/// the two unlabelled pictures here, counting every picture would give `hat+`
/// 37/98 = 0.3776 instead of 36/96 = 0.375.
#[test]
fn audit_reference_is_the_labelled_share_of_the_training_data() {
    let s = studio();
    let dir = scratch("audit-reference");
    day_batch(&dir);
    let stem = dir.join("report");
    run(with_model("audit")
        .arg(dir.join("in_####.png"))
        .args(["--domain", "day", "--report"])
        .arg(&stem));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stem.with_extension("json")).unwrap())
            .unwrap();
    for a in ATTRIBUTES {
        let want = share(&s.domains[0].1, a == "hat");
        let report = json["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == a)
            .unwrap();
        let present = report["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == format!("{a}+"))
            .unwrap();
        let got = present["reference"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "{a}: reference {got}, labels {want}"
        );
    }
}
