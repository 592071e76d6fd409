//! What no client can grow or forge: the server's answers, memory and connections stay
//! within bounds the operator set, whatever a client sends.

use scim_host_e2e::*;

#[tokio::test]
async fn forged_host_header_does_not_redirect_locations() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(format!("{}/Users", server.base(Scope::Realm)))
        .bearer_auth(TOKEN)
        .header("host", "evil.example")
        .header("content-type", "application/scim+json")
        .body(user("ann", "x-ann").to_string())
        .send()
        .await
        .unwrap();
    let answer = Answer::from(response).await.expect(201);
    let location = answer.header("location").unwrap().to_string();
    assert!(location.starts_with(&server.origin), "{location}");
    assert_eq!(answer.body["meta"]["location"].as_str(), Some(location.as_str()));
    assert!(!answer.text.contains("evil.example"), "{}", answer.text);
    server.stop().await;
}

/// Reads what the server sends until it closes the connection or `limit` passes.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: std::time::Duration) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    read.ok().map(|_| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn slow_client_is_disconnected() {
    use tokio::io::AsyncWriteExt as _;
    let server = TestServer::start_with_config(|config| {
        config.header_read_timeout_ms = 300;
        config.body_read_timeout_ms = 300;
    })
    .await;
    let addr = server.origin.trim_start_matches("http://").to_string();
    let limit = std::time::Duration::from_secs(10);

    // Headers that never end.
    let mut trickle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    trickle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1").await.unwrap();
    let closed = read_until_closed(&mut trickle, limit).await;
    assert!(closed.is_some(), "a client that never finishes its headers keeps its connection");

    // A body that never arrives whole.
    let mut stall = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /realms/demo/scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n{{\"userName\":"
    );
    stall.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stall, limit).await.expect("the server ends the request");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(ERROR_SCHEMA), "a SCIM error body: {answer}");

    // Everyone else is served meanwhile.
    server.create_user(Scope::Realm, "prompt", "x-prompt").await;
    server.stop().await;
}

#[tokio::test]
async fn admin_bodies_are_bounded_before_authentication() {
    let server = TestServer::start().await;
    let huge = serde_json::json!({ "name": "x".repeat(1 << 20) });
    for token in [None, Some("not-the-admin-token"), Some(ADMIN_TOKEN)] {
        let url = format!("{}/admin/realms", server.origin);
        let answer = server.call_with(reqwest::Method::POST, &url, Some(huge.clone()), token).await;
        assert!(matches!(answer.status.as_u16(), 401 | 413), "{token:?}: {} {}", answer.status, answer.text);
    }
    server.stop().await;
}

#[tokio::test]
async fn event_streams_per_realm_are_capped() {
    let server = TestServer::start().await;
    let url = format!("{}/admin/realms/demo/events/stream", server.origin);
    let mut open = Vec::new();
    for _ in 0..scim_host::http::stream_slots::PER_REALM {
        let response = server.client.get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        open.push(response);
    }
    let refused = Answer::from(server.client.get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap()).await;
    refused.assert_scim_error(503);
    assert!(refused.header("retry-after").is_some());
    // A stream whose client went away frees its slot (the server learns it at its next
    // write: an event).
    drop(open.pop());
    server.create_user(Scope::Realm, "wakes-the-streams", "x-wake").await;
    let mut reopened = None;
    for _ in 0..100 {
        let response = server.client.get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        if response.status().as_u16() == 200 {
            reopened = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "the closed stream's slot was not freed");
    drop(open);
    server.stop().await;
}

/// Values longer than a database index entry: an attribute of any length is kept and found
/// (on PostgreSQL by a digest of it); a userName or displayName past the indexed bound is
/// refused with a SCIM error on either store, never a 5xx.
#[tokio::test]
async fn oversized_values_are_kept_or_refused_never_a_server_error() {
    let server = TestServer::start().await;
    let base = server.base(Scope::Realm);
    let long = "x".repeat(20_000);
    let mut body = user("long-values", &format!("ext-{long}"));
    body["title"] = serde_json::json!(long);
    let created = server.post(&format!("{base}/Users"), body.clone()).await.expect(201);
    let filter = encode(&format!("title eq \"{long}\""));
    let found = server.get(&format!("{base}/Users?filter={filter}")).await.expect(200);
    assert_eq!(found.body["totalResults"], 1, "found by its long title");
    // The long externalId adopts on a re-POST, as a short one does.
    let again = server.post(&format!("{base}/Users"), body).await.expect(200);
    assert_eq!(again.id(), created.id());

    let refused = server.post(&format!("{base}/Users"), user(&"u".repeat(3_000), "x-long-name")).await;
    refused.assert_scim_error(400);
    assert!(refused.text.contains("longer than 2048 bytes"), "{}", refused.text);
    let refused = server.post(&format!("{base}/Groups"), group(&"g".repeat(3_000), "g-long", &[])).await;
    refused.assert_scim_error(400);
    server.stop().await;
}

/// A NUL character, which PostgreSQL cannot keep in text: refused alike on both stores with
/// a SCIM error, in a core field or an attribute, and nothing is kept.
#[tokio::test]
async fn nul_character_in_a_value_is_refused_on_either_store() {
    let server = TestServer::start().await;
    let base = server.base(Scope::Realm);
    let refused = server.post(&format!("{base}/Users"), user("nul\u{0}name", "x-nul")).await;
    refused.assert_scim_error(400);
    assert!(refused.text.contains("NUL"), "{}", refused.text);
    let mut body = user("nul-title", "x-nul-title");
    body["title"] = serde_json::json!("a\u{0}b");
    server.post(&format!("{base}/Users"), body).await.assert_scim_error(400);
    let listed = server.get(&format!("{base}/Users")).await.expect(200);
    assert_eq!(listed.body["totalResults"], 0, "nothing was kept");
    server.stop().await;
}
