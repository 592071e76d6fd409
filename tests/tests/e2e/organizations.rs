//! The organization scope: users are realm users joined to the organization, only members
//! are visible, DELETE ends the membership, and organization groups admit only members.

use scim_host_e2e::reqwest::Method;
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
async fn organization_token_cannot_adopt_a_user_outside_its_organization() {
    let server = TestServer::start().await;
    let realm = server.base(Scope::Realm);
    let acme = server.base(Scope::Organization("acme"));
    let mut alice = user("alice@victim.com", "x-alice");
    alice["password"] = json!("alice's own password");
    let alice = server.post(&format!("{realm}/Users"), alice).await.expect(201);
    let id = alice.id();
    let hash = |server: &TestServer| -> String {
        server.stored("SELECT secret FROM credentials WHERE user_id = $1", &[&id]).pop().expect("a credential")
    };
    let hash_before = hash(&server);

    // The same userName in another case, then the same externalId: both are someone else's.
    for (user_name, external_id, attribute) in
        [("ALICE@victim.com", "x-evil", "userName"), ("evil@evil.com", "x-alice", "externalId")]
    {
        let mut takeover = user(user_name, external_id);
        takeover["active"] = json!(false);
        takeover["password"] = json!("the attacker's password");
        takeover["name"] = json!({ "givenName": "Evil", "familyName": "Eve" });
        let answer = server.post(&format!("{acme}/Users"), takeover).await;
        answer.assert_scim_error(409);
        assert_eq!(answer.body["scimType"], json!("uniqueness"), "{}", answer.text);
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(attribute), "the detail names the attribute: {detail}");
        assert!(!answer.text.contains(&id), "the holder's id never reaches the organization: {}", answer.text);
    }

    let after = server.get(&format!("{realm}/Users/{id}")).await.expect(200);
    assert_eq!(after.body["active"], json!(true), "{}", after.text);
    assert_eq!(after.body["name"]["givenName"], json!("Given"), "{}", after.text);
    assert_eq!(hash(&server), hash_before, "the password is unchanged");
    server.get(&format!("{acme}/Users/{id}")).await.assert_scim_error(404);
    assert_eq!(server.get(&format!("{acme}/Users")).await.body["totalResults"], json!(0), "nothing joined acme");
    server.stop().await;
}

#[tokio::test]
async fn organization_delete_of_a_managed_user_deletes_it_and_repost_creates_a_new_one() {
    let server = TestServer::start().await;
    let realm = server.base(Scope::Realm);
    let acme = server.base(Scope::Organization("acme"));
    let id = server.create_user(Scope::Organization("acme"), "leaver", "x-leaver").await;
    let gid = server.post(&format!("{acme}/Groups"), group("Acme staff", "acme-staff", &[&id])).await.expect(201).id();

    server.delete(&format!("{acme}/Users/{id}")).await.expect(204);
    server.get(&format!("{acme}/Users/{id}")).await.assert_scim_error(404);
    server.get(&format!("{realm}/Users/{id}")).await.assert_scim_error(404);
    let staff = server.get(&format!("{acme}/Groups/{gid}")).await.expect(200);
    assert!(member_ids(&staff.body).is_empty(), "{}", staff.text);

    let kinds: Vec<_> =
        server.events().await.into_iter().filter(|e| e["resourceId"] == json!(id)).map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, ["USER_CREATED", "ORGANIZATION_MEMBER_JOINED", "ORGANIZATION_MEMBER_LEFT", "USER_DELETED"]);

    let again = server.post(&format!("{acme}/Users"), user("leaver", "x-leaver")).await.expect(201);
    assert_ne!(again.id(), id, "a new user");
    server.stop().await;
}

