//! One call, one transaction: identical requests racing each other converge.

use scim_host_e2e::*;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_racing_identical_posts_create_one_user() {
    let server = std::sync::Arc::new(TestServer::start().await);
    for (n, scope) in BOTH_SCOPES.into_iter().enumerate() {
        let url = format!("{}/Users", server.base(scope));
        let body = user(&format!("racer{n}"), &format!("x-racer{n}"));
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(10));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (server, url, body, start) = (server.clone(), url.clone(), body.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    server.post(&url, body).await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        let mut ids = BTreeSet::new();
        for task in tasks {
            let answer = task.await.unwrap();
            statuses.push(answer.status.as_u16());
            ids.insert(answer.id());
        }
        assert_eq!(ids.len(), 1, "{scope:?}: every answer names the same user; statuses {statuses:?}");
        assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1, "{scope:?}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 9, "{scope:?}: {statuses:?}");
        let listed = server.get(&format!("{url}?filter=userName%20eq%20%22racer{n}%22")).await.expect(200);
        assert_eq!(listed.body["totalResults"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_group_pushes_leave_one_consistent_membership() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let base = server.base(Scope::Realm);
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(server.create_user(Scope::Realm, &format!("m{i}"), &format!("x-m{i}")).await);
    }
    let gid = server.post(&format!("{base}/Groups"), group("Race", "race", &[])).await.expect(201).id();
    // Two IdP pushes race: one wants members 0-2, the other 3-5. One of them wins whole.
    let tasks: Vec<_> = [&ids[0..3], &ids[3..6]]
        .into_iter()
        .cycle()
        .take(8)
        .map(|members| {
            let members: Vec<String> = members.to_vec();
            let (server, url) = (server.clone(), format!("{base}/Groups/{gid}"));
            tokio::spawn(async move {
                let refs: Vec<&str> = members.iter().map(String::as_str).collect();
                server.put(&url, group("Race", "race", &refs)).await.status.as_u16()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let members = member_ids(&server.get(&format!("{base}/Groups/{gid}")).await.expect(200).body);
    let first: Vec<&str> = ids[0..3].iter().map(String::as_str).collect();
    let second: Vec<&str> = ids[3..6].iter().map(String::as_str).collect();
    assert!(members == sorted(&first) || members == sorted(&second), "a mix of two pushes: {members:?}");
}

/// Sixteen clients PATCHing members into one group at once, as a provisioning burst does:
/// on PostgreSQL they meet on the group's row and run again, and those that keep meeting
/// queue behind the realm's write lock: every PATCH is answered 2xx and every member is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_clients_patching_one_group_all_succeed() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let base = server.base(Scope::Realm);
    let mut users = Vec::new();
    for i in 0..64 {
        users.push(server.create_user(Scope::Realm, &format!("member-{i}"), &format!("x-member-{i}")).await);
    }
    let group = server.post(&format!("{base}/Groups"), group("Busy", "g-busy", &[])).await.expect(201).id();
    let url = format!("{base}/Groups/{group}");
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = users
        .chunks(4)
        .map(|chunk| {
            let (server, url, start, chunk) = (server.clone(), url.clone(), start.clone(), chunk.to_vec());
            tokio::spawn(async move {
                start.wait().await;
                let mut statuses = Vec::new();
                for id in chunk {
                    let patch = serde_json::json!({ "schemas": [PATCH_SCHEMA],
                        "Operations": [{ "op": "add", "path": "members", "value": [{ "value": id }] }] });
                    statuses.push(server.patch(&url, patch).await.status.as_u16());
                }
                statuses
            })
        })
        .collect();
    for task in tasks {
        let statuses = task.await.unwrap();
        assert!(statuses.iter().all(|s| (200..300).contains(s)), "{statuses:?}");
    }
    let members = member_ids(&server.get(&url).await.expect(200).body);
    assert_eq!(members.len(), 64, "every member is in");
    if scim_host_e2e::scratch_postgres::selected() {
        // Where writes run in parallel, calls that keep meeting learn to begin alone.
        let alone_first = server.metric("scim_host_calls_begun_as_writes_total").await;
        assert!(alone_first > 0.0, "no PATCH began alone among the group's writers");
    }
}
