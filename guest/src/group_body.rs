//! A group as a request states it, read with its `members` apart from the JSON tree.
//!
//! Read into a `serde_json::Value`, each member `{"value": id}` is a B-tree node of some
//! 600 bytes; canonicalization copied it and both copies were freed one by one: most of
//! the guest's work on a PUT of a thousand members. Here a member is read into a short
//! list of the sub-attributes the schema knows (the others are skipped unread), then
//! checked against the schema like any other value. Every other attribute is read and
//! canonicalized as usual.

use crate::error::{ScimError, ScimResult};
use crate::schema::{AttrDef, Mutability, ResourceType, at_most_one_primary, canonical_single, canonical_value};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A group's attributes in canonical form, and its members as sent.
pub struct GroupBody {
    /// Every attribute but `members`, canonical (names as the schema spells them).
    pub resource: Map<String, Value>,
    /// The members, in the order sent, each as its sub-attributes in canonical form.
    pub members: Vec<Member>,
}

/// One member: its canonical sub-attributes.
pub struct Member(Vec<(&'static AttrDef, Value)>);

impl Member {
    /// A sub-attribute's value when it is a string (`value`, `type`, `display`), by the
    /// name the schema gives it.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(sub, _)| sub.name == name).and_then(|(_, v)| v.as_str())
    }
}

impl GroupBody {
    /// Reads a request body (`require_schemas` for POST and PUT).
    pub fn from_slice(group_type: &ResourceType, body: &[u8], require_schemas: bool) -> ScimResult<Self> {
        let mut json = serde_json::Deserializer::from_slice(body);
        let read = BodySeed::of(group_type).deserialize(&mut json).and_then(|sent| json.end().map(|()| sent));
        match read {
            Ok(sent) => sent.canonical(group_type, require_schemas),
            // A data error can only be the body's own type: everything inside is accepted.
            Err(e) if e.is_data() => Err(ScimError::body_not_object()),
            Err(e) => Err(ScimError::body_not_json(e)),
        }
    }

    /// Reads a group already in JSON (a PATCH's result).
    pub fn from_value(group_type: &ResourceType, body: Value, require_schemas: bool) -> ScimResult<Self> {
        match BodySeed::of(group_type).deserialize(body) {
            Ok(sent) => sent.canonical(group_type, require_schemas),
            Err(_) => Err(ScimError::body_not_object()),
        }
    }
}

/// The body as read: every attribute but `members` as JSON, and `members` by itself
/// with its definition.
struct Sent {
    rest: Map<String, Value>,
    members: Option<(&'static AttrDef, MembersSent)>,
}

/// `members` as sent: a list (a lone object counts as a list of one, null as absent),
/// or a value of the wrong shape, kept to be refused with the usual error.
enum MembersSent {
    List(Vec<ItemSent>),
    Other(Value),
}

/// One element of `members`: the sub-attributes the schema knows, or a value that is
/// not an object.
enum ItemSent {
    Object(Vec<(&'static AttrDef, Value)>),
    Other(Value),
}

impl Sent {
    fn canonical(self, group_type: &ResourceType, require_schemas: bool) -> ScimResult<GroupBody> {
        let resource = group_type.canonicalize(&Value::Object(self.rest), require_schemas)?;
        let members = match self.members {
            Some((def, sent)) => canonical_members(def, sent)?,
            None => Vec::new(),
        };
        Ok(GroupBody { resource, members })
    }
}

/// The members in canonical form: the checks of `schema::canonical_value` on a
/// multi-valued complex attribute, member by member.
fn canonical_members(def: &'static AttrDef, sent: MembersSent) -> ScimResult<Vec<Member>> {
    let items = match sent {
        MembersSent::List(items) => items,
        // Refused, or dropped if empty, exactly as any other attribute.
        MembersSent::Other(value) => {
            canonical_value(def, &value, &|| def.name.to_string())?;
            return Ok(Vec::new());
        }
    };
    let mut members = Vec::with_capacity(items.len());
    for item in items {
        let mut subs = match item {
            ItemSent::Object(subs) => subs,
            ItemSent::Other(value) => {
                canonical_single(def, &value, &|| def.name.to_string())?;
                continue;
            }
        };
        for (sub, value) in &mut subs {
            // Null marks a sub-attribute that is absent in canonical form (null or empty).
            *value = canonical_value(sub, value, &|| format!("{}.{}", def.name, sub.name))?.unwrap_or(Value::Null);
        }
        subs.retain(|(_, value)| !value.is_null());
        if !subs.is_empty() {
            members.push(Member(subs));
        }
    }
    let primaries = members.iter().filter(|m| m.0.iter().any(|(sub, v)| sub.name == "primary" && *v == true)).count();
    at_most_one_primary(primaries, &|| def.name.to_string())?;
    Ok(members)
}

/// Reads the body: an object whose `members` (in any case) goes to [`MembersSeed`].
struct BodySeed {
    members: Option<&'static AttrDef>,
}

impl BodySeed {
    fn of(group_type: &ResourceType) -> Self {
        // A read-only `members` (a plugin's schema) is left to canonicalization to drop.
        BodySeed { members: group_type.schema.attr("members").filter(|def| def.mutability != Mutability::ReadOnly) }
    }
}

impl<'de> DeserializeSeed<'de> for BodySeed {
    type Value = Sent;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Sent, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed {
    type Value = Sent;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sent, A::Error> {
        let mut sent = Sent { rest: Map::new(), members: None };
        while let Some(key) = map.next_key::<String>()? {
            match self.members {
                // The last one wins, as for any attribute given twice.
                Some(def) if key.eq_ignore_ascii_case(def.name) => {
                    sent.members =
                        map.next_value_seed(MembersSeed { def, top: true })?.into_members().map(|m| (def, m));
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    sent.rest.insert(key, value);
                }
            }
        }
        Ok(sent)
    }
}

/// Reads `members` (`top`) or one of its elements.
struct MembersSeed {
    def: &'static AttrDef,
    top: bool,
}

/// What [`MembersSeed`] read: the list, one element, or nothing (null).
enum Read {
    List(Vec<ItemSent>),
    Item(ItemSent),
    Null,
}

impl Read {
    fn into_members(self) -> Option<MembersSent> {
        match self {
            Read::List(items) => Some(MembersSent::List(items)),
            // A lone value where a list is expected: accept it as a list of one.
            Read::Item(ItemSent::Object(subs)) => Some(MembersSent::List(vec![ItemSent::Object(subs)])),
            Read::Item(ItemSent::Other(value)) => Some(MembersSent::Other(value)),
            Read::Null => None,
        }
    }

    fn into_item(self) -> ItemSent {
        match self {
            Read::List(_) => unreachable!("an element's seed reads no list"),
            Read::Item(item) => item,
            Read::Null => ItemSent::Other(Value::Null),
        }
    }
}

impl<'de> DeserializeSeed<'de> for MembersSeed {
    type Value = Read;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Read, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl MembersSeed {
    fn other<E>(self, value: Value) -> Result<Read, E> {
        Ok(Read::Item(ItemSent::Other(value)))
    }
}

impl<'de> Visitor<'de> for MembersSeed {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of members")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Read, A::Error> {
        if !self.top {
            // A list inside the list: kept whole, to be refused as not an object.
            let mut values = Vec::new();
            while let Some(value) = seq.next_element::<Value>()? {
                values.push(value);
            }
            return self.other(Value::Array(values));
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let element = || MembersSeed { def: self.def, top: false };
        while let Some(read) = seq.next_element_seed(element())? {
            items.push(read.into_item());
        }
        Ok(Read::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        let mut subs = Vec::new();
        while let Some(sub) = map.next_key_seed(SubAttrSeed(self.def))? {
            match sub {
                Some(sub) => subs.push((sub, map.next_value::<Value>()?)),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Read::Item(ItemSent::Object(subs)))
    }

    fn visit_unit<E>(self) -> Result<Read, E> {
        Ok(Read::Null)
    }

    fn visit_none<E>(self) -> Result<Read, E> {
        Ok(Read::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Read, E> {
        self.other(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Read, E> {
        self.other(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Read, E> {
        self.other(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Read, E> {
        self.other(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Read, E> {
        self.other(Value::from(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Read, E> {
        self.other(Value::String(v))
    }
}

/// Reads a member's key as the sub-attribute it names (`None`: one the schema does not
/// know), without a string of its own.
struct SubAttrSeed(&'static AttrDef);

impl<'de> DeserializeSeed<'de> for SubAttrSeed {
    type Value = Option<&'static AttrDef>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for SubAttrSeed {
    type Value = Option<&'static AttrDef>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sub-attribute's name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.sub_attr(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{GROUP_SCHEMA, GROUP_TYPE};
    use serde_json::json;

    fn read(body: &Value) -> ScimResult<GroupBody> {
        GroupBody::from_slice(&GROUP_TYPE, body.to_string().as_bytes(), true)
    }

    /// The members as canonicalization of the whole body as JSON gives them.
    fn members_as_json(group: &GroupBody) -> Value {
        let list: Vec<Value> = group
            .members
            .iter()
            .map(|m| Value::Object(m.0.iter().map(|(sub, v)| (sub.name.to_string(), v.clone())).collect()))
            .collect();
        if list.is_empty() { Value::Null } else { Value::Array(list) }
    }

    #[test]
    fn members_are_read_apart_in_order_and_the_rest_is_canonical() {
        let body = json!({
            "schemas": [GROUP_SCHEMA], "DisplayName": "Ops", "meta": {"version": "W/\"1\""},
            "Members": [{"VALUE": "u2", "display": "bob", "note": {"deep": [1]}}, {"value": "u1", "type": "User"}],
        });
        let group = read(&body).unwrap();
        assert_eq!(Value::Object(group.resource), json!({"displayName": "Ops"}));
        assert_eq!(group.members.iter().map(|m| m.str("value").unwrap()).collect::<Vec<_>>(), ["u2", "u1"]);
        assert_eq!(group.members[0].str("display"), Some("bob"));
        assert_eq!(group.members[1].str("type"), Some("User"));
    }

    /// Every body gives what canonicalizing it as one JSON tree gives: the same members,
    /// the same other attributes, or an error of the same status and type.
    #[test]
    fn agrees_with_canonicalization_of_the_whole_body() {
        let bodies = [
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": "a"}, {"value": "b"}]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": {"value": "lone"}}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": null}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": []}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": ""}, {"bogus": 1}]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": "a", "type": ""}]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": "a"}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": 7}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [5]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [null]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [[{"value": "a"}]]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": 5}]}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": {"id": "a"}}]}),
            json!({"schemas": [GROUP_SCHEMA], "members": [{"value": "a"}]}),
            json!({"displayName": "g", "members": [{"value": "a"}]}),
            json!({"schemas": ["urn:bogus"], "displayName": "g"}),
            json!({"schemas": [GROUP_SCHEMA], "displayName": 5, "members": [{"value": "a"}]}),
        ];
        for body in bodies {
            let whole = GROUP_TYPE.canonicalize(&body, true);
            match (read(&body), whole) {
                (Ok(group), Ok(mut whole)) => {
                    let members = whole.remove("members").unwrap_or(Value::Null);
                    assert_eq!(members_as_json(&group), members, "{body}");
                    assert_eq!(group.resource, whole, "{body}");
                }
                (Err(e), Err(whole)) => {
                    assert_eq!((e.status, e.scim_type), (whole.status, whole.scim_type), "{body}: {e:?} / {whole:?}");
                }
                (got, whole) => panic!("{body}: {:?} / {whole:?}", got.map(|g| members_as_json(&g))),
            }
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_or_not_json_is_invalid_syntax() {
        for (text, says) in [
            ("[1]", "must be a JSON object"),
            ("\"g\"", "must be a JSON object"),
            ("{\"members\": [", "not valid JSON"),
            ("{} x", "not valid JSON"),
        ] {
            let e = GroupBody::from_slice(&GROUP_TYPE, text.as_bytes(), true).err().unwrap();
            assert_eq!((e.status, e.scim_type), (400, Some(crate::error::ScimType::InvalidSyntax)), "{text}");
            assert!(e.detail.contains(says), "{text}: {}", e.detail);
        }
    }

    #[test]
    fn a_json_value_reads_as_its_text_does() {
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": "a", "display": "x"}]});
        let from_value = GroupBody::from_value(&GROUP_TYPE, body.clone(), true).unwrap();
        let from_text = read(&body).unwrap();
        assert_eq!(members_as_json(&from_value), members_as_json(&from_text));
        assert_eq!(from_value.resource, from_text.resource);
        assert!(GroupBody::from_value(&GROUP_TYPE, json!([1]), true).is_err());
    }
}
