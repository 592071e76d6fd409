//! `POST /Bulk` (RFC 7644 §3.7): many operations in one request, each answered on its own.
//! Operations may refer to resources created by others with `bulkId:<id>`, in any order;
//! an operation runs once every bulkId it names is resolved, and a set that can never be
//! resolved (a cycle, an unknown or failed bulkId) fails with 409. `failOnErrors` stops
//! the run after that many failures.
//!
//! The whole Bulk request is one guest call, so the host runs it in one transaction: the
//! operations that succeed are committed together. Each operation runs under a savepoint
//! of its own, so one answered with an error leaves nothing behind.

use crate::context::Ctx;
use crate::error::{ScimError, ScimResult, ScimType};
use crate::http::{Request, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The schema URN of a Bulk request.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The schema URN of a Bulk response.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// The most operations one Bulk request may carry (advertised in ServiceProviderConfig).
pub const MAX_OPERATIONS: usize = 1000;
/// The largest Bulk request body, in bytes (advertised in ServiceProviderConfig).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One operation as the client sent it.
struct Operation {
    method: String,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
}

fn parse(body: &Value) -> ScimResult<(Vec<Operation>, Option<usize>)> {
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax("a BulkRequest must be a JSON object"));
    };
    if let Some(schemas) = object.get("schemas")
        && !schemas.as_array().is_some_and(|s| s.iter().any(|u| u.as_str() == Some(BULK_REQUEST)))
    {
        return Err(ScimError::invalid_syntax(format!("schemas: a BulkRequest names \"{BULK_REQUEST}\"")));
    }
    let fail_on_errors =
        match object.get("failOnErrors") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                ScimError::invalid_value(format!("failOnErrors: expected a positive integer; got {v}"))
            })? as usize),
        };
    let key = object.keys().find(|k| k.eq_ignore_ascii_case("Operations"));
    let Some(Value::Array(list)) = key.and_then(|k| object.get(k)) else {
        return Err(ScimError::invalid_syntax("a BulkRequest needs an 'Operations' list"));
    };
    if list.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            format!("the Bulk request has {} operations; at most {MAX_OPERATIONS} are accepted", list.len()),
        ));
    }
    let mut operations = Vec::with_capacity(list.len());
    for (i, op) in list.iter().enumerate() {
        let text = |name: &str| op.get(name).and_then(Value::as_str).map(str::to_string);
        let method = text("method")
            .map(|m| m.to_ascii_uppercase())
            .filter(|m| ["POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
            .ok_or_else(|| {
                ScimError::invalid_value(format!("Operations[{i}].method: expected POST, PUT, PATCH or DELETE"))
            })?;
        let path = text("path").ok_or_else(|| ScimError::invalid_value(format!("Operations[{i}].path is required")))?;
        let bulk_id = text("bulkId");
        if method == "POST" && bulk_id.is_none() {
            return Err(ScimError::invalid_value(format!("Operations[{i}]: a POST needs a bulkId")));
        }
        let data = op.get("data").cloned().filter(|d| !d.is_null());
        if method != "DELETE" && data.is_none() {
            return Err(ScimError::invalid_value(format!("Operations[{i}]: a {method} needs data")));
        }
        operations.push(Operation { method, bulk_id, version: text("version"), path, data });
    }
    Ok((operations, fail_on_errors))
}

/// The bulkIds a text names (`bulkId:<id>`), in order.
fn references(text: &str) -> Vec<String> {
    text.match_indices("bulkId:")
        .map(|(at, _)| {
            let rest = &text[at + "bulkId:".len()..];
            rest.chars().take_while(|c| !matches!(c, '"' | '/' | '\\' | ' ' | ',' | '}' | ']')).collect()
        })
        .collect()
}

/// Every bulkId an operation names, in its path and its data.
fn needs(op: &Operation) -> Vec<String> {
    let mut ids = references(&op.path);
    if let Some(data) = &op.data {
        ids.extend(references(&data.to_string()));
    }
    ids
}

/// Puts resolved ids where `bulkId:<id>` stood, in every string of a JSON value.
fn substitute_value(value: &mut Value, resolved: &HashMap<String, String>) {
    match value {
        Value::String(s) => *s = substitute(s, resolved),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute_value(v, resolved)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute_value(v, resolved)),
        _ => {}
    }
}

fn substitute(text: &str, resolved: &HashMap<String, String>) -> String {
    let mut out = text.to_string();
    for id in references(text) {
        if let Some(real) = resolved.get(&id) {
            out = out.replace(&format!("bulkId:{id}"), real);
        }
    }
    out
}

