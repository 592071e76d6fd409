//! The end-to-end harness: starts the real host, with the real bundled guest and a
//! fixture guest, on an ephemeral port over a temporary SQLite file, and speaks HTTP.
//! With `SCIM_TEST_STORE=postgres`, every server stores in a scratch PostgreSQL database
//! instead (see [`scratch_postgres`]): the same tests, on the other backend.
//!
//! Realms of every test server:
//! - `demo`: bundled guest, organizations `acme` and `globex`;
//! - `misbehaving`: the fixture guest of `tests/guests/misbehaving`, with a short deadline
//!   and a small memory cap;
//! - `limited`: the fixture guest again, at most 2 requests a second (bursts of 10) and
//!   one call at a time.

use reqwest::{Method, StatusCode};
use scim_host::auth::TokenHash;
use scim_host::config::{Config, Limits, ModuleSource, OrganizationConfig, RealmConfig};
use scim_host::runtime::{PoolSize, Runtime};
use scim_host::store::Store;
use scim_host::{App, Server};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

pub mod browser;
pub mod receiver;
pub mod scratch_postgres;

pub use reqwest;
pub use serde_json;

/// The realm token of `demo`.
pub const TOKEN: &str = "demo-realm-token";
/// The realm token of `misbehaving`.
pub const MISBEHAVING_TOKEN: &str = "misbehaving-realm-token";
/// The admin token.
pub const ADMIN_TOKEN: &str = "demo-admin-token";
/// The fixture guest.
pub static MISBEHAVING_GUEST: &str = env!("MISBEHAVING_GUEST");
/// The plugin example of `examples/email-username`, built for wasm32-wasip2.
pub static EMAIL_USERNAME_GUEST: &str = env!("EMAIL_USERNAME_GUEST");

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// One wasm runtime for the whole test process: the bundled guest compiles once.
fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Arc::new(Runtime::new(PoolSize { concurrent_calls: 64 }, None).expect("the wasm runtime starts"))
        })
        .clone()
}

/// Which SCIM base a test speaks to: the behaviour shared by both scopes is tested on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Realm,
    Organization(&'static str),
}

/// The store of a new test server: a scratch PostgreSQL database when the tests run on
/// PostgreSQL, else none (SQLite under its data directory).
pub fn fresh_store() -> Option<String> {
    scratch_postgres::selected().then(scratch_postgres::fresh_database)
}

/// Where a test server's realms live.
#[derive(Clone, Debug, Default)]
pub struct Stores {
    /// The `default` store: a PostgreSQL database's URL, else SQLite under the data directory.
    pub default: Option<String>,
    /// More stores realms may be placed in, by name: PostgreSQL databases' URLs.
    pub named: std::collections::BTreeMap<String, String>,
    /// The store the configuration places realm `demo` in (`default` when absent).
    pub demo_in: Option<String>,
}

impl Stores {
    /// The store of a new test server (see [`fresh_store`]) and these named ones.
    pub fn with_named(named: &[(&str, &str)]) -> Stores {
        let named = named.iter().map(|(name, url)| (name.to_string(), url.to_string())).collect();
        Stores { default: fresh_store(), named, demo_in: None }
    }
}

/// Both scopes, for tests of shared behaviour.
pub const BOTH_SCOPES: [Scope; 2] = [Scope::Realm, Scope::Organization("acme")];

/// A running server and a client for it.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    pub client: reqwest::Client,
    server: Option<Server>,
    _data: tempfile::TempDir,
    /// Where its realms live.
    stores: Stores,
    /// What it changed in the test configuration (again at a restart).
    change: fn(&mut Config),
}

