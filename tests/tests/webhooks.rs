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
