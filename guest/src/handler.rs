//! Routing inside the SCIM base path: which operation a request is, and the one place
//! where every failure becomes a SCIM error response.

use crate::bulk;
use crate::context::{Ctx, Scope};
use crate::directory::Directory;
use crate::discovery;
use crate::error::{ScimError, ScimResult};
use crate::group_body::GroupBody;
use crate::groups;
use crate::http::{Request, Response};
use crate::profile::Profile;
use crate::search;
use crate::settings::{Config, Settings};
use crate::users;
use serde_json::Value;

/// Answers one SCIM request against the directory, as the stock handler of a realm with
/// no settings.
pub fn handle(dir: &mut dyn Directory, scope: Scope, request: &Request) -> Response {
    handle_with(&Profile::STOCK, &Config::default(), dir, scope, request)
}

/// Answers one SCIM request against the directory for a realm configured as `config`,
/// serving a profile's resource types and applying its rules.
pub fn handle_with(
    profile: &'static Profile,
    config: &Config,
    dir: &mut dyn Directory,
    scope: Scope,
    request: &Request,
) -> Response {
    let settings = match Settings::from_config(config) {
        Ok(settings) => settings,
        Err(error) => return error.into_response(),
    };
    let mut ctx = Ctx { dir, scope, request, profile, config, settings };
    match route(&mut ctx) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// Answers a request by its method and path (also each operation of a Bulk request).
pub(crate) fn route(ctx: &mut Ctx) -> ScimResult<Response> {
    let request = ctx.request;
    let segments: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method.to_ascii_uppercase();
    let base = request.base_url.as_str();
    let not_allowed = |allowed: &str| {
        Err(ScimError::new(405, format!("{method} is not allowed on {}; allowed: {allowed}", request.path)))
    };
    match (segments.as_slice(), method.as_str()) {
        (["ServiceProviderConfig"], "GET") => Ok(discovery::service_provider_config(base)),
        (["ServiceProviderConfig"], _) => not_allowed("GET"),
        (["ResourceTypes"], "GET") => discovery::resource_types(ctx.profile, base, None),
        (["ResourceTypes", name], "GET") => discovery::resource_types(ctx.profile, base, Some(name)),
        (["ResourceTypes", ..], _) => not_allowed("GET"),
        (["Schemas"], "GET") => discovery::schemas(ctx.profile, &ctx.settings, base, None),
        (["Schemas", id], "GET") => discovery::schemas(ctx.profile, &ctx.settings, base, Some(id)),
        (["Schemas", ..], _) => not_allowed("GET"),

        (["Bulk"], "POST") => bulk::run(ctx, &body(request)?),
        (["Bulk"], _) => not_allowed("POST"),
        ([".search"], "POST") => search::root(ctx, &body(request)?),
        ([".search"], _) => not_allowed("POST"),
        (["Users", ".search"], "POST") => {
            let list = search::list_request(request, &body(request)?)?;
            users::list(&mut ctx.with_request(&list))
        }
        (["Groups", ".search"], "POST") => {
            let list = search::list_request(request, &body(request)?)?;
            groups::list(&mut ctx.with_request(&list))
        }
        (["Users" | "Groups", ".search"], _) => not_allowed("POST"),
        (["Users"], "GET") => users::list(ctx),
        (["Users"], "POST") => users::create(ctx, &body(request)?),
        (["Users"], _) => not_allowed("GET, POST"),
        (["Users", id], "GET") => users::get(ctx, id),
        (["Users", id], "PUT") => users::replace(ctx, id, &body(request)?),
        (["Users", id], "PATCH") => users::patch(ctx, id, &body(request)?),
        (["Users", id], "DELETE") => users::delete(ctx, id),
        (["Users", _], _) => not_allowed("GET, PUT, PATCH, DELETE"),

        (["Groups"], "GET") => groups::list(ctx),
        (["Groups"], "POST") => groups::create(ctx, group_body(ctx, request)?),
        (["Groups"], _) => not_allowed("GET, POST"),
        (["Groups", id], "GET") => groups::get(ctx, id),
        (["Groups", id], "PUT") => groups::replace(ctx, id, group_body(ctx, request)?),
        (["Groups", id], "PATCH") => groups::patch(ctx, id, &body(request)?),
        (["Groups", id], "DELETE") => groups::delete(ctx, id),
        (["Groups", _], _) => not_allowed("GET, PUT, PATCH, DELETE"),

        _ => Err(ScimError::new(
            404,
            format!("no SCIM endpoint at {}", if request.path.is_empty() { "/" } else { &request.path }),
        )),
    }
}

/// The request body as JSON; malformed JSON is 400 invalidSyntax naming where it broke.
fn body(request: &Request) -> ScimResult<Value> {
    serde_json::from_slice(not_empty(request)?).map_err(ScimError::body_not_json)
}

/// The body of a POST or PUT of a group, canonical, with its members read apart.
fn group_body(ctx: &Ctx, request: &Request) -> ScimResult<GroupBody> {
    GroupBody::from_slice(ctx.profile.group, not_empty(request)?, true)
}

fn not_empty(request: &Request) -> ScimResult<&[u8]> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty; expected a JSON object"));
    }
    Ok(&request.body)
}
