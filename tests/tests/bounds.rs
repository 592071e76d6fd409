//! What no client can grow or forge: the server's answers, memory and connections stay
//! within bounds the operator set, whatever a client sends.

use scim_host_e2e::*;

#[tokio::test]
async fn forged_host_header_does_not_redirect_locations() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(format!("{}/Users", server.base(Scope::Realm)))
        .bearer_auth(TOKEN)
        .header("host", "evil.example")
        .header("content-type", "application/scim+json")
        .body(user("ann", "x-ann").to_string())
        .send()
        .await
        .unwrap();
    let answer = Answer::from(response).await.expect(201);
    let location = answer.header("location").unwrap().to_string();
    assert!(location.starts_with(&server.origin), "{location}");
    assert_eq!(answer.body["meta"]["location"].as_str(), Some(location.as_str()));
    assert!(!answer.text.contains("evil.example"), "{}", answer.text);
    server.stop().await;
}
