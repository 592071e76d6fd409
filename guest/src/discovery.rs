//! The discovery endpoints (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and
//! Schemas, generated from the same definitions that validate requests.

use crate::bulk;
use crate::error::{ScimError, ScimResult};
use crate::http::Response;
use crate::listing::{MAX_PAGE, list_response};
use crate::profile::Profile;
use crate::schema::{self, USER_SCHEMA};
use crate::settings::Settings;
use serde_json::{Value, json};

/// GET /ServiceProviderConfig.
pub fn service_provider_config(base_url: &str) -> Response {
    Response::json(
        200,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/scim-host/scim-host",
            "patch": {"supported": true},
            "bulk": {"supported": true, "maxOperations": bulk::MAX_OPERATIONS, "maxPayloadSize": bulk::MAX_PAYLOAD},
            "filter": {"supported": true, "maxResults": MAX_PAGE},
            "changePassword": {"supported": true},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A bearer token issued by the operator for this realm or organization",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base_url}/ServiceProviderConfig"),
            },
        }),
    )
}

/// GET /ResourceTypes and /ResourceTypes/{name}.
pub fn resource_types(profile: &Profile, base_url: &str, name: Option<&str>) -> ScimResult<Response> {
    let all: Vec<Value> = profile.resource_types().iter().map(|rt| schema::resource_type_json(rt, base_url)).collect();
    one_or_all(all, name, "ResourceType")
}

/// GET /Schemas and /Schemas/{urn}, as the realm's settings make them: with
/// `username_ignores_case=false`, the User schema's `userName` says `caseExact: true`.
pub fn schemas(profile: &Profile, settings: &Settings, base_url: &str, id: Option<&str>) -> ScimResult<Response> {
    let mut all: Vec<Value> = profile.schemas().iter().map(|s| schema::schema_json(s, base_url)).collect();
    if !settings.username_ignores_case {
        let user_name = all
            .iter_mut()
            .filter(|s| s["id"] == USER_SCHEMA)
            .flat_map(|s| s["attributes"].as_array_mut().into_iter().flatten())
            .find(|a| a["name"] == "userName");
        if let Some(user_name) = user_name {
            user_name["caseExact"] = json!(true);
        }
    }
    one_or_all(all, id, "Schema")
}

fn one_or_all(all: Vec<Value>, id: Option<&str>, what: &str) -> ScimResult<Response> {
    match id {
        None => {
            let total = all.len() as u32;
            let texts: Vec<String> = all.iter().map(Value::to_string).collect();
            Ok(list_response(total, 1, &texts))
        }
        Some(id) => all
            .into_iter()
            .find(|v| v["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)))
            .map(|v| Response::json(200, &v))
            .ok_or_else(|| ScimError::not_found(what, id)),
    }
}
