//! Builds the fixture guests the end-to-end tests load next to the bundled one.

#[path = "../host/build_guest.rs"]
mod build_guest;

fn main() {
    let manifest_dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().expect("tests/ sits in the workspace");
    let wasm = build_guest::build_guest(root, "misbehaving-guest", "tests/guests/misbehaving");
    println!("cargo:rustc-env=MISBEHAVING_GUEST={}", wasm.display());
}
