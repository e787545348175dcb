//! Everything a careless or buggy host can throw at the C ABI must come back
//! as a status code with a message that says what to fix, never a crash.

mod common;

use std::ffi::{c_void, CString};
use std::ptr::{null, null_mut};

use common::{frame, pattern, Lib};
use equifx_ffi::capi::describe::{equifx_node_info, equifx_param_info};
use equifx_ffi::capi::frame::equifx_frame;
use equifx_ffi::capi::instance::equifx_instance;
use equifx_ffi::capi::status::equifx_status::{self, *};

struct Fixture {
    lib: Lib,
    inst: *mut equifx_instance,
    src: Vec<u8>,
    dst: Vec<u8>,
}

const W: u32 = 8;
const H: u32 = 6;

impl Fixture {
    fn new() -> Fixture {
        let lib = Lib::load();
        let inst = lib.new_instance("org.equifx.Exposure");
        let gain = CString::new("gain").unwrap();
        assert_eq!(
            (lib.entry.instance_set_float)(inst, gain.as_ptr(), 2.0),
            EQUIFX_STATUS_OK
        );
        Fixture {
            lib,
            inst,
            src: pattern((W * H * 4) as usize, 3),
            dst: vec![0; (W * H * 4) as usize],
        }
    }

    fn good(&mut self) -> (equifx_frame, equifx_frame) {
        (
            frame(W, H, 0, 0, 0, (W * 4) as isize, &mut self.src),
            frame(W, H, 0, 0, 0, (W * 4) as isize, &mut self.dst),
        )
    }

    /// Renders with a modified input frame; expects `want` and a message containing `says`.
    fn render_expect(
        &mut self,
        tweak: impl Fn(&mut equifx_frame),
        want: equifx_status,
        says: &str,
    ) {
        let (mut fi, fo) = self.good();
        tweak(&mut fi);
        let st = (self.lib.entry.instance_render)(self.inst, &fi, 1, &fo, 0, null());
        self.check(st, want, says);
        // The same defect on the output frame is caught too.
        let (fi, mut fo) = self.good();
        tweak(&mut fo);
        let st = (self.lib.entry.instance_render)(self.inst, &fi, 1, &fo, 0, null());
        self.check(st, want, says);
    }

