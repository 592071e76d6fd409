//! Builds the stock guest and hands its path to the host, which embeds it as the bundled
//! module: a fresh clone needs one cargo command.
//!
//! The guest is built for `wasm32-unknown-unknown`, whose standard library imports
//! nothing, and wrapped as a component here (`wit-component`, the encoder `wasm-tools`
//! and `wasm32-wasip2`'s linker use): its only imports are the directory's, so the host
//! links no WASI into its instances.

#[path = "build_guest.rs"]
mod build_guest;

fn main() {
    let manifest_dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().expect("host/ sits in the workspace");
    let core = build_guest::build_guest(root, "scim-stock-guest", "guest/stock", "wasm32-unknown-unknown");
    let module = std::fs::read(&core).expect("the stock guest's core module reads");
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .unwrap_or_else(|e| panic!("making a component of {}: {e:#}", core.display()));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("scim_stock_guest.wasm");
    std::fs::write(&out, component).expect("the component is written");
    println!("cargo:rustc-env=SCIM_HOST_BUNDLED_GUEST={}", out.display());
}
