//! A plugin author's path, end to end: the example guest of `examples/email-username`
//! (built on the stock library) uploaded to a realm created at run time, serving its own
//! rule and schema over HTTP and SQLite, while the bundled module serves the others.

use reqwest::Method;
use scim_host_e2e::*;
use serde_json::json;

const BADGE: &str = "urn:example:params:scim:schemas:extension:badge:2.0:User";

#[tokio::test]
async fn the_example_plugin_runs_as_a_tenant_module() {
    let server = TestServer::start().await;
    server.admin(Method::POST, "/admin/realms", Some(json!({ "name": "badges" }))).await.expect(201);
    let uploaded = server.upload_module("badges", std::fs::read(EMAIL_USERNAME_GUEST).unwrap()).await;
    assert_eq!(uploaded.status.as_u16(), 200, "{}", uploaded.text);
    let issued = server.admin(Method::POST, "/admin/realms/badges/tokens", Some(json!({}))).await.expect(201);
    let token = issued.body["token"].as_str().unwrap().to_string();
    let base = format!("{}/realms/badges/scim/v2", server.origin);
    let call = |method: Method, url: String, body: Option<serde_json::Value>| {
        let token = token.clone();
        let server = &server;
        async move { server.call_with(method, &url, body, Some(&token)).await }
    };

    let body = json!({
        "schemas": [USER_SCHEMA, BADGE],
        "userName": "00u1okta",
        "externalId": "00u1okta",
        "emails": [{ "value": "Grace.Hopper@Example.com", "type": "work", "primary": true }],
        BADGE: { "badgeNumber": "B-1906", "clearance": "restricted" },
    });
    let created = call(Method::POST, format!("{base}/Users"), Some(body.clone())).await.expect(201);
    assert_eq!(created.body["userName"], json!("grace.hopper@example.com"), "derived from the primary email");
    // The stock upsert still holds: the same externalId again is adopted, not a 409.
    let again = call(Method::POST, format!("{base}/Users"), Some(body)).await.expect(200);
    assert_eq!(again.id(), created.id());

    // The extension is filtered in the store.
    let filter = format!("{BADGE}:badgeNumber eq \"B-1906\"");
    let url = format!("{base}/Users?filter={}", encode(&filter));
    let found = call(Method::GET, url, None).await.expect(200);
    assert_eq!(found.body["totalResults"], json!(1), "{}", found.text);
    let schema = call(Method::GET, format!("{base}/Schemas/{BADGE}"), None).await.expect(200);
    assert_eq!(schema.body["name"], json!("Badge"));

    // The bundled module elsewhere knows nothing of it.
    let refused = server
        .post(
            &format!("{}/Users", server.base(Scope::Realm)),
            json!({ "schemas": [USER_SCHEMA, BADGE], "userName": "x", BADGE: { "badgeNumber": "1" } }),
        )
        .await;
    refused.assert_scim_error(400);
}
