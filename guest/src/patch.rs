//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON, with the quirks real clients
//! need: no top-level `schemas`, op names in any case, path-less values whose keys are
//! dotted or URN-qualified paths, `id`/`schemas`/`meta` inside such values ignored.
//! The request is parsed once, against the resource type: a path-less value becomes one
//! operation per key, so what the operations touch can be read before they are applied
//! (a group's PATCH loads only the members they name). The caller validates the patched
//! resource as a whole, like a PUT.

use crate::error::{ScimError, ScimResult, ScimType};
use crate::filter::{self, AttrPath, CompValue, Filter};
use crate::schema::{AttrDef, Mutability, PATCH_OP, ResourceType, Schema};
use serde_json::{Map, Value};

/// The three PATCH operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// `add`.
    Add,
    /// `remove`.
    Remove,
    /// `replace`.
    Replace,
}

/// A PATCH target: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    /// The attribute.
    pub attr: AttrPath,
    /// The filter on its values, if any (`attr[filter]`).
    pub filter: Option<Filter>,
    /// The sub-attribute, if any (`.sub`).
    pub sub: Option<String>,
}

/// What an operation changes.
#[derive(Clone, Debug)]
pub enum Target {
    /// An attribute, a sub-attribute or filtered values (`"path"`, or a key of a
    /// path-less value).
    Path(PatchPath),
    /// A whole extension (`"path": "urn:…:enterprise:2.0:User"`): `add` merges the value's
    /// attributes into it, `replace` puts the value in its place, `remove` drops it.
    Extension(&'static Schema),
    /// Each key of the value as a path inside an extension (a path-less value's
    /// `{"urn:…:enterprise:2.0:User": {"employeeNumber": "7"}}`).
    ExtensionKeys(&'static Schema),
}

/// One operation of a PATCH request.
#[derive(Clone, Debug)]
pub struct PatchOp {
    /// The operation.
    pub op: OpKind,
    /// What it changes.
    pub target: Target,
    /// Its value (none for `remove`).
    pub value: Option<Value>,
}

impl PatchPath {
    /// Parses a PATCH `path` (RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`).
    pub fn parse(text: &str) -> ScimResult<PatchPath> {
        let invalid = |why: String| ScimError::bad_request(ScimType::InvalidPath, format!("path \"{text}\": {why}"));
        let text_trimmed = text.trim();
        match text_trimmed.find('[') {
            None => {
                let attr = AttrPath::parse(text_trimmed).map_err(invalid)?;
                Ok(PatchPath { attr, filter: None, sub: None })
            }
            Some(open) => {
                let close = text_trimmed.rfind(']').ok_or_else(|| invalid("missing ']'".into()))?;
                let attr = AttrPath::parse(&text_trimmed[..open]).map_err(invalid)?;
                if attr.sub.is_some() {
                    return Err(invalid("a value filter must follow an attribute, not a sub-attribute".into()));
                }
                let filter = filter::parse(&text_trimmed[open + 1..close]).map_err(|e| invalid(e.detail))?;
                let tail = &text_trimmed[close + 1..];
                let sub = match tail {
                    "" => None,
                    t if t.starts_with('.') && t.len() > 1 && !t[1..].contains(['.', '[', ']', ' ']) => {
                        Some(t[1..].to_string())
                    }
                    t => return Err(invalid(format!("unexpected '{t}' after ']'"))),
                };
                Ok(PatchPath { attr, filter: Some(filter), sub })
            }
        }
    }
}

/// Parses a PATCH request body for a resource of type `rt`.
pub fn parse_request(rt: &ResourceType, body: &Value) -> ScimResult<Vec<PatchOp>> {
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax("a PATCH body must be a JSON object"));
    };
    let get = |name: &str| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    if let Some(schemas) = get("schemas") {
        let ok = schemas
            .as_array()
            .is_some_and(|list| list.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP))));
        if !ok {
            return Err(ScimError::invalid_value(format!("schemas: a PATCH must carry [\"{PATCH_OP}\"]")));
        }
    }
    let Some(Value::Array(operations)) = get("Operations") else {
        return Err(ScimError::invalid_syntax("a PATCH body needs an 'Operations' list"));
    };
    if operations.is_empty() {
        return Err(ScimError::invalid_value("'Operations' is empty"));
    }
    let mut ops = Vec::with_capacity(operations.len());
    for (i, op) in operations.iter().enumerate() {
        let (kind, path, value) = parse_operation(i, op)?;
        match path {
            Some(path) => {
                let target = match whole_extension(rt, &path) {
                    Some(ext) => Target::Extension(ext),
                    None => Target::Path(path),
                };
                ops.push(PatchOp { op: kind, target, value });
            }
            None => {
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::invalid_syntax(format!(
                        "a path-less '{}' needs an object value",
                        op_word(kind)
                    )));
                };
                for (key, value) in values {
                    if ["id", "schemas", "meta"].iter().any(|k| key.eq_ignore_ascii_case(k)) {
                        continue;
                    }
                    let target = match rt.extension(&key) {
                        Some(ext) => Target::ExtensionKeys(ext),
                        None => Target::Path(PatchPath::parse(&key)?),
                    };
                    ops.push(PatchOp { op: kind, target, value: Some(value) });
                }
            }
        }
    }
    Ok(ops)
}

