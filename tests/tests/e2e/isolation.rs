//! A guest that traps, loops or eats memory costs its own request a SCIM error with a
//! request id, rolls back what it wrote, and costs every other request nothing; a write
//! that loops delays other writes by one write turn (50 ms) at most, not by its deadline.

use scim_host_e2e::*;
use serde_json::json;

fn misbehaving(server: &TestServer, path: &str) -> String {
    format!("{}/realms/misbehaving/scim/v2{path}", server.origin)
}

async fn call(server: &TestServer, path: &str) -> Answer {
    server.call_with(reqwest::Method::POST, &misbehaving(server, path), None, Some(MISBEHAVING_TOKEN)).await
}

/// Three calls that run into their deadline or memory cap at once: the realm cools down.
async fn start_cool_down(server: &TestServer) {
    let (a, b, c) = tokio::join!(call(server, "/loop"), call(server, "/eat"), call(server, "/loop"));
    for answer in [a, b, c] {
        answer.assert_scim_error(503);
    }
}

/// The number of users the misbehaving realm holds, as its guest counts them.
async fn users_in_misbehaving_realm(server: &TestServer) -> String {
    call(server, "/count").await.expect(200).text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trapping_guest_costs_only_its_request() {
    let server = std::sync::Arc::new(TestServer::start().await);

    // A healthy realm keeps serving while the bad guest traps, loops and eats memory.
    let healthy = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..20 {
                ids.push(server.create_user(Scope::Realm, &format!("steady{i}"), &format!("x-steady{i}")).await);
            }
            ids
        })
    };
    let (trap, spin, eat) = tokio::join!(call(&server, "/trap"), call(&server, "/loop"), call(&server, "/eat"));

    trap.assert_scim_error(500);
    let request_id = trap.header("x-request-id").expect("a request id").to_string();
    assert!(trap.body["detail"].as_str().unwrap().contains(&request_id), "{}", trap.text);
    assert!(trap.body["detail"].as_str().unwrap().contains("trapped"), "{}", trap.text);

    spin.assert_scim_error(503);
    assert!(spin.body["detail"].as_str().unwrap().contains("deadline"), "{}", spin.text);
    assert!(spin.header("retry-after").is_some());

    eat.assert_scim_error(503);
    assert!(eat.body["detail"].as_str().unwrap().contains("memory limit of 16 MiB"), "{}", eat.text);

    assert_eq!(healthy.await.unwrap().len(), 20, "every healthy request succeeded");
    // The same guest serves its next request normally.
    assert_eq!(call(&server, "/anything").await.expect(200).text, "ok");
}

/// Guest calls begun (on SQLite, a looping write begins once it has its write turn).
const INSTANTIATED: &str = "scim_host_instantiations_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn looping_writes_give_up_their_write_turns_to_other_realms() {
    let server = std::sync::Arc::new(TestServer::start().await);
    // More looping writes than there are write turns (one per core), each until its
    // 300 ms deadline. Held to the end, the turns would keep the next write waiting
    // until every loop had ended.
    let turns = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    let loops = turns + 2;
    // Both realms' requests of these kinds have written, so they begin as writes, each
    // in a write turn.
    for i in 0..8 {
        call(&server, "/loop?teach").await.expect(200);
        server.create_user(Scope::Realm, &format!("taught-{i}"), &format!("x-taught-{i}")).await;
    }
    let begun = server.metric(INSTANTIATED).await;
    let spinning: Vec<_> = (0..loops)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { call(&server, "/loop").await })
        })
        .collect();
    // Every turn is taken by a looping call (PostgreSQL has no turns: they all run).
    server.metric_reaches(INSTANTIATED, begun + turns as f64).await;
    server.create_user(Scope::Realm, "meanwhile", "x-meanwhile").await;
    let still_looping = spinning.iter().filter(|call| !call.is_finished()).count();
    assert!(still_looping > 0, "the write waited for all {loops} looping writes to end");
    for call in spinning {
        call.await.unwrap().assert_scim_error(503);
    }
}

