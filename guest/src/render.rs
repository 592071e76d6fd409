//! Users and groups as SCIM JSON text: the one renderer of both resources.
//!
//! Lists, GETs and writes answer with the resources they touch. Parsing each stored
//! document into a tree, laying the directory's fields over it and serializing the tree
//! again allocated every node and string twice: most of a list's cost in the guest, and
//! of a large group's PUT. Here the document's top-level values are copied as the parser
//! found them and only the fields the directory owns are written anew. The text has the
//! bytes `serde_json` would write for the same resource (keys in order, its escapes). A
//! projection (`attributes`, `excludedAttributes`) of top-level attributes keeps or drops
//! members of the text; one inside an attribute parses the text, shapes the tree and
//! writes it again the same way. A PATCH starts from [`user_document`] /
//! [`group_document`], the same overlay as a tree.

use crate::context::{Ctx, etag};
use crate::directory::{Attribute, Group, Membership, User, first_value};
use crate::error::ScimResult;
use crate::projection::Projection;
use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use crate::users::{DOCUMENT_ATTRIBUTE, EXTERNAL_ID};
use serde::de::{Deserialize, Deserializer, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// An object's members as JSON texts, by key: a `BTreeMap` orders them as `serde_json`'s
/// `Map` does, so the text comes out in the same order as a serialized tree. Keys are
/// unescaped (borrowed from the text unless they had an escape).
type Members<'a> = BTreeMap<Cow<'a, str>, Cow<'a, str>>;

/// The user's JSON text: its stored document with the directory's fields laid over it,
/// its groups, `meta`, and the Enterprise manager's `$ref` when that user exists in the
/// scope. (The manager's `displayName` is left as the client sent it: clients compare
/// what they sent with what they get back.) Shaped by the request's projection.
pub fn user(ctx: &mut Ctx, user: &User, groups: &[Membership], projection: &Projection) -> ScimResult<String> {
    let mut doc = user_overlay(user);
    if let Some(enterprise) = doc.get(ENTERPRISE_USER_SCHEMA).cloned()
        // The text test first: it spares most users the parse.
        && enterprise.contains("\"manager\"")
        && let Some(resolved) = with_manager_ref(ctx, &enterprise)?
    {
        doc.insert(ENTERPRISE_USER_SCHEMA.into(), resolved.into());
    }
    let mut schemas = vec![USER_SCHEMA];
    schemas.extend(ctx.profile.user.extensions.iter().map(|e| e.id).filter(|id| doc.contains_key(*id)));
    doc.insert("schemas".into(), serde_json::to_string(&schemas).expect("strings serialize").into());
    doc.insert("id".into(), string(&user.id).into());
    if !groups.is_empty() {
        let list = array(groups, 0, |list, g| {
            list.push_str("{\"$ref\":");
            push_string(list, &ctx.location("Groups", &g.group_id));
            list.push_str(",\"display\":");
            push_string(list, &g.group_name);
            list.push_str(",\"type\":\"direct\",\"value\":");
            push_string(list, &g.group_id);
            list.push('}');
        });
        doc.insert("groups".into(), list.into());
    }
    doc.insert(
        "meta".into(),
        meta(ctx, "User", "Users", &user.id, user.created_at, user.updated_at, user.version).into(),
    );
    Ok(shaped(doc, projection))
}

/// The user as a client last wrote it, with the directory's own fields laid over it (they
/// win: other tools may change a user outside SCIM): what a PATCH applies to.
pub fn user_document(user: &User) -> Map<String, Value> {
    tree(&user_overlay(user))
}

/// The stored document with the directory's fields laid over it.
fn user_overlay(user: &User) -> Members<'_> {
    let mut doc = stored(&user.attributes);
    doc.insert("userName".into(), string(&user.username).into());
    // `active` is absent when the client never set it (or removed it) and nothing
    // outside SCIM disabled the user.
    if !user.enabled || doc.contains_key("active") {
        doc.insert("active".into(), Cow::Borrowed(if user.enabled { "true" } else { "false" }));
    }
    overlay_external_id(&mut doc, &user.attributes);
    let mut name = match doc.remove("name") {
        // Anything but an object is dropped.
        Some(Cow::Borrowed(raw)) => object_members(raw).unwrap_or_default(),
        _ => Members::new(),
    };
    for (key, value) in [("givenName", &user.first_name), ("familyName", &user.last_name)] {
        match value {
            Some(v) => name.insert(key.into(), string(v).into()),
            None => name.remove(key),
        };
    }
    if !name.is_empty() {
        doc.insert("name".into(), object(&name).into());
    }
    if !doc.contains_key("emails")
        && let Some(email) = &user.email
    {
        doc.insert("emails".into(), ["[{\"primary\":true,\"value\":", &string(email), "}]"].concat().into());
    }
    doc
}

