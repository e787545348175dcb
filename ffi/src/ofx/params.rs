//! Parameters: each manifest parameter becomes one OFX parameter of the
//! matching type (defined in `DescribeInContext`), and its value is read back
//! per render with `paramGetValueAtTime`, so animated values just work.
//!
//! Kind → OFX type: float → Double (plain), int → Integer, seed → Integer
//! (0 … 2³¹−1: OFX integers are C `int`), bool → Boolean, choice → Choice
//! (option labels; the index maps back to the option name), path → String in
//! file-path mode, shares → single-line String.
//!
//! domain → the name of a domain of the model bundle the artist picks, which
//! a host's parameters, described before any bundle is chosen, cannot know.
//! The value is always the *name* (projects store names, never indices), and
//! the menu follows the bundle (see `menus`): on an OpenFX 1.5 host that
//! supports it, a StrChoice whose options are rebuilt when `model` changes;
//! elsewhere a single-line String (what MLT/Kdenlive use) plus a companion
//! Choice `<id>_menu` that is not saved and writes the picked name into the
//! String. Renders read the String/StrChoice only; companions exist in OFX
//! alone, not in the core manifest or the C ABI.

use std::ffi::{c_char, c_int, CStr};

use equifx::manifest::NodeDescriptor;
use equifx::params::{ParamKind, ParamValue};
use equifx::Instance;

use super::abi::*;
use super::menus;
use super::suites::{Props, Suites};
use crate::guard::FfiError;
use crate::text::cstring;

fn clamp_int(v: i64) -> c_int {
    v.clamp(i64::from(c_int::MIN), i64::from(c_int::MAX)) as c_int
}

/// Defines one parameter; the host's status when it refuses.
pub(super) fn define_one(
    s: &Suites,
    set: OfxParamSetHandle,
    kind: &CStr,
    name: &CStr,
) -> Result<OfxPropertySetHandle, OfxStatus> {
    let mut h: OfxPropertySetHandle = std::ptr::null_mut();
    // SAFETY: set came from the host; kind and name are C strings; h is an out-pointer.
    let st = unsafe { (s.param.param_define)(set, kind.as_ptr(), name.as_ptr(), &mut h) };
    if st != OfxStatus::OK || h.is_null() {
        return Err(st);
    }
    Ok(h)
}

/// Defines every parameter of `node` on the descriptor `effect` (and, for
/// domain parameters on hosts without StrChoice, their companion menus).
pub(super) fn define(
    s: &Suites,
    node: &'static NodeDescriptor,
    effect: OfxImageEffectHandle,
) -> Result<(), FfiError> {
    let set = s.param_set(effect)?;
    let shipped = if menus::has_domains(node) {
        menus::shipped_domains(node)
    } else {
        Vec::new()
    };
    for p in &node.params {
        let kind: &CStr = match p.kind {
            ParamKind::Float { .. } => OfxParamTypeDouble,
            ParamKind::Int { .. } | ParamKind::Seed { .. } => OfxParamTypeInteger,
            ParamKind::Bool { .. } => OfxParamTypeBoolean,
            ParamKind::Choice { .. } => OfxParamTypeChoice,
            ParamKind::Domain { .. } if s.host_supports_str_choice => OfxParamTypeStrChoice,
            ParamKind::Path { .. } | ParamKind::Domain { .. } | ParamKind::Shares { .. } => {
                OfxParamTypeString
            }
        };
        let name = cstring(&p.id);
        let refused = |st: OfxStatus| {
            FfiError::invalid(format!(
                "the host refused parameter '{}' (status {})",
                p.id, st.0
            ))
        };
        let (h, kind) = match define_one(s, set, kind, &name) {
            Ok(h) => (h, kind),
            // A host that advertised StrChoice and then refused one still
            // gets the text parameter and its menu.
            Err(_) if kind == OfxParamTypeStrChoice => (
                define_one(s, set, OfxParamTypeString, &name).map_err(refused)?,
                OfxParamTypeString,
            ),
            Err(st) => return Err(refused(st)),
        };
        let props = Props::new(s, h);
        props.set_string(OfxPropLabel, 0, &cstring(&p.label));
        props.set_string(OfxParamPropHint, 0, &cstring(&p.hint));
        props.set_string(OfxParamPropScriptName, 0, &name);
        match &p.kind {
            ParamKind::Float {
                min, max, default, ..
            } => {
                props.set_string(OfxParamPropDoubleType, 0, OfxParamDoubleTypePlain);
                props.set_double(OfxParamPropMin, 0, *min);
                props.set_double(OfxParamPropMax, 0, *max);
                props.set_double(OfxParamPropDisplayMin, 0, *min);
                props.set_double(OfxParamPropDisplayMax, 0, *max);
                props.set_double(OfxParamPropDefault, 0, *default);
            }
            ParamKind::Int { min, max, default } => {
                for (n, v) in [
                    (OfxParamPropMin, *min),
                    (OfxParamPropMax, *max),
                    (OfxParamPropDisplayMin, *min),
                    (OfxParamPropDisplayMax, *max),
                    (OfxParamPropDefault, *default),
                ] {
                    props.set_int(n, 0, clamp_int(v));
                }
            }
            ParamKind::Seed { default } => {
                props.set_int(OfxParamPropMin, 0, 0);
                props.set_int(OfxParamPropMax, 0, c_int::MAX);
                props.set_int(OfxParamPropDefault, 0, clamp_int(*default));
                // A seed is picked, not keyframed.
                props.set_int(OfxParamPropAnimates, 0, 0);
            }
            ParamKind::Bool { default } => {
                props.set_int(OfxParamPropDefault, 0, c_int::from(*default));
            }
            ParamKind::Choice { options, default } => {
                for (i, o) in options.iter().enumerate() {
                    props.set_string(OfxParamPropChoiceOption, i as c_int, &cstring(o));
                }
                let d = options.iter().position(|o| o == default).unwrap_or(0);
                props.set_int(OfxParamPropDefault, 0, d as c_int);
                props.set_int(OfxParamPropAnimates, 0, 0);
            }
            ParamKind::Domain { default, auto } => {
                props.set_string(OfxParamPropDefault, 0, &cstring(default));
                props.set_int(OfxParamPropAnimates, 0, 0);
                let names = menus::describe_names(&shipped, default, *auto);
                if kind == OfxParamTypeStrChoice {
                    menus::set_options(&props, &names, true, false);
                } else {
                    props.set_string(OfxParamPropStringMode, 0, OfxParamStringIsSingleLine);
                    menus::define_companion(s, set, p, &names, default);
                }
            }
            ParamKind::Shares { default } => {
                props.set_string(OfxParamPropStringMode, 0, OfxParamStringIsSingleLine);
                props.set_string(OfxParamPropDefault, 0, &cstring(default));
                props.set_int(OfxParamPropAnimates, 0, 0);
            }
            ParamKind::Path { default } => {
                props.set_string(OfxParamPropStringMode, 0, OfxParamStringIsFilePath);
                props.set_int(OfxParamPropStringFilePathExists, 0, 1);
                props.set_string(OfxParamPropDefault, 0, &cstring(default));
                props.set_int(OfxParamPropAnimates, 0, 0);
            }
        }
    }
    Ok(())
}

