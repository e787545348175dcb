//! Instances and the small per-instance actions. An OFX instance holds only
//! its node and parameter handles: no model, no buffers. Hosts like MLT
//! create and destroy an instance for every frame, and models are cached
//! process-wide by the core, so this stays cheap.

use equifx::manifest::NodeDescriptor;
use equifx::Instance;

use super::abi::*;
use super::describe::input_clip_name;
use super::menus::DomainMenus;
use super::params;
use super::suites::{Props, Suites};
use crate::guard::FfiError;

/// What the plugin keeps per OFX instance (in `OfxPropInstanceData`).
pub(super) struct EffectData {
    pub node: &'static NodeDescriptor,
    pub params: Vec<OfxParamHandle>,
    /// The domain parameters' menus, which follow the `model` bundle.
    pub menus: DomainMenus,
}

impl EffectData {
    /// A core instance with the host's parameter values at `time`.
    pub fn instance_at(&self, s: &Suites, time: OfxTime) -> Result<Instance, FfiError> {
        params::read(s, self.node, &self.params, time)
    }
}

/// `kOfxActionCreateInstance`: the parameter handles, and domain menus that
/// list the bundle the instance's `model` names (a project may name one).
/// No parameter value is set here: OpenFX allows that in InstanceChanged only.
pub(super) fn create(
    s: &Suites,
    node: &'static NodeDescriptor,
    effect: OfxImageEffectHandle,
) -> Result<OfxStatus, FfiError> {
    let params = params::handles(s, node, effect)?;
    let menus = DomainMenus::find(s, node, effect, &params)?;
    menus.rebuild(s, false);
    let data = Box::new(EffectData {
        node,
        params,
        menus,
    });
    let ptr = Box::into_raw(data);
    let st = s
        .effect_props(effect)?
        .set_pointer(OfxPropInstanceData, ptr.cast());
    if st != OfxStatus::OK {
        // SAFETY: ptr came from Box::into_raw above and was not handed out.
        drop(unsafe { Box::from_raw(ptr) });
        return Err(FfiError::invalid(format!(
            "the host refused the instance data pointer (status {})",
            st.0
        )));
    }
    Ok(OfxStatus::OK)
}

/// `kOfxActionDestroyInstance`.
pub(super) fn destroy(s: &Suites, effect: OfxImageEffectHandle) -> Result<OfxStatus, FfiError> {
    let props = s.effect_props(effect)?;
    let ptr = props.get_pointer(OfxPropInstanceData)? as *mut EffectData;
    if !ptr.is_null() {
        props.set_pointer(OfxPropInstanceData, std::ptr::null_mut());
        // SAFETY: the pointer was stored by `create` (Box::into_raw) and the host
        // destroys an instance once, after its last action has returned.
        drop(unsafe { Box::from_raw(ptr) });
    }
    Ok(OfxStatus::OK)
}

/// The data `create` stored on `effect`.
pub(super) fn data<'a>(
    s: &Suites,
    effect: OfxImageEffectHandle,
) -> Result<&'a EffectData, FfiError> {
    let ptr = s.effect_props(effect)?.get_pointer(OfxPropInstanceData)? as *const EffectData;
    // SAFETY: non-null values were stored by `create` and live until `destroy`,
    // which the host never runs concurrently with other actions on the instance.
    unsafe { ptr.as_ref() }.ok_or_else(|| {
        FfiError::invalid("the host sent an instance action before kOfxActionCreateInstance")
    })
}

/// `kOfxImageEffectActionIsIdentity`: e.g. Exposure at 0 stops passes
/// `Source` through and the host skips the render.
pub(super) fn is_identity(
    s: &Suites,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> Result<OfxStatus, FfiError> {
    let d = data(s, effect)?;
    let time = Props::new(s, in_args).get_double(OfxPropTime, 0)?;
    if d.node.is_generator() || !d.instance_at(s, time)?.is_identity() {
        return Ok(OfxStatus::REPLY_DEFAULT);
    }
    let out = Props::new(s, out_args);
    out.require_string(OfxPropName, 0, OfxImageEffectSimpleSourceClipName)?;
    out.set_double(OfxPropTime, 0, time);
    Ok(OfxStatus::OK)
}

/// `kOfxImageEffectActionGetRegionsOfInterest`: equifx nodes look at the
/// whole frame (global statistics, whole-image models), so every input is
/// asked for in full, whatever the render window. The host default (RoI =
/// render window) would hand us a crop.
pub(super) fn regions_of_interest(
    s: &Suites,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> Result<OfxStatus, FfiError> {
    let d = data(s, effect)?;
    let time = Props::new(s, in_args).get_double(OfxPropTime, 0)?;
    let out = Props::new(s, out_args);
    for i in 0..d.node.inputs.len() {
        let name = input_clip_name(d.node, i);
        let Ok(clip) = s.clip(effect, &name) else {
            continue;
        };
        let mut rod = OfxRectD::default();
        // SAFETY: clip came from the host; rod is a valid out-pointer.
        let st = unsafe { (s.effect.clip_get_region_of_definition)(clip, time, &mut rod) };
        if st == OfxStatus::OK {
            let prop = crate::text::cstring(&format!("{ROI_PREFIX}{}", name.to_string_lossy()));
            out.set_double_n(&prop, &[rod.x1, rod.y1, rod.x2, rod.y2]);
        }
    }
    Ok(OfxStatus::OK)
}

/// `kOfxImageEffectActionGetClipPreferences`: generators draw a new picture
/// for every frame (seeded by the frame number), so hosts must not cache one
/// frame for the whole clip. Everything else keeps the host's defaults.
pub(super) fn clip_preferences(
    s: &Suites,
    effect: OfxImageEffectHandle,
    out_args: OfxPropertySetHandle,
) -> Result<OfxStatus, FfiError> {
    if !data(s, effect)?.node.is_generator() {
        return Ok(OfxStatus::REPLY_DEFAULT);
    }
    Props::new(s, out_args).set_int(OfxImageEffectFrameVarying, 0, 1);
    Ok(OfxStatus::OK)
}