#[tokio::test]
async fn organization_delete_of_an_unmanaged_or_shared_member_only_ends_its_membership() {
    let server = TestServer::start().await;
    let realm = server.base(Scope::Realm);
    let acme = server.base(Scope::Organization("acme"));
    let globex = server.base(Scope::Organization("globex"));
    let member_path = |alias: &str, id: &str| format!("/admin/realms/demo/organizations/{alias}/members/{id}");

    // A realm user the operator adds to acme: unmanaged.
    let old = server.create_user(Scope::Realm, "old-timer", "x-old").await;
    server.admin(Method::PUT, &member_path("acme", &old), None).await.expect(201);
    server.admin(Method::PUT, &member_path("acme", &old), None).await.expect(204);
    server.get(&format!("{acme}/Users/{old}")).await.expect(200);
    server.delete(&format!("{acme}/Users/{old}")).await.expect(204);
    server.get(&format!("{acme}/Users/{old}")).await.assert_scim_error(404);
    server.get(&format!("{realm}/Users/{old}")).await.expect(200);

    // A managed member of acme that the operator also added to globex.
    let shared = server.create_user(Scope::Organization("acme"), "shared", "x-shared").await;
    server.admin(Method::PUT, &member_path("globex", &shared), None).await.expect(201);
    server.delete(&format!("{acme}/Users/{shared}")).await.expect(204);
    server.get(&format!("{acme}/Users/{shared}")).await.assert_scim_error(404);
    server.get(&format!("{globex}/Users/{shared}")).await.expect(200);
    server.get(&format!("{realm}/Users/{shared}")).await.expect(200);
    server.admin(Method::DELETE, &member_path("globex", &shared), None).await.expect(204);
    server.admin(Method::DELETE, &member_path("globex", &shared), None).await.assert_scim_error(404);
    server.get(&format!("{globex}/Users/{shared}")).await.assert_scim_error(404);
    server.stop().await;
}

#[tokio::test]
async fn organization_sees_only_its_own_groups_in_a_users_groups() {
    let server = TestServer::start().await;
    let realm = server.base(Scope::Realm);
    let acme = server.base(Scope::Organization("acme"));
    let id = server.create_user(Scope::Organization("acme"), "ann", "x-ann").await;
    let realm_group =
        server.post(&format!("{realm}/Groups"), group("Realm-wide", "g-realm", &[&id])).await.expect(201).id();
    let acme_group = server.post(&format!("{acme}/Groups"), group("Acme", "g-acme", &[&id])).await.expect(201).id();

    let seen = server.get(&format!("{acme}/Users/{id}")).await.expect(200);
    let groups: Vec<_> = seen.body["groups"].as_array().unwrap().iter().map(|g| g["value"].clone()).collect();
    assert_eq!(groups, [json!(acme_group)], "{}", seen.text);
    assert!(!seen.text.contains(&realm_group) && !seen.text.contains("Realm-wide"), "{}", seen.text);
    let listed = server.get(&format!("{acme}/Users")).await.expect(200);
    assert!(!listed.text.contains(&realm_group), "{}", listed.text);
    let filtered = server.get(&format!("{acme}/Users?filter=groups.value%20eq%20%22{realm_group}%22")).await;
    assert!(!filtered.text.contains(&id), "{}", filtered.text);

    let everything = server.get(&format!("{realm}/Users/{id}")).await.expect(200);
    assert_eq!(everything.body["groups"].as_array().unwrap().len(), 2, "the realm sees both: {}", everything.text);
    server.stop().await;
}