#[tokio::test]
async fn a_failed_call_rolls_back_what_it_wrote() {
    let server = TestServer::start().await;
    assert_eq!(users_in_misbehaving_realm(&server).await, "0");
    call(&server, "/write-then-trap").await.assert_scim_error(500);
    assert_eq!(users_in_misbehaving_realm(&server).await, "0", "a trap rolls back");
    let answer = call(&server, "/write-then-500").await;
    assert_eq!(answer.status.as_u16(), 500);
    assert_eq!(users_in_misbehaving_realm(&server).await, "0", "a 5xx rolls back");
    // And a 4xx from the stock guest leaves nothing half-done either.
    let base = server.base(Scope::Realm);
    let a = server.create_user(Scope::Realm, "a", "x-a").await;
    let body = group("Half", "half", &[&a, "missing"]);
    server.post(&format!("{base}/Groups"), body).await.assert_scim_error(400);
    assert_eq!(server.get(&format!("{base}/Groups")).await.body["totalResults"], json!(0));
    server.stop().await;
}

#[tokio::test]
async fn guest_that_sleeps_is_cut_at_its_deadline() {
    let server = TestServer::start().await;
    // An hour asleep in WASI's poll, where the epoch cannot reach: the 300 ms deadline does.
    let started = std::time::Instant::now();
    let slept = call(&server, "/sleep").await;
    slept.assert_scim_error(503);
    assert!(slept.body["detail"].as_str().unwrap().contains("deadline"), "{}", slept.text);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "cut after {:?}", started.elapsed());
    assert_eq!(call(&server, "/anything").await.expect(200).text, "ok");
    server.stop().await;
}

#[tokio::test]
async fn client_that_hangs_up_mid_call_does_not_escape_the_realms_concurrency_limit() {
    let server = TestServer::start().await;
    let limits = json!({ "limits": { "concurrent_calls": 1, "deadline_ms": 3_000 } });
    server.admin(reqwest::Method::PATCH, "/admin/realms/misbehaving", Some(limits)).await.expect(200);
    // The client gives up after 200 ms; its call sleeps on in the guest until its deadline.
    let hung_up = server
        .client
        .post(misbehaving(&server, "/sleep"))
        .bearer_auth(MISBEHAVING_TOKEN)
        .timeout(std::time::Duration::from_millis(200))
        .send()
        .await;
    assert!(hung_up.is_err_and(|e| e.is_timeout()));
    let refused = call(&server, "/anything").await;
    refused.assert_scim_error(503);
    assert!(refused.body["detail"].as_str().unwrap().contains("concurrent calls"), "{}", refused.text);
    // Once the abandoned call has ended, the realm's one call is free again.
    let started = std::time::Instant::now();
    loop {
        let answer = call(&server, "/anything").await;
        if answer.status == 200 {
            break;
        }
        answer.assert_scim_error(503);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the permit never came back");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_that_hangs_up_on_looping_writes_does_not_keep_their_write_turns() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let limits = json!({ "limits": { "deadline_ms": 3_000, "concurrent_calls": 64 } });
    server.admin(reqwest::Method::PATCH, "/admin/realms/misbehaving", Some(limits)).await.expect(200);
    // More looping writes than there are write turns, each abandoned by its client.
    let loops = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2) + 2;
    let hang_ups: Vec<_> = (0..loops)
        .map(|_| {
            let request = server.client.post(misbehaving(&server, "/loop")).bearer_auth(MISBEHAVING_TOKEN);
            tokio::spawn(request.timeout(std::time::Duration::from_millis(100)).send())
        })
        .collect();
    for hung_up in hang_ups {
        assert!(hung_up.await.unwrap().is_err_and(|e| e.is_timeout()));
    }
    let started = std::time::Instant::now();
    server.create_user(Scope::Realm, "meanwhile", "x-meanwhile").await;
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_millis(1_500), "the write waited {waited:?} for abandoned loops");
}

