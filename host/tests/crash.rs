//! A crash under load loses nothing that was acknowledged: writers keep creating users,
//! groups and memberships while the server is killed with SIGKILL; after a restart (or on
//! another host of the same PostgreSQL store) every answered write is there.

mod support;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{postgres_store, scratch_postgres, start, start_on};

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

/// Writers, `per_host` on each base URL, that create a user and then a group with it as
/// member until a write fails; each answered write is kept in `acknowledged`.
fn writers(
    client: &reqwest::Client,
    bases: &[String],
    per_host: usize,
    token: &'static str,
    acknowledged: &Arc<Mutex<Acknowledged>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut writers = Vec::new();
    for (h, base) in bases.iter().enumerate() {
        for w in 0..per_host {
            let (client, base, acknowledged) = (client.clone(), base.clone(), acknowledged.clone());
            writers.push(tokio::spawn(async move {
                for n in 0.. {
                    let user = json!({ "schemas": [USER], "userName": format!("h{h}-w{w}-{n}"), "externalId": format!("x{h}-{w}-{n}") });
                    let Some(created) = post(&client, format!("{base}/Users"), token, user).await else { break };
                    let id = created["id"].as_str().unwrap().to_string();
                    acknowledged.lock().unwrap().users.push(id.clone());
                    let group = json!({ "schemas": [GROUP], "displayName": format!("g{h}-{w}-{n}"), "members": [{ "value": id }] });
                    let Some(created) = post(&client, format!("{base}/Groups"), token, group).await else { break };
                    let members = created["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_string());
                    acknowledged.lock().unwrap().groups.push((created["id"].as_str().unwrap().to_string(), members.collect()));
                }
            }));
        }
    }
    writers
}

/// Waits until the writers have had `groups` groups answered (60 s at most).
async fn until_acknowledged(acknowledged: &Mutex<Acknowledged>, groups: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().groups.len() < groups {
        assert!(std::time::Instant::now() < deadline, "the writers got few answers in 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks that `base` serves every acknowledged user and group, with its members.
async fn every_write_kept(client: &reqwest::Client, base: &str, token: &str, acknowledged: &Acknowledged) {
    let get = |url: String| {
        let client = client.clone();
        let token = token.to_string();
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_under_load_keeps_every_acknowledged_write() {
    let data = tempfile::tempdir().unwrap();
    let (realm_token, admin_token) = ("crash-realm-token", "crash-admin-token");
    let mut server = start(data.path(), Some((realm_token, admin_token)));
    let base = format!("{}/realms/demo/scim/v2", server.origin);
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let client = reqwest::Client::new();

    let writers = writers(&client, &[base], 8, realm_token, &acknowledged);
    // Killed in the thick of it: once the writers have had many writes answered.
    until_acknowledged(&acknowledged, 100).await;
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
    every_write_kept(&client, &base, realm_token, &acknowledged).await;
    println!(
        "{} users and {} groups acknowledged before the kill, all kept",
        acknowledged.users.len(),
        acknowledged.groups.len()
    );
    server.stop();
}

/// Two hosts on one PostgreSQL store (whichever store the other tests run on), both under
/// load; one is killed with SIGKILL. The other keeps serving, and serves every write
/// either host acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_killed_under_load_loses_no_acknowledged_write() {
    let store = scratch_postgres::fresh_database();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (realm_token, admin_token) = ("crash-realm-token", "crash-admin-token");
    let mut killed = start_on(data_a.path(), Some((realm_token, admin_token)), Some(&store));
    let survivor = start_on(data_b.path(), Some((realm_token, admin_token)), Some(&store));
    let bases: Vec<String> =
        [&killed, &survivor].iter().map(|host| format!("{}/realms/demo/scim/v2", host.origin)).collect();
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let client = reqwest::Client::new();

    let writers = writers(&client, &bases, 4, realm_token, &acknowledged);
    until_acknowledged(&acknowledged, 100).await;
    killed.child.kill().expect("SIGKILL");
    killed.child.wait().unwrap();
    // The survivor's writers carry on: 100 more groups, all through it.
    let at_kill = acknowledged.lock().unwrap().groups.len();
    until_acknowledged(&acknowledged, at_kill + 100).await;
    let survivors_running = writers.iter().filter(|w| !w.is_finished()).count();
    assert_eq!(survivors_running, 4, "every writer of the surviving host still writes");
    for writer in &writers {
        writer.abort();
    }
    for writer in writers {
        let _ = writer.await;
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    every_write_kept(&client, &bases[1], realm_token, &acknowledged).await;
    println!(
        "{} users and {} groups acknowledged by two hosts, one killed after {at_kill} groups; all kept",
        acknowledged.users.len(),
        acknowledged.groups.len()
    );
    survivor.stop();
}