/// One element of `Operations`: its kind, path and value, checked against each other.
fn parse_operation(i: usize, op: &Value) -> ScimResult<(OpKind, Option<PatchPath>, Option<Value>)> {
    let Some(op) = op.as_object() else {
        return Err(ScimError::invalid_syntax(format!("Operations[{i}] must be an object")));
    };
    let field = |name: &str| op.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let kind = match field("op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        Some("add") => OpKind::Add,
        Some("remove") => OpKind::Remove,
        Some("replace") => OpKind::Replace,
        other => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].op: unknown operation {}; expected add, remove or replace",
                other.map(|o| format!("\"{o}\"")).unwrap_or_else(|| "(missing)".into())
            )));
        }
    };
    let path = match field("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(PatchPath::parse(p)?),
        Some(other) => {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!("Operations[{i}].path must be a string; got {other}"),
            ));
        }
    };
    let value = field("value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_syntax(format!("Operations[{i}]: '{}' needs a value", op_word(kind))));
    }
    if kind == OpKind::Remove && path.is_none() {
        return Err(ScimError::bad_request(ScimType::NoTarget, format!("Operations[{i}]: 'remove' needs a path")));
    }
    Ok((kind, path, value))
}

fn op_word(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Add => "add",
        OpKind::Remove => "remove",
        OpKind::Replace => "replace",
    }
}

/// Applies operations, in order, to a resource's JSON object.
pub fn apply(rt: &ResourceType, resource: &mut Map<String, Value>, ops: &[PatchOp]) -> ScimResult<()> {
    for op in ops {
        match &op.target {
            Target::Path(path) => apply_at(rt, resource, op.op, path, op.value.as_ref())?,
            Target::Extension(ext) => apply_extension(rt, resource, op.op, ext, op.value.as_ref())?,
            Target::ExtensionKeys(ext) => {
                let value = op.value.as_ref().expect("a path-less operation has a value");
                apply_extension_keys(rt, resource, op.op, ext, value)?;
            }
        }
    }
    Ok(())
}

/// The extension a path names whole (`urn:…:enterprise:2.0:User`), if it does.
fn whole_extension(rt: &ResourceType, path: &PatchPath) -> Option<&'static Schema> {
    if path.filter.is_some() || path.sub.is_some() || path.attr.sub.is_some() {
        return None;
    }
    let urn = path.attr.urn.as_deref()?;
    rt.extension(&format!("{urn}:{}", path.attr.name))
}

