//! Realms placed across several stores: one host serves realms from its `default` store
//! (SQLite or PostgreSQL, as the other tests run) and from a named PostgreSQL database at
//! once; each realm's rows, tokens and modules live in its own store alone.

use reqwest::Method;
use scim_host_e2e::scratch_postgres::{fresh_database, query};
use scim_host_e2e::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// Realm names a store holds, sorted.
fn realms_in(url: &str) -> Vec<String> {
    query(url, "SELECT name FROM realms ORDER BY name", &[])
}

/// Creates realm `name` through the admin API (in `store`, when named) and issues a token
/// for it; returns the token.
async fn realm_with_token(server: &TestServer, name: &str, store: Option<&str>) -> String {
    let mut body = json!({ "name": name });
    if let Some(store) = store {
        body["store"] = json!(store);
    }
    let created = server.admin(Method::POST, "/admin/realms", Some(body)).await.expect(201);
    assert_eq!(created.body["store"], json!(store.unwrap_or("default")), "{}", created.text);
    let issued = server
        .admin(Method::POST, &format!("/admin/realms/{name}/tokens"), Some(json!({ "label": "idp" })))
        .await
        .expect(201);
    issued.body["token"].as_str().unwrap().to_string()
}

fn users_of(server: &TestServer, realm: &str) -> String {
    format!("{}/realms/{realm}/scim/v2/Users", server.origin)
}

#[tokio::test]
async fn one_host_serves_realms_from_two_databases() {
    let eu = fresh_database();
    let stores = Stores { demo_in: Some("eu".into()), ..Stores::with_named(&[("eu", &eu)]) };
    let server = TestServer::start_placed(stores).await;
    let grace = server.create_user(Scope::Realm, "grace", "x-grace").await;
    let beta_token = realm_with_token(&server, "beta", Some("eu")).await;
    let gamma_token = realm_with_token(&server, "gamma", None).await;
    let mut ids = Vec::new();
    for (realm, token) in [("beta", &beta_token), ("gamma", &gamma_token)] {
        let body = user(&format!("ada-{realm}"), &format!("x-ada-{realm}"));
        let created = server.call_with(Method::POST, &users_of(&server, realm), Some(body), Some(token)).await;
        ids.push((realm, token.clone(), created.expect(201).id()));
    }

    // Each realm's rows are in its own store, and only there.
    assert_eq!(realms_in(&eu), ["beta", "demo"]);
    let default_realms = server.stored("SELECT name FROM realms ORDER BY name", &[]);
    assert_eq!(default_realms, ["gamma", "limited", "misbehaving"]);
    let users_in_eu = query(&eu, "SELECT username FROM users ORDER BY username", &[]);
    assert_eq!(users_in_eu, ["ada-beta", "grace"]);
    assert_eq!(server.stored("SELECT username FROM users ORDER BY username", &[]), ["ada-gamma"]);
    let tokens_in_eu = query(&eu, "SELECT realm FROM tokens ORDER BY realm", &[]);
    assert_eq!(tokens_in_eu, ["beta"], "a token lives in its realm's store");
    let listed = server.admin(Method::GET, "/admin/realms", None).await.expect(200);
    let placed: Vec<_> = listed.body["realms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}@{}", r["name"].as_str().unwrap(), r["store"].as_str().unwrap()))
        .collect();
    assert_eq!(placed.len(), 5, "{placed:?}");
    for expected in ["demo@eu", "beta@eu", "gamma@default", "limited@default", "misbehaving@default"] {
        assert!(placed.contains(&expected.to_string()), "{expected} in {placed:?}");
    }

    // After a restart every realm is found where it lives.
    let server = server.restart().await;
    server.get(&format!("{}/Users/{grace}", server.base(Scope::Realm))).await.expect(200);
    for (realm, token, id) in &ids {
        let url = format!("{}/{id}", users_of(&server, realm));
        server.call_with(Method::GET, &url, None, Some(token)).await.expect(200);
    }
    let beta = server.admin(Method::GET, "/admin/realms/beta", None).await.expect(200);
    assert_eq!(beta.body["store"], json!("eu"));
    server.stop().await;
}

#[tokio::test]
async fn realm_created_in_an_unknown_store_is_refused_naming_the_stores() {
    let eu = fresh_database();
    let server = TestServer::start_placed(Stores::with_named(&[("eu", &eu)])).await;
    let refused = server.admin(Method::POST, "/admin/realms", Some(json!({ "name": "x", "store": "us" }))).await;
    refused.assert_scim_error(400);
    assert!(refused.body["detail"].as_str().unwrap().contains("default, eu"), "{}", refused.text);
    server.admin(Method::GET, "/admin/realms/x", None).await.assert_scim_error(404);
    assert!(!realms_in(&eu).contains(&"x".to_string()));
    server.stop().await;
}

#[tokio::test]
async fn module_uploaded_to_a_realm_in_a_named_store_is_kept_there() {
    let eu = fresh_database();
    let server = TestServer::start_placed(Stores::with_named(&[("eu", &eu)])).await;
    let token = realm_with_token(&server, "beta", Some("eu")).await;
    let fixture = std::fs::read(MISBEHAVING_GUEST).unwrap();
    let installed = server.upload_module("beta", fixture.clone()).await.expect(200);
    let digest = installed.body["digest"].as_str().unwrap().to_string();
    assert_eq!(query(&eu, "SELECT digest FROM modules WHERE digest = $1", &[&digest]).len(), 1);
    let history = query(&eu, "SELECT digest FROM realm_modules WHERE realm = 'beta' ORDER BY n", &[]);
    assert_eq!(history.last(), Some(&digest), "the realm's module history is in its store");
    let on_disk = server.data_dir().join("modules").join(format!("{digest}.wasm"));
    assert!(!on_disk.exists(), "the default store's modules do not receive it");

    let server = server.restart().await;
    let answer = server.call_with(Method::GET, &users_of(&server, "beta"), None, Some(&token)).await.expect(200);
    assert_eq!(answer.text, "ok", "the fixture module serves the realm after a restart");
    server.stop().await;
}

