//! `scim-host serve --demo` as a child process, for the tests that need the real binary.

#![allow(dead_code)]

#[path = "../../../tests/src/scratch_postgres.rs"]
pub mod scratch_postgres;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `scim-host serve --demo` and what it printed at start.
pub struct Demo {
    pub child: Child,
    pub origin: String,
    pub realm_token: String,
    pub admin_token: String,
}

pub fn start(data_dir: &std::path::Path, env_tokens: Option<(&str, &str)>) -> Demo {
    start_on(data_dir, env_tokens, postgres_store(data_dir).as_deref())
}

/// Like [`start`], on the PostgreSQL store at `store` (if given).
pub fn start_on(data_dir: &std::path::Path, env_tokens: Option<(&str, &str)>, store: Option<&str>) -> Demo {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scim-host"));
    command
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("SCIM_HOST_STORE")
        .env_remove("SCIM_HOST_DEMO_TOKEN")
        .env_remove("SCIM_HOST_DEMO_ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = store {
        command.arg("--store").arg(url);
    }
    if let Some((realm, admin)) = env_tokens {
        command.env("SCIM_HOST_DEMO_TOKEN", realm).env("SCIM_HOST_DEMO_ADMIN_TOKEN", admin);
    }
    spawn(command)
}

/// `scim-host serve --config FILE` on an ephemeral port.
pub fn start_configured(config: &std::path::Path) -> Demo {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scim-host"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .env_remove("SCIM_HOST_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    spawn(command)
}

/// Starts a `scim-host serve` command and waits until it says where it listens.
fn spawn(mut command: Command) -> Demo {
    let mut child = command.spawn().expect("scim-host starts");
    let stderr = child.stderr.take().unwrap();
    let mut demo = Demo { child, origin: String::new(), realm_token: String::new(), admin_token: String::new() };
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        // Keeps draining after the test stops listening: a closed pipe would fail the
        // server's own writes to stderr.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    while demo.origin.is_empty() {
        let line = received.recv_timeout(Duration::from_secs(120)).expect("scim-host says where it listens");
        if let Some(token) = line.strip_prefix("demo realm token: ") {
            demo.realm_token = token.trim().to_string();
        } else if let Some(token) = line.strip_prefix("demo admin token: ") {
            demo.admin_token = token.trim().to_string();
        } else if let Some(origin) = line.strip_prefix("scim-host listening on ") {
            demo.origin = origin.trim().to_string();
        }
    }
    demo
}

/// With `SCIM_TEST_STORE=postgres`, the database that stands for `data_dir`: a fresh one
/// at the first start, the same one at the next (its URL is kept in `data_dir`).
pub fn postgres_store(data_dir: &std::path::Path) -> Option<String> {
    if !scratch_postgres::selected() {
        return None;
    }
    let kept = data_dir.join("store-url");
    let url = std::fs::read_to_string(&kept).unwrap_or_else(|_| {
        let url = scratch_postgres::fresh_database();
        std::fs::write(&kept, &url).expect("the data directory is writable");
        url
    });
    Some(url)
}

/// A test that fails midway leaves no server behind.
impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Stops the server with SIGTERM, as an operator would, and checks it exits cleanly.
    pub fn stop(mut self) {
        let status = Command::new("kill").arg(self.child.id().to_string()).status().expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("scim-host exits");
        assert!(exit.success(), "a clean exit on SIGTERM: {exit:?}");
    }
}
