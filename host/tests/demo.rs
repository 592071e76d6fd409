//! The README's first command: `scim-host serve --demo` starts a realm `demo` with
//! organization `acme`, prints its tokens (or takes them from the environment), and keeps
//! its data across a restart.

mod support;

use std::process::Command;
use support::start;

#[tokio::test]
async fn demo_serves_realm_and_organization_prints_tokens_and_keeps_data_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let demo = start(data.path(), None);
    assert_eq!(demo.realm_token.len(), 64, "a made-up realm token is printed");
    assert_eq!(demo.admin_token.len(), 64, "a made-up admin token is printed");
    let created = client
        .post(format!("{}/realms/demo/scim/v2/organizations/acme/Users", demo.origin))
        .bearer_auth(&demo.realm_token)
        .header("content-type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"persisted"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let printed_token = demo.realm_token.clone();
    demo.stop();

    let demo = start(data.path(), Some(("realm-secret", "admin-secret")));
    assert_eq!(demo.realm_token, "(from the environment)");
    let listed = client
        .get(format!("{}/realms/demo/scim/v2/Users?filter=userName%20eq%20%22persisted%22", demo.origin))
        .bearer_auth("realm-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status().as_u16(), 200);
    let listed: serde_json::Value = listed.json().await.unwrap();
    assert_eq!(listed["totalResults"], 1, "the user survived the restart: {listed}");

    let events: serde_json::Value = client
        .get(format!("{}/admin/realms/demo/events", demo.origin))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<_> = events["events"].as_array().unwrap().iter().map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, ["USER_CREATED", "ORGANIZATION_MEMBER_JOINED"]);

    let stale = client
        .get(format!("{}/realms/demo/scim/v2/Users", demo.origin))
        .bearer_auth(&printed_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 401, "tokens of an earlier run no longer work");
    demo.stop();
}

#[test]
fn hash_token_prints_a_hash_a_configuration_accepts() {
    let output = Command::new(env!("CARGO_BIN_EXE_scim-host")).args(["hash-token", "s3cret"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let hash = text.lines().find_map(|l| l.strip_prefix("hash:")).unwrap().trim().to_string();
    assert_eq!(hash, scim_host::auth::TokenHash::of("s3cret").to_string());
}

#[test]
fn check_config_names_the_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[realms.demo]\ntokens = [\"not-a-hash\"]\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_scim-host")).arg("check-config").arg(&path).output().unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8(output.stderr).unwrap();
    assert!(message.contains("scim-host hash-token"), "{message}");
}

#[test]
fn check_module_accepts_a_component_of_the_world_and_names_what_is_wrong_with_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("guest.wasm");
    std::fs::write(&good, scim_host::tenants::BUNDLED_GUEST).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_scim-host")).arg("check-module").arg(&good).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8(output.stdout).unwrap().contains("a scim:host@0.1.0 component, sha256 "));

    let bad = dir.path().join("core.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_scim-host")).arg("check-module").arg(&bad).output().unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8(output.stderr).unwrap();
    assert!(message.contains("core.wasm is not a scim:host component"), "{message}");
    assert!(message.contains("wasm32-wasip2"), "{message}");
}

/// Runs `scim-host admin …` against a server; (success, stdout, stderr).
fn admin(origin: &str, token: &str, args: &[&str]) -> (bool, serde_json::Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_scim-host"))
        .args(["admin", "--url", origin])
        .args(args)
        .env("SCIM_HOST_ADMIN_TOKEN", token)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let json = if stdout.trim().is_empty() { serde_json::Value::Null } else { serde_json::from_str(&stdout).unwrap() };
    (output.status.success(), json, String::from_utf8(output.stderr).unwrap())
}

