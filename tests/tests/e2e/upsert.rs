//! Idempotent upsert: an IdP that re-sends what it already provisioned gets the existing
//! resource back (200, same id, Location), never a 409.

use scim_host_e2e::*;
use serde_json::json;

#[tokio::test]
async fn authentik_recreated_provider_reposts_users_and_gets_200_same_id() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let users = format!("{}/Users", server.base(scope));
        let name = format!("ann-{scope:?}").to_lowercase().replace(['(', ')', '"'], "");
        let created = server.post(&users, user(&name, &format!("ak-{name}"))).await.expect(201);
        let id = created.id();
        let location = created.header("location").expect("a Location on 201").to_string();
        assert_eq!(created.body["meta"]["location"], json!(location), "{scope:?}");
        assert_eq!(location, format!("{users}/{id}"), "{scope:?}");

        // The provider was deleted and re-created in the IdP: it posts everything again.
        let again = server.post(&users, user(&name, &format!("ak-{name}"))).await.expect(200);
        assert_eq!(again.id(), id, "{scope:?}");
        assert_eq!(again.header("location"), Some(location.as_str()), "{scope:?}");

        // A new provider knows nothing of the old externalId: adopted by userName, any case.
        let mut renamed = user(&name.to_uppercase(), &format!("ak2-{name}"));
        renamed["name"]["familyName"] = json!("Changed");
        let adopted = server.post(&users, renamed).await.expect(200);
        assert_eq!(adopted.id(), id, "{scope:?}");
        let fetched = server.get(&format!("{users}/{id}")).await.expect(200);
        assert_eq!(fetched.body["externalId"], json!(format!("ak2-{name}")), "{scope:?}");
        assert_eq!(fetched.body["name"]["familyName"], json!("Changed"), "{scope:?}");

        let list = server.get(&format!("{users}?filter=userName%20eq%20%22{name}%22")).await.expect(200);
        assert_eq!(list.body["totalResults"], json!(1), "{scope:?}: one user, not three");
    }
    let created = server.events().await.iter().filter(|e| e["type"] == "USER_CREATED").count();
    assert_eq!(created, 2, "one creation per scope");
    server.stop().await;
}

#[tokio::test]
async fn reposted_groups_are_adopted_by_external_id() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let groups = format!("{}/Groups", server.base(scope));
        let ext = format!("grp-{}", matches!(scope, Scope::Realm));
        let first = server.post(&groups, group("Engineering", &ext, &[])).await.expect(201);
        assert_eq!(first.header("location"), first.body["meta"]["location"].as_str());
        let second = server.post(&groups, group("Engineering (renamed)", &ext, &[])).await.expect(200);
        assert_eq!(second.id(), first.id());
        assert_eq!(second.body["displayName"], json!("Engineering (renamed)"));
        assert_eq!(second.header("location"), first.header("location"));
    }
    server.stop().await;
}

/// Calls begun as reads that wrote.
const UPGRADES: &str = "scim_host_write_upgrades_total";

