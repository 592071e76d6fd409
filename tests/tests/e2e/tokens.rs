//! Tokens issued through the admin API: shown once, kept as hashes, limited to a realm or
//! to one organization, revoked at once.

use reqwest::Method;
use scim_host_e2e::*;
use serde_json::json;

async fn issue(server: &TestServer, body: serde_json::Value) -> Answer {
    server
        .call_with(Method::POST, &format!("{}/admin/realms/demo/tokens", server.origin), Some(body), Some(ADMIN_TOKEN))
        .await
}

#[tokio::test]
async fn an_organization_token_opens_its_organization_and_nothing_else() {
    let server = TestServer::start().await;
    let issued = issue(&server, json!({ "organization": "acme", "label": "Acme's Okta" })).await.expect(201);
    let token = issued.body["token"].as_str().unwrap().to_string();
    let acme = server.base(Scope::Organization("acme"));
    let globex = server.base(Scope::Organization("globex"));
    let realm = server.base(Scope::Realm);

    server.call_with(Method::GET, &format!("{acme}/Users"), None, Some(&token)).await.expect(200);
    for url in [format!("{realm}/Users"), format!("{globex}/Users")] {
        let refused = server.call_with(Method::GET, &url, None, Some(&token)).await;
        refused.assert_scim_error(401);
    }
    // A realm token issued the same way opens every scope of the realm.
    let realm_token =
        issue(&server, json!({ "label": "realm-wide" })).await.expect(201).body["token"].as_str().unwrap().to_string();
    for url in [format!("{realm}/Users"), format!("{acme}/Users"), format!("{globex}/Users")] {
        server.call_with(Method::GET, &url, None, Some(&realm_token)).await.expect(200);
    }

    // Listed without secrets; the database holds only hashes.
    let listed = server
        .call_with(Method::GET, &format!("{}/admin/realms/demo/tokens", server.origin), None, Some(ADMIN_TOKEN))
        .await
        .expect(200);
    assert_eq!(listed.body["tokens"].as_array().unwrap().len(), 2);
    assert!(!listed.text.contains(&token) && !listed.text.contains(&realm_token));
    let stored = server.stored("SELECT hash FROM tokens", &[]);
    assert!(stored.iter().all(|h| h.starts_with("sha256:") && !h.contains(&token)));

    // Revoked: refused from the next request on.
    let id = issued.body["id"].as_str().unwrap();
    server
        .call_with(Method::DELETE, &format!("{}/admin/realms/demo/tokens/{id}", server.origin), None, Some(ADMIN_TOKEN))
        .await
        .expect(204);
    server.call_with(Method::GET, &format!("{acme}/Users"), None, Some(&token)).await.assert_scim_error(401);
    server
        .call_with(Method::DELETE, &format!("{}/admin/realms/demo/tokens/{id}", server.origin), None, Some(ADMIN_TOKEN))
        .await
        .assert_scim_error(404);

    issue(&server, json!({ "organization": "initech" })).await.assert_scim_error(404);
    server
        .call_with(Method::POST, &format!("{}/admin/realms/demo/tokens", server.origin), None, Some(&realm_token))
        .await
        .assert_scim_error(401);
    server.stop().await;
}

#[tokio::test]
async fn issued_tokens_survive_a_restart() {
    let server = TestServer::start().await;
    let token = issue(&server, json!({})).await.expect(201).body["token"].as_str().unwrap().to_string();
    let server = server.restart().await;
    server
        .call_with(Method::GET, &format!("{}/Users", server.base(Scope::Realm)), None, Some(&token))
        .await
        .expect(200);
    server.stop().await;
}
