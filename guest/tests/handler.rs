//! The SCIM logic, called natively against the in-memory directory: the same code the
//! wasm component runs, without the sandbox or the store.

use scim_directory::memory::MemoryDirectory;
use scim_guest::directory::EventKind;
use scim_guest::{Request, Response, Scope, handle};
use serde_json::{Value, json};

const BASE: &str = "https://scim.example/realms/r/scim/v2";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

#[derive(Clone)]
struct Realm {
    dir: MemoryDirectory,
    acme: Scope,
}

impl Realm {
    fn new() -> Realm {
        let mut dir = MemoryDirectory::new();
        let id = dir.add_organization("acme");
        Realm { dir, acme: Scope::Organization { id, alias: "acme".into() } }
    }

    fn call(&mut self, scope: &Scope, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let response = self.send(scope, method, path, body);
        (response.status, serde_json::from_slice(&response.body).unwrap_or(Value::Null))
    }

    fn send(&mut self, scope: &Scope, method: &str, path: &str, body: Option<Value>) -> Response {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let request = Request {
            method: method.into(),
            path: path.into(),
            query: query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_string(), v.replace("%20", " ").replace("%22", "\""))
                })
                .collect(),
            headers: vec![("content-type".into(), "application/scim+json".into())],
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            base_url: BASE.into(),
        };
        handle(&mut self.dir, scope.clone(), &request)
    }

    fn post_user(&mut self, scope: &Scope, name: &str) -> String {
        let (status, body) = self.call(scope, "POST", "/Users", Some(user(name)));
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }
}

fn user(name: &str) -> Value {
    json!({ "schemas": [USER], "userName": name, "externalId": format!("x-{name}"), "active": true })
}

#[test]
fn a_repost_adopts_the_user_in_both_scopes() {
    let mut realm = Realm::new();
    let acme = realm.acme.clone();
    for scope in [Scope::Realm, acme] {
        let name = format!("ann-{}", scope.organization().is_some());
        let id = realm.post_user(&scope, &name);
        let (status, body) = realm.call(&scope, "POST", "/Users", Some(user(&name.to_uppercase())));
        assert_eq!((status, body["id"].as_str()), (200, Some(id.as_str())), "{body}");
    }
    let created = realm.dir.events.iter().filter(|e| e.kind == EventKind::UserCreated).count();
    assert_eq!(created, 2);
}

#[test]
fn put_members_reconciles_and_emits_one_event_per_change() {
    let mut realm = Realm::new();
    let [a, b, c] = ["a", "b", "c"].map(|n| realm.post_user(&Scope::Realm, n));
    let group = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G",
        "members": [{ "value": a }, { "value": b }] });
    let (_, created) = realm.call(&Scope::Realm, "POST", "/Groups", Some(group.clone()));
    let gid = created["id"].as_str().unwrap().to_string();
    let mut push = group;
    push["members"] = json!([{ "value": b }, { "value": c }]);
    let (status, body) = realm.call(&Scope::Realm, "PUT", &format!("/Groups/{gid}"), Some(push));
    assert_eq!(status, 200, "{body}");
    let left: Vec<_> = realm.dir.events.iter().filter(|e| e.kind == EventKind::MemberLeft).collect();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].related_id.as_deref(), left[0].details.as_str()), (Some(a.as_str()), r#"{"userName":"a"}"#));
    assert_eq!(realm.dir.events.iter().filter(|e| e.kind == EventKind::MemberJoined).count(), 3);
    assert!(body["members"].as_array().unwrap().iter().all(|m| m.get("display").is_none()), "{body}");
}