/// The Enterprise extension's text with the manager's `$ref`, when it names a user of the
/// scope by `value`; `None` when there is nothing to resolve.
fn with_manager_ref(ctx: &mut Ctx, enterprise: &str) -> ScimResult<Option<String>> {
    let Some(mut extension) = object_members(enterprise) else { return Ok(None) };
    let Some(mut manager) = (match extension.get("manager") {
        Some(Cow::Borrowed(raw)) => object_members(raw),
        _ => None,
    }) else {
        return Ok(None);
    };
    let Some(id) = manager.get("value").and_then(|raw| serde_json::from_str::<String>(raw).ok()) else {
        return Ok(None);
    };
    if ctx.dir.get_user(&id)?.is_none() {
        return Ok(None);
    }
    manager.insert("$ref".into(), string(&ctx.location("Users", &id)).into());
    let manager = object(&manager);
    extension.insert("manager".into(), manager.into());
    Ok(Some(object(&extension)))
}

/// The group's JSON text, with `members` (user ids) when given, shaped by the projection.
pub fn group(ctx: &Ctx, group: &Group, members: Option<&[String]>, projection: &Projection) -> String {
    let mut doc = group_overlay(group);
    doc.insert("schemas".into(), ["[", &string(GROUP_SCHEMA), "]"].concat().into());
    doc.insert("id".into(), string(&group.id).into());
    if let Some(members) = members {
        let base_url = ctx.request.base_url.as_str();
        let base = base_url.len() + "/Users/".len();
        let plain_base = !needs_escape(base_url);
        // Sized once: a group can have many thousands of members.
        let capacity = members.iter().map(|id| 2 * id.len() + base + 40).sum::<usize>() + 2;
        let list = array(members, capacity, |list, id| {
            // No `display`: RFC 7643 §8.7.1 lists value, $ref and type only, and a client
            // that compares what it sent with what it gets back finds nothing extra.
            list.push_str("{\"$ref\":");
            if plain_base && !needs_escape(id) {
                // The member written in place: `Ctx::location` would allocate its `$ref`, and
                // `push_string` would scan the id for escapes once more.
                for piece in ["\"", base_url, "/Users/", id, "\",\"type\":\"User\",\"value\":\"", id, "\"}"] {
                    list.push_str(piece);
                }
                return;
            }
            push_string(list, &ctx.location("Users", id));
            list.push_str(",\"type\":\"User\",\"value\":");
            push_string(list, id);
            list.push('}');
        });
        doc.insert("members".into(), list.into());
    }
    doc.insert(
        "meta".into(),
        meta(ctx, "Group", "Groups", &group.id, group.created_at, group.updated_at, group.version).into(),
    );
    shaped(doc, projection)
}

/// A resource's text as the projection shapes it: top-level members kept or dropped as
/// they are, the tree only for a selection inside one (`name.givenName`, an extension's
/// attribute). The tree, written again, has the same bytes (see the module's comment).
fn shaped(mut doc: Members<'_>, projection: &Projection) -> String {
    if projection.is_everything() {
        return object(&doc);
    }
    if projection.is_top_level() {
        doc.retain(|key, _| projection.keeps(key));
        return object(&doc);
    }
    projection.apply(Value::Object(tree(&doc))).to_string()
}

/// The group as a client last wrote it, with the directory's fields laid over it: what a
/// PATCH applies to (members apart).
pub fn group_document(group: &Group) -> Map<String, Value> {
    tree(&group_overlay(group))
}

