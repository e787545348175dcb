//! Domain parameters in OpenFX hosts: their menus list the domains of the
//! model bundle the instance's `model` parameter names, and projects keep
//! the name. On a host that supports OpenFX 1.5 StrChoice the parameter is
//! the menu; elsewhere a String keeps the name and a companion Choice
//! `<id>_menu`, never saved, writes the name it picks into it.
//!
//! Oracles: the shipped bundle's names read from `models/default`'s manifest
//! here, the studio bundle's `day`/`night` (trained here, see
//! `studio_data`), and the manifest's parameter list.

mod common;
mod ofxhost;
mod studio_data;

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use equifx::params::ParamKind;
use equifx_ffi::capi::status::equifx_status::*;
use equifx_ffi::ofx::abi::{OfxRectI, OfxStatus};
use ofxhost::{Effect, HostBuffer, ImageSpec, Session, PV};

const TRANSFER: &str = "org.equifx.DomainTransfer";
const FILTER: &str = "OfxImageEffectContextFilter";
const GENERATOR: &str = "OfxImageEffectContextGenerator";
const STR_CHOICE: &str = "OfxParamTypeStrChoice";
const SENTINEL: u8 = 0xAB;

/// The studio bundle (domains `day`, `night`), trained once per test binary.
fn studio() -> &'static PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ofx-domain-menus");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        studio_data::train(&root, "ffi/tests/ofx_domain_menus.rs").0
    })
}

fn studio_str() -> String {
    studio().to_string_lossy().into_owned()
}

/// The studio bundle's domains, from its manifest.
fn studio_domains() -> Vec<String> {
    let d = equifx::model::Bundle::read_manifest(studio())
        .unwrap()
        .domains;
    assert_eq!(d, ["day", "night"], "the studio data changed");
    d
}

/// The shipped bundle's domains, from `models/default/manifest.toml`.
fn shipped_domains() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let d = equifx::model::Bundle::read_manifest(&dir).unwrap().domains;
    assert!(d.len() >= 2, "{d:?}");
    d
}

/// What a domain parameter should list: `auto` first where its kind allows it.
fn listed(domains: &[String], auto: bool) -> Vec<String> {
    let mut v: Vec<String> = auto.then(|| "auto".to_string()).into_iter().collect();
    v.extend(domains.iter().cloned());
    v
}

/// Every (node, parameter id, auto, default) of kind domain in the manifest.
fn domain_params() -> Vec<(&'static str, &'static str, bool, &'static str)> {
    let mut out = Vec::new();
    for n in equifx::manifest::nodes() {
        for p in &n.params {
            if let ParamKind::Domain { auto, default } = &p.kind {
                out.push((n.id.as_str(), p.id.as_str(), *auto, default.as_str()));
            }
        }
    }
    out
}

fn text(s: &str) -> PV {
    PV::S(CString::new(s).unwrap())
}

fn value_text(inst: &Effect, param: &str) -> String {
    match inst.param(param).value_at(0.0) {
        PV::S(s) => s.to_string_lossy().into_owned(),
        v => panic!("{param} holds {v:?}, not text"),
    }
}

fn value_index(inst: &Effect, param: &str) -> i32 {
    match inst.param(param).value_at(0.0) {
        PV::I(i) => i,
        v => panic!("{param} holds {v:?}, not an index"),
    }
}

fn enum_values(inst: &Effect, param: &str) -> Vec<String> {
    inst.param(param).props.strings("OfxParamPropChoiceEnum")
}

fn options(inst: &Effect, param: &str) -> Vec<String> {
    inst.param(param).props.strings("OfxParamPropChoiceOption")
}

fn has_param(inst: &Effect, param: &str) -> bool {
    inst.params.find(param).is_some()
}

fn context(node: &str) -> &'static str {
    if equifx::manifest::node(node).unwrap().is_generator() {
        GENERATOR
    } else {
        FILTER
    }
}

/// Load, Describe, DescribeInContext and CreateInstance of `node`, on a host
/// that does or does not advertise StrChoice; also returns the in-context
/// descriptor.
fn instance(session: &Session, node: &str) -> (Box<Effect>, Box<Effect>) {
    assert_eq!(session.load(), OfxStatus::OK);
    let desc = session.describe();
    let ctx = session.describe_in_context(&desc, context(node));
    let inst = session.create_instance(&ctx, context(node));
    (ctx, inst)
}

