//! Lists, filters, paging, discovery and `meta`, in both scopes: the store filters, sorts
//! and pages in SQL, and the answers are what a SCIM client expects.

use scim_host_e2e::*;
use serde_json::{Value, json};

async fn matching(server: &TestServer, scope: Scope, resource: &str, filter: &str) -> Vec<String> {
    let answer = server
        .get(&format!("{}/{resource}?filter={}&count=1000", server.base(scope), encode(filter)))
        .await
        .expect(200);
    let mut names: Vec<String> = answer.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.get("userName").or(r.get("displayName")).and_then(Value::as_str).unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(answer.body["totalResults"], json!(names.len()), "{filter}");
    names
}

#[tokio::test]
async fn filters_run_in_the_store_with_scim_semantics() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let suffix = if scope == Scope::Realm { "1" } else { "2" };
        let mut ids = Vec::new();
        for (name, active) in [("alice", true), ("alfred", false), ("bob", true), ("carol", true)] {
            let mut body = user(&format!("{name}.{suffix}"), &format!("ext-{name}-{suffix}"));
            body["active"] = json!(active);
            body["displayName"] = json!(format!("{} Display", name.to_uppercase()));
            ids.push(server.post(&format!("{base}/Users"), body).await.expect(201).id());
        }
        let n = |names: &[&str]| names.iter().map(|n| format!("{n}.{suffix}")).collect::<Vec<_>>();
        let f = |s: &str| s.replace("SFX", suffix);

        assert_eq!(matching(&server, scope, "Users", &f(r#"userName eq "ALICE.SFX""#)).await, n(&["alice"]));
        assert_eq!(
            matching(&server, scope, "Users", &f(r#"userName ne "alice.SFX""#)).await,
            n(&["alfred", "bob", "carol"])
        );
        assert_eq!(matching(&server, scope, "Users", r#"userName sw "al""#).await, n(&["alfred", "alice"]));
        assert_eq!(matching(&server, scope, "Users", r#"userName co "o""#).await, n(&["bob", "carol"]));
        assert_eq!(matching(&server, scope, "Users", &f(r#"userName ew "ol.SFX""#)).await, n(&["carol"]));
        assert_eq!(matching(&server, scope, "Users", &f(r#"externalId eq "ext-bob-SFX""#)).await, n(&["bob"]));
        assert_eq!(
            matching(&server, scope, "Users", &f(r#"externalId eq "EXT-BOB-SFX""#)).await,
            Vec::<String>::new(),
            "externalId is caseExact"
        );
        assert_eq!(
            matching(&server, scope, "Users", &f(r#"emails.value eq "Carol.SFX@Example.org""#)).await,
            n(&["carol"])
        );
        assert_eq!(matching(&server, scope, "Users", r#"emails[value sw "bob"]"#).await, n(&["bob"]));
        assert_eq!(matching(&server, scope, "Users", r#"displayName sw "AL""#).await, n(&["alfred", "alice"]));
        assert_eq!(matching(&server, scope, "Users", "active eq false").await, n(&["alfred"]));
        assert_eq!(matching(&server, scope, "Users", &format!(r#"id eq "{}""#, ids[3])).await, n(&["carol"]));
        assert_eq!(matching(&server, scope, "Users", "displayName pr").await.len(), 4);
        assert_eq!(matching(&server, scope, "Users", r#"userName sw "al" and active eq true"#).await, n(&["alice"]));
        assert_eq!(
            matching(&server, scope, "Users", r#"userName sw "b" or userName sw "c""#).await,
            n(&["bob", "carol"])
        );
        assert_eq!(
            matching(&server, scope, "Users", r#"not (userName sw "al") and active eq "True""#).await,
            n(&["bob", "carol"])
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn paging_is_one_based_and_reports_the_true_total() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let tag = if scope == Scope::Realm { "r" } else { "o" };
        for i in 0..7 {
            server.create_user(scope, &format!("page{i}.{tag}"), &format!("x-page{i}-{tag}")).await;
        }
        let mut seen = Vec::new();
        for start in [1, 4, 7] {
            let page = server
                .get(&format!(
                    "{base}/Users?filter=userName%20sw%20%22page%22&sortBy=userName&startIndex={start}&count=3"
                ))
                .await
                .expect(200);
            assert_eq!(page.body["totalResults"], json!(7));
            assert_eq!(page.body["startIndex"], json!(start));
            let resources = page.body["Resources"].as_array().unwrap();
            assert_eq!(page.body["itemsPerPage"], json!(resources.len()));
            seen.extend(resources.iter().map(|r| r["userName"].as_str().unwrap().to_string()));
        }
        let expected: Vec<String> = (0..7).map(|i| format!("page{i}.{tag}")).collect();
        assert_eq!(seen, expected, "{scope:?}: sorted, no gaps, no repeats");
        let empty = server.get(&format!("{base}/Users?count=0")).await.expect(200);
        assert_eq!(empty.body["totalResults"], json!(7));
        assert_eq!(empty.body["Resources"], json!([]));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_page_of_users_shows_each_users_groups_as_a_get_does() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let tag = if scope == Scope::Realm { "r" } else { "o" };
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(server.create_user(scope, &format!("member{i}.{tag}"), &format!("x-member{i}-{tag}")).await);
        }
        let first =
            server.post(&format!("{base}/Groups"), group(&format!("First {tag}"), "", &[&ids[0], &ids[1]])).await;
        let second =
            server.post(&format!("{base}/Groups"), group(&format!("Second {tag}"), "", &[&ids[1], &ids[2]])).await;
        let (first, second) = (first.expect(201).id(), second.expect(201).id());

        let list =
            |extra: &str| format!("{base}/Users?filter=userName%20sw%20%22member%22&sortBy=userName&count=10{extra}");
        let page = server.get(&list("")).await.expect(200);
        let resources = page.body["Resources"].as_array().unwrap().clone();
        assert_eq!(resources.len(), 4, "{scope:?}");
        let group_ids = |user: &Value| -> Vec<String> {
            let groups = user["groups"].as_array().cloned().unwrap_or_default();
            groups.iter().map(|g| g["value"].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(group_ids(&resources[0]), vec![first.clone()], "{scope:?}");
        assert_eq!(
            sorted(&group_ids(&resources[1]).iter().map(String::as_str).collect::<Vec<_>>()),
            sorted(&[&first, &second])
        );
        assert_eq!(group_ids(&resources[2]), vec![second.clone()], "{scope:?}");
        assert!(group_ids(&resources[3]).is_empty(), "{scope:?}: no groups, no attribute");
        for (listed, id) in resources.iter().zip(&ids) {
            let alone = server.get(&format!("{base}/Users/{id}")).await.expect(200);
            assert_eq!(listed["groups"], alone.body["groups"], "{scope:?}: the page renders a user as GET does");
        }

        for extra in ["&attributes=userName", "&excludedAttributes=groups"] {
            let page = server.get(&list(extra)).await.expect(200);
            let resources = page.body["Resources"].as_array().unwrap();
            assert!(resources.iter().all(|r| r.get("groups").is_none()), "{scope:?} {extra}: {}", page.text);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn discovery_endpoints_answer_in_both_scopes() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let config = server.get(&format!("{base}/ServiceProviderConfig")).await.expect(200);
        assert_eq!(config.body["patch"]["supported"], json!(true));
        assert_eq!(config.body["filter"]["supported"], json!(true));
        let types = server.get(&format!("{base}/ResourceTypes")).await.expect(200);
        let names: Vec<_> = types.body["Resources"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
        assert!(names.contains(&json!("User")) && names.contains(&json!("Group")), "{names:?}");
        let schemas = server.get(&format!("{base}/Schemas")).await.expect(200);
        assert!(schemas.body["totalResults"].as_u64().unwrap() >= 3);
        server.get(&format!("{base}/Schemas/{USER_SCHEMA}")).await.expect(200);
        server.get(&format!("{base}/Schemas/urn:example:nothing")).await.assert_scim_error(404);
        server.get(&format!("{base}/ResourceTypes/Widget")).await.assert_scim_error(404);
        for path in ["Schemas", "ResourceTypes", "ServiceProviderConfig"] {
            for method in [reqwest::Method::POST, reqwest::Method::PUT, reqwest::Method::PATCH, reqwest::Method::DELETE]
            {
                let answer = server.call(method.clone(), &format!("{base}/{path}"), Some(json!({}))).await;
                answer.assert_scim_error(405);
            }
        }
        assert_eq!(config.body["bulk"]["maxPayloadSize"], json!(1 << 20));
        let oversized = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{ "method": "POST", "bulkId": "x", "path": "/Users",
                "data": { "schemas": [USER_SCHEMA], "userName": "x".repeat(1 << 20) } }] });
        server.post(&format!("{base}/Bulk"), oversized).await.assert_scim_error(413);
    }
    server.stop().await;
}

#[tokio::test]
async fn meta_and_etags_follow_every_change() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let tag = if scope == Scope::Realm { "r" } else { "o" };
        let created = server
            .post(&format!("{base}/Users"), user(&format!("meta.{tag}"), &format!("x-meta-{tag}")))
            .await
            .expect(201);
        let meta = &created.body["meta"];
        assert_eq!(meta["resourceType"], json!("User"));
        assert_eq!(meta["location"], json!(format!("{base}/Users/{}", created.id())));
        assert_eq!(created.header("etag"), meta["version"].as_str());
        assert!(meta["created"].as_str().unwrap().ends_with('Z'));

        let url = format!("{base}/Users/{}", created.id());
        let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": [{ "op": "replace", "path": "displayName", "value": "Changed" }] });
        let patched = server.patch(&url, body).await.expect(200);
        assert_ne!(patched.body["meta"]["version"], meta["version"]);
        assert_eq!(patched.header("etag"), patched.body["meta"]["version"].as_str());

        let not_modified = server
            .client
            .get(&url)
            .bearer_auth(TOKEN)
            .header("if-none-match", patched.header("etag").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(not_modified.status().as_u16(), 304);
    }
    server.stop().await;
}

#[tokio::test]
async fn search_requests_run_as_reads_in_both_scopes() {
    let server = TestServer::start().await;
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let tag = if scope == Scope::Realm { "1" } else { "2" };
        server.create_user(scope, &format!("seeker.{tag}"), &format!("x-seeker-{tag}")).await;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": format!("userName eq \"seeker.{tag}\""),
            "attributes": ["userName"],
        });
        let found = server.post(&format!("{base}/Users/.search"), body.clone()).await.expect(200);
        assert_eq!(found.body["totalResults"], json!(1), "{scope:?}");
        assert_eq!(found.body["Resources"][0]["userName"], json!(format!("seeker.{tag}")));
        let found = server.post(&format!("{base}/.search"), body).await.expect(200);
        assert_eq!(found.body["totalResults"], json!(1), "{scope:?}: root search");
    }
    assert!(
        server.events().await.iter().all(|e| e["type"] == "USER_CREATED" || e["type"] == "ORGANIZATION_MEMBER_JOINED")
    );
    server.stop().await;
}

#[tokio::test]
async fn value_filters_sub_attributes_and_urn_qualified_names_run_in_the_store() {
    let server = TestServer::start().await;
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    for scope in BOTH_SCOPES {
        let base = server.base(scope);
        let t = if scope == Scope::Realm { "1" } else { "2" };
        let mut mixed = user(&format!("mixed.{t}"), &format!("x-mixed-{t}"));
        mixed["emails"] = json!([
            { "value": format!("home.{t}@x.com"), "type": "home" },
            { "value": format!("work.{t}@y.org"), "type": "work", "primary": true },
        ]);
        mixed["addresses"] = json!([{ "type": "work", "locality": "Lyon", "country": "FR" }]);
        mixed[ENTERPRISE] = json!({ "employeeNumber": "E-7", "department": "R&D" });
        server.post(&format!("{base}/Users"), mixed).await.expect(201);
        let mut other = user(&format!("other.{t}"), &format!("x-other-{t}"));
        other["emails"] = json!([{ "value": format!("other.{t}@x.com"), "type": "work" }]);
        server.post(&format!("{base}/Users"), other).await.expect(201);

        let n = |names: &[&str]| names.iter().map(|n| format!("{n}.{t}")).collect::<Vec<_>>();
        let q = |f: &str| f.to_string();
        assert_eq!(
            matching(&server, scope, "Users", &q(r#"emails[type eq "work" and value co "@x.com"]"#)).await,
            n(&["other"])
        );
        assert_eq!(
            matching(&server, scope, "Users", &q(r#"emails[type eq "work" and value co "@y.org"]"#)).await,
            n(&["mixed"])
        );
        assert_eq!(
            matching(&server, scope, "Users", &q(r#"emails[type eq "home"] and emails[value co "@x.com"]"#)).await,
            n(&["mixed"])
        );
        assert_eq!(
            matching(&server, scope, "Users", &q(r#"emails[primary eq true and type eq "work"]"#)).await,
            n(&["mixed"])
        );
        assert_eq!(matching(&server, scope, "Users", &q(r#"addresses.locality eq "lyon""#)).await, n(&["mixed"]));
        assert_eq!(
            matching(&server, scope, "Users", &q(r#"EMAILS.TYPE eq "home""#)).await,
            n(&["mixed"]),
            "names ignore case"
        );
        assert_eq!(
            matching(&server, scope, "Users", &format!(r#"{ENTERPRISE}:employeeNumber eq "E-7""#)).await,
            n(&["mixed"])
        );
        assert_eq!(
            matching(&server, scope, "Users", &format!(r#"{ENTERPRISE}:department sw "r&""#)).await,
            n(&["mixed"])
        );
        assert_eq!(
            matching(&server, scope, "Users", &q(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "OTHER""#))
                .await,
            n(&["other"])
        );
        assert_eq!(
            matching(&server, scope, "Users", &q(r#"emails co "@y.org""#)).await,
            n(&["mixed"]),
            "a complex attribute means its value"
        );
        assert_eq!(
            matching(&server, scope, "Users", &q(r#"meta.created gt "2000-01-01T00:00:00Z" and userName sw "m""#))
                .await,
            n(&["mixed"])
        );

        let refused = server.get(&format!("{base}/Users?filter={}", encode(r#"password eq "x""#))).await;
        refused.assert_scim_error(400);
        assert_eq!(refused.body["scimType"], json!("invalidFilter"));
    }
    server.stop().await;
}
