//! Pipelines drive equifx from Python through the C ABI: run the ctypes
//! example host against the real library and check what it prints.

mod common;

#[test]
fn python_ctypes_host_renders_and_reports_errors() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/python/equifx_host.py"
    );
    let out = match std::process::Command::new("python3")
        .arg(script)
        .arg(common::cdylib_path())
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            common::skip_unless_ci("python3 not found");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("node org.equifx.Exposure"), "{stdout}");
    // +1 stop doubles linear light; alpha stays 1.
    let line = stdout.lines().find(|l| l.starts_with("output ")).unwrap();
    let values: Vec<f32> = line["output ".len()..]
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(values.len(), 24);
    for px in values.chunks(4) {
        assert!(
            (px[0] - 0.2).abs() < 1e-6
                && (px[1] - 0.4).abs() < 1e-6
                && (px[2] - 0.8).abs() < 1e-6
                && px[3] == 1.0,
            "{px:?}"
        );
    }
    assert!(stdout.contains("refused: equifx status 5"), "{stdout}");
}
