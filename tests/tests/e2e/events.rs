//! Admin events: paged, filtered by type and time, and followed live as Server-Sent Events.

use reqwest::Method;
use scim_host_e2e::*;

async fn events(server: &TestServer, query: &str) -> Answer {
    server
        .call_with(Method::GET, &format!("{}/admin/realms/demo/events?{query}", server.origin), None, Some(ADMIN_TOKEN))
        .await
}

#[tokio::test]
async fn events_page_and_filter_by_type_and_time() {
    let server = TestServer::start().await;
    let a = server.create_user(Scope::Realm, "ev-a", "x-ev-a").await;
    let b = server.create_user(Scope::Realm, "ev-b", "x-ev-b").await;
    server.post(&format!("{}/Groups", server.base(Scope::Realm)), group("Ev", "x-ev", &[&a, &b])).await.expect(201);

    let first = events(&server, "limit=2").await.expect(200);
    assert_eq!(first.body["events"].as_array().unwrap().len(), 2);
    let next = first.body["next"].as_i64().unwrap();
    let rest = events(&server, &format!("after={next}&limit=100")).await.expect(200);
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 3, "group created, two members joined: {}", rest.text);

    let joined = events(&server, "type=member_joined").await.expect(200);
    let related: Vec<_> = joined.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["relatedId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(related, [a.clone(), b.clone()]);
    let two_kinds = events(&server, "type=USER_CREATED,GROUP_CREATED").await.expect(200);
    assert_eq!(two_kinds.body["events"].as_array().unwrap().len(), 3);

    let later = events(&server, "since=2999-01-01T00:00:00Z").await.expect(200);
    assert!(later.body["events"].as_array().unwrap().is_empty());
    let earlier = events(&server, "until=2000-01-01T00:00:00Z").await.expect(200);
    assert!(earlier.body["events"].as_array().unwrap().is_empty());
    let all = events(&server, "since=0").await.expect(200);
    assert_eq!(all.body["events"].as_array().unwrap().len(), 5);
    events(&server, "since=yesterday").await.assert_scim_error(400);

    let newest = events(&server, "order=newest&limit=2").await.expect(200);
    let seqs: Vec<i64> = newest.body["events"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let oldest_first: Vec<i64> =
        all.body["events"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [oldest_first[4], oldest_first[3]], "the newest two, newest first: {}", newest.text);
    assert_eq!(newest.body["next"], oldest_first[4], "the stream goes on after the newest");
    events(&server, "order=sideways").await.assert_scim_error(400);
    server.stop().await;
}

#[tokio::test]
async fn events_are_followed_live_as_server_sent_events() {
    let server = TestServer::start().await;
    server.create_user(Scope::Realm, "before", "x-before").await;
    let mut stream = server
        .client
        .get(format!("{}/admin/realms/demo/events/stream?type=USER_CREATED", server.origin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let created = server.create_user(Scope::Realm, "live", "x-live").await;

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains(&created) {
        let chunk =
            tokio::time::timeout_at(deadline, stream.chunk()).await.expect("the event arrives").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: USER_CREATED"), "{seen}");
    assert!(seen.find("\"before\"").unwrap() < seen.find("\"live\"").unwrap(), "history first, then live: {seen}");
    assert!(seen.contains("id: 1\n") && seen.contains("id: 2\n"), "{seen}");
    server.stop().await;
}