/// A call whose client hung up still runs, and needs the runtime's timers to end: a
/// server that stopped under it would tear them down beneath a sleeping guest.
#[tokio::test]
async fn stopping_server_waits_for_calls_whose_clients_hung_up() {
    let server = TestServer::start().await;
    let limits = json!({ "limits": { "deadline_ms": 2_000 } });
    server.admin(reqwest::Method::PATCH, "/admin/realms/misbehaving", Some(limits)).await.expect(200);
    let started = std::time::Instant::now();
    let request = server.client.post(misbehaving(&server, "/sleep")).bearer_auth(MISBEHAVING_TOKEN);
    let hung_up = request.timeout(std::time::Duration::from_millis(200)).send().await;
    assert!(hung_up.is_err_and(|e| e.is_timeout()));
    server.stop().await;
    let stopped = started.elapsed();
    assert!(stopped >= std::time::Duration::from_millis(1_900), "stopped after {stopped:?}, under a running call");
}

/// Times a call took the store's writer (counted once its wait ends), or on PostgreSQL
/// began to write (and to hold row locks).
fn writer_taken() -> &'static str {
    match scratch_postgres::selected() {
        true => "scim_host_store_write_transactions_total",
        false => "scim_host_store_writer_wait_seconds_count",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guest_that_writes_then_loops_does_not_hold_other_realms_writes() {
    let server = std::sync::Arc::new(TestServer::start().await);
    // A long deadline, and a write hold of 200 ms: once it holds the store's writer, the
    // call has 200 ms left, not 30 s.
    let limits = json!({ "limits": { "deadline_ms": 30_000, "write_hold_ms": 200 } });
    server.admin(reqwest::Method::PATCH, "/admin/realms/misbehaving", Some(limits)).await.expect(200);

    let taken = server.metric(writer_taken()).await;
    let started = std::time::Instant::now();
    let hog = {
        let server = server.clone();
        tokio::spawn(async move { (call(&server, "/write-then-loop").await, started.elapsed()) })
    };
    server.metric_reaches(writer_taken(), taken + 1.0).await;
    server.create_user(Scope::Realm, "meanwhile", "x-meanwhile").await;
    let waited = started.elapsed();
    let (hogged, held) = hog.await.unwrap();
    hogged.assert_scim_error(503);
    assert!(held < std::time::Duration::from_secs(10), "the writer was held {held:?}");
    assert!(waited < std::time::Duration::from_secs(10), "the other realm's write waited {waited:?}");
    assert_eq!(users_in_misbehaving_realm(&server).await, "0", "the cut call was rolled back");
}

#[tokio::test]
async fn realm_that_keeps_hitting_its_deadline_is_refused_during_a_cool_down() {
    let server = TestServer::start().await;
    start_cool_down(&server).await;
    // Refused before it runs: not even a quick call gets an instance now.
    let instantiations = server.metric("scim_host_instantiations_total").await;
    let refused = call(&server, "/anything").await;
    refused.assert_scim_error(503);
    assert!(refused.body["detail"].as_str().unwrap().contains("cooling down"), "{}", refused.text);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry), "retry after {retry} s");
    assert_eq!(server.metric("scim_host_instantiations_total").await, instantiations);
    // Every other realm serves as before.
    server.create_user(Scope::Realm, "unaffected", "x-unaffected").await;
    server.stop().await;
}

/// A client that retries the moment it is refused, on one connection: during the
/// cool-down each refusal waits a moment, so it costs a few refusals a second, not a core.
#[tokio::test]
async fn tenant_retrying_at_once_during_its_cool_down_gets_few_refusals_a_second() {
    let server = TestServer::start().await;
    start_cool_down(&server).await;
    let started = std::time::Instant::now();
    let mut refusals = 0;
    while started.elapsed() < std::time::Duration::from_secs(1) {
        let refused = call(&server, "/anything").await;
        refused.assert_scim_error(503);
        assert!(refused.body["detail"].as_str().unwrap().contains("cooling down"), "{}", refused.text);
        refusals += 1;
    }
    assert!(refusals <= 6, "{refusals} refusals in a second");
    server.stop().await;
}
