//! Image readers beyond the frames equifx writes: JPEG (RGB, greyscale, CMYK,
//! EXIF orientation), WebP, palette / 16-bit / grey+alpha PNG, and broken or
//! hostile inputs.
//!
//! Every expected value comes from an independent oracle: the source pixels we
//! encoded, a file built here byte by byte, the EXIF specification's
//! row/column mapping or the naive ink model for CMYK — never from the
//! reader's own output.

use std::path::{Path, PathBuf};
use std::process::Command;

use equifx::frame::{linear_to_srgb, srgb_to_linear, Image};
use equifx::io::{
    decode_with_image_crate, read_image, write_image, Depth, FileKind, READABLE_EXTENSIONS,
};

// ---------------------------------------------------------------- helpers --

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Linear RGBA of pixel (x, y) of the working image.
fn px(img: &Image, x: usize, y: usize) -> [f32; 4] {
    let p = y * img.width() + x;
    [0, 1, 2, 3].map(|c| img.plane(c)[p])
}

/// The unrounded 8-bit sRGB code of a linear value.
fn code8(v: f32) -> f32 {
    linear_to_srgb(v) * 255.0
}

/// The unrounded 16-bit sRGB code of a linear value.
fn code16(v: f32) -> f32 {
    linear_to_srgb(v) * 65535.0
}

/// The error must name the file it is about.
fn assert_names_path(err: &equifx::Error, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.contains(&*path.to_string_lossy()),
        "error does not mention the path {}: {msg}",
        path.display()
    );
}

fn jpeg_with_image_crate(w: u32, h: u32, data: &[u8], colour: image::ExtendedColorType) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode(data, w, h, colour)
        .unwrap();
    out
}

/// Header segments of a JPEG up to and including SOS: (marker, offset of its
/// 0xFF, length in bytes including the two marker bytes).
fn jpeg_segments(j: &[u8]) -> Vec<(u8, usize, usize)> {
    assert_eq!(&j[..2], &[0xFF, 0xD8], "not a JPEG (no SOI)");
    let mut out = Vec::new();
    let mut i = 2;
    loop {
        assert_eq!(j[i], 0xFF, "segment does not start with 0xFF at {i}");
        let marker = j[i + 1];
        let len = 2 + usize::from(u16::from_be_bytes([j[i + 2], j[i + 3]]));
        out.push((marker, i, len));
        i += len;
        if marker == 0xDA {
            return out;
        }
    }
}

/// A minimal APP1 Exif segment, built by hand: "Exif\0\0", then a TIFF
/// header (byte order, 42, offset of IFD0 = 8), IFD0 with one entry
/// (tag 0x0112 Orientation, type 3 SHORT, count 1, value left-justified in
/// the 4-byte field) and a next-IFD offset of 0.
fn exif_app1(orientation: u16, big_endian: bool) -> Vec<u8> {
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut tiff = Vec::new();
    tiff.extend_from_slice(if big_endian { b"MM" } else { b"II" });
    tiff.extend_from_slice(&u16b(42));
    tiff.extend_from_slice(&u32b(8));
    tiff.extend_from_slice(&u16b(1));
    tiff.extend_from_slice(&u16b(0x0112));
    tiff.extend_from_slice(&u16b(3));
    tiff.extend_from_slice(&u32b(1));
    tiff.extend_from_slice(&u16b(orientation));
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&u32b(0));
    app1_exif_segment(&tiff)
}

/// Wraps a TIFF-structured block into an APP1 "Exif\0\0" segment.
fn app1_exif_segment(tiff: &[u8]) -> Vec<u8> {
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(tiff);
    seg
}