/// A float image of a day picture, and an output buffer full of SENTINEL,
/// attached to `inst`; returns the output and the image bounds.
fn attach(inst: &Effect) -> (std::sync::Arc<HostBuffer>, OfxRectI) {
    let (w, h) = (40u32, 30u32);
    let spec = ImageSpec {
        bounds: OfxRectI {
            x1: 0,
            y1: 0,
            x2: w as i32,
            y2: h as i32,
        },
        depth: ofxhost::Depth::Float,
        negative_row_bytes: false,
        pad: 0,
        premultiplied: false,
    };
    let img = studio_data::picture(w, h, false, true, false, 5);
    let n = (w * h) as usize;
    let input: Vec<u8> = (0..n)
        .flat_map(|p| (0..4).map(move |c| (p, c)))
        .flat_map(|(p, c)| img.plane(c)[p].to_ne_bytes())
        .collect();
    inst.set_image("Source", Some(HostBuffer::new(spec, input)));
    let out = HostBuffer::new(spec, vec![SENTINEL; spec.len()]);
    inst.set_image("Output", Some(out.clone()));
    (out, spec.bounds)
}

/// Renders `inst` at frame 0 and checks every output float was written.
fn renders(session: &Session, inst: &Effect) {
    let (out, bounds) = attach(inst);
    assert_eq!(
        session.render(inst, 0.0, bounds),
        OfxStatus::OK,
        "{:?}",
        inst.last_persistent()
    );
    let floats: Vec<f32> = out
        .bytes()
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert!(
        floats.iter().all(|f| f.is_finite()),
        "the output was not written in full"
    );
}

#[test]
fn a_str_choice_host_gets_menus_that_follow_the_model_bundle() {
    let shipped = shipped_domains();
    let studio_names = studio_domains();
    let params = domain_params();
    let mut nodes: Vec<&str> = params.iter().map(|p| p.0).collect();
    nodes.dedup();
    assert!(nodes.len() >= 4 && nodes.contains(&TRANSFER), "{params:?}");

    // Every domain parameter of every node: a StrChoice listing the shipped
    // bundle, then the studio bundle once `model` names it.
    for node in nodes {
        let session = Session::new(node, false, &[]);
        session.set_supports_str_choice(true);
        let (ctx, inst) = instance(&session, node);
        for &(_, id, auto, default) in params.iter().filter(|p| p.0 == node) {
            for e in [&ctx, &inst] {
                assert_eq!(e.param(id).kind, STR_CHOICE, "{node} {id}");
                assert_eq!(enum_values(e, id), listed(&shipped, auto), "{node} {id}");
                assert_eq!(options(e, id), listed(&shipped, auto), "{node} {id}");
            }
            assert_eq!(
                ctx.param(id)
                    .props
                    .string("OfxParamPropDefault", 0)
                    .as_deref(),
                Some(default)
            );
            assert!(!has_param(&inst, &format!("{id}_menu")), "{node} {id}");
        }
        assert_eq!(
            session.user_edit(&inst, "model", text(&studio_str())),
            OfxStatus::OK
        );
        for &(_, id, auto, _) in params.iter().filter(|p| p.0 == node) {
            assert_eq!(
                enum_values(&inst, id),
                listed(&studio_names, auto),
                "{node} {id}"
            );
        }
        session.destroy(inst);
        assert_eq!(session.unload(), OfxStatus::OK);
    }

    let session = Session::new(TRANSFER, false, &[]);
    session.set_supports_str_choice(true);
    let (_ctx, inst) = instance(&session, TRANSFER);
    for (id, auto) in [("source", true), ("target", false)] {
        assert_eq!(inst.param(id).kind, STR_CHOICE);
        assert_eq!(enum_values(&inst, id), listed(&shipped, auto), "{id}");
        assert!(!has_param(&inst, &format!("{id}_menu")), "{id}");
    }

    // The artist picks the studio bundle: exactly its names (the shipped
    // bundle's three are gone, not just overwritten).
    assert_eq!(
        session.user_edit(&inst, "model", text(&studio_str())),
        OfxStatus::OK
    );
    assert_eq!(enum_values(&inst, "target"), studio_names);
    assert_eq!(options(&inst, "target"), studio_names);
    assert_eq!(enum_values(&inst, "source"), listed(&studio_names, true));
    assert_eq!(options(&inst, "source"), listed(&studio_names, true));

    // The value is the name: a render with "night" works.
    assert!(
        matches!(
            session.user_edit(&inst, "target", text("night")),
            OfxStatus::OK | OfxStatus::REPLY_DEFAULT
        ),
        "InstanceChanged(target)"
    );
    renders(&session, &inst);

    // An unreadable bundle leaves the menus as they were; the action succeeds.
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-bundle");
    assert_eq!(
        session.user_edit(&inst, "model", text(&missing.to_string_lossy())),
        OfxStatus::OK
    );
    assert_eq!(enum_values(&inst, "target"), studio_names);
    assert_eq!(inst.last_persistent(), None, "a menu rebuild is no error");

    // Back to the shipped bundle (empty path).
    assert_eq!(session.user_edit(&inst, "model", text("")), OfxStatus::OK);
    assert_eq!(enum_values(&inst, "target"), shipped);
    assert_eq!(enum_values(&inst, "source"), listed(&shipped, true));
    // StrChoice values are names: nothing was set behind the artist's back.
    assert_eq!(value_text(&inst, "target"), "night");
    assert_eq!(session.edits_outside_instance_changed(), 0);
    session.destroy(inst);
    assert_eq!(session.unload(), OfxStatus::OK);
}

