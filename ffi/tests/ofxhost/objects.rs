//! Host-side objects behind the OFX handles: effects (descriptors and
//! instances), clips, images in host memory, parameter sets and parameters.

use std::cell::UnsafeCell;
use std::ffi::{c_int, CString};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;

use equifx_ffi::ofx::abi::*;
use parking_lot::Mutex;

use super::props::{s, PropSet, Value};

/// Pixel depth of a host image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Byte,
    Short,
    Half,
    Float,
}

impl Depth {
    pub fn name(self) -> &'static str {
        match self {
            Depth::Byte => "OfxBitDepthByte",
            Depth::Short => "OfxBitDepthShort",
            Depth::Half => "OfxBitDepthHalf",
            Depth::Float => "OfxBitDepthFloat",
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            Depth::Byte => 1,
            Depth::Short | Depth::Half => 2,
            Depth::Float => 4,
        }
    }
}

/// How a host lays out an image: which rows come first in memory, padding,
/// pixel depth and alpha convention.
#[derive(Debug, Clone, Copy)]
pub struct ImageSpec {
    pub bounds: OfxRectI,
    pub depth: Depth,
    /// MLT's default: top row first in memory, `data` at the bottom row, rowBytes < 0.
    pub negative_row_bytes: bool,
    /// Extra bytes at the end of each row.
    pub pad: usize,
    pub premultiplied: bool,
}

impl ImageSpec {
    pub fn width(&self) -> usize {
        (self.bounds.x2 - self.bounds.x1) as usize
    }
    pub fn height(&self) -> usize {
        (self.bounds.y2 - self.bounds.y1) as usize
    }
    pub fn bpp(&self) -> usize {
        4 * self.depth.bytes()
    }
    pub fn stride(&self) -> usize {
        self.width() * self.bpp() + self.pad
    }
    pub fn len(&self) -> usize {
        (self.height() - 1) * self.stride() + self.width() * self.bpp()
    }
}

/// Pixel memory the host owns and lends to the plugin through a raw pointer.
pub struct HostBuffer {
    pub spec: ImageSpec,
    mem: UnsafeCell<Vec<u8>>,
}

// SAFETY: the plugin writes through the raw pointer only during a render, and
// the tests read the bytes only after the render returned; outputs are never
// shared between concurrent renders.
unsafe impl Sync for HostBuffer {}
// SAFETY: as above.
unsafe impl Send for HostBuffer {}

impl HostBuffer {
    pub fn new(spec: ImageSpec, bytes: Vec<u8>) -> Arc<HostBuffer> {
        assert_eq!(bytes.len(), spec.len());
        Arc::new(HostBuffer {
            spec,
            mem: UnsafeCell::new(bytes),
        })
    }

    fn base(&self) -> *mut u8 {
        // SAFETY: only the pointer is taken; no reference outlives this call.
        unsafe { (*self.mem.get()).as_mut_ptr() }
    }

    /// `OfxImagePropData`: the address of pixel (x1, y1), the bottom-left one.
    pub fn data(&self) -> *mut u8 {
        if self.spec.negative_row_bytes {
            // Top row first: the bottom row is the last one in memory.
            self.base()
                .wrapping_add((self.spec.height() - 1) * self.spec.stride())
        } else {
            self.base()
        }
    }

    pub fn row_bytes(&self) -> c_int {
        let s = self.spec.stride() as c_int;
        if self.spec.negative_row_bytes {
            -s
        } else {
            s
        }
    }

    /// A copy of the memory, lowest address first.
    pub fn bytes(&self) -> Vec<u8> {
        // SAFETY: called after renders finished; no one writes concurrently.
        unsafe { (*self.mem.get()).clone() }
    }
}

/// One typed parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum PV {
    D(f64),
    I(c_int),
    S(CString),
}

pub struct Param {
    pub name: String,
    pub kind: String,
    pub props: Box<PropSet>,
    /// Keyframes (time, value), sorted; the value at t is the last key at or before t.
    keys: Mutex<Vec<(f64, PV)>>,
}

impl Param {
    pub fn handle(&self) -> OfxParamHandle {
        self as *const Param as OfxParamHandle
    }

