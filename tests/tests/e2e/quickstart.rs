//! A plugin author's first hour, as `examples/README.md` tells it: the guide's quickstart
//! block runs as written in an empty directory outside the repository, with the
//! `scim-host` this workspace built on the `PATH`. A new crate builds against the library
//! alone, passes `check-module`, is uploaded to a realm created with a setting, and
//! answers a 201 that shows the setting applied.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Building the new crate compiles its dependencies from nothing, in release mode.
const TIME_ALLOWED: Duration = Duration::from_secs(15 * 60);

#[test]
fn the_plugin_guides_quickstart_reaches_a_201_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace");
    let guide = std::fs::read_to_string(root.join("examples/README.md")).expect("the guide");
    let block = between(&guide, "<!-- quickstart:begin -->\n```sh\n", "```\n<!-- quickstart:end -->");
    // The one change: a free port for the guide's 8080, which another server may hold.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = block.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    assert!(script.contains(&format!("127.0.0.1:{port}/realms/titles")), "the guide's curl goes to port 8080");

    let work = tempfile::tempdir().expect("a temporary directory");
    // Files, not pipes: nothing reads a pipe while the script runs, and a full one would stall it.
    let (out, err) = (work.path().join("stdout"), work.path().join("stderr"));
    let path = format!("{}:{}", scim_host_directory().display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("SCIM_HOST_SRC", root)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        // A group of its own, so that the server it starts in the background goes with it.
        .process_group(0);
    // The outer build's settings must not reach the crate the guide creates.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") || key == "RUSTFLAGS" || key == "RUSTC_WORKSPACE_WRAPPER" {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().expect("bash runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIME_ALLOWED {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Whatever happened, nothing the script started outlives it.
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
    let (stdout, stderr) = (std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(&err).unwrap());
    let status = status.unwrap_or_else(|| panic!("the quickstart ran past {TIME_ALLOWED:?}\n{stdout}\n{stderr}"));
    assert!(status.success(), "the quickstart failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}");

    // The last two lines are curl's: the body, then the status.
    let lines: Vec<&str> = stdout.trim_end().lines().collect();
    let [.., body, code] = lines.as_slice() else { panic!("no answer in\n{stdout}") };
    assert_eq!(*code, "201", "{stdout}\n{stderr}");
    let user: serde_json::Value = serde_json::from_str(body).expect("a SCIM JSON body");
    assert_eq!(user["userName"], "ada");
    assert_eq!(user["title"], "Engineer", "the realm's setting reached the plugin's hook: {body}");
    assert!(stdout.contains("a scim:host@0.1.0 component"), "check-module accepted it:\n{stdout}");
}

/// The text between two markers.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?} in the guide")) + start.len();
    let to = from + text[from..].find(end).unwrap_or_else(|| panic!("no {end:?} in the guide"));
    &text[from..to]
}

/// Where `cargo test --workspace` put the `scim-host` binary: beside this test's `deps/`.
fn scim_host_directory() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let directory = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf();
    assert!(
        directory.join("scim-host").exists(),
        "no scim-host in {}: build it first (`cargo build -p scim-host`; `cargo test --workspace` does)",
        directory.display()
    );
    directory
}
