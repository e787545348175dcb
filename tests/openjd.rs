//! Farm rendering as the farm runs it. The OpenJD templates in
//! examples/openjd/ and the one `equifx farm openjd` writes are checked and
//! run by the real `openjd` CLI (from PyPI, in a cached venv); the OpenCue
//! and Deadline 10 command lines of docs/farm.md are run with their frame
//! tokens substituted. The oracle is always one `equifx render` (or `equifx
//! audit`) over the whole range: every chunked output must equal it bit for
//! bit, and a re-run task must keep its finished frames.
//!
//! Without python3, pip or the network the OpenJD tests print SKIPPED and
//! pass, except under `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use equifx::io::{write_image, Depth};
use equifx::synth::{render_image, Bias, Scene, Style};

mod common;
use common::venv::{self, Venv};

const FIRST: i64 = 1001;
const LAST: i64 = 1024;
const FRAMES: &str = "1001-1024";
/// 24 frames in chunks of 6: four tasks.
const CHUNK_SIZE: &str = "6";
const CHUNKS: [(i64, i64); 4] = [(1001, 1006), (1007, 1012), (1013, 1018), (1019, 1024)];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn equifx_bin() -> &'static str {
    env!("CARGO_BIN_EXE_equifx")
}

fn model() -> String {
    repo().join("models/default").to_string_lossy().into_owned()
}

fn ok(cmd: &mut Command) -> String {
    let out: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// How the venv's python runs the openjd CLI: the venv is renamed into
/// place, which breaks the absolute shebang of its `bin/openjd` script.
const OPENJD_MAIN: &str = "import sys; from openjd.cli import main; sys.exit(main())";

/// The openjd CLI, cached outside the repository (`$EQUIFX_OPENJD_VENV`, else
/// `$XDG_CACHE_HOME/equifx-test/openjd-venv`, else
/// `~/.cache/equifx-test/openjd-venv`), installed on first use.
const OPENJD: Venv = Venv {
    name: "openjd-venv",
    env: "EQUIFX_OPENJD_VENV",
    packages: &["openjd-cli==0.8.*"],
    optional: &[],
    probe: &["-c", OPENJD_MAIN, "--version"],
};

fn openjd_cmd(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-c", OPENJD_MAIN]);
    cmd
}

/// The venv python with openjd, or `None` (after saying SKIPPED) where it
/// cannot be installed; under `CI=true` that is a failure.
fn openjd_python(test: &str) -> Option<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    venv::or_skip(
        FOUND.get_or_init(|| OPENJD.python()),
        test,
        "the openjd CLI",
    )
}

/// 24 photo-style 64×64 half-float EXR plates, frames 1001–1024.
fn plates(dir: &Path) -> String {
    let plates = dir.join("plates");
    std::fs::create_dir_all(&plates).unwrap();
    for f in FIRST..=LAST {
        let scene = Scene::sample(7, f as u64, Bias::default_for(Style::Photo));
        let image = render_image(&scene, Style::Photo, 64, 64);
        write_image(
            &plates.join(format!("plate.{f:04}.exr")),
            &image,
            Depth::F16,
        )
        .unwrap();
    }
    plates.join("plate.%04d.exr").to_string_lossy().into_owned()
}

fn frame_path(pattern: &str, f: i64) -> PathBuf {
    PathBuf::from(pattern.replace("%04d", &format!("{f:04}")))
}

/// The single-process reference: one `equifx render` over all 24 frames.
fn reference(node: &str, input: &str, output: &str, params: &[&str]) {
    let mut cmd = Command::new(equifx_bin());
    cmd.args(["render", node, input, "-o", output, "--frames", FRAMES]);
    for p in params {
        cmd.args(["--param", p]);
    }
    ok(cmd.arg("--progress").arg("none"));
}

fn assert_same_frames(got: &str, want: &str, frames: impl IntoIterator<Item = i64>) {
    for f in frames {
        let (g, w) = (frame_path(got, f), frame_path(want, f));
        let g = std::fs::read(&g).unwrap_or_else(|e| panic!("{}: {e}", g.display()));
        assert!(
            g == std::fs::read(&w).unwrap(),
            "frame {f} of {got} differs from the single-process render"
        );
    }
}

fn openjd_run(python: &Path, template: &Path, dir: &Path, params: &[(&str, &str)]) -> Command {
    let mut cmd = openjd_cmd(python);
    cmd.current_dir(dir).arg("run").arg(template);
    for (k, v) in params {
        cmd.arg("-p").arg(format!("{k}={v}"));
    }
    cmd
}

fn example(name: &str) -> PathBuf {
    repo().join("examples/openjd").join(name)
}

#[test]
fn every_example_template_passes_openjd_check() {
    let Some(python) = openjd_python("every_example_template_passes_openjd_check") else {
        return;
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("examples/openjd")).unwrap() {
        let path = entry.unwrap().path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "json")
        ) {
            let text = ok(openjd_cmd(&python).arg("check").arg(&path));
            assert!(text.contains("passes validation"), "{text}");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 3,
        "render, domain-transfer and bias-audit templates"
    );
}

