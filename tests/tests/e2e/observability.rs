//! What an operator watches: readiness, and Prometheus metrics that count what happened.

use scim_host_e2e::*;

#[tokio::test]
async fn readiness_and_metrics_follow_what_happened() {
    let server = TestServer::start().await;
    let ready = server.get(&format!("{}/readyz", server.origin)).await.expect(200);
    assert_eq!(ready.body["status"], "ready");
    // The store's own series: on SQLite, its one writer (which wrote realms and tokens at
    // start) and its write groups; on PostgreSQL, the call transactions that wrote.
    let store_series: &[&str] = match scratch_postgres::selected() {
        true => &["scim_host_store_write_transactions_total"],
        false => &["scim_host_store_writer_wait_seconds_count", "scim_host_store_write_group_calls_sum"],
    };
    let mut store_before = Vec::new();
    for series in store_series {
        store_before.push(server.metric(series).await);
    }

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

    assert_eq!(server.metric(r#"scim_host_requests_total{realm="demo",method="GET",status="200"}"#).await, 3.0);
    assert_eq!(server.metric(r#"scim_host_requests_total{realm="demo",method="POST",status="201"}"#).await, 1.0);
    assert_eq!(server.metric(r#"scim_host_requests_total{realm="-",method="GET",status="404"}"#).await, 1.0);
    assert_eq!(server.metric(r#"scim_host_guest_failures_total{realm="misbehaving",kind="trap"}"#).await, 1.0);
    // The POST of a new user began as a read and became a write when it wrote; the
    // trapping call never reached the store's writer.
    assert_eq!(server.metric("scim_host_write_upgrades_total").await, 1.0);
    assert_eq!(server.metric("scim_host_reruns_total").await, 0.0);
    assert_eq!(server.metric(r#"scim_host_guest_call_seconds_count{realm="demo"}"#).await, 4.0, "one call a request");
    assert_eq!(server.metric("scim_host_store_commit_seconds_count").await, 4.0, "three reads and one write committed");
    // The one write reached the store's writer once, and committed in a transaction of its
    // own (SQLite); it was the one call transaction that wrote (PostgreSQL).
    for (series, before) in store_series.iter().zip(store_before) {
        assert_eq!(server.metric(series).await - before, 1.0, "{series}");
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_methods_do_not_grow_metrics() {
    let server = TestServer::start().await;
    let url = format!("{}/Users", server.base(Scope::Realm));
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("FOO{i}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").as_bytes()).unwrap();
        server.call(method, &url, None).await;
    }
    let metrics = server.get(&format!("{}/metrics", server.origin)).await.expect(200).text;
    assert!(!metrics.contains("FOO"), "a client's method became a label");
    let others: Vec<_> = metrics.lines().filter(|l| l.contains("method=\"OTHER\"")).collect();
    assert_eq!(others.len(), 1, "one series for every unknown method: {others:?}");
    assert!(others[0].ends_with(" 50"), "{others:?}");
    server.stop().await;
}
