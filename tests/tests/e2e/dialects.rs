//! What real identity providers send, replayed request by request (see the team's
//! IDP-DIALECTS notes for the sources). Each test is one provider's habit, in both scopes.

use scim_host_e2e::*;
use serde_json::{Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn ops(operations: Value) -> Value {
    json!({ "schemas": [PATCH_SCHEMA], "Operations": operations })
}

fn tag(scope: Scope) -> &'static str {
    if scope == Scope::Realm { "r" } else { "o" }
}

#[tokio::test]
async fn okta_probes_by_username_creates_then_deactivates_by_patch_and_by_put() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let name = format!("okta.user.{}@example.org", tag(scope));
        // The probe: an empty ListResponse means "create".
        let probe = format!("{base}/Users?filter=userName%20eq%20%22{name}%22&startIndex=1&count=100");
        let empty = server.get(&probe).await.expect(200);
        assert_eq!(empty.body["totalResults"], json!(0));
        assert_eq!(empty.body["Resources"], json!([]));
        let id =
            server.post(&format!("{base}/Users"), user(&name, &format!("00u{}", tag(scope)))).await.expect(201).id();
        let found = server.get(&probe).await.expect(200);
        assert_eq!(found.body["Resources"][0]["id"], json!(id));

        // Deactivation by a path-less replace.
        let url = format!("{base}/Users/{id}");
        let off = server.patch(&url, ops(json!([{ "op": "replace", "value": { "active": false } }]))).await.expect(200);
        assert_eq!(off.body["active"], json!(false));
        // Reactivation and deactivation by GET then PUT of the whole user.
        let mut full = server.get(&url).await.expect(200).body;
        full["active"] = json!(true);
        assert_eq!(server.put(&url, full.clone()).await.expect(200).body["active"], json!(true));
        full["active"] = json!(false);
        assert_eq!(server.put(&url, full).await.expect(200).body["active"], json!(false));
        // Reassignment re-pushes the user: an upsert, not a 409.
        let mut again = user(&name, &format!("00u{}", tag(scope)));
        again["active"] = json!(true);
        let again = server.post(&format!("{base}/Users"), again).await.expect(200);
        assert_eq!((again.id(), &again.body["active"]), (id, &json!(true)));
    }
    server.stop().await;
}

#[tokio::test]
async fn okta_renames_groups_and_changes_members_in_each_of_its_forms() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let t = tag(scope);
        let a = server.create_user(scope, &format!("oa.{t}"), &format!("oa-{t}")).await;
        let b = server.create_user(scope, &format!("ob.{t}"), &format!("ob-{t}")).await;
        let gid =
            server.post(&format!("{base}/Groups"), group("Okta Group", &format!("00g{t}"), &[])).await.expect(201).id();
        let url = format!("{base}/Groups/{gid}");

        // A group PATCH answers 204 (Okta reads nothing back); each state is read with a GET.
        server.patch(&url, ops(json!([{ "op": "add", "path": "members", "value": [{ "value": a, "display": "oa" }, { "value": b }] }]))).await.expect(204);
        assert_eq!(member_ids(&server.get(&url).await.expect(200).body), sorted(&[&a, &b]), "{scope:?}");
        server
            .patch(&url, ops(json!([{ "op": "remove", "path": format!("members[value eq \"{a}\"]") }])))
            .await
            .expect(204);
        assert_eq!(member_ids(&server.get(&url).await.expect(200).body), sorted(&[&b]), "{scope:?}");
        server
            .patch(&url, ops(json!([{ "op": "replace", "value": { "members": [{ "value": a }] } }])))
            .await
            .expect(204);
        assert_eq!(member_ids(&server.get(&url).await.expect(200).body), sorted(&[&a]), "{scope:?}");
        // The rename after every membership change: a path-less replace with id and displayName.
        server
            .patch(&url, ops(json!([{ "op": "replace", "value": { "id": gid, "displayName": "Okta Group 2" } }])))
            .await
            .expect(204);
        let renamed = server.get(&url).await.expect(200);
        assert_eq!(renamed.body["displayName"], json!("Okta Group 2"));
        assert_eq!(member_ids(&renamed.body), sorted(&[&a]), "{scope:?}: a rename keeps the members");
    }
    server.stop().await;
}

