//! A test OpenFX host, written from the OpenFX specification:
//! it assembles the real bundle with `equifx::ofx_bundle`, dlopens
//! `equifx.ofx.bundle/Contents/<arch>/equifx.ofx` and drives it through the
//! property, image effect, parameter, message, progress, multithread and
//! memory suites, with the quirks real hosts have (see `ofx_host.rs`).
#![allow(dead_code)]

pub mod objects;
pub mod props;
pub mod suites;

use std::ffi::{c_void, CStr, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

use equifx_ffi::ofx::abi::*;
use parking_lot::{Mutex, MutexGuard};

pub use objects::{Depth, Effect, HostBuffer, ImageSpec, PV};
use props::{s, PropSet, Value};

/// The bundle, assembled once per test process from the freshly built library.
pub fn bundle_binary() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        // One fixed folder under target/tmp, replaced on every run (a per-process
        // folder in /tmp leaked a 250 MB bundle per test run).
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ofx-host-bundle");
        let _ = std::fs::remove_dir_all(&dir);
        let bundle =
            equifx::ofx_bundle::assemble(crate::common::cdylib_path(), None, &dir).unwrap();
        bundle
            .join("Contents")
            .join(equifx::ofx_bundle::architecture_dir().unwrap())
            .join("equifx.ofx")
    })
}

/// The loaded bundle and its plugins (kept loaded for the whole process).
pub struct Plugins {
    _lib: libloading::Library,
    pub list: Vec<&'static OfxPlugin>,
}

// SAFETY: the plugin structs are immutable statics inside the loaded library.
unsafe impl Sync for Plugins {}
// SAFETY: as above.
unsafe impl Send for Plugins {}

pub fn plugins() -> &'static Plugins {
    static PLUGINS: OnceLock<Plugins> = OnceLock::new();
    PLUGINS.get_or_init(|| {
        // SAFETY: loading our own bundle binary.
        let lib = unsafe { libloading::Library::new(bundle_binary()) }.expect("dlopen equifx.ofx");
        // SAFETY: the OFX entry points have these signatures (ofxCore.h:638, 646).
        let (count, get) = unsafe {
            (
                *lib.get::<extern "C" fn() -> i32>(b"OfxGetNumberOfPlugins")
                    .unwrap(),
                *lib.get::<extern "C" fn(i32) -> *mut OfxPlugin>(b"OfxGetPlugin")
                    .unwrap(),
            )
        };
        let list = (0..count())
            .map(|i| {
                let p = get(i);
                assert!(!p.is_null());
                // SAFETY: a static inside the library, which stays loaded.
                unsafe { &*p }
            })
            .collect();
        Plugins { _lib: lib, list }
    })
}

pub fn plugin_id(p: &OfxPlugin) -> String {
    // SAFETY: plugin identifiers are static C strings.
    unsafe { CStr::from_ptr(p.plugin_identifier) }
        .to_string_lossy()
        .into_owned()
}

/// The host descriptor and the `OfxHost` struct handed to `setHost`.
pub struct Host {
    pub props: Box<PropSet>,
    ofx: Box<OfxHost>,
}

impl Host {
    pub fn new(missing_suites: &[&str]) -> Box<Host> {
        let props = PropSet::new(
            true,
            vec![
                ("OfxPropName", s("org.equifx.testhost")),
                ("OfxPropLabel", s("equifx test host")),
                ("OfxPropAPIVersion", Value::Int(vec![1, 5])),
                ("OfxImageEffectHostPropIsBackground", Value::Int(vec![1])),
                (
                    "OfxImageEffectHostPropNativeOrigin",
                    s("kOfxImageEffectHostPropNativeOriginBottomLeft"),
                ),
                ("OfxImageEffectPropSupportsTiles", Value::Int(vec![1])),
                ("OfxImageEffectPropMultipleClipDepths", Value::Int(vec![0])),
                // No OpenFX 1.5 string choices unless a test says so (MLT's answer).
                ("OfxParamHostPropSupportsStrChoice", Value::Int(vec![0])),
                (
                    "OfxImageEffectPropSupportedPixelDepths",
                    Value::Str(
                        [
                            "OfxBitDepthByte",
                            "OfxBitDepthShort",
                            "OfxBitDepthHalf",
                            "OfxBitDepthFloat",
                        ]
                        .map(|d| CString::new(d).unwrap())
                        .to_vec(),
                    ),
                ),
                (
                    "equifx.test.MissingSuites",
                    Value::Str(
                        missing_suites
                            .iter()
                            .map(|m| CString::new(*m).unwrap())
                            .collect(),
                    ),
                ),
            ],
        );
        let ofx = Box::new(OfxHost {
            host: props.handle(),
            fetch_suite: suites::fetch_suite,
        });
        Box::new(Host { props, ofx })
    }

    pub fn ptr(&self) -> *mut OfxHost {
        &*self.ofx as *const OfxHost as *mut OfxHost
    }
}