/// The JPEG with `segment` inserted right after the SOI marker.
fn insert_after_soi(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A zlib stream made of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len())); // BFINAL, BTYPE = 00 (stored)
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A PNG built by hand from raw rows (each row's sample bytes, filter type 0
/// is prepended here); `extra` chunks (PLTE, tRNS) go before IDAT.
fn png_bytes(
    (w, h): (u32, u32),
    bit_depth: u8,
    colour_type: u8,
    rows: &[Vec<u8>],
    extra: &[(&[u8; 4], Vec<u8>)],
) -> Vec<u8> {
    assert_eq!(rows.len(), h as usize);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, colour_type, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    for (kind, data) in extra {
        png_chunk(&mut out, kind, data);
    }
    let raw: Vec<u8> = rows
        .iter()
        .flat_map(|r| std::iter::once(0u8).chain(r.iter().copied()))
        .collect();
    png_chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A small deterministic RGB PNG (12×7) and its codes, for content sniffing.
fn small_rgb_png() -> (Vec<u8>, Vec<[u8; 3]>) {
    let (w, h) = (12usize, 7usize);
    let codes: Vec<[u8; 3]> = (0..w * h)
        .map(|p| {
            let (x, y) = (p % w, p / w);
            [(20 * x) as u8, (35 * y) as u8, (7 * x + 11 * y + 3) as u8]
        })
        .collect();
    let rows: Vec<Vec<u8>> = (0..h)
        .map(|y| {
            codes[y * w..(y + 1) * w]
                .iter()
                .flatten()
                .copied()
                .collect()
        })
        .collect();
    (png_bytes((w as u32, h as u32), 8, 2, &rows, &[]), codes)
}

// ------------------------------------------------------------- extensions --

#[test]
fn file_kind_accepts_jpeg_and_webp_extensions_in_any_case() {
    for name in [
        "a.jpg",
        "a.jpeg",
        "a.JPG",
        "a.JPEG",
        "a.Jpeg",
        "dir.x/b.jpg",
    ] {
        assert_eq!(
            FileKind::from_path(Path::new(name)).unwrap(),
            FileKind::Jpeg,
            "{name}"
        );
    }
    for name in ["a.webp", "a.WEBP", "a.WebP"] {
        assert_eq!(
            FileKind::from_path(Path::new(name)).unwrap(),
            FileKind::Webp,
            "{name}"
        );
    }
    assert!(!FileKind::Jpeg.is_writable());
    assert!(!FileKind::Webp.is_writable());
    for ext in ["jpg", "jpeg", "webp"] {
        assert!(READABLE_EXTENSIONS.contains(&ext), "{ext}");
    }
    for name in ["a.gif", "a.jpg.bak", "a", "a.jp"] {
        let e = FileKind::from_path(Path::new(name)).unwrap_err();
        assert_names_path(&e, Path::new(name));
    }
}

// ------------------------------------------------------------------- JPEG --

/// Quality-95 baseline JPEG of a smooth gradient. Tolerance: at quality 95
/// the quantiser steps are about a tenth of the standard tables (1–3 codes),
/// so a smooth ramp, 4:2:0 chroma included, comes back with a mean absolute
/// error below 2 codes per channel and no sample off by more than 10 codes.
#[test]
fn rgb_jpeg_q95_round_trips_a_smooth_gradient_within_jpeg_tolerance() {
    let (w, h) = (64usize, 48usize);
    let src: Vec<u8> = (0..w * h)
        .flat_map(|p| {
            let (x, y) = ((p % w) as f32, (p / w) as f32);
            let (u, v) = (x / (w - 1) as f32, y / (h - 1) as f32);
            [
                (255.0 * u).round() as u8,
                (255.0 * v).round() as u8,
                (40.0 + 170.0 * (u + v) / 2.0).round() as u8,
            ]
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "gradient.jpg",
        &jpeg_with_image_crate(w as u32, h as u32, &src, image::ExtendedColorType::Rgb8),
    );
    let loaded = read_image(&path).unwrap();
    assert_eq!((loaded.image.width(), loaded.image.height()), (w, h));
    assert_eq!(loaded.depth, Depth::U8);
    assert!(!loaded.has_alpha);
    let mut sum = [0.0f64; 3];
    let mut max = [0.0f32; 3];
    for y in 0..h {
        for x in 0..w {
            let got = px(&loaded.image, x, y);
            assert_eq!(got[3], 1.0, "JPEG alpha must be opaque at ({x}, {y})");
            for c in 0..3 {
                let d = (code8(got[c]) - f32::from(src[(y * w + x) * 3 + c])).abs();
                sum[c] += f64::from(d);
                max[c] = max[c].max(d);
            }
        }
    }
    let mean = sum.map(|s| s / (w * h) as f64);
    println!("q95 JPEG gradient: mean abs error {mean:?} codes, max {max:?} codes");
    for c in 0..3 {
        assert!(
            mean[c] < 2.0,
            "channel {c}: mean abs error {} codes",
            mean[c]
        );
        assert!(
            max[c] <= 10.0,
            "channel {c}: max abs error {} codes",
            max[c]
        );
    }
}

#[test]
fn greyscale_jpeg_reads_as_equal_rgb() {
    let (w, h) = (48usize, 40usize);
    let src: Vec<u8> = (0..w * h)
        .map(|p| (16 + (p % w) * 3 + (p / w) * 2) as u8)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "grey.jpeg",
        &jpeg_with_image_crate(w as u32, h as u32, &src, image::ExtendedColorType::L8),
    );
    assert_eq!(
        decode_with_image_crate(&path).unwrap().color(),
        image::ColorType::L8,
        "a one-component JPEG decodes as luma"
    );
    let loaded = read_image(&path).unwrap();
    assert_eq!((loaded.image.width(), loaded.image.height()), (w, h));
    assert!(!loaded.has_alpha);
    let mut sum = 0.0f64;
    for y in 0..h {
        for x in 0..w {
            let [r, g, b, a] = px(&loaded.image, x, y);
            assert!(
                r.to_bits() == g.to_bits() && g.to_bits() == b.to_bits(),
                "({x}, {y}): R, G, B = {r}, {g}, {b}"
            );
            assert_eq!(a, 1.0);
            sum += f64::from((code8(r) - f32::from(src[y * w + x])).abs());
        }
    }
    let mean = sum / (w * h) as f64;
    assert!(mean < 2.0, "grey mean abs error {mean} codes");
}

/// CMYK patches as ink amounts (0 = no ink, 255 = full) and the RGB the
/// naive ink model gives: R = 255 (1 − C)(1 − K), G = 255 (1 − M)(1 − K),
/// B = 255 (1 − Y)(1 − K). No ICC profile is involved, so this is the only
/// conversion a decoder can apply.
const CMYK_PATCHES: [(&str, [u8; 4]); 8] = [
    ("cyan", [255, 0, 0, 0]),
    ("magenta", [0, 255, 0, 0]),
    ("yellow", [0, 0, 255, 0]),
    ("white", [0, 0, 0, 0]),
    ("black", [0, 0, 0, 255]),
    ("red", [0, 255, 255, 0]),
    ("half K", [0, 0, 0, 128]),
    ("mix", [128, 64, 0, 64]),
];

fn cmyk_to_rgb_oracle([c, m, y, k]: [u8; 4]) -> [f32; 3] {
    let f = |v: u8| 1.0 - f32::from(v) / 255.0;
    [
        255.0 * f(c) * f(k),
        255.0 * f(m) * f(k),
        255.0 * f(y) * f(k),
    ]
}

#[test]
fn cmyk_jpeg_patches_decode_to_their_rgb() {
    // 4 × 2 patches of 16 × 16 px, aligned to the 8 × 8 DCT blocks.
    let (w, h, s) = (64usize, 32usize, 16usize);
    let patch = |x: usize, y: usize| (y / s) * 4 + x / s;
    let cmyk: Vec<u8> = (0..w * h)
        .flat_map(|p| CMYK_PATCHES[patch(p % w, p / w)].1)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for (name, colour, tol) in [
        // Adobe APP14 transform 0: CMYK stored as it is (inverted, as Adobe does).
        ("cmyk.jpg", jpeg_encoder::ColorType::Cmyk, 4.0f32),
        // Adobe APP14 transform 2: YCCK, CMY through YCbCr, so a little more loss.
        ("ycck.jpg", jpeg_encoder::ColorType::CmykAsYcck, 6.0),
    ] {
        let mut bytes = Vec::new();
        jpeg_encoder::Encoder::new(&mut bytes, 95)
            .encode(&cmyk, w as u16, h as u16, colour)
            .unwrap();
        let path = write_file(dir.path(), name, &bytes);
        let loaded = match read_image(&path) {
            Ok(l) => l,
            Err(e) => panic!("{name}: the reader cannot decode a 4-component JPEG: {e}"),
        };
        assert_eq!(
            (loaded.image.width(), loaded.image.height()),
            (w, h),
            "{name}"
        );
        assert!(!loaded.has_alpha, "{name}: K must not become alpha");
        for (i, (patch_name, ink)) in CMYK_PATCHES.iter().enumerate() {
            let (x0, y0) = ((i % 4) * s, (i / 4) * s);
            // The 8 × 8 interior, away from any ringing at patch edges.
            let mut mean = [0.0f32; 4];
            for y in y0 + 4..y0 + 12 {
                for x in x0 + 4..x0 + 12 {
                    let p = px(&loaded.image, x, y);
                    for c in 0..3 {
                        mean[c] += code8(p[c]) / 64.0;
                    }
                    mean[3] += p[3] / 64.0;
                }
            }
            let want = cmyk_to_rgb_oracle(*ink);
            for c in 0..3 {
                assert!(
                    (mean[c] - want[c]).abs() <= tol,
                    "{name}, {patch_name} patch {ink:?}: got RGB {:?}, expected {want:?} (±{tol})",
                    &mean[..3]
                );
            }
            assert!((mean[3] - 1.0).abs() < 1e-6, "{name}: alpha {}", mean[3]);
        }
    }
}

// ------------------------------------------------------- EXIF orientation --

/// 4 × 2 blocks of 16 × 16 px, each a distinct saturated colour.
const GRID_COLOURS: [[u8; 3]; 8] = [
    [230, 25, 25],   // red
    [25, 200, 25],   // green
    [25, 25, 230],   // blue
    [240, 240, 30],  // yellow
    [30, 230, 230],  // cyan
    [230, 30, 230],  // magenta
    [245, 245, 245], // white
    [15, 15, 15],    // black
];
const GRID_W: usize = 64;
const GRID_H: usize = 32;
const BLOCK: usize = 16;

fn grid_block(x: usize, y: usize) -> usize {
    (y / BLOCK) * (GRID_W / BLOCK) + x / BLOCK
}

fn grid_jpeg() -> Vec<u8> {
    let rgb: Vec<u8> = (0..GRID_W * GRID_H)
        .flat_map(|p| GRID_COLOURS[grid_block(p % GRID_W, p / GRID_W)])
        .collect();
    jpeg_with_image_crate(
        GRID_W as u32,
        GRID_H as u32,
        &rgb,
        image::ExtendedColorType::Rgb8,
    )
}

/// Which stored pixel shows at display position (dx, dy), from the EXIF
/// definitions of the orientation tag (stored image `w × h`):
/// 1: row 0 is the visual top, column 0 the visual left;
/// 3: row 0 is the visual bottom, column 0 the visual right;
/// 6: row 0 is the visual right side, column 0 the visual top;
/// 8: row 0 is the visual left side, column 0 the visual bottom.
fn stored_of_display(orientation: u16, dx: usize, dy: usize, w: usize, h: usize) -> (usize, usize) {
    match orientation {
        1 => (dx, dy),
        3 => (w - 1 - dx, h - 1 - dy),
        // Display is h wide: stored row y sits in display column h − 1 − y.
        6 => (dy, h - 1 - dx),
        // Display is w tall: stored column x sits in display row w − 1 − x.
        8 => (w - 1 - dy, dx),
        _ => unreachable!(),
    }
}

/// Checks every display block centre against the colour the oracle expects.
fn assert_grid_displayed(img: &Image, orientation: u16, what: &str) {
    let (dw, dh) = (img.width(), img.height());
    for by in 0..dh / BLOCK {
        for bx in 0..dw / BLOCK {
            let (dx, dy) = (bx * BLOCK + BLOCK / 2, by * BLOCK + BLOCK / 2);
            let (sx, sy) = stored_of_display(orientation, dx, dy, GRID_W, GRID_H);
            let want = GRID_COLOURS[grid_block(sx, sy)];
            let p = px(img, dx, dy);
            let got = [code8(p[0]), code8(p[1]), code8(p[2])];
            let dist = |c: &[u8; 3]| -> f32 {
                (0..3)
                    .map(|i| (got[i] - f32::from(c[i])).powi(2))
                    .sum::<f32>()
            };
            let nearest = GRID_COLOURS
                .iter()
                .min_by(|a, b| dist(a).total_cmp(&dist(b)))
                .unwrap();
            assert_eq!(
                *nearest, want,
                "{what}: display block ({bx}, {by}) shows {got:?}, expected {want:?}"
            );
            for c in 0..3 {
                assert!(
                    (got[c] - f32::from(want[c])).abs() <= 16.0,
                    "{what}: display block ({bx}, {by}) shows {got:?}, expected {want:?}"
                );
            }
        }
    }
}

#[test]
fn exif_orientation_1_3_6_8_puts_the_corners_where_the_rotation_does() {
    let plain = grid_jpeg();
    let dir = tempfile::tempdir().unwrap();
    for orientation in [1u16, 3, 6, 8] {
        for big_endian in [false, true] {
            let what = format!(
                "orientation {orientation} ({})",
                if big_endian { "MM" } else { "II" }
            );
            let bytes = insert_after_soi(&plain, &exif_app1(orientation, big_endian));
            let path = write_file(
                dir.path(),
                &format!("o{orientation}{}.jpg", u8::from(big_endian)),
                &bytes,
            );
            let loaded = read_image(&path).unwrap();
            let dims = (loaded.image.width(), loaded.image.height());
            let want_dims = if orientation >= 5 {
                (GRID_H, GRID_W)
            } else {
                (GRID_W, GRID_H)
            };
            assert_eq!(dims, want_dims, "{what}: display size");
            let raw = decode_with_image_crate(&path).unwrap();
            assert_eq!(
                (raw.width() as usize, raw.height() as usize),
                want_dims,
                "{what}: decode_with_image_crate size"
            );
            assert_grid_displayed(&loaded.image, orientation, &what);
        }
    }
}

/// An orientation value outside 1..=8, or an Exif block whose IFD offset
/// points outside it, loses the rotation but never the picture.
#[test]
fn invalid_or_broken_exif_keeps_the_picture_as_stored() {
    let plain = grid_jpeg();
    let dir = tempfile::tempdir().unwrap();
    let mut dangling = b"II".to_vec();
    dangling.extend_from_slice(&42u16.to_le_bytes());
    dangling.extend_from_slice(&4000u32.to_le_bytes());
    for (name, segment) in [
        ("orientation0.jpg", exif_app1(0, false)),
        ("orientation9.jpg", exif_app1(9, true)),
        ("dangling_ifd.jpg", app1_exif_segment(&dangling)),
        ("not_tiff.jpg", app1_exif_segment(b"XXXX not a TIFF header")),
    ] {
        let path = write_file(dir.path(), name, &insert_after_soi(&plain, &segment));
        let loaded = read_image(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (loaded.image.width(), loaded.image.height()),
            (GRID_W, GRID_H),
            "{name}"
        );
        assert_grid_displayed(&loaded.image, 1, name);
    }
}

// -------------------------------------------------------------------- PNG --

#[test]
fn palette_png_expands_through_plte_and_trns() {
    let palette: [[u8; 3]; 5] = [
        [255, 0, 0],
        [0, 128, 255],
        [10, 20, 30],
        [250, 240, 1],
        [77, 77, 77],
    ];
    let trns: [u8; 3] = [0, 128, 255]; // entries 3 and 4 stay opaque
    let (w, h) = (5usize, 3usize);
    let index = |x: usize, y: usize| ((x * 3 + y * 2) % palette.len()) as u8;
    let plte: Vec<u8> = palette.iter().flatten().copied().collect();
    let dir = tempfile::tempdir().unwrap();
    for bit_depth in [8u8, 4] {
        for with_trns in [true, false] {
            let rows: Vec<Vec<u8>> = (0..h)
                .map(|y| {
                    let idx: Vec<u8> = (0..w).map(|x| index(x, y)).collect();
                    if bit_depth == 8 {
                        idx
                    } else {
                        // Two 4-bit indices per byte, high nibble first; the
                        // odd width leaves the last low nibble as padding.
                        idx.chunks(2)
                            .map(|c| (c[0] << 4) | c.get(1).copied().unwrap_or(0))
                            .collect()
                    }
                })
                .collect();
            let mut extra = vec![(b"PLTE", plte.clone())];
            if with_trns {
                extra.push((b"tRNS", trns.to_vec()));
            }
            let bytes = png_bytes((w as u32, h as u32), bit_depth, 3, &rows, &extra);
            let name = format!("palette{bit_depth}_{}.png", u8::from(with_trns));
            let path = write_file(dir.path(), &name, &bytes);
            let loaded = read_image(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (loaded.image.width(), loaded.image.height()),
                (w, h),
                "{name}"
            );
            assert_eq!(loaded.depth, Depth::U8, "{name}");
            assert_eq!(loaded.has_alpha, with_trns, "{name}");
            for y in 0..h {
                for x in 0..w {
                    let i = usize::from(index(x, y));
                    let got = px(&loaded.image, x, y);
                    for c in 0..3 {
                        let want = srgb_to_linear(f32::from(palette[i][c]) / 255.0);
                        assert!(
                            (got[c] - want).abs() <= 1e-6,
                            "{name} ({x}, {y}) index {i} channel {c}: {} vs {want}",
                            got[c]
                        );
                    }
                    let want_a = if with_trns && i < trns.len() {
                        f32::from(trns[i]) / 255.0
                    } else {
                        1.0
                    };
                    assert!(
                        (got[3] - want_a).abs() <= 1e-6,
                        "{name} ({x}, {y}) alpha {} vs {want_a}",
                        got[3]
                    );
                }
            }
        }
    }
}

/// 16-bit codes chosen so that almost none is a multiple of 257 (an 8-bit
/// value widened): only a reader that keeps 16 bits gets them back.
#[test]
fn sixteen_bit_png_keeps_codes_beyond_8_bit_precision() {
    let (w, h) = (64usize, 4usize);
    let rgba = |x: usize, y: usize| -> [u16; 4] {
        let r = (x * 1021 + y * 7) as u16;
        [
            r,
            65535 - r,
            (30_000 + x + 1000 * y) as u16, // neighbours one code apart
            (40_000 + x * 300 + y) as u16,
        ]
    };
    let rows: Vec<Vec<u8>> = (0..h)
        .map(|y| {
            (0..w)
                .flat_map(|x| rgba(x, y))
                .flat_map(u16::to_be_bytes)
                .collect()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "rgba16.png",
        &png_bytes((w as u32, h as u32), 16, 6, &rows, &[]),
    );
    let loaded = read_image(&path).unwrap();
    assert_eq!(loaded.depth, Depth::U16);
    assert!(loaded.has_alpha);
    assert_eq!((loaded.image.width(), loaded.image.height()), (w, h));
    for y in 0..h {
        for x in 0..w {
            let want = rgba(x, y);
            let got = px(&loaded.image, x, y);
            for c in 0..3 {
                let d = (code16(got[c]) - f32::from(want[c])).abs();
                assert!(
                    d <= 0.5,
                    "({x}, {y}) channel {c}: code {} vs {}",
                    code16(got[c]),
                    want[c]
                );
            }
            // Alpha is linear: the code divided by 65535 exactly.
            assert_eq!(got[3], f32::from(want[3]) / 65535.0, "({x}, {y}) alpha");
        }
    }

    // 16-bit greyscale: R = G = B and the grey codes survive too.
    let grey = |x: usize| (x * 997 + 3) as u16;
    let rows: Vec<Vec<u8>> = (0..2)
        .map(|_| (0..w).flat_map(|x| grey(x).to_be_bytes()).collect())
        .collect();
    let path = write_file(
        dir.path(),
        "grey16.png",
        &png_bytes((w as u32, 2), 16, 0, &rows, &[]),
    );
    let loaded = read_image(&path).unwrap();
    assert_eq!(loaded.depth, Depth::U16);
    assert!(!loaded.has_alpha);
    for x in 0..w {
        let [r, g, b, a] = px(&loaded.image, x, 1);
        assert!(r == g && g == b, "({x}, 1): {r} {g} {b}");
        assert!(
            (code16(r) - f32::from(grey(x))).abs() <= 0.5,
            "grey x = {x}"
        );
        assert_eq!(a, 1.0);
    }
}

#[test]
fn grey_alpha_png_reads_as_equal_rgb_with_its_alpha() {
    let (w, h) = (6usize, 4usize);
    let la =
        |x: usize, y: usize| -> [u16; 2] { [(40 * x + y) as u16, (255 - 30 * x - 5 * y) as u16] };
    let dir = tempfile::tempdir().unwrap();
    for bits in [8u8, 16] {
        // 16-bit: the same values spread over the 16-bit range, off the
        // multiples of 257 an 8-bit value would widen to.
        let widen = |v: u16| if bits == 8 { v } else { v * 256 + 37 };
        let rows: Vec<Vec<u8>> = (0..h)
            .map(|y| {
                (0..w)
                    .flat_map(|x| la(x, y).map(widen))
                    .flat_map(|v| {
                        if bits == 8 {
                            vec![v as u8]
                        } else {
                            v.to_be_bytes().to_vec()
                        }
                    })
                    .collect()
            })
            .collect();
        let name = format!("grey_alpha{bits}.png");
        let path = write_file(
            dir.path(),
            &name,
            &png_bytes((w as u32, h as u32), bits, 4, &rows, &[]),
        );
        let loaded = read_image(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.has_alpha, "{name}");
        assert_eq!(
            loaded.depth,
            if bits == 8 { Depth::U8 } else { Depth::U16 },
            "{name}"
        );
        let full = if bits == 8 { 255.0 } else { 65535.0 };
        for y in 0..h {
            for x in 0..w {
                let [l, a] = la(x, y).map(widen);
                let [r, g, b, alpha] = px(&loaded.image, x, y);
                assert!(r == g && g == b, "{name} ({x}, {y}): {r} {g} {b}");
                let want = srgb_to_linear(f32::from(l) / full);
                assert!(
                    (r - want).abs() <= 1e-6,
                    "{name} ({x}, {y}) grey {r} vs {want}"
                );
                // Straight alpha: the grey is not multiplied by it.
                assert!(
                    (alpha - f32::from(a) / full).abs() <= 1e-6,
                    "{name} ({x}, {y}) alpha {alpha} vs {}",
                    f32::from(a) / full
                );
            }
        }
    }
}

// ------------------------------------------------------------------- WebP --

#[test]
fn lossless_webp_round_trips_exact_codes() {
    let (w, h) = (24usize, 16usize);
    let rgba: Vec<u8> = (0..w * h)
        .flat_map(|p| {
            let (x, y) = (p % w, p / w);
            [
                (10 * x) as u8,
                (15 * y) as u8,
                (x * y % 256) as u8,
                (1 + (x * 16 + y * 7) % 255) as u8, // never 0: colour under α = 0 may be dropped
            ]
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut bytes)
        .encode(&rgba, w as u32, h as u32, image::ExtendedColorType::Rgba8)
        .unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WEBP");
    let path = write_file(dir.path(), "lossless.webp", &bytes);
    let loaded = read_image(&path).unwrap();
    assert_eq!((loaded.image.width(), loaded.image.height()), (w, h));
    assert_eq!(loaded.depth, Depth::U8);
    assert!(loaded.has_alpha);
    for y in 0..h {
        for x in 0..w {
            let want = &rgba[(y * w + x) * 4..][..4];
            let got = px(&loaded.image, x, y);
            for c in 0..3 {
                assert!(
                    (code8(got[c]) - f32::from(want[c])).abs() < 0.01,
                    "({x}, {y}) channel {c}: {} vs {}",
                    code8(got[c]),
                    want[c]
                );
            }
            assert_eq!(got[3], f32::from(want[3]) / 255.0, "({x}, {y}) alpha");
        }
    }
}

#[test]
fn file_named_webp_holding_png_bytes_is_decoded_by_its_content() {
    let (png, codes) = small_rgb_png();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "really_a_png.webp", &png);
    let loaded = read_image(&path).unwrap();
    assert_eq!((loaded.image.width(), loaded.image.height()), (12, 7));
    for (p, want) in codes.iter().enumerate() {
        let got = px(&loaded.image, p % 12, p / 12);
        for c in 0..3 {
            assert!(
                (code8(got[c]) - f32::from(want[c])).abs() < 0.01,
                "pixel {p} channel {c}"
            );
        }
    }
    // And the other way round: JPEG bytes behind a .png name.
    let jpeg = grid_jpeg();
    let path = write_file(dir.path(), "really_a_jpeg.png", &jpeg);
    let loaded = read_image(&path).unwrap();
    assert_grid_displayed(&loaded.image, 1, "JPEG named .png");
}

// -------------------------------------------------------------- bad input --

/// A deterministic byte soup (no JPEG, PNG, RIFF or TIFF magic at the start).
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    let mut v: Vec<u8> = (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 56) as u8
        })
        .collect();
    v[0] = 0x42;
    v
}

