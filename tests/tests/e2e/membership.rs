//! Group membership reconciliation: PUT and PATCH make the membership what the IdP says,
//! every change is an admin event, and a user's `groups` follows at once.

use scim_host_e2e::*;
use serde_json::{Value, json};

/// Creates three users and returns their ids.
async fn three_users(server: &TestServer, scope: Scope, prefix: &str) -> [String; 3] {
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(server.create_user(scope, &format!("{prefix}-{name}"), &format!("x-{prefix}-{name}")).await);
    }
    ids.try_into().unwrap()
}

fn events_of<'a>(events: &'a [Value], kind: &str, group: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["type"] == kind && e["resourceId"] == group)
        .filter_map(|e| e["relatedId"].as_str())
        .collect()
}

#[tokio::test]
async fn okta_group_push_put_removes_absent_members_and_emits_left_events() {
    let server = TestServer::start().await;
    for (n, scope) in BOTH_SCOPES.into_iter().enumerate() {
        let base = server.base(scope);
        let [a, b, c] = three_users(&server, scope, &format!("okta{n}")).await;
        let created = server
            .post(&format!("{base}/Groups"), group("Sales", &format!("okta-sales-{n}"), &[&a, &b]))
            .await
            .expect(201);
        let gid = created.id();
        assert_eq!(member_ids(&created.body), sorted(&[&a, &b]));

        // Okta pushes the group with PUT and the full member list it wants.
        let pushed = server
            .put(&format!("{base}/Groups/{gid}"), group("Sales", &format!("okta-sales-{n}"), &[&b, &c]))
            .await
            .expect(200);
        assert_eq!(member_ids(&pushed.body), sorted(&[&b, &c]), "{scope:?}");
        let fetched = server.get(&format!("{base}/Groups/{gid}")).await.expect(200);
        assert_eq!(member_ids(&fetched.body), sorted(&[&b, &c]), "{scope:?}");

        let events = server.events().await;
        assert_eq!(events_of(&events, "MEMBER_LEFT", &gid), vec![a.as_str()], "{scope:?}");
        let mut joined = events_of(&events, "MEMBER_JOINED", &gid);
        joined.sort();
        assert_eq!(joined, sorted(&[&a, &b, &c]), "{scope:?}: a and b at creation, c at the push");

        // The users' `groups` reflect it at once.
        let user_a = server.get(&format!("{base}/Users/{a}")).await.expect(200);
        assert!(user_a.body["groups"].as_array().is_none_or(|g| g.is_empty()), "{scope:?}: {}", user_a.text);
        let user_c = server.get(&format!("{base}/Users/{c}")).await.expect(200);
        assert_eq!(user_c.body["groups"][0]["value"], json!(gid), "{scope:?}");
        assert_eq!(user_c.body["groups"][0]["display"], json!("Sales"), "{scope:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn patch_adds_removes_and_replaces_members() {
    let server = TestServer::start().await;
    for (n, scope) in BOTH_SCOPES.into_iter().enumerate() {
        let base = server.base(scope);
        let [a, b, c] = three_users(&server, scope, &format!("patch{n}")).await;
        let gid = server.post(&format!("{base}/Groups"), group("Ops", &format!("ops-{n}"), &[])).await.expect(201).id();
        let url = format!("{base}/Groups/{gid}");
        let patch = |ops: Value| json!({ "schemas": [PATCH_SCHEMA], "Operations": ops });

        // 204 with the new version's ETag: the members are not sent back unless asked for.
        let added = server
            .patch(&url, patch(json!([{ "op": "add", "path": "members", "value": [{ "value": a }, { "value": b }] }])))
            .await
            .expect(204);
        let read = server.get(&url).await.expect(200);
        assert_eq!(member_ids(&read.body), sorted(&[&a, &b]), "{scope:?}");
        assert_eq!(added.header("etag"), read.body["meta"]["version"].as_str());

        let filter_path = format!("members[value eq \"{a}\"]");
        let removed = server
            .patch(&format!("{url}?attributes=members"), patch(json!([{ "op": "remove", "path": filter_path }])))
            .await
            .expect(200);
        assert_eq!(member_ids(&removed.body), sorted(&[&b]), "{scope:?}");
        assert_eq!(removed.body.get("displayName"), None, "only the attributes asked for");

        let replaced = server
            .patch(
                &format!("{url}?excludedAttributes=members"),
                patch(json!([{ "op": "replace", "path": "members", "value": [{ "value": c }] }])),
            )
            .await
            .expect(200);
        assert_eq!((replaced.body["displayName"].as_str(), replaced.body.get("members")), (Some("Ops"), None));
        assert_eq!(member_ids(&server.get(&url).await.expect(200).body), sorted(&[&c]), "{scope:?}");

        let events = server.events().await;
        assert_eq!(events_of(&events, "MEMBER_LEFT", &gid).len(), 2, "{scope:?}: a, then b");
        assert_eq!(events_of(&events, "MEMBER_JOINED", &gid).len(), 3, "{scope:?}: a, b, then c");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_member_is_400_invalid_value_and_the_group_is_left_as_it_was() {
    let server = TestServer::start().await;
    for (n, scope) in BOTH_SCOPES.into_iter().enumerate() {
        let base = server.base(scope);
        let [a, b, _] = three_users(&server, scope, &format!("unknown{n}")).await;
        let created =
            server.post(&format!("{base}/Groups"), group("Support", &format!("support-{n}"), &[&a])).await.expect(201);
        let gid = created.id();
        let events_before = server.events().await.len();

        let answer = server
            .put(&format!("{base}/Groups/{gid}"), group("Support 2", &format!("support-{n}"), &[&b, "no-such-user"]))
            .await;
        answer.assert_scim_error(400);
        assert_eq!(answer.body["scimType"], json!("invalidValue"));
        assert!(answer.body["detail"].as_str().unwrap().contains("no-such-user"), "{}", answer.text);

        let fetched = server.get(&format!("{base}/Groups/{gid}")).await.expect(200);
        assert_eq!(fetched.body["displayName"], json!("Support"), "{scope:?}: nothing applied");
        assert_eq!(member_ids(&fetched.body), sorted(&[&a]), "{scope:?}");
        assert_eq!(fetched.body["meta"]["version"], created.body["meta"]["version"], "{scope:?}");
        assert_eq!(server.events().await.len(), events_before, "{scope:?}: no event for a refused request");
    }
    server.stop().await;
}

#[tokio::test]
async fn authentik_patch_without_schemas_or_path_is_accepted() {
    let server = TestServer::start().await;
    for (n, scope) in BOTH_SCOPES.into_iter().enumerate() {
        let base = server.base(scope);
        let [a, _, _] = three_users(&server, scope, &format!("ak{n}")).await;
        let gid =
            server.post(&format!("{base}/Groups"), group("Design", &format!("design-{n}"), &[])).await.expect(201).id();

        // No top-level schemas, capitalised op, no path, meta and id inside the value.
        let body = json!({ "Operations": [{ "op": "Replace", "value": {
            "id": "ignored", "meta": { "resourceType": "Group" }, "schemas": [GROUP_SCHEMA],
            "displayName": "Design Team", "members": [{ "value": a }]
        } }] });
        let url = format!("{base}/Groups/{gid}");
        server.patch(&url, body).await.expect(204);
        let patched = server.get(&url).await.expect(200);
        assert_eq!(patched.id(), gid);
        assert_eq!(patched.body["displayName"], json!("Design Team"));
        assert_eq!(member_ids(&patched.body), sorted(&[&a]));

        // Users: dotted keys and string booleans.
        let body =
            json!({ "Operations": [{ "op": "replace", "value": { "active": "False", "name.givenName": "Ada" } }] });
        let user = server.patch(&format!("{base}/Users/{a}"), body).await.expect(200);
        assert_eq!(user.body["active"], json!(false), "{}", user.text);
        assert_eq!(user.body["name"]["givenName"], json!("Ada"));
    }
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_user_removes_it_from_its_groups() {
    let server = TestServer::start().await;
    let base = server.base(Scope::Realm);
    let [a, b, _] = three_users(&server, Scope::Realm, "del").await;
    let gid = server.post(&format!("{base}/Groups"), group("G", "g-del", &[&a, &b])).await.expect(201).id();
    server.delete(&format!("{base}/Users/{a}")).await.expect(204);
    server.get(&format!("{base}/Users/{a}")).await.assert_scim_error(404);
    let fetched = server.get(&format!("{base}/Groups/{gid}")).await.expect(200);
    assert_eq!(member_ids(&fetched.body), sorted(&[&b]));
    server.stop().await;
}

/// The events a module records about what a request removes (a deleted group, its members
/// leaving) still name the organization's own resources: they are recorded in both scopes.
#[tokio::test]
async fn deleting_a_group_with_members_records_its_deletion_in_both_scopes() {
    let server = TestServer::start().await;
    for (n, scope) in BOTH_SCOPES.into_iter().enumerate() {
        let base = server.base(scope);
        let [a, b, _] = three_users(&server, scope, &format!("gdel{n}")).await;
        let gid = server
            .post(&format!("{base}/Groups"), group("Gone", &format!("g-gone{n}"), &[&a, &b]))
            .await
            .expect(201)
            .id();
        server.delete(&format!("{base}/Groups/{gid}")).await.expect(204);
        server.get(&format!("{base}/Groups/{gid}")).await.assert_scim_error(404);
        let events = server.events().await;
        let deleted = events.iter().filter(|e| e["type"] == "GROUP_DELETED" && e["resourceId"] == gid.as_str());
        assert_eq!(deleted.count(), 1, "{scope:?}: {events:?}");
    }
    server.stop().await;
}
