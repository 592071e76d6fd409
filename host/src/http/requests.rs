//! `GET /admin/realms/{realm}/requests`: the realm's last failed SCIM requests, newest
//! first (`?status=4xx`, `5xx` or one status; `?organization=alias`), and its identity
//! providers' counts, as this host saw them (see `crate::diagnostics`).

use super::admin::{admin_realm, not_allowed};
use super::error::ScimError;
use crate::app::App;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct RequestsParams {
    status: Option<String>,
    organization: Option<String>,
}

pub async fn requests(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    Query(params): Query<RequestsParams>,
) -> Response {
    let result = (|| {
        let tenant = admin_realm(&app, &headers, &realm)?;
        if method != Method::GET {
            return Err(not_allowed(&method, "GET"));
        }
        let status = params.status.as_deref();
        let class = status.is_some_and(|s| ["4xx", "5xx"].contains(&s) || s.parse::<u16>().is_ok_and(|n| n >= 400));
        if status.is_some() && !class {
            let why = "status: expected 4xx, 5xx or a status of 400 or more";
            return Err(ScimError::new(StatusCode::BAD_REQUEST, why.to_string()));
        }
        if let Some(alias) = params.organization.as_deref().filter(|a| !tenant.organizations.contains_key(*a)) {
            return Err(ScimError::not_found(format!("organization \"{alias}\" does not exist in realm \"{realm}\"")));
        }
        let failed = app.diagnostics.failed(&realm, params.organization.as_deref(), status);
        Ok(Json(json!({
            "realm": realm,
            "requests": failed,
            "counts": app.diagnostics.counts(&realm),
            "note": "as this host saw them: behind a load balancer, each host keeps its own",
        }))
        .into_response())
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}
