//! Bulk (RFC 7644 §3.7) over HTTP, in both scopes: one request, one transaction, each
//! operation answered on its own.

use scim_host_e2e::*;
use serde_json::json;

#[tokio::test]
async fn a_bulk_request_creates_users_and_a_group_that_names_them() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let t = if scope == Scope::Realm { "r" } else { "o" };
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "failOnErrors": 1,
            "Operations": [
                { "method": "POST", "bulkId": "u", "path": "/Users", "data": user(&format!("bulk.{t}"), &format!("xb-{t}")) },
                { "method": "POST", "bulkId": "g", "path": "/Groups", "data": group(&format!("Bulk {t}"), &format!("gb-{t}"), &["bulkId:u"]) },
            ],
        });
        let answer = server.post(&format!("{base}/Bulk"), body).await.expect(200);
        let ops = answer.body["Operations"].as_array().unwrap();
        assert_eq!(ops[0]["status"], json!("201"), "{}", answer.text);
        assert_eq!(ops[1]["status"], json!("201"), "{}", answer.text);
        let group_url = ops[1]["location"].as_str().unwrap();
        assert!(group_url.starts_with(&base), "{group_url}");
        let user_id = ops[0]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        let fetched = server.get(group_url).await.expect(200);
        assert_eq!(member_ids(&fetched.body), vec![user_id.clone()], "{scope:?}");
        server.get(&format!("{base}/Users/{user_id}")).await.expect(200);
    }
    server.stop().await;
}

#[tokio::test]
async fn failed_bulk_operation_leaves_nothing() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let t = if scope == Scope::Realm { "r" } else { "o" };
        // Created, then refused for its password: the store holds the user until the
        // operation is undone.
        let mut long_password = user(&format!("half.{t}"), &format!("xh-{t}"));
        long_password["password"] = json!("p".repeat(2000));
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                { "method": "POST", "bulkId": "kept", "path": "/Users", "data": user(&format!("kept.{t}"), &format!("xk-{t}")) },
                { "method": "POST", "bulkId": "half", "path": "/Users", "data": long_password },
                { "method": "POST", "bulkId": "find", "path": "/Users/.search", "data": { "filter": "userName pr" } },
            ],
        });
        let answer = server.post(&format!("{base}/Bulk"), body).await.expect(200);
        let ops = answer.body["Operations"].as_array().unwrap();
        assert_eq!(ops[0]["status"], json!("201"), "{}", answer.text);
        assert_eq!(ops[1]["status"], json!("400"), "{}", answer.text);
        assert_eq!(ops[1]["response"]["scimType"], json!("invalidValue"), "{}", answer.text);
        assert_eq!(ops[2]["status"], json!("400"), "a .search is no Bulk operation: {}", answer.text);

        let server = &server;
        let find = |name: String| {
            let url = format!("{base}/Users?filter=userName%20eq%20%22{name}%22");
            async move { server.get(&url).await.expect(200).body["totalResults"].clone() }
        };
        assert_eq!(find(format!("kept.{t}")).await, json!(1), "{scope:?}");
        assert_eq!(find(format!("half.{t}")).await, json!(0), "the failed operation left its user: {scope:?}");
    }
    let created: Vec<_> = server
        .events()
        .await
        .into_iter()
        .filter(|e| e["details"]["userName"].as_str().is_some_and(|n| n.starts_with("half.")))
        .collect();
    assert!(created.is_empty(), "a failed operation leaves no event: {created:?}");
    server.stop().await;
}