    fn check(&self, st: equifx_status, want: equifx_status, says: &str) {
        let msg = self.lib.last_error();
        assert_eq!(st, want, "message: {msg}");
        assert!(
            msg.to_lowercase().contains(&says.to_lowercase()),
            "'{msg}' should mention '{says}'"
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        (self.lib.entry.instance_free)(self.inst);
    }
}

#[test]
fn null_pointers_are_refused() {
    let mut fx = Fixture::new();
    let e = fx.lib.entry;
    let name = CString::new("gain").unwrap();
    let id = CString::new("org.equifx.Exposure").unwrap();
    let mut slot = null_mut();
    fx.check(
        (e.instance_new)(null(), &mut slot),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "node_id",
    );
    fx.check(
        (e.instance_new)(id.as_ptr(), null_mut()),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "instance_out",
    );
    fx.check(
        (e.instance_set_float)(null_mut(), name.as_ptr(), 1.0),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "instance",
    );
    fx.check(
        (e.instance_set_float)(fx.inst, null(), 1.0),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "name",
    );
    fx.check(
        (e.instance_set_text)(fx.inst, name.as_ptr(), null()),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "value",
    );
    fx.check(
        (e.instance_get_float)(fx.inst, name.as_ptr(), null_mut()),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "value_out",
    );
    fx.check(
        (e.node_info)(0, null_mut()),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "info_out",
    );
    fx.check(
        (e.param_info)(0, 0, null_mut()),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "info_out",
    );
    let (fi, fo) = fx.good();
    fx.check(
        (e.instance_render)(null(), &fi, 1, &fo, 0, null()),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "instance",
    );
    fx.check(
        (e.instance_render)(fx.inst, null(), 1, &fo, 0, null()),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "inputs",
    );
    fx.check(
        (e.instance_render)(fx.inst, &fi, 1, null(), 0, null()),
        EQUIFX_STATUS_NULL_ARGUMENT,
        "output",
    );
    fx.render_expect(|f| f.data = null_mut(), EQUIFX_STATUS_NULL_ARGUMENT, "data");
    (e.instance_free)(null_mut()); // a no-op, as free(NULL) is
}

#[test]
fn zero_and_huge_sizes_are_refused() {
    let mut fx = Fixture::new();
    fx.render_expect(|f| f.width = 0, EQUIFX_STATUS_INVALID_FRAME, "at least 1");
    fx.render_expect(|f| f.height = 0, EQUIFX_STATUS_INVALID_FRAME, "at least 1");
    fx.render_expect(
        |f| f.width = 1 << 20,
        EQUIFX_STATUS_INVALID_FRAME,
        "largest supported",
    );
    fx.render_expect(
        |f| {
            f.width = 16_384;
            f.height = 16_384;
            f.row_bytes = 16_384 * 4;
        },
        EQUIFX_STATUS_INVALID_FRAME,
        "too small",
    );
    // Sides within the limit, but more pixels than any frame may have.
    fx.render_expect(
        |f| {
            f.width = 65_536;
            f.height = 65_536;
            f.row_bytes = 65_536 * 4;
        },
        EQUIFX_STATUS_INVALID_FRAME,
        "at most 268435456 pixels",
    );
    fx.render_expect(
        |f| f.width = u32::MAX,
        EQUIFX_STATUS_INVALID_FRAME,
        "largest supported",
    );
}

#[test]
fn bad_strides_are_refused_and_negative_strides_accepted() {
    let mut fx = Fixture::new();
    fx.render_expect(
        |f| f.row_bytes = 4 * W as isize - 4,
        EQUIFX_STATUS_INVALID_FRAME,
        "shorter than one row",
    );
    fx.render_expect(
        |f| f.row_bytes = -(4 * W as isize - 1),
        EQUIFX_STATUS_INVALID_FRAME,
        "shorter than one row",
    );
    fx.render_expect(
        |f| f.row_bytes = 0,
        EQUIFX_STATUS_INVALID_FRAME,
        "shorter than one row",
    );
    fx.render_expect(
        |f| f.row_bytes = isize::MIN,
        EQUIFX_STATUS_INVALID_FRAME,
        "too small",
    );
    // An odd stride is fine for bytes, but not for 4-byte float samples.
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; 4096];
    let fi = frame(4, 4, 3, 1, 0, 4 * 16 + 2, &mut buf);
    let fo = frame(4, 4, 3, 1, 0, 64, &mut out);
    let st = (fx.lib.entry.instance_render)(fx.inst, &fi, 1, &fo, 0, null());
    fx.check(st, EQUIFX_STATUS_INVALID_FRAME, "multiple");
    // Odd but legal u8 stride, and a bottom-up one, both render.
    let mut odd = vec![7u8; 4 * W as usize + 3 + (H as usize - 1) * (4 * W as usize + 3)];
    let mut out = vec![0u8; odd.len()];
    let stride = 4 * W as isize + 3;
    for rb in [stride, -stride] {
        let fi = frame(W, H, 0, 0, 0, rb, &mut odd);
        let fo = frame(W, H, 0, 0, 0, rb, &mut out);
        assert_eq!(
            (fx.lib.entry.instance_render)(fx.inst, &fi, 1, &fo, 0, null()),
            EQUIFX_STATUS_OK
        );
    }
}

#[test]
fn buffers_smaller_than_the_stated_size_are_refused() {
    let mut fx = Fixture::new();
    fx.render_expect(
        |f| f.data_len -= 1,
        EQUIFX_STATUS_INVALID_FRAME,
        "too small",
    );
    fx.render_expect(|f| f.data_len = 0, EQUIFX_STATUS_INVALID_FRAME, "too small");
    // Same pixels declared as f32 with a matching stride need 4× the bytes.
    fx.render_expect(
        |f| {
            f.pixel_format = 3;
            f.row_bytes *= 4;
        },
        EQUIFX_STATUS_INVALID_FRAME,
        "too small",
    );
}

#[test]
fn unknown_formats_and_modes_are_refused() {
    let mut fx = Fixture::new();
    fx.render_expect(
        |f| f.pixel_format = 0x07,
        EQUIFX_STATUS_INVALID_FRAME,
        "pixel format",
    );
    fx.render_expect(
        |f| f.pixel_format = 0x20,
        EQUIFX_STATUS_INVALID_FRAME,
        "pixel format",
    );
    fx.render_expect(
        |f| f.colour_space = 9,
        EQUIFX_STATUS_INVALID_ARGUMENT,
        "colour_space",
    );
    fx.render_expect(
        |f| f.alpha_mode = 2,
        EQUIFX_STATUS_INVALID_ARGUMENT,
        "alpha_mode",
    );
    fx.render_expect(
        |f| f.struct_size = 8,
        EQUIFX_STATUS_INVALID_ARGUMENT,
        "struct_size",
    );
}

