//! Users and groups as SCIM JSON text, written from the stored document without a
//! `Value` tree.
//!
//! Lists, GETs and writes answer with the resources they touch. Parsing each stored
//! document into a tree, laying the directory's fields over it and serializing the tree
//! again allocated every node and string twice: most of a list's cost in the guest, and
//! of a large group's PUT. Here the document's top-level values are copied as the parser
//! found them and only the fields the directory owns are written anew. The text has the
//! same bytes as `users::render` / `groups::render` serialized; the tree stays the way for
//! projections and for the rare resource this cannot write (an Enterprise manager to
//! resolve, a key with an escape).

use crate::context::{Ctx, etag};
use crate::directory::{Attribute, Group, Membership, User, first_value};
use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use crate::users::{DOCUMENT_ATTRIBUTE, EXTERNAL_ID};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// An object's members as JSON texts, by key: a `BTreeMap` orders them as `serde_json`'s
/// `Map` does, so the text comes out in the same order as a serialized tree.
type Members<'a> = BTreeMap<&'a str, Cow<'a, str>>;

/// The user's JSON text, or `None` when it needs the tree (see the module's comment).
pub fn user(ctx: &Ctx, user: &User, groups: &[Membership]) -> Option<String> {
    let mut doc = stored(&user.attributes)?;
    // The text test first: it spares most users the parse.
    if doc
        .get(ENTERPRISE_USER_SCHEMA)
        .is_some_and(|e| e.contains("\"manager\"") && object_members(e).is_none_or(|m| m.contains_key("manager")))
    {
        return None;
    }
    doc.insert("userName", string(&user.username).into());
    if !user.enabled || doc.contains_key("active") {
        doc.insert("active", Cow::Borrowed(if user.enabled { "true" } else { "false" }));
    }
    match first_value(&user.attributes, EXTERNAL_ID) {
        Some(x) => doc.insert(EXTERNAL_ID, string(x).into()),
        None => doc.remove(EXTERNAL_ID),
    };
    let mut name = match doc.remove("name") {
        // Anything but an object is dropped, as the tree does.
        Some(Cow::Borrowed(raw)) if raw.starts_with('{') => object_members(raw)?,
        _ => Members::new(),
    };
    for (key, value) in [("givenName", &user.first_name), ("familyName", &user.last_name)] {
        match value {
            Some(v) => name.insert(key, string(v).into()),
            None => name.remove(key),
        };
    }
    if !name.is_empty() {
        doc.insert("name", object(&name).into());
    }
    if !doc.contains_key("emails")
        && let Some(email) = &user.email
    {
        doc.insert("emails", ["[{\"primary\":true,\"value\":", &string(email), "}]"].concat().into());
    }
    let mut schemas = vec![USER_SCHEMA];
    schemas.extend(ctx.profile.user.extensions.iter().map(|e| e.id).filter(|id| doc.contains_key(id)));
    doc.insert("schemas", serde_json::to_string(&schemas).ok()?.into());
    doc.insert("id", string(&user.id).into());
    if !groups.is_empty() {
        let mut list = String::from("[");
        for (i, g) in groups.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            list.push_str("{\"$ref\":");
            push_string(&mut list, &ctx.location("Groups", &g.group_id));
            list.push_str(",\"display\":");
            push_string(&mut list, &g.group_name);
            list.push_str(",\"type\":\"direct\",\"value\":");
            push_string(&mut list, &g.group_id);
            list.push('}');
        }
        list.push(']');
        doc.insert("groups", list.into());
    }
    doc.insert("meta", meta(ctx, "User", "Users", &user.id, user.created_at, user.updated_at, user.version).into());
    Some(object(&doc))
}

/// The group's JSON text, with `members` (user ids) when given; `None` when it needs the
/// tree (a key with an escape).
pub fn group(ctx: &Ctx, group: &Group, members: Option<&[String]>) -> Option<String> {
    let mut doc = stored(&group.attributes)?;
    doc.insert("displayName", string(&group.name).into());
    match first_value(&group.attributes, EXTERNAL_ID) {
        Some(x) => doc.insert(EXTERNAL_ID, string(x).into()),
        None => doc.remove(EXTERNAL_ID),
    };
    doc.insert("schemas", ["[", &string(GROUP_SCHEMA), "]"].concat().into());
    doc.insert("id", string(&group.id).into());
    if let Some(members) = members {
        // Sized once: a group can have many thousands of members.
        let base_url = ctx.request.base_url.as_str();
        let base = base_url.len() + "/Users/".len();
        let mut list = String::with_capacity(members.iter().map(|id| 2 * id.len() + base + 40).sum::<usize>() + 2);
        let plain_base = !needs_escape(base_url);
        list.push('[');
        for (i, id) in members.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            list.push_str("{\"$ref\":");
            if plain_base && !needs_escape(id) {
                // The member written in place: `Ctx::location` would allocate its `$ref`, and
                // `push_string` would scan the id for escapes once more.
                for piece in ["\"", base_url, "/Users/", id, "\",\"type\":\"User\",\"value\":\"", id, "\"}"] {
                    list.push_str(piece);
                }
                continue;
            }
            push_string(&mut list, &ctx.location("Users", id));
            list.push_str(",\"type\":\"User\",\"value\":");
            push_string(&mut list, id);
            list.push('}');
        }
        list.push(']');
        doc.insert("members", list.into());
    }
    doc.insert(
        "meta",
        meta(ctx, "Group", "Groups", &group.id, group.created_at, group.updated_at, group.version).into(),
    );
    Some(object(&doc))
}

