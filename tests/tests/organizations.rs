//! The organization scope: users are realm users joined to the organization, only members
//! are visible, DELETE ends the membership, and organization groups admit only members.

use scim_host_e2e::*;
use serde_json::json;

#[tokio::test]
async fn organization_scope_hides_non_members() {
    let server = TestServer::start().await;
    let realm = server.base(Scope::Realm);
    let acme = server.base(Scope::Organization("acme"));
    let globex = server.base(Scope::Organization("globex"));

    let outsider = server.create_user(Scope::Realm, "outsider", "x-out").await;
    let member = server.create_user(Scope::Organization("acme"), "member", "x-member").await;

    server.get(&format!("{acme}/Users/{outsider}")).await.assert_scim_error(404);
    server.get(&format!("{globex}/Users/{member}")).await.assert_scim_error(404);
    server.get(&format!("{acme}/Users/{member}")).await.expect(200);
    server.get(&format!("{realm}/Users/{member}")).await.expect(200);

    let listed = server.get(&format!("{acme}/Users")).await.expect(200);
    assert_eq!(listed.body["totalResults"], json!(1));
    assert_eq!(listed.body["Resources"][0]["id"], json!(member));
    let filtered = server.get(&format!("{acme}/Users?filter=userName%20eq%20%22outsider%22")).await.expect(200);
    assert_eq!(filtered.body["totalResults"], json!(0), "a filter cannot reach past the organization");
    let everyone = server.get(&format!("{realm}/Users")).await.expect(200);
    assert_eq!(everyone.body["totalResults"], json!(2));

    // Changing a non-member through the organization is as if it did not exist.
    let body = json!({ "Operations": [{ "op": "replace", "value": { "active": false } }] });
    server.patch(&format!("{acme}/Users/{outsider}"), body).await.assert_scim_error(404);
    server.delete(&format!("{acme}/Users/{outsider}")).await.assert_scim_error(404);
    server.stop().await;
}

#[tokio::test]
async fn organization_delete_ends_the_membership_and_keeps_the_realm_user() {
    let server = TestServer::start().await;
    let realm = server.base(Scope::Realm);
    let acme = server.base(Scope::Organization("acme"));
    let id = server.create_user(Scope::Organization("acme"), "leaver", "x-leaver").await;
    let gid = server.post(&format!("{acme}/Groups"), group("Acme staff", "acme-staff", &[&id])).await.expect(201).id();

    server.delete(&format!("{acme}/Users/{id}")).await.expect(204);
    server.get(&format!("{acme}/Users/{id}")).await.assert_scim_error(404);
    server.get(&format!("{realm}/Users/{id}")).await.expect(200);
    let staff = server.get(&format!("{acme}/Groups/{gid}")).await.expect(200);
    assert!(member_ids(&staff.body).is_empty(), "leaving the organization leaves its groups: {}", staff.text);

    let kinds: Vec<_> =
        server.events().await.into_iter().filter(|e| e["resourceId"] == json!(id)).map(|e| e["type"].clone()).collect();
    assert!(kinds.contains(&json!("ORGANIZATION_MEMBER_JOINED")), "{kinds:?}");
    assert!(kinds.contains(&json!("ORGANIZATION_MEMBER_LEFT")), "{kinds:?}");
    assert!(!kinds.contains(&json!("USER_DELETED")), "{kinds:?}");

    // Posting the user again in the organization adopts the realm user and rejoins it.
    let again = server.post(&format!("{acme}/Users"), user("leaver", "x-leaver")).await.expect(200);
    assert_eq!(again.id(), id);
    server.get(&format!("{acme}/Users/{id}")).await.expect(200);
    server.stop().await;
}

#[tokio::test]
async fn organization_groups_belong_to_it_and_admit_only_its_members() {
    let server = TestServer::start().await;
    let realm = server.base(Scope::Realm);
    let acme = server.base(Scope::Organization("acme"));
    let globex = server.base(Scope::Organization("globex"));
    let outsider = server.create_user(Scope::Realm, "outsider", "x-out").await;
    let member = server.create_user(Scope::Organization("acme"), "member", "x-member").await;

    let answer = server.post(&format!("{acme}/Groups"), group("Acme", "acme-g", &[&outsider])).await;
    answer.assert_scim_error(400);
    assert_eq!(answer.body["scimType"], json!("invalidValue"));
    assert!(answer.body["detail"].as_str().unwrap().contains(&outsider));
    assert_eq!(server.get(&format!("{acme}/Groups")).await.body["totalResults"], json!(0), "nothing was created");

    let gid = server.post(&format!("{acme}/Groups"), group("Acme", "acme-g", &[&member])).await.expect(201).id();
    server.get(&format!("{globex}/Groups/{gid}")).await.assert_scim_error(404);
    assert_eq!(server.get(&format!("{globex}/Groups")).await.body["totalResults"], json!(0));
    server.get(&format!("{realm}/Groups/{gid}")).await.expect(200);
    server.stop().await;
}