#[test]
fn chunked_render_equals_one_process_and_a_killed_task_resumes() {
    let Some(python) = openjd_python("chunked_render_equals_one_process_and_a_killed_task_resumes")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = plates(dir.path());
    let want = dir.path().join("ref/out.%04d.exr");
    let want = want.to_str().unwrap();
    reference("Exposure", &input, want, &["exposure=0.5"]);
    let got = dir.path().join("farm/out.%04d.exr");
    let got = got.to_str().unwrap();
    let params = [
        ("Equifx", equifx_bin()),
        ("Node", "Exposure"),
        ("NodeParams", "exposure = 0.5"),
        ("Input", &input),
        ("Output", got),
        ("Frames", FRAMES),
        ("ChunkSize", CHUNK_SIZE),
    ];
    let template = example("render.yaml");
    let log = ok(&mut openjd_run(&python, &template, dir.path(), &params));
    assert!(log.contains("Chunks run: 4"), "{log}");
    assert!(log.contains("openjd_progress: 100.0"), "{log}");
    assert_same_frames(got, want, FIRST..=LAST);

    // Task 2 (1007–1012) was killed after three frames, mid-write of the fourth.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for f in FIRST..=LAST {
        let file = std::fs::File::options()
            .write(true)
            .open(frame_path(got, f))
            .unwrap();
        file.set_modified(old).unwrap();
    }
    for f in 1010..=1012 {
        std::fs::remove_file(frame_path(got, f)).unwrap();
    }
    let partial = dir.path().join("farm/.equifx-killed.partial");
    std::fs::write(&partial, b"half a frame").unwrap();
    let log = ok(openjd_run(&python, &template, dir.path(), &params)
        .args(["--task-param", "Frame=1007-1012"]));
    assert!(log.contains("Chunks run: 1"), "{log}");
    assert_eq!(log.matches("skipped, exists").count(), 3, "{log}");
    for f in FIRST..=LAST {
        let modified = std::fs::metadata(frame_path(got, f))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            modified == old,
            !(1010..=1012).contains(&f),
            "frame {f}: only the three missing frames are rendered again"
        );
    }
    assert_same_frames(got, want, FIRST..=LAST);
}

#[test]
fn domain_transfer_template_equals_one_process() {
    let Some(python) = openjd_python("domain_transfer_template_equals_one_process") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = plates(dir.path());
    let model = model();
    let want = dir.path().join("ref/oil.%04d.exr");
    let want = want.to_str().unwrap();
    reference(
        "DomainTransfer",
        &input,
        want,
        &[&format!("model={model}"), "target=oil", "device=cpu"],
    );
    let got = dir.path().join("farm/oil.%04d.exr");
    let got = got.to_str().unwrap();
    let log = ok(&mut openjd_run(
        &python,
        &example("domain-transfer.yaml"),
        dir.path(),
        &[
            ("Equifx", equifx_bin()),
            ("Model", &model),
            ("Target", "oil"),
            ("Device", "cpu"),
            ("Input", &input),
            ("Output", got),
            ("Frames", FRAMES),
            ("ChunkSize", CHUNK_SIZE),
        ],
    ));
    assert!(log.contains("Chunks run: 4"), "{log}");
    assert_same_frames(got, want, FIRST..=LAST);
}

