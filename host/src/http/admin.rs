//! The admin API: reading a realm's admin events. Guarded by the admin tokens, which are
//! distinct from every realm's tokens.

use super::RequestId;
use super::error::ScimError;
use crate::app::App;
use crate::store::{DirResult, DirectoryError, EventQuery, OperatorEvent, PlacedStore, Store as _, StoredEvent};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The most events one page returns.
const MAX_EVENTS: u32 = 1000;

/// 404 for a realm the server does not know.
pub(super) fn unknown_realm(realm: &str) -> ScimError {
    ScimError::not_found(format!("realm \"{realm}\" does not exist"))
}

/// 405 naming the methods that are allowed.
pub(super) fn not_allowed(method: &Method, allowed: &'static str) -> ScimError {
    ScimError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed here; use {allowed}"))
        .with_header(header::ALLOW, allowed.into())
}

/// Runs a store operation on a blocking thread: a conflict is 409, an unknown resource
/// 404, a refused operation 400, and a failing store 503.
pub(super) async fn with_store<T: Send + 'static>(
    app: &Arc<App>,
    operation: impl FnOnce(&PlacedStore) -> DirResult<T> + Send + 'static,
) -> Result<T, ScimError> {
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || operation(store.as_ref()))
        .await
        .map_err(|e| ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("a store call panicked: {e}")))?
        .map_err(|e| match e {
            DirectoryError::Conflict { detail, .. } => ScimError::new(StatusCode::CONFLICT, detail),
            DirectoryError::NotFound(what) => ScimError::not_found(format!("{what} does not exist")),
            DirectoryError::Invalid(why) => ScimError::new(StatusCode::BAD_REQUEST, why),
            e => ScimError::new(StatusCode::SERVICE_UNAVAILABLE, format!("the store is unavailable: {e}")),
        })
}

/// An operator's change, to record among the realm's events.
pub(super) fn event(
    kind: &'static str,
    resource_id: &str,
    details: serde_json::Value,
    id: &RequestId,
) -> OperatorEvent {
    OperatorEvent { kind, resource_id: resource_id.to_string(), details: details.to_string(), request_id: id.0.clone() }
}

/// A JSON request body; `expected` shows its shape in the error.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::new(StatusCode::BAD_REQUEST, format!("expected {expected}: {e}")))
}

/// A JSON request body that may be left out (then the default); `expected` shows its shape.
pub(super) fn optional_json<T: Default + serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, ScimError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_body(body, expected)
}

/// Checks the admin bearer token.
pub(super) fn authenticate(app: &App, headers: &HeaderMap) -> Result<(), ScimError> {
    super::check_bearer(headers, &app.config.admin_tokens).map_err(|problem| match problem {
        super::BearerProblem::Missing => {
            ScimError::unauthorized("admin", "the admin API needs an Authorization: Bearer token")
        }
        super::BearerProblem::Rejected => ScimError::unauthorized("admin", "the bearer token is not an admin token"),
    })
}

/// Checks the admin bearer token, then finds the realm an admin request is about.
pub(super) fn admin_realm(
    app: &App,
    headers: &HeaderMap,
    realm: &str,
) -> Result<Arc<crate::tenants::Tenant>, ScimError> {
    authenticate(app, headers)?;
    app.tenants.get(realm).ok_or_else(|| unknown_realm(realm))
}

/// The query parameters of the event list and stream.
#[derive(Deserialize)]
pub struct EventsParams {
    /// Only events with a sequence number above this.
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u32,
    /// Event kinds, comma-separated (`MEMBER_JOINED,MEMBER_LEFT`).
    #[serde(rename = "type")]
    kinds: Option<String>,
    /// RFC 3339 date-time or milliseconds since the epoch.
    since: Option<String>,
    /// RFC 3339 date-time or milliseconds since the epoch.
    until: Option<String>,
    /// `newest`: the newest `limit` events, newest first.
    order: Option<String>,
}

fn default_limit() -> u32 {
    100
}

/// A time parameter: milliseconds since the epoch, or an RFC 3339 date-time.
fn millis(name: &str, text: &str) -> Result<i64, ScimError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                format!("{name}: \"{text}\" is neither an RFC 3339 date-time nor milliseconds since the epoch"),
            )
        })
}

