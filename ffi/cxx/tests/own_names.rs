//! A studio's own bundle through the C++ API: a tiny bundle trained here
//! (domains `day` and `night`, attributes `smiling` and `hat`), then a C++
//! program compiled against `include/equifx_cxx.h` and the static library
//! sets `target` = `night` and renders, and meets the bundle's names in the
//! `rust::Error` when a name is not the bundle's. Oracles: the names, labels
//! and frame sizes written here.

mod common;
#[path = "../../tests/studio_data/mod.rs"]
mod studio_data;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fixed scratch folder under target/tmp, emptied on every run.
fn scratch() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("own-names-cxx");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch folder");
    d
}

/// Trains the tiny studio bundle into `root/bundle`.
fn train_bundle(root: &Path) -> PathBuf {
    studio_data::train(root, "ffi/cxx/tests/own_names.rs").0
}

/// Transfer frame and sampler frame sizes: the oracle of the output lengths.
const FRAME: (usize, usize) = (40, 30);
const GENERATED: (usize, usize) = (20, 14);

/// The C++ host: argv[1] is the bundle. Prints one line per step.
fn host_source() -> String {
    let (w, h) = FRAME;
    let (gw, gh) = GENERATED;
    format!(
        r#"#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "rust/cxx.h"
#include "equifx_cxx.h"

static const char *finite(const rust::Vec<float> &v) {{
    for (float x : v)
        if (!std::isfinite(x)) return "NOT finite";
    return "finite";
}}

int main(int argc, char **argv) {{
    if (argc != 2) return 2;
    const std::string bundle = argv[1];
    const size_t w = {w}, h = {h};
    std::vector<float> frame(w * h * 4);
    for (size_t y = 0; y < h; ++y)
        for (size_t x = 0; x < w; ++x) {{
            float *p = &frame[4 * (y * w + x)];
            const bool mark = (x % 8 > 1 && x % 8 < 6 && y % 8 == 5);
            p[0] = mark ? 0.8f : 0.6f;
            p[1] = mark ? 0.02f : 0.65f;
            p[2] = mark ? 0.05f : 0.8f;
            p[3] = 1.0f;
        }}
    const rust::Slice<const float> input(frame.data(), frame.size());

    auto transfer = equifx::new_instance("org.equifx.DomainTransfer");
    transfer->set_param("model", bundle);
    transfer->set_param("target", "night");
    auto out = transfer->render_rgba(input, w, h, 0);
    std::printf("transfer night: %zu floats, %s\n", out.size(), finite(out));
    transfer->set_param("target", "anime");
    std::printf("set anime: ok\n");
    try {{
        transfer->render_rgba(input, w, h, 0);
        std::printf("anime rendered\n");
        return 1;
    }} catch (const rust::Error &e) {{
        std::printf("transfer refused at render: %s\n", e.what());
    }}

    auto sampler = equifx::new_instance("org.equifx.FairSampler");
    sampler->set_param("model", bundle);
    sampler->set_param("domain", "day");
    sampler->set_param("shares", "smiling=0.5");
    auto generated = sampler->render_rgba(rust::Slice<const float>(), {gw}, {gh}, 1);
    std::printf("sampler: %zu floats, %s\n", generated.size(), finite(generated));
    try {{
        sampler->set_param("shares", "smiling=2");
        std::printf("a share of 2 was accepted\n");
        return 1;
    }} catch (const rust::Error &e) {{
        std::printf("shares refused when set: %s\n", e.what());
    }}
    sampler->set_param("shares", "warm=0.5");
    try {{
        sampler->render_rgba(rust::Slice<const float>(), {gw}, {gh}, 1);
        std::printf("warm rendered\n");
        return 1;
    }} catch (const rust::Error &e) {{
        std::printf("sampler refused at render: %s\n", e.what());
    }}
    return 0;
}}
"#
    )
}

/// The line of `text` that starts with `prefix`.
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
}

#[test]
fn cpp_host_sets_the_bundles_domain_names_and_renders() {
    if equifx::device::cuda_compiled() {
        // Linking a CUDA build's static library needs candle's kernel archive
        // and the CUDA libraries (see cxx_host.rs); this test covers the CPU build.
        eprintln!("CUDA build: the C++ link line of cxx_host.rs is not repeated here; skipping");
        return;
    }
    let dir = scratch();
    let src = dir.join("own_names.cpp");
    std::fs::write(&src, host_source()).unwrap();
    let exe = dir.join("own_names_host");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let compiled = Command::new(&cxx)
        .args(["-std=c++17", "-O1", "-Wall", "-Werror"])
        .arg(&src)
        .arg("-I")
        .arg(repo().join("include"))
        .arg("-I")
        .arg(Path::new(env!("OUT_DIR")).join("cxxbridge/include"))
        .arg(common::static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output();
    let Ok(compiled) = compiled else {
        eprintln!("{cxx} not found (set CXX to a C++17 compiler); skipping the C++ API test");
        return;
    };
    assert!(
        compiled.status.success(),
        "{cxx} failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let bundle = train_bundle(&dir);
    let run = Command::new(&exe).arg(&bundle).output().expect("host runs");
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "host failed:\n{text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (w, h) = FRAME;
    assert_eq!(
        line(&text, "transfer night:"),
        format!("transfer night: {} floats, finite", 4 * w * h)
    );
    assert!(text.contains("set anime: ok"), "{text}");
    let e = line(&text, "transfer refused at render:");
    assert!(e.contains("'anime'") && e.contains("day, night"), "{e}");
    let (gw, gh) = GENERATED;
    assert_eq!(
        line(&text, "sampler:"),
        format!("sampler: {} floats, finite", 4 * gw * gh)
    );
    let e = line(&text, "shares refused when set:");
    assert!(e.contains("smiling=2"), "{e}");
    let e = line(&text, "sampler refused at render:");
    assert!(
        e.contains("'warm'") && e.contains("smiling") && e.contains("hat"),
        "{e}"
    );
}
