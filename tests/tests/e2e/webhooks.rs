//! Webhooks: every change a request commits reaches the realm's subscribed endpoints,
//! signed the Standard Webhooks way, in order, at least once; nothing a request rolled
//! back is ever sent.

use reqwest::Method;
use scim_host_e2e::receiver::Receiver;
use scim_host_e2e::*;
use serde_json::{Value, json};

/// Subscribes `url` to realm `realm`'s changes (with `more` fields); returns the answer.
async fn subscribe(server: &TestServer, realm: &str, url: &str, more: Value) -> Answer {
    let mut body = json!({ "url": url });
    body.as_object_mut().unwrap().extend(more.as_object().cloned().unwrap_or_default());
    server.admin(Method::POST, &format!("/admin/realms/{realm}/webhooks"), Some(body)).await
}

/// The types of the deliveries received, in order.
fn types(received: &[scim_host_e2e::receiver::Delivery]) -> Vec<String> {
    received.iter().map(|d| d.json()["type"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn webhook_receiver_verifies_standard_webhooks_signature() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let created = subscribe(&server, "demo", &receiver.url, json!({ "types": ["USER_CREATED"] })).await.expect(201);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{}", created.text);
    let listed = server.admin(Method::GET, "/admin/realms/demo/webhooks", None).await.expect(200);
    assert!(!listed.text.contains(&secret), "the secret is shown once: {}", listed.text);

    let posted = server.post(&format!("{}/Users", server.base(Scope::Realm)), user("ada", "x-ada")).await.expect(201);
    let request_id = posted.header("x-request-id").unwrap().to_string();
    let delivery = receiver.wait_for(1).await.remove(0);

    // Verified the way a receiver would, with the standard's own library.
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    verifier.verify(&delivery.body, &delivery.headers).expect("the signature verifies");
    let forged = standardwebhooks::Webhook::new(&scim_host::webhooks::new_secret()).unwrap();
    assert!(forged.verify(&delivery.body, &delivery.headers).is_err(), "another secret does not verify");
    let mut tampered = delivery.body.to_vec();
    tampered[10] ^= 1;
    assert!(verifier.verify(&tampered, &delivery.headers).is_err(), "a changed body does not verify");

    let payload = delivery.json();
    assert_eq!(payload["type"], json!("USER_CREATED"), "{payload}");
    assert_eq!(payload["data"]["realm"], json!("demo"));
    assert_eq!(payload["data"]["requestId"], json!(request_id));
    assert_eq!(payload["data"]["resource"]["userName"], json!("ada"), "the resource as SCIM JSON: {payload}");
    assert_eq!(payload["data"]["resource"]["id"], json!(posted.id()));
    assert_eq!(payload["data"]["resource"]["schemas"][0], json!(USER_SCHEMA));
    assert!(delivery.headers["webhook-id"].to_str().unwrap().starts_with("msg_"));
    server.stop().await;
}

#[tokio::test]
async fn rolled_back_request_sends_no_webhook() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    subscribe(&server, "misbehaving", &receiver.url, json!({})).await.expect(201);
    let call = async |path: &str| {
        let url = format!("{}/realms/misbehaving/scim/v2{path}", server.origin);
        server.call_with(Method::GET, &url, None, Some(MISBEHAVING_TOKEN)).await
    };
    // Each writes a user and records USER_CREATED, then fails: rolled back, whole.
    assert_eq!(call("/write-then-500").await.status, 500);
    assert_eq!(call("/write-then-trap").await.status, 500);
    // This one records USER_UPDATED and commits: delivered after anything before it.
    call("/loop?teach").await.expect(200);
    let received = receiver.wait_for(1).await;
    // Anything sent for the failed calls would have come first (deliveries keep commit order).
    assert_eq!(types(&received), ["USER_UPDATED"]);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "nothing else arrives");
    server.stop().await;
}

