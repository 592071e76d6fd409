//! Several hosts on one PostgreSQL store, each stateless: a request may reach any of them
//! (a load balancer in front), and each answers as the store says. These run on PostgreSQL
//! whichever store the other tests run on: one SQLite file is one host's.

use reqwest::Method;
use scim_host_e2e::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// How soon a change made through one host holds on the others.
const PROPAGATION: Duration = Duration::from_secs(1);

async fn two_hosts() -> (TestServer, TestServer) {
    let first = TestServer::start_on_postgres().await;
    let second = first.another_host().await;
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_racing_identical_posts_create_one_user() {
    let (a, b) = two_hosts().await;
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    for round in 0..3 {
        let name = format!("racer-{round}");
        let posts: Vec<_> = (0..10)
            .map(|i| {
                let host = if i % 2 == 0 { a.clone() } else { b.clone() };
                let body = user(&name, &format!("x-{name}"));
                tokio::spawn(async move { host.post(&format!("{}/Users", host.base(Scope::Realm)), body).await })
            })
            .collect();
        let mut created = 0;
        let mut ids = Vec::new();
        for post in posts {
            let answer = post.await.unwrap();
            assert!(answer.status == 201 || answer.status == 200, "{}: {}", answer.status, answer.text);
            created += usize::from(answer.status == 201);
            ids.push(answer.id());
        }
        assert_eq!(created, 1, "one POST created, the others adopted it");
        ids.dedup();
        assert_eq!(ids.len(), 1, "every answer is the same user: {ids:?}");
        let filter = encode(&format!("userName eq \"{name}\""));
        for host in [&a, &b] {
            let found = host.get(&format!("{}/Users?filter={filter}", host.base(Scope::Realm))).await.expect(200);
            assert_eq!(found.body["totalResults"], json!(1), "{}", found.text);
        }
    }
}

async fn issue_token(host: &TestServer) -> (String, String) {
    let issued = host
        .call_with(
            Method::POST,
            &format!("{}/admin/realms/demo/tokens", host.origin),
            Some(json!({ "label": "okta" })),
            Some(ADMIN_TOKEN),
        )
        .await
        .expect(201);
    (issued.body["id"].as_str().unwrap().to_string(), issued.body["token"].as_str().unwrap().to_string())
}

/// Waits until `host` answers a GET of the realm's users with `token` by `status`; how long it took.
async fn until_answered(host: &TestServer, token: &str, status: u16) -> Duration {
    let started = Instant::now();
    let url = format!("{}/Users", host.base(Scope::Realm));
    loop {
        let answer = host.call_with(Method::GET, &url, None, Some(token)).await;
        if answer.status == status {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still {} after 20 s", answer.status);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn token_revoked_on_one_host_is_refused_by_the_other_within_a_second() {
    let (a, b) = two_hosts().await;
    let (id, token) = issue_token(&a).await;
    let accepted = until_answered(&b, &token, 200).await;
    assert!(accepted < PROPAGATION, "a token issued through one host opened the other after {accepted:?}");

    let revoked = a
        .call_with(Method::DELETE, &format!("{}/admin/realms/demo/tokens/{id}", a.origin), None, Some(ADMIN_TOKEN))
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    a.call_with(Method::GET, &format!("{}/Users", a.base(Scope::Realm)), None, Some(&token))
        .await
        .assert_scim_error(401);
    let refused = until_answered(&b, &token, 401).await;
    assert!(refused < PROPAGATION, "the other host still accepted a revoked token after {refused:?}");
}

/// What the misbehaving guest answers at any path; the stock guest refuses the path.
async fn anything(host: &TestServer) -> Answer {
    host.call_with(Method::POST, &format!("{}/anything", host.base(Scope::Realm)), None, Some(TOKEN)).await
}

#[tokio::test]
async fn module_uploaded_on_one_host_serves_on_the_other() {
    let (a, b) = two_hosts().await;
    assert_ne!(anything(&b).await.text, "ok", "the stock guest serves first");
    let uploaded = a.upload_module("demo", std::fs::read(MISBEHAVING_GUEST).unwrap()).await.expect(200);
    let digest = uploaded.body["digest"].as_str().unwrap().to_string();
    let started = Instant::now();
    while anything(&b).await.text != "ok" {
        assert!(started.elapsed() < Duration::from_secs(20), "the other host never ran the new module");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let swapped = started.elapsed();
    assert!(swapped < PROPAGATION, "the other host swapped after {swapped:?}");
    let module = b.admin(Method::GET, "/admin/realms/demo/module", None).await.expect(200);
    assert_eq!(module.body["digest"], json!(digest));

    // A host that starts later, with an empty data directory, serves it from the store.
    let fresh = a.another_host().await;
    assert_eq!(anything(&fresh).await.expect(200).text, "ok");
    // And a rollback through it reaches the first.
    fresh.admin(Method::POST, "/admin/realms/demo/module/rollback", None).await.expect(200);
    let started = Instant::now();
    while anything(&a).await.text == "ok" {
        assert!(started.elapsed() < Duration::from_secs(20), "the rollback never reached the first host");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.create_user(Scope::Realm, "after-rollback", "x-after-rollback").await;
}

#[tokio::test]
async fn sse_stream_on_one_host_sees_writes_through_the_other() {
    let (a, b) = two_hosts().await;
    let mut stream = b
        .client
        .get(format!("{}/admin/realms/demo/events/stream?type=USER_CREATED", b.origin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut created = Vec::new();
    for i in 0..5 {
        let host = if i % 2 == 0 { &a } else { &b };
        created.push(host.create_user(Scope::Realm, &format!("streamed-{i}"), &format!("x-streamed-{i}")).await);
    }
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // (An event names its resource in `resourceId`, and again within the resource itself.)
    let named = |id: &String| format!("\"resourceId\":\"{id}\"");
    while !created.iter().all(|id| seen.contains(&named(id))) {
        let chunk =
            tokio::time::timeout_at(deadline, stream.chunk()).await.expect("the events arrive").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Each once, in the order they were written.
    let places: Vec<usize> = created.iter().map(|id| seen.find(&named(id)).unwrap()).collect();
    assert!(places.windows(2).all(|w| w[0] < w[1]), "in order: {seen}");
    for id in &created {
        assert_eq!(seen.matches(&named(id)).count(), 1, "{id} once: {seen}");
    }
}

#[tokio::test]
async fn realm_created_on_one_host_serves_on_the_other_and_its_deletion_too() {
    let (a, b) = two_hosts().await;
    a.admin(Method::POST, "/admin/realms", Some(json!({ "name": "tenant-x" }))).await.expect(201);
    let issued = a
        .call_with(
            Method::POST,
            &format!("{}/admin/realms/tenant-x/tokens", a.origin),
            Some(json!({ "label": "idp" })),
            Some(ADMIN_TOKEN),
        )
        .await
        .expect(201);
    let token = issued.body["token"].as_str().unwrap().to_string();
    let users = |host: &TestServer| format!("{}/realms/tenant-x/scim/v2/Users", host.origin);
    let started = Instant::now();
    loop {
        let answer = b.call_with(Method::GET, &users(&b), None, Some(&token)).await;
        if answer.status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{}: {}", answer.status, answer.text);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(started.elapsed() < PROPAGATION, "the realm reached the other host after {:?}", started.elapsed());
    let limits = json!({ "limits": { "requests_per_second": 1000.0 } });
    let changed = b.admin(Method::PATCH, "/admin/realms/tenant-x", Some(limits)).await.expect(200);
    assert_eq!(changed.body["limits"]["requests_per_second"], json!(1000.0), "{}", changed.text);

    b.admin(Method::DELETE, "/admin/realms/tenant-x", None).await.expect(204);
    let started = Instant::now();
    loop {
        let answer = a.call_with(Method::GET, &users(&a), None, Some(&token)).await;
        if answer.status == 404 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{}: {}", answer.status, answer.text);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `limited` realm allows 2 requests a second with bursts of 10, over all hosts: with
/// two hosts up, each admits half, so a burst spread over both is held to 10, not 20.
#[tokio::test]
async fn rate_limit_holds_across_two_hosts() {
    let (a, b) = two_hosts().await;
    for host in [&a, &b] {
        host.metric_reaches("scim_host_hosts", 2.0).await;
    }
    let mut admitted = 0;
    for i in 0..30 {
        let host = if i % 2 == 0 { &a } else { &b };
        let url = format!("{}/realms/limited/scim/v2/anything", host.origin);
        let answer = host.call_with(Method::POST, &url, None, Some(MISBEHAVING_TOKEN)).await;
        match answer.status.as_u16() {
            200 => admitted += 1,
            429 => {}
            other => panic!("{other}: {}", answer.text),
        }
    }
    // The burst, and what the rate earned meanwhile (a request or two a host).
    assert!((10..=14).contains(&admitted), "{admitted} admitted over two hosts, for a burst of 10");
}
