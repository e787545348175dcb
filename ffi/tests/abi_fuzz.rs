//! A stateful fuzzer of the C ABI: four host threads make random calls (node
//! and parameter queries with any index and struct size, instances of any
//! id, parameters of any name, kind and value, renders of random frames with
//! random formats, sizes, strides and callbacks, bundle queries) on their own
//! and on shared instances. Every call must return a documented status
//! (never PANIC), explain every failure in `last_error`, and the whole run
//! must finish: no crash, no hang.
//!
//! The budget is fixed (`ABI_FUZZ_CALLS` per thread, default 30,000: 120,000
//! calls); `ABI_FUZZ_CALLS` and `ABI_FUZZ_SEED` run longer or other campaigns
//! (docs/fuzzing.md).

mod common;

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::Lib;
use equifx_ffi::capi::callbacks::equifx_callbacks;
use equifx_ffi::capi::describe::{equifx_node_info, equifx_param_info};
use equifx_ffi::capi::equifx_entry;
use equifx_ffi::capi::frame::equifx_frame;
use equifx_ffi::capi::instance::equifx_instance;
use equifx_ffi::capi::status::equifx_status::{self, *};

/// The call sequence's random numbers: the project's stream generator.
struct Rng(equifx::rng::StreamRng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(equifx::rng::StreamRng::new(seed, b"abi-fuzz", 0))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn float(&mut self) -> f64 {
        match self.below(8) {
            0 => *self.pick(&[
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                -0.0,
                f64::MAX,
                f64::MIN_POSITIVE,
            ]),
            1 => self.next() as i64 as f64,
            _ => (self.below(4001) as f64 - 2000.0) / 100.0,
        }
    }
}

/// An instance pointer shared between host threads (the ABI allows
/// concurrent calls on one instance, except `instance_free`).
#[derive(Clone, Copy)]
struct Shared(*mut equifx_instance);
// SAFETY: instances may be used from any thread; shared ones are freed only
// after every fuzzing thread has finished.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// What the fuzzer knows of the library: node ids and their parameter names.
struct Catalogue {
    nodes: Vec<(String, Vec<String>)>,
}