    /// (shape, components) for the variadic shim: 0 double, 1 int, 2 string.
    pub fn shape(&self) -> (c_int, c_int) {
        match self.kind.as_str() {
            "OfxParamTypeDouble" => (0, 1),
            "OfxParamTypeInteger" | "OfxParamTypeBoolean" | "OfxParamTypeChoice" => (1, 1),
            "OfxParamTypeString" | "OfxParamTypeStrChoice" => (2, 1),
            _ => (0, 0),
        }
    }

    fn default_value(&self) -> PV {
        match self.shape().0 {
            0 => PV::D(self.props.double("OfxParamPropDefault", 0).unwrap_or(0.0)),
            1 => PV::I(self.props.int("OfxParamPropDefault", 0).unwrap_or(0)),
            _ => PV::S(
                CString::new(
                    self.props
                        .string("OfxParamPropDefault", 0)
                        .unwrap_or_default(),
                )
                .unwrap(),
            ),
        }
    }

    pub fn value_at(&self, t: f64) -> PV {
        let keys = self.keys.lock();
        keys.iter()
            .rev()
            .find(|(k, _)| *k <= t)
            .or(keys.first())
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| self.default_value())
    }

    /// Runs `f` with the stored value at `t` (so string pointers stay valid while stored).
    pub fn with_value_at<R>(&self, t: f64, f: impl FnOnce(&PV) -> R) -> R {
        let keys = self.keys.lock();
        match keys.iter().rev().find(|(k, _)| *k <= t).or(keys.first()) {
            Some((_, v)) => f(v),
            None => {
                drop(keys);
                let d = self.default_value();
                self.set_key(f64::NEG_INFINITY, d);
                self.with_value_at(t, f)
            }
        }
    }

    /// Sets a constant value (no time) or a keyframe.
    pub fn set_key(&self, t: f64, v: PV) {
        let mut keys = self.keys.lock();
        keys.retain(|(k, _)| *k != t);
        keys.push((t, v));
        keys.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    pub fn clear(&self) {
        self.keys.lock().clear();
    }
}

pub struct ParamSet {
    pub props: Box<PropSet>,
    // Boxed: handles are addresses and must survive the Vec growing.
    #[allow(clippy::vec_box)]
    pub params: Mutex<Vec<Box<Param>>>,
    /// Closed parameter property sets refuse unknown properties.
    strict: bool,
}

/// Parameter properties a strict host knows; it leaves out some optional
/// ones on purpose (hint, display range, file-must-exist) to exercise the quirk.
const STRICT_PARAM_PROPS: &[&str] = &[
    "OfxPropLabel",
    "OfxParamPropScriptName",
    "OfxParamPropDefault",
    "OfxParamPropAnimates",
    "OfxParamPropMin",
    "OfxParamPropMax",
    "OfxParamPropDoubleType",
    "OfxParamPropChoiceOption",
    "OfxParamPropChoiceEnum",
    "OfxParamPropStringMode",
];

impl ParamSet {
    fn new(strict: bool) -> ParamSet {
        ParamSet {
            props: PropSet::new(false, Vec::<(String, Value)>::new()),
            params: Mutex::new(vec![]),
            strict,
        }
    }

    pub fn handle(&self) -> OfxParamSetHandle {
        self as *const ParamSet as OfxParamSetHandle
    }

    /// Defines a parameter; `None` if the name exists.
    pub fn define(&self, kind: &str, name: &str) -> Option<OfxPropertySetHandle> {
        let mut params = self.params.lock();
        if params.iter().any(|p| p.name == name) {
            return None;
        }
        let initial = if self.strict {
            STRICT_PARAM_PROPS
                .iter()
                .map(|n| {
                    let v = match *n {
                        "OfxParamPropAnimates" => Value::Int(vec![1]),
                        "OfxParamPropChoiceOption" | "OfxParamPropChoiceEnum" => Value::Str(vec![]),
                        "OfxParamPropDefault" | "OfxParamPropMin" | "OfxParamPropMax" => match kind
                        {
                            "OfxParamTypeDouble" => Value::Dbl(vec![0.0]),
                            "OfxParamTypeString" | "OfxParamTypeStrChoice" => s(""),
                            _ => Value::Int(vec![0]),
                        },
                        _ => s(""),
                    };
                    (*n, v)
                })
                .collect()
        } else {
            vec![]
        };
        // The host's own record of the type, as real hosts keep it (read-only).
        let mut initial = initial;
        initial.push(("OfxParamPropType", s(kind)));
        let p = Box::new(Param {
            name: name.to_string(),
            kind: kind.to_string(),
            props: PropSet::new(self.strict, initial),
            keys: Mutex::new(vec![]),
        });
        let h = p.props.handle();
        params.push(p);
        Some(h)
    }

