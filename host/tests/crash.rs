//! A crash under load loses nothing that was acknowledged: writers keep creating users,
//! groups and memberships while the server is killed with SIGKILL; after a restart every
//! answered write is there and the database is intact.

mod support;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{postgres_store, start};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// What the server answered as done before it died.
#[derive(Default)]
struct Acknowledged {
    users: Vec<String>,
    /// Each group with the members its answer listed.
    groups: Vec<(String, Vec<String>)>,
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Option<Value> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    if response.status().as_u16() != 201 {
        return None;
    }
    response.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_under_load_keeps_every_acknowledged_write() {
    let data = tempfile::tempdir().unwrap();
    let (realm_token, admin_token) = ("crash-realm-token", "crash-admin-token");
    let mut server = start(data.path(), Some((realm_token, admin_token)));
    let base = format!("{}/realms/demo/scim/v2", server.origin);
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let client = reqwest::Client::new();

    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, base, acknowledged) = (client.clone(), base.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let user = json!({ "schemas": [USER], "userName": format!("w{w}-{n}"), "externalId": format!("x{w}-{n}") });
                    let Some(created) = post(&client, format!("{base}/Users"), realm_token, user).await else { break };
                    let id = created["id"].as_str().unwrap().to_string();
                    acknowledged.lock().unwrap().users.push(id.clone());
                    let group = json!({ "schemas": [GROUP], "displayName": format!("g{w}-{n}"), "members": [{ "value": id }] });
                    let Some(created) = post(&client, format!("{base}/Groups"), realm_token, group).await else { break };
                    let members = created["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_string());
                    acknowledged.lock().unwrap().groups.push((created["id"].as_str().unwrap().to_string(), members.collect()));
                }
            })
        })
        .collect();
    // Killed in the thick of it: once the writers have had many writes answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().groups.len() < 100 {
        assert!(std::time::Instant::now() < deadline, "the writers got few answers in 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    assert!(acknowledged.users.len() > 20, "the writers wrote before the kill: {}", acknowledged.users.len());

    if postgres_store(data.path()).is_none() {
        let database = rusqlite::Connection::open(data.path().join("scim-host.db")).unwrap();
        let integrity: String = database.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(integrity, "ok");
    }

    let server = start(data.path(), Some((realm_token, admin_token)));
    let base = format!("{}/realms/demo/scim/v2", server.origin);
    let get = |url: String| {
        let client = client.clone();
        async move { client.get(url).bearer_auth(realm_token).send().await.unwrap() }
    };
    for id in &acknowledged.users {
        assert_eq!(get(format!("{base}/Users/{id}")).await.status().as_u16(), 200, "user {id} was lost");
    }
    for (id, members) in &acknowledged.groups {
        let group: Value = get(format!("{base}/Groups/{id}")).await.json().await.unwrap();
        let kept: Vec<String> = group["members"]
            .as_array()
            .map_or(vec![], |m| m.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect());
        assert_eq!(&kept, members, "group {id} lost members");
    }
    println!(
        "{} users and {} groups acknowledged before the kill, all kept",
        acknowledged.users.len(),
        acknowledged.groups.len()
    );
    server.stop();
}
