//! The admin API for tenant modules: upload a component for a realm and swap it in,
//! see what a realm runs and ran, and roll back. A component is checked (it must be a
//! component implementing the `scim:host` world, within the size limit) and compiled
//! before it is swapped in; requests in flight finish on the old module.

use super::RequestId;
use super::admin::{admin_realm, authenticate, event, not_allowed, optional_json, unknown_realm, with_store};
use super::error::ScimError;
use crate::app::App;
use crate::modules::Modules;
use crate::runtime::Module;
use crate::store::Store;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Runs an operation on the kept modules off the async threads (it reads or writes a
/// file, or the database); `what` names it in the error.
pub(super) async fn with_modules<T: Send + 'static>(
    app: &Arc<App>,
    what: &'static str,
    operation: impl FnOnce(&dyn Modules) -> std::io::Result<T> + Send + 'static,
) -> Result<T, ScimError> {
    let modules = app.modules.clone();
    tokio::task::spawn_blocking(move || operation(modules.as_ref()))
        .await
        .map_err(|e| ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} panicked: {e}")))?
        .map_err(|e| ScimError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what} failed: {e}")))
}

/// Compiles a component off the async threads (it takes a while) and checks its world.
async fn compile(app: &Arc<App>, bytes: Vec<u8>) -> Result<Arc<Module>, ScimError> {
    let runtime = app.runtime.clone();
    tokio::task::spawn_blocking(move || runtime.load(&bytes))
        .await
        .map_err(|e| ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("compiling panicked: {e}")))?
        .map_err(|e| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "not a scim:host component: {e:#}. Build one with `cargo build --target wasm32-wasip2` \
                     against wit/scim-host.wit (world scim-handler)"
                ),
            )
        })
}

/// Swaps a compiled module in for a realm and records it; answers what changed.
async fn install(
    app: &Arc<App>,
    realm: &str,
    module: Arc<Module>,
    how: &'static str,
    request_id: &RequestId,
) -> Result<Response, ScimError> {
    let _changing = app.admin_changes.lock().await;
    let current = app.tenants.get(realm).ok_or_else(|| unknown_realm(realm))?;
    // Keep both components first: a rollback must always find its bytes.
    let (name, from, to) = (realm.to_string(), current.module.clone(), module.clone());
    with_modules(app, "keeping the module", move |modules| {
        modules.keep(&name, &from.digest, &from.bytes)?;
        modules.keep(&name, &to.digest, &to.bytes)?;
        modules.record(&name, &to.digest, &from.digest)
    })
    .await?;
    let previous = app.tenants.swap_module(realm, module.clone()).ok_or_else(|| unknown_realm(realm))?;
    // The failures that cooled the realm down were the old module's.
    previous.limiter.forgive();
    tracing::info!(realm, from = %previous.module.digest, to = %module.digest, "module swapped");
    app.metrics.module_swaps.get_or_create(&crate::metrics::RealmLabels { realm: realm.to_string() }).inc();
    let details = json!({ "digest": module.digest, "previous": previous.module.digest, "how": how });
    let installed = event("MODULE_INSTALLED", &module.digest, details, request_id);
    let name = realm.to_string();
    // The swap has happened; a store that cannot record it is logged, not a failed upload.
    if let Err(e) = with_store(app, move |store| Store::record(store, &name, &installed)).await {
        tracing::error!(realm, request_id = %request_id.0, "the module swap was not recorded as an event: {}", e.detail);
    }
    Ok(Json(json!({ "realm": realm, "digest": module.digest, "previous": previous.module.digest })).into_response())
}

/// `GET` (what the realm runs and ran) and `PUT` (a new component) on
/// `/admin/realms/{realm}/module`.
pub async fn module(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    body: Body,
) -> Response {
    let result = async {
        let tenant = admin_realm(&app, &headers, &realm)?;
        match method {
            Method::GET => {
                let name = realm.clone();
                let history = with_modules(&app, "reading the module history", move |m| m.history(&name)).await?;
                Ok(Json(json!({ "realm": realm, "digest": tenant.module.digest, "history": history })).into_response())
            }
            Method::PUT => {
                let limit = app.config.max_module_bytes;
                let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
                    ScimError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("a module may have at most {limit} bytes (max_module_bytes in the configuration)"),
                    )
                })?;
                let module = compile(&app, bytes.to_vec()).await?;
                install(&app, &realm, module, "upload", &request_id).await
            }
            other => Err(not_allowed(&other, "GET, PUT")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The body of a rollback: the module to return to; the one before the current when absent.
#[derive(Deserialize, Default)]
pub struct Rollback {
    digest: Option<String>,
}

/// `POST /admin/realms/{realm}/module/rollback`.
pub async fn rollback(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        authenticate(&app, &headers)?;
        if method != Method::POST {
            return Err(not_allowed(&method, "POST"));
        }
        let tenant = app.tenants.get(&realm).ok_or_else(|| unknown_realm(&realm))?;
        let wanted: Rollback = optional_json(&body, r#"{"digest": "…"}"#)?;
        let name = realm.clone();
        let history = with_modules(&app, "reading the module history", move |m| m.history(&name)).await?;
        let digest = match wanted.digest {
            Some(digest) if history.iter().any(|i| i.digest == digest) => digest,
            Some(digest) => {
                return Err(ScimError::not_found(format!("realm \"{realm}\" never ran module {digest}")));
            }
            None => history.iter().rev().map(|i| &i.digest).find(|d| **d != tenant.module.digest).cloned().ok_or_else(
                || ScimError::new(StatusCode::CONFLICT, format!("realm \"{realm}\" has no earlier module")),
            )?,
        };
        let (name, wanted) = (realm.clone(), digest.clone());
        let bytes = with_modules(&app, "reading the module", move |m| m.bytes(&name, &wanted)).await?;
        let module = compile(&app, bytes).await?;
        install(&app, &realm, module, "rollback", &request_id).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
