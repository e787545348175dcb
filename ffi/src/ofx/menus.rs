//! Domain menus: parameters of manifest kind `domain`, whose values are the
//! domain names of the model bundle the artist picks in `model`. Hosts
//! describe parameters before any bundle is chosen, so a menu is built from
//! the shipped bundle at describe time and rebuilt on each instance from the
//! bundle its `model` names: at `CreateInstance` and whenever `model`
//! changes (`InstanceChanged`). Only the bundle's manifest is read, never
//! its weights.
//!
//! Two presentations, both keeping the *name* as the value projects store:
//! - OpenFX 1.5 StrChoice, where the host says
//!   `OfxParamHostPropSupportsStrChoice = 1`: the parameter is the menu;
//!   `OfxParamPropChoiceEnum` holds the names, `OfxParamPropChoiceOption`
//!   the labels.
//! - Elsewhere the single-line String stays (MLT and Kdenlive type or set
//!   it) and a companion Choice `<id>_menu` lists the names. The companion
//!   is not saved (`OfxParamPropPersistant = 0`, so no project holds an
//!   index), does not trigger renders, and exists in OpenFX only: a pick
//!   writes the name into the String, and a typed name that the menu lists
//!   moves the menu to it. Renders read the String alone.
//!
//! Menus are a convenience: a bundle that cannot be read leaves a menu as it
//! was (logged through `tracing`), and a name the bundle lacks still fails
//! the render with the bundle's names, as on every host.

use std::ffi::{c_int, CStr};
use std::sync::atomic::{AtomicBool, Ordering};

use equifx::manifest::NodeDescriptor;
use equifx::model::Bundle;
use equifx::nodes::model_params::bundle_path;
use equifx::params::{ParamDescriptor, ParamKind, ParamValue};
use parking_lot::Mutex;

use super::abi::*;
use super::instance::data;
use super::params::define_one;
use super::suites::{Props, Suites};
use crate::guard::FfiError;
use crate::text::cstring;

/// Suffix of a companion menu's name: `target` → `target_menu`.
pub(super) const MENU_SUFFIX: &str = "_menu";
/// The parameter naming the bundle the menus follow.
const MODEL: &str = "model";
/// The extra value of a domain parameter declared with `auto = true`.
const AUTO: &str = "auto";

/// The domain names of the bundle a `model` value names (empty: the shipped
/// bundle), from its manifest alone.
fn bundle_domains(node: &'static NodeDescriptor, model: &str) -> equifx::Result<Vec<String>> {
    let mut params = node.default_values();
    params.set(MODEL, ParamValue::Text(model.to_string()))?;
    let dir = bundle_path(&params)?;
    Ok(Bundle::read_manifest(&dir)?.domains)
}

/// The values a domain parameter offers: `auto` first where its kind allows it.
fn values(domains: &[String], auto: bool) -> Vec<String> {
    auto.then(|| AUTO.to_string())
        .into_iter()
        .chain(domains.iter().filter(|d| *d != AUTO).cloned())
        .collect()
}

/// Whether `node` has a parameter of kind domain.
pub(super) fn has_domains(node: &NodeDescriptor) -> bool {
    node.params
        .iter()
        .any(|p| matches!(p.kind, ParamKind::Domain { .. }))
}

/// The shipped bundle's domains; none when it cannot be read (logged once
/// per process: machines that use only their studio's bundle may lack it,
/// and MLT describes every node again for every frame).
pub(super) fn shipped_domains(node: &'static NodeDescriptor) -> Vec<String> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    bundle_domains(node, "").unwrap_or_else(|e| {
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                node = %node.id,
                "domain menus: cannot read the shipped model bundle: {e}"
            );
        }
        vec![]
    })
}

/// What a domain parameter lists before an instance exists: the shipped
/// bundle's domains (and `auto`); at least its default when that bundle
/// cannot be read.
pub(super) fn describe_names(shipped: &[String], default: &str, auto: bool) -> Vec<String> {
    let mut names = values(shipped, auto);
    if !names.iter().any(|n| n == default) {
        names.push(default.to_string());
    }
    names
}

/// Sets a choice's options to `names`: the labels (`OfxParamPropChoiceOption`)
/// and, for a StrChoice, the values (`OfxParamPropChoiceEnum`). On an
/// instance (`replace`) each list is reset first, so a shorter list leaves no
/// stale entries behind. Hosts may refuse any of it; returns whether the
/// host took every part.
pub(super) fn set_options(props: &Props, names: &[String], with_enum: bool, replace: bool) -> bool {
    let lists: &[&CStr] = if with_enum {
        &[OfxParamPropChoiceOption, OfxParamPropChoiceEnum]
    } else {
        &[OfxParamPropChoiceOption]
    };
    let mut ok = true;
    for &list in lists {
        if replace {
            // Whether the host did it shows in the dimension below.
            props.reset(list);
        }
        for (i, n) in names.iter().enumerate() {
            ok &= props.set_string(list, i as c_int, &cstring(n)) == OfxStatus::OK;
        }
        if replace {
            if let Ok(d) = props.dimension(list) {
                if usize::try_from(d).is_ok_and(|d| d > names.len()) {
                    tracing::warn!(
                        list = %list.to_string_lossy(),
                        "the host kept {d} options where {} were set: \
                         it neither reset nor shortened the list",
                        names.len()
                    );
                    ok = false;
                }
            }
        }
    }
    ok
}

