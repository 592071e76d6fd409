//! Per-realm limits: a realm over its request rate or its concurrent calls is refused with
//! a SCIM error and a Retry-After, while another realm is served as usual.

use scim_host_e2e::*;

fn limited(server: &TestServer, path: &str) -> String {
    format!("{}/realms/limited/scim/v2{path}", server.origin)
}

async fn call_limited(server: &TestServer, path: &str) -> Answer {
    server.call_with(reqwest::Method::GET, &limited(server, path), None, Some(MISBEHAVING_TOKEN)).await
}

/// Guest instances created, each when its call begins.
const INSTANCES: &str = "scim_host_instantiations_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_realm_over_its_rate_or_concurrency_is_refused_while_another_is_served() {
    let server = std::sync::Arc::new(TestServer::start().await);

    // The rate: a burst of 10 passes, then 429s until the bucket refills.
    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..25 {
        let answer = call_limited(&server, "/Users").await;
        statuses.push(answer.status.as_u16());
        if answer.status.as_u16() == 429 {
            refusal.get_or_insert(answer);
        }
        // The other realm meanwhile: never refused.
        server.get(&format!("{}/Users", server.base(Scope::Realm))).await.expect(200);
    }
    assert!(statuses[..10].iter().all(|&s| s == 200), "the burst passes: {statuses:?}");
    let refusal = refusal.unwrap_or_else(|| panic!("no 429 among {statuses:?}"));
    refusal.assert_scim_error(429);
    assert!(refusal.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)));
    assert!(refusal.body["detail"].as_str().unwrap().contains("request rate"), "{}", refusal.text);

    // Concurrency: while one call runs (a loop, cut at 300 ms), a second is refused.
    // Wait for the bucket to hold a few tokens again (2 a second).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let instances = server.metric(INSTANCES).await;
    let busy = {
        let server = server.clone();
        tokio::spawn(async move { call_limited(&server, "/loop").await })
    };
    // The loop runs: it holds the realm's one call.
    server.metric_reaches(INSTANCES, instances + 1.0).await;
    let second = call_limited(&server, "/anything").await;
    second.assert_scim_error(503);
    assert!(second.body["detail"].as_str().unwrap().contains("1 concurrent calls"), "{}", second.text);
    assert!(second.header("retry-after").is_some());
    server.get(&format!("{}/Users", server.base(Scope::Realm))).await.expect(200);
    busy.await.unwrap().assert_scim_error(503);
    assert_eq!(call_limited(&server, "/anything").await.expect(200).text, "ok", "served again once the call ended");
}
