//! Builds the stock guest for `wasm32-wasip2` and hands its path to the host, which embeds
//! it as the bundled module: a fresh clone needs one cargo command.
//!
//! The nested cargo gets its own target directory under `OUT_DIR`, so it never waits on
//! the lock the outer build holds, and a clean environment, so the outer build's flags
//! (coverage, sanitizers, target-specific rustflags) do not leak into the guest.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().expect("host/ sits in the workspace").to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = out_dir.join("guest-target");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--package", "scim-guest", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir)
        // The component is shipped inside the binary: no debug info, no symbols.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_ENCODED_RUSTFLAGS")
            || key == "RUSTFLAGS"
            || key.starts_with("CARGO_TARGET_")
            || key.starts_with("CARGO_BUILD_")
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "CARGO_MAKEFLAGS"
        {
            command.env_remove(key);
        }
    }
    let status = command.status().expect("cargo runs");
    if !status.success() {
        panic!(
            "building the guest for wasm32-wasip2 failed; if the target is missing, run \
             `rustup target add wasm32-wasip2`"
        );
    }

    let wasm = target_dir.join("wasm32-wasip2/release/scim_guest.wasm");
    assert!(wasm.exists(), "the guest build produced no {}", wasm.display());
    println!("cargo:rustc-env=SCIM_HOST_BUNDLED_GUEST={}", wasm.display());
    rerun_on_dependencies(&target_dir.join("wasm32-wasip2/release/scim_guest.d"), &root);
}

/// Reruns when any source the guest was built from changes, as its `.d` file lists them.
fn rerun_on_dependencies(depfile: &Path, root: &Path) {
    println!("cargo:rerun-if-changed={}", root.join("guest/Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    let Ok(text) = std::fs::read_to_string(depfile) else {
        println!("cargo:rerun-if-changed={}", root.join("guest/src").display());
        return;
    };
    let Some((_, deps)) = text.split_once(": ") else { return };
    // Paths are space-separated, with spaces inside a path escaped as `\ `.
    let mut paths = vec![String::new()];
    let mut chars = deps.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                chars.next();
                paths.last_mut().unwrap().push(' ');
            }
            ' ' | '\n' => paths.push(String::new()),
            _ => paths.last_mut().unwrap().push(c),
        }
    }
    for path in paths.iter().filter(|p| !p.is_empty() && Path::new(p).starts_with(root)) {
        println!("cargo:rerun-if-changed={path}");
    }
}
