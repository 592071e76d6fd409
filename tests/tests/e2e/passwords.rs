//! Passwords are write-only: stored only as an argon2id hash, never returned.

use scim_host_e2e::*;
use serde_json::json;

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes_and_never_returned() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let mut body = user(&format!("pw-{}", scope == Scope::Realm), "x-pw");
        body["externalId"] = json!(format!("x-pw-{}", scope == Scope::Realm));
        body["password"] = json!("Sup3r-Secret!");
        let created = server.post(&format!("{base}/Users"), body).await.expect(201);
        assert!(!created.text.contains("Sup3r-Secret!"), "{}", created.text);
        assert!(created.body.get("password").is_none());
        let id = created.id();

        let stored = server
            .stored("SELECT secret FROM credentials WHERE user_id = $1 AND type = 'password'", &[&id])
            .pop()
            .expect("a password credential");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("Sup3r-Secret!"));
        let documents = server.stored("SELECT value FROM user_attributes WHERE value LIKE '%Sup3r-Secret!%'", &[]);
        assert!(documents.is_empty(), "the password is in no stored attribute");

        let patch = json!({ "Operations": [{ "op": "replace", "path": "password", "value": "An0ther-one" }] });
        let patched = server.patch(&format!("{base}/Users/{id}"), patch).await.expect(200);
        assert!(patched.body.get("password").is_none());
        let changed = server.stored("SELECT secret FROM credentials WHERE user_id = $1", &[&id]).pop().unwrap();
        assert_ne!(changed, stored, "a new password, a new hash");
        let listed = server.get(&format!("{base}/Users?attributes=password,userName")).await.expect(200);
        assert!(!listed.text.contains("password"), "{}", listed.text);
    }
    server.stop().await;
}
