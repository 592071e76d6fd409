//! HTTP: the router, the request id every response carries, and the fallbacks that keep
//! even unknown paths SCIM-shaped.

mod admin;
pub mod body_deadline;
mod console;
pub mod error;
mod modules;
mod organization_members;
mod realms;
mod requests;
mod scim;
pub mod stream_slots;
mod tokens;
mod webhooks;

use crate::app::App;
use crate::auth::TokenHash;
use axum::Router;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use error::ScimError;
use std::sync::Arc;

/// The id of one request: sent back as `X-Request-Id`, logged, and put in 5xx details.
#[derive(Clone, Debug, Default)]
pub struct RequestId(pub String);

/// Why a request's bearer token was not accepted.
pub enum BearerProblem {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that none of the hashes accepts.
    Rejected,
}

/// Checks the request's bearer token against token hashes.
pub fn check_bearer(headers: &HeaderMap, hashes: &[TokenHash]) -> Result<(), BearerProblem> {
    let header = headers.get(header::AUTHORIZATION).map(|h| h.to_str().unwrap_or(""));
    let token = crate::auth::bearer(header).ok_or(BearerProblem::Missing)?;
    if crate::auth::accepts(hashes, token) { Ok(()) } else { Err(BearerProblem::Rejected) }
}

/// The largest JSON body the admin API reads.
pub const ADMIN_BODY_BYTES: usize = 64 * 1024;

/// Every route of the server.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/realms/{realm}/scim/v2", any(scim::endpoint))
        .route("/realms/{realm}/scim/v2/{*rest}", any(scim::endpoint))
        .route("/admin/realms", any(realms::realms))
        .route("/admin/realms/{realm}", any(realms::realm))
        .route("/admin/realms/{realm}/organizations", any(realms::organizations))
        .route("/admin/realms/{realm}/organizations/{alias}", any(realms::organization))
        .route("/admin/realms/{realm}/organizations/{alias}/members/{user}", any(organization_members::member))
        .route("/admin/realms/{realm}/events", any(admin::events))
        .route("/admin/realms/{realm}/events/stream", any(admin::event_stream))
        .route("/admin/realms/{realm}/module", any(modules::module))
        .route("/admin/realms/{realm}/tokens", any(tokens::tokens))
        .route("/admin/realms/{realm}/tokens/{id}", any(tokens::token))
        .route("/admin/realms/{realm}/module/rollback", any(modules::rollback))
        .route("/admin/realms/{realm}/requests", any(requests::requests))
        .route("/admin/realms/{realm}/webhooks", any(webhooks::webhooks))
        .route("/admin/realms/{realm}/webhooks/{id}", any(webhooks::webhook))
        .route("/admin/realms/{realm}/webhooks/{id}/deliveries", any(webhooks::deliveries))
        .route("/admin/realms/{realm}/webhooks/{id}/test", any(webhooks::test))
        .route("/console", get(console::page))
        .route("/console/", get(console::page))
        .route("/console/app.js", get(console::script))
        .route("/console/app.css", get(console::style))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(axum::middleware::map_response(errors_as_scim))
        .layer(axum::middleware::map_response(inert_in_browsers))
        // JSON bodies of the admin API are read before the token is checked: bounded small.
        // (SCIM bodies and modules are read with their own limits, after authentication.)
        .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(app.clone(), body_deadline::body_deadline))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(app)
}

/// Ready when a store answers a query. Realms that could not start (their module did not
/// load, or two stores hold them) and stores that do not answer, when others do, are listed
/// with why (`"status": "degraded"`): those realms answer 503, the others serve.
async fn ready(State(app): State<Arc<App>>) -> Response {
    let broken = app.tenants.all_broken();
    let store = app.store.clone();
    let down = match tokio::task::spawn_blocking(move || store.stores_down()).await {
        Ok(down) => down,
        Err(e) => {
            let why = format!("the readiness check failed: {e}");
            return ScimError::new(StatusCode::SERVICE_UNAVAILABLE, why).into_response();
        }
    };
    if down.len() == app.store.stores().len() {
        let why: Vec<String> = down.into_iter().map(|(store, e)| format!("{store}: {e}")).collect();
        let why = format!("the store does not answer: {}", why.join("; "));
        return ScimError::new(StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    let mut status = serde_json::json!({ "status": "ready" });
    if !broken.is_empty() || !down.is_empty() {
        status = serde_json::json!({ "status": "degraded", "brokenRealms": broken });
    }
    if !down.is_empty() {
        status["storesDown"] = serde_json::json!(down);
    }
    axum::Json(status).into_response()
}

/// Prometheus text exposition.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let body = app.metrics.render();
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

/// Every error of the server is a SCIM error body: axum answers its extractors' refusals
/// (a path segment that is not UTF-8 once decoded, a query it cannot parse) in plain text,
/// which an identity provider or the admin CLI cannot read. Found by fuzzing.
async fn errors_as_scim(response: Response) -> Response {
    let json =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if response.status().as_u16() < 400 || json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let mut answer = ScimError::new(parts.status, String::from_utf8_lossy(&text).trim()).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

/// No answer of the server but the console's page runs in a browser: a response a module
/// shaped as a web page (or any JSON a browser was tricked into opening) is sandboxed into
/// an origin of its own, with no script, no sniffing and no framing, so it can reach
/// nothing the console keeps on this origin.
async fn inert_in_browsers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'; frame-ancestors 'none'"),
        );
    }
    response
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    ScimError::not_found(format!("nothing at {method} {}", uri.path())).into_response()
}

/// Gives each request an id and puts it on the response.
async fn request_id(mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    tracing::info!(
        request_id = %id,
        %method,
        path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