/// An operation on a whole extension: `add` merges the value's attributes into it,
/// `replace` puts the value in its place, `remove` drops it.
fn apply_extension(
    rt: &ResourceType,
    resource: &mut Map<String, Value>,
    op: OpKind,
    ext: &'static Schema,
    value: Option<&Value>,
) -> ScimResult<()> {
    match op {
        OpKind::Remove => {
            resource.remove(ext.id);
            Ok(())
        }
        OpKind::Add | OpKind::Replace => {
            let value = value.ok_or_else(|| {
                ScimError::invalid_syntax(format!("'{}' of \"{}\" needs a value", op_word(op), ext.id))
            })?;
            if op == OpKind::Replace {
                resource.remove(ext.id);
            }
            apply_extension_keys(rt, resource, op, ext, value)
        }
    }
}

/// Applies each key of an extension object as a path inside the extension.
fn apply_extension_keys(
    rt: &ResourceType,
    resource: &mut Map<String, Value>,
    op: OpKind,
    ext: &'static Schema,
    value: &Value,
) -> ScimResult<()> {
    let Some(inner) = value.as_object() else {
        return Err(ScimError::invalid_value(format!("'{}' must be an object", ext.id)));
    };
    // Clients that serialise an extension as a model send its `schemas` along.
    for (key, v) in inner.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
        let attr = AttrPath::parse(key).map_err(|e| ScimError::bad_request(ScimType::InvalidPath, e))?;
        let path = PatchPath { attr: AttrPath { urn: Some(ext.id.to_string()), ..attr }, filter: None, sub: None };
        apply_at(rt, resource, op, &path, Some(v))?;
    }
    Ok(())
}

/// Finds the definition and the container object a path addresses.
fn resolve<'r>(
    rt: &ResourceType,
    resource: &'r mut Map<String, Value>,
    path: &PatchPath,
    create: bool,
) -> ScimResult<(&'static AttrDef, Option<&'r mut Map<String, Value>>)> {
    let unknown =
        || ScimError::bad_request(ScimType::InvalidPath, format!("path \"{}\": no such attribute", path.attr));
    let core_urn = |urn: &str| urn.eq_ignore_ascii_case(rt.schema.id);
    match &path.attr.urn {
        Some(urn) if !core_urn(urn) => {
            let ext = rt.extension(urn).ok_or_else(unknown)?;
            let def = ext.attr(&path.attr.name).ok_or_else(unknown)?;
            if create && !resource.get(ext.id).is_some_and(Value::is_object) {
                resource.insert(ext.id.to_string(), Value::Object(Map::new()));
            }
            let container = resource.get_mut(ext.id).and_then(Value::as_object_mut);
            Ok((def, container))
        }
        _ => {
            let def = rt.schema.attr(&path.attr.name).ok_or_else(unknown)?;
            Ok((def, Some(resource)))
        }
    }
}

