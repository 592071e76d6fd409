//! The plugin's profile, called natively against the in-memory directory: the same code
//! its wasm component runs inside scim-host.

use email_username_guest::{BADGE_SCHEMA, PROFILE};
use scim_directory::memory::MemoryDirectory;
use scim_guest::serde_json::{self, Value, json};
use scim_guest::{Config, Request, Scope, handle_with};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn call(
    dir: &mut MemoryDirectory,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    call_configured(&Config::default(), dir, method, path, query, body)
}

fn call_configured(
    config: &Config,
    dir: &mut MemoryDirectory,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let request = Request {
        method: method.into(),
        path: path.into(),
        query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        headers: vec![("content-type".into(), "application/scim+json".into())],
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        base_url: "https://scim.example/realms/r/scim/v2".into(),
    };
    let response = handle_with(&PROFILE, config, dir, Scope::Realm, &request);
    (response.status, serde_json::from_slice(&response.body).unwrap_or(Value::Null))
}

#[test]
fn user_name_follows_the_primary_email_on_every_write() {
    let mut dir = MemoryDirectory::new();
    let body = json!({
        "schemas": [USER],
        "userName": "00u1abcd",
        "emails": [{ "value": "other@example.com" }, { "value": "Ada.Lovelace@Example.com", "primary": true }],
    });
    let (status, created) = call(&mut dir, "POST", "/Users", &[], Some(body));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["userName"], "ada.lovelace@example.com");
    let id = created["id"].as_str().unwrap().to_string();

    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "emails", "value": [{ "value": "ada@new.example", "primary": true }] }],
    });
    let (status, patched) = call(&mut dir, "PATCH", &format!("/Users/{id}"), &[], Some(patch));
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["userName"], "ada@new.example");

    // Without userName, the email supplies it; without either, a clear 400.
    let (status, created) = call(
        &mut dir,
        "POST",
        "/Users",
        &[],
        Some(json!({ "schemas": [USER], "emails": [{ "value": "b@x.example" }] })),
    );
    assert_eq!((status, created["userName"].clone()), (201, json!("b@x.example")));
    let (status, error) = call(&mut dir, "POST", "/Users", &[], Some(json!({ "schemas": [USER], "displayName": "C" })));
    assert_eq!(status, 400);
    assert!(error["detail"].as_str().unwrap().contains("primary email"), "{error}");
}

#[test]
fn the_badge_extension_is_stored_filtered_and_published() {
    let mut dir = MemoryDirectory::new();
    let body = json!({
        "schemas": [USER, BADGE_SCHEMA],
        "emails": [{ "value": "grace@example.com", "primary": true }],
        BADGE_SCHEMA: { "badgeNumber": "B-1906", "clearance": "restricted" },
    });
    let (status, created) = call(&mut dir, "POST", "/Users", &[], Some(body));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created[BADGE_SCHEMA]["badgeNumber"], "B-1906");
    assert!(created["schemas"].as_array().unwrap().contains(&json!(BADGE_SCHEMA)));

    let filter = format!("{BADGE_SCHEMA}:badgeNumber eq \"B-1906\"");
    let (status, found) = call(&mut dir, "GET", "/Users", &[("filter", &filter)], None);
    assert_eq!((status, found["totalResults"].clone()), (200, json!(1)), "{found}");
    let filter = format!("{BADGE_SCHEMA}:badgeNumber eq \"b-1906\"");
    let (_, found) = call(&mut dir, "GET", "/Users", &[("filter", &filter)], None);
    assert_eq!(found["totalResults"], 0, "badgeNumber is caseExact");

    let (status, schema) = call(&mut dir, "GET", &format!("/Schemas/{BADGE_SCHEMA}"), &[], None);
    assert_eq!(status, 200);
    assert_eq!(schema["attributes"][0]["name"], "badgeNumber");
    let (_, user_type) = call(&mut dir, "GET", "/ResourceTypes/User", &[], None);
    let extensions: Vec<_> =
        user_type["schemaExtensions"].as_array().unwrap().iter().map(|e| e["schema"].clone()).collect();
    assert!(extensions.contains(&json!(BADGE_SCHEMA)), "{user_type}");

    // An extension this profile does not serve is still refused.
    let unknown = json!({ "schemas": [USER, "urn:example:unknown"], "emails": [{ "value": "x@example.com" }] });
    let (status, _) = call(&mut dir, "POST", "/Users", &[], Some(unknown));
    assert_eq!(status, 400);
}

#[test]
fn a_realm_setting_keeps_the_emails_case() {
    let mut dir = MemoryDirectory::new();
    let config = Config {
        realm: "r".into(),
        settings: [("username_lowercase".to_string(), "false".to_string())].into_iter().collect(),
    };
    let body = json!({ "schemas": [USER], "userName": "00u1", "emails": [{ "value": "Grace.Hopper@Example.com" }] });
    let (status, created) = call_configured(&config, &mut dir, "POST", "/Users", &[], Some(body));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["userName"], "Grace.Hopper@Example.com");
}