#[tokio::test]
async fn configured_realm_whose_data_is_in_another_store_does_not_start() {
    let eu = fresh_database();
    let server = TestServer::start_placed(Stores::with_named(&[("eu", &eu)])).await;
    server.create_user(Scope::Realm, "grace", "x-grace").await;
    let stores = Stores { demo_in: Some("eu".into()), ..server.stores().clone() };
    let data = server.stop_keeping_data().await;
    let refused = match TestServer::try_start_at(data, stores).await {
        Ok(_) => panic!("a host started with realm demo configured away from its data"),
        Err(refused) => refused,
    };
    assert!(refused.contains("realm \"demo\" is configured in store \"eu\""), "{refused}");
    assert!(refused.contains("realm export"), "the refusal says how to move it: {refused}");
    assert!(!realms_in(&eu).contains(&"demo".to_string()), "nothing was created in the other store");
}

/// Two hosts, each on the same `default` PostgreSQL database and the same named one: a
/// realm created in the named store through one host serves on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn realm_created_in_a_named_store_on_one_host_serves_on_the_other() {
    let eu = fresh_database();
    let named = [("eu".to_string(), eu.clone())].into_iter().collect();
    let a = TestServer::start_placed(Stores { default: Some(fresh_database()), named, demo_in: None }).await;
    let b = a.another_host().await;
    let token = realm_with_token(&a, "beta", Some("eu")).await;
    let started = Instant::now();
    loop {
        let answer = b.call_with(Method::GET, &users_of(&b, "beta"), None, Some(&token)).await;
        if answer.status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{}: {}", answer.status, answer.text);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the realm reached the other host after {:?}",
        started.elapsed()
    );
    let body = user("ada", "x-ada");
    b.call_with(Method::POST, &users_of(&b, "beta"), Some(body), Some(&token)).await.expect(201);
    assert_eq!(query(&eu, "SELECT username FROM users", &[]), ["ada"]);
    let on_b = b.admin(Method::GET, "/admin/realms/beta", None).await.expect(200);
    assert_eq!(on_b.body["store"], json!("eu"));
}

/// A realm found in two stores (a move half done, or one created in each at once through
/// two hosts) is served from neither, with why; the host starts and its other realms serve.
#[tokio::test]
async fn realm_found_in_two_stores_answers_503_and_the_others_serve() {
    use scim_host::store::{OperatorEvent, PostgresStore, SqliteStore, Store, StoredRealm};
    let eu = fresh_database();
    let server = TestServer::start_placed(Stores::with_named(&[("eu", &eu)])).await;
    let token = realm_with_token(&server, "beta", Some("eu")).await;
    let stores = server.stores().clone();
    let data = server.stop_keeping_data().await;
    // The PostgreSQL client runs a runtime of its own: off the test's.
    let (url, path) = (stores.default.clone(), data.path().join("scim-host.db"));
    tokio::task::spawn_blocking(move || {
        let default: Box<dyn Store> = match url {
            Some(url) => Box::new(PostgresStore::open(&url).unwrap()),
            None => Box::new(SqliteStore::open(&path).unwrap()),
        };
        let beta = StoredRealm { name: "beta".into(), managed: true, created_at: 0, limits: None, settings: None };
        let event = OperatorEvent {
            kind: "REALM_CREATED",
            resource_id: "beta".into(),
            details: "{}".into(),
            request_id: "t".into(),
        };
        default.create_realm(&beta, &event).unwrap();
    })
    .await
    .unwrap();

    let server = TestServer::start_at_placed(data, stores).await;
    let refused = server.call_with(Method::GET, &users_of(&server, "beta"), None, Some(&token)).await;
    refused.assert_scim_error(503);
    let ready = server.get(&format!("{}/readyz", server.origin)).await.expect(200);
    assert_eq!(ready.body["status"], json!("degraded"), "{}", ready.text);
    let why = ready.body["brokenRealms"]["beta"].as_str().unwrap();
    assert!(why.contains("two stores, \"default\" and \"eu\""), "{why}");
    server.get(&format!("{}/Users", server.base(Scope::Realm))).await.expect(200);
    server.stop().await;
}

/// A store that stops answering takes down its realms alone: the host stays ready
/// (degraded, naming the store) and serves the realms of its other stores.
#[tokio::test]
async fn store_gone_takes_down_only_its_realms() {
    let eu = fresh_database();
    let server = TestServer::start_placed(Stores::with_named(&[("eu", &eu)])).await;
    let token = realm_with_token(&server, "beta", Some("eu")).await;
    scim_host_e2e::scratch_postgres::drop_database(&eu);
    let down = server.call_with(Method::GET, &users_of(&server, "beta"), None, Some(&token)).await;
    down.assert_scim_error(503);
    let ready = server.get(&format!("{}/readyz", server.origin)).await.expect(200);
    assert_eq!(ready.body["status"], json!("degraded"), "{}", ready.text);
    assert!(ready.body["storesDown"]["eu"].is_string(), "{}", ready.text);
    server.create_user(Scope::Realm, "grace", "x-grace").await;
    server.stop().await;
}