/// The plugin keeps one host and one set of suites per process, as OFX
/// intends; tests that use different hosts therefore take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// One test's conversation with one plugin.
pub struct Session {
    _turn: MutexGuard<'static, ()>,
    pub host: Box<Host>,
    pub plugin: &'static OfxPlugin,
    /// Closed property sets everywhere: unknown properties are refused.
    pub strict: bool,
}

pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

impl Session {
    pub fn new(node_id: &str, strict: bool, missing_suites: &[&str]) -> Session {
        let turn = SERIAL.lock();
        let plugin = *plugins()
            .list
            .iter()
            .find(|p| plugin_id(p) == node_id)
            .expect("plugin for node");
        let host = Host::new(missing_suites);
        // SAFETY: the plugin's setHost stores the pointer; the host outlives the session.
        unsafe { (plugin.set_host)(host.ptr()) };
        Session {
            _turn: turn,
            host,
            plugin,
            strict,
        }
    }

    pub fn action(
        &self,
        action: &str,
        handle: *const c_void,
        in_args: Option<&PropSet>,
        out_args: Option<&PropSet>,
    ) -> OfxStatus {
        let a = c(action);
        let h = |p: Option<&PropSet>| p.map_or(std::ptr::null_mut(), |p| p.handle());
        let changing = action == "OfxActionInstanceChanged";
        if changing {
            suites::IN_INSTANCE_CHANGED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        // SAFETY: the plugin's main entry, with handles this host made.
        let st = unsafe { (self.plugin.main_entry)(a.as_ptr(), handle, h(in_args), h(out_args)) };
        if changing {
            suites::IN_INSTANCE_CHANGED.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        st
    }

    /// Whether the host advertises OpenFX 1.5 StrChoice parameters
    /// (`OfxParamHostPropSupportsStrChoice`); the plugin reads it at Load.
    pub fn set_supports_str_choice(&self, yes: bool) {
        self.host.props.put(
            "OfxParamHostPropSupportsStrChoice",
            Value::Int(vec![i32::from(yes)]),
        );
    }

    /// `OfxActionInstanceChanged` for parameter `param` of `inst`.
    pub fn instance_changed(&self, inst: &Effect, param: &str, reason: &str) -> OfxStatus {
        let args = PropSet::new(
            true,
            vec![
                ("OfxPropType", s("OfxTypeParameter")),
                ("OfxPropName", s(param)),
                ("OfxPropChangeReason", s(reason)),
                ("OfxPropTime", Value::Dbl(vec![0.0])),
                ("OfxImageEffectPropRenderScale", Value::Dbl(vec![1.0, 1.0])),
            ],
        );
        self.action(
            "OfxActionInstanceChanged",
            inst.handle() as *const c_void,
            Some(&args),
            None,
        )
    }

    /// What a host does when the artist edits a parameter: the new value,
    /// then InstanceChanged (reason UserEdited) wrapped in Begin/End.
    pub fn user_edit(&self, inst: &Effect, param: &str, value: PV) -> OfxStatus {
        inst.param(param).set_key(f64::NEG_INFINITY, value);
        let h = inst.handle() as *const c_void;
        let reason = PropSet::new(
            true,
            vec![("OfxPropChangeReason", s("OfxChangeUserEdited"))],
        );
        let begin = self.action("OfxActionBeginInstanceChanged", h, Some(&reason), None);
        assert!(
            matches!(begin, OfxStatus::OK | OfxStatus::REPLY_DEFAULT),
            "BeginInstanceChanged: {begin:?}"
        );
        let st = self.instance_changed(inst, param, "OfxChangeUserEdited");
        let end = self.action("OfxActionEndInstanceChanged", h, Some(&reason), None);
        assert!(
            matches!(end, OfxStatus::OK | OfxStatus::REPLY_DEFAULT),
            "EndInstanceChanged: {end:?}"
        );
        st
    }

    /// Forgets the plugin's earlier paramSetValue calls.
    pub fn forget_plugin_edits(&self) {
        suites::PLUGIN_EDITS.lock().clear();
    }

    /// How many times the plugin set a parameter outside InstanceChanged
    /// (refused, as the spec does not allow it).
    pub fn edits_outside_instance_changed(&self) -> usize {
        suites::EDITS_OUTSIDE_INSTANCE_CHANGED.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Answers every paramSetValue the plugin made on `inst` with
    /// InstanceChanged (reason PluginEdited), as real hosts do, until the
    /// plugin sets nothing more; returns the names delivered, in order.
    /// Panics when the plugin keeps setting values (a feedback loop).
    pub fn echo_plugin_edits(&self, inst: &Effect) -> Vec<String> {
        let mut delivered = Vec::new();
        for _ in 0..8 {
            let edits: Vec<usize> = std::mem::take(&mut *suites::PLUGIN_EDITS.lock());
            let names: Vec<String> = {
                let params = inst.params.params.lock();
                edits
                    .iter()
                    .filter_map(|h| {
                        params
                            .iter()
                            .find(|p| p.handle() as usize == *h)
                            .map(|p| p.name.clone())
                    })
                    .collect()
            };
            if names.is_empty() {
                return delivered;
            }
            for n in names {
                let st = self.instance_changed(inst, &n, "OfxChangePluginEdited");
                assert!(
                    matches!(st, OfxStatus::OK | OfxStatus::REPLY_DEFAULT),
                    "InstanceChanged({n}) after a plugin edit: {st:?}"
                );
                delivered.push(n);
            }
        }
        panic!("the plugin keeps setting parameters in answer to its own edits: {delivered:?}");
    }

    pub fn load(&self) -> OfxStatus {
        self.action("OfxActionLoad", std::ptr::null(), None, None)
    }

    pub fn unload(&self) -> OfxStatus {
        self.action("OfxActionUnload", std::ptr::null(), None, None)
    }

    pub fn describe(&self) -> Box<Effect> {
        let d = Effect::new(self.strict);
        let st = self.action("OfxActionDescribe", d.handle() as *const c_void, None, None);
        assert_eq!(st, OfxStatus::OK, "Describe");
        d
    }

    pub fn describe_in_context(&self, desc: &Effect, context: &str) -> Box<Effect> {
        let d = desc.instantiate(context);
        let args = PropSet::new(true, vec![("OfxImageEffectPropContext", s(context))]);
        let st = self.action(
            "OfxImageEffectActionDescribeInContext",
            d.handle() as *const c_void,
            Some(&args),
            None,
        );
        assert_eq!(st, OfxStatus::OK, "DescribeInContext({context})");
        d
    }

    pub fn create_instance(&self, in_context: &Effect, context: &str) -> Box<Effect> {
        let inst = in_context.instantiate(context);
        let st = self.action(
            "OfxActionCreateInstance",
            inst.handle() as *const c_void,
            None,
            None,
        );
        assert_eq!(st, OfxStatus::OK, "CreateInstance");
        inst
    }

    pub fn destroy(&self, inst: Box<Effect>) {
        let st = self.action(
            "OfxActionDestroyInstance",
            inst.handle() as *const c_void,
            None,
            None,
        );
        assert_eq!(st, OfxStatus::OK, "DestroyInstance");
        assert!(
            matches!(inst.props.get("OfxPropInstanceData"), Some(Value::Ptr(v)) if v == vec![0]),
            "instance data not cleared"
        );
    }

    /// Load, Describe, DescribeInContext(filter), CreateInstance.
    pub fn instance(&self) -> Box<Effect> {
        assert_eq!(self.load(), OfxStatus::OK);
        let desc = self.describe();
        let ctx = self.describe_in_context(&desc, "OfxImageEffectContextFilter");
        self.create_instance(&ctx, "OfxImageEffectContextFilter")
    }

    pub fn render(&self, inst: &Effect, time: f64, window: OfxRectI) -> OfxStatus {
        self.render_with(inst, time, window, vec![])
    }

    /// A render whose inArgs carry `extra` properties too (e.g. a GPU host's).
    pub fn render_with(
        &self,
        inst: &Effect,
        time: f64,
        window: OfxRectI,
        extra: Vec<(&str, Value)>,
    ) -> OfxStatus {
        let mut props = vec![
            ("OfxPropTime", Value::Dbl(vec![time])),
            ("OfxImageEffectPropFieldToRender", s("OfxFieldNone")),
            (
                "OfxImageEffectPropRenderWindow",
                Value::Int(vec![window.x1, window.y1, window.x2, window.y2]),
            ),
            ("OfxImageEffectPropRenderScale", Value::Dbl(vec![1.0, 1.0])),
            (
                "OfxImageEffectPropSequentialRenderStatus",
                Value::Int(vec![0]),
            ),
            (
                "OfxImageEffectPropInteractiveRenderStatus",
                Value::Int(vec![0]),
            ),
            ("OfxImageEffectPropRenderQualityDraft", Value::Int(vec![0])),
        ];
        props.extend(extra);
        let args = PropSet::new(true, props);
        self.action(
            "OfxImageEffectActionRender",
            inst.handle() as *const c_void,
            Some(&args),
            None,
        )
    }

    /// An action with only OfxPropTime (+ render scale) in, and an open outArgs set.
    pub fn timed_action(
        &self,
        action: &str,
        inst: &Effect,
        time: f64,
        window: OfxRectI,
    ) -> (OfxStatus, Box<PropSet>) {
        let args = PropSet::new(
            false,
            vec![
                ("OfxPropTime", Value::Dbl(vec![time])),
                ("OfxImageEffectPropRenderScale", Value::Dbl(vec![1.0, 1.0])),
                (
                    "OfxImageEffectPropRenderWindow",
                    Value::Int(vec![window.x1, window.y1, window.x2, window.y2]),
                ),
                (
                    "OfxImageEffectPropRegionOfInterest",
                    Value::Dbl(vec![
                        window.x1.into(),
                        window.y1.into(),
                        window.x2.into(),
                        window.y2.into(),
                    ]),
                ),
            ],
        );
        let out = PropSet::new(false, Vec::<(&str, Value)>::new());
        let st = self.action(
            action,
            inst.handle() as *const c_void,
            Some(&args),
            Some(&out),
        );
        (st, out)
    }
}
