//! Builds the stock guest for `wasm32-wasip2` and hands its path to the host, which embeds
//! it as the bundled module: a fresh clone needs one cargo command.

#[path = "build_guest.rs"]
mod build_guest;

fn main() {
    let manifest_dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().expect("host/ sits in the workspace");
    let wasm = build_guest::build_guest(root, "scim-guest", "guest");
    println!("cargo:rustc-env=SCIM_HOST_BUNDLED_GUEST={}", wasm.display());
}