fn apply_at(
    rt: &ResourceType,
    resource: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
) -> ScimResult<()> {
    let (def, container) = resolve(rt, resource, path, op != OpKind::Remove)?;
    if def.mutability == Mutability::ReadOnly {
        return Err(ScimError::bad_request(ScimType::Mutability, format!("attribute '{}' is read-only", def.name)));
    }
    let Some(container) = container else {
        // Removing from an extension the resource does not have: nothing to do.
        return Ok(());
    };
    let name = def.name;
    // `name.givenName` style: a sub-attribute of a single complex attribute,
    // or the same sub-attribute of every value of a multi-valued one.
    let sub = path.attr.sub.as_deref().or(path.sub.as_deref());
    let sub_name = match sub {
        Some(s) => Some(
            def.sub_attr(s)
                .ok_or_else(|| {
                    ScimError::bad_request(ScimType::InvalidPath, format!("path: '{name}' has no sub-attribute '{s}'"))
                })?
                .name,
        ),
        None => None,
    };

    if let Some(filter) = &path.filter {
        if !def.multi {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!("path: a value filter needs a multi-valued attribute; '{name}' is single-valued"),
            ));
        }
        let items = container.entry(name).or_insert_with(|| Value::Array(Vec::new()));
        let items = ensure_array(items);
        let matched: Vec<usize> = (0..items.len()).filter(|&i| filter.matches(&items[i])).collect();
        match op {
            OpKind::Remove => {
                if let Some(sub) = sub_name {
                    for &i in &matched {
                        if let Some(o) = items[i].as_object_mut() {
                            remove_key(o, sub);
                        }
                    }
                } else {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matched.contains(&i);
                        i += 1;
                        keep
                    });
                }
            }
            OpKind::Add | OpKind::Replace => {
                let value = value.cloned().unwrap_or(Value::Null);
                if matched.is_empty() {
                    // `emails[type eq "work"].value` on a user without a work e-mail: Entra
                    // expects the value to be created, typed as the filter says.
                    match (sub_name, simple_equality(filter)) {
                        (Some(sub), Some((key, literal))) => {
                            let mut element = Map::new();
                            element.insert(key, Value::String(literal));
                            element.insert(sub.to_string(), value);
                            items.push(Value::Object(element));
                        }
                        _ => {
                            return Err(ScimError::bad_request(
                                ScimType::NoTarget,
                                format!("path: no value of '{name}' matches the filter [{filter}]"),
                            ));
                        }
                    }
                } else {
                    let becomes_primary = match sub_name {
                        Some(sub) => sub == "primary" && value == Value::Bool(true),
                        None => is_primary(&value),
                    };
                    if becomes_primary {
                        for (i, item) in items.iter_mut().enumerate() {
                            if let (false, Some(o)) = (matched.contains(&i), item.as_object_mut()) {
                                remove_key(o, "primary");
                            }
                        }
                    }
                    for &i in &matched {
                        match sub_name {
                            Some(sub) => {
                                if let Some(o) = items[i].as_object_mut() {
                                    o.insert(sub.to_string(), value.clone());
                                }
                            }
                            None => merge_into(&mut items[i], &value),
                        }
                    }
                }
            }
        }
        if items.is_empty() {
            container.remove(name);
        }
        return Ok(());
    }

    if let Some(sub) = sub_name {
        match container.get_mut(name) {
            Some(Value::Array(items)) if def.multi => {
                for item in items.iter_mut() {
                    if let Some(o) = item.as_object_mut() {
                        match op {
                            OpKind::Remove => remove_key(o, sub),
                            _ => {
                                o.insert(sub.to_string(), value.cloned().unwrap_or(Value::Null));
                            }
                        }
                    }
                }
            }
            Some(Value::Object(o)) => match op {
                OpKind::Remove => remove_key(o, sub),
                _ => {
                    o.insert(sub.to_string(), value.cloned().unwrap_or(Value::Null));
                }
            },
            _ if op == OpKind::Remove => {}
            _ => {
                let mut o = Map::new();
                o.insert(sub.to_string(), value.cloned().unwrap_or(Value::Null));
                container.insert(name.to_string(), Value::Object(o));
            }
        }
        return Ok(());
    }

    match op {
        OpKind::Remove => match value {
            // Entra: `{"op":"Remove","path":"members","value":[{"value":"id"}]}` removes
            // only the listed values.
            Some(listed) if def.multi && !listed.is_null() => {
                let listed: Vec<Value> = match listed {
                    Value::Array(v) => v.clone(),
                    v => vec![v.clone()],
                };
                if let Some(Value::Array(items)) = container.get_mut(name) {
                    items.retain(|item| !listed.iter().any(|l| same_value(item, l)));
                    if items.is_empty() {
                        container.remove(name);
                    }
                }
            }
            _ => {
                container.remove(name);
            }
        },
        OpKind::Add if def.multi => {
            let value = value.cloned().unwrap_or(Value::Null);
            let incoming = match value {
                Value::Array(v) => v,
                Value::Null => Vec::new(),
                v => vec![v],
            };
            let items = container.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            let items = ensure_array(items);
            // A new primary value takes the mark from the values already there.
            if incoming.iter().any(is_primary) {
                items.iter_mut().filter_map(Value::as_object_mut).for_each(|o| remove_key(o, "primary"));
            }
            for item in incoming {
                if !items.iter().any(|existing| same_value(existing, &item)) {
                    items.push(item);
                }
            }
        }
        OpKind::Add | OpKind::Replace => {
            let value = value.cloned().unwrap_or(Value::Null);
            match container.get_mut(name) {
                Some(existing) if !def.multi && existing.is_object() && value.is_object() => {
                    merge_into(existing, &value);
                }
                _ => {
                    container.insert(name.to_string(), value);
                }
            }
        }
    }
    Ok(())
}