/// Retries within a test's patience: 50 ms, then doubling up to 400 ms.
fn quick_retries(config: &mut scim_host::Config) {
    config.webhooks.first_backoff_ms = 50;
    config.webhooks.max_backoff_ms = 400;
}

#[tokio::test]
async fn webhook_retried_after_receiver_outage_and_restart() {
    let server = TestServer::start_with_config(quick_retries).await;
    let mut receiver = Receiver::start().await;
    let port = receiver.port();
    let id = subscribe(&server, "demo", &receiver.url, json!({})).await.expect(201).id();
    receiver.stop();
    let base = server.base(Scope::Realm);
    for name in ["before-1", "before-2"] {
        server.post(&format!("{base}/Users"), user(name, &format!("x-{name}"))).await.expect(201);
    }
    // Attempts fail while the receiver is away, and the log says so.
    let log = format!("/admin/realms/demo/webhooks/{id}/deliveries");
    eventually("failed attempts in the delivery log", async || {
        let log = server.admin(Method::GET, &log, None).await.expect(200);
        log.body["deliveries"].as_array().unwrap().len() >= 2
    })
    .await;
    let failed = server.admin(Method::GET, &log, None).await.expect(200);
    let attempt = &failed.body["deliveries"][0];
    assert_eq!(attempt["status"], Value::Null, "no answer: {attempt}");
    assert!(attempt["response"].as_str().unwrap().contains("no answer"), "{attempt}");

    // The host restarts, and the receiver comes back: nothing was lost, nothing repeated
    // out of order.
    let server = server.restart().await;
    let base = server.base(Scope::Realm);
    server.post(&format!("{base}/Users"), user("after", "x-after")).await.expect(201);
    let receiver = Receiver::start_on(port).await;
    let received = receiver.wait_for(3).await;
    let names: Vec<_> = received.iter().map(|d| d.json()["data"]["resource"]["userName"].clone()).collect();
    assert_eq!(names, [json!("before-1"), json!("before-2"), json!("after")]);
    let shown = server.admin(Method::GET, &format!("/admin/realms/demo/webhooks/{id}"), None).await.expect(200);
    assert_eq!(shown.body["enabled"], json!(true));
    assert_eq!(shown.body["recentDeliveries"][0]["status"], json!(200), "{}", shown.text);
    server.stop().await;
}

#[tokio::test]
async fn deliveries_for_one_user_arrive_in_order() {
    let server = TestServer::start_with_config(quick_retries).await;
    let receiver = Receiver::start().await;
    // Every message is refused once, then accepted: retries must not reorder them.
    receiver.refuse_first_attempts();
    subscribe(&server, "demo", &receiver.url, json!({})).await.expect(201);
    let base = server.base(Scope::Realm);
    let id = server.create_user(Scope::Realm, "grace", "x-grace").await;
    for n in 1..=5 {
        let body = json!({ "schemas": [PATCH_SCHEMA],
            "Operations": [{ "op": "replace", "path": "displayName", "value": format!("Grace {n}") }] });
        server.patch(&format!("{base}/Users/{id}"), body).await.expect(200);
    }
    server.delete(&format!("{base}/Users/{id}")).await;
    let received = receiver.wait_for(7).await;
    assert_eq!(
        types(&received),
        [
            "USER_CREATED",
            "USER_UPDATED",
            "USER_UPDATED",
            "USER_UPDATED",
            "USER_UPDATED",
            "USER_UPDATED",
            "USER_DELETED"
        ]
    );
    let names: Vec<_> = received[1..6].iter().map(|d| d.json()["data"]["resource"]["displayName"].clone()).collect();
    assert_eq!(names, (1..=5).map(|n| json!(format!("Grace {n}"))).collect::<Vec<_>>());
    let sequences: Vec<i64> = received.iter().map(|d| d.json()["data"]["sequence"].as_i64().unwrap()).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert_eq!(receiver.refused(), 7, "each was refused once, and sent again");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_receiver_does_not_slow_scim_requests() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    // It takes a minute to answer each delivery (the attempt times out first).
    receiver.delay(std::time::Duration::from_secs(60));
    subscribe(&server, "demo", &receiver.url, json!({})).await.expect(201);
    let base = server.base(Scope::Realm);
    let started = std::time::Instant::now();
    for n in 0..20 {
        server.post(&format!("{base}/Users"), user(&format!("u{n}"), &format!("x-u{n}"))).await.expect(201);
    }
    // Inline delivery would take 20 × the attempt's 10 s timeout; apart, the POSTs take
    // what they take without a subscription (well under a second here).
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "20 POSTs took {:?}", started.elapsed());
    server.stop().await;
}

