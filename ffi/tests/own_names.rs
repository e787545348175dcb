//! A studio's own bundle through the C ABI and the OpenFX plugin: a tiny
//! bundle trained here on two folders of PNGs and TIFFs of mixed sizes
//! (domains `day` and `night`, attributes `smiling` and `hat` in a
//! labels.csv), then the nodes driven by those names as text parameters.
//! Names are checked for syntax when set and against the bundle when the
//! instance renders, where an unknown one fails with the bundle's names.
//! Oracles: the names, labels and frame sizes written here.

mod common;
mod ofxhost;
mod studio_data;

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::Lib;
use equifx::frame::{AlphaMode, ColourSpace, Image, PixelFormat};
use equifx_ffi::capi::instance::equifx_instance;
use equifx_ffi::capi::status::equifx_status::{self, *};
use equifx_ffi::ofx::abi::{OfxRectI, OfxStatus};
use ofxhost::{HostBuffer, ImageSpec, Session, PV};
use studio_data::{picture, LABELLED, UNLABELLED};

const TRANSFER: &str = "org.equifx.DomainTransfer";
const SAMPLER: &str = "org.equifx.FairSampler";
const AUDIT: &str = "org.equifx.BiasAudit";

struct Studio {
    root: PathBuf,
    bundle: PathBuf,
    /// (smiling, hat) label shares of `day` and `night`.
    shares: [(f64, f64); 2],
}

/// The bundle, trained once per test binary in-process (the library's
/// `equifx train`), in a fixed folder under target/tmp replaced every run.
fn studio() -> &'static Studio {
    static STUDIO: OnceLock<Studio> = OnceLock::new();
    STUDIO.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("own-names-ffi");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let started = std::time::Instant::now();
        let (bundle, shares) = studio_data::train(&root, "ffi/tests/own_names.rs");
        eprintln!("trained the studio bundle in {:.1?}", started.elapsed());
        Studio {
            root,
            bundle,
            shares,
        }
    })
}

fn bundle_str() -> String {
    studio().bundle.to_string_lossy().into_owned()
}

fn set_text(lib: &Lib, inst: *mut equifx_instance, name: &str, value: &str) -> equifx_status {
    let (n, v) = (CString::new(name).unwrap(), CString::new(value).unwrap());
    (lib.entry.instance_set_text)(inst, n.as_ptr(), v.as_ptr())
}

fn set_ok(lib: &Lib, inst: *mut equifx_instance, name: &str, value: &str) {
    let st = set_text(lib, inst, name, value);
    assert_eq!(st, EQUIFX_STATUS_OK, "{name}={value}: {}", lib.last_error());
}

