//! What an operator watches: readiness, and Prometheus metrics that count what happened.

use scim_host_e2e::*;

fn value_of(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in\n{metrics}"))
}

#[tokio::test]
async fn readiness_and_metrics_follow_what_happened() {
    let server = TestServer::start().await;
    let ready = server.get(&format!("{}/readyz", server.origin)).await.expect(200);
    assert_eq!(ready.body["status"], "ready");

    for _ in 0..3 {
        server.get(&format!("{}/Users", server.base(Scope::Realm))).await.expect(200);
    }
    server.create_user(Scope::Organization("acme"), "metered", "x-metered").await;
    let trap = server
        .call_with(
            reqwest::Method::POST,
            &format!("{}/realms/misbehaving/scim/v2/trap", server.origin),
            None,
            Some(MISBEHAVING_TOKEN),
        )
        .await;
    trap.assert_scim_error(500);
    server.get(&format!("{}/realms/nowhere/scim/v2/Users", server.origin)).await.assert_scim_error(404);

    let metrics = server.get(&format!("{}/metrics", server.origin)).await.expect(200).text;
    assert_eq!(value_of(&metrics, r#"scim_host_requests_total{realm="demo",method="GET",status="200"}"#), 3.0);
    assert_eq!(value_of(&metrics, r#"scim_host_requests_total{realm="demo",method="POST",status="201"}"#), 1.0);
    assert_eq!(value_of(&metrics, r#"scim_host_requests_total{realm="-",method="GET",status="404"}"#), 1.0);
    assert_eq!(value_of(&metrics, r#"scim_host_guest_failures_total{realm="misbehaving",kind="trap"}"#), 1.0);
    assert_eq!(value_of(&metrics, "scim_host_instantiations_total"), 5.0);
    assert_eq!(value_of(&metrics, r#"scim_host_guest_call_seconds_count{realm="demo"}"#), 4.0);
    assert_eq!(value_of(&metrics, "scim_host_store_commit_seconds_count"), 4.0, "three reads and one write committed");
    server.stop().await;
}
