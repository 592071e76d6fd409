//! Scratch PostgreSQL databases for the tests: one new database per store a test opens,
//! on the cluster `SCIM_TEST_POSTGRES` names (`.ci/run` starts one), or else on a
//! throw-away cluster this process starts with `scripts/postgres-scratch` and stops at exit.
//!
//! Shared by the end-to-end harness and, through `#[path]`, the host's own tests.

use std::sync::OnceLock;

/// The cluster's URL (its `postgres` database).
pub fn cluster() -> &'static str {
    static CLUSTER: OnceLock<String> = OnceLock::new();
    CLUSTER.get_or_init(|| match std::env::var("SCIM_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => start_cluster(),
    })
}

/// The URL of a new, empty database on the cluster.
pub fn fresh_database() -> String {
    let url = cluster().to_string();
    let name = format!("scim_{}", uuid_like());
    // The sync client runs a runtime of its own: keep it off the caller's (async) thread.
    // FILE_COPY: a copy of the small template, not its every page written to the WAL.
    let create = format!("CREATE DATABASE {name} STRATEGY = FILE_COPY");
    std::thread::spawn(move || {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot reach the test cluster {url}: {e}"));
        admin.batch_execute(&create).expect("a scratch database");
    })
    .join()
    .expect("creating a scratch database");
    drop_at_exit(&name);
    let (base, _) = cluster().rsplit_once('/').expect("a database URL ends in /name");
    format!("{base}/{name}")
}

/// Drops the database at `url`, ending its sessions (a store that goes away).
pub fn drop_database(url: &str) {
    let name = url.rsplit_once('/').expect("a database URL ends in /name").1.to_string();
    let cluster = cluster().to_string();
    std::thread::spawn(move || {
        let mut admin = postgres::Client::connect(&cluster, postgres::NoTls).expect("the test cluster");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("the database drops");
    })
    .join()
    .expect("dropping a database");
}

/// The first column of the rows a query of database `url` selects, as text.
pub fn query(url: &str, sql: &str, params: &[&str]) -> Vec<String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
    // The sync client runs a runtime of its own: keep it off the caller's (async) thread.
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("the database");
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn postgres::types::ToSql + Sync)).collect();
        let rows = client.query(&sql, &params).expect("the query runs");
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    })
    .join()
    .expect("the query thread")
}

/// Whether the tests run the host on PostgreSQL (`SCIM_TEST_STORE=postgres`) rather than
/// on its embedded SQLite store.
pub fn selected() -> bool {
    std::env::var("SCIM_TEST_STORE").is_ok_and(|store| store == "postgres")
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}_{nanos}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn start_cluster() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres-scratch");
    let out = std::process::Command::new("bash").arg(script).output().expect("bash runs");
    assert!(
        out.status.success(),
        "no PostgreSQL for the tests: set SCIM_TEST_POSTGRES to a cluster's URL, or install PostgreSQL \
         (apt-get install postgresql) for {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).expect("a URL").trim().to_string();
    STOP_URL.set(url.clone()).expect("one cluster per process");
    // SAFETY: registers a plain function to run at process exit.
    unsafe { libc::atexit(stop_cluster) };
    url
}

/// Databases this process made, dropped when it exits: a whole test run opens hundreds of
/// stores, and a cluster that kept them all would fill a small disk.
static MADE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn drop_at_exit(name: &str) {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    MADE.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
    // SAFETY: registers a plain function to run at process exit.
    REGISTER.call_once(|| unsafe {
        libc::atexit(drop_made);
    });
}

extern "C" fn drop_made() {
    let names = std::mem::take(&mut *MADE.lock().unwrap_or_else(|e| e.into_inner()));
    let cluster = cluster().to_string();
    // Best effort: a cluster already gone has nothing left to drop.
    let _ = std::thread::spawn(move || {
        let Ok(mut admin) = postgres::Client::connect(&cluster, postgres::NoTls) else { return };
        for name in names {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    })
    .join();
}

static STOP_URL: OnceLock<String> = OnceLock::new();

extern "C" fn stop_cluster() {
    if let Some(url) = STOP_URL.get() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres-scratch");
        let _ = std::process::Command::new("bash").args([script, "stop", url]).status();
    }
}
