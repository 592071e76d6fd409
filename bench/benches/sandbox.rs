//! The cost of the sandbox: the same guest library answers the same requests against the
//! same in-memory directory, once called natively and once through the wasm component
//! (a fresh instance per call, as the server does). The ratio is what wasm costs.
//!
//! `cargo bench -p scim-bench`

use criterion::{Criterion, criterion_group, criterion_main};
use scim_bench::MemoryStore;
use scim_guest::{Request, Scope};
use scim_host::bindings::types;
use scim_host::runtime::{CallInput, CallLimits, PoolSize, Runtime};
use scim_host::store::{Access, Store};
use scim_host::tenants::BUNDLED_GUEST;
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;

const USERS: usize = 1000;
const BASE: &str = "http://localhost/realms/bench/scim/v2";

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

fn sandbox(c: &mut Criterion) {
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

    let runtime = Runtime::new(PoolSize { concurrent_calls: 4 }, None).expect("a runtime");
    let module = runtime.load(BUNDLED_GUEST).expect("the bundled guest compiles");
    let config = types::Config { realm: "bench".into(), settings: Vec::new() };
    let limits = CallLimits { memory_bytes: 64 << 20, deadline: Duration::from_secs(5) };

    let scenarios = [
        ("get_user", request("GET", &format!("/Users/{}", ids[USERS / 2]), &[], None)),
        ("filter_username_eq", request("GET", "/Users", &[("filter", "userName eq \"user500\"")], None)),
        ("upsert_existing_user", request("POST", "/Users", &[], Some(user(USERS / 2)))),
        ("unknown_path", request("GET", "/Nothing", &[], None)),
    ];

    for (name, req) in &scenarios {
        let mut group = c.benchmark_group(*name);
        group.bench_function("native", |b| {
            b.iter(|| black_box(scim_guest::handle(&mut *store.directory.lock().unwrap(), Scope::Realm, req)))
        });
        let wit_request = to_wit(req);
        let input = CallInput { scope: &types::Scope::Realm, config: &config, request: &wit_request };
        let expected = scim_guest::handle(&mut *store.directory.lock().unwrap(), Scope::Realm, req).status;
        group.bench_function("wasm", |b| {
            b.iter(|| {
                let tx = store.begin("bench", Access::Write).unwrap();
                let outcome = runtime.call(&module, tx, "bench", limits, &input).expect("the guest answers");
                assert_eq!(outcome.response.status, expected);
                black_box(outcome.response)
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = sandbox
}
criterion_main!(benches);
