//! `include/equifx.h` must be exactly what cbindgen generates from the
//! current source: a stale header silently breaks every C host (resvg's
//! off-by-one status codes). Regenerate with
//! `EQUIFX_BLESS=1 cargo test -p equifx-ffi --test header_fresh`.

use std::path::Path;

fn generate() -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let v = |s: &str| s.parse::<u32>().expect("numeric version part");
    let (major, minor, patch) = (
        v(env!("CARGO_PKG_VERSION_MAJOR")),
        v(env!("CARGO_PKG_VERSION_MINOR")),
        v(env!("CARGO_PKG_VERSION_PATCH")),
    );
    config.after_includes = Some(format!(
        "\n#define EQUIFX_VERSION_MAJOR {major}\n#define EQUIFX_VERSION_MINOR {minor}\n#define EQUIFX_VERSION_PATCH {patch}\n\
         /** The version this header was generated for; compare with equifx_version_number(). */\n\
         #define EQUIFX_VERSION_NUMBER {}\n",
        major * 10_000 + minor * 100 + patch
    ));
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

#[test]
fn header_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/equifx.h");
    let fresh = generate();
    if std::env::var_os("EQUIFX_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/equifx.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/equifx.h is stale: run `EQUIFX_BLESS=1 cargo test -p equifx-ffi --test header_fresh` and commit it"
    );
}
