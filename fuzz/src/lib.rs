//! The fuzz targets, as plain functions of the input bytes: afl.rs drives them from
//! `src/bin/` (feature `afl`), and `tests/corpora.rs` replays every committed input through
//! them on each `cargo test`. Each panics when an invariant breaks, which is what a fuzzer
//! reports as a crash:
//!
//! - [`filter`] and [`patch_path`]: the parsers answer every text, never panic;
//! - [`handler`]: the stock handler over the in-memory directory answers every request
//!   with a status below 500 (a 500 is a bug; the directory never fails here), and every
//!   error as a SCIM error body;
//! - [`http`]: the host's router answers every request without a 500, and every error
//!   under `/realms` and `/admin` as a SCIM error body.

use scim_directory::memory::MemoryDirectory;
use scim_guest::{Request, Scope};
use serde_json::Value;
use std::sync::OnceLock;

/// A SCIM filter, as `GET /Users?filter=` carries it.
pub fn filter(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = scim_guest::filter::parse(text);
    }
}

/// A PATCH `path`, and a whole PATCH body applied to a user when the input is JSON.
pub fn patch_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = scim_guest::patch::PatchPath::parse(text);
    if let Ok(body) = serde_json::from_str::<Value>(text)
        && let Ok(ops) = scim_guest::patch::parse_request(scim_guest::Profile::STOCK.user, &body)
    {
        let mut user = serde_json::json!({
            "userName": "ann", "name": { "givenName": "Ann" },
            "emails": [{ "value": "ann@example.org", "type": "work", "primary": true }],
        });
        let user = user.as_object_mut().expect("an object");
        let _ = scim_guest::patch::apply(scim_guest::Profile::STOCK.user, user, &ops);
    }
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The realm every handler input starts from: a user, a group with it, an organization.
fn seeded() -> &'static (MemoryDirectory, String, String, Scope) {
    static SEEDED: OnceLock<(MemoryDirectory, String, String, Scope)> = OnceLock::new();
    SEEDED.get_or_init(|| {
        let mut dir = MemoryDirectory::new();
        let org = dir.add_organization("acme");
        let acme = Scope::Organization { id: org, alias: "acme".into() };
        let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann","externalId":"x-ann"}"#;
        let answer = scim_guest::handle(&mut dir, acme.clone(), &request("POST", "/Users", vec![], user.as_bytes()));
        let user_id = id_of(&answer.body);
        let group = format!(r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{{"value":"{user_id}"}}]}}"#);
        let answer = scim_guest::handle(&mut dir, acme.clone(), &request("POST", "/Groups", vec![], group.as_bytes()));
        let group_id = id_of(&answer.body);
        (dir, user_id, group_id, acme)
    })
}

fn id_of(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).expect("the seed is answered with JSON");
    body["id"].as_str().expect("the seed is created").to_string()
}

fn request(method: &str, path: &str, query: Vec<(String, String)>, body: &[u8]) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        query,
        headers: vec![("content-type".into(), "application/scim+json".into())],
        body: body.to_vec(),
        base_url: "https://scim.example/realms/r/scim/v2".into(),
    }
}

/// One request to the stock handler: byte 0 picks the method, byte 1 the path, byte 2 the
/// scope; then a query string (`k=v&…`) up to a NUL byte, and the body.
pub fn handler(data: &[u8]) {
    let [method, path, scope, rest @ ..] = data else { return };
    let (dir, user, group, acme) = seeded();
    let paths = [
        "/Users".to_string(),
        format!("/Users/{user}"),
        "/Groups".to_string(),
        format!("/Groups/{group}"),
        "/Bulk".to_string(),
        "/Users/.search".to_string(),
        "/.search".to_string(),
        "/Schemas".to_string(),
        "/ResourceTypes".to_string(),
        "/ServiceProviderConfig".to_string(),
    ];
    let (query, body) = match rest.iter().position(|b| *b == 0) {
        Some(nul) => (&rest[..nul], &rest[nul + 1..]),
        None => (&[][..], rest),
    };
    let query = String::from_utf8_lossy(query)
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let request = request(METHODS[*method as usize % METHODS.len()], &paths[*path as usize % paths.len()], query, body);
    let scope = if scope % 2 == 0 { Scope::Realm } else { acme.clone() };
    let mut dir = dir.clone();
    let response = scim_guest::handle(&mut dir, scope, &request);
    assert!(response.status < 500, "{} {}: {}", request.method, request.path, String::from_utf8_lossy(&response.body));
    if response.status >= 400 {
        assert_scim_error(&response.body);
    }
}

fn assert_scim_error(body: &[u8]) {
    let body: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("an error body that is not JSON ({e}): {}", String::from_utf8_lossy(body)));
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{body}");
}

/// The realm token the HTTP target sends unless the input names its own.
const TOKEN: &str = "fuzz-realm-token";
const ADMIN_TOKEN: &str = "fuzz-admin-token";

/// The host's router over a temporary store, and a runtime to drive it.
fn host() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static HOST: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    HOST.get_or_init(|| {
        use scim_host::auth::TokenHash;
        use scim_host::config::{Config, ModuleSource, OrganizationConfig, RealmConfig};
        let data = tempfile::tempdir().expect("a temporary directory").keep();
        let mut config = Config::empty(data);
        config.admin_tokens = vec![TokenHash::of(ADMIN_TOKEN)];
        let organizations = vec![OrganizationConfig { alias: "acme".into(), name: None }];
        let realm = RealmConfig {
            store: None,
            module: ModuleSource::Bundled,
            tokens: vec![TokenHash::of(TOKEN)],
            organizations,
            limits: None,
            settings: Default::default(),
        };
        config.realms.insert("demo".into(), realm);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        // Compiled code is kept across processes: afl forks a fresh one every few thousand
        // inputs, and compiling the guest anew in each took longer than afl's timeout.
        let compiled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-compiled");
        let pool = scim_host::runtime::PoolSize { concurrent_calls: 4 };
        let wasm = scim_host::runtime::Runtime::new(pool, Some(compiled)).expect("the wasm runtime");
        let app = runtime
            .block_on(async { scim_host::App::with_runtime(config, std::sync::Arc::new(wasm)) })
            .expect("the host starts");
        let router = scim_host::http::router(std::sync::Arc::new(app));
        (runtime, router)
    })
}

/// One HTTP request to the host: the method on the first line, the path and query on the
/// second, headers (`name: value`) up to an empty line, then the body. The realm token is
/// added when the input sends no `authorization` header.
pub fn http(data: &[u8]) {
    use tower::ServiceExt as _;
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let method = lines.next().unwrap_or("GET");
    let uri = format!("/{}", lines.next().unwrap_or("").trim_start_matches('/'));
    let mut builder = axum::http::Request::builder().method(method).uri(&uri);
    let mut authorized = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            authorized |= name.trim().eq_ignore_ascii_case("authorization");
            builder = builder.header(name.trim(), value.trim());
        }
    }
    if !authorized {
        let token = if uri.starts_with("/admin") { ADMIN_TOKEN } else { TOKEN };
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let Ok(request) = builder.body(axum::body::Body::from(body.to_string())) else { return };
    let (runtime, router) = host();
    let response = runtime.block_on(async {
        let response = router.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 64 << 20).await.unwrap_or_default();
        (status, body)
    });
    let (status, body) = response;
    assert_ne!(status, 500, "{method} {uri}: {}", String::from_utf8_lossy(&body));
    if status >= 400 && (uri.starts_with("/realms") || uri.starts_with("/admin")) {
        assert_scim_error(&body);
    }
}