#[tokio::test]
async fn okta_pages_by_100_in_a_stable_order() {
    let server = TestServer::start().await;
    let base = server.base(Scope::Realm);
    let mut created = Vec::new();
    for i in 0..230 {
        created.push(server.create_user(Scope::Realm, &format!("pager{i:03}"), &format!("p{i}")).await);
    }
    let mut seen = Vec::new();
    for start in [1, 101, 201] {
        let page = server.get(&format!("{base}/Users?startIndex={start}&count=100")).await.expect(200);
        assert_eq!(page.body["totalResults"], json!(230));
        seen.extend(page.body["Resources"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen, created, "every user once, in creation order");
    server.stop().await;
}

#[tokio::test]
async fn entra_capitalised_ops_string_booleans_and_typed_paths() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let t = tag(scope);
        let manager = server.create_user(scope, &format!("boss.{t}"), &format!("boss-{t}")).await;
        let id = server.create_user(scope, &format!("entra.{t}"), &format!("entra-{t}")).await;
        let url = format!("{base}/Users/{id}");
        let body = ops(json!([
            { "op": "Replace", "path": "active", "value": "False" },
            { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": format!("new.{t}@example.org") },
            { "op": "Add", "path": "displayName", "value": "Entra Display" },
            { "op": "Add", "path": "displayName", "value": "Entra Display 2" },
            { "op": "Replace", "value": { "name.givenName": "Eve", format!("{ENTERPRISE}:employeeNumber"): "1234" } },
            { "op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": { "value": manager } },
        ]));
        let patched = server.patch(&url, body).await.expect(200);
        let user = &patched.body;
        assert_eq!(user["active"], json!(false), "{scope:?}: {user}");
        assert_eq!(user["emails"][0]["value"], json!(format!("new.{t}@example.org")));
        assert_eq!(user["emails"][0]["type"], json!("work"));
        assert_eq!(user["displayName"], json!("Entra Display 2"), "add of a present single value replaces it");
        assert_eq!(user["name"]["givenName"], json!("Eve"));
        assert_eq!(user[ENTERPRISE]["employeeNumber"], json!("1234"));
        assert_eq!(user[ENTERPRISE]["manager"]["value"], json!(manager));

        // Its matching filter, with `and`, compared without regard to case.
        let filter =
            format!("externalId%20eq%20%22entra-{t}%22%20and%20userName%20eq%20%22ENTRA.{}%22", t.to_uppercase());
        let found = server.get(&format!("{base}/Users?filter={filter}")).await.expect(200);
        assert_eq!(found.body["totalResults"], json!(1), "{scope:?}: {}", found.text);
        // "Test Connection" reads an id that does not exist: a SCIM 404.
        server.get(&format!("{base}/Users/{}", "7f6c1a52-0b0c-4b2e-9f0e-000000000000")).await.assert_scim_error(404);
    }
    server.stop().await;
}

#[tokio::test]
async fn entra_creates_groups_empty_then_patches_members_and_reads_without_them() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let t = tag(scope);
        let ids: Vec<String> = {
            let mut ids = Vec::new();
            for n in 0..3 {
                ids.push(server.create_user(scope, &format!("em{n}.{t}"), &format!("em{n}-{t}")).await);
            }
            ids
        };
        let gid = server.post(&format!("{base}/Groups"), json!({ "schemas": [GROUP_SCHEMA], "displayName": format!("Entra {t}"), "externalId": format!("eg-{t}") })).await.expect(201).id();
        let url = format!("{base}/Groups/{gid}");
        let all: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
        server.patch(&url, ops(json!([{ "op": "Add", "path": "members", "value": all }]))).await.expect(204);
        // Removal lists the members to remove in the value.
        let body = ops(json!([{ "op": "Remove", "path": "members", "value": [{ "value": ids[0] }] }]));
        server.patch(&url, body).await.expect(204);
        let after = server.get(&url).await.expect(200);
        assert_eq!(member_ids(&after.body), sorted(&[&ids[1], &ids[2]]), "{scope:?}: only the listed member left");
        let body = ops(json!([{ "op": "Remove", "path": format!("members[value eq \"{}\"]", ids[1]) }]));
        server.patch(&url, body).await.expect(204);
        assert_eq!(member_ids(&server.get(&url).await.expect(200).body), sorted(&[&ids[2]]));
        let read = server.get(&format!("{url}?excludedAttributes=members")).await.expect(200);
        assert!(read.body.get("members").is_none(), "{}", read.text);
        assert_eq!(read.body["displayName"], json!(format!("Entra {t}")));
        let listed = server
            .get(&format!("{base}/Groups?excludedAttributes=members&filter=displayName%20eq%20%22entra%20{t}%22"))
            .await
            .expect(200);
        assert_eq!(listed.body["totalResults"], json!(1), "{}", listed.text);
        assert!(listed.body["Resources"][0].get("members").is_none());
    }
    server.stop().await;
}

#[tokio::test]
async fn authentik_puts_users_and_removes_members_without_a_filter() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let t = tag(scope);
        let a = server.create_user(scope, &format!("ak-a.{t}"), &format!("ak-a-{t}")).await;
        let b = server.create_user(scope, &format!("ak-b.{t}"), &format!("ak-b-{t}")).await;
        let mut full = user(&format!("ak-a.{t}"), &format!("ak-a-{t}"));
        full["name"]["familyName"] = json!("Updated");
        let put = server.put(&format!("{base}/Users/{a}"), full).await.expect(200);
        assert_eq!(put.body["name"]["familyName"], json!("Updated"));

        let gid = server
            .post(&format!("{base}/Groups"), group("Authentik", &format!("akg-{t}"), &[&a, &b]))
            .await
            .expect(201)
            .id();
        let body = json!({ "Operations": [{ "op": "remove", "path": "members", "value": [{ "value": a }] }] });
        let url = format!("{base}/Groups/{gid}");
        server.patch(&url, body).await.expect(204);
        assert_eq!(member_ids(&server.get(&url).await.expect(200).body), sorted(&[&b]), "{scope:?}");
        let config = server.get(&format!("{base}/ServiceProviderConfig")).await.expect(200);
        assert_eq!(config.body["patch"]["supported"], json!(true), "authentik PATCHes groups only when told it may");
    }
    server.stop().await;
}