#[tokio::test]
async fn organization_manager_reference_resolves_only_inside_it() {
    let server = TestServer::start().await;
    let acme = server.base(Scope::Organization("acme"));
    let outsider = server.create_user(Scope::Realm, "boss", "x-boss").await;
    let insider = server.create_user(Scope::Organization("acme"), "lead", "x-lead").await;
    for (name, manager, resolved) in [("e1", &outsider, false), ("e2", &insider, true)] {
        let mut body = user(name, &format!("x-{name}"));
        body["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
        body[ENTERPRISE] = json!({ "manager": { "value": manager } });
        let created = server.post(&format!("{acme}/Users"), body).await.expect(201);
        let reference = &created.body[ENTERPRISE]["manager"]["$ref"];
        assert_eq!(reference.is_string(), resolved, "{}", created.text);
    }
    server.stop().await;
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

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

#[tokio::test]
async fn uploaded_module_cannot_read_outside_its_organization() {
    let server = TestServer::start().await;
    let realm = server.base(Scope::Realm);
    let outsider = server.create_user(Scope::Realm, "outsider", "x-out").await;
    let rival = server.create_user(Scope::Organization("globex"), "rival", "x-rival").await;
    let realm_group =
        server.post(&format!("{realm}/Groups"), group("Everyone", "g-all", &[&outsider])).await.expect(201).id();
    let globex_group = server
        .post(&format!("{}/Groups", server.base(Scope::Organization("globex"))), group("Globex", "g-globex", &[&rival]))
        .await
        .expect(201)
        .id();
    let before = server.get(&format!("{realm}/Users/{outsider}")).await.expect(200).body;
    let member = server.create_user(Scope::Organization("acme"), "member", "x-member").await;
    let acme = server.base(Scope::Organization("acme"));
    let own_group = server.post(&format!("{acme}/Groups"), group("Acme", "g-acme", &[&member])).await.expect(201).id();

    let uploaded = server.upload_module("demo", std::fs::read(MISBEHAVING_GUEST).unwrap()).await;
    assert!(uploaded.status.is_success(), "{:?}", uploaded.status);

    for (user, username, external_id, group) in
        [(&outsider, "outsider", "x-out", &realm_group), (&rival, "rival", "x-rival", &globex_group)]
    {
        let url = format!(
            "{}/probe?user={user}&username={username}&external_id={external_id}&email={username}%40example.org&group={group}&organization=globex&own_user={member}&own_group={own_group}",
            server.base(Scope::Organization("acme")),
        );
        let report = server.post(&url, json!({})).await.expect(200).text;
        let seen: std::collections::BTreeMap<&str, &str> = report.lines().filter_map(|l| l.split_once('=')).collect();
        let hidden = [
            ("get_user", "Ok(None)" as &str),
            ("get_user_selected", "Ok(None)"),
            ("get_user_by_username", "Ok(None)"),
            ("get_users_by_attribute", "Ok(\"\")"),
            ("get_users_by_email", "Ok(\"\")"),
            ("search_users", &format!("Ok(\"{member}\")")),
            ("get_group", "Ok(None)"),
            ("search_groups", &format!("Ok([\"{own_group}\"])")),
            ("user_groups", "Ok(0)"),
            ("groups_of_users", "Ok(0)"),
            ("get_organization", "Ok(None)"),
            ("delete_group", "Ok(false)"),
            ("delete_user", "Ok(false)"),
        ];
        for (call, expected) in hidden {
            assert!(seen[call].starts_with(expected), "{call} reached outside acme: {}\n{report}", seen[call]);
        }
        assert_eq!(seen["emit_own_update"], "Ok(())", "an event about its own user is the module's to record");
        for call in [
            "remove_organization_member",
            "emit_forged",
            "emit_forged_update",
            "emit_forged_join",
            "emit_join_of_outside_user",
            "emit_join_to_outside_group",
            "emit_update_pointing_out",
        ] {
            assert!(seen[call].starts_with("Err(Error::Invalid"), "{call} was allowed: {}\n{report}", seen[call]);
        }
        for call in [
            "remove_member",
            "group_member_ids",
            "update_user",
            "set_password",
            "add_organization_member",
            "add_member",
            "update_group",
        ] {
            assert!(
                seen[call].starts_with("Err(Error::NotFound"),
                "{call} reached outside acme: {}\n{report}",
                seen[call]
            );
        }
    }

    // Nothing outside changed; the bundled module answers again after a rollback.
    let rollback = format!("{}/admin/realms/demo/module/rollback", server.origin);
    server.call_with(Method::POST, &rollback, None, Some(ADMIN_TOKEN)).await.expect(200);
    let after = server.get(&format!("{realm}/Users/{outsider}")).await.expect(200).body;
    assert_eq!(after, before);
    let forged = server.events().await.into_iter().filter(|e| e["type"] == "USER_DELETED").count();
    assert_eq!(forged, 0, "no event names a user the organization cannot see");
    let everyone = server.get(&format!("{realm}/Groups/{realm_group}")).await.expect(200);
    assert_eq!(member_ids(&everyone.body), std::slice::from_ref(&outsider));
    let globex = server.get(&format!("{realm}/Groups/{globex_group}")).await.expect(200);
    assert_eq!((globex.body["displayName"].clone(), member_ids(&globex.body)), (json!("Globex"), vec![rival.clone()]));
    server.stop().await;
}