#[test]
fn corrupt_or_empty_jpegs_are_refused_with_the_path_in_the_error() {
    let full = grid_jpeg();
    let segments = jpeg_segments(&full);
    let &(_, sos_at, sos_len) = segments.last().unwrap();
    let header_end = sos_at + sos_len;
    let &(_, dqt_at, _) = segments.iter().find(|s| s.0 == 0xDB).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Every header segment intact, not one byte of scan data, no EOI.
        ("truncated_after_header.jpg", full[..header_end].to_vec()),
        // Half of the scan data, no EOI: an interrupted download.
        (
            "truncated_mid_scan.jpg",
            full[..header_end + (full.len() - header_end) / 2].to_vec(),
        ),
        // Cut in the middle of the headers (inside the quantisation tables).
        ("truncated_in_header.jpg", full[..dqt_at + 9].to_vec()),
        ("random.jpg", random_bytes(4096, 7)),
        ("empty.jpg", Vec::new()),
        ("soi_only.jpg", vec![0xFF, 0xD8]),
    ];
    let mut failures = Vec::new();
    for (name, bytes) in &cases {
        let path = write_file(dir.path(), name, bytes);
        match read_image(&path) {
            Ok(l) => {
                let codes: Vec<f32> = l.image.data()[..3 * l.image.width() * l.image.height()]
                    .iter()
                    .map(|v| code8(*v))
                    .collect();
                let min = codes.iter().copied().fold(f32::INFINITY, f32::min);
                let max = codes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                failures.push(format!(
                    "{name} ({} of {} bytes): read_image succeeded with a {}×{} image \
                     (sRGB codes {min:.0}..={max:.0})",
                    bytes.len(),
                    full.len(),
                    l.image.width(),
                    l.image.height()
                ))
            }
            Err(e) => {
                println!("{name}: {e}");
                assert_names_path(&e, &path);
            }
        }
        if let Ok(img) = decode_with_image_crate(&path) {
            failures.push(format!(
                "{name}: decode_with_image_crate succeeded with a {}×{} image",
                img.width(),
                img.height()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const HOSTILE_CHILD_ENV: &str = "EQUIFX_TEST_HOSTILE_JPEG";
/// Address-space cap of the child process: far above what decoding a
/// refused header needs, far below the 10.8 GB the header claims.
const CHILD_ADDRESS_SPACE_KIB: u64 = 3 << 20;
const RSS_BOUND_KIB: u64 = 600 << 10;

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A valid small baseline JPEG whose SOF0 claims `w × h`: every header
/// parses, the scan data is far too short for the claimed size.
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut bytes = grid_jpeg();
    let (_, sof_at, _) = *jpeg_segments(&bytes)
        .iter()
        .find(|(m, _, _)| *m == 0xC0)
        .expect("baseline SOF0");
    // FF C0, length (2), precision (1), height (2), width (2).
    bytes[sof_at + 5..sof_at + 7].copy_from_slice(&h.to_be_bytes());
    bytes[sof_at + 7..sof_at + 9].copy_from_slice(&w.to_be_bytes());
    bytes
}

/// Runs in a child process only (started by the test below), so that its
/// peak RSS is its own and an abort cannot take the test harness down.
#[test]
#[ignore = "child process of jpeg_header_claiming_60000_square_fails_cleanly_in_bounded_memory"]
fn hostile_jpeg_child() {
    let Ok(path) = std::env::var(HOSTILE_CHILD_ENV) else {
        return;
    };
    let before = vm_hwm_kib();
    let result = read_image(Path::new(&path));
    let after = vm_hwm_kib();
    match result {
        Ok(l) => println!("CHILD-RESULT ok {}x{}", l.image.width(), l.image.height()),
        Err(e) => println!("CHILD-RESULT err {e}"),
    }
    println!("CHILD-HWM-KIB {before} {after}");
}

#[test]
fn jpeg_header_claiming_60000_square_fails_cleanly_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "huge.jpg", &jpeg_claiming(60_000, 60_000));
    // The header alone parses: the reader must refuse the 60000 × 60000 × 3 =
    // 10.8 GB buffer against its 2 GiB bound instead of trying to allocate it.
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {CHILD_ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(&exe)
        .args([
            "hostile_jpeg_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOSTILE_CHILD_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "child exit: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        out.status.success(),
        "decoding a JPEG header claiming 60000×60000 did not return an error \
         (address space capped at {} MiB):\n{report}",
        CHILD_ADDRESS_SPACE_KIB >> 10
    );
    let result = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("child printed no result:\n{report}"));
    assert!(
        result.starts_with("err ") && result.contains(&*path.to_string_lossy()),
        "expected an error naming {}, got: {result}",
        path.display()
    );
    let hwm: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-HWM-KIB ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("child printed no VmHWM:\n{report}"))
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    println!(
        "{result}\npeak RSS before {} KiB, after {} KiB",
        hwm[0], hwm[1]
    );
    assert!(
        hwm[1] <= RSS_BOUND_KIB,
        "peak RSS {} KiB exceeds {RSS_BOUND_KIB} KiB",
        hwm[1]
    );
}

// ---------------------------------------------------------------- writing --

#[test]
fn write_image_refuses_jpeg_and_webp() {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new(4, 3);
    for name in ["out.jpg", "out.JPEG", "out.webp"] {
        let path = dir.path().join(name);
        let e = write_image(&path, &img, Depth::U8).unwrap_err();
        let msg = e.to_string();
        assert_names_path(&e, &path);
        assert!(
            msg.contains(".png") && msg.contains(".exr"),
            "{name}: the error should say what equifx writes: {msg}"
        );
        assert!(!path.exists(), "{name}: a file was created");
    }
    // The directory holds nothing either (no temporary left behind).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