#[tokio::test]
async fn jumpcloud_test_connection_creates_and_deletes_a_test_user_and_group() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let t = tag(scope);
        let uid = server.create_user(scope, &format!("jc-test.{t}"), &format!("jc-{t}")).await;
        let gid = server
            .post(&format!("{base}/Groups"), group("JumpCloud Test Group", &format!("jcg-{t}"), &[]))
            .await
            .expect(201)
            .id();
        let url = format!("{base}/Groups/{gid}");
        let body = ops(json!([{ "op": "add", "path": "members", "value": [{ "value": uid }] }]));
        server.patch(&url, body).await.expect(204);
        assert_eq!(member_ids(&server.get(&url).await.expect(200).body), sorted(&[&uid]));
        let body = ops(json!([{ "op": "remove", "path": "members", "value": [{ "value": uid }] }]));
        server.patch(&url, body).await.expect(204);
        assert!(member_ids(&server.get(&url).await.expect(200).body).is_empty());
        server.delete(&format!("{base}/Groups/{gid}")).await.expect(204);
        server.delete(&format!("{base}/Users/{uid}")).await.expect(204);
        server.get(&format!("{base}/Groups/{gid}")).await.assert_scim_error(404);
        server.get(&format!("{base}/Users/{uid}")).await.assert_scim_error(404);
    }
    server.stop().await;
}

/// OneLogin's "SCIM Provisioner with SAML (SCIM v2 Enterprise)" app sends the operator's
/// JSON template with OneLogin's values filled in: `active` as a string, `id: null`,
/// `meta` inside the body, a manager with a `managerId` RFC 7643 does not define, and
/// empty strings for parameters that have no value.
fn onelogin_template(user_name: &str, active: &str, manager: &str) -> Value {
    json!({
        ENTERPRISE: {
            "department": "Sales",
            "manager": { "managerId": manager, "displayName": "Grace Hopper" },
        },
        "active": active,
        "emails": [{ "value": user_name, "type": "work", "primary": true }],
        "meta": { "resourceType": "User" },
        "name": { "familyName": "Lovelace", "givenName": "Ada", "formatted": "Ada Lovelace" },
        "title": "",
        "userName": user_name,
        "id": null,
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    })
}

#[tokio::test]
async fn onelogin_template_with_string_booleans_nulls_and_empty_values_is_accepted() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let name = format!("ada.{}@example.org", tag(scope));
        let created = server.post(&format!("{base}/Users"), onelogin_template(&name, "true", "m-1")).await.expect(201);
        let user = &created.body;
        assert_eq!(user["active"], json!(true), "{}", created.text);
        assert_eq!(user[ENTERPRISE]["department"], json!("Sales"));
        assert!(user.get("title").is_none(), "an empty parameter is no title: {}", created.text);
        assert_ne!(user["id"], Value::Null);
        // Deprovisioning by sending the template again with active "false".
        let url = format!("{base}/Users/{}", created.id());
        let off = server.put(&url, onelogin_template(&name, "false", "m-1")).await.expect(200);
        assert_eq!(off.body["active"], json!(false));
        server.delete(&url).await.expect(204);
    }
    server.stop().await;
}

#[tokio::test]
async fn okta_test_connection_lists_two_users() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        for i in 0..3 {
            server.create_user(scope, &format!("tc{i}.{}", tag(scope)), &format!("tc{i}-{}", tag(scope))).await;
        }
        let page = server.get(&format!("{}/Users?startIndex=1&count=2", server.base(scope))).await.expect(200);
        assert_eq!(page.body["itemsPerPage"], json!(2));
        assert_eq!(page.body["totalResults"], json!(3));
    }
    server.stop().await;
}

/// Google Workspace's automated provisioning probes `/Users?count=1` when it is set up,
/// then creates users, and on deprovisioning suspends (active false) or deletes them.
#[tokio::test]
async fn google_workspace_probes_with_count_1_then_creates_suspends_and_deletes() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let probe = server.get(&format!("{base}/Users?count=1")).await.expect(200);
        assert_eq!(probe.header("content-type"), Some("application/scim+json"));
        assert!(probe.body["itemsPerPage"].as_u64().unwrap() <= 1);
        let id = server
            .create_user(scope, &format!("g.user.{}@example.org", tag(scope)), &format!("g-{}", tag(scope)))
            .await;
        let url = format!("{base}/Users/{id}");
        let suspended =
            server.patch(&url, ops(json!([{ "op": "replace", "path": "active", "value": false }]))).await.expect(200);
        assert_eq!(suspended.body["active"], json!(false));
        server.delete(&url).await.expect(204);
        server.get(&url).await.assert_scim_error(404);
        let probe = server.get(&format!("{base}/Users?count=1")).await.expect(200);
        assert_eq!(probe.body["totalResults"], json!(0), "{scope:?}");
    }
    server.stop().await;
}
