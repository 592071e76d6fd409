//! Every error a client can meet, the host's included, is an RFC 7644 §3.12 body with
//! `application/scim+json`, `status` as a string, a `scimType` where the RFC names one,
//! and a detail that names what was wrong.

use reqwest::Method;
use scim_host_e2e::*;
use serde_json::json;

#[tokio::test]
async fn error_bodies_are_scim_json_everywhere() {
    let server = TestServer::start().await;
    let origin = server.origin.clone();

    // The host's own failures.
    let answer = server.get(&format!("{origin}/realms/nowhere/scim/v2/Users")).await;
    answer.assert_scim_error(404);
    assert!(answer.body["detail"].as_str().unwrap().contains("\"nowhere\""));

    let answer = server.get(&format!("{origin}/realms/demo/scim/v2/organizations/initech/Users")).await;
    answer.assert_scim_error(404);
    assert!(answer.body["detail"].as_str().unwrap().contains("\"initech\""));

    for token in [None, Some("wrong-token"), Some(MISBEHAVING_TOKEN)] {
        let answer = server.call_with(Method::GET, &format!("{}/Users", server.base(Scope::Realm)), None, token).await;
        answer.assert_scim_error(401);
        assert_eq!(answer.header("www-authenticate"), Some("Bearer realm=\"demo\""), "token {token:?}");
    }
    let answer = server.call_with(Method::GET, &format!("{origin}/admin/realms/demo/events"), None, Some(TOKEN)).await;
    answer.assert_scim_error(401);

    // Refused by the router's own extractors (found by fuzzing: they answered in plain
    // text): a realm name that is not UTF-8 once decoded, a limit that is not a number.
    for path in ["/admin/realms/%FFdemo/events", "/admin/realms/demo/events?limit=many"] {
        let answer = server.call_with(Method::GET, &format!("{origin}{path}"), None, Some(ADMIN_TOKEN)).await;
        answer.assert_scim_error(400);
    }

    let huge = json!({ "schemas": [USER_SCHEMA], "userName": "x".repeat(2 << 20) });
    let answer = server.post(&format!("{}/Users", server.base(Scope::Realm)), huge).await;
    answer.assert_scim_error(413);
    assert!(answer.body["detail"].as_str().unwrap().contains("1048576 bytes"), "{}", answer.text);

    for path in ["/nothing-here", "/realms/demo", "/realms/demo/scim/v1/Users"] {
        server.get(&format!("{origin}{path}")).await.assert_scim_error(404);
    }

    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        server.get(&format!("{base}/Widgets")).await.assert_scim_error(404);
        server.get(&format!("{base}/Users/00000000-0000-0000-0000-000000000000")).await.assert_scim_error(404);

        let answer = server.call(Method::DELETE, &format!("{base}/Users"), None).await;
        answer.assert_scim_error(405);

        let answer =
            server.client.post(format!("{base}/Users")).bearer_auth(TOKEN).body("{not json").send().await.unwrap();
        let answer = Answer::from(answer).await;
        answer.assert_scim_error(400);
        assert_eq!(answer.body["scimType"], json!("invalidSyntax"), "{scope:?}");

        let answer = server.get(&format!("{base}/Users?filter=userName%20eqq%20%22x%22")).await;
        answer.assert_scim_error(400);
        assert_eq!(answer.body["scimType"], json!("invalidFilter"), "{scope:?}");
        assert!(answer.body["detail"].as_str().unwrap().contains("eqq"), "{}", answer.text);

        let answer = server.post(&format!("{base}/Users"), json!({ "schemas": [USER_SCHEMA], "emails": [] })).await;
        answer.assert_scim_error(400);
        assert!(answer.body["detail"].as_str().unwrap().contains("userName"), "{}", answer.text);
    }

    // A uniqueness conflict names the attribute and the value.
    let base = server.base(Scope::Realm);
    server.create_user(Scope::Realm, "taken", "x-taken").await;
    let other = server.create_user(Scope::Realm, "other", "x-other").await;
    let answer = server.put(&format!("{base}/Users/{other}"), user("TAKEN", "x-other")).await;
    answer.assert_scim_error(409);
    assert_eq!(answer.body["scimType"], json!("uniqueness"));
    assert!(answer.body["detail"].as_str().unwrap().contains("userName \"TAKEN\""), "{}", answer.text);

    // A stale If-Match is a 412.
    let answer = server
        .client
        .put(format!("{base}/Users/{other}"))
        .bearer_auth(TOKEN)
        .header("if-match", "W/\"999\"")
        .header("content-type", "application/scim+json")
        .body(user("other", "x-other").to_string())
        .send()
        .await
        .unwrap();
    Answer::from(answer).await.assert_scim_error(412);
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = TestServer::start().await;
    let ok = server.get(&format!("{}/ServiceProviderConfig", server.base(Scope::Realm))).await.expect(200);
    let missing = server.get(&format!("{}/nowhere", server.origin)).await;
    let a = ok.header("x-request-id").expect("an id on success").to_string();
    let b = missing.header("x-request-id").expect("an id on failure").to_string();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    server.stop().await;
}

#[tokio::test]
async fn wrong_requests_are_400_with_the_right_scim_type_in_both_scopes() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let users = format!("{}/Users", server.base(scope));
        let cases = [
            (json!({ "userName": "no-schemas" }), "invalidSyntax", "schemas"),
            (json!({ "schemas": [USER_SCHEMA], "displayName": "x" }), "invalidValue", "userName"),
            (
                json!({ "schemas": [USER_SCHEMA, "urn:example:unknown"], "userName": "x" }),
                "invalidValue",
                "urn:example:unknown",
            ),
            (json!({ "schemas": [USER_SCHEMA], "userName": "x", "active": "maybe" }), "invalidValue", "active"),
            (
                json!({ "schemas": [USER_SCHEMA], "userName": "x", "emails": "not-a-list-of-objects" }),
                "invalidValue",
                "emails",
            ),
        ];
        for (body, scim_type, named) in cases {
            let answer = server.post(&users, body.clone()).await;
            answer.assert_scim_error(400);
            assert_eq!(answer.body["scimType"], json!(scim_type), "{body}: {}", answer.text);
            assert!(answer.body["detail"].as_str().unwrap().contains(named), "{body}: {}", answer.text);
        }
        assert_eq!(server.get(&users).await.body["totalResults"], json!(0), "{scope:?}: nothing was created");
    }
    server.stop().await;
}