    pub fn find(&self, name: &str) -> Option<OfxParamHandle> {
        self.params
            .lock()
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.handle())
    }

    /// Copy for a new instance: same definitions, values at their defaults.
    fn instantiate(&self) -> ParamSet {
        let params = self
            .params
            .lock()
            .iter()
            .map(|p| {
                Box::new(Param {
                    name: p.name.clone(),
                    kind: p.kind.clone(),
                    props: PropSet::new(false, p.props.snapshot()),
                    keys: Mutex::new(vec![]),
                })
            })
            .collect();
        ParamSet {
            props: PropSet::new(false, Vec::<(String, Value)>::new()),
            params: Mutex::new(params),
            strict: self.strict,
        }
    }
}

pub struct Clip {
    pub name: String,
    /// Address of the effect this clip belongs to (effects are boxed, so it is stable).
    pub owner: usize,
    pub props: Box<PropSet>,
    /// Images by frame (rounded time); `None` is the image for any other time.
    pub images: Mutex<std::collections::HashMap<Option<i64>, Arc<HostBuffer>>>,
}

impl Clip {
    pub fn handle(&self) -> OfxImageClipHandle {
        self as *const Clip as OfxImageClipHandle
    }

    pub fn image_at(&self, t: f64) -> Option<Arc<HostBuffer>> {
        let images = self.images.lock();
        images
            .get(&Some(t.round() as i64))
            .or(images.get(&None))
            .cloned()
    }
}

/// A message the plugin sent.
#[derive(Debug, Clone)]
pub struct Message {
    pub kind: String,
    pub text: String,
    pub persistent: bool,
}

/// An effect: a descriptor (in Describe/DescribeInContext) or an instance.
pub struct Effect {
    pub props: Box<PropSet>,
    pub params: ParamSet,
    // Boxed: handles are addresses and must survive the Vec growing.
    #[allow(clippy::vec_box)]
    pub clips: Mutex<Vec<Box<Clip>>>,
    strict: bool,
    /// `abort()` returns 1 from call number `abort_after` (0-based) on; -1 = never.
    pub abort_after: AtomicI64,
    pub abort_calls: AtomicUsize,
    pub messages: Mutex<Vec<Message>>,
    pub persistent: Mutex<Option<String>>,
    pub progress: Mutex<Vec<f64>>,
    pub progress_open: AtomicIsize,
    pub cancel_progress: AtomicBool,
    /// Images fetched and not yet released.
    pub images_out: AtomicIsize,
}

/// Effect descriptor properties a strict host knows. It leaves out some the
/// plugin sets (description, long label, version label) to exercise the
/// "unknown property" quirk.
const STRICT_EFFECT_PROPS: &[&str] = &[
    "OfxPropLabel",
    "OfxPropShortLabel",
    "OfxImageEffectPluginPropGrouping",
    "OfxImageEffectPropSupportedContexts",
    "OfxImageEffectPropSupportedPixelDepths",
    "OfxImageEffectPropSupportsTiles",
    "OfxImageEffectPropSupportsMultiResolution",
    "OfxImageEffectPropTemporalClipAccess",
    "OfxImageEffectPropMultipleClipDepths",
    "OfxImageEffectPropSupportsMultipleClipPARs",
    "OfxImageEffectPluginRenderThreadSafety",
    "OfxImageEffectPluginPropHostFrameThreading",
    "OfxImageEffectPluginPropSingleInstance",
    "OfxImageEffectPropContext",
    "OfxPropInstanceData",
];

const STRICT_CLIP_PROPS: &[&str] = &[
    "OfxPropLabel",
    "OfxImageEffectPropSupportedComponents",
    "OfxImageEffectPropSupportsTiles",
    "OfxImageEffectPropTemporalClipAccess",
    "OfxImageClipPropOptional",
];

