//! Tenant modules replaced at run time: uploaded, checked, compiled and swapped in while
//! clients keep calling, rolled back, refused when they are not scim:host components, and
//! still installed after a restart.

use scim_host_e2e::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

async fn rollback(server: &TestServer, body: Option<Value>) -> Answer {
    server
        .call_with(
            reqwest::Method::POST,
            &format!("{}/admin/realms/demo/module/rollback", server.origin),
            body,
            Some(ADMIN_TOKEN),
        )
        .await
}

/// What realm `demo` answers to GET /Users: the bundled guest lists, the fixture says "ok".
async fn who_answers(server: &TestServer) -> &'static str {
    let answer = server.get(&format!("{}/Users", server.base(Scope::Realm))).await.expect(200);
    if answer.text == "ok" {
        "fixture"
    } else if answer.body["schemas"].is_array() {
        "bundled"
    } else {
        "unknown"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapping_a_module_under_load_fails_no_request_and_rolls_back() {
    let server = Arc::new(TestServer::start().await);
    assert_eq!(who_answers(&server).await, "bundled");

    // A client that keeps calling while the module changes under it.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = {
        let (server, stop, answered) = (server.clone(), stop.clone(), answered.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                statuses.push(server.get(&format!("{}/Users", server.base(Scope::Realm))).await.status.as_u16());
                answered.fetch_add(1, Ordering::Relaxed);
            }
            statuses
        })
    };
    let answers_past = |n: usize| {
        let answered = answered.clone();
        move || {
            let answered = answered.clone();
            async move { answered.load(Ordering::Relaxed) >= n }
        }
    };
    eventually("the client's first answers", answers_past(5)).await;
    let started = std::time::Instant::now();
    let installed = server.upload_module("demo", std::fs::read(MISBEHAVING_GUEST).unwrap()).await.expect(200);
    let swap_time = started.elapsed();
    assert_eq!(who_answers(&server).await, "fixture", "the new module serves the next request");
    let after = answered.load(Ordering::Relaxed) + 5;
    eventually("the client's answers after the swap", answers_past(after)).await;
    stop.store(true, Ordering::Relaxed);
    let statuses = client.await.unwrap();
    assert!(statuses.len() > 10, "the client kept calling: {} requests", statuses.len());
    assert!(statuses.iter().all(|&s| s == 200), "no request failed during the swap: {statuses:?}");
    println!("upload to first request on the new module: {swap_time:?}, {} requests during the swap", statuses.len());

    let bundled = installed.body["previous"].as_str().unwrap().to_string();
    let listed = server
        .call_with(
            reqwest::Method::GET,
            &format!("{}/admin/realms/demo/module", server.origin),
            None,
            Some(ADMIN_TOKEN),
        )
        .await
        .expect(200);
    assert_eq!(listed.body["digest"], installed.body["digest"]);
    assert_eq!(listed.body["history"].as_array().unwrap().len(), 2);

    let back = rollback(&server, None).await.expect(200);
    assert_eq!(back.body["digest"], json!(bundled));
    assert_eq!(who_answers(&server).await, "bundled");
    // And forward again, by digest.
    rollback(&server, Some(json!({ "digest": installed.body["digest"] }))).await.expect(200);
    assert_eq!(who_answers(&server).await, "fixture");
    rollback(&server, Some(json!({ "digest": "0".repeat(64) }))).await.assert_scim_error(404);
}

#[tokio::test]
async fn a_file_that_is_not_a_scim_component_is_refused_and_the_old_module_keeps_serving() {
    let server = TestServer::start().await;
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    for bytes in [b"definitely not wasm".to_vec(), core_module] {
        let answer = server.upload_module("demo", bytes).await;
        answer.assert_scim_error(400);
        assert!(answer.body["detail"].as_str().unwrap().contains("scim:host"), "{}", answer.text);
        assert_eq!(who_answers(&server).await, "bundled");
    }
    let answer = server
        .call_with(reqwest::Method::PUT, &format!("{}/admin/realms/demo/module", server.origin), None, Some(TOKEN))
        .await;
    answer.assert_scim_error(401);
    let answer = server
        .call_with(
            reqwest::Method::GET,
            &format!("{}/admin/realms/nowhere/module", server.origin),
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
    answer.assert_scim_error(404);
    rollback(&server, None).await.assert_scim_error(409);
    server.stop().await;
}

#[tokio::test]
async fn an_installed_module_survives_a_restart() {
    let server = TestServer::start().await;
    server.upload_module("demo", std::fs::read(MISBEHAVING_GUEST).unwrap()).await.expect(200);
    let server = server.restart().await;
    assert_eq!(who_answers(&server).await, "fixture");
    rollback(&server, None).await.expect(200);
    assert_eq!(who_answers(&server).await, "bundled");
    server.stop().await;
}

#[tokio::test]
async fn realm_with_a_broken_module_does_not_stop_the_others() {
    let server = TestServer::start_with_config(|config| {
        let broken = config.data_dir.join("broken.wasm");
        std::fs::write(&broken, b"\0asm not a component").unwrap();
        let mut realm = config.realms["misbehaving"].clone();
        realm.module = scim_host::config::ModuleSource::Path(broken);
        config.realms.insert("broken".into(), realm);
    })
    .await;
    let ready = server.get(&format!("{}/readyz", server.origin)).await.expect(200);
    assert_eq!(ready.body["status"], "degraded", "{}", ready.text);
    assert!(ready.body["brokenRealms"]["broken"].as_str().is_some_and(|why| !why.is_empty()), "{}", ready.text);
    assert!(ready.body["brokenRealms"].get("demo").is_none(), "{}", ready.text);

    let refused = server
        .call_with(
            reqwest::Method::GET,
            &format!("{}/realms/broken/scim/v2/Users", server.origin),
            None,
            Some(MISBEHAVING_TOKEN),
        )
        .await;
    refused.assert_scim_error(503);
    assert!(!refused.text.contains("broken.wasm"), "the client learns nothing of the host: {}", refused.text);
    server.create_user(Scope::Realm, "served", "x-served").await;
    server.stop().await;
}
