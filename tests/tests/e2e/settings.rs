//! Realm settings change the stock handler's dialect per tenant, without a new module:
//! each setting of the README's table, set through the admin API on a running server and
//! seen on the very next request.

use reqwest::Method;
use scim_host_e2e::*;
use serde_json::{Value, json};

async fn set(server: &TestServer, settings: Value) {
    let answer = server.admin(Method::PATCH, "/admin/realms/demo", Some(json!({ "settings": settings }))).await;
    assert_eq!(answer.expect(200).body["settings"], settings);
}

fn add_member(id: &str) -> Value {
    json!({ "schemas": [PATCH_SCHEMA], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": id }] }] })
}

#[tokio::test]
async fn group_patch_response_200_answers_the_group_with_its_members() {
    let server = TestServer::start().await;
    let base = server.base(Scope::Realm);
    let (ann, bob) = (
        server.create_user(Scope::Realm, "ann", "x-ann").await,
        server.create_user(Scope::Realm, "bob", "x-bob").await,
    );
    let group = server.post(&format!("{base}/Groups"), group("staff", "g-staff", &[])).await.expect(201);
    let url = format!("{base}/Groups/{}", group.id());

    let quiet = server.patch(&url, add_member(&ann)).await.expect(204);
    assert!(quiet.text.is_empty() && quiet.header("etag").is_some(), "the default: no body, an ETag");

    set(&server, json!({ "group_patch_response": "200" })).await;
    let answered = server.patch(&url, add_member(&bob)).await.expect(200);
    assert_eq!(member_ids(&answered.body), sorted(&[&ann, &bob]));
    assert_eq!(answered.body["displayName"], "staff");
    assert_eq!(answered.header("etag"), answered.body["meta"]["version"].as_str(), "{}", answered.text);
}

#[tokio::test]
async fn upsert_by_external_id_alone_refuses_a_taken_user_name() {
    let server = TestServer::start().await;
    let users = format!("{}/Users", server.base(Scope::Realm));
    set(&server, json!({ "upsert_by": "externalId" })).await;
    let ann = server.post(&users, user("ann", "x-1")).await.expect(201);

    // Another externalId with the same userName is someone else: 409, not adopted.
    let other = server.post(&users, user("ann", "x-2")).await;
    other.assert_scim_error(409);
    assert_eq!(other.body["scimType"], "uniqueness");
    // The same externalId is the same person, renamed.
    let renamed = server.post(&users, user("ann.smith", "x-1")).await.expect(200);
    assert_eq!(renamed.id(), ann.id());
    assert_eq!(renamed.body["userName"], "ann.smith");
}

#[tokio::test]
async fn upsert_by_user_name_alone_adopts_across_external_ids() {
    let server = TestServer::start().await;
    let users = format!("{}/Users", server.base(Scope::Realm));
    set(&server, json!({ "upsert_by": "userName" })).await;
    let ann = server.post(&users, user("ann", "x-1")).await.expect(201);
    // The identity provider was re-connected and sends new externalIds: adopted by userName.
    let again = server.post(&users, user("ann", "x-2")).await.expect(200);
    assert_eq!(again.id(), ann.id());
    assert_eq!(again.body["externalId"], "x-2");
}

#[tokio::test]
async fn upsert_off_answers_a_resync_with_409_as_rfc_7644_does() {
    let server = TestServer::start().await;
    let base = server.base(Scope::Realm);
    let first_user = server.post(&format!("{base}/Users"), user("ann", "x-1")).await.expect(201);
    server.post(&format!("{base}/Groups"), group("staff", "g-1", &[])).await.expect(201);
    // The default adopts both.
    server.post(&format!("{base}/Users"), user("ann", "x-1")).await.expect(200);
    server.post(&format!("{base}/Groups"), group("staff", "g-1", &[])).await.expect(200);

    set(&server, json!({ "upsert_by": "off" })).await;
    for (url, body) in [
        (format!("{base}/Users"), user("ann", "x-1")),
        (format!("{base}/Users"), user("ann", "x-other")),
        (format!("{base}/Groups"), group("staff", "g-1", &[])),
    ] {
        let refused = server.post(&url, body).await;
        refused.assert_scim_error(409);
        assert_eq!(refused.body["scimType"], "uniqueness");
    }
    let list = server.get(&format!("{base}/Users")).await.expect(200);
    assert_eq!(list.body["totalResults"], 1, "nothing was created: {}", list.text);
    assert_eq!(list.body["Resources"][0]["id"], first_user.body["id"]);
}

#[tokio::test]
async fn user_name_ignoring_case_is_a_realm_setting() {
    let server = TestServer::start().await;
    let users = format!("{}/Users", server.base(Scope::Realm));
    let alice = server.post(&users, user("Alice", "x-1")).await.expect(201);
    let filtered = |value: &str| format!("{users}?filter={}", encode(&format!("userName eq \"{value}\"")));

    let published = |schema: &serde_json::Value| {
        let attributes = schema["attributes"].as_array().expect("attributes");
        attributes.iter().find(|a| a["name"] == "userName").expect("userName")["caseExact"].clone()
    };
    let schema_url = format!("{}/Schemas/{USER_SCHEMA}", server.base(Scope::Realm));
    assert_eq!(published(&server.get(&schema_url).await.expect(200).body), json!(false));

    // RFC 7643: userName is not case-exact. `alice` finds and adopts `Alice`.
    assert_eq!(server.get(&filtered("ALICE")).await.expect(200).body["totalResults"], 1);
    let adopted = server.post(&users, user("alice", "x-2")).await.expect(200);
    assert_eq!(adopted.id(), alice.id());

    set(&server, json!({ "username_ignores_case": "false" })).await;
    assert_eq!(published(&server.get(&schema_url).await.expect(200).body), json!(true), "/Schemas says so");
    assert_eq!(server.get(&filtered("ALICE")).await.expect(200).body["totalResults"], 0);
    assert_eq!(server.get(&filtered("alice")).await.expect(200).body["totalResults"], 1);
    // `ALICE` is not adopted as `alice`; the store holds one of them, so it is a 409.
    let refused = server.post(&users, user("ALICE", "x-3")).await;
    refused.assert_scim_error(409);
    assert_eq!(refused.body["scimType"], "uniqueness");
}

#[tokio::test]
async fn a_setting_with_a_value_the_handler_does_not_know_is_named_in_every_answer() {
    let server = TestServer::start().await;
    set(&server, json!({ "upsert_by": "email", "tier": "gold" })).await;
    let answer = server.get(&format!("{}/Users", server.base(Scope::Realm))).await;
    answer.assert_scim_error(500);
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("upsert_by") && detail.contains("\"email\""), "{detail}");

    // A setting the stock handler does not know (`tier`) is left to plugins.
    set(&server, json!({ "tier": "gold" })).await;
    server.get(&format!("{}/Users", server.base(Scope::Realm))).await.expect(200);
}