fn schema(names: &[&'static str]) -> Vec<(&'static str, Value)> {
    names
        .iter()
        .map(|n| {
            let v = match *n {
                "OfxPropInstanceData" => Value::Ptr(vec![0]),
                "OfxPropLabel" | "OfxPropShortLabel" | "OfxImageEffectPluginPropGrouping" => s(""),
                "OfxImageEffectPluginRenderThreadSafety" => s("OfxImageEffectRenderInstanceSafe"),
                "OfxImageEffectPropContext" => s(""),
                n if n.starts_with("OfxImageEffectPropSupported") => Value::Str(vec![]),
                _ => Value::Int(vec![0]),
            };
            (*n, v)
        })
        .collect()
}

impl Effect {
    pub fn new(strict: bool) -> Box<Effect> {
        Box::new(Effect {
            props: PropSet::new(
                strict,
                if strict {
                    schema(STRICT_EFFECT_PROPS)
                } else {
                    vec![]
                },
            ),
            params: ParamSet::new(strict),
            clips: Mutex::new(vec![]),
            strict,
            abort_after: AtomicI64::new(-1),
            abort_calls: AtomicUsize::new(0),
            messages: Mutex::new(vec![]),
            persistent: Mutex::new(None),
            progress: Mutex::new(vec![]),
            progress_open: AtomicIsize::new(0),
            cancel_progress: AtomicBool::new(false),
            images_out: AtomicIsize::new(0),
        })
    }

    pub fn handle(&self) -> OfxImageEffectHandle {
        self as *const Effect as OfxImageEffectHandle
    }

    pub fn define_clip(&self, name: &str) -> OfxPropertySetHandle {
        let mut clips = self.clips.lock();
        if let Some(c) = clips.iter().find(|c| c.name == name) {
            return c.props.handle();
        }
        let initial = if self.strict {
            schema(STRICT_CLIP_PROPS)
        } else {
            vec![]
        };
        let c = Box::new(Clip {
            name: name.to_string(),
            owner: self as *const Effect as usize,
            props: PropSet::new(self.strict, initial),
            images: Mutex::new(Default::default()),
        });
        let h = c.props.handle();
        clips.push(c);
        h
    }

    pub fn clip(&self, name: &str) -> Option<OfxImageClipHandle> {
        self.clips
            .lock()
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.handle())
    }

    /// Sets the image of a clip for every time (`None`: disconnect it).
    pub fn set_image(&self, clip: &str, image: Option<Arc<HostBuffer>>) {
        let clips = self.clips.lock();
        let c = clips.iter().find(|c| c.name == clip).expect("clip defined");
        let mut images = c.images.lock();
        images.clear();
        if let Some(i) = image {
            images.insert(None, i);
        }
    }

    /// Sets the image of a clip at one frame, so renders of different frames
    /// on one instance can run at once.
    pub fn set_image_at(&self, clip: &str, t: f64, image: Arc<HostBuffer>) {
        let clips = self.clips.lock();
        let c = clips.iter().find(|c| c.name == clip).expect("clip defined");
        c.images.lock().insert(Some(t.round() as i64), image);
    }

    /// A new instance of this in-context descriptor: clips and parameters
    /// copied, parameters at their defaults.
    pub fn instantiate(&self, context: &str) -> Box<Effect> {
        let e = Effect::new(self.strict);
        for (k, v) in self.props.snapshot() {
            e.props.put(&k, v);
        }
        e.props.put("OfxImageEffectPropContext", s(context));
        e.props.put("OfxPropInstanceData", Value::Ptr(vec![0]));
        for c in self.clips.lock().iter() {
            e.define_clip(&c.name);
            let clips = e.clips.lock();
            let new = clips.iter().find(|n| n.name == c.name).unwrap();
            for (k, v) in c.props.snapshot() {
                new.props.put(&k, v);
            }
        }
        let mut e = e;
        e.params = self.params.instantiate();
        e
    }

    pub fn param(&self, name: &str) -> &Param {
        let h = self.params.find(name).expect("parameter defined");
        // SAFETY: handles point at boxed params owned by this effect.
        unsafe { &*(h as *const Param) }
    }

    pub fn last_persistent(&self) -> Option<String> {
        self.persistent.lock().clone()
    }

    pub fn aborting(&self) -> bool {
        let n = self.abort_calls.fetch_add(1, Ordering::SeqCst) as i64;
        let after = self.abort_after.load(Ordering::SeqCst);
        after >= 0 && n >= after
    }
}
