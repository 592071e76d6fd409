//! A realm moved between stores with `realm export` and `realm import`: from SQLite to
//! PostgreSQL and back, every SCIM GET answers the same, and so do the admin API's lists.

use reqwest::Method;
use scim_host::modules::{DiskModules, Modules};
use scim_host::store::{PostgresStore, SqliteStore, Store, dump};
use scim_host_e2e::*;
use serde_json::{Value, json};
use std::sync::Arc;

/// Fills realm `demo` with what a provisioning leaves behind: users with attributes and a
/// password, groups with members, organization members and groups, a deleted user, an
/// issued token, a module history, events.
/// The text with every local server's origin (`http://127.0.0.1:<port>`) as `ORIGIN`.
fn any_origin(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("http://127.0.0.1:") {
        out.push_str(&rest[..at]);
        out.push_str("ORIGIN");
        rest = rest[at + "http://127.0.0.1:".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

async fn provision(server: &TestServer) {
    let base = server.base(Scope::Realm);
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut body = user(&format!("user-{i:02}"), &format!("x-user-{i}"));
        body["title"] = json!(format!("Title {i}"));
        if i == 3 {
            body["password"] = json!("Sup3r-Secret!");
        }
        ids.push(server.post(&format!("{base}/Users"), body).await.expect(201).id());
    }
    let patch =
        json!({ "schemas": [PATCH_SCHEMA], "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    server.patch(&format!("{base}/Users/{}", ids[5]), patch).await.expect(200);
    server.delete(&format!("{base}/Users/{}", ids[7])).await;
    let members: Vec<&str> = [0, 2, 4, 6].iter().map(|&i| ids[i].as_str()).collect();
    server.post(&format!("{base}/Groups"), group("Engineering", "g-eng", &members)).await.expect(201);
    server.post(&format!("{base}/Groups"), group("Empty", "g-empty", &[])).await.expect(201);
    let acme = server.base(Scope::Organization("acme"));
    let member = server.post(&format!("{acme}/Users"), user("acme-ann", "x-acme-ann")).await.expect(201).id();
    server.post(&format!("{acme}/Groups"), group("Acme staff", "g-acme", &[&member])).await.expect(201);
    let token = json!({ "label": "okta" });
    server
        .call_with(Method::POST, &format!("{}/admin/realms/demo/tokens", server.origin), Some(token), Some(ADMIN_TOKEN))
        .await
        .expect(201);
    server.upload_module("demo", std::fs::read(EMAIL_USERNAME_GUEST).unwrap()).await.expect(200);
    server.admin(Method::POST, "/admin/realms/demo/module/rollback", None).await.expect(200);
}

/// Every GET whose answer must survive the move, each answer with the server's origin
/// taken out (the hosts listen on different ports).
async fn answers(server: &TestServer) -> Vec<(String, Value)> {
    let mut urls = Vec::new();
    for scope in [Scope::Realm, Scope::Organization("acme"), Scope::Organization("globex")] {
        let base = server.base(scope);
        for list in ["Users", "Groups"] {
            urls.push(format!("{base}/{list}?count=100"));
            urls.push(format!("{base}/{list}?count=3&startIndex=2"));
        }
        urls.push(format!(
            "{base}/Users?filter={}&sortBy=userName&sortOrder=descending",
            encode("userName co \"user\"")
        ));
        urls.push(format!("{base}/Users?filter={}", encode("emails.value ew \"example.org\" and active eq true")));
    }
    let base = server.base(Scope::Realm);
    for list in ["Users", "Groups"] {
        let listed = server.get(&format!("{base}/{list}?count=100")).await.expect(200);
        for resource in listed.body["Resources"].as_array().unwrap() {
            urls.push(format!("{base}/{list}/{}", resource["id"].as_str().unwrap()));
        }
    }
    for admin in ["tokens", "events?limit=1000", "organizations"] {
        urls.push(format!("{}/admin/realms/demo/{admin}", server.origin));
    }
    let mut answers = Vec::new();
    for url in urls {
        let token = if url.contains("/admin/") { ADMIN_TOKEN } else { TOKEN };
        let answer = server.call_with(Method::GET, &url, None, Some(token)).await.expect(200);
        // Events keep the resource as the request left it, with the URL of the server that
        // answered it: every test server's origin is ORIGIN.
        let text = any_origin(&answer.text);
        answers.push((url.replace(&server.origin, "ORIGIN"), serde_json::from_str(&text).unwrap()));
    }
    let module = server.admin(Method::GET, "/admin/realms/demo/module", None).await.expect(200);
    answers.push(("module".into(), module.body));
    let passwords = server.stored("SELECT secret FROM credentials ORDER BY user_id", &[]);
    answers.push(("password hashes".into(), json!(passwords)));
    answers
}

fn sqlite_in(data: &std::path::Path) -> (Arc<dyn Store>, Arc<dyn Modules>) {
    let store = SqliteStore::open(&data.join("scim-host.db")).unwrap();
    (Arc::new(store), Arc::new(DiskModules::open(data).unwrap()))
}

fn postgres_at(url: &str) -> (Arc<dyn Store>, Arc<dyn Modules>) {
    let store = PostgresStore::open(url).unwrap();
    let modules = store.modules().unwrap();
    (Arc::new(store), modules)
}

/// Exports realm `demo` from one store and imports it into another, through a dump.
fn moved(from: &(Arc<dyn Store>, Arc<dyn Modules>), to: &(Arc<dyn Store>, Arc<dyn Modules>)) -> dump::Moved {
    let mut lines = Vec::new();
    let exported = dump::export(from.0.as_ref(), from.1.as_ref(), "demo", &mut lines).unwrap();
    let imported = dump::import(to.0.as_ref(), to.1.as_ref(), lines.as_slice(), None).unwrap();
    assert_eq!(exported, imported);
    imported
}

#[tokio::test]
async fn realm_moved_from_sqlite_to_postgres_answers_the_same() {
    let on_sqlite = TestServer::start_at(tempfile::tempdir().unwrap(), None).await;
    provision(&on_sqlite).await;
    let before = answers(&on_sqlite).await;
    let sqlite_data = on_sqlite.stop_keeping_data().await;

    // Into a fresh PostgreSQL database, before any host serves it.
    let url = scratch_postgres::fresh_database();
    let moved_over = tokio::task::spawn_blocking({
        let (data, url) = (sqlite_data.path().to_path_buf(), url.clone());
        move || {
            let (from, to) = (sqlite_in(&data), postgres_at(&url));
            let moved = moved(&from, &to);
            // A copy beside it would share its token ids: refused, and nothing of it kept.
            let mut lines = Vec::new();
            dump::export(from.0.as_ref(), from.1.as_ref(), "demo", &mut lines).unwrap();
            let twice = dump::import(to.0.as_ref(), to.1.as_ref(), lines.as_slice(), Some("demo-2")).unwrap_err();
            assert!(format!("{twice:#}").contains("a token keeps its id"), "{twice:#}");
            assert!(to.0.realm("demo-2").unwrap().is_none());
            moved
        }
    })
    .await
    .unwrap();
    assert!(moved_over.rows > 30 && moved_over.modules == 3, "{moved_over:?}");
    let on_postgres = TestServer::start_at(tempfile::tempdir().unwrap(), Some(url.clone())).await;
    let on_postgres_answers = answers(&on_postgres).await;
    for ((url, was), (_, is)) in before.iter().zip(&on_postgres_answers) {
        assert_eq!(was, is, "{url} answers otherwise on PostgreSQL");
    }
    assert_eq!(before.len(), on_postgres_answers.len());
    // The moved realm takes writes on its new store.
    on_postgres.create_user(Scope::Realm, "after-the-move", "x-after").await;
    on_postgres
        .delete(&format!(
            "{}/Users/{}",
            on_postgres.base(Scope::Realm),
            on_postgres.create_user(Scope::Realm, "gone", "x-gone").await
        ))
        .await;
    let after_writes = answers(&on_postgres).await;
    on_postgres.stop().await;

    // And back, into a new SQLite database.
    let back = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking({
        let (data, url) = (back.path().to_path_buf(), url.clone());
        move || moved(&postgres_at(&url), &sqlite_in(&data))
    })
    .await
    .unwrap();
    let on_sqlite_again = TestServer::start_at(back, None).await;
    let again = answers(&on_sqlite_again).await;
    for ((url, was), (_, is)) in after_writes.iter().zip(&again) {
        assert_eq!(was, is, "{url} answers otherwise back on SQLite");
    }
    on_sqlite_again.stop().await;
}

#[tokio::test]
async fn damaged_or_cut_short_dump_imports_nothing() {
    let server = TestServer::start_at(tempfile::tempdir().unwrap(), None).await;
    provision(&server).await;
    let data = server.stop_keeping_data().await;
    let source = sqlite_in(data.path());
    let mut lines = Vec::new();
    dump::export(source.0.as_ref(), source.1.as_ref(), "demo", &mut lines).unwrap();
    let text = String::from_utf8(lines).unwrap();
    let all: Vec<&str> = text.lines().collect();

    let target = tempfile::tempdir().unwrap();
    let into = sqlite_in(target.path());
    let cut = all[..all.len() - 1].join("\n");
    let refused = dump::import(into.0.as_ref(), into.1.as_ref(), cut.as_bytes(), Some("copy")).unwrap_err();
    assert!(format!("{refused:#}").contains("cut short"), "{refused:#}");
    let damaged = all.iter().map(|l| l.replace("\"username\"", "\"user_name\"")).collect::<Vec<_>>().join("\n");
    let refused = dump::import(into.0.as_ref(), into.1.as_ref(), damaged.as_bytes(), Some("copy")).unwrap_err();
    assert!(format!("{refused:#}").contains("no column user_name"), "{refused:#}");
    // A crafted module line cannot name a file outside the modules, or a module it does
    // not carry; crafted limits cannot keep the hosts from starting.
    for (from, to, why) in [
        (
            "\"kind\":\"end\"",
            "\"kind\":\"module\",\"digest\":\"../../x\",\"installed_at\":0}\n{\"kind\":\"end\"",
            "not a module digest",
        ),
        (
            "\"kind\":\"end\"",
            &format!("\"kind\":\"module\",\"digest\":\"{}\",\"installed_at\":0}}\n{{\"kind\":\"end\"", "a".repeat(64)),
            "without its bytes",
        ),
        ("\"limits\":null", "\"limits\":\"{\"", "limits kept in the store are damaged"),
    ] {
        let crafted = text.replacen(from, to, 1);
        assert_ne!(crafted, text, "{why}");
        let refused = dump::import(into.0.as_ref(), into.1.as_ref(), crafted.as_bytes(), Some("copy")).unwrap_err();
        assert!(format!("{refused:#}").contains(why), "{refused:#}");
    }
    assert!(into.0.realm("copy").unwrap().is_none(), "nothing of the refused dumps was kept");

    // Whole, it loads under another name; a second time, the realm exists.
    dump::import(into.0.as_ref(), into.1.as_ref(), text.as_bytes(), Some("copy")).unwrap();
    assert!(into.0.realm("copy").unwrap().is_some());
    let again = dump::import(into.0.as_ref(), into.1.as_ref(), text.as_bytes(), Some("copy")).unwrap_err();
    assert!(format!("{again:#}").contains("already exists"), "{again:#}");
    // A second copy under another name would share the first's token ids: refused, clearly.
    let twice = dump::import(into.0.as_ref(), into.1.as_ref(), text.as_bytes(), Some("copy-2")).unwrap_err();
    assert!(format!("{twice:#}").contains("a token keeps its id"), "{twice:#}");
    assert!(into.0.realm("copy-2").unwrap().is_none());
}
