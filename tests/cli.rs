//! The `equifx` command as a user runs it: real files, real exit codes.

use std::process::Command;

use equifx::frame::Image;
use equifx::io::{read_image, write_image, Depth};

fn equifx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_equifx"))
}

fn test_image() -> Image {
    let (w, h) = (9, 7);
    let n = w * h;
    let data = (0..4 * n)
        .map(|i| {
            if i >= 3 * n {
                0.25 + (i % 4) as f32 * 0.25
            } else {
                (i % 17) as f32 / 40.0
            }
        })
        .collect();
    Image::from_planes(w, h, data).unwrap()
}

#[test]
fn render_exposure_on_exr_doubles_linear_light_and_keeps_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.exr"), dir.path().join("out.exr"));
    let img = test_image();
    write_image(&input, &img, Depth::F32).unwrap();
    let st = equifx()
        .args(["render", "Exposure"])
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .args(["--param", "exposure=1"])
        .status()
        .unwrap();
    assert!(st.success());
    let out = read_image(&output).unwrap();
    assert_eq!(out.depth, Depth::F32);
    let n = img.width() * img.height();
    for (i, (a, b)) in img.data().iter().zip(out.image.data()).enumerate() {
        let want = if i < 3 * n { 2.0 * a } else { *a };
        assert!(
            (want - b).abs() <= 1e-6 * want.abs().max(1.0),
            "value {i}: {want} vs {b}"
        );
    }
}

#[test]
fn bad_input_gives_exit_code_2_a_clear_message_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_image(&input, &test_image(), Depth::U8).unwrap();
    let output = dir.path().join("out.png");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "render".into(),
                "Exposure".into(),
                "/no/such/file.png".into(),
            ],
            "no such file",
        ),
        (
            vec![
                "render".into(),
                "NoSuchNode".into(),
                input.display().to_string(),
            ],
            "equifx nodes",
        ),
        (
            vec![
                "render".into(),
                "Exposure".into(),
                input.display().to_string(),
                "--param".into(),
                "gain=NaN".into(),
            ],
            "finite",
        ),
        (
            vec![
                "render".into(),
                "Exposure".into(),
                input.display().to_string(),
                "--param".into(),
                "volume=3".into(),
            ],
            "exposure, gain",
        ),
    ];
    for (args, says) in cases {
        let out = equifx()
            .args(&args)
            .arg("-o")
            .arg(&output)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.to_lowercase().contains(says),
            "{args:?}: '{stderr}' should mention '{says}'"
        );
        assert!(!output.exists(), "no output may be written on failure");
    }
}

#[test]
fn nodes_lists_every_manifest_node_as_json() {
    let out = equifx().args(["nodes", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = equifx::manifest::nodes()
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(ids, want);
}