#[tokio::test]
async fn admin_commands_drive_a_running_server() {
    let data = tempfile::tempdir().unwrap();
    let demo = start(data.path(), Some(("realm-secret", "admin-secret")));
    let run = |args: &[&str]| admin(&demo.origin, "admin-secret", args);

    let (ok, created, err) = run(&["realm", "create", "tenant-a", "--limit", "requests_per_second=50"]);
    assert!(ok, "{err}");
    assert_eq!(created["limits"]["requests_per_second"], 50.0);
    let (ok, _, err) = run(&["org", "create", "tenant-a", "unit-1", "--name", "Unit One"]);
    assert!(ok, "{err}");
    let (ok, issued, err) = run(&["token", "issue", "tenant-a", "--organization", "unit-1", "--label", "okta"]);
    assert!(ok, "{err}");
    let token = issued["token"].as_str().unwrap().to_string();
    let listed = reqwest::Client::new()
        .get(format!("{}/realms/tenant-a/scim/v2/organizations/unit-1/Users", demo.origin))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status().as_u16(), 200, "the issued token opens the new organization");

    let (ok, changed, err) =
        run(&["realm", "set", "tenant-a", "--limit", "requests_per_second=none", "--setting", "tier=gold"]);
    assert!(ok, "{err}");
    assert_eq!(changed["limits"]["requests_per_second"], serde_json::Value::Null);
    assert_eq!(changed["settings"]["tier"], "gold");
    let guest = data.path().join("guest.wasm");
    std::fs::write(&guest, scim_host::tenants::BUNDLED_GUEST).unwrap();
    let (ok, uploaded, err) = run(&["module", "upload", "tenant-a", guest.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(uploaded["digest"].as_str().unwrap().len(), 64);
    let (ok, events, err) = run(&["events", "tenant-a", "--type", "ORGANIZATION_CREATED,TOKEN_ISSUED"]);
    assert!(ok, "{err}");
    let kinds: Vec<_> = events["events"].as_array().unwrap().iter().map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, ["ORGANIZATION_CREATED", "TOKEN_ISSUED"]);

    // Refusals carry the server's reason, and the command fails.
    let (ok, _, err) = run(&["realm", "delete", "demo", "--yes"]);
    assert!(!ok);
    assert!(err.contains("409") && err.contains("configuration"), "{err}");
    let (ok, _, err) = run(&["realm", "delete", "tenant-a"]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, _, err) = run(&["realm", "create", "x", "--limit", "memory_mib=lots"]);
    assert!(!ok && err.contains("memory_mib=lots"), "{err}");
    let (ok, _, err) = admin(&demo.origin, "realm-secret", &["realm", "list"]);
    assert!(!ok && err.contains("401") && err.contains("admin token"), "{err}");
    let (ok, _, err) = admin("http://127.0.0.1:9", "admin-secret", &["realm", "list"]);
    assert!(!ok && err.contains("cannot reach"), "{err}");

    let (ok, _, err) = run(&["realm", "delete", "tenant-a", "--yes"]);
    assert!(ok, "{err}");
    let (_, listed, _) = run(&["realm", "list"]);
    let names: Vec<_> = listed["realms"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names, ["demo"]);
    demo.stop();
}

/// `scim-host realm export` and `realm import` through the binary: a realm created through
/// the admin API leaves one server's data directory as a file and is served by another,
/// under a new name, with its users and its issued token.
#[tokio::test]
async fn realm_export_and_import_move_a_realm_through_the_cli() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let demo = start(from.path(), Some(("realm-secret", "admin-secret")));
    let (ok, _, err) = admin(&demo.origin, "admin-secret", &["realm", "create", "tenant-a"]);
    assert!(ok, "{err}");
    let (ok, issued, err) = admin(&demo.origin, "admin-secret", &["token", "issue", "tenant-a", "--label", "okta"]);
    assert!(ok, "{err}");
    let token = issued["token"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let body =
        serde_json::json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "moved-ann" });
    let created: serde_json::Value = client
        .post(format!("{}/realms/tenant-a/scim/v2/Users", demo.origin))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    demo.stop();

    let cli = |args: &[&str], data: &std::path::Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scim-host"));
        command.args(args).arg("--data-dir").arg(data).env_remove("SCIM_HOST_STORE");
        if let Some(url) = support::postgres_store(data) {
            command.arg("--store").arg(url);
        }
        let output = command.output().unwrap();
        (output.status.success(), String::from_utf8(output.stderr).unwrap())
    };
    let file = from.path().join("tenant-a.jsonl");
    let (ok, err) = cli(&["realm", "export", "tenant-a", "-o", file.to_str().unwrap()], from.path());
    assert!(ok && err.contains("exported realm tenant-a"), "{err}");
    let (ok, err) = cli(&["realm", "import", file.to_str().unwrap(), "--as", "tenant-b"], to.path());
    assert!(ok && err.contains("imported realm tenant-b"), "{err}");
    let (ok, err) = cli(&["realm", "import", file.to_str().unwrap(), "--as", "tenant-b"], to.path());
    assert!(!ok && err.contains("already exists"), "{err}");

    let moved = start(to.path(), Some(("realm-secret", "admin-secret")));
    let id = created["id"].as_str().unwrap();
    let read: serde_json::Value = client
        .get(format!("{}/realms/tenant-b/scim/v2/Users/{id}", moved.origin))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["userName"], "moved-ann", "{read}");
    assert_eq!(read["meta"]["version"], created["meta"]["version"]);
    moved.stop();
}

