//! `POST /.search` (RFC 7644 §3.4.3): a SearchRequest body stands for the query
//! parameters of a list, so a search on one resource type is that type's list; a search
//! at the SCIM root lists Users, then Groups, paged across both.

use crate::context::Ctx;
use crate::error::{ScimError, ScimResult};
use crate::groups;
use crate::http::{Request, Response};
use crate::listing::{Paging, list_response};
use crate::users;
use serde_json::Value;

/// The schema URN of a SearchRequest body.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The list request a SearchRequest body stands for (same base, same headers).
pub fn list_request(request: &Request, body: &Value) -> ScimResult<Request> {
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax("a SearchRequest must be a JSON object"));
    };
    if let Some(schemas) = object.get("schemas") {
        let named = schemas.as_array().is_some_and(|s| s.iter().any(|u| u.as_str() == Some(SEARCH_REQUEST)));
        if !named {
            return Err(ScimError::invalid_syntax(format!("schemas: a SearchRequest names \"{SEARCH_REQUEST}\"")));
        }
    }
    let mut query = Vec::new();
    for (key, value) in object {
        let param = match key.to_ascii_lowercase().as_str() {
            "schemas" => continue,
            "attributes" => "attributes",
            "excludedattributes" => "excludedAttributes",
            "filter" => "filter",
            "sortby" => "sortBy",
            "sortorder" => "sortOrder",
            "startindex" => "startIndex",
            "count" => "count",
            _ => return Err(ScimError::invalid_syntax(format!("\"{key}\" is not a SearchRequest attribute"))),
        };
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_string).ok_or_else(|| {
                        ScimError::invalid_value(format!("{key}: expected a list of attribute names; got {i}"))
                    })
                })
                .collect::<ScimResult<Vec<_>>>()?
                .join(","),
            other => return Err(ScimError::invalid_value(format!("{key}: unexpected value {other}"))),
        };
        query.push((param.to_string(), text));
    }
    Ok(Request { method: "GET".into(), query, body: Vec::new(), ..request.clone() })
}

/// `POST /.search`: Users then Groups that match, paged across both. A filter on an
/// attribute one type lacks matches nothing of that type.
pub fn root(ctx: &mut Ctx, body: &Value) -> ScimResult<Response> {
    let request = list_request(ctx.request, body)?;
    let mut ctx = ctx.with_request(&request);
    let paging = Paging::from_request(&request)?;
    let (users, groups) = match (users::query(&ctx), groups::query(&ctx)) {
        (Err(e), Err(_)) => return Err(e),
        (users, groups) => (users.ok(), groups.ok()),
    };
    let (user_total, mut resources) = match users {
        Some(query) => users::page(&mut ctx, &query)?,
        None => (0, Vec::new()),
    };
    let mut total = user_total;
    if let Some(mut query) = groups {
        query.offset = query.offset.saturating_sub(user_total);
        query.limit = paging.count.saturating_sub(resources.len() as u32);
        let (group_total, page) = groups::page(&mut ctx, &query)?;
        total += group_total;
        resources.extend(page);
    }
    Ok(list_response(total, paging.start_index, &resources))
}