/// A subscription limited to one organization must not learn of another organization's
/// changes, nor of the realm's own.
#[tokio::test]
async fn organization_webhook_receives_no_other_organizations_changes() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    subscribe(&server, "demo", &receiver.url, json!({ "organization": "acme" })).await.expect(201);
    let unknown = subscribe(&server, "demo", &receiver.url, json!({ "organization": "initech" })).await;
    unknown.assert_scim_error(404);
    server.create_user(Scope::Organization("globex"), "globex-user", "x-g").await;
    let realm_user = server.create_user(Scope::Realm, "realm-user", "x-r").await;
    let acme = server.create_user(Scope::Organization("acme"), "acme-user", "x-a").await;
    // The operator adds the realm's user to acme: acme's own membership change.
    let member = format!("/admin/realms/demo/organizations/acme/members/{realm_user}");
    server.admin(Method::PUT, &member, None).await;
    let globex_member = format!("/admin/realms/demo/organizations/globex/members/{acme}");
    server.admin(Method::PUT, &globex_member, None).await;
    receiver.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let received: Vec<_> = receiver.received().iter().map(|d| d.json()).collect();
    let seen: Vec<_> =
        received.iter().map(|p| (p["type"].as_str().unwrap(), p["data"]["resourceId"].clone())).collect();
    assert_eq!(
        seen,
        [
            ("USER_CREATED", json!(acme)),
            ("ORGANIZATION_MEMBER_JOINED", json!(acme)),
            ("ORGANIZATION_MEMBER_JOINED", json!(realm_user)),
        ],
        "{received:?}"
    );
    let users: Vec<_> = received.iter().filter_map(|p| p["data"]["resource"]["userName"].as_str()).collect();
    assert_eq!(users, ["acme-user"], "{received:?}");
    assert_eq!(received[0]["data"]["organization"]["alias"], json!("acme"), "{received:?}");
    server.stop().await;
}

#[tokio::test]
async fn endpoint_failing_past_its_limit_is_disabled_until_enabled_again() {
    let server = TestServer::start_with_config(|config| {
        quick_retries(config);
        config.webhooks.disable_after_s = 1;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let id = subscribe(&server, "demo", &receiver.url, json!({})).await.expect(201).id();
    server.create_user(Scope::Realm, "ada", "x-ada").await;
    let path = format!("/admin/realms/demo/webhooks/{id}");
    eventually("the endpoint disabled", async || {
        server.admin(Method::GET, &path, None).await.expect(200).body["enabled"] == json!(false)
    })
    .await;
    let shown = server.admin(Method::GET, &path, None).await.expect(200);
    assert!(shown.body["disabledReason"].as_str().unwrap().contains("failed since"), "{}", shown.text);
    assert_eq!(shown.body["recentDeliveries"][0]["status"], json!(503));
    // Enabled again, it delivers what it had not.
    receiver.answer(200);
    server.admin(Method::PATCH, &path, Some(json!({ "enabled": true }))).await.expect(200);
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].json()["data"]["resource"]["userName"], json!("ada"));
    let test = server.admin(Method::POST, &format!("{path}/test"), None).await.expect(200);
    assert_eq!(test.body["status"], json!(200), "{}", test.text);
    assert_eq!(receiver.wait_for(2).await[1].json()["type"], json!("WEBHOOK_TEST"));
    server.stop().await;
}
