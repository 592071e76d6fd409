//! Builds the guests the end-to-end tests load next to the bundled one: the misbehaving
//! fixture and the plugin example.

#[path = "../host/build_guest.rs"]
mod build_guest;

fn main() {
    let manifest_dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().expect("tests/ sits in the workspace");
    let wasm = build_guest::build_guest(root, "misbehaving-guest", "tests/guests/misbehaving", "wasm32-wasip2");
    println!("cargo:rustc-env=MISBEHAVING_GUEST={}", wasm.display());
    let wasm = build_guest::build_guest(root, "email-username-guest", "examples/email-username", "wasm32-wasip2");
    println!("cargo:rustc-env=EMAIL_USERNAME_GUEST={}", wasm.display());
}