#[tokio::test]
async fn an_unchanged_repost_writes_nothing_and_is_answered_from_a_read() {
    let server = TestServer::start().await;
    for (n, scope) in BOTH_SCOPES.into_iter().enumerate() {
        let users = format!("{}/Users", server.base(scope));
        let (name, external_id) = (format!("bob-{n}"), format!("x-bob-{n}"));
        let upgrades = server.metric(UPGRADES).await;
        let first = server.post(&users, user(&name, &external_id)).await.expect(201);
        assert_eq!(server.metric(UPGRADES).await, upgrades + 1.0, "{scope:?}: a new user is a write");

        let again = server.post(&users, user(&name, &external_id)).await.expect(200);
        assert_eq!(again.body["meta"]["version"], first.body["meta"]["version"], "{scope:?}");
        assert_eq!(again.header("etag"), first.header("etag"), "{scope:?}");
        let same = server.put(&format!("{users}/{}", first.id()), user(&name, &external_id)).await.expect(200);
        assert_eq!(same.body["meta"]["version"], first.body["meta"]["version"], "{scope:?}");
        assert_eq!(server.metric(UPGRADES).await, upgrades + 1.0, "{scope:?}: the repeats never wrote");

        let mut changed = user(&name, &external_id);
        changed["name"]["familyName"] = json!("Changed");
        let put = server.put(&format!("{users}/{}", first.id()), changed).await.expect(200);
        assert_ne!(put.body["meta"]["version"], first.body["meta"]["version"], "{scope:?}");
        assert_eq!(server.metric(UPGRADES).await, upgrades + 2.0, "{scope:?}: a change is a write");
        let fetched = server.get(&format!("{users}/{}", first.id())).await.expect(200);
        assert_eq!(fetched.body["name"]["familyName"], json!("Changed"), "{scope:?}");
    }
    let kinds: Vec<_> = server
        .events()
        .await
        .into_iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .filter(|kind| kind.starts_with("USER_"))
        .collect();
    assert_eq!(kinds, ["USER_CREATED", "USER_UPDATED", "USER_CREATED", "USER_UPDATED"]);
    server.stop().await;
}

/// Calls begun at once as writes.
const WRITTEN_FIRST: &str = "scim_host_calls_begun_as_writes_total";

/// A first provisioning, where every POST creates: once most calls begun as reads have
/// written, the next POSTs begin as writes (one in `SAMPLE` still begins as a read); a
/// re-sync that changes nothing brings reads first back. The answers never differ.
/// (On PostgreSQL, where writes run in parallel, a call begins as a write only when its
/// kind keeps meeting other writes: one after another, these never do.)
#[tokio::test]
async fn calls_that_keep_writing_begin_as_writes_until_they_stop() {
    use scim_host::write_plan::SAMPLE;
    let server = TestServer::start().await;
    let users = format!("{}/Users", server.base(Scope::Realm));
    let user_n = |i: u32| user(&format!("new-{i}"), &format!("x-new-{i}"));
    const NEW: u32 = 40;
    let mut ids = Vec::new();
    for i in 0..NEW {
        ids.push(server.post(&users, user_n(i)).await.expect(201).id().to_string());
    }
    if scim_host_e2e::scratch_postgres::selected() {
        assert_eq!(server.metric(UPGRADES).await, f64::from(NEW), "every POST began as a read, beside the others");
        assert_eq!(server.metric(WRITTEN_FIRST).await, 0.0);
        return server.stop().await;
    }
    // Six runs as reads that wrote take the share of writes past half.
    let read_first = 6 + (NEW - 6).div_ceil(SAMPLE);
    assert_eq!(server.metric(UPGRADES).await, f64::from(read_first));
    assert_eq!(server.metric(WRITTEN_FIRST).await, f64::from(NEW - read_first));

    let mut written_first = Vec::new();
    for (i, id) in (0..NEW).zip(&ids) {
        let again = server.post(&users, user_n(i)).await.expect(200);
        assert_eq!(again.id(), id.as_str());
        written_first.push(server.metric(WRITTEN_FIRST).await);
    }
    assert_eq!(server.metric(UPGRADES).await, f64::from(read_first), "no re-post wrote");
    let settled = &written_first[written_first.len() - 8..];
    assert!(settled.iter().all(|n| *n == settled[0]), "reads first again: {written_first:?}");
    assert!(settled[0] > f64::from(NEW - read_first), "some re-posts went to the writer first");
    let created = server.events().await.into_iter().filter(|e| e["type"] == "USER_CREATED").count();
    assert_eq!(created, NEW as usize);
    server.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_data() {
    let server = TestServer::start().await;
    let users = format!("{}/Users", server.base(Scope::Realm));
    let id = server.create_user(Scope::Realm, "kept", "x-kept").await;
    let server = server.restart().await;
    let users_after = format!("{}/Users", server.base(Scope::Realm));
    assert_ne!(users, users_after, "a new port, the same data");
    let fetched = server.get(&format!("{users_after}/{id}")).await.expect(200);
    assert_eq!(fetched.body["userName"], json!("kept"));
    server.stop().await;
}
