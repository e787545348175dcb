//! Generates the C++ side of the bridge (header and glue) and compiles the glue.

fn main() {
    cxx_build::bridge("src/lib.rs")
        .std("c++17")
        .compile("equifx_cxx_bridge");
    println!("cargo:rerun-if-changed=src/lib.rs");
}
