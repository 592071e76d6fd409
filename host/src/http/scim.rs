//! The SCIM endpoints: resolve the realm and organization, authenticate, then hand the
//! request to the call pipeline (`crate::call`), which reads its body within the realm's
//! limit once admitted. The host knows no SCIM here beyond wrapping its own failures.

use super::RequestId;
use super::error::ScimError;
use crate::app::App;
use crate::bindings::types;
use crate::call::Call;
use crate::tenants::Tenant;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Request headers a guest never sees.
const WITHHELD_HEADERS: [HeaderName; 3] = [header::AUTHORIZATION, header::COOKIE, header::PROXY_AUTHORIZATION];

/// Where a SCIM request is addressed.
struct Target<'a> {
    realm: &'a str,
    organization: Option<&'a str>,
    /// The path below the SCIM base, starting with `/`.
    path: String,
    /// The SCIM base path (`/realms/demo/scim/v2[/organizations/acme]`).
    base: String,
}

/// Splits `/realms/{realm}/scim/v2[/organizations/{org}]/rest`.
fn target(path: &str) -> Option<Target<'_>> {
    let rest = path.strip_prefix("/realms/")?;
    let (realm, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("scim/v2")?;
    if !(rest.is_empty() || rest.starts_with('/')) || realm.is_empty() {
        return None;
    }
    let (organization, rest) = match rest.strip_prefix("/organizations/") {
        Some(after) => {
            let (alias, rest) = match after.find('/') {
                Some(slash) => after.split_at(slash),
                None => (after, ""),
            };
            if alias.is_empty() {
                return None;
            }
            (Some(alias), rest)
        }
        None => (None, rest),
    };
    let base = match organization {
        Some(alias) => format!("/realms/{realm}/scim/v2/organizations/{alias}"),
        None => format!("/realms/{realm}/scim/v2"),
    };
    let path = if rest.is_empty() { "/".to_string() } else { rest.to_string() };
    Some(Target { realm, organization, path, base })
}

/// The public URL of the SCIM base, for `meta.location`: from the configuration, not from
/// what a client says the server is called, unless the operator trusts the `Host` header.
fn base_url(app: &App, headers: &HeaderMap, base: &str) -> String {
    let trusted = headers.get(header::HOST).filter(|_| app.config.trust_host_header).and_then(|h| h.to_str().ok());
    match trusted {
        Some(host) => format!("http://{host}{base}"),
        None => format!("{}{base}", app.public_base()),
    }
}

/// The longest user agent kept for diagnostics.
const USER_AGENT_KEPT: usize = 256;
/// The largest request body diagnostics read (a larger one is kept by its size).
const BODY_KEPT: usize = 64 << 10;
/// The largest error answer read back for diagnostics.
const ANSWER_READ: usize = 64 << 10;

/// Every request under `/realms/{realm}/scim/v2`.
pub async fn endpoint(State(app): State<Arc<App>>, request: Request) -> Response {
    let request_id = request.extensions().get::<RequestId>().cloned().unwrap_or_default();
    let method = request.method().clone();
    // Only known realms become label values (and diagnostics), so random paths cannot
    // grow the series.
    // Shared, not copied: what diagnostics need of the request is made text only for a failure.
    let (uri, agent) = (request.uri().clone(), request.headers().get(header::USER_AGENT).cloned());
    let known = target(uri.path()).filter(|t| app.tenants.get(t.realm).is_some());
    let realm = known.as_ref().map_or("-", |t| t.realm);
    let body = std::sync::OnceLock::new();
    let response = match serve(&app, request, &request_id, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let status = response.status().as_u16();
    app.metrics.request(realm, method.as_str(), status);
    let Some(known) = known else { return response };
    let user_agent = first_chars(agent.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""), USER_AGENT_KEPT);
    app.diagnostics.count(realm, user_agent, status);
    if status < 400 {
        return response;
    }
    // A failure: kept with what the client sent and what it was told.
    let (parts, answer) = response.into_parts();
    let answer = axum::body::to_bytes(answer, ANSWER_READ).await.unwrap_or_default();
    let told: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
    let text = |name: &str| told.get(name).and_then(|v| v.as_str()).map(|s| s.chars().take(1024).collect());
    let failed = crate::diagnostics::FailedRequest {
        at: crate::store::now_millis(),
        method: method.to_string(),
        path: match uri.query() {
            Some(query) => format!("{}?{query}", known.path),
            None => known.path.clone(),
        },
        organization: known.organization.map(str::to_string),
        status,
        scim_type: text("scimType"),
        detail: text("detail"),
        identity_provider: crate::diagnostics::identity_provider(user_agent),
        user_agent: user_agent.to_string(),
        request_id: request_id.0.clone(),
        body: body.get().and_then(|(size, kept)| kept_body(*size, kept.as_deref())),
    };
    app.diagnostics.keep(realm, failed);
    Response::from_parts(parts, Body::from(answer))
}

/// At most the first `n` characters of `text`.
fn first_chars(text: &str, n: usize) -> &str {
    text.char_indices().nth(n).map_or(text, |(end, _)| &text[..end])
}

/// A request body as diagnostics keep it (see `diagnostics::redacted_body`).
fn kept_body(size: usize, body: Option<&[u8]>) -> Option<String> {
    match body {
        Some(body) => crate::diagnostics::redacted_body(body),
        None => Some(format!("({size} bytes, not kept)")),
    }
}