/// Every number of a JSON report, in document order, with its path.
fn numbers(v: &serde_json::Value, path: String, out: &mut Vec<(String, f64)>) {
    match v {
        serde_json::Value::Number(n) => out.push((path, n.as_f64().unwrap())),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                numbers(x, format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                numbers(x, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn report_numbers(stem: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(stem.with_extension("json")).unwrap();
    let mut out = Vec::new();
    numbers(
        &serde_json::from_str(&text).unwrap(),
        String::new(),
        &mut out,
    );
    out
}

#[test]
fn bias_audit_report_step_equals_equifx_audit_of_all_frames() {
    let Some(python) = openjd_python("bias_audit_report_step_equals_equifx_audit_of_all_frames")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = plates(dir.path());
    let model = model();
    let want = dir.path().join("ref/pass.%04d.exr");
    let want = want.to_str().unwrap();
    reference("BiasAudit", &input, want, &[]);
    let want_report = dir.path().join("ref/report");
    ok(Command::new(equifx_bin())
        .args([
            "audit",
            "--model",
            &model,
            "--domain",
            "photo",
            "--sequence",
        ])
        .arg(input.replace("%04d", "####"))
        .arg("--report")
        .arg(&want_report));

    let got = dir.path().join("farm/pass.%04d.exr");
    let got = got.to_str().unwrap();
    let records = dir.path().join("farm/records");
    let report = dir.path().join("farm/report");
    let log = ok(&mut openjd_run(
        &python,
        &example("bias-audit.yaml"),
        dir.path(),
        &[
            // Model left empty: the shipped bundle, for the node and for
            // `equifx audit` alike.
            ("Equifx", equifx_bin()),
            ("Domain", "photo"),
            ("Input", &input),
            ("Output", got),
            ("Records", records.to_str().unwrap()),
            ("Report", report.to_str().unwrap()),
            ("Frames", FRAMES),
            ("ChunkSize", CHUNK_SIZE),
        ],
    ));
    assert!(
        log.contains("Chunks run: 5"),
        "four Audit tasks, one Report: {log}"
    );
    assert_same_frames(got, want, FIRST..=LAST);
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), 24);
    let (got, want) = (report_numbers(&report), report_numbers(&want_report));
    assert!(!want.is_empty());
    assert_eq!(got, want, "the farm's report differs from `equifx audit`");
}

/// A job file with relative paths, made into a template from another folder.
#[test]
fn farm_openjd_template_renders_its_job_file() {
    let Some(python) = openjd_python("farm_openjd_template_renders_its_job_file") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = plates(dir.path());
    let want = dir.path().join("ref/out.%04d.exr");
    let want = want.to_str().unwrap();
    reference("Exposure", &input, want, &["exposure=0.25", "gain=1.5"]);
    std::fs::create_dir(dir.path().join("jobs")).unwrap();
    std::fs::write(
        dir.path().join("jobs/shot.toml"),
        "node = \"Exposure\"\ninput = \"../plates/plate.%04d.exr\"\n\
         output = \"../farm/out.%04d.exr\"\nframes = \"1001-1024\"\nthreads = 2\n\
         [params]\nexposure = 0.25\ngain = 1.5\n",
    )
    .unwrap();
    let template = dir.path().join("shot.template.yaml");
    ok(Command::new(equifx_bin())
        .current_dir(dir.path())
        .args([
            "farm",
            "openjd",
            "jobs/shot.toml",
            "-o",
            "shot.template.yaml",
        ])
        .args(["--chunk-size", CHUNK_SIZE, "--equifx", equifx_bin()]));
    let text = ok(openjd_cmd(&python).arg("check").arg(&template));
    assert!(text.contains("passes validation"), "{text}");
    // Run from elsewhere with no parameter given: the defaults are the job's.
    let elsewhere = tempfile::tempdir().unwrap();
    let log = ok(&mut openjd_run(&python, &template, elsewhere.path(), &[]));
    assert!(log.contains("Chunks run: 4"), "{log}");
    let got = dir.path().join("farm/out.%04d.exr");
    assert_same_frames(got.to_str().unwrap(), want, FIRST..=LAST);

    // Same shape as the hand-written example: one template to document.
    let script = "import json, sys, yaml\n\
        gen = yaml.safe_load(open(sys.argv[1]))\n\
        ex = yaml.safe_load(open(sys.argv[2]))\n\
        shape = lambda t: ([(p['name'], p['type']) for p in t['parameterDefinitions']], t['steps'], t['extensions'])\n\
        assert shape(gen) == shape(ex), json.dumps([shape(gen), shape(ex)], indent=1)\n";
    ok(Command::new(&python)
        .args(["-c", script])
        .arg(&template)
        .arg(example("render.yaml")));
}

/// Splits a documented command line at spaces (the lines quote nothing).
fn doc_line(docs: &str, token: &str) -> Vec<String> {
    let line = docs
        .lines()
        .map(str::trim)
        .find(|l| l.contains(token) && (l.starts_with("equifx ") || l.starts_with("render ")))
        .unwrap_or_else(|| panic!("docs/farm.md has no command line with {token}"));
    line.split_whitespace()
        .skip_while(|w| *w == "equifx")
        .map(String::from)
        .collect()
}

#[test]
fn opencue_and_deadline_command_lines_render_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let input = plates(dir.path());
    let want = dir.path().join("ref/out.%04d.exr");
    let want = want.to_str().unwrap();
    reference("Exposure", &input, want, &["exposure=0.5"]);
    let docs = std::fs::read_to_string(repo().join("docs/farm.md")).unwrap();
    let farms = [
        ("opencue", "#FRAME_START#", "#FRAME_END#"),
        ("deadline", "<STARTFRAME>", "<ENDFRAME>"),
    ];
    for (farm, start, end) in farms {
        let job = dir.path().join(format!("{farm}.toml"));
        let got = dir.path().join(format!("{farm}/out.%04d.exr"));
        std::fs::write(
            &job,
            format!(
                "node = \"Exposure\"\ninput = {input:?}\noutput = {:?}\n[params]\nexposure = 0.5\n",
                got.to_str().unwrap()
            ),
        )
        .unwrap();
        let args = doc_line(&docs, start);
        assert!(args.iter().any(|a| a.contains(end)), "{args:?}");
        for (a, b) in CHUNKS {
            let args: Vec<String> = args
                .iter()
                .map(|w| {
                    if w.ends_with(".toml") {
                        job.to_string_lossy().into_owned()
                    } else {
                        w.replace(start, &a.to_string())
                            .replace(end, &b.to_string())
                    }
                })
                .collect();
            let log = ok(Command::new(equifx_bin()).args(&args));
            assert!(log.contains("openjd_progress: 100.0"), "{farm}: {log}");
        }
        assert_same_frames(got.to_str().unwrap(), want, FIRST..=LAST);
    }
}