/// Whether a value of a multi-valued attribute is marked primary.
fn is_primary(value: &Value) -> bool {
    value.get("primary") == Some(&Value::Bool(true))
}

fn ensure_array(value: &mut Value) -> &mut Vec<Value> {
    if !value.is_array() {
        let old = value.take();
        *value = Value::Array(if old.is_null() { Vec::new() } else { vec![old] });
    }
    value.as_array_mut().expect("made an array above")
}

fn remove_key(object: &mut Map<String, Value>, key: &str) {
    if let Some(k) = object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned() {
        object.remove(&k);
    }
}

/// Merges the keys of `patch` into `target` when both are objects; replaces otherwise.
fn merge_into(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                remove_key(t, k);
                t.insert(k.clone(), v.clone());
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Two values of a multi-valued attribute are the same when their `value`s are equal
/// (or, lacking one, when they are equal as JSON).
fn same_value(a: &Value, b: &Value) -> bool {
    let value_of = |v: &Value| {
        v.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")).map(|(_, v)| v.clone()))
    };
    match (value_of(a), value_of(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `type eq "work"` → ("type", "work"): the element a replace may create.
fn simple_equality(filter: &Filter) -> Option<(String, String)> {
    match filter {
        Filter::Compare { path, op: crate::directory::Comparator::Eq, value: CompValue::Str(s) }
            if path.urn.is_none() && path.sub.is_none() =>
        {
            Some((path.name.clone(), s.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{GROUP_TYPE, USER_TYPE};
    use serde_json::json;

    fn user_type() -> &'static ResourceType {
        &USER_TYPE
    }
    fn group_type() -> &'static ResourceType {
        &GROUP_TYPE
    }

    fn patched(rt: &ResourceType, resource: Value, body: Value) -> ScimResult<Value> {
        let mut map = resource.as_object().unwrap().clone();
        apply(rt, &mut map, &parse_request(rt, &body)?)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn every_path_form_of_rfc_7644_section_3_5_2_parses() {
        for path in [
            "members",
            "name.familyName",
            "addresses[type eq \"work\"]",
            "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]",
            "emails[type eq \"work\" and value ew \"example.com\"]",
            "addresses[type eq \"work\"].streetAddress",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ] {
            PatchPath::parse(path).unwrap_or_else(|e| panic!("{path}: {}", e.detail));
        }
        assert_eq!(PatchPath::parse("emails[type eq \"work\"].value").unwrap().sub.as_deref(), Some("value"));
        assert!(PatchPath::parse("emails[type eq \"work\"").is_err());
        assert!(PatchPath::parse("emails[type eqq \"work\"]").is_err());
    }

    #[test]
    fn patch_without_schemas_and_with_capitalized_ops_is_accepted() {
        let out = patched(
            user_type(),
            json!({"userName": "a", "active": true}),
            json!({"Operations": [{"op": "Replace", "value": {"active": "False", "id": "x", "meta": {}}}]}),
        )
        .unwrap();
        assert_eq!(out["active"], "False"); // canonicalised later by the schema
        assert!(out.get("id").is_none());
    }

    #[test]
    fn pathless_value_with_dotted_and_urn_keys_sets_each_path() {
        let out = patched(
            user_type(),
            json!({"userName": "a", "name": {"familyName": "F"}}),
            json!({"Operations": [{"op": "replace", "value": {
                "name.givenName": "G",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7"
            }}]}),
        )
        .unwrap();
        assert_eq!(out["name"], json!({"familyName": "F", "givenName": "G"}));
        assert_eq!(out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"], "7");
    }

    #[test]
    fn member_removal_by_filter_and_by_value_list() {
        let group = json!({"displayName": "g", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let out = patched(
            group_type(),
            group.clone(),
            json!({"Operations": [{"op": "remove", "path": "members[value eq \"2\"]"}]}),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "1"}, {"value": "3"}]));
        let out = patched(
            group_type(),
            group.clone(),
            json!({"Operations": [{"op": "Remove", "path": "members", "value": [{"value": "1"}, {"value": "3"}]}]}),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "2"}]));
        let out = patched(group_type(), group, json!({"Operations": [{"op": "remove", "path": "members"}]})).unwrap();
        assert!(out.get("members").is_none());
    }

    #[test]
    fn add_members_skips_those_already_present() {
        let out = patched(
            group_type(),
            json!({"displayName": "g", "members": [{"value": "1"}]}),
            json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "1"}, {"value": "2"}]}]}),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "1"}, {"value": "2"}]));
    }

    #[test]
    fn replace_of_a_filtered_sub_attribute_updates_or_creates_the_typed_value() {
        let user = json!({"userName": "a", "emails": [{"type": "work", "value": "old@x"}]});
        let body =
            json!({"Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x"}]});
        assert_eq!(
            patched(user_type(), user, body.clone()).unwrap()["emails"],
            json!([{"type": "work", "value": "new@x"}])
        );
        let created = patched(user_type(), json!({"userName": "a"}), body).unwrap();
        assert_eq!(created["emails"], json!([{"type": "work", "value": "new@x"}]));
    }

    #[test]
    fn a_new_primary_value_takes_the_mark_from_the_others() {
        let user = json!({"userName": "u", "emails": [{"value": "a@x", "primary": true}, {"value": "b@x"}]});
        let add =
            json!({"Operations": [{"op": "add", "path": "emails", "value": [{"value": "c@x", "primary": true}]}]});
        let out = patched(user_type(), user.clone(), add).unwrap();
        let primaries: Vec<_> = out["emails"].as_array().unwrap().iter().filter(|e| is_primary(e)).collect();
        assert_eq!(primaries, [&json!({"value": "c@x", "primary": true})]);

        let mark =
            json!({"Operations": [{"op": "replace", "path": "emails[value eq \"b@x\"].primary", "value": true}]});
        let out = patched(user_type(), user, mark).unwrap();
        assert_eq!(out["emails"], json!([{"value": "a@x"}, {"value": "b@x", "primary": true}]));
    }

    #[test]
    fn two_primary_values_in_one_body_are_refused() {
        let body = json!({"schemas": [crate::schema::USER_SCHEMA], "userName": "u",
            "emails": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]});
        let e = user_type().canonicalize(&body, true).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("'emails'") && e.detail.contains("primary"), "{}", e.detail);
    }

    #[test]
    fn errors_name_the_rule() {
        let e = patched(
            user_type(),
            json!({"userName": "a"}),
            json!({"Operations": [{"op": "replace", "path": "groups", "value": []}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        let e = patched(
            user_type(),
            json!({"userName": "a"}),
            json!({"Operations": [{"op": "replace", "path": "bogus", "value": 1}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
        let e = patched(user_type(), json!({"userName": "a"}), json!({"Operations": [{"op": "remove"}]})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        let e = patched(
            user_type(),
            json!({"userName": "a"}),
            json!({"Operations": [{"op": "merge", "path": "title", "value": 1}]}),
        )
        .unwrap_err();
        assert!(e.detail.contains("merge"));
        let e = patched(
            user_type(),
            json!({"userName": "a"}),
            json!({"schemas": ["urn:wrong"], "Operations": [{"op": "add", "path": "title", "value": "t"}]}),
        )
        .unwrap_err();
        assert!(e.detail.contains(PATCH_OP));
    }
}