/// Handles of every parameter of an instance, in manifest order. Handles
/// stay valid for the instance's life, so they are looked up once.
pub(super) fn handles(
    s: &Suites,
    node: &NodeDescriptor,
    effect: OfxImageEffectHandle,
) -> Result<Vec<OfxParamHandle>, FfiError> {
    let set = s.param_set(effect)?;
    node.params
        .iter()
        .map(|p| {
            s.param_handle(set, &cstring(&p.id)).map_err(|e| {
                FfiError::invalid(format!(
                    "the host has no parameter '{}' on this instance ({})",
                    p.id, e.message
                ))
            })
        })
        .collect()
}

fn read_failed(id: &str, st: OfxStatus) -> FfiError {
    FfiError::invalid(format!(
        "could not read parameter '{id}' from the host (status {})",
        st.0
    ))
}

/// An equifx instance with every parameter at its host value at `time`.
/// Instances are cheap (the parameter values only), so each render builds
/// its own and renders never share mutable state.
pub(super) fn read(
    s: &Suites,
    node: &NodeDescriptor,
    handles: &[OfxParamHandle],
    time: OfxTime,
) -> Result<Instance, FfiError> {
    let mut inst = Instance::new(&node.id)?;
    let get = s.param.param_get_value_at_time;
    for (p, &h) in node.params.iter().zip(handles) {
        let value = match &p.kind {
            ParamKind::Float { .. } => {
                let mut v = 0.0f64;
                // SAFETY: a Double parameter's value is read through one `double*` (docs/openfx.md).
                let st = unsafe { get(h, time, &mut v as *mut f64) };
                (st == OfxStatus::OK)
                    .then_some(ParamValue::Float(v))
                    .ok_or_else(|| read_failed(&p.id, st))?
            }
            ParamKind::Int { .. } | ParamKind::Seed { .. } | ParamKind::Bool { .. } => {
                let mut v: c_int = 0;
                // SAFETY: Integer and Boolean parameters are read through one `int*`.
                let st = unsafe { get(h, time, &mut v as *mut c_int) };
                if st != OfxStatus::OK {
                    return Err(read_failed(&p.id, st));
                }
                match p.kind {
                    ParamKind::Bool { .. } => ParamValue::Bool(v != 0),
                    _ => ParamValue::Int(i64::from(v)),
                }
            }
            ParamKind::Choice { options, .. } => {
                let mut v: c_int = 0;
                // SAFETY: a Choice parameter's index is read through one `int*`.
                let st = unsafe { get(h, time, &mut v as *mut c_int) };
                if st != OfxStatus::OK {
                    return Err(read_failed(&p.id, st));
                }
                let option = usize::try_from(v).ok().and_then(|i| options.get(i));
                ParamValue::Text(
                    option
                        .ok_or_else(|| {
                            FfiError::invalid(format!(
                                "parameter '{}': the host chose option {v}, but there are {}",
                                p.id,
                                options.len()
                            ))
                        })?
                        .clone(),
                )
            }
            ParamKind::Path { .. } | ParamKind::Domain { .. } | ParamKind::Shares { .. } => {
                let mut v: *mut c_char = std::ptr::null_mut();
                // SAFETY: String and StrChoice parameters are read through one `char**`.
                let st = unsafe { get(h, time, &mut v as *mut *mut c_char) };
                if st != OfxStatus::OK {
                    return Err(read_failed(&p.id, st));
                }
                let text = if v.is_null() {
                    String::new()
                } else {
                    // SAFETY: the host returned a NUL-terminated string it owns;
                    // it is copied before any other host call.
                    unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned()
                };
                ParamValue::Text(text)
            }
        };
        inst.params_mut().set(&p.id, value)?;
    }
    Ok(inst)
}
