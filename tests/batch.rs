//! Batch rendering as a farm runs it: chunks in separate processes, worker
//! threads, a task killed mid-run and resumed, job files, exit codes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use equifx::frame::Image;
use equifx::io::{write_image, Depth};

fn equifx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

/// A plate sequence whose frames all differ, in `dir/src/`; returns its
/// `plate.%04d.<ext>` pattern.
fn make_sequence(
    dir: &Path,
    ext: &str,
    depth: Depth,
    frames: std::ops::RangeInclusive<i64>,
    size: usize,
) -> String {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in frames {
        let n = size * size;
        let data = (0..4 * n)
            .map(|i| {
                if i >= 3 * n {
                    1.0
                } else {
                    ((i as i64 * 7 + f * 13) % 97) as f32 / 120.0
                }
            })
            .collect();
        let img = Image::from_planes(size, size, data).unwrap();
        write_image(&src.join(format!("plate.{f:04}.{ext}")), &img, depth).unwrap();
    }
    format!("{}/plate.%04d.{ext}", src.display())
}

fn read_all(dir: &Path, pattern_ext: &str, frames: std::ops::RangeInclusive<i64>) -> Vec<Vec<u8>> {
    frames
        .map(|f| std::fs::read(dir.join(format!("out.{f:04}.{pattern_ext}"))).unwrap())
        .collect()
}

fn render(args: &[&str]) -> std::process::Output {
    let out = equifx().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn chunks_in_separate_processes_and_threads_match_one_serial_run() {
    for (ext, depth) in [("exr", Depth::F32), ("png", Depth::U16)] {
        let dir = tempfile::tempdir().unwrap();
        let input = make_sequence(dir.path(), ext, depth, 1001..=1012, 24);
        let (serial, chunked) = (dir.path().join("serial"), dir.path().join("chunked"));
        let out_serial = format!("{}/out.####.{ext}", serial.display());
        let out_chunked = format!("{}/out.%04d.{ext}", chunked.display());
        let common = ["--param", "exposure=0.5", "--progress", "none"];
        let mut a = vec![
            "render",
            "Exposure",
            &input,
            "-o",
            &out_serial,
            "--frames",
            "1001-1012",
            "--threads",
            "1",
        ];
        a.extend(common);
        render(&a);
        for chunk in ["1/3", "2/3", "3/3"] {
            let mut a = vec![
                "render",
                "Exposure",
                &input,
                "-o",
                &out_chunked,
                "--chunk",
                chunk,
                "--threads",
                "2",
            ];
            a.extend(common);
            render(&a); // frames found on disk, then chunked
        }
        let (x, y) = (
            read_all(&serial, ext, 1001..=1012),
            read_all(&chunked, ext, 1001..=1012),
        );
        assert!(x == y, "{ext}: chunked output differs from the serial run");
        assert_eq!(
            std::fs::read_dir(&chunked).unwrap().count(),
            12,
            "no stray or missing files"
        );
    }
}

/// `equifx render Exposure <input> -o <output> --param gain=1.5`, then `more`.
#[cfg(unix)]
fn gain_args<'a>(input: &'a str, output: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "render", "Exposure", input, "-o", output, "--param", "gain=1.5",
    ];
    args.extend(more);
    args
}

#[cfg(unix)]
#[test]
fn a_killed_task_resumes_with_skip_existing_and_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let frames = 1..=40;
    let input = make_sequence(dir.path(), "exr", Depth::F32, frames.clone(), 384);
    let (whole, resumed) = (dir.path().join("whole"), dir.path().join("resumed"));
    let out_whole = format!("{}/out.%04d.exr", whole.display());
    let out_resumed = format!("{}/out.%04d.exr", resumed.display());
    render(&gain_args(&input, &out_whole, &["--progress", "none"]));

    let mut child = equifx()
        .args(gain_args(&input, &out_resumed, &["--progress", "json"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut done_before_kill = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["status"] == "done" {
            done_before_kill += 1;
            if done_before_kill == 3 {
                child.kill().unwrap(); // SIGKILL: no chance to clean up
                break;
            }
        }
    }
    child.wait().unwrap();
    let present = frames
        .clone()
        .filter(|f| resumed.join(format!("out.{f:04}.exr")).exists())
        .count();
    assert!(
        (3..40).contains(&present),
        "the kill must land mid-run ({present} frames present)"
    );

    let out = render(&gain_args(
        &input,
        &out_resumed,
        &["--skip-existing", "--progress", "json"],
    ));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let skipped = events.iter().filter(|e| e["status"] == "skipped").count();
    let done = events.iter().filter(|e| e["status"] == "done").count();
    assert_eq!(skipped, present, "every complete frame is kept");
    assert_eq!(done, 40 - present, "only the missing frames are rendered");
    assert_eq!(events.last().unwrap()["event"], "summary");
    let differing: Vec<i64> = frames
        .clone()
        .zip(
            read_all(&resumed, "exr", frames.clone())
                .iter()
                .zip(&read_all(&whole, "exr", frames)),
        )
        .filter(|(_, (a, b))| a != b)
        .map(|(f, _)| f)
        .collect();
    assert!(
        differing.is_empty(),
        "frames differ from the uninterrupted run: {differing:?}"
    );
}

/// Writes `toml` to the job file `job` and runs `equifx render --job` on it.
fn render_job(job: &Path, toml: &str, args: &[&str]) -> std::process::Output {
    std::fs::write(job, toml).unwrap();
    equifx()
        .args(["render", "--job"])
        .arg(job)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn job_files_run_and_failures_give_exit_code_4() {
    let dir = tempfile::tempdir().unwrap();
    make_sequence(dir.path(), "png", Depth::U8, 1..=5, 8);
    std::fs::remove_file(dir.path().join("src/plate.0003.png")).unwrap();
    let out = render_job(
        &dir.path().join("shot.toml"),
        "node = \"Exposure\"\ninput = \"src/plate.%04d.png\"\noutput = \"out/out.%04d.png\"\nframes = \"1-5\"\nthreads = 2\n\n[params]\nexposure = -1\n",
        &["--progress", "json"],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("frame 3") && stderr.contains("1 of 5 frames failed"),
        "{stderr}"
    );
    for f in [1, 2, 4, 5] {
        assert!(dir.path().join(format!("out/out.{f:04}.png")).exists());
    }
    assert!(!dir.path().join("out/out.0003.png").exists());

    let out = render_job(
        &dir.path().join("bad.toml"),
        "node = \"Exposure\"\noutput = \"x.png\"\ncolour = 3\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
}