/// Defines the companion menu of domain parameter `p` on a host without
/// StrChoice, right after `p` so hosts show it beside it. A host refusing it
/// is not an error: the name can still be typed.
pub(super) fn define_companion(
    s: &Suites,
    set: OfxParamSetHandle,
    p: &ParamDescriptor,
    names: &[String],
    default: &str,
) {
    let name = cstring(&format!("{}{MENU_SUFFIX}", p.id));
    let h = match define_one(s, set, OfxParamTypeChoice, &name) {
        Ok(h) => h,
        Err(st) => {
            tracing::warn!(
                param = %p.id,
                status = st.0,
                "the host refused the domain menu; the name is typed"
            );
            return;
        }
    };
    let props = Props::new(s, h);
    props.set_string(
        OfxPropLabel,
        0,
        &cstring(&format!("{} (from bundle)", p.label)),
    );
    props.set_string(
        OfxParamPropHint,
        0,
        &cstring(&format!(
            "The domains of the model bundle: picking one writes its name into {}, \
             which the project keeps (this menu is not saved).",
            p.label
        )),
    );
    props.set_string(OfxParamPropScriptName, 0, &name);
    set_options(&props, names, false, false);
    let d = names.iter().position(|n| n == default).unwrap_or(0);
    props.set_int(OfxParamPropDefault, 0, d as c_int);
    // Projects keep the name in the String, never an index into a list that
    // changes with the bundle; a pick changes the String, which re-renders.
    props.set_int(OfxParamPropPersistant, 0, 0);
    props.set_int(OfxParamPropEvaluateOnChange, 0, 0);
    props.set_int(OfxParamPropAnimates, 0, 0);
}

/// How an instance shows one domain parameter's names.
enum Shown {
    /// The parameter is a StrChoice: its own options are the menu.
    StrChoice,
    /// A companion Choice lists the names.
    Companion { menu: OfxParamHandle, name: String },
    /// Neither (the host refused the menu): the name is typed.
    Text,
}

/// One domain parameter of an instance.
struct DomainMenu {
    id: String,
    auto: bool,
    param: OfxParamHandle,
    shown: Shown,
    /// The names the menu lists now, in option order (menu index = position).
    listed: Mutex<Vec<String>>,
}

/// The domain parameters of an instance and the `model` they follow.
pub(super) struct DomainMenus {
    node: &'static NodeDescriptor,
    model: Option<OfxParamHandle>,
    menus: Vec<DomainMenu>,
}

fn is_str_choice(s: &Suites, param: OfxParamHandle) -> bool {
    s.param_props(param)
        .and_then(|p| p.get_string(OfxParamPropType, 0))
        .map_or(s.host_supports_str_choice, |t| {
            t.as_bytes() == OfxParamTypeStrChoice.to_bytes()
        })
}

impl DomainMenus {
    /// Finds the domain parameters of instance `effect` (`handles` in
    /// manifest order) and how the host shows each.
    pub(super) fn find(
        s: &Suites,
        node: &'static NodeDescriptor,
        effect: OfxImageEffectHandle,
        handles: &[OfxParamHandle],
    ) -> Result<DomainMenus, FfiError> {
        let mut model = None;
        let mut menus = Vec::new();
        if !has_domains(node) {
            return Ok(DomainMenus { node, model, menus });
        }
        let set = s.param_set(effect)?;
        let shipped = shipped_domains(node);
        for (p, &h) in node.params.iter().zip(handles) {
            if p.id == MODEL {
                model = Some(h);
            }
            let ParamKind::Domain { auto, default } = &p.kind else {
                continue;
            };
            let menu_name = format!("{}{MENU_SUFFIX}", p.id);
            let shown = match s.param_handle(set, &cstring(&menu_name)) {
                Ok(menu) => Shown::Companion {
                    menu,
                    name: menu_name,
                },
                Err(_) if is_str_choice(s, h) => Shown::StrChoice,
                Err(_) => Shown::Text,
            };
            menus.push(DomainMenu {
                id: p.id.clone(),
                auto: *auto,
                param: h,
                shown,
                // What the descriptor listed, and so what the instance starts with.
                listed: Mutex::new(describe_names(&shipped, default, *auto)),
            });
        }
        Ok(DomainMenus { node, model, menus })
    }

