//! Realms and organizations managed through the admin API while the server runs: created,
//! served, changed, deleted, and kept across a restart; the configuration's own realms and
//! organizations are protected from deletion.

use reqwest::Method;
use scim_host_e2e::*;
use serde_json::{Value, json};

/// Issues a token for a realm (or one organization of it); returns the secret.
async fn issue_token(server: &TestServer, realm: &str, organization: Option<&str>) -> String {
    let body = json!({ "organization": organization, "label": "test" });
    let issued = server.admin(Method::POST, &format!("/admin/realms/{realm}/tokens"), Some(body)).await.expect(201);
    issued.body["token"].as_str().unwrap().to_string()
}

fn count(server: &TestServer, sql: &str, realm: &str) -> i64 {
    server.stored(sql, &[realm]).pop().unwrap().parse().unwrap()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_realm_created_at_run_time_serves_scim_and_survives_a_restart() {
    let server = TestServer::start().await;
    let created = server
        .admin(
            Method::POST,
            "/admin/realms",
            Some(json!({ "name": "tenant-a", "limits": { "requests_per_second": 500, "memory_mib": 32 } })),
        )
        .await
        .expect(201);
    assert_eq!(created.header("location"), Some("/admin/realms/tenant-a"));
    assert_eq!(created.body["managed"], json!(true));
    assert_eq!(created.body["limits"]["memory_mib"], json!(32));
    assert_eq!(created.body["limits"]["requests_per_second"], json!(500.0));
    assert_eq!(created.body["limits"]["deadline_ms"], json!(5000), "limits left out keep the server's");
    assert_eq!(created.body["limitsFrom"], json!("admin"));

    let token = issue_token(&server, "tenant-a", None).await;
    let base = format!("{}/realms/tenant-a/scim/v2", server.origin);
    let id = server
        .call_with(Method::POST, &format!("{base}/Users"), Some(user("ada@tenant-a.example", "ext-1")), Some(&token))
        .await
        .expect(201)
        .id();
    // The demo realm's token does not open it, nor the other way round.
    server.call_with(Method::GET, &format!("{base}/Users/{id}"), None, Some(TOKEN)).await.assert_scim_error(401);
    server
        .call_with(Method::GET, &format!("{}/Users", server.base(Scope::Realm)), None, Some(&token))
        .await
        .assert_scim_error(401);
    let listed = server.admin(Method::GET, "/admin/realms", None).await.expect(200);
    let names: Vec<_> = listed.body["realms"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names, [json!("demo"), json!("limited"), json!("misbehaving"), json!("tenant-a")]);
    server.admin(Method::POST, "/admin/realms", Some(json!({ "name": "tenant-a" }))).await.assert_scim_error(409);
    server.admin(Method::POST, "/admin/realms", Some(json!({ "name": "a/b" }))).await.assert_scim_error(400);
    let refused = server
        .admin(Method::POST, "/admin/realms", Some(json!({ "name": "tenant-b", "limits": { "memory_mib": 1 } })))
        .await;
    refused.assert_scim_error(400);
    assert!(refused.body["detail"].as_str().unwrap().contains("memory_mib = 1"), "{}", refused.text);

    let server = server.restart().await;
    let base = format!("{}/realms/tenant-a/scim/v2", server.origin);
    let user = server.call_with(Method::GET, &format!("{base}/Users/{id}"), None, Some(&token)).await.expect(200);
    assert_eq!(user.body["userName"], json!("ada@tenant-a.example"));
    let realm = server.admin(Method::GET, "/admin/realms/tenant-a", None).await.expect(200);
    assert_eq!(realm.body["limits"]["memory_mib"], json!(32), "the limits set through the admin API are kept");
    let events = server.admin(Method::GET, "/admin/realms/tenant-a/events", None).await.expect(200);
    let events = events.body["events"].as_array().unwrap().clone();
    assert_eq!(kinds(&events), ["REALM_CREATED", "TOKEN_ISSUED", "USER_CREATED"]);
    server.admin(Method::GET, "/admin/realms/tenant-b", None).await.assert_scim_error(404);
}

#[tokio::test]
async fn deleting_a_realm_takes_all_its_data_and_leaves_the_others_alone() {
    let server = TestServer::start().await;
    server.admin(Method::POST, "/admin/realms", Some(json!({ "name": "gone" }))).await.expect(201);
    server.admin(Method::POST, "/admin/realms/gone/organizations", Some(json!({ "alias": "unit" }))).await.expect(201);
    let token = issue_token(&server, "gone", None).await;
    let base = format!("{}/realms/gone/scim/v2", server.origin);
    let mut ids = Vec::new();
    for n in 0..3 {
        let body = user(&format!("user{n}@gone.example"), &format!("ext-{n}"));
        ids.push(
            server.call_with(Method::POST, &format!("{base}/Users"), Some(body), Some(&token)).await.expect(201).id(),
        );
    }
    let members: Vec<&str> = ids.iter().map(String::as_str).collect();
    server
        .call_with(Method::POST, &format!("{base}/Groups"), Some(group("staff", "g-1", &members)), Some(&token))
        .await
        .expect(201);
    let kept = server.create_user(Scope::Realm, "stays@demo.example", "ext-demo").await;

    server.admin(Method::DELETE, "/admin/realms/gone", None).await.expect(204);
    let refused = server.call_with(Method::GET, &format!("{base}/Users"), None, Some(&token)).await;
    refused.assert_scim_error(404);
    for table in ["users", "groups", "user_attributes", "memberships", "organizations", "tokens", "events"] {
        let sql = format!("SELECT CAST(count(*) AS TEXT) FROM {table} WHERE realm = $1");
        assert_eq!(count(&server, &sql, "gone"), 0, "rows of the deleted realm left in {table}");
    }
    assert_eq!(count(&server, "SELECT CAST(count(*) AS TEXT) FROM realms WHERE name = $1", "gone"), 0);
    server.get(&format!("{}/Users/{kept}", server.base(Scope::Realm))).await.expect(200);

    // The configuration's realms stay: the next start would bring them back.
    let refused = server.admin(Method::DELETE, "/admin/realms/demo", None).await;
    refused.assert_scim_error(409);
    assert!(refused.body["detail"].as_str().unwrap().contains("configuration"), "{}", refused.text);

    // Gone for good, and the name can be used again, empty.
    let server = server.restart().await;
    server.admin(Method::GET, "/admin/realms/gone", None).await.assert_scim_error(404);
    server.admin(Method::POST, "/admin/realms", Some(json!({ "name": "gone" }))).await.expect(201);
    let token = issue_token(&server, "gone", None).await;
    let base = format!("{}/realms/gone/scim/v2", server.origin);
    let list = server.call_with(Method::GET, &format!("{base}/Users"), None, Some(&token)).await.expect(200);
    assert_eq!(list.body["totalResults"], json!(0));
}

#[tokio::test]
async fn organizations_are_created_and_deleted_at_run_time() {
    let server = TestServer::start().await;
    let created = server
        .admin(Method::POST, "/admin/realms/demo/organizations", Some(json!({ "alias": "initech", "name": "Initech" })))
        .await
        .expect(201);
    assert_eq!(created.body["scim"], json!("/realms/demo/scim/v2/organizations/initech"));
    let duplicate =
        server.admin(Method::POST, "/admin/realms/demo/organizations", Some(json!({ "alias": "initech" }))).await;
    duplicate.assert_scim_error(409);
    server
        .admin(Method::POST, "/admin/realms/demo/organizations", Some(json!({ "alias": "no spaces" })))
        .await
        .assert_scim_error(400);

    let initech = server.base(Scope::Organization("initech"));
    let org_token = issue_token(&server, "demo", Some("initech")).await;
    let peter = server
        .call_with(
            Method::POST,
            &format!("{initech}/Users"),
            Some(user("peter@initech.example", "p")),
            Some(&org_token),
        )
        .await
        .expect(201)
        .id();
    server
        .call_with(Method::POST, &format!("{initech}/Groups"), Some(group("tps", "tps", &[&peter])), Some(&org_token))
        .await
        .expect(201);
    let listed = server.admin(Method::GET, "/admin/realms/demo/organizations", None).await.expect(200);
    let aliases: Vec<_> = listed.body["organizations"].as_array().unwrap().iter().map(|o| o["alias"].clone()).collect();
    assert_eq!(aliases, [json!("acme"), json!("globex"), json!("initech")]);

    server.admin(Method::DELETE, "/admin/realms/demo/organizations/initech", None).await.expect(204);
    server.get(&format!("{initech}/Users")).await.assert_scim_error(404);
    server.call_with(Method::GET, &format!("{initech}/Users"), None, Some(&org_token)).await.assert_scim_error(401);
    assert_eq!(
        count(&server, "SELECT CAST(count(*) AS TEXT) FROM groups WHERE realm = $1 AND name = 'tps'", "demo"),
        0
    );
    assert_eq!(count(&server, "SELECT CAST(count(*) AS TEXT) FROM tokens WHERE realm = $1", "demo"), 0);
    // Its users stay in the realm.
    server.get(&format!("{}/Users/{peter}", server.base(Scope::Realm))).await.expect(200);

    let refused = server.admin(Method::DELETE, "/admin/realms/demo/organizations/acme", None).await;
    refused.assert_scim_error(409);
    let events = server.events().await;
    let operator_kinds = ["ORGANIZATION_CREATED", "ORGANIZATION_DELETED", "TOKEN_ISSUED", "TOKEN_REVOKED"];
    let operator: Vec<_> = kinds(&events).into_iter().filter(|k| operator_kinds.contains(k)).collect();
    assert_eq!(operator, ["ORGANIZATION_CREATED", "TOKEN_ISSUED", "ORGANIZATION_DELETED"]);

    // Kept across a restart.
    let server = server.restart().await;
    server.admin(Method::GET, "/admin/realms/demo/organizations/initech", None).await.assert_scim_error(404);
    server.admin(Method::POST, "/admin/realms/demo/organizations", Some(json!({ "alias": "hooli" }))).await.expect(201);
    let server = server.restart().await;
    server.get(&format!("{}/Users", server.base(Scope::Organization("hooli")))).await.expect(200);
}

#[tokio::test]
async fn limits_change_at_run_time_and_return_to_the_configuration() {
    let server = TestServer::start().await;
    let users = format!("{}/Users?count=1", server.base(Scope::Realm));
    let changed = server
        .admin(
            Method::PATCH,
            "/admin/realms/demo",
            Some(json!({ "limits": { "requests_per_second": 0.5, "burst": 2 }, "settings": { "tier": "gold" } })),
        )
        .await
        .expect(200);
    assert_eq!(changed.body["limitsFrom"], json!("admin"));
    assert_eq!(changed.body["settings"], json!({ "tier": "gold" }));
    assert_eq!(changed.body["limits"]["memory_mib"], json!(64), "fields left out keep their value");
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(server.get(&users).await.status.as_u16());
        }
        statuses
    };
    assert_eq!(statuses, [200, 200, 429, 429], "a burst of 2, then the new rate");

    let bad = server.admin(Method::PATCH, "/admin/realms/demo", Some(json!({ "limits": { "deadline_ms": 1 } }))).await;
    bad.assert_scim_error(400);
    assert!(bad.body["detail"].as_str().unwrap().contains("deadline_ms = 1"), "{}", bad.text);
    let bad = server.admin(Method::PATCH, "/admin/realms/demo", Some(json!({ "limits": { "speed": 1 } }))).await;
    bad.assert_scim_error(400);
    assert!(bad.body["detail"].as_str().unwrap().contains("speed"), "{}", bad.text);

    // Lifting one limit, then every override.
    let lifted = server
        .admin(Method::PATCH, "/admin/realms/demo", Some(json!({ "limits": { "requests_per_second": null } })))
        .await
        .expect(200);
    assert_eq!(lifted.body["limits"]["requests_per_second"], Value::Null);
    for _ in 0..5 {
        server.get(&users).await.expect(200);
    }
    let reset = server
        .admin(Method::PATCH, "/admin/realms/demo", Some(json!({ "limits": null, "settings": null })))
        .await
        .expect(200);
    assert_eq!(reset.body["limitsFrom"], json!("server"));
    assert_eq!(reset.body["settings"], json!({}));
    let events = server.events().await;
    assert_eq!(kinds(&events).iter().filter(|k| **k == "REALM_UPDATED").count(), 3);

    // A realm over its new limit is refused while another realm is served.
    server
        .admin(
            Method::PATCH,
            "/admin/realms/demo",
            Some(json!({ "limits": { "requests_per_second": 0.1, "burst": 1 } })),
        )
        .await
        .expect(200);
    server.get(&users).await.expect(200);
    server.get(&users).await.assert_scim_error(429);
    server.admin(Method::POST, "/admin/realms", Some(json!({ "name": "other" }))).await.expect(201);
    let token = issue_token(&server, "other", None).await;
    for _ in 0..3 {
        server
            .call_with(Method::GET, &format!("{}/realms/other/scim/v2/Users", server.origin), None, Some(&token))
            .await
            .expect(200);
    }
}