/// The outcome of one operation in the BulkResponse.
fn outcome(op: &Operation, status: u16, response: Option<&Response>, location: Option<String>) -> Value {
    let mut out = Map::new();
    out.insert("method".into(), json!(op.method));
    if let Some(id) = &op.bulk_id {
        out.insert("bulkId".into(), json!(id));
    }
    if let Some(location) = location {
        out.insert("location".into(), json!(location));
    }
    if let Some(version) = response.and_then(|r| r.header("etag")) {
        out.insert("version".into(), json!(version));
    }
    out.insert("status".into(), json!(status.to_string()));
    if status >= 400 {
        let body = response.and_then(|r| serde_json::from_slice::<Value>(&r.body).ok());
        out.insert("response".into(), body.unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// `POST /Bulk`.
pub fn run(ctx: &mut Ctx, body: &Value) -> ScimResult<Response> {
    if ctx.request.body.len() > MAX_PAYLOAD {
        return Err(ScimError::new(
            413,
            format!("the Bulk request has {} bytes; at most {MAX_PAYLOAD} are accepted", ctx.request.body.len()),
        ));
    }
    let (operations, fail_on_errors) = parse(body)?;
    let mut results: Vec<Option<Value>> = vec![None; operations.len()];
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut errors = 0;
    // Each pass runs the operations whose bulkIds are all resolved; a pass that runs
    // nothing leaves only operations that never can run.
    'passes: loop {
        let mut progressed = false;
        for (i, op) in operations.iter().enumerate() {
            if results[i].is_some() || !needs(op).iter().all(|id| resolved.contains_key(id)) {
                continue;
            }
            progressed = true;
            let (status, response, location) = execute_whole(ctx, op, &resolved)?;
            if let (Some(id), Some(location)) = (&op.bulk_id, &location)
                && status < 300
            {
                let created = location.rsplit('/').next().unwrap_or_default().to_string();
                resolved.insert(id.clone(), created);
            }
            results[i] = Some(outcome(op, status, response.as_ref(), location));
            if status >= 400 {
                errors += 1;
                if fail_on_errors.is_some_and(|limit| errors >= limit) {
                    break 'passes;
                }
            }
        }
        if !progressed || results.iter().all(Option::is_some) {
            break;
        }
    }
    let stopped = fail_on_errors.is_some_and(|limit| errors >= limit);
    let mut answered = Vec::new();
    for (op, result) in operations.iter().zip(results) {
        match result {
            Some(r) => answered.push(r),
            // Not run because failOnErrors was reached: RFC 7644 leaves them out.
            None if stopped => {}
            None => {
                let missing: Vec<String> = needs(op).into_iter().filter(|id| !resolved.contains_key(id)).collect();
                let error = ScimError::new(
                    409,
                    format!("bulkId {} cannot be resolved: unknown, failed or circular", missing.join(", ")),
                );
                answered.push(outcome(op, 409, Some(&error.into_response()), None));
            }
        }
    }
    Ok(Response::json(200, &json!({ "schemas": [BULK_RESPONSE], "Operations": answered })))
}

/// Runs one operation under a savepoint: kept when it succeeds, undone when it fails.
fn execute_whole(
    ctx: &mut Ctx,
    op: &Operation,
    resolved: &HashMap<String, String>,
) -> ScimResult<(u16, Option<Response>, Option<String>)> {
    ctx.dir.savepoint()?;
    let ran = execute(ctx, op, resolved);
    if ran.0 < 400 {
        ctx.dir.release_savepoint()?;
    } else {
        ctx.dir.rollback_to_savepoint()?;
    }
    Ok(ran)
}

/// Runs one operation as if it were its own request; returns its status, response and
/// the location of the resource it created or changed.
fn execute(
    ctx: &mut Ctx,
    op: &Operation,
    resolved: &HashMap<String, String>,
) -> (u16, Option<Response>, Option<String>) {
    let path = substitute(&op.path, resolved);
    if path.trim_matches('/').split('/').next().is_some_and(|first| first.eq_ignore_ascii_case("Bulk")) {
        let error = ScimError::bad_request(ScimType::InvalidValue, "a Bulk operation cannot be a Bulk request");
        return (400, Some(error.into_response()), None);
    }
    // A search answers a list, not a resource: RFC 7644 §3.7 has no place for it in Bulk.
    if path.trim_end_matches('/').rsplit('/').next().is_some_and(|last| last.eq_ignore_ascii_case(".search")) {
        let error = ScimError::bad_request(ScimType::InvalidValue, "a Bulk operation cannot be a .search");
        return (400, Some(error.into_response()), None);
    }
    let data = op.data.clone().map(|mut d| {
        substitute_value(&mut d, resolved);
        d
    });
    let mut headers: Vec<(String, String)> =
        ctx.request.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("if-match")).cloned().collect();
    if let Some(version) = &op.version {
        headers.push(("if-match".into(), version.clone()));
    }
    let request = Request {
        method: op.method.clone(),
        path: if path.starts_with('/') { path } else { format!("/{path}") },
        query: Vec::new(),
        headers,
        body: data.map(|d| d.to_string().into_bytes()).unwrap_or_default(),
        base_url: ctx.request.base_url.clone(),
    };
    let response = match crate::handler::route(&mut ctx.with_request(&request)) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let location = response
        .header("location")
        .map(str::to_string)
        .or_else(|| {
            serde_json::from_slice::<Value>(&response.body)
                .ok()
                .and_then(|b| b["meta"]["location"].as_str().map(str::to_string))
        })
        .or_else(|| (response.status < 300).then(|| format!("{}{}", ctx.request.base_url, request.path)));
    (response.status, Some(response), location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_ids_are_found_in_paths_and_in_json_text() {
        assert_eq!(references("/Groups/bulkId:g1"), ["g1"]);
        assert_eq!(references(r#"{"members":[{"value":"bulkId:u1"},{"value":"bulkId:u2"}]}"#), ["u1", "u2"]);
        let resolved = HashMap::from([("u1".to_string(), "id-1".to_string())]);
        assert_eq!(substitute("bulkId:u1", &resolved), "id-1");
        assert_eq!(substitute("bulkId:u2", &resolved), "bulkId:u2");
    }
}
