//! Sync diagnostics: an operator reads what an identity provider sent and why it was
//! refused, with its secrets redacted, without access to the logs.

use reqwest::Method;
use scim_host_e2e::*;
use serde_json::json;

const OKTA: &str = "Okta SCIM Client 1.0.0";

/// POSTs `body` to the realm's Users as Okta would.
async fn post_as_okta(server: &TestServer, scope: Scope, body: serde_json::Value) -> Answer {
    let response = server
        .client
        .post(format!("{}/Users", server.base(scope)))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .header("user-agent", OKTA)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    Answer::from(response).await
}

#[tokio::test]
async fn failed_request_is_listed_with_redacted_body() {
    let server = TestServer::start().await;
    // No userName: refused. Its password, and a token in an extension, must not be kept.
    let body = json!({ "schemas": [USER_SCHEMA], "password": "hunter2-secret", "displayName": "Ada",
        "urn:example:ext": { "apiToken": "tok-123" } });
    let refused = post_as_okta(&server, Scope::Realm, body).await;
    refused.assert_scim_error(400);
    let request_id = refused.header("x-request-id").unwrap().to_string();
    post_as_okta(&server, Scope::Realm, user("ada", "x-ada")).await.expect(201);
    let wrong = json!({ "schemas": [USER_SCHEMA], "userName": 5 });
    post_as_okta(&server, Scope::Organization("acme"), wrong).await.assert_scim_error(400);

    let listed = server.admin(Method::GET, "/admin/realms/demo/requests?status=4xx", None).await.expect(200);
    let requests = listed.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2, "{}", listed.text);
    let first = requests.iter().find(|r| r["requestId"] == json!(request_id)).expect("the refused POST is listed");
    assert_eq!(first["method"], json!("POST"));
    assert_eq!(first["path"], json!("/Users"));
    assert_eq!(first["status"], json!(400));
    assert_eq!(first["scimType"], refused.body["scimType"]);
    assert_eq!(first["detail"], refused.body["detail"]);
    assert_eq!(first["userAgent"], json!(OKTA));
    assert_eq!(first["identityProvider"], json!("okta"));
    let kept = first["body"].as_str().unwrap();
    assert!(kept.contains("\"displayName\":\"Ada\"") && kept.contains("[redacted]"), "{kept}");
    assert!(!listed.text.contains("hunter2") && !listed.text.contains("tok-123"), "{}", listed.text);
    assert_eq!(requests[0]["organization"], json!("acme"), "newest first, with its organization");

    let acme = server.admin(Method::GET, "/admin/realms/demo/requests?organization=acme", None).await.expect(200);
    assert_eq!(acme.body["requests"].as_array().unwrap().len(), 1);
    let okta = &listed.body["counts"]["identityProviders"]["okta"];
    assert_eq!((okta["requests"].clone(), okta["client_errors"].clone()), (json!(3), json!(2)), "{}", listed.text);
    let server_errors = server.admin(Method::GET, "/admin/realms/demo/requests?status=5xx", None).await.expect(200);
    assert!(server_errors.body["requests"].as_array().unwrap().is_empty());
    server.admin(Method::GET, "/admin/realms/demo/requests?status=2xx", None).await.assert_scim_error(400);
    // Another realm's view holds none of it, and a realm token reads none of it.
    let other = server.admin(Method::GET, "/admin/realms/misbehaving/requests", None).await.expect(200);
    assert!(other.body["requests"].as_array().unwrap().is_empty(), "{}", other.text);
    let url = format!("{}/admin/realms/demo/requests", server.origin);
    server.call_with(Method::GET, &url, None, Some(TOKEN)).await.assert_scim_error(401);
    server.stop().await;
}