#[test]
fn a_host_without_str_choice_gets_a_text_param_and_a_companion_menu() {
    let shipped = shipped_domains();
    let studio_names = studio_domains();
    let node = equifx::manifest::node(TRANSFER).unwrap();
    let session = Session::new(TRANSFER, false, &[]);
    session.set_supports_str_choice(false);
    let (ctx, inst) = instance(&session, TRANSFER);
    for (id, auto) in [("source", true), ("target", false)] {
        let menu = format!("{id}_menu");
        assert_eq!(inst.param(id).kind, "OfxParamTypeString", "{id}");
        assert_eq!(inst.param(&menu).kind, "OfxParamTypeChoice", "{menu}");
        let props = &ctx.param(&menu).props;
        let label = &node.param(id).unwrap().label;
        assert_eq!(
            props.string("OfxPropLabel", 0),
            Some(format!("{label} (from bundle)"))
        );
        // Not saved (projects keep the name), no render of its own, no keys.
        for (prop, want) in [
            ("OfxParamPropPersistant", 0),
            ("OfxParamPropEvaluateOnChange", 0),
            ("OfxParamPropAnimates", 0),
        ] {
            assert_eq!(props.int(prop, 0), Some(want), "{menu} {prop}");
        }
        assert_eq!(options(&inst, &menu), listed(&shipped, auto), "{menu}");
        // Its default shows the String's default name.
        let default = value_text(&inst, id);
        assert_eq!(
            options(&inst, &menu)[value_index(&inst, &menu) as usize],
            default
        );
    }

    // The studio bundle: the menus list exactly its names.
    session.forget_plugin_edits();
    assert_eq!(
        session.user_edit(&inst, "model", text(&studio_str())),
        OfxStatus::OK
    );
    assert_eq!(options(&inst, "target_menu"), studio_names);
    assert_eq!(
        inst.param("target_menu")
            .props
            .get("OfxParamPropChoiceOption")
            .map(|v| match v {
                ofxhost::props::Value::Str(v) => v.len(),
                _ => 0,
            }),
        Some(2),
        "stale options"
    );
    assert_eq!(options(&inst, "source_menu"), listed(&studio_names, true));
    session.echo_plugin_edits(&inst);

    // Picking option k writes the k-th name into the String; the host's
    // answer to that write finds nothing more to do.
    for (k, name) in studio_names.iter().enumerate() {
        session.forget_plugin_edits();
        let st = session.user_edit(&inst, "target_menu", PV::I(k as i32));
        assert_eq!(st, OfxStatus::OK, "pick {k}");
        assert_eq!(value_text(&inst, "target"), *name);
        assert_eq!(session.echo_plugin_edits(&inst), ["target"], "pick {k}");
    }
    // Picking the name the String already holds writes nothing.
    session.forget_plugin_edits();
    assert_eq!(
        session.user_edit(&inst, "target_menu", PV::I(1)),
        OfxStatus::OK
    );
    assert!(session.echo_plugin_edits(&inst).is_empty());
    // `auto` is a pick of the source menu too.
    assert_eq!(
        session.user_edit(&inst, "source_menu", PV::I(0)),
        OfxStatus::OK
    );
    assert_eq!(value_text(&inst, "source"), "auto");
    assert_eq!(
        session.user_edit(&inst, "source_menu", PV::I(2)),
        OfxStatus::OK
    );
    assert_eq!(value_text(&inst, "source"), "night");
    session.echo_plugin_edits(&inst);

    // A typed name the menu lists moves the menu; one it does not list
    // leaves it where it was.
    session.forget_plugin_edits();
    assert_eq!(
        session.user_edit(&inst, "target", text("day")),
        OfxStatus::OK
    );
    assert_eq!(value_index(&inst, "target_menu"), 0);
    assert_eq!(session.echo_plugin_edits(&inst), ["target_menu"]);
    assert_eq!(
        value_text(&inst, "target"),
        "day",
        "the echo changed the name"
    );
    assert_eq!(
        session.user_edit(&inst, "target", text("dusk")),
        OfxStatus::OK
    );
    assert_eq!(value_index(&inst, "target_menu"), 0);
    assert_eq!(value_text(&inst, "target"), "dusk");

    // A model change moves a menu to the name its String already holds:
    // the last shipped domain picked, "night" typed (not a shipped name, so
    // the menu stays), then the studio bundle, which lists it.
    assert_eq!(session.user_edit(&inst, "model", text("")), OfxStatus::OK);
    assert_eq!(options(&inst, "target_menu"), shipped);
    let last = shipped.len() - 1;
    assert!(last >= 2, "{shipped:?}");
    assert_eq!(
        session.user_edit(&inst, "target_menu", PV::I(last as i32)),
        OfxStatus::OK
    );
    assert_eq!(value_text(&inst, "target"), shipped[last]);
    assert_eq!(
        session.user_edit(&inst, "target", text("night")),
        OfxStatus::OK
    );
    assert_eq!(value_index(&inst, "target_menu"), last as i32);
    assert_eq!(
        session.user_edit(&inst, "model", text(&studio_str())),
        OfxStatus::OK
    );
    assert_eq!(options(&inst, "target_menu"), studio_names);
    assert_eq!(value_index(&inst, "target_menu"), 1);
    session.echo_plugin_edits(&inst);

    // Picked from the menus, rendered from the Strings.
    assert_eq!(
        session.user_edit(&inst, "source_menu", PV::I(1)),
        OfxStatus::OK
    );
    assert_eq!(
        session.user_edit(&inst, "target_menu", PV::I(1)),
        OfxStatus::OK
    );
    assert_eq!(value_text(&inst, "source"), "day");
    assert_eq!(value_text(&inst, "target"), "night");
    renders(&session, &inst);
    assert_eq!(session.edits_outside_instance_changed(), 0);
    session.destroy(inst);
    assert_eq!(session.unload(), OfxStatus::OK);
}

