//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5): which attributes of a
//! resource a response carries. `id` and `schemas` are always returned.

use crate::error::{ScimError, ScimResult};
use crate::filter::AttrPath;
use crate::http::Request;
use crate::schema::{GROUP_SCHEMA, USER_SCHEMA};
use serde_json::{Map, Value};

/// The attribute selection of one request.
#[derive(Clone, Debug, Default)]
pub struct Projection {
    only: Option<Vec<AttrPath>>,
    excluded: Vec<AttrPath>,
}

const ALWAYS: [&str; 2] = ["id", "schemas"];

fn parse_list(text: Option<&str>, param: &str) -> ScimResult<Vec<AttrPath>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut path = AttrPath::parse(s).map_err(|e| ScimError::invalid_value(format!("{param}: {e}")))?;
            // The core schemas' URNs are noise in a path; an extension's URN is its container.
            if path
                .urn
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(USER_SCHEMA) || u.eq_ignore_ascii_case(GROUP_SCHEMA))
            {
                path.urn = None;
            }
            Ok(path)
        })
        .collect()
}

impl Projection {
    /// Reads the selection from the request's query.
    pub fn from_request(request: &Request) -> ScimResult<Projection> {
        let only = parse_list(request.query_param("attributes"), "attributes")?;
        let excluded = parse_list(request.query_param("excludedAttributes"), "excludedAttributes")?;
        Ok(Projection { only: if only.is_empty() { None } else { Some(only) }, excluded })
    }

    /// Whether the request names no attributes, neither to keep nor to exclude.
    pub fn is_everything(&self) -> bool {
        self.only.is_none() && self.excluded.is_empty()
    }

    /// Whether the response will carry this top-level core attribute (so the caller can
    /// skip loading it: a group's members, a user's groups).
    pub fn wants(&self, name: &str) -> bool {
        let named = |p: &AttrPath| p.urn.is_none() && p.name.eq_ignore_ascii_case(name);
        if self.excluded.iter().any(|p| named(p) && p.sub.is_none()) {
            return false;
        }
        self.only.as_ref().is_none_or(|only| only.iter().any(named))
    }

    /// Whether the selection names top-level attributes only (`attributes=userName,emails`,
    /// `excludedAttributes=members`: what clients send), so that [`Projection::keeps`]
    /// decides it member by member; otherwise it needs [`Projection::apply`].
    pub fn is_top_level(&self) -> bool {
        let top_level = |p: &AttrPath| p.urn.is_none() && p.sub.is_none();
        self.excluded.iter().all(top_level) && self.only.iter().flatten().all(top_level)
    }

    /// Whether a top-level attribute stays, for a selection that [`Projection::is_top_level`].
    pub fn keeps(&self, key: &str) -> bool {
        let named = |p: &AttrPath| p.name.eq_ignore_ascii_case(key);
        ALWAYS.contains(&key)
            || (self.only.as_ref().is_none_or(|only| only.iter().any(named)) && !self.excluded.iter().any(named))
    }

    /// Applies the selection to a rendered resource.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut object) = resource else { return resource };
        if let Some(only) = &self.only {
            let mut kept = Map::new();
            for key in ALWAYS {
                if let Some(v) = object.remove(key) {
                    kept.insert(key.to_string(), v);
                }
            }
            for path in only {
                copy_path(&object, &mut kept, path);
            }
            object = kept;
        }
        for path in &self.excluded {
            if !ALWAYS.iter().any(|a| path.urn.is_none() && path.name.eq_ignore_ascii_case(a)) {
                remove_path(&mut object, path);
            }
        }
        Value::Object(object)
    }
}

fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    object.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, path: &AttrPath) {
    let (source, target) = match &path.urn {
        Some(urn) => {
            let Some(key) = key_of(from, urn) else { return };
            let Some(Value::Object(source)) = from.get(&key) else { return };
            let target = to.entry(key).or_insert_with(|| Value::Object(Map::new()));
            (source, target.as_object_mut().expect("inserted as an object"))
        }
        None => (from, to),
    };
    let Some(key) = key_of(source, &path.name) else { return };
    let value = &source[&key];
    match &path.sub {
        None => {
            target.insert(key, value.clone());
        }
        Some(sub) => {
            let pick = |v: &Value| -> Option<Value> {
                let o = v.as_object()?;
                let k = key_of(o, sub)?;
                let mut m = Map::new();
                m.insert(k.clone(), o[&k].clone());
                Some(Value::Object(m))
            };
            let picked = match value {
                Value::Array(items) => Some(Value::Array(items.iter().filter_map(pick).collect())),
                v => pick(v),
            };
            if let Some(picked) = picked {
                match (target.get_mut(&key), picked) {
                    (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
                    (_, picked) => {
                        target.insert(key, picked);
                    }
                }
            }
        }
    }
}

fn remove_path(object: &mut Map<String, Value>, path: &AttrPath) {
    let container = match &path.urn {
        Some(urn) => match key_of(object, urn).and_then(|k| object.get_mut(&k)) {
            Some(Value::Object(o)) => o,
            _ => return,
        },
        None => object,
    };
    let Some(key) = key_of(container, &path.name) else { return };
    match &path.sub {
        None => {
            container.remove(&key);
        }
        Some(sub) => match container.get_mut(&key) {
            Some(Value::Array(items)) => {
                for item in items {
                    if let Some(o) = item.as_object_mut()
                        && let Some(k) = key_of(o, sub)
                    {
                        o.remove(&k);
                    }
                }
            }
            Some(Value::Object(o)) => {
                if let Some(k) = key_of(o, sub) {
                    o.remove(&k);
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn projection(query: &[(&str, &str)]) -> Projection {
        let request = Request {
            query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Request::default()
        };
        Projection::from_request(&request).unwrap()
    }

    #[test]
    fn attributes_keep_only_what_is_asked_plus_id_and_schemas() {
        let user = json!({"schemas": ["s"], "id": "1", "userName": "a", "name": {"givenName": "G", "familyName": "F"}, "title": "t"});
        let out = projection(&[("attributes", "userName,name.givenName")]).apply(user);
        assert_eq!(out, json!({"schemas": ["s"], "id": "1", "userName": "a", "name": {"givenName": "G"}}));
    }

    #[test]
    fn excluded_attributes_are_removed_but_never_id() {
        let group = json!({"id": "1", "displayName": "g", "members": [{"value": "u"}]});
        let p = projection(&[("excludedAttributes", "members,id")]);
        assert!(!p.wants("members"));
        assert_eq!(p.apply(group), json!({"id": "1", "displayName": "g"}));
    }
}