impl EventsParams {
    fn query(&self) -> Result<EventQuery, ScimError> {
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .flat_map(|k| k.split(','))
            .map(|k| k.trim().to_ascii_uppercase())
            .filter(|k| !k.is_empty())
            .collect();
        Ok(EventQuery {
            after: self.after,
            kinds,
            since: self.since.as_deref().map(|t| millis("since", t)).transpose()?,
            until: self.until.as_deref().map(|t| millis("until", t)).transpose()?,
            limit: self.limit.clamp(1, MAX_EVENTS),
            newest_first: match self.order.as_deref() {
                None | Some("oldest") => false,
                Some("newest") => true,
                Some(other) => {
                    let why = format!("order: \"{other}\" is neither \"oldest\" nor \"newest\"");
                    return Err(ScimError::new(StatusCode::BAD_REQUEST, why));
                }
            },
        })
    }
}

/// An event as the admin API shows it.
fn event_json(e: StoredEvent) -> serde_json::Value {
    json!({
        "seq": e.seq,
        "time": e.time,
        "type": e.kind,
        "resourceId": e.resource_id,
        "relatedId": e.related_id,
        "details": serde_json::from_str::<serde_json::Value>(&e.details).unwrap_or(json!(e.details)),
        "requestId": e.request_id,
    })
}

/// Reads events off the async threads.
async fn read_events(app: &Arc<App>, realm: &str, query: EventQuery) -> Result<Vec<StoredEvent>, ScimError> {
    let realm = realm.to_string();
    with_store(app, move |store| store.events(&realm, &query)).await
}

/// Checks what every event request needs: the admin token, GET, known realm, parameters.
fn event_request(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    realm: &str,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<EventQuery, ScimError> {
    authenticate(app, headers)?;
    if method != Method::GET {
        return Err(not_allowed(method, "GET"));
    }
    if app.tenants.get(realm).is_none() {
        return Err(unknown_realm(realm));
    }
    let Query(params) = params.map_err(|e| ScimError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    params.query()
}

/// `GET /admin/realms/{realm}/events?after=&limit=&type=&since=&until=`: events oldest
/// first, and the `after` to ask for the next page.
pub async fn events(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        let query = event_request(&app, &method, &headers, &realm, params)?;
        let after = query.after;
        let events = read_events(&app, &realm, query).await?;
        let next = events.iter().map(|e| e.seq).max().unwrap_or(after);
        let events: Vec<_> = events.into_iter().map(event_json).collect();
        Ok::<_, ScimError>(Json(json!({ "events": events, "next": next })).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// How often the stream looks for new events.
const STREAM_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `GET /admin/realms/{realm}/events/stream?after=&type=`: the events as Server-Sent Events,
/// then each new one as it is committed (`id` is the sequence number, so a client that
/// reconnects resumes with `after`).
pub async fn event_stream(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match event_request(&app, &method, &headers, &realm, params) {
        Ok(query) if query.newest_first => {
            let why =
                "a stream runs oldest first: read the newest with GET …/events?order=newest, then stream after them";
            return ScimError::new(StatusCode::BAD_REQUEST, why).into_response();
        }
        Ok(query) => query,
        Err(e) => return e.into_response(),
    };
    let Some(slot) = app.event_streams.take(&realm) else {
        let (per_realm, total) = (super::stream_slots::PER_REALM, super::stream_slots::TOTAL);
        return ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("too many open event streams: at most {per_realm} per realm and {total} in all"),
        )
        .with_header(header::RETRY_AFTER, "5".into())
        .into_response();
    };
    let closing = app.closing.subscribe();
    let state = (app, realm, query, closing, slot);
    let stream = futures_util::stream::unfold(state, |(app, realm, mut query, mut closing, slot)| async move {
        loop {
            if *closing.borrow() {
                return None;
            }
            let pause = match read_events(&app, &realm, query.clone()).await {
                Ok(events) if !events.is_empty() => {
                    query.after = events.last().map(|e| e.seq).unwrap_or(query.after);
                    let batch: Vec<Result<Event, std::convert::Infallible>> = events
                        .into_iter()
                        .map(|e| {
                            Ok(Event::default()
                                .id(e.seq.to_string())
                                .event(e.kind.clone())
                                .data(event_json(e).to_string()))
                        })
                        .collect();
                    return Some((futures_util::stream::iter(batch), (app, realm, query, closing, slot)));
                }
                Ok(_) => STREAM_POLL,
                Err(_) => STREAM_POLL * 5,
            };
            // Wake for the next poll, or at once when the server stops.
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = closing.changed() => {}
            }
        }
    });
    Sse::new(futures_util::StreamExt::flatten(stream)).keep_alive(KeepAlive::default()).into_response()
}