#[test]
fn companion_menus_exist_in_openfx_only() {
    for n in equifx::manifest::nodes() {
        for p in &n.params {
            assert!(
                !p.id.ends_with("_menu"),
                "{}: {} looks like a companion",
                n.id,
                p.id
            );
        }
    }
    let lib = common::Lib::load();
    let inst = lib.new_instance(TRANSFER);
    let (name, value) = (
        CString::new("target_menu").unwrap(),
        CString::new("1").unwrap(),
    );
    let st = (lib.entry.instance_set_text)(inst, name.as_ptr(), value.as_ptr());
    assert_ne!(st, EQUIFX_STATUS_OK, "the C ABI knows a companion menu");
    (lib.entry.instance_free)(inst);
}

#[test]
fn a_saved_name_renders_without_any_menu_interaction() {
    let studio_names = studio_domains();
    for str_choice in [false, true] {
        let session = Session::new(TRANSFER, false, &[]);
        session.set_supports_str_choice(str_choice);
        assert_eq!(session.load(), OfxStatus::OK);
        let desc = session.describe();
        let ctx = session.describe_in_context(&desc, FILTER);

        // A project being opened: the host restores the saved values, then
        // creates the instance; no InstanceChanged, no menu touched.
        let inst = ctx.instantiate(FILTER);
        inst.param("model")
            .set_key(f64::NEG_INFINITY, text(&studio_str()));
        inst.param("target")
            .set_key(f64::NEG_INFINITY, text("night"));
        inst.param("source").set_key(f64::NEG_INFINITY, text("day"));
        let st = session.action(
            "OfxActionCreateInstance",
            inst.handle() as *const std::ffi::c_void,
            None,
            None,
        );
        assert_eq!(st, OfxStatus::OK, "CreateInstance");
        // The menus list the project's bundle from the start.
        if str_choice {
            assert_eq!(enum_values(&inst, "target"), studio_names);
        } else {
            assert_eq!(options(&inst, "target_menu"), studio_names);
        }
        renders(&session, &inst);
        assert_eq!(value_text(&inst, "target"), "night");
        session.destroy(inst);

        // Values set after creation with no InstanceChanged at all (the menus
        // still list the shipped bundle): the name alone renders.
        let (_, inst) = instance(&session, TRANSFER);
        inst.param("model")
            .set_key(f64::NEG_INFINITY, text(&studio_str()));
        inst.param("target")
            .set_key(f64::NEG_INFINITY, text("night"));
        let stale = if str_choice {
            enum_values(&inst, "target")
        } else {
            options(&inst, "target_menu")
        };
        assert!(!stale.contains(&"night".to_string()), "{stale:?}");
        renders(&session, &inst);
        assert_eq!(
            session.edits_outside_instance_changed(),
            0,
            "str_choice={str_choice}"
        );
        session.destroy(inst);
        assert_eq!(session.unload(), OfxStatus::OK);
    }
}
