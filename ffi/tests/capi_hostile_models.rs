//! Hostile or damaged inputs to the model nodes, through the C ABI as a host
//! sends them: a float plate with a NaN and an inf audited (no null score in
//! the record), a bundle whose manifest declares NaN noise (refused with the
//! reason), and a session that renders with many different bundles (memory
//! does not grow with the number of bundles once their instances are freed).

mod common;

use std::ffi::CString;
use std::path::{Path, PathBuf};

use common::{frame, pattern_f32, Lib};
use equifx_ffi::capi::instance::equifx_instance;
use equifx_ffi::capi::status::equifx_status::{self, *};

const RGBA_F32: u32 = 3;
const LINEAR: u32 = 1;

/// A fresh folder for this test under cargo's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-models-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_default(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(equifx::model::bundle::default_bundle_dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn set_text(lib: &Lib, inst: *mut equifx_instance, name: &str, value: &str) -> equifx_status {
    let (n, v) = (CString::new(name).unwrap(), CString::new(value).unwrap());
    (lib.entry.instance_set_text)(inst, n.as_ptr(), v.as_ptr())
}

/// Renders `inst` on a `w × h` RGBA F32 linear frame of `pixels` (as bytes).
fn render_f32(
    lib: &Lib,
    inst: *mut equifx_instance,
    w: u32,
    h: u32,
    pixels: &mut [u8],
) -> equifx_status {
    let mut out = vec![0u8; pixels.len()];
    let row = (w * 16) as isize;
    let fi = frame(w, h, RGBA_F32, LINEAR, 0, row, pixels);
    let fo = frame(w, h, RGBA_F32, LINEAR, 0, row, &mut out);
    (lib.entry.instance_render)(inst, &fi, 1, &fo, 0, std::ptr::null())
}

#[test]
fn an_audited_plate_with_nan_and_inf_records_finite_scores() {
    let lib = Lib::load();
    let records = scratch("records");
    let inst = lib.new_instance("org.equifx.BiasAudit");
    assert_eq!(
        set_text(&lib, inst, "records", records.to_str().unwrap()),
        EQUIFX_STATUS_OK
    );
    let (w, h) = (256u32, 64u32);
    let mut px = pattern_f32((w * h * 4) as usize, 5);
    let mut put = |i: usize, v: f32| px[4 * i..4 * i + 4].copy_from_slice(&v.to_ne_bytes());
    put(4 * (20 * 256 + 30), f32::NAN);
    put(4 * (40 * 256 + 10) + 1, f32::INFINITY);
    let st = render_f32(&lib, inst, w, h, &mut px);
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    (lib.entry.instance_free)(inst);
    // A NaN score would be written as null, which the reader refuses.
    let read = equifx::fairness::metadata::FrameRecord::read_dir(&records);
    let sidecar = read.unwrap_or_else(|e| panic!("the record does not read back: {e}"));
    let scores = &sidecar.frames[0].scores;
    assert!(
        !scores.is_empty() && scores.iter().all(|s| s.is_finite()),
        "{scores:?}"
    );
}

#[test]
fn a_bundle_declaring_nan_noise_is_refused_with_the_reason() {
    let lib = Lib::load();
    let bundle = scratch("nan-noise").join("bundle");
    copy_default(&bundle);
    let manifest = bundle.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let start = text
        .find("latent_noise = [")
        .expect("the shipped manifest declares noise");
    let end = start + text[start..].find(']').unwrap() + 1;
    let hostile = format!(
        "{}latent_noise = [nan, 1.0]{}",
        &text[..start],
        &text[end..]
    );
    std::fs::write(&manifest, hostile).unwrap();

    let inst = lib.new_instance("org.equifx.DomainTransfer");
    assert_eq!(
        set_text(&lib, inst, "model", bundle.to_str().unwrap()),
        EQUIFX_STATUS_OK
    );
    assert_eq!(set_text(&lib, inst, "source", "photo"), EQUIFX_STATUS_OK);
    let mut px = pattern_f32(16 * 16 * 4, 9);
    let st = render_f32(&lib, inst, 16, 16, &mut px);
    (lib.entry.instance_free)(inst);
    assert_eq!(st, EQUIFX_STATUS_MODEL);
    assert!(
        lib.last_error().contains("latent_noise"),
        "{}",
        lib.last_error()
    );
}

/// Resident set size of this process in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

#[cfg(target_os = "linux")]
#[test]
fn rendering_with_24_different_bundles_does_not_keep_them_all() {
    let lib = Lib::load();
    let root = scratch("many");
    let bundles: Vec<PathBuf> = (0..24)
        .map(|i| {
            let b = root.join(format!("copy{i:02}"));
            copy_default(&b);
            b
        })
        .collect();
    let render_with = |bundle: &Path| {
        let inst = lib.new_instance("org.equifx.DomainTransfer");
        assert_eq!(
            set_text(&lib, inst, "model", bundle.to_str().unwrap()),
            EQUIFX_STATUS_OK
        );
        assert_eq!(set_text(&lib, inst, "source", "photo"), EQUIFX_STATUS_OK);
        let mut px = pattern_f32(16 * 16 * 4, 3);
        let st = render_f32(&lib, inst, 16, 16, &mut px);
        assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
        (lib.entry.instance_free)(inst);
    };
    // Warm up the process (thread pools, allocator arenas) on one bundle.
    render_with(&bundles[0]);
    let before = rss();
    for b in &bundles[1..] {
        render_with(b);
    }
    let grown = rss().saturating_sub(before) / (1 << 20);
    // Each loaded copy holds ≈ 12 MiB; keeping all 23 grew the process by
    // 281 MiB. Only the most recent few may stay.
    assert!(grown < 120, "{grown} MiB more after 23 more bundles");
}