/// Serves a SCIM request; the size of the body it read goes to `read`, with the body
/// itself (shared, not copied) when small enough for diagnostics to keep.
async fn serve(
    app: &Arc<App>,
    request: Request,
    request_id: &RequestId,
    read: &std::sync::OnceLock<(usize, Option<bytes::Bytes>)>,
) -> Result<Response, ScimError> {
    let (parts, body) = request.into_parts();
    let target = target(parts.uri.path())
        .ok_or_else(|| ScimError::not_found(format!("no SCIM endpoint at {}", parts.uri.path())))?;
    let tenant = app.tenants.get(target.realm).ok_or_else(|| match app.tenants.broken(target.realm) {
        // The operator reads why in the log and at /readyz; the client learns only that it is down.
        Some(_) => {
            ScimError::new(StatusCode::SERVICE_UNAVAILABLE, format!("realm \"{}\" is unavailable", target.realm))
        }
        None => ScimError::not_found(format!("realm \"{}\" does not exist", target.realm)),
    })?;
    authenticate(&tenant, target.organization, &parts.headers)?;
    let scope = match target.organization {
        None => types::Scope::Realm,
        Some(alias) => types::Scope::Organization(tenant.organizations.get(alias).cloned().ok_or_else(|| {
            ScimError::not_found(format!("organization \"{alias}\" does not exist in realm \"{}\"", tenant.name))
        })?),
    };
    let call = Call { app: app.clone(), tenant: tenant.clone(), request_id: request_id.clone(), scope };
    let request = async {
        let body = read_body(body, tenant.limits.max_body_bytes).await?;
        let _ = read.set((body.len(), (body.len() <= BODY_KEPT).then(|| body.clone())));
        Ok(types::Request {
            method: parts.method.as_str().to_string(),
            query: parts
                .uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
            headers: parts
                .headers
                .iter()
                .filter(|(name, _)| !WITHHELD_HEADERS.contains(name))
                .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
                .collect(),
            body: body.to_vec(),
            base_url: base_url(app, &parts.headers, &target.base),
            path: target.path,
        })
    };
    let answer = crate::call::run(call, request).await?;
    Ok(response(answer, request_id))
}

/// Checks the bearer token against the tokens that open this scope: a token limited to
/// one organization opens nothing else.
fn authenticate(tenant: &Tenant, organization: Option<&str>, headers: &HeaderMap) -> Result<(), ScimError> {
    let realm = &tenant.name;
    super::check_bearer(headers, &tenant.token_hashes(organization)).map_err(|problem| match problem {
        super::BearerProblem::Missing => {
            ScimError::unauthorized(realm, format!("realm \"{realm}\" needs an Authorization: Bearer token"))
        }
        super::BearerProblem::Rejected => {
            ScimError::unauthorized(realm, format!("the bearer token is not valid for realm \"{realm}\""))
        }
    })
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ScimError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = caused_by::<http_body_util::LengthLimitError>(&e);
        let too_slow = caused_by::<super::body_deadline::BodyTooSlow>(&e);
        if too_slow {
            ScimError::new(StatusCode::REQUEST_TIMEOUT, format!("{e}"))
        } else if too_large {
            // RFC 7644 names no scimType for a body that is too large.
            ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than this realm's limit of {limit} bytes"),
            )
        } else {
            ScimError::new(StatusCode::BAD_REQUEST, format!("the request body could not be read: {e}"))
        }
    })
}

/// Whether an error of type `T` is among the causes of `error`.
fn caused_by<T: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<T>())
}

/// The guest's response as HTTP.
fn response(guest: types::Response, request_id: &RequestId) -> Response {
    let status = StatusCode::from_u16(guest.status).unwrap_or_else(|_| {
        tracing::warn!(request_id = %request_id.0, status = guest.status, "the guest answered an invalid status");
        StatusCode::INTERNAL_SERVER_ERROR
    });
    // Built by hand so that no default content type joins the guest's own.
    let mut response = Response::new(Body::from(guest.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in guest.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value))
            && !withheld(&name)
        {
            headers.append(name, value);
        }
    }
    response
}

/// Headers a module may not send: each would change what a browser keeps or allows for the
/// whole origin, which every realm and the console share (cookies, storage, service
/// workers, transport security, cross-origin access), or undo what the host sets on every
/// response (`super::inert_in_browsers`).
fn withheld(name: &HeaderName) -> bool {
    const WITHHELD: [&str; 16] = [
        "set-cookie",
        "set-cookie2",
        "clear-site-data",
        "service-worker-allowed",
        "content-security-policy",
        "content-security-policy-report-only",
        "x-content-type-options",
        "x-frame-options",
        "strict-transport-security",
        "refresh",
        "link",
        "alt-svc",
        "origin-agent-cluster",
        "permissions-policy",
        "report-to",
        "nel",
    ];
    let name = name.as_str();
    WITHHELD.contains(&name) || name.starts_with("access-control-") || name.starts_with("cross-origin-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_realm_organization_and_rest() {
        let t = target("/realms/demo/scim/v2/Things/42").unwrap();
        assert_eq!(
            (t.realm, t.organization, t.path.as_str(), t.base.as_str()),
            ("demo", None, "/Things/42", "/realms/demo/scim/v2")
        );
        let t = target("/realms/demo/scim/v2/organizations/acme/Widgets").unwrap();
        assert_eq!((t.organization, t.path.as_str()), (Some("acme"), "/Widgets"));
        assert_eq!(t.base, "/realms/demo/scim/v2/organizations/acme");
        let t = target("/realms/demo/scim/v2/organizations/acme").unwrap();
        assert_eq!(t.path, "/");
        assert_eq!(target("/realms/demo/scim/v2").unwrap().path, "/");
        assert!(target("/realms/demo/scim/v2x").is_none());
        assert!(target("/realms//scim/v2").is_none());
    }
}