/// An HTTP answer, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// Reads a response whole.
    pub async fn from(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, headers, body, text }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        self
    }

    /// The `id` of the resource in the body.
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", self.text)).to_string()
    }

    /// Asserts an RFC 7644 §3.12 error body with this status.
    #[track_caller]
    pub fn assert_scim_error(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        assert_eq!(self.header("content-type"), Some("application/scim+json"), "error content type of {}", self.text);
        assert_eq!(self.body["schemas"], json!([ERROR_SCHEMA]), "error schemas of {}", self.text);
        assert_eq!(self.body["status"], json!(status.to_string()), "status is a string in {}", self.text);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "a detail in {}", self.text);
    }
}

impl TestServer {
    /// Starts a server with its own empty database.
    pub async fn start() -> TestServer {
        Self::start_placed(Stores::with_named(&[])).await
    }

    /// Starts a server whose store is the embedded one seen through `wrap`.
    pub async fn start_with_store(wrap: fn(Arc<dyn Store>) -> Arc<dyn Store>) -> TestServer {
        let data = tempfile::tempdir().expect("a temporary directory");
        Self::start_wrapped(data, Stores::with_named(&[]), wrap, |_| {}).await
    }

    /// Starts a server whose configuration `change` alters first.
    pub async fn start_with_config(change: fn(&mut Config)) -> TestServer {
        let data = tempfile::tempdir().expect("a temporary directory");
        Self::start_wrapped(data, Stores::with_named(&[]), |store| store, change).await
    }

    /// Starts a server on a fresh PostgreSQL database, whichever store the other tests run
    /// on: the first of several hosts (see [`TestServer::another_host`]).
    pub async fn start_on_postgres() -> TestServer {
        Self::start_placed(Stores { default: Some(scratch_postgres::fresh_database()), ..Stores::default() }).await
    }

    /// Starts a server whose realms live in these stores.
    pub async fn start_placed(stores: Stores) -> TestServer {
        Self::start_in(tempfile::tempdir().expect("a temporary directory"), stores).await
    }

    /// Starts another host on this server's PostgreSQL database (and named stores), with
    /// the same configuration and a data directory of its own: the hosts share nothing else.
    pub async fn another_host(&self) -> TestServer {
        assert!(self.stores.default.is_some(), "hosts share a PostgreSQL store");
        Self::start_in(tempfile::tempdir().expect("a temporary directory"), self.stores.clone()).await
    }

    /// Starts a server on this data directory and store (`None`: SQLite in the directory).
    pub async fn start_at(data: tempfile::TempDir, store_url: Option<String>) -> TestServer {
        Self::start_in(data, Stores { default: store_url, ..Stores::default() }).await
    }

    /// Starts a server on this data directory and these stores.
    pub async fn start_at_placed(data: tempfile::TempDir, stores: Stores) -> TestServer {
        Self::start_in(data, stores).await
    }