    /// Lists the domains of the bundle `model` names now. A bundle that
    /// cannot be read leaves every menu as it was. With `follow`, companion
    /// menus then move to the name their String holds; that sets a value,
    /// which OpenFX allows in InstanceChanged only (ofxParam.h
    /// paramSetValue), so not at CreateInstance.
    pub(super) fn rebuild(&self, s: &Suites, follow: bool) {
        let Some(model) = self.model.filter(|_| !self.menus.is_empty()) else {
            return;
        };
        let text = match s.param_text(model) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(
                    node = %self.node.id,
                    "domain menus left as they were: {}",
                    e.message
                );
                return;
            }
        };
        let domains = match bundle_domains(self.node, &text) {
            Ok(d) if !d.is_empty() => d,
            Ok(_) => {
                tracing::warn!(
                    node = %self.node.id,
                    model = %text,
                    "domain menus left as they were: the bundle lists no domains"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(
                    node = %self.node.id,
                    model = %text,
                    "domain menus left as they were: {e}"
                );
                return;
            }
        };
        for m in &self.menus {
            m.list(s, &values(&domains, m.auto));
            if follow {
                m.follow_text(s);
            }
        }
    }
}

impl DomainMenu {
    /// Shows `names`, unless the menu lists them already (hosts redraw on
    /// every change, and MLT creates an instance per frame).
    fn list(&self, s: &Suites, names: &[String]) {
        let (target, with_enum) = match &self.shown {
            Shown::StrChoice => (self.param, true),
            Shown::Companion { menu, .. } => (*menu, false),
            Shown::Text => return,
        };
        if *self.listed.lock() != names {
            match s.param_props(target) {
                Ok(props) => {
                    if !set_options(&props, names, with_enum, true) {
                        tracing::warn!(
                            param = %self.id,
                            "the host did not take every domain option"
                        );
                    }
                    *self.listed.lock() = names.to_vec();
                }
                Err(e) => {
                    tracing::warn!(param = %self.id, "domain menu left as it was: {}", e.message);
                }
            }
        }
    }

    /// Moves the companion menu to the name the String holds, when it lists it.
    fn follow_text(&self, s: &Suites) {
        let Shown::Companion { menu, .. } = &self.shown else {
            return;
        };
        let text = match s.param_text(self.param) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(param = %self.id, "{}", e.message);
                return;
            }
        };
        let Some(k) = self.listed.lock().iter().position(|n| *n == text) else {
            return;
        };
        let k = k as c_int;
        // Only on a change: hosts answer a set value with InstanceChanged,
        // and the pick that follows must find nothing to do.
        if s.param_index(*menu).ok() != Some(k) {
            let st = s.set_param_index(*menu, k);
            if st != OfxStatus::OK {
                tracing::warn!(
                    param = %self.id,
                    status = st.0,
                    "the host refused to move the domain menu"
                );
            }
        }
    }

    /// Writes the name picked in the companion menu into the String.
    fn take_pick(&self, s: &Suites) -> Result<(), FfiError> {
        let Shown::Companion { menu, .. } = &self.shown else {
            return Ok(());
        };
        let k = s.param_index(*menu)?;
        let picked = usize::try_from(k)
            .ok()
            .and_then(|k| self.listed.lock().get(k).cloned());
        let Some(name) = picked else {
            tracing::warn!(
                param = %self.id,
                "the domain menu is at option {k}, which it does not list"
            );
            return Ok(());
        };
        if s.param_text(self.param)? == name {
            return Ok(());
        }
        match s.set_param_text(self.param, &cstring(&name)) {
            OfxStatus::OK => Ok(()),
            st => Err(FfiError::invalid(format!(
                "could not write the picked domain '{name}' into '{}' (status {})",
                self.id, st.0
            ))),
        }
    }
}

/// `kOfxActionInstanceChanged`: a new `model` rebuilds the menus, a pick in
/// a companion menu writes its name, a typed name moves its companion.
/// Anything else is left to the host.
pub(super) fn instance_changed(
    s: &Suites,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
) -> Result<OfxStatus, FfiError> {
    let args = Props::new(s, in_args);
    let is_param = args
        .get_string(OfxPropType, 0)
        .is_ok_and(|t| t.as_bytes() == OfxTypeParameter.to_bytes());
    let Some(name) = args.get_string(OfxPropName, 0).ok().filter(|_| is_param) else {
        return Ok(OfxStatus::REPLY_DEFAULT);
    };
    let menus = &data(s, effect)?.menus;
    if menus.menus.is_empty() {
        return Ok(OfxStatus::REPLY_DEFAULT);
    }
    if name == MODEL {
        menus.rebuild(s, true);
        return Ok(OfxStatus::OK);
    }
    for m in &menus.menus {
        if name == m.id {
            m.follow_text(s);
            return Ok(OfxStatus::OK);
        }
        if matches!(&m.shown, Shown::Companion { name: n, .. } if *n == name) {
            m.take_pick(s)?;
            return Ok(OfxStatus::OK);
        }
    }
    Ok(OfxStatus::REPLY_DEFAULT)
}
