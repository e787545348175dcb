//! Marks the shared library as never unloaded (`-z nodelete`) on ELF
//! platforms. Rust does not run destructors of a library's statics, so a host
//! that dlopens and dlcloses the plugin repeatedly (a plugin scan) would leak
//! them on every cycle; with nodelete, dlclose keeps the one loaded copy and
//! the next dlopen finds it.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