/// Interleaved scene-linear RGBA floats of a picture.
fn rgba_f32(img: &Image) -> Vec<f32> {
    let n = img.width() * img.height();
    (0..n)
        .flat_map(|p| (0..4).map(move |c| img.plane(c)[p]))
        .collect()
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_ne_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

/// Renders frame `frame` of `inst` into a NaN-filled RGBA_F32 buffer of
/// `w × h` (from `input` when given; generators take none).
fn render(
    lib: &Lib,
    inst: *mut equifx_instance,
    input: Option<&[f32]>,
    (w, h): (usize, usize),
    frame: i64,
) -> (equifx_status, Vec<f32>) {
    let fmt = PixelFormat::RGBA_F32.to_code();
    let (colour, alpha) = (ColourSpace::Linear as u32, AlphaMode::Straight as u32);
    let row = (w * 16) as isize;
    let mut out = to_bytes(&vec![f32::NAN; 4 * w * h]);
    let fo = common::frame(w as u32, h as u32, fmt, colour, alpha, row, &mut out);
    let st = match input {
        Some(input) => {
            assert_eq!(input.len(), 4 * w * h);
            let mut bytes = to_bytes(input);
            let fi = common::frame(w as u32, h as u32, fmt, colour, alpha, row, &mut bytes);
            (lib.entry.instance_render)(inst, &fi, 1, &fo, frame, std::ptr::null())
        }
        None => {
            (lib.entry.instance_render)(inst, std::ptr::null(), 0, &fo, frame, std::ptr::null())
        }
    };
    (st, from_bytes(&out))
}

fn all_finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

#[test]
fn model_info_describes_the_studio_bundle_with_its_names_and_label_shares() {
    let s = studio();
    let lib = Lib::load();
    assert!(
        lib.entry.struct_size as usize >= std::mem::size_of::<equifx_ffi::capi::equifx_entry>(),
        "the entry table does not cover model_info"
    );
    let path = CString::new(bundle_str()).unwrap();
    let mut json = std::ptr::null();
    assert_eq!(
        (lib.entry.model_info)(path.as_ptr(), &mut json),
        EQUIFX_STATUS_OK,
        "{}",
        lib.last_error()
    );
    let json = unsafe { CStr::from_ptr(json) }
        .to_string_lossy()
        .into_owned();
    // The day domain comes first (the training order); split the text there.
    let night_at = json.find("\"name\": \"night\"").expect(&json);
    let day_at = json.find("\"name\": \"day\"").expect(&json);
    assert!(day_at < night_at, "{json}");
    let (day, night) = json.split_at(night_at);
    for (part, (smiling, hat)) in [(day, s.shares[0]), (night, s.shares[1])] {
        for (attr, share) in [("smiling", smiling), ("hat", hat)] {
            let name = part.find(&format!("\"name\": \"{attr}\"")).expect(part);
            // The attribute's own object: from its name to the next closing brace.
            let object = &part[name..name + part[name..].find('}').unwrap()];
            assert!(
                object.contains(&format!("\"training_share\": {share}")),
                "{attr}: share {share} not in {object}"
            );
            assert!(object.contains("\"has_head\": true"), "{object}");
        }
        let images = LABELLED + UNLABELLED;
        assert!(
            part.contains(&format!("\"training_images\": {images}")),
            "{part}"
        );
    }
    // Nothing of the shipped bundle's names.
    for other in ["photo", "anime", "warm", "round"] {
        assert!(!json.contains(&format!("\"{other}\"")), "{other} in {json}");
    }
    // A folder that is no bundle is an error, not a crash.
    let not_a_bundle = CString::new(s.root.join("day").to_string_lossy().as_ref()).unwrap();
    let mut none = std::ptr::null();
    assert_ne!(
        (lib.entry.model_info)(not_a_bundle.as_ptr(), &mut none),
        EQUIFX_STATUS_OK
    );
    assert!(none.is_null(), "written on failure");
    assert!(!lib.last_error().is_empty());
}

#[test]
fn domain_transfer_takes_the_bundles_domain_names_and_refuses_others_at_render() {
    let lib = Lib::load();
    let inst = lib.new_instance(TRANSFER);
    set_ok(&lib, inst, "model", &bundle_str());
    set_ok(&lib, inst, "target", "night");
    let (w, h) = (40, 30);
    let input = rgba_f32(&picture(w, h, false, true, false, 7));
    let size = (w as usize, h as usize);
    let (st, out) = render(&lib, inst, Some(&input), size, 0);
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    assert!(all_finite(&out), "the output was not written in full");
    set_ok(&lib, inst, "source", "day");
    let (st, out) = render(&lib, inst, Some(&input), size, 0);
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    assert!(all_finite(&out));
    // Names are text when set: another bundle's name is accepted here …
    set_ok(&lib, inst, "target", "anime");
    // … and refused when the bundle is known, naming this bundle's domains.
    let (st, _) = render(&lib, inst, Some(&input), size, 0);
    assert_eq!(st, EQUIFX_STATUS_INVALID_PARAM_VALUE);
    let e = lib.last_error();
    assert!(e.contains("'anime'") && e.contains("day, night"), "{e}");
    set_ok(&lib, inst, "target", "night");
    set_ok(&lib, inst, "source", "dusk");
    let (st, _) = render(&lib, inst, Some(&input), size, 0);
    assert_eq!(st, EQUIFX_STATUS_INVALID_PARAM_VALUE);
    let e = lib.last_error();
    assert!(e.contains("'dusk'") && e.contains("day, night"), "{e}");
    // What can never be a name is refused when set.
    for bad in ["", "day=night", "day, night"] {
        assert_eq!(
            set_text(&lib, inst, "target", bad),
            EQUIFX_STATUS_INVALID_PARAM_VALUE,
            "{bad:?}"
        );
    }
    (lib.entry.instance_free)(inst);
}

#[test]
fn fair_sampler_shares_name_the_bundles_attributes() {
    let lib = Lib::load();
    let inst = lib.new_instance(SAMPLER);
    set_ok(&lib, inst, "model", &bundle_str());
    set_ok(&lib, inst, "domain", "night");
    set_ok(&lib, inst, "shares", "smiling=0.5");
    let size = (16, 12);
    let (st, out) = render(&lib, inst, None, size, 3);
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    assert!(all_finite(&out));
    // A share outside 0 … 1 is a syntax error, refused when set; the
    // previous value stays, so the instance still renders.
    assert_eq!(
        set_text(&lib, inst, "shares", "smiling=2"),
        EQUIFX_STATUS_INVALID_PARAM_VALUE
    );
    assert!(
        lib.last_error().contains("smiling=2"),
        "{}",
        lib.last_error()
    );
    let (st, _) = render(&lib, inst, None, size, 3);
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    set_ok(&lib, inst, "shares", "hat=0.25, *=0.5");
    let (st, _) = render(&lib, inst, None, size, 4);
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    // The shipped bundle's attribute: accepted as text, refused at render.
    set_ok(&lib, inst, "shares", "warm=0.5");
    let (st, _) = render(&lib, inst, None, size, 3);
    assert_eq!(st, EQUIFX_STATUS_INVALID_PARAM_VALUE);
    let e = lib.last_error();
    assert!(
        e.contains("'warm'") && e.contains("smiling") && e.contains("hat"),
        "{e}"
    );
    set_ok(&lib, inst, "shares", "smiling=0.5");
    set_ok(&lib, inst, "domain", "photo");
    let (st, _) = render(&lib, inst, None, size, 3);
    assert_eq!(st, EQUIFX_STATUS_INVALID_PARAM_VALUE);
    let e = lib.last_error();
    assert!(e.contains("'photo'") && e.contains("day, night"), "{e}");
    (lib.entry.instance_free)(inst);
}

#[test]
fn bias_audit_records_the_bundles_attributes() {
    let lib = Lib::load();
    let records = studio().root.join("records-capi");
    let _ = std::fs::remove_dir_all(&records);
    let inst = lib.new_instance(AUDIT);
    set_ok(&lib, inst, "model", &bundle_str());
    set_ok(&lib, inst, "domain", "day");
    set_ok(&lib, inst, "records", &records.to_string_lossy());
    let (w, h) = (24, 64);
    let input = rgba_f32(&picture(w, h, false, false, true, 2));
    let (st, out) = render(&lib, inst, Some(&input), (w as usize, h as usize), 5);
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    assert_eq!(out, input, "the frame is passed through");
    let record = std::fs::read_to_string(records.join("frame_000005.json")).unwrap();
    for attr in ["\"smiling\"", "\"hat\""] {
        assert!(record.contains(attr), "{attr} not in {record}");
    }
    set_ok(&lib, inst, "domain", "photo");
    let (st, _) = render(&lib, inst, Some(&input), (w as usize, h as usize), 6);
    assert_eq!(st, EQUIFX_STATUS_INVALID_PARAM_VALUE);
    let e = lib.last_error();
    assert!(e.contains("'photo'") && e.contains("day, night"), "{e}");
    assert!(!records.join("frame_000006.json").exists());
    (lib.entry.instance_free)(inst);
}

const SENTINEL: u8 = 0xAB;

fn rect(x1: i32, y1: i32, x2: i32, y2: i32) -> OfxRectI {
    OfxRectI { x1, y1, x2, y2 }
}

/// The C ABI rendering of the same memory (described from the top, as in
/// `ofx_host.rs`) with the same text parameters: the OFX output's oracle.
fn cabi_render(lib: &Lib, params: &[(&str, &str)], spec: &ImageSpec, input: &[u8]) -> Vec<u8> {
    let inst = lib.new_instance(TRANSFER);
    for (name, value) in params {
        set_ok(lib, inst, name, value);
    }
    let stride = spec.stride() as isize;
    let row_bytes = if spec.negative_row_bytes {
        stride
    } else {
        -stride
    };
    let (w, h) = (spec.width() as u32, spec.height() as u32);
    let fmt = PixelFormat::RGBA_F32.to_code();
    let colour = ColourSpace::Linear as u32;
    let alpha = u32::from(spec.premultiplied);
    let mut src = input.to_vec();
    let mut out = vec![SENTINEL; spec.len()];
    let fi = common::frame(w, h, fmt, colour, alpha, row_bytes, &mut src);
    let fo = common::frame(w, h, fmt, colour, alpha, row_bytes, &mut out);
    let st = (lib.entry.instance_render)(inst, &fi, 1, &fo, 0, std::ptr::null());
    assert_eq!(st, EQUIFX_STATUS_OK, "{}", lib.last_error());
    (lib.entry.instance_free)(inst);
    out
}

fn ofx_string(value: &str) -> PV {
    PV::S(CString::new(value).unwrap())
}

#[test]
fn openfx_string_params_carry_the_bundles_names() {
    let lib = Lib::load();
    let bundle = bundle_str();
    let session = Session::new(TRANSFER, false, &[]);
    let inst = session.instance();
    assert_eq!(inst.param("target").kind, "OfxParamTypeString");
    inst.param("model")
        .set_key(f64::NEG_INFINITY, ofx_string(&bundle));
    inst.param("target")
        .set_key(f64::NEG_INFINITY, ofx_string("night"));
    let (w, h) = (40u32, 30u32);
    let spec = ImageSpec {
        bounds: rect(0, 0, w as i32, h as i32),
        depth: ofxhost::Depth::Float,
        negative_row_bytes: false,
        pad: 0,
        premultiplied: false,
    };
    // OFX rows count up from the bottom: memory row m holds picture row h − 1 − m.
    let img = rgba_f32(&picture(w, h, false, true, true, 11));
    let row = 4 * w as usize;
    let upright: Vec<f32> = (0..h as usize)
        .rev()
        .flat_map(|y| img[y * row..(y + 1) * row].iter().copied())
        .collect();
    let input = to_bytes(&upright);
    let attach = || {
        inst.set_image("Source", Some(HostBuffer::new(spec, input.clone())));
        let out = HostBuffer::new(spec, vec![SENTINEL; spec.len()]);
        inst.set_image("Output", Some(out.clone()));
        out
    };
    let out = attach();
    assert_eq!(
        session.render(&inst, 0.0, spec.bounds),
        OfxStatus::OK,
        "{:?}",
        inst.last_persistent()
    );
    let want = cabi_render(
        &lib,
        &[("model", &bundle), ("target", "night")],
        &spec,
        &input,
    );
    let (got, want) = (from_bytes(&out.bytes()), from_bytes(&want));
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        all_finite(&got) && worst < 1e-5,
        "OFX differs from the C ABI by {worst}"
    );

    // Another bundle's name: the render fails with this bundle's names and
    // leaves the output alone; the host carries on.
    inst.param("target")
        .set_key(f64::NEG_INFINITY, ofx_string("anime"));
    let out = attach();
    assert_eq!(session.render(&inst, 0.0, spec.bounds), OfxStatus::FAILED);
    let msg = inst
        .last_persistent()
        .expect("an error message for the artist");
    assert!(
        msg.contains("'anime'") && msg.contains("day, night"),
        "{msg}"
    );
    assert!(out.bytes().iter().all(|&b| b == SENTINEL), "output written");
    assert_eq!(
        inst.images_out.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "images leaked on the error path"
    );
    inst.param("target")
        .set_key(f64::NEG_INFINITY, ofx_string("night"));
    attach();
    assert_eq!(session.render(&inst, 0.0, spec.bounds), OfxStatus::OK);
    assert_eq!(inst.last_persistent(), None);
    session.destroy(inst);
}