/// The members of the stored document (none when there is none); `None` when it does not
/// parse as an object without escaped keys.
fn stored(attributes: &[Attribute]) -> Option<Members<'_>> {
    match first_value(attributes, DOCUMENT_ATTRIBUTE) {
        Some(text) => object_members(text),
        None => Some(Members::new()),
    }
}

/// The `meta` attribute's text, as `context::meta` renders it.
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

/// The members of a JSON object's text; `None` when it is not an object, or a key has an
/// escape (such a key cannot be borrowed from the text).
fn object_members(text: &str) -> Option<Members<'_>> {
    let raw: BTreeMap<&str, &RawValue> = serde_json::from_str(text).ok()?;
    Some(raw.into_iter().map(|(k, v)| (k, Cow::Borrowed(v.get()))).collect())
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

fn object(members: &Members<'_>) -> String {
    let mut out = String::with_capacity(members.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>() + 2);
    out.push('{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A key is a literal of this module or was borrowed from the parsed text, which
        // it can only be without escapes: it needs none.
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
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

    fn with_ctx<T>(f: impl FnOnce(&Ctx) -> T) -> T {
        let mut dir = MemoryDirectory::default();
        let request = Request { base_url: "https://scim.example/realms/a/scim/v2".into(), ..Request::default() };
        let ctx = Ctx { dir: &mut dir, scope: Scope::Realm, request: &request, profile: &Profile::STOCK };
        f(&ctx)
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
        fn a_user_text_is_the_rendered_tree_serialized(
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
            user.username = username;
            user.email = email;
            user.first_name = first_name;
            user.last_name = last_name;
            user.enabled = enabled;
            let groups: Vec<Membership> =
                groups.into_iter().map(|(group_id, group_name)| Membership { group_id, group_name }).collect();
            with_ctx(|ctx| {
                let text = super::user(ctx, &user, &groups).expect("written without the tree");
                prop_assert_eq!(text, crate::users::render(ctx, &user, &groups).to_string());
                Ok(())
            })?;
        }
    }

    proptest! {
        #[test]
        fn a_group_text_is_the_rendered_tree_serialized(
            name in text_strategy(),
            external_id in prop::option::of(text_strategy()),
            stored in prop::option::of((prop::option::of(text_strategy()), any::<bool>())),
            members in prop::option::of(prop::collection::vec(text_strategy(), 0..4)),
        ) {
            let mut attributes = Vec::new();
            if let Some((extra, with_id)) = stored {
                let mut doc = json!({"displayName": "stored", "schemas": ["stale"]});
                if let Some(extra) = extra {
                    doc["urn:example:group"] = json!({"note": extra, "n": 2.5});
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
                name,
                organization: None,
                created_at: 1_700_000_000_000,
                updated_at: 1_700_000_000_001,
                version: 3,
                attributes,
            };
            with_ctx(|ctx| {
                let text = super::group(ctx, &group, members.as_deref()).expect("written without the tree");
                prop_assert_eq!(text, crate::groups::render(ctx, &group, members.as_deref()).to_string());
                Ok(())
            })?;
        }
    }

    #[test]
    fn a_manager_to_resolve_or_an_escaped_key_needs_the_tree() {
        with_ctx(|ctx| {
            let manager = json!({ ENTERPRISE_USER_SCHEMA: { "manager": { "value": "b0b" } } });
            assert_eq!(super::user(ctx, &stored_user(Some(&manager), None), &[]), None);
            let escaped = json!({ "odd\"key": 1 });
            assert_eq!(super::user(ctx, &stored_user(Some(&escaped), None), &[]), None);
            let plain = json!({ ENTERPRISE_USER_SCHEMA: { "department": "manager" } });
            assert!(
                super::user(ctx, &stored_user(Some(&plain), None), &[]).is_some(),
                "a value that only says manager"
            );
        });
    }
}
