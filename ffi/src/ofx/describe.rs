//! `Describe` and `DescribeInContext`: what hosts learn about a node before
//! creating an instance, all derived from its manifest entry.

use std::ffi::{CStr, CString};

use equifx::manifest::NodeDescriptor;

use super::abi::*;
use super::suites::{Props, Suites};
use crate::guard::FfiError;
use crate::text::cstring;

/// The pixel depths every node accepts: the core converts all of them.
const DEPTHS: [&CStr; 4] = [
    OfxBitDepthFloat,
    OfxBitDepthHalf,
    OfxBitDepthShort,
    OfxBitDepthByte,
];

/// OFX clip name of input `i`: filter context requires the first input to be
/// called `Source`; further inputs keep their manifest names.
pub(super) fn input_clip_name(node: &NodeDescriptor, i: usize) -> CString {
    match i {
        0 => OfxImageEffectSimpleSourceClipName.to_owned(),
        _ => cstring(node.inputs.get(i).map_or("Input", |s| s.as_str())),
    }
}

/// `kOfxActionDescribe`: labels, contexts, depths and capability flags.
/// Only contexts and depths are mandatory; other properties a host does not
/// know are ignored, as real hosts reject unknown properties (docs/openfx.md).
pub(super) fn describe(
    s: &Suites,
    node: &NodeDescriptor,
    effect: OfxImageEffectHandle,
) -> Result<OfxStatus, FfiError> {
    let p = s.effect_props(effect)?;
    let label = cstring(&node.label);
    for name in [OfxPropLabel, OfxPropShortLabel, OfxPropLongLabel] {
        p.set_string(name, 0, &label);
    }
    p.set_string(OfxImageEffectPluginPropGrouping, 0, &cstring(&node.group));
    p.set_string(OfxPropPluginDescription, 0, &cstring(&node.summary));
    p.set_int(OfxPropVersion, 0, node.version[0] as i32);
    p.set_int(OfxPropVersion, 1, node.version[1] as i32);
    let version = cstring(&format!("{}.{}", node.version[0], node.version[1]));
    p.set_string(OfxPropVersionLabel, 0, &version);

    let first = if node.is_generator() {
        OfxImageEffectContextGenerator
    } else {
        OfxImageEffectContextFilter
    };
    p.require_string(OfxImageEffectPropSupportedContexts, 0, first)?;
    p.require_string(
        OfxImageEffectPropSupportedContexts,
        1,
        OfxImageEffectContextGeneral,
    )?;
    for (i, d) in DEPTHS.iter().enumerate() {
        p.require_string(OfxImageEffectPropSupportedPixelDepths, i as i32, d)?;
    }

    // Whole-frame nodes: no tiles, full resolution, one frame at a time.
    p.set_int(OfxImageEffectPropSupportsTiles, 0, 0);
    p.set_int(OfxImageEffectPropSupportsMultiResolution, 0, 0);
    p.set_int(OfxImageEffectPropTemporalClipAccess, 0, 0);
    p.set_int(OfxImageEffectPropSupportsMultipleClipDepths, 0, 0);
    p.set_int(OfxImageEffectPropSupportsMultipleClipPARs, 0, 0);
    p.set_int(OfxImageEffectPluginPropSingleInstance, 0, 0);
    // The core is stateless per render and models are shared read-only, so
    // any number of renders may run at once on any instances (tested with
    // many threads); the host need not split frames across threads for us.
    p.set_string(
        OfxImageEffectPluginRenderThreadSafety,
        0,
        OfxImageEffectRenderFullySafe,
    );
    p.set_int(OfxImageEffectPluginPropHostFrameThreading, 0, 0);
    // Only a CUDA build, and only for a host that offers it: hosts built
    // without GPU support refuse the property (docs/openfx.md), so it is never set
    // otherwise.
    if super::cuda::available(s) {
        p.set_string(OfxImageEffectPropCudaRenderSupported, 0, c"true");
        p.set_string(OfxImageEffectPropCudaStreamSupported, 0, c"false");
    }
    Ok(OfxStatus::OK)
}

fn define_clip<'s>(
    s: &'s Suites,
    effect: OfxImageEffectHandle,
    name: &CStr,
) -> Result<Props<'s>, FfiError> {
    let mut h: OfxPropertySetHandle = std::ptr::null_mut();
    // SAFETY: effect is the descriptor of this action; name is a C string; h is an out-pointer.
    let st = unsafe { (s.effect.clip_define)(effect, name.as_ptr(), &mut h) };
    if st != OfxStatus::OK || h.is_null() {
        return Err(FfiError::invalid(format!(
            "the host refused clip '{}' (status {})",
            name.to_string_lossy(),
            st.0
        )));
    }
    let p = Props::new(s, h);
    p.require_string(
        OfxImageEffectPropSupportedComponents,
        0,
        OfxImageComponentRGBA,
    )?;
    p.set_string(
        OfxImageEffectPropSupportedComponents,
        1,
        OfxImageComponentRGB,
    );
    // Per clip as well: HostSupport may ignore the descriptor's value (openfx#177).
    p.set_int(OfxImageEffectPropSupportsTiles, 0, 0);
    p.set_int(OfxImageEffectPropTemporalClipAccess, 0, 0);
    Ok(p)
}

/// `kOfxImageEffectActionDescribeInContext`: clips and parameters. Inputs
/// after the first are optional clips (usable in the filter and general
/// contexts); a render without them fails with a message naming the input.
pub(super) fn describe_in_context(
    s: &Suites,
    node: &'static NodeDescriptor,
    effect: OfxImageEffectHandle,
    _in_args: OfxPropertySetHandle,
) -> Result<OfxStatus, FfiError> {
    define_clip(s, effect, OfxImageEffectOutputClipName)?;
    for (i, input) in node.inputs.iter().enumerate() {
        let p = define_clip(s, effect, &input_clip_name(node, i))?;
        p.set_string(OfxPropLabel, 0, &cstring(input));
        p.set_int(OfxImageClipPropOptional, 0, i32::from(i > 0));
    }
    super::params::define(s, node, effect)?;
    Ok(OfxStatus::OK)
}