fn group_overlay(group: &Group) -> Members<'_> {
    let mut doc = stored(&group.attributes);
    doc.insert("displayName".into(), string(&group.name).into());
    overlay_external_id(&mut doc, &group.attributes);
    doc
}

/// The directory's `externalId` over the document's: the directory's wins, and its
/// absence removes the document's.
fn overlay_external_id<'a>(doc: &mut Members<'a>, attributes: &'a [Attribute]) {
    match first_value(attributes, EXTERNAL_ID) {
        Some(x) => doc.insert(EXTERNAL_ID.into(), string(x).into()),
        None => doc.remove(EXTERNAL_ID),
    };
}

/// The members of the stored document; none when there is none, or it is not an object.
fn stored(attributes: &[Attribute]) -> Members<'_> {
    first_value(attributes, DOCUMENT_ATTRIBUTE).and_then(object_members).unwrap_or_default()
}

/// Members as a tree.
fn tree(members: &Members<'_>) -> Map<String, Value> {
    serde_json::from_str(&object(members)).expect("the renderer writes JSON")
}

/// The `meta` attribute's text.
fn meta(ctx: &Ctx, resource_type: &str, endpoint: &str, id: &str, created: i64, updated: i64, version: u64) -> String {
    let mut meta = String::from("{\"created\":");
    push_string(&mut meta, &crate::time::format_millis(created));
    meta.push_str(",\"lastModified\":");
    push_string(&mut meta, &crate::time::format_millis(updated));
    meta.push_str(",\"location\":");
    push_string(&mut meta, &ctx.location(endpoint, id));
    meta.push_str(",\"resourceType\":");
    push_string(&mut meta, resource_type);
    meta.push_str(",\"version\":");
    push_string(&mut meta, &etag(version));
    meta.push('}');
    meta
}

/// A key as the parser found it: borrowed from the text, unless it had an escape.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The members of a JSON object's text; `None` when it is not an object.
fn object_members(text: &str) -> Option<Members<'_>> {
    let raw: BTreeMap<Key, &RawValue> = serde_json::from_str(text).ok()?;
    Some(raw.into_iter().map(|(k, v)| (k.0, Cow::Borrowed(v.get()))).collect())
}

/// A JSON string, escaped as `serde_json` escapes it.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_string(&mut out, s);
    out
}

