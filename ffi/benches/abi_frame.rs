//! Cost of passing a 3840×2160 RGBA f32 frame in and out through the C ABI,
//! against a plain memcpy of the same bytes (design target: ≤ 1.2×).
//!
//! `abi_passthrough` is a node render the host cannot skip but that changes
//! nothing (Exposure at 0 stops: the identity path copies rows);
//! `abi_exposure` is a real per-pixel render (decode, scale, encode), shown
//! for scale.

use std::ffi::{c_void, CString};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use equifx_ffi::capi::frame::equifx_frame;
use equifx_ffi::capi::instance::{
    equifx_instance_free, equifx_instance_new, equifx_instance_render, equifx_instance_set_float,
};
use equifx_ffi::capi::status::equifx_status;

const W: usize = 3840;
const H: usize = 2160;

fn frame(buf: &mut [u8]) -> equifx_frame {
    equifx_frame {
        struct_size: std::mem::size_of::<equifx_frame>() as u32,
        width: W as u32,
        height: H as u32,
        pixel_format: 0x03,
        colour_space: 1,
        alpha_mode: 1,
        row_bytes: (W * 16) as isize,
        data: buf.as_mut_ptr() as *mut c_void,
        data_len: buf.len(),
    }
}

fn bench(c: &mut Criterion) {
    let bytes = W * H * 16;
    let mut src: Vec<u8> = (0..W * H * 4)
        .flat_map(|i| ((i % 1000) as f32 / 1000.0).to_ne_bytes())
        .collect();
    let mut dst = vec![0u8; bytes];
    let mut g = c.benchmark_group("frame_3840x2160_rgba_f32");
    g.sample_size(20)
        .throughput(Throughput::Bytes(bytes as u64));

    g.bench_function("memcpy", |b| {
        b.iter(|| dst.copy_from_slice(std::hint::black_box(&src)))
    });

    let mut inst = std::ptr::null_mut();
    let id = CString::new("org.equifx.Exposure").unwrap();
    assert_eq!(
        equifx_instance_new(id.as_ptr(), &mut inst),
        equifx_status::EQUIFX_STATUS_OK
    );
    let (fi, fo) = (frame(&mut src), frame(&mut dst));
    g.bench_function("abi_passthrough", |b| {
        b.iter(|| {
            assert_eq!(
                equifx_instance_render(inst, &fi, 1, &fo, 0, std::ptr::null()),
                equifx_status::EQUIFX_STATUS_OK
            )
        })
    });
    let name = CString::new("exposure").unwrap();
    assert_eq!(
        equifx_instance_set_float(inst, name.as_ptr(), 1.0),
        equifx_status::EQUIFX_STATUS_OK
    );
    g.bench_function("abi_exposure", |b| {
        b.iter(|| {
            assert_eq!(
                equifx_instance_render(inst, &fi, 1, &fo, 0, std::ptr::null()),
                equifx_status::EQUIFX_STATUS_OK
            )
        })
    });
    equifx_instance_free(inst);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
