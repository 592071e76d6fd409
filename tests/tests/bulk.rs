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