#[test]
fn openfx_fair_sampler_shares_are_a_string_param_checked_at_render() {
    let session = Session::new(SAMPLER, false, &[]);
    assert_eq!(session.load(), OfxStatus::OK);
    let desc = session.describe();
    let ctx = session.describe_in_context(&desc, "OfxImageEffectContextGenerator");
    let inst = session.create_instance(&ctx, "OfxImageEffectContextGenerator");
    assert_eq!(inst.param("shares").kind, "OfxParamTypeString");
    inst.param("model")
        .set_key(f64::NEG_INFINITY, ofx_string(&bundle_str()));
    inst.param("domain")
        .set_key(f64::NEG_INFINITY, ofx_string("day"));
    inst.param("shares")
        .set_key(f64::NEG_INFINITY, ofx_string("smiling=0.5"));
    let spec = ImageSpec {
        bounds: rect(0, 0, 20, 14),
        depth: ofxhost::Depth::Float,
        negative_row_bytes: false,
        pad: 0,
        premultiplied: false,
    };
    let out = HostBuffer::new(spec, vec![SENTINEL; spec.len()]);
    inst.set_image("Output", Some(out.clone()));
    assert_eq!(
        session.render(&inst, 2.0, spec.bounds),
        OfxStatus::OK,
        "{:?}",
        inst.last_persistent()
    );
    assert!(all_finite(&from_bytes(&out.bytes())));
    inst.param("shares")
        .set_key(f64::NEG_INFINITY, ofx_string("warm=0.5"));
    assert_eq!(session.render(&inst, 2.0, spec.bounds), OfxStatus::FAILED);
    let msg = inst.last_persistent().expect("an error message");
    assert!(
        msg.contains("'warm'") && msg.contains("smiling") && msg.contains("hat"),
        "{msg}"
    );
    session.destroy(inst);
    assert_eq!(session.unload(), OfxStatus::OK);
}