fn cstr(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: the library returns NUL-terminated strings it owns.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn catalogue(e: &equifx_entry) -> Catalogue {
    let nodes = (0..(e.node_count)())
        .map(|i| {
            // SAFETY: integers, nullable pointers and enums with a 0 variant.
            let mut info: equifx_node_info = unsafe { std::mem::zeroed() };
            info.struct_size = std::mem::size_of::<equifx_node_info>() as u32;
            assert_eq!((e.node_info)(i, &mut info), EQUIFX_STATUS_OK);
            let params = (0..info.param_count)
                .map(|j| {
                    // SAFETY: as above.
                    let mut p: equifx_param_info = unsafe { std::mem::zeroed() };
                    p.struct_size = std::mem::size_of::<equifx_param_info>() as u32;
                    assert_eq!((e.param_info)(i, j, &mut p), EQUIFX_STATUS_OK);
                    cstr(p.id)
                })
                .collect();
            (cstr(info.id), params)
        })
        .collect();
    Catalogue { nodes }
}

const FORMATS: [u32; 8] = [0, 1, 2, 3, 16, 17, 18, 19];

fn bytes_per_pixel(format: u32) -> usize {
    let channels = if format >= 16 { 3 } else { 4 };
    let sample = match format % 16 {
        0 => 1,
        1 | 2 => 2,
        _ => 4,
    };
    channels * sample
}

/// A frame over a buffer of its own (kept alive by the caller): well formed
/// at `dims` when `valid`, otherwise random in every field.
fn random_frame(
    r: &mut Rng,
    buffers: &mut Vec<Vec<u8>>,
    dims: (u32, u32),
    valid: bool,
) -> equifx_frame {
    let (w, h) = if valid || !r.one_in(5) {
        dims
    } else {
        (
            *r.pick(&[0, 1, 7, u32::MAX, 1 << 20]),
            *r.pick(&[0, 1, 5, u32::MAX, 1 << 20]),
        )
    };
    let format = if !valid && r.one_in(8) {
        r.next() as u32
    } else {
        *r.pick(&FORMATS)
    };
    let row = (w as usize).saturating_mul(bytes_per_pixel(format % 32));
    let row_bytes: isize = match r.below(if valid { 2 } else { 10 }) {
        0 => -(row as isize),
        1 => row as isize,
        2 => r.next() as isize,
        3 => (row as isize).saturating_add(r.below(9) as isize),
        _ => row as isize,
    };
    let needed = row.saturating_mul(h as usize).min(1 << 16);
    let len = match r.below(if valid { 1 } else { 6 }) {
        0 => needed,
        1 => r.below(needed as u64 + 1) as usize,
        2 => needed + r.below(64) as usize,
        _ => needed,
    };
    let mut buf: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
    let invalid = |r: &mut Rng, n: u64| !valid && r.one_in(n);
    let frame = equifx_frame {
        struct_size: if invalid(r, 8) {
            r.below(std::mem::size_of::<equifx_frame>() as u64) as u32
        } else {
            std::mem::size_of::<equifx_frame>() as u32
        },
        width: w,
        height: h,
        pixel_format: format,
        colour_space: if invalid(r, 8) {
            r.next() as u32
        } else {
            r.below(2) as u32
        },
        alpha_mode: if invalid(r, 8) {
            r.next() as u32
        } else {
            r.below(2) as u32
        },
        row_bytes,
        data: if invalid(r, 20) {
            std::ptr::null_mut()
        } else {
            buf.as_mut_ptr() as *mut c_void
        },
        data_len: buf.len(),
    };
    buffers.push(buf);
    frame
}

extern "C" fn progress(userdata: *mut c_void, _fraction: f64) {
    // SAFETY: userdata is the entry table the fuzzer passed.
    let e = unsafe { &*(userdata as *const equifx_entry) };
    assert!((e.node_count)() > 0);
}

extern "C" fn abort_sometimes(userdata: *mut c_void) -> bool {
    // SAFETY: as above.
    let e = unsafe { &*(userdata as *const equifx_entry) };
    (e.version_number)() % 7 == 0
}

extern "C" fn log(_userdata: *mut c_void, _level: i32, message: *const c_char) {
    assert!(!message.is_null());
}

/// A name to pass: one of `known`, garbage, empty or NULL.
fn random_name(r: &mut Rng, known: &[String]) -> Option<CString> {
    match r.below(12) {
        0 => None,
        1 => Some(CString::new("").unwrap()),
        2 => Some(
            CString::new(
                (0..r.below(40))
                    .map(|_| 1 + r.below(255) as u8)
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        ),
        _ if !known.is_empty() => Some(CString::new(r.pick(known).as_str()).unwrap()),
        _ => Some(CString::new("x").unwrap()),
    }
}

fn ptr(name: &Option<CString>) -> *const c_char {
    name.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// How often each call succeeded and failed over the run, so the test can
/// tell that both the accepting and the refusing paths were exercised.
static OUTCOMES: std::sync::Mutex<Vec<(&'static str, usize, usize)>> =
    std::sync::Mutex::new(Vec::new());

/// Every status a call may return; PANIC means a bug behind the guard.
fn check(lib: &Lib, st: equifx_status, call: &'static str) {
    {
        let mut o = OUTCOMES.lock().unwrap();
        let i = match o.iter().position(|(c, _, _)| *c == call) {
            Some(i) => i,
            None => {
                o.push((call, 0, 0));
                o.len() - 1
            }
        };
        if st == EQUIFX_STATUS_OK {
            o[i].1 += 1;
        } else {
            o[i].2 += 1;
        }
    }
    assert_ne!(
        st,
        EQUIFX_STATUS_PANIC,
        "{call} panicked inside: {}",
        lib.last_error()
    );
    if st != EQUIFX_STATUS_OK {
        assert!(
            !lib.last_error().is_empty(),
            "{call} failed with {st:?} and no message"
        );
    }
}

/// Parameters of the shared model-node instances the fuzzer leaves alone:
/// they set the work a render does (network resolution, block length, tile
/// sizes, half precision on the CPU) or where it writes files.
const KEPT_AT_DEFAULT: [&str; 6] = [
    "resolution",
    "block_length",
    "precision",
    "records",
    "tile_size",
    "tile_overlap",
];

const TEXTS: [&str; 10] = [
    "photo",
    "oil",
    "anime",
    "auto",
    "cpu",
    "",
    "warm=0.5, round=0.3",
    "*=2",
    "natural",
    "/nonexistent/bundle",
];

fn fuzz_thread(lib: &Lib, cat: &Catalogue, shared: &[(usize, Shared)], seed: u64, calls: u64) {
    let e = lib.entry;
    let mut r = Rng::new(seed);
    let exposure = cat
        .nodes
        .iter()
        .position(|(id, _)| id == "org.equifx.Exposure")
        .unwrap();
    let mut own: Vec<(usize, *mut equifx_instance)> = Vec::new();
    let node_ids: Vec<String> = cat.nodes.iter().map(|(id, _)| id.clone()).collect();
    for _ in 0..calls {
        // An instance to use: own, shared, or NULL.
        let target: (usize, *mut equifx_instance) = match r.below(10) {
            0 => (exposure, std::ptr::null_mut()),
            1..=4 if !own.is_empty() => *r.pick(&own),
            _ => {
                let (n, s) = *r.pick(shared);
                (n, s.0)
            }
        };
        // Shared instances of the model nodes get rendered: their costly or
        // file-writing parameters keep their defaults.
        let rendered_model_node = target.0 != exposure && !own.iter().any(|(_, p)| *p == target.1);
        let params: Vec<String> = cat.nodes[target.0]
            .1
            .iter()
            .filter(|p| !(rendered_model_node && KEPT_AT_DEFAULT.contains(&p.as_str())))
            .cloned()
            .collect();
        let params = &params;
        match r.below(14) {
            0 => {
                let n = (e.node_count)();
                assert!(n as usize == cat.nodes.len());
            }
            1 => {
                // SAFETY: integers, nullable pointers and enums with a 0 variant.
                let mut info: [equifx_node_info; 2] = unsafe { std::mem::zeroed() };
                info[0].struct_size =
                    r.below(2 * std::mem::size_of::<equifx_node_info>() as u64) as u32;
                let i = r.below(cat.nodes.len() as u64 + 2) as u32;
                let out = if r.one_in(20) {
                    std::ptr::null_mut()
                } else {
                    info.as_mut_ptr()
                };
                check(lib, (e.node_info)(i, out), "node_info");
            }
            2 => {
                // SAFETY: as above.
                let mut info: [equifx_param_info; 2] = unsafe { std::mem::zeroed() };
                info[0].struct_size =
                    r.below(2 * std::mem::size_of::<equifx_param_info>() as u64) as u32;
                let (i, j) = (
                    r.below(cat.nodes.len() as u64 + 1) as u32,
                    r.below(12) as u32,
                );
                let out = if r.one_in(20) {
                    std::ptr::null_mut()
                } else {
                    info.as_mut_ptr()
                };
                check(lib, (e.param_info)(i, j, out), "param_info");
            }
            3 => {
                let p = (e.param_option)(r.below(8) as u32, r.below(12) as u32, r.below(8) as u32);
                if !p.is_null() {
                    cstr(p);
                }
            }
            4 if own.len() < 8 => {
                let id = if r.one_in(5) {
                    random_name(&mut r, &[])
                } else {
                    Some(CString::new(r.pick(&node_ids).as_str()).unwrap())
                };
                let mut inst = std::ptr::null_mut();
                let out = if r.one_in(20) {
                    std::ptr::null_mut()
                } else {
                    &mut inst as *mut _
                };
                let st = (e.instance_new)(ptr(&id), out);
                check(lib, st, "instance_new");
                if st == EQUIFX_STATUS_OK {
                    let node = node_ids
                        .iter()
                        .position(|n| Some(n.as_str()) == id.as_ref().and_then(|c| c.to_str().ok()))
                        .unwrap();
                    own.push((node, inst));
                }
            }
            5 if !own.is_empty() && r.one_in(3) => {
                let i = r.below(own.len() as u64) as usize;
                (e.instance_free)(own.swap_remove(i).1);
            }
            5 => (e.instance_free)(std::ptr::null_mut()),
            6 => {
                let name = random_name(&mut r, params);
                check(
                    lib,
                    (e.instance_set_float)(target.1, ptr(&name), r.float()),
                    "set_float",
                );
            }
            7 => {
                let name = random_name(&mut r, params);
                let v = if r.one_in(4) {
                    r.next() as i64
                } else {
                    r.below(100) as i64 - 50
                };
                check(
                    lib,
                    (e.instance_set_int)(target.1, ptr(&name), v),
                    "set_int",
                );
            }
            8 => {
                let name = random_name(&mut r, params);
                check(
                    lib,
                    (e.instance_set_bool)(target.1, ptr(&name), r.one_in(2)),
                    "set_bool",
                );
            }
            9 => {
                let name = random_name(&mut r, params);
                let texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
                let value = random_name(&mut r, &texts);
                check(
                    lib,
                    (e.instance_set_text)(target.1, ptr(&name), ptr(&value)),
                    "set_text",
                );
            }
            10 => {
                let name = random_name(&mut r, params);
                let mut v = 0.0;
                let out = if r.one_in(20) {
                    std::ptr::null_mut()
                } else {
                    &mut v as *mut f64
                };
                check(
                    lib,
                    (e.instance_get_float)(target.1, ptr(&name), out),
                    "get_float",
                );
            }
            11 => {
                // Renders: Exposure instances freely; the other nodes only
                // through the shared instances, whose costly parameters stay put.
                let own_target = own.iter().any(|(_, p)| *p == target.1);
                if target.0 != exposure && own_target {
                    continue;
                }
                if target.0 != exposure && !r.one_in(40) {
                    continue;
                }
                let mut buffers = Vec::new();
                // Half the renders are well formed, so both paths are walked.
                let valid = r.one_in(2);
                let dims = (1 + r.below(16) as u32, 1 + r.below(12) as u32);
                let n_inputs = if valid { 1 } else { r.below(3) as usize };
                let inputs: Vec<equifx_frame> = (0..n_inputs)
                    .map(|_| random_frame(&mut r, &mut buffers, dims, valid))
                    .collect();
                let output = if r.one_in(2) && !inputs.is_empty() {
                    // In place: the output is the first input's buffer.
                    let mut f = inputs[0];
                    f.struct_size = std::mem::size_of::<equifx_frame>() as u32;
                    f
                } else {
                    random_frame(&mut r, &mut buffers, dims, valid)
                };
                let cb = equifx_callbacks {
                    struct_size: match r.below(8) {
                        0 => r.below(std::mem::size_of::<equifx_callbacks>() as u64) as u32,
                        _ => std::mem::size_of::<equifx_callbacks>() as u32,
                    },
                    userdata: e as *const equifx_entry as *mut c_void,
                    progress: if r.one_in(2) { Some(progress) } else { None },
                    abort: if r.one_in(3) {
                        Some(abort_sometimes)
                    } else {
                        None
                    },
                    log: if r.one_in(2) { Some(log) } else { None },
                };
                let cb_ptr = if r.one_in(3) {
                    std::ptr::null()
                } else {
                    &cb as *const _
                };
                let in_ptr = if r.one_in(20) || inputs.is_empty() {
                    std::ptr::null()
                } else {
                    inputs.as_ptr()
                };
                let out_ptr = if r.one_in(20) {
                    std::ptr::null()
                } else {
                    &output as *const _
                };
                let frame_no = if r.one_in(4) {
                    r.next() as i64
                } else {
                    r.below(10) as i64
                };
                let st = (e.instance_render)(target.1, in_ptr, n_inputs, out_ptr, frame_no, cb_ptr);
                check(lib, st, "render");
            }
            12 => {
                let paths = [
                    String::new(),
                    "/nonexistent".to_string(),
                    "/proc/self/status".to_string(),
                    equifx::model::bundle::default_bundle_dir()
                        .display()
                        .to_string(),
                ];
                let path = random_name(&mut r, &paths);
                let mut json = std::ptr::null();
                let out = if r.one_in(10) {
                    std::ptr::null_mut()
                } else {
                    &mut json as *mut _
                };
                let st = (e.model_info)(ptr(&path), out);
                check(lib, st, "model_info");
                if st == EQUIFX_STATUS_OK {
                    assert!(cstr(json).starts_with('{'));
                }
            }
            _ => {
                assert!((e.version_number)() > 0);
                let _ = lib.last_error();
            }
        }
    }
    for (_, p) in own {
        (e.instance_free)(p);
    }
}

#[test]
fn random_call_sequences_from_four_threads() {
    let calls: u64 = std::env::var("ABI_FUZZ_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let seed: u64 = std::env::var("ABI_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lib = Arc::new(Lib::load());
        let cat = Arc::new(catalogue(lib.entry));
        // One shared instance of every node, renderable at a bounded cost.
        let shared: Arc<Vec<(usize, Shared)>> = Arc::new(
            cat.nodes
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (i, Shared(lib.new_instance(id))))
                .collect(),
        );
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (lib, cat, shared) = (lib.clone(), cat.clone(), shared.clone());
                std::thread::spawn(move || {
                    fuzz_thread(&lib, &cat, &shared, seed.wrapping_mul(1000) + t, calls)
                })
            })
            .collect();
        for t in threads {
            if let Err(panic) = t.join() {
                let _ = tx.send(Err(panic));
                return;
            }
        }
        for (_, s) in shared.iter() {
            (lib.entry.instance_free)(s.0);
        }
        let _ = tx.send(Ok(()));
    });
    match rx.recv_timeout(Duration::from_secs(900)) {
        Ok(Ok(())) => {
            let outcomes = OUTCOMES.lock().unwrap();
            eprintln!("(call, ok, refused): {outcomes:?}");
            assert_eq!(outcomes.len(), 10, "every checked call was made");
            for (call, ok, refused) in outcomes.iter() {
                // No node has a boolean parameter yet, so no set_bool succeeds.
                let must_accept = *call != "set_bool";
                assert!(
                    (*ok > 0 || !must_accept) && *refused > 0,
                    "{call}: {ok} accepted, {refused} refused"
                );
            }
        }
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the fuzzing thread panicked"),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("not finished within 900 s: a call hung"),
    }
}