/// Placement through the binary: a configuration names a second store, the admin CLI
/// creates a realm in it, `realm export` finds the realm there, and `realm import --store`
/// loads a copy into the store named (a name the configuration does not know is refused).
#[tokio::test]
async fn realm_placed_in_a_named_store_through_the_cli() {
    let data = tempfile::tempdir().unwrap();
    let eu = support::scratch_postgres::fresh_database();
    let default_store =
        support::postgres_store(data.path()).map(|url| format!("store = \"{url}\"\n")).unwrap_or_default();
    let admin_hash = scim_host::auth::TokenHash::of("admin-secret");
    let config = data.path().join("scim-host.toml");
    std::fs::write(
        &config,
        format!("data_dir = \"data\"\n{default_store}admin_tokens = [\"{admin_hash}\"]\n[stores]\neu = \"{eu}\"\n"),
    )
    .unwrap();
    let server = support::start_configured(&config);
    let (ok, created, err) = admin(&server.origin, "admin-secret", &["realm", "create", "beta", "--store", "eu"]);
    assert!(ok, "{err}");
    assert_eq!(created["store"], "eu");
    server.stop();
    let realms_in_eu = || support::scratch_postgres::query(&eu, "SELECT name FROM realms ORDER BY name", &[]);
    assert_eq!(realms_in_eu(), ["beta"]);

    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_scim-host"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("SCIM_HOST_STORE")
            .output()
            .unwrap();
        (output.status.success(), String::from_utf8(output.stderr).unwrap())
    };
    let file = data.path().join("beta.jsonl");
    let (ok, err) = cli(&["realm", "export", "beta", "-o", file.to_str().unwrap()]);
    assert!(ok && err.contains("exported realm beta"), "found in the store that holds it: {err}");
    let (ok, err) = cli(&["realm", "import", file.to_str().unwrap(), "--as", "gamma", "--store", "eu"]);
    assert!(ok && err.contains("imported realm gamma"), "{err}");
    assert_eq!(realms_in_eu(), ["beta", "gamma"]);
    let (ok, err) = cli(&["realm", "import", file.to_str().unwrap(), "--as", "delta", "--store", "us"]);
    assert!(!ok && err.contains("default, eu"), "{err}");
    let (ok, err) = cli(&["realm", "import", file.to_str().unwrap()]);
    assert!(!ok && err.contains("realm \"beta\" already exists in store \"eu\""), "{err}");
}

/// `scim-host admin webhook …`: a subscription created from the command line shows its
/// secret once, lists without it, sends a test message, and is deleted.
#[tokio::test]
async fn admin_webhook_commands_drive_a_running_server() {
    let data = tempfile::tempdir().unwrap();
    let demo = start(data.path(), Some(("realm-secret", "admin-secret")));
    let run = |args: &[&str]| admin(&demo.origin, "admin-secret", args);
    let url = "http://127.0.0.1:9/hook";
    let (ok, created, err) = run(&["webhook", "create", "demo", url, "--type", "USER_CREATED"]);
    assert!(ok, "{err}");
    let (id, secret) = (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["types"], serde_json::json!(["USER_CREATED"]));
    let (ok, listed, err) = run(&["webhook", "list", "demo"]);
    assert!(ok && !listed.to_string().contains(secret), "{err} {listed}");
    let (ok, tested, err) = run(&["webhook", "test", "demo", id]);
    assert!(ok && tested["status"].is_null(), "nothing listens there: {err} {tested}");
    let (ok, changed, err) = run(&["webhook", "set", "demo", id, "--enabled", "false"]);
    assert!(ok && changed["enabled"] == false, "{err} {changed}");
    let (ok, _, err) = run(&["webhook", "create", "demo", url, "--type", "NOT_A_TYPE"]);
    assert!(!ok && err.contains("NOT_A_TYPE"), "{err}");
    let (ok, _, err) = run(&["webhook", "delete", "demo", id]);
    assert!(ok, "{err}");
    let (_, listed, _) = run(&["webhook", "list", "demo"]);
    assert_eq!(listed["webhooks"], serde_json::json!([]));
    demo.stop();
}
