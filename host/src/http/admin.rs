//! The admin API: reading a realm's admin events. Guarded by the admin tokens, which are
//! distinct from every realm's tokens.

use super::error::ScimError;
use crate::app::App;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The most events one page returns.
const MAX_EVENTS: u32 = 1000;

/// Checks the admin bearer token.
pub(super) fn authenticate(app: &App, headers: &HeaderMap) -> Result<(), ScimError> {
    super::check_bearer(headers, &app.config.admin_tokens).map_err(|problem| match problem {
        super::BearerProblem::Missing => {
            ScimError::unauthorized("admin", "the admin API needs an Authorization: Bearer token")
        }
        super::BearerProblem::Rejected => ScimError::unauthorized("admin", "the bearer token is not an admin token"),
    })
}

/// Paging of the event list.
#[derive(Deserialize)]
pub struct EventsQuery {
    /// Only events with a sequence number above this.
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// `GET /admin/realms/{realm}/events?after=&limit=`: events oldest first, and the
/// `after` to ask for the next page.
pub async fn events(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        authenticate(&app, &headers)?;
        if method != Method::GET {
            return Err(ScimError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed here; use GET"),
            )
            .with_header(header::ALLOW, "GET".into()));
        }
        let Query(query) = query.map_err(|e| ScimError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        if app.tenants.get(&realm).is_none() {
            return Err(ScimError::not_found(format!("realm \"{realm}\" does not exist")));
        }
        let limit = query.limit.clamp(1, MAX_EVENTS);
        let store = app.store.clone();
        let events = tokio::task::spawn_blocking(move || store.events(&realm, query.after, limit))
            .await
            .map_err(|e| ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| ScimError::new(StatusCode::SERVICE_UNAVAILABLE, format!("the store is unavailable: {e}")))?;
        let next = events.last().map(|e| e.seq).unwrap_or(query.after);
        let events: Vec<_> = events
            .into_iter()
            .map(|e| {
                json!({
                    "seq": e.seq,
                    "time": e.time,
                    "type": e.kind,
                    "resourceId": e.resource_id,
                    "relatedId": e.related_id,
                    "details": serde_json::from_str::<serde_json::Value>(&e.details).unwrap_or(json!(e.details)),
                    "requestId": e.request_id,
                })
            })
            .collect();
        Ok(Json(json!({ "events": events, "next": next })).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
