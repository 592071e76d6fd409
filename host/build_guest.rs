//! Builds a guest crate of this workspace for a wasm target: shared by the host's build
//! script (the bundled guest, for `wasm32-unknown-unknown`) and the end-to-end tests'
//! (fixture guests, for `wasm32-wasip2`), included in each with `#[path]`.
//!
//! The nested cargo gets its own target directory under `OUT_DIR`, so it never waits on
//! the lock the outer build holds, and a clean environment, so the outer build's flags
//! (coverage, sanitizers, target-specific rustflags) do not leak into the guest.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `package` (whose sources are under `root/source_dir`) for `target` in release
/// mode and returns the path of its `.wasm`; emits `rerun-if-changed` for every source it
/// was built from.
pub fn build_guest(root: &Path, package: &str, source_dir: &str, target: &str) -> PathBuf {
    ensure_target(target);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = out_dir.join("guest-target");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--package", package, "--target", target])
        .arg("--target-dir")
        .arg(&target_dir)
        // The component is shipped inside the binary: no debug info, no symbols.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        // One unit across crates: the SCIM library is a crate apart from the component
        // that exports it, and without LTO its functions were inlined less (lists of
        // users cost 3% more instructions than when they were one crate).
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
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
            "building {package} for {target} failed; if the target is missing, run \
             `rustup target add {target}`"
        );
    }

    let artifact = package.replace('-', "_");
    let wasm = target_dir.join(format!("{target}/release/{artifact}.wasm"));
    assert!(wasm.exists(), "the build of {package} produced no {}", wasm.display());
    println!("cargo:rerun-if-changed={}", root.join(source_dir).join("Cargo.toml").display());
    // A guest's build script sets its link arguments (the stock guest's initial memory).
    println!("cargo:rerun-if-changed={}", root.join(source_dir).join("build.rs").display());
    rerun_on_dependencies(&target_dir.join(format!("{target}/release/{artifact}.d")), root, source_dir);
    wasm
}

/// Installs the target's standard library through rustup when it is missing, so that a
/// fresh clone builds with one cargo command.
fn ensure_target(target: &str) {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().ok().filter(|o| o.status.success());
    let Some(sysroot) = sysroot.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()) else { return };
    if Path::new(&sysroot).join("lib/rustlib").join(target).exists() {
        return;
    }
    println!("cargo:warning=installing the {target} target with rustup");
    let installed = Command::new("rustup").args(["target", "add", target]).status();
    if !installed.is_ok_and(|s| s.success()) {
        panic!("the {target} target is missing and rustup could not add it; run `rustup target add {target}`");
    }
}

/// Reruns when any source the guest was built from changes, as its `.d` file lists them.
fn rerun_on_dependencies(depfile: &Path, root: &Path, source_dir: &str) {
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    let Ok(text) = std::fs::read_to_string(depfile) else {
        println!("cargo:rerun-if-changed={}", root.join(source_dir).display());
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