#[test]
fn mismatched_frames_and_input_counts_are_refused() {
    let mut fx = Fixture::new();
    let (fi, mut fo) = fx.good();
    let e = fx.lib.entry;
    fx.check(
        (e.instance_render)(fx.inst, null(), 0, &fo, 0, null()),
        EQUIFX_STATUS_INVALID_ARGUMENT,
        "input",
    );
    let two = [fi, fi];
    fx.check(
        (e.instance_render)(fx.inst, two.as_ptr(), 2, &fo, 0, null()),
        EQUIFX_STATUS_INVALID_ARGUMENT,
        "input",
    );
    fx.check(
        (e.instance_render)(fx.inst, &fi, 1_000_000, &fo, 0, null()),
        EQUIFX_STATUS_INVALID_ARGUMENT,
        "input_count",
    );
    fo.width = W - 1;
    fx.check(
        (e.instance_render)(fx.inst, &fi, 1, &fo, 0, null()),
        EQUIFX_STATUS_INVALID_FRAME,
        "frame size",
    );
}

#[test]
fn bad_parameters_are_refused_and_leave_the_value_unchanged() {
    let fx = Fixture::new();
    let e = fx.lib.entry;
    let gain = CString::new("gain").unwrap();
    let bogus = CString::new("no_such_param").unwrap();
    fx.check(
        (e.instance_set_float)(fx.inst, bogus.as_ptr(), 1.0),
        EQUIFX_STATUS_UNKNOWN_PARAM,
        "exposure, gain",
    );
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        fx.check(
            (e.instance_set_float)(fx.inst, gain.as_ptr(), v),
            EQUIFX_STATUS_INVALID_PARAM_VALUE,
            "finite",
        );
    }
    fx.check(
        (e.instance_set_float)(fx.inst, gain.as_ptr(), -1.0),
        EQUIFX_STATUS_INVALID_PARAM_VALUE,
        "range",
    );
    let text = CString::new("loud").unwrap();
    fx.check(
        (e.instance_set_text)(fx.inst, gain.as_ptr(), text.as_ptr()),
        EQUIFX_STATUS_INVALID_PARAM_VALUE,
        "float",
    );
    fx.check(
        (e.instance_set_bool)(fx.inst, gain.as_ptr(), true),
        EQUIFX_STATUS_INVALID_PARAM_VALUE,
        "float",
    );
    let bad_utf8 = [0xffu8, 0xfe, 0];
    fx.check(
        (e.instance_set_float)(fx.inst, bad_utf8.as_ptr() as *const _, 1.0),
        EQUIFX_STATUS_INVALID_ARGUMENT,
        "UTF-8",
    );
    let mut v = 0.0;
    assert_eq!(
        (e.instance_get_float)(fx.inst, gain.as_ptr(), &mut v),
        EQUIFX_STATUS_OK
    );
    assert_eq!(v, 2.0, "failed sets must not change the value");
}

#[test]
fn unknown_nodes_indices_and_abi_versions_are_refused() {
    let fx = Fixture::new();
    let e = fx.lib.entry;
    let id = CString::new("org.equifx.NoSuchNode").unwrap();
    let mut slot = null_mut();
    fx.check(
        (e.instance_new)(id.as_ptr(), &mut slot),
        EQUIFX_STATUS_UNKNOWN_NODE,
        "equifx nodes",
    );
    assert!(slot.is_null(), "outputs are written only on success");
    let n = (e.node_count)();
    let mut info: equifx_node_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<equifx_node_info>() as u32;
    fx.check(
        (e.node_info)(n, &mut info),
        EQUIFX_STATUS_OUT_OF_RANGE,
        "out of range",
    );
    info.struct_size = 4;
    fx.check(
        (e.node_info)(0, &mut info),
        EQUIFX_STATUS_INVALID_ARGUMENT,
        "struct_size",
    );
    let mut pi: equifx_param_info = unsafe { std::mem::zeroed() };
    pi.struct_size = std::mem::size_of::<equifx_param_info>() as u32;
    fx.check(
        (e.param_info)(0, 999, &mut pi),
        EQUIFX_STATUS_OUT_OF_RANGE,
        "out of range",
    );
    assert!(
        (e.param_option)(0, 0, 0).is_null(),
        "float parameters have no options"
    );

    let get: extern "C" fn(u32) -> *const c_void = fx.lib.symbol(b"equifx_get_entry");
    assert!(get(999).is_null());
    assert!(get(0).is_null());
    assert!(
        fx.lib.last_error().contains("ABI"),
        "{}",
        fx.lib.last_error()
    );
}
