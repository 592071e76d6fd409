//! Links the wasm component with 2 MiB of linear memory from the start (the stack's 1 MiB,
//! the data, and the heap a page of 100 users needs), not the linker's 1.1 MiB. A guest
//! that grows its memory costs the host two `mprotect`s per call, to open the new pages
//! and to close them again when the instance's slot is reset; without the growth those
//! pages are mapped once and only reset. 2 MiB is the smallest memory limit a realm may
//! have, so every realm can still instantiate it.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=--initial-memory={}", 2 << 20);
    }
}