    /// Starts a server on this data directory and these stores, or says why it cannot
    /// (with every cause).
    pub async fn try_start_at(data: tempfile::TempDir, stores: Stores) -> Result<TestServer, String> {
        Self::try_start_wrapped(data, stores, |store| store, |_| {}).await
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    /// Its `default` PostgreSQL database, when it runs on one.
    pub fn store_url(&self) -> Option<&str> {
        self.stores.default.as_deref()
    }

    /// Where its realms live.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Stops the server, and gives back its data directory.
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("the server stops cleanly");
        }
        self._data
    }

    /// Stops the server and starts a new one on the same data directory and stores.
    pub async fn restart(mut self) -> TestServer {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("the server stops cleanly");
        }
        let stores = std::mem::take(&mut self.stores);
        Self::start_wrapped(self._data, stores, |store| store, self.change).await
    }

    async fn start_in(data: tempfile::TempDir, stores: Stores) -> TestServer {
        Self::start_wrapped(data, stores, |store| store, |_| {}).await
    }

    async fn start_wrapped(
        data: tempfile::TempDir,
        stores: Stores,
        wrap: fn(Arc<dyn Store>) -> Arc<dyn Store>,
        change: fn(&mut Config),
    ) -> TestServer {
        Self::try_start_wrapped(data, stores, wrap, change).await.expect("the app starts")
    }

    async fn try_start_wrapped(
        data: tempfile::TempDir,
        stores: Stores,
        wrap: fn(Arc<dyn Store>) -> Arc<dyn Store>,
        change: fn(&mut Config),
    ) -> Result<TestServer, String> {
        let mut config = Config::empty(data.path().to_path_buf());
        config.store = stores.default.clone();
        config.stores = stores.named.clone();
        config.admin_tokens = vec![TokenHash::of(ADMIN_TOKEN)];
        config.realms.insert(
            "demo".into(),
            RealmConfig {
                store: stores.demo_in.clone(),
                module: ModuleSource::Bundled,
                tokens: vec![TokenHash::of(TOKEN)],
                organizations: ["acme", "globex"]
                    .into_iter()
                    .map(|alias| OrganizationConfig { alias: alias.into(), name: None })
                    .collect(),
                limits: None,
                settings: Default::default(),
            },
        );
        config.realms.insert(
            "misbehaving".into(),
            RealmConfig {
                store: None,
                module: ModuleSource::Path(MISBEHAVING_GUEST.into()),
                tokens: vec![TokenHash::of(MISBEHAVING_TOKEN)],
                organizations: Vec::new(),
                limits: Some(Limits { memory_mib: 16, deadline_ms: 300, max_body_bytes: 4096, ..Limits::default() }),
                settings: Default::default(),
            },
        );
        config.realms.insert(
            "limited".into(),
            RealmConfig {
                store: None,
                module: ModuleSource::Path(MISBEHAVING_GUEST.into()),
                tokens: vec![TokenHash::of(MISBEHAVING_TOKEN)],
                organizations: Vec::new(),
                limits: Some(Limits {
                    deadline_ms: 300,
                    requests_per_second: Some(2.0),
                    burst: Some(10),
                    concurrent_calls: Some(1),
                    ..Limits::default()
                }),
                settings: Default::default(),
            },
        );
        change(&mut config);
        let runtime = runtime();
        let app = tokio::task::spawn_blocking(move || {
            let store = wrap(App::open_store(&config)?);
            App::with_store(config, runtime, store)
        })
        .await
        .expect("starting the app panicked")
        .map_err(|e| format!("{e:#}"))?;
        let server = Server::start(app, "127.0.0.1:0".parse().unwrap()).await.expect("the server starts");
        Ok(TestServer {
            origin: format!("http://{}", server.addr),
            client: reqwest::Client::new(),
            server: Some(server),
            _data: data,
            stores,
            change,
        })
    }

    /// Stops the server, waiting for requests in flight.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("the server stops cleanly");
        }
    }

    /// The first column of the rows a query of the server's database selects, as text
    /// (the query casts what is not text). Its parameters are `$1`, `$2`…, which both
    /// stores read.
    pub fn stored(&self, sql: &str, params: &[&str]) -> Vec<String> {
        match &self.stores.default {
            Some(url) => scratch_postgres::query(url, sql, params),
            None => {
                let path = self._data.path().join("scim-host.db");
                let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .expect("the database");
                // The server may be checkpointing its log: wait for it rather than fail on SQLITE_BUSY.
                db.busy_timeout(std::time::Duration::from_secs(10)).expect("a busy timeout");
                let mut statement = db.prepare(sql).expect("the query prepares");
                let rows =
                    statement.query_map(rusqlite::params_from_iter(params), |r| r.get(0)).expect("the query runs");
                rows.map(|r| r.expect("a text column")).collect()
            }
        }
    }

    /// The SCIM base URL of a scope of realm `demo`.
    pub fn base(&self, scope: Scope) -> String {
        match scope {
            Scope::Realm => format!("{}/realms/demo/scim/v2", self.origin),
            Scope::Organization(alias) => format!("{}/realms/demo/scim/v2/organizations/{alias}", self.origin),
        }
    }

    /// Sends a request with the `demo` token.
    pub async fn call(&self, method: Method, url: &str, body: Option<Value>) -> Answer {
        self.call_with(method, url, body, Some(TOKEN)).await
    }

    /// Sends a request with the given bearer token (or none).
    pub async fn call_with(&self, method: Method, url: &str, body: Option<Value>, token: Option<&str>) -> Answer {
        let mut request = self.client.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        Answer::from(request.send().await.expect("the server answers")).await
    }

    /// Calls the admin API (`path` from `/admin` on) with the admin token.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_with(method, &format!("{}{path}", self.origin), body, Some(ADMIN_TOKEN)).await
    }

    pub async fn get(&self, url: &str) -> Answer {
        self.call(Method::GET, url, None).await
    }

    pub async fn post(&self, url: &str, body: Value) -> Answer {
        self.call(Method::POST, url, Some(body)).await
    }

    pub async fn put(&self, url: &str, body: Value) -> Answer {
        self.call(Method::PUT, url, Some(body)).await
    }

    pub async fn patch(&self, url: &str, body: Value) -> Answer {
        self.call(Method::PATCH, url, Some(body)).await
    }

    pub async fn delete(&self, url: &str) -> Answer {
        self.call(Method::DELETE, url, None).await
    }

    /// Uploads a component as realm `realm`'s module (`PUT /admin/realms/{realm}/module`).
    pub async fn upload_module(&self, realm: &str, bytes: Vec<u8>) -> Answer {
        let response = self
            .client
            .put(format!("{}/admin/realms/{realm}/module", self.origin))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .unwrap();
        Answer::from(response).await
    }

    /// Creates a user in a scope; returns its id.
    pub async fn create_user(&self, scope: Scope, user_name: &str, external_id: &str) -> String {
        self.post(&format!("{}/Users", self.base(scope)), user(user_name, external_id)).await.expect(201).id()
    }

    /// The value of one series of the Prometheus metrics, e.g. `scim_host_instantiations_total`.
    pub async fn metric(&self, series: &str) -> f64 {
        let metrics = self.get(&format!("{}/metrics", self.origin)).await.expect(200).text;
        metrics
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in\n{metrics}"))
    }

    /// Waits until a series of the metrics reaches `at_least`: a condition to wait on
    /// where a test would otherwise sleep for something to start.
    pub async fn metric_reaches(&self, series: &str, at_least: f64) {
        eventually(series, || async { self.metric(series).await >= at_least }).await
    }

    /// The admin events of realm `demo`, oldest first.
    pub async fn events(&self) -> Vec<Value> {
        let answer = self
            .call_with(
                Method::GET,
                &format!("{}/admin/realms/demo/events?limit=1000", self.origin),
                None,
                Some(ADMIN_TOKEN),
            )
            .await
            .expect(200);
        answer.body["events"].as_array().cloned().unwrap_or_default()
    }
}

/// A query parameter's value, percent-encoded for a URL.
/// Waits until `holds` says so, checking every 10 ms; fails the test after 20 s.
pub async fn eventually<F, Fut>(what: &str, mut holds: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !holds().await {
        assert!(std::time::Instant::now() < deadline, "waited 20 s for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A User body as IdPs send it.
pub fn user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": external_id,
        "name": { "givenName": "Given", "familyName": user_name },
        "emails": [{ "value": format!("{user_name}@example.org"), "type": "work", "primary": true }],
        "active": true,
    })
}

/// A Group body with these member ids.
pub fn group(display_name: &str, external_id: &str, members: &[&str]) -> Value {
    json!({
        "schemas": [GROUP_SCHEMA],
        "displayName": display_name,
        "externalId": external_id,
        "members": members.iter().map(|id| json!({ "value": id })).collect::<Vec<_>>(),
    })
}

/// The member ids of a Group body, sorted.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|members| members.iter().filter_map(|m| m["value"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Sorted copies of ids, for comparing sets.
pub fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}