/// Whether `s` needs escapes inside a JSON string: `serde_json` escapes only quotes,
/// backslashes and control characters.
fn needs_escape(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Appends a JSON string; text without escapes is copied between quotes.
fn push_string(out: &mut String, s: &str) {
    if needs_escape(s) {
        out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// A JSON array of `items`, each written by `item`, in a string of `capacity` to start.
fn array<T>(items: &[T], capacity: usize, mut item: impl FnMut(&mut String, &T)) -> String {
    let mut list = String::with_capacity(capacity);
    list.push('[');
    for (i, value) in items.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        item(&mut list, value);
    }
    list.push(']');
    list
}

fn object(members: &Members<'_>) -> String {
    let mut out = String::with_capacity(members.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>() + 2);
    out.push('{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match key {
            // Borrowed: a literal of this module, or a key the parser found without an
            // escape (it borrows only those), so it needs none.
            Cow::Borrowed(key) => {
                out.push('"');
                out.push_str(key);
                out.push('"');
            }
            Cow::Owned(key) => push_string(&mut out, key),
        }
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Scope;
    use crate::http::Request;
    use crate::profile::Profile;
    use proptest::prelude::*;
    use scim_directory::memory::MemoryDirectory;
    use serde_json::{Value, json};

    fn with_ctx<T>(f: impl FnOnce(&mut Ctx) -> T) -> T {
        with_dir(&mut MemoryDirectory::default(), f)
    }

    fn with_dir<T>(dir: &mut MemoryDirectory, f: impl FnOnce(&mut Ctx) -> T) -> T {
        let request = Request { base_url: "https://scim.example/realms/a/scim/v2".into(), ..Request::default() };
        let config = crate::Config::default();
        let mut ctx = Ctx {
            dir,
            scope: Scope::Realm,
            request: &request,
            profile: &Profile::STOCK,
            config: &config,
            settings: Default::default(),
        };
        f(&mut ctx)
    }

    /// The text as JSON, after checking that it has the bytes `serde_json` writes for it
    /// (so a projection's tree, written again, keeps them).
    fn canonical(text: &str) -> Value {
        let parsed: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(parsed.to_string(), text, "serde_json writes the same bytes");
        parsed
    }

    fn stored_user(document: Option<&Value>, external_id: Option<&str>) -> User {
        let mut attributes = Vec::new();
        if let Some(doc) = document {
            attributes.push(Attribute::single(DOCUMENT_ATTRIBUTE, doc.to_string()));
        }
        if let Some(x) = external_id {
            attributes.push(Attribute::single(EXTERNAL_ID, x));
        }
        User {
            id: "2f1c9a0e-7b1d-4c39-9f5e-0a6b8e3d1c22".into(),
            username: "ada@example.com".into(),
            email: None,
            first_name: None,
            last_name: None,
            enabled: true,
            created_at: 1_700_000_000_123,
            updated_at: 1_700_000_500_000,
            version: 7,
            attributes,
        }
    }

    /// Text with what JSON escapes or keeps: quotes, backslashes, control characters,
    /// DEL, non-ASCII, a slash.
    fn text_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a", "Z", "0", " ", "\"", "\\", "\n", "\u{1}", "\u{7f}", "é", "😀", "/", "\u{2028}",
            ]),
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    fn document_strategy() -> impl Strategy<Value = Option<Value>> {
        let name = prop::option::of(
            (prop::option::of(text_strategy()), prop::option::of(text_strategy()), any::<bool>()).prop_map(
                |(formatted, middle, as_string)| {
                    if as_string {
                        return json!("not an object");
                    }
                    let mut n = serde_json::Map::new();
                    if let Some(f) = formatted {
                        n.insert("formatted".into(), json!(f));
                    }
                    if let Some(m) = middle {
                        n.insert("middleName".into(), json!(m));
                    }
                    n.insert("givenName".into(), json!("Stored"));
                    Value::Object(n)
                },
            ),
        );
        (
            name,
            prop::option::of(text_strategy()),
            prop::option::of(any::<bool>()),
            prop::option::of(text_strategy()),
            prop::option::of((text_strategy(), -1e6f64..1e6f64)),
            prop::option::of(-1_000_000i64..1_000_000),
        )
            .prop_map(|(name, email, active, display, enterprise, number)| {
                let mut doc = serde_json::Map::new();
                doc.insert("userName".into(), json!("stored-name"));
                doc.insert("externalId".into(), json!("stored-external-id"));
                if let Some(name) = name {
                    doc.insert("name".into(), name);
                }
                if let Some(email) = email {
                    doc.insert("emails".into(), json!([{"value": email, "type": "work", "primary": true}]));
                }
                if let Some(active) = active {
                    doc.insert("active".into(), json!(active));
                }
                if let Some(display) = display {
                    doc.insert("displayName".into(), json!(display));
                }
                if let Some((department, cost)) = enterprise {
                    doc.insert(
                        ENTERPRISE_USER_SCHEMA.into(),
                        json!({"department": department, "costCenter": cost, "organization": null}),
                    );
                }
                if let Some(number) = number {
                    doc.insert("urn:example:custom".into(), json!({"n": number, "list": [1.5, "x", {}]}));
                }
                Some(Value::Object(doc))
            })
            .boxed()
            .prop_union(Just(None).boxed())
    }

    proptest! {
        #[test]
        fn a_user_text_is_its_document_with_the_directorys_fields_laid_over(
            document in document_strategy(),
            external_id in prop::option::of(text_strategy()),
            username in text_strategy(),
            email in prop::option::of(text_strategy()),
            first_name in prop::option::of(text_strategy()),
            last_name in prop::option::of(text_strategy()),
            enabled in any::<bool>(),
            groups in prop::collection::vec((text_strategy(), text_strategy()), 0..3),
        ) {
            let mut user = stored_user(document.as_ref(), external_id.as_deref());
            user.username = username.clone();
            user.email = email.clone();
            user.first_name = first_name.clone();
            user.last_name = last_name.clone();
            user.enabled = enabled;
            let groups: Vec<Membership> =
                groups.into_iter().map(|(group_id, group_name)| Membership { group_id, group_name }).collect();
            let text = with_ctx(|ctx| super::user(ctx, &user, &groups, &Projection::default())).unwrap();
            let out = canonical(&text);
            let doc = document.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
            prop_assert_eq!(&out["userName"], &json!(username));
            prop_assert_eq!(&out["id"], &json!(user.id));
            prop_assert_eq!(out.get("externalId").cloned(), external_id.map(Value::from));
            let active = (!enabled || doc.contains_key("active")).then_some(json!(enabled));
            prop_assert_eq!(out.get("active"), active.as_ref());
            let name = out.get("name");
            prop_assert_eq!(name.and_then(|n| n.get("givenName")).cloned(), first_name.map(Value::from));
            prop_assert_eq!(name.and_then(|n| n.get("familyName")).cloned(), last_name.map(Value::from));
            if let Some(Value::Object(stored)) = doc.get("name") {
                for (key, value) in stored.iter().filter(|(k, _)| !["givenName", "familyName"].contains(&k.as_str())) {
                    prop_assert_eq!(name.and_then(|n| n.get(key)), Some(value));
                }
            }
            let emails = doc.get("emails").cloned().or(email.map(|e| json!([{"primary": true, "value": e}])));
            prop_assert_eq!(out.get("emails"), emails.as_ref());
            for (key, value) in doc.iter().filter(|(k, _)| k.starts_with("urn:") || *k == "displayName") {
                prop_assert_eq!(out.get(key), Some(value));
            }
            let mut schemas = vec![json!(USER_SCHEMA)];
            if doc.contains_key(ENTERPRISE_USER_SCHEMA) {
                schemas.push(json!(ENTERPRISE_USER_SCHEMA));
            }
            prop_assert_eq!(&out["schemas"], &Value::Array(schemas));
            prop_assert_eq!(out["groups"].as_array().map_or(0, Vec::len), groups.len());
            for (g, rendered) in groups.iter().zip(out["groups"].as_array().into_iter().flatten()) {
                prop_assert_eq!(&rendered["value"], &json!(g.group_id));
                prop_assert_eq!(&rendered["display"], &json!(g.group_name));
                prop_assert_eq!(&rendered["type"], &json!("direct"));
            }
            prop_assert_eq!(&out["meta"]["location"], &json!(format!("https://scim.example/realms/a/scim/v2/Users/{}", user.id)));
            prop_assert_eq!(&out["meta"]["version"], &json!("W/\"7\""));
            prop_assert_eq!(&out["meta"]["created"], &json!("2023-11-14T22:13:20.123Z"));
            // What a PATCH starts from is the same overlay, without what the host computes.
            let mut expected = out.as_object().unwrap().clone();
            for computed in ["schemas", "id", "meta", "groups"] {
                expected.remove(computed);
            }
            prop_assert_eq!(super::user_document(&user), expected);
        }
    }

    proptest! {
        #[test]
        fn a_group_text_is_its_document_with_the_directorys_fields_laid_over(
            name in text_strategy(),
            external_id in prop::option::of(text_strategy()),
            stored in prop::option::of((prop::option::of(text_strategy()), any::<bool>())),
            members in prop::option::of(prop::collection::vec(text_strategy(), 0..4)),
        ) {
            let mut attributes = Vec::new();
            let mut extension = None;
            if let Some((extra, with_id)) = stored {
                let mut doc = json!({"displayName": "stored", "schemas": ["stale"]});
                if let Some(extra) = extra {
                    doc["urn:example:group"] = json!({"note": extra, "n": 2.5});
                    extension = Some(doc["urn:example:group"].clone());
                }
                if with_id {
                    doc["externalId"] = json!("stored-external-id");
                }
                attributes.push(Attribute::single(DOCUMENT_ATTRIBUTE, doc.to_string()));
            }
            if let Some(x) = &external_id {
                attributes.push(Attribute::single(EXTERNAL_ID, x));
            }
            let group = Group {
                id: "9e0c7a1b-1d2e-4f30-8a4b-5c6d7e8f9a0b".into(),
                name: name.clone(),
                organization: None,
                created_at: 1_700_000_000_000,
                updated_at: 1_700_000_000_001,
                version: 3,
                attributes,
            };
            let text = with_ctx(|ctx| super::group(ctx, &group, members.as_deref(), &Projection::default()));
            let out = canonical(&text);
            prop_assert_eq!(&out["displayName"], &json!(name));
            prop_assert_eq!(&out["schemas"], &json!([GROUP_SCHEMA]));
            prop_assert_eq!(out.get("externalId").cloned(), external_id.map(Value::from));
            prop_assert_eq!(out.get("urn:example:group"), extension.as_ref());
            match &members {
                None => prop_assert!(out.get("members").is_none()),
                Some(ids) => {
                    let listed: Vec<Value> = ids
                        .iter()
                        .map(|id| json!({
                            "$ref": format!("https://scim.example/realms/a/scim/v2/Users/{id}"),
                            "type": "User",
                            "value": id,
                        }))
                        .collect();
                    prop_assert_eq!(&out["members"], &Value::Array(listed));
                }
            }
            prop_assert_eq!(&out["meta"]["resourceType"], &json!("Group"));
            let mut expected = out.as_object().unwrap().clone();
            for computed in ["id", "meta", "members"] {
                expected.remove(computed);
            }
            let mut document = super::group_document(&group);
            document.remove("schemas");
            expected.remove("schemas");
            prop_assert_eq!(document, expected);
        }
    }

    #[test]
    fn a_selection_of_top_level_members_is_what_the_tree_would_select() {
        let doc = json!({
            "displayName": "Ada", "title": "Dr", "emails": [{"value": "a@x", "type": "work"}],
            "name": {"givenName": "Stored", "formatted": "Ada L"},
            ENTERPRISE_USER_SCHEMA: {"department": "R&D", "costCenter": "7"},
        });
        let user = stored_user(Some(&doc), Some("x-1"));
        let full = with_ctx(|ctx| super::user(ctx, &user, &[], &Projection::default())).unwrap();
        for query in [
            ("attributes", "userName,emails"),
            ("attributes", "USERNAME,meta"),
            ("excludedAttributes", "emails,name,id"),
            ("attributes", "name.givenName,emails.value"),
            ("excludedAttributes", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        ] {
            let request = Request { query: vec![(query.0.into(), query.1.into())], ..Request::default() };
            let projection = Projection::from_request(&request).unwrap();
            let text = with_ctx(|ctx| super::user(ctx, &user, &[], &projection)).unwrap();
            let from_tree = projection.apply(serde_json::from_str(&full).unwrap());
            assert_eq!(canonical(&text), from_tree, "{query:?}");
        }
    }

    #[test]
    fn a_key_with_an_escape_is_written_escaped() {
        let escaped = json!({ "odd\"key": 1, "tab\tkey": {"x\\y": "v"} });
        let text =
            with_ctx(|ctx| super::user(ctx, &stored_user(Some(&escaped), None), &[], &Projection::default())).unwrap();
        let out = canonical(&text);
        assert_eq!(out["odd\"key"], 1);
        assert_eq!(out["tab\tkey"], json!({"x\\y": "v"}));
    }

    #[test]
    fn the_manager_gets_the_ref_of_a_user_of_the_scope_and_only_then() {
        use crate::directory::{Directory, UserDraft};
        let mut dir = MemoryDirectory::default();
        let boss =
            dir.create_user(&UserDraft { username: "boss".into(), enabled: true, ..UserDraft::default() }).unwrap();
        for (id, resolved) in [(boss.id.as_str(), true), ("no-such-user", false)] {
            let doc = json!({ ENTERPRISE_USER_SCHEMA: {
                "department": "manager", "manager": { "value": id, "displayName": "The Boss" },
            }});
            let text =
                with_dir(&mut dir, |ctx| super::user(ctx, &stored_user(Some(&doc), None), &[], &Projection::default()))
                    .unwrap();
            let manager = &canonical(&text)[ENTERPRISE_USER_SCHEMA]["manager"];
            assert_eq!(manager["value"], id);
            assert_eq!(manager["displayName"], "The Boss", "left as the client sent it");
            let location = format!("https://scim.example/realms/a/scim/v2/Users/{id}");
            assert_eq!(manager.get("$ref"), resolved.then_some(json!(location)).as_ref(), "{id}");
        }
    }
}