/// A PUT that empties a large group names every member who leaves, in the order they
/// joined (their names read together, not one user at a time).
#[test]
fn put_removing_many_members_names_each_in_its_event() {
    let mut realm = Realm::new();
    let names: Vec<String> = (0..40).map(|i| format!("u{i:02}")).collect();
    let ids: Vec<String> = names.iter().map(|n| realm.post_user(&Scope::Realm, n)).collect();
    let members: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    let group =
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G", "members": members });
    let (_, created) = realm.call(&Scope::Realm, "POST", "/Groups", Some(group.clone()));
    let gid = created["id"].as_str().unwrap().to_string();
    let mut push = group;
    push["members"] = json!([{ "value": ids[7] }]);
    let (status, body) = realm.call(&Scope::Realm, "PUT", &format!("/Groups/{gid}"), Some(push));
    assert_eq!(status, 200, "{body}");
    let left: Vec<(String, String)> = realm
        .dir
        .events
        .iter()
        .filter(|e| e.kind == EventKind::MemberLeft)
        .map(|e| (e.related_id.clone().unwrap(), e.details.clone()))
        .collect();
    let expected: Vec<(String, String)> = ids
        .iter()
        .zip(&names)
        .filter(|(id, _)| **id != ids[7])
        .map(|(id, name)| (id.clone(), format!(r#"{{"userName":"{name}"}}"#)))
        .collect();
    assert_eq!(left, expected);
    assert_eq!(member_ids(&mut realm, &gid), [ids[7].clone()]);
}

/// The member ids of a group, sorted.
fn member_ids(realm: &mut Realm, gid: &str) -> Vec<String> {
    let (_, group) = realm.call(&Scope::Realm, "GET", &format!("/Groups/{gid}"), None);
    let mut ids: Vec<String> =
        group["members"].as_array().into_iter().flatten().map(|m| m["value"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

#[test]
fn a_patch_reads_only_the_members_it_names_and_changes_what_a_full_read_would() {
    let mut base = Realm::new();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| base.post_user(&Scope::Realm, n));
    let group = json!({ "schemas": [GROUP], "displayName": "G",
        "members": [{ "value": a }, { "value": b }, { "value": c }] });
    let (_, created) = base.call(&Scope::Realm, "POST", "/Groups", Some(group));
    let gid = created["id"].as_str().unwrap().to_string();
    assert_ne!(b, b.to_uppercase(), "an id with letters, for the filter that names it in upper case");
    let eq = |id: &str| format!("members[value eq \"{id}\"]");
    let add = |id: &str| json!({ "op": "add", "path": "members", "value": [{ "value": id }] });
    let remove = |id: &str| json!({ "op": "remove", "path": eq(id) });
    // (operations, status, members after, whether the whole membership is read)
    let cases = [
        (json!([add(&d)]), 204, vec![&a, &b, &c, &d], false),
        (json!([remove(&b)]), 204, vec![&a, &c], false),
        (json!([remove(&b.to_uppercase())]), 204, vec![&a, &c], false),
        (
            json!([{ "op": "remove", "path": format!("members[value eq \"{a}\" or value eq \"{b}\"]") }]),
            204,
            vec![&c],
            false,
        ),
        (
            json!([{ "op": "Remove", "path": "members", "value": [{ "value": c }, { "value": d }] }]),
            204,
            vec![&a, &b],
            false,
        ),
        (json!([remove(&d)]), 204, vec![&a, &b, &c], false),
        (json!([add(&d), remove(&d)]), 204, vec![&a, &b, &c], false),
        (json!([remove(&a), add(&a), add(&a)]), 204, vec![&a, &b, &c], false),
        (
            json!([{ "op": "replace", "value": { "id": gid, "displayName": "G2" } }, add(&d)]),
            204,
            vec![&a, &b, &c, &d],
            false,
        ),
        (json!([remove(&a), add("no-such-user")]), 400, vec![&a, &b, &c], false),
        (
            json!([remove(&a), { "op": "add", "path": "members", "value": [{ "value": d, "type": "Group" }] }]),
            400,
            vec![&a, &b, &c],
            false,
        ),
        (json!([{ "op": "replace", "path": "members", "value": [{ "value": d }] }]), 204, vec![&d], true),
        (json!([{ "op": "replace", "value": { "members": [{ "value": a }] } }]), 204, vec![&a], true),
        (json!([{ "op": "remove", "path": "members" }]), 204, vec![], true),
        (json!([{ "op": "remove", "path": "members[display eq \"b\"]" }]), 204, vec![&a, &c], true),
    ];
    for (ops, status, members, reads_all) in cases {
        let mut realm = base.clone();
        realm.dir.membership_reads = 0;
        let (got, body) =
            realm.call(&Scope::Realm, "PATCH", &format!("/Groups/{gid}"), Some(json!({ "Operations": ops })));
        assert_eq!((got, realm.dir.membership_reads > 0), (status, reads_all), "{ops}: {body}");
        let mut expected: Vec<String> = members.into_iter().cloned().collect();
        expected.sort();
        assert_eq!(member_ids(&mut realm, &gid), expected, "{ops}");
    }

    // A member who leaves is named in the event, read without reading the others.
    let mut realm = base.clone();
    realm.call(&Scope::Realm, "PATCH", &format!("/Groups/{gid}"), Some(json!({ "Operations": [remove(&b)] })));
    let left = realm.dir.events.iter().rfind(|e| e.kind == EventKind::MemberLeft).unwrap();
    assert_eq!((left.related_id.as_deref(), left.details.as_str()), (Some(b.as_str()), r#"{"userName":"b"}"#));
}

#[test]
fn a_group_patch_answers_without_its_members_unless_asked() {
    let mut realm = Realm::new();
    let [a, b] = ["a", "b"].map(|n| realm.post_user(&Scope::Realm, n));
    let group = json!({ "schemas": [GROUP], "displayName": "G", "members": [{ "value": a }] });
    let (_, created) = realm.call(&Scope::Realm, "POST", "/Groups", Some(group));
    let url = format!("/Groups/{}", created["id"].as_str().unwrap());
    let add = json!({ "Operations": [{ "op": "add", "path": "members", "value": [{ "value": b }] }] });

    let response = realm.send(&Scope::Realm, "PATCH", &url, Some(add));
    assert_eq!((response.status, response.body.len()), (204, 0));
    let (_, read) = realm.call(&Scope::Realm, "GET", &url, None);
    assert_eq!(response.header("etag"), read["meta"]["version"].as_str(), "the ETag of the new version");
    assert_ne!(read["meta"]["version"], created["meta"]["version"]);

    let rename = json!({ "Operations": [{ "op": "replace", "path": "displayName", "value": "H" }] });
    let (status, body) = realm.call(&Scope::Realm, "PATCH", &format!("{url}?attributes=members"), Some(rename.clone()));
    assert_eq!((status, body["members"].as_array().map(Vec::len)), (200, Some(2)), "{body}");
    realm.dir.membership_reads = 0;
    let (status, body) = realm.call(&Scope::Realm, "PATCH", &format!("{url}?excludedAttributes=members"), Some(rename));
    assert_eq!((status, &body["displayName"], body.get("members")), (200, &json!("H"), None), "{body}");
    assert_eq!(realm.dir.membership_reads, 0);
}

#[test]
fn the_organization_scope_sees_only_members() {
    let mut realm = Realm::new();
    let acme = realm.acme.clone();
    let outsider = realm.post_user(&Scope::Realm, "outsider");
    let member = realm.post_user(&acme, "member");
    assert_eq!(realm.call(&acme, "GET", &format!("/Users/{outsider}"), None).0, 404);
    assert_eq!(realm.call(&acme, "GET", &format!("/Users/{member}"), None).0, 200);
    let (_, list) = realm.call(&acme, "GET", "/Users", None);
    assert_eq!(list["totalResults"], 1);
}

#[test]
fn search_requests_list_one_type_or_both() {
    let mut realm = Realm::new();
    for name in ["ann", "bob"] {
        realm.post_user(&Scope::Realm, name);
    }
    let group = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ann's group" });
    assert_eq!(realm.call(&Scope::Realm, "POST", "/Groups", Some(group)).0, 201);
    let search = |filter: &str, count: u32| {
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter,
            "attributes": ["userName", "displayName"], "startIndex": 1, "count": count })
    };

    let (status, users) = realm.call(&Scope::Realm, "POST", "/Users/.search", Some(search("userName sw \"a\"", 10)));
    assert_eq!(status, 200, "{users}");
    assert_eq!(users["totalResults"], 1);
    assert_eq!(users["Resources"][0]["userName"], "ann");
    assert!(users["Resources"][0].get("externalId").is_none(), "attributes were honoured");

    // At the root: Users first, then Groups, paged across both; a filter on an
    // attribute only Users have matches no Group.
    let (_, all) = realm.call(&Scope::Realm, "POST", "/.search", Some(search("id pr", 2)));
    assert_eq!(all["totalResults"], 3);
    assert_eq!(all["Resources"].as_array().unwrap().len(), 2);
    let (_, page2) =
        realm.call(&Scope::Realm, "POST", "/.search", Some(json!({ "filter": "id pr", "startIndex": 3, "count": 2 })));
    assert_eq!(page2["Resources"][0]["displayName"], "ann's group", "{page2}");
    let (_, by_name) = realm.call(&Scope::Realm, "POST", "/.search", Some(search("userName eq \"bob\"", 10)));
    assert_eq!(by_name["totalResults"], 1);

    let (status, error) = realm.call(&Scope::Realm, "POST", "/.search", Some(json!({ "schemas": [USER] })));
    assert_eq!(status, 400, "{error}");
    assert_eq!(realm.call(&Scope::Realm, "GET", "/Users/.search", None).0, 405);
}

#[test]
fn a_whole_extension_can_be_added_replaced_and_removed_by_path() {
    let mut realm = Realm::new();
    let id = realm.post_user(&Scope::Realm, "ext");
    let url = format!("/Users/{id}");
    let patch = |op: &str, value: Value| {
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": op, "path": ENTERPRISE, "value": value }] })
    };
    let (status, body) = realm.call(
        &Scope::Realm,
        "PATCH",
        &url,
        Some(patch("add", json!({ "schemas": [ENTERPRISE], "employeeNumber": "7", "department": "R&D" }))),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ENTERPRISE], json!({ "employeeNumber": "7", "department": "R&D" }));
    assert!(body["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE)));

    let (_, body) = realm.call(&Scope::Realm, "PATCH", &url, Some(patch("replace", json!({ "costCenter": "42" }))));
    assert_eq!(body[ENTERPRISE], json!({ "costCenter": "42" }), "replace swaps the whole extension");

    let remove = json!({ "Operations": [{ "op": "remove", "path": ENTERPRISE }] });
    let (_, body) = realm.call(&Scope::Realm, "PATCH", &url, Some(remove));
    assert!(body.get(ENTERPRISE).is_none(), "{body}");
    assert_eq!(body["schemas"], json!([USER]));
}

#[test]
fn a_removed_active_stays_absent_and_a_disabled_user_shows_false() {
    let mut realm = Realm::new();
    let id = realm.post_user(&Scope::Realm, "flag");
    let url = format!("/Users/{id}");
    let (_, body) =
        realm.call(&Scope::Realm, "PATCH", &url, Some(json!({ "Operations": [{ "op": "remove", "path": "active" }] })));
    assert!(body.get("active").is_none(), "{body}");
    let (_, body) = realm.call(
        &Scope::Realm,
        "PATCH",
        &url,
        Some(json!({ "Operations": [{ "op": "replace", "path": "active", "value": "False" }] })),
    );
    assert_eq!(body["active"], false);
}

#[test]
fn a_password_reaches_the_directory_and_is_never_returned() {
    let mut realm = Realm::new();
    let mut body = user("secretive");
    body["password"] = json!("t0p-secret");
    let (status, created) = realm.call(&Scope::Realm, "POST", "/Users", Some(body));
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_string();
    assert!(!created.to_string().contains("t0p-secret"), "{created}");
    let patch = json!({ "Operations": [{ "op": "replace", "path": "password", "value": "n3w-secret" }] });
    let (status, patched) = realm.call(&Scope::Realm, "PATCH", &format!("/Users/{id}"), Some(patch));
    assert_eq!(status, 200, "{patched}");
    assert!(patched.get("password").is_none());
    assert_eq!(realm.dir.passwords.get(&id), Some(&2), "set at creation, then by the PATCH");
    let (_, fetched) = realm.call(&Scope::Realm, "GET", &format!("/Users/{id}"), None);
    assert!(!fetched.to_string().contains("secret\""), "{fetched}");
}

fn bulk(operations: Value, fail_on_errors: Option<u64>) -> Value {
    let mut body =
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations });
    if let Some(n) = fail_on_errors {
        body["failOnErrors"] = json!(n);
    }
    body
}

#[test]
fn bulk_resolves_bulk_ids_in_any_order_and_answers_each_operation() {
    let mut realm = Realm::new();
    let group = "urn:ietf:params:scim:schemas:core:2.0:Group";
    // The group comes first but names users created after it.
    let body = bulk(
        json!([
            { "method": "POST", "bulkId": "g", "path": "/Groups",
              "data": { "schemas": [group], "displayName": "Bulk", "members": [{ "value": "bulkId:u1" }, { "value": "bulkId:u2" }] } },
            { "method": "POST", "bulkId": "u1", "path": "/Users", "data": user("bulk1") },
            { "method": "POST", "bulkId": "u2", "path": "/Users", "data": user("bulk2") },
            { "method": "PATCH", "path": "/Users/bulkId:u1",
              "data": { "Operations": [{ "op": "replace", "path": "displayName", "value": "One" }] } },
        ]),
        None,
    );
    let (status, response) = realm.call(&Scope::Realm, "POST", "/Bulk", Some(body));
    assert_eq!(status, 200, "{response}");
    let ops = response["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "201", "200"], "{response}");
    let group_location = ops[0]["location"].as_str().unwrap();
    let gid = group_location.rsplit('/').next().unwrap();
    let (_, fetched) = realm.call(&Scope::Realm, "GET", &format!("/Groups/{gid}"), None);
    assert_eq!(fetched["members"].as_array().unwrap().len(), 2, "{fetched}");
    let u1 = ops[1]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let (_, one) = realm.call(&Scope::Realm, "GET", &format!("/Users/{u1}"), None);
    assert_eq!(one["displayName"], "One");
}

#[test]
fn bulk_reports_unresolvable_ids_and_stops_at_fail_on_errors() {
    let mut realm = Realm::new();
    let body = bulk(
        json!([
            { "method": "POST", "bulkId": "a", "path": "/Users", "data": { "schemas": [USER], "userName": "a", "nickName": "bulkId:b" } },
            { "method": "POST", "bulkId": "b", "path": "/Users", "data": { "schemas": [USER], "userName": "b", "nickName": "bulkId:a" } },
            { "method": "POST", "bulkId": "c", "path": "/Users", "data": user("c") },
        ]),
        None,
    );
    let (_, response) = realm.call(&Scope::Realm, "POST", "/Bulk", Some(body));
    let statuses: Vec<&str> =
        response["Operations"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["409", "409", "201"], "a cycle fails, the rest runs: {response}");

    let body = bulk(
        json!([
            { "method": "POST", "bulkId": "x", "path": "/Users", "data": { "schemas": [USER] } },
            { "method": "DELETE", "path": "/Users/nobody" },
            { "method": "POST", "bulkId": "y", "path": "/Users", "data": user("never") },
        ]),
        Some(2),
    );
    let (_, response) = realm.call(&Scope::Realm, "POST", "/Bulk", Some(body));
    let ops = response["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "stopped after two errors: {response}");
    assert_eq!(ops[0]["response"]["scimType"], "invalidValue");
    assert_eq!(ops[1]["status"], "404");
    let (_, list) = realm.call(&Scope::Realm, "GET", "/Users?filter=userName%20eq%20%22never%22", None);
    assert_eq!(list["totalResults"], 0);
}

#[test]
fn bulk_limits_are_advertised_and_enforced() {
    let mut realm = Realm::new();
    let (_, config) = realm.call(&Scope::Realm, "GET", "/ServiceProviderConfig", None);
    assert_eq!(config["bulk"]["supported"], true);
    let max = config["bulk"]["maxOperations"].as_u64().unwrap() as usize;
    let too_many: Vec<Value> =
        (0..=max).map(|i| json!({ "method": "DELETE", "path": format!("/Users/{i}") })).collect();
    let (status, error) = realm.call(&Scope::Realm, "POST", "/Bulk", Some(bulk(json!(too_many), None)));
    assert_eq!(status, 413, "{error}");
    assert_eq!(error["status"], "413");
}

#[test]
fn a_manager_named_by_id_is_rendered_with_its_reference() {
    let mut realm = Realm::new();
    let mut boss = user("boss");
    boss["displayName"] = json!("The Boss");
    let (_, boss) = realm.call(&Scope::Realm, "POST", "/Users", Some(boss));
    let boss_id = boss["id"].as_str().unwrap();
    let mut report = user("report");
    report[ENTERPRISE] = json!({ "manager": { "value": boss_id } });
    let (status, report) = realm.call(&Scope::Realm, "POST", "/Users", Some(report));
    assert_eq!(status, 201, "{report}");
    let manager = &report[ENTERPRISE]["manager"];
    assert_eq!(manager["$ref"], json!(format!("{BASE}/Users/{boss_id}")));
    assert!(manager.get("displayName").is_none(), "only what the client sent: {manager}");
}

#[test]
fn a_resource_answered_without_its_meta_still_carries_its_etag_and_location() {
    let mut realm = Realm::new();
    let id = realm.post_user(&Scope::Realm, "meta-less");
    let response = realm.send(&Scope::Realm, "GET", &format!("/Users/{id}?excludedAttributes=meta"), None);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert!(body.get("meta").is_none(), "{body}");
    assert_eq!(response.header("etag"), Some("W/\"1\""));
    let response = realm.send(
        &Scope::Realm,
        "POST",
        "/Groups?attributes=displayName",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "plain"
        })),
    );
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(response.status, 201);
    assert!(body.get("meta").is_none(), "{body}");
    let location = response.header("location").expect("a Location header");
    assert!(location.ends_with(&format!("/Groups/{}", body["id"].as_str().unwrap())), "{location}");
    assert!(response.header("etag").is_some());
}
