//! The sandbox benchmark's fixture: 1,000 users and a group of all of them in a
//! [`MemoryStore`], the stock guest compiled once, and the requests of each scenario, ready
//! to answer natively (the guest library called directly) or through the wasm component
//! with a fresh instance per call, as the server does. Shared by the Criterion benchmark
//! and `calls`, which repeats one scenario for callgrind.

use crate::MemoryStore;
use scim_guest::{Request, Response, Scope};
use scim_host::bindings::types;
use scim_host::runtime::{CallInput, CallLimits, Module, PoolSize, Runtime};
use scim_host::store::{Access, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const USERS: usize = 1000;
const BASE: &str = "http://localhost/realms/bench/scim/v2";

/// One request the benchmark repeats, and the status both paths must answer.
pub struct Scenario {
    pub name: &'static str,
    pub request: Request,
    wit_request: types::Request,
    expected_status: u16,
}

pub struct Sandbox {
    store: MemoryStore,
    runtime: Runtime,
    module: Arc<Module>,
    config: types::Config,
    limits: CallLimits,
    pub scenarios: Vec<Scenario>,
}

impl Sandbox {
    /// Seeds the directory and compiles `guest` (the bundled guest unless another is given).
    pub fn new(guest: &[u8]) -> Sandbox {
        let store = MemoryStore::default();
        let mut ids = Vec::new();
        for i in 0..USERS {
            let response = scim_guest::handle(
                &mut *store.directory.lock().unwrap(),
                Scope::Realm,
                &request("POST", "/Users", &[], Some(user(i))),
            );
            assert_eq!(response.status, 201);
            let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            ids.push(body["id"].as_str().unwrap().to_string());
        }
        // A group of every user, which the PUT scenario sends again as it is.
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "everyone",
            "members": ids.iter().map(|id| json!({ "value": id })).collect::<Vec<_>>(),
        });
        let response = scim_guest::handle(
            &mut *store.directory.lock().unwrap(),
            Scope::Realm,
            &request("POST", "/Groups", &[], Some(group.clone())),
        );
        assert_eq!(response.status, 201);
        let group_id =
            serde_json::from_slice::<serde_json::Value>(&response.body).unwrap()["id"].as_str().unwrap().to_string();
        let runtime = Runtime::new(PoolSize { concurrent_calls: 4 }, None).expect("a runtime");
        let module = runtime.load(guest).expect("the guest compiles");
        let mut sandbox = Sandbox {
            store,
            runtime,
            module,
            config: types::Config { realm: "bench".into(), settings: Vec::new() },
            limits: CallLimits {
                memory_bytes: 64 << 20,
                deadline: Duration::from_secs(5),
                write_hold: Duration::from_secs(5),
            },
            scenarios: Vec::new(),
        };
        let requests = [
            ("get_user", request("GET", &format!("/Users/{}", ids[USERS / 2]), &[], None)),
            ("filter_username_eq", request("GET", "/Users", &[("filter", "userName eq \"user500\"")], None)),
            ("upsert_existing_user", request("POST", "/Users", &[], Some(user(USERS / 2)))),
            ("list_100", request("GET", "/Users", &[("startIndex", "401"), ("count", "100")], None)),
            (
                "list_100_projected",
                request(
                    "GET",
                    "/Users",
                    &[("startIndex", "401"), ("count", "100"), ("attributes", "userName,emails")],
                    None,
                ),
            ),
            ("unknown_path", request("GET", "/Nothing", &[], None)),
            ("put_group_1000", request("PUT", &format!("/Groups/{group_id}"), &[], Some(group))),
        ];
        for (name, request) in requests {
            // Not through `native`, so that a callgrind toggle on it counts only the calls.
            let expected_status =
                scim_guest::handle(&mut *sandbox.store.directory.lock().unwrap(), Scope::Realm, &request).status;
            let wit_request = to_wit(&request);
            sandbox.scenarios.push(Scenario { name, request, wit_request, expected_status });
        }
        sandbox
    }

    /// The guest library called directly.
    pub fn native(&self, request: &Request) -> Response {
        scim_guest::handle(&mut *self.store.directory.lock().unwrap(), Scope::Realm, request)
    }

    /// The same request through the component, in a fresh instance.
    pub fn wasm(&self, scenario: &Scenario) -> types::Response {
        let input = CallInput {
            scope: &types::Scope::Realm,
            config: &self.config,
            request: &scenario.wit_request,
            limiter: None,
        };
        let tx = self.store.begin("bench", Access::Write, "bench").unwrap();
        let outcome = self.runtime.call(&self.module, tx, self.limits, &input).expect("the guest answers");
        assert_eq!(outcome.response.status, scenario.expected_status);
        outcome.response
    }
}

fn request(method: &str, path: &str, query: &[(&str, &str)], body: Option<serde_json::Value>) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        headers: vec![("content-type".into(), "application/scim+json".into())],
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        base_url: BASE.into(),
    }
}

fn user(i: usize) -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{i}"),
        "externalId": format!("ext-{i}"),
        "name": { "givenName": "Bench", "familyName": format!("User {i}") },
        "emails": [{ "value": format!("user{i}@example.org"), "type": "work", "primary": true }],
        "active": true,
    })
}

fn to_wit(r: &Request) -> types::Request {
    types::Request {
        method: r.method.clone(),
        path: r.path.clone(),
        query: r.query.clone(),
        headers: r.headers.clone(),
        body: r.body.clone(),
        base_url: r.base_url.clone(),
    }
}
