//! A Rust host that loads the equifx shared library at run time, as an
//! application or farm wrapper would: find the entry table, list the nodes,
//! run one on a raw RGBA f32 buffer.
//!
//! ```text
//! cargo build -p equifx-ffi && cargo run -p equifx-ffi --example host -- target/debug/libequifx_ffi.so
//! ```

use std::ffi::{c_void, CStr, CString};

use equifx_ffi::capi::describe::equifx_node_info;
use equifx_ffi::capi::frame::equifx_frame;
use equifx_ffi::capi::status::equifx_status;
use equifx_ffi::capi::{equifx_entry, EQUIFX_ABI_VERSION};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/debug/libequifx_ffi.so".into());
    // SAFETY: loading equifx runs only Rust static initialisers.
    let lib = unsafe { libloading::Library::new(&path)? };
    // SAFETY: the symbol has this signature (include/equifx.h).
    let get: libloading::Symbol<extern "C" fn(u32) -> *const equifx_entry> =
        unsafe { lib.get(b"equifx_get_entry")? };
    let entry = get(EQUIFX_ABI_VERSION);
    if entry.is_null() {
        return Err("this library does not provide equifx ABI 1".into());
    }
    // SAFETY: non-null; the table is static inside the library, which stays loaded.
    let fx = unsafe { &*entry };
    let text = |p: *const std::ffi::c_char| {
        // SAFETY: the library returns NUL-terminated strings it owns.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    };

    for i in 0..(fx.node_count)() {
        // SAFETY: all-zero is a valid equifx_node_info (null pointers, zero counts).
        let mut info: equifx_node_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<equifx_node_info>() as u32;
        if (fx.node_info)(i, &mut info) == equifx_status::EQUIFX_STATUS_OK {
            println!("{} — {}", text(info.id), text(info.summary));
        }
    }

    let id = CString::new("org.equifx.Exposure")?;
    let mut inst = std::ptr::null_mut();
    if (fx.instance_new)(id.as_ptr(), &mut inst) != equifx_status::EQUIFX_STATUS_OK {
        return Err(text((fx.last_error)()).into());
    }
    let name = CString::new("exposure")?;
    (fx.instance_set_float)(inst, name.as_ptr(), 1.0);
    let (w, h) = (4usize, 2usize);
    let mut src: Vec<f32> = (0..w * h * 4)
        .map(|i| if i % 4 == 3 { 1.0 } else { i as f32 / 64.0 })
        .collect();
    let mut dst = vec![0f32; src.len()];
    let frame = |buf: &mut [f32]| equifx_frame {
        struct_size: std::mem::size_of::<equifx_frame>() as u32,
        width: w as u32,
        height: h as u32,
        pixel_format: 0x03, // RGBA f32
        colour_space: 1,    // linear
        alpha_mode: 1,      // premultiplied
        row_bytes: (w * 16) as isize,
        data: buf.as_mut_ptr() as *mut c_void,
        data_len: buf.len() * 4,
    };
    let (fin, fout) = (frame(&mut src), frame(&mut dst));
    let st = (fx.instance_render)(inst, &fin, 1, &fout, 0, std::ptr::null());
    (fx.instance_free)(inst);
    if st != equifx_status::EQUIFX_STATUS_OK {
        return Err(text((fx.last_error)()).into());
    }
    println!("first pixel: {:?} -> {:?}", &src[..4], &dst[..4]);
    Ok(())
}
