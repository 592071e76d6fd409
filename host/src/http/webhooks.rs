//! The admin API of webhook subscriptions: `/admin/realms/{realm}/webhooks` (list, create),
//! `…/webhooks/{id}` (read with its recent deliveries, change, delete), `…/{id}/deliveries`
//! (the delivery log) and `…/{id}/test` (one signed test message, sent now). A
//! subscription's signing secret is shown once, when it is created.

use super::RequestId;
use super::admin::{admin_realm, event, json_body, not_allowed, optional_json, with_store};
use super::error::ScimError;
use crate::app::App;
use crate::store::{EventKind, Store as _, StoredEvent, StoredWebhook, WebhookAttempt, now_millis};
use crate::tenants::Tenant;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The longest endpoint URL accepted.
const MAX_URL_BYTES: usize = 2048;
/// Subscriptions a realm may have.
const MAX_WEBHOOKS: usize = 32;
/// Deliveries shown with a subscription.
const RECENT_DELIVERIES: u32 = 20;

/// The body of a create (`url` required) or of a change (each field left out stays).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Subscription {
    url: Option<String>,
    /// Event types; every directory change when left out.
    types: Option<Vec<String>>,
    /// An organization's alias: only the changes made in its scope.
    #[serde(default, deserialize_with = "present")]
    organization: Option<Value>,
    enabled: Option<bool>,
}

/// Tells `null` (`Some(Value::Null)`: the whole realm again) from a field left out.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

const SHAPE: &str =
    r#"{"url": "https://…", "types": ["USER_CREATED", …] (optional), "organization": "alias" (optional)}"#;

fn bad(why: String) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, why)
}

fn checked_url(url: &str) -> Result<String, ScimError> {
    let parsed = url.parse::<axum::http::Uri>().map_err(|e| bad(format!("url: {e}")))?;
    let http = matches!(parsed.scheme_str(), Some("http" | "https")) && parsed.host().is_some_and(|h| !h.is_empty());
    if !http || url.len() > MAX_URL_BYTES {
        return Err(bad(format!("url: expected an http:// or https:// URL of at most {MAX_URL_BYTES} bytes")));
    }
    Ok(url.to_string())
}

/// Every event type a subscription may name: the directory's changes.
fn every_type() -> Vec<String> {
    EventKind::ALL.iter().map(|k| k.name().to_string()).collect()
}

/// The types a subscription names; none (kept as every type, those to come included) when
/// left out.
fn checked_types(types: Option<Vec<String>>) -> Result<Vec<String>, ScimError> {
    let Some(mut types) = types else { return Ok(Vec::new()) };
    if let Some(unknown) = types.iter().find(|t| EventKind::from_name(t).is_none()) {
        return Err(bad(format!(
            "types: \"{unknown}\" is not an event type; the types are {}",
            every_type().join(", ")
        )));
    }
    types.sort();
    types.dedup();
    if types.is_empty() {
        return Err(bad("types: name at least one type (or leave the field out for every type)".into()));
    }
    Ok(types)
}

/// The organization id of an alias of the realm (`None`: the whole realm).
fn checked_organization(tenant: &Tenant, given: Option<&Value>) -> Result<Option<String>, ScimError> {
    match given {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(alias)) => match tenant.organizations.get(alias) {
            Some(org) => Ok(Some(org.id.clone())),
            None => Err(ScimError::not_found(format!(
                "organization \"{alias}\" does not exist in realm \"{}\"",
                tenant.name
            ))),
        },
        Some(other) => Err(bad(format!("organization: expected an alias or null, not {other}"))),
    }
}

/// Where a URL points, without its path and query (which may hold a receiver's
/// credential): what the realm's event log records of it.
fn origin(url: &str) -> String {
    let Ok(uri) = url.parse::<axum::http::Uri>() else { return String::new() };
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{}{port}", uri.scheme_str().unwrap_or("?"), uri.host().unwrap_or(""))
}

/// A subscription as the API shows it: never its secret.
fn shown(tenant: &Tenant, w: &StoredWebhook) -> Value {
    let alias = w.organization.as_ref().and_then(|id| tenant.organizations.values().find(|o| &o.id == id));
    json!({
        "id": w.id,
        "url": w.url,
        "types": if w.types.is_empty() { every_type() } else { w.types.clone() },
        "organization": alias.map(|o| o.alias.clone()),
        "enabled": w.enabled,
        "disabledReason": w.disabled_reason,
        "createdAt": w.created_at,
        "delivered": { "through": w.cursor, "failingSince": w.failing_since, "attempts": w.attempts },
    })
}

fn attempt_json(a: &WebhookAttempt) -> Value {
    json!({
        "event": a.event_seq,
        "messageId": a.message_id,
        "at": a.attempted_at,
        "status": a.status,
        "latencyMs": a.latency_ms,
        "response": a.response,
    })
}

/// `GET` (list) and `POST` (create) on `/admin/realms/{realm}/webhooks`.
pub async fn webhooks(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let tenant = admin_realm(&app, &headers, &realm)?;
        let name = realm.clone();
        let existing = with_store(&app, move |store| store.webhooks(&name)).await?;
        match method {
            Method::GET => {
                let listed: Vec<_> = existing.iter().map(|w| shown(&tenant, w)).collect();
                Ok(Json(json!({ "realm": realm, "webhooks": listed })).into_response())
            }
            Method::POST => {
                let wanted: Subscription = json_body(&body, SHAPE)?;
                if existing.len() >= MAX_WEBHOOKS {
                    return Err(ScimError::new(
                        StatusCode::CONFLICT,
                        format!("realm \"{realm}\" has {MAX_WEBHOOKS} webhooks, the most it may have"),
                    ));
                }
                let url = checked_url(wanted.url.as_deref().ok_or_else(|| bad(format!("expected {SHAPE}")))?)?;
                let webhook = StoredWebhook {
                    id: uuid::Uuid::new_v4().to_string(),
                    realm: realm.clone(),
                    url,
                    types: checked_types(wanted.types)?,
                    organization: checked_organization(&tenant, wanted.organization.as_ref())?,
                    secret: crate::webhooks::new_secret(),
                    created_at: now_millis(),
                    enabled: wanted.enabled.unwrap_or(true),
                    disabled_reason: None,
                    cursor: 0,
                    attempts: 0,
                    failing_since: None,
                    next_attempt_at: 0,
                };
                let details = json!({ "endpoint": origin(&webhook.url), "types": webhook.types });
                let created = event("WEBHOOK_CREATED", &webhook.id, details, &request_id);
                let record = webhook.clone();
                with_store(&app, move |store| store.create_webhook(&record, &created)).await?;
                let mut body = shown(&tenant, &webhook);
                body["secret"] = json!(webhook.secret);
                body["note"] = json!("the secret is shown this once: verify deliveries with it (Standard Webhooks)");
                let location = format!("/admin/realms/{realm}/webhooks/{}", webhook.id);
                Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)], Json(body)).into_response())
            }
            other => Err(not_allowed(&other, "GET, POST")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The subscription `id` of a realm, or 404.
async fn find(app: &Arc<App>, realm: &str, id: &str) -> Result<StoredWebhook, ScimError> {
    let name = realm.to_string();
    let all = with_store(app, move |store| store.webhooks(&name)).await?;
    all.into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ScimError::not_found(format!("realm \"{realm}\" has no webhook \"{id}\"")))
}

/// `GET`, `PATCH` and `DELETE` on `/admin/realms/{realm}/webhooks/{id}`.
pub async fn webhook(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path((realm, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let tenant = admin_realm(&app, &headers, &realm)?;
        let mut webhook = find(&app, &realm, &id).await?;
        match method {
            Method::GET => {
                let (name, wanted) = (realm.clone(), id.clone());
                let recent =
                    with_store(&app, move |store| store.webhook_attempts(&name, &wanted, RECENT_DELIVERIES)).await?;
                let mut body = shown(&tenant, &webhook);
                body["recentDeliveries"] = recent.iter().map(attempt_json).collect();
                Ok(Json(body).into_response())
            }
            Method::PATCH => {
                let change: Subscription = optional_json(&body, SHAPE)?;
                if let Some(url) = &change.url {
                    webhook.url = checked_url(url)?;
                }
                if change.types.is_some() {
                    webhook.types = checked_types(change.types)?;
                }
                if change.organization.is_some() {
                    webhook.organization = checked_organization(&tenant, change.organization.as_ref())?;
                }
                if let Some(enabled) = change.enabled {
                    webhook.enabled = enabled;
                }
                let details =
                    json!({ "endpoint": origin(&webhook.url), "types": webhook.types, "enabled": webhook.enabled });
                let changed = event("WEBHOOK_UPDATED", &webhook.id, details, &request_id);
                let record = webhook.clone();
                if !with_store(&app, move |store| store.update_webhook(&record, &changed)).await? {
                    return Err(ScimError::not_found(format!("realm \"{realm}\" has no webhook \"{id}\"")));
                }
                let webhook = find(&app, &realm, &id).await?;
                Ok(Json(shown(&tenant, &webhook)).into_response())
            }
            Method::DELETE => {
                let deleted = event("WEBHOOK_DELETED", &id, json!({ "endpoint": origin(&webhook.url) }), &request_id);
                let (name, wanted) = (realm.clone(), id.clone());
                with_store(&app, move |store| store.delete_webhook(&name, &wanted, &deleted)).await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            other => Err(not_allowed(&other, "GET, PATCH, DELETE")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /admin/realms/{realm}/webhooks/{id}/deliveries`: the delivery log, newest first.
pub async fn deliveries(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    let result = async {
        admin_realm(&app, &headers, &realm)?;
        if method != Method::GET {
            return Err(not_allowed(&method, "GET"));
        }
        find(&app, &realm, &id).await?;
        let limit = crate::store::ATTEMPTS_KEPT as u32;
        let (name, wanted) = (realm.clone(), id.clone());
        let log = with_store(&app, move |store| store.webhook_attempts(&name, &wanted, limit)).await?;
        let log: Vec<_> = log.iter().map(attempt_json).collect();
        Ok(Json(json!({ "webhook": id, "deliveries": log })).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /admin/realms/{realm}/webhooks/{id}/test`: one signed `WEBHOOK_TEST` message to the
/// endpoint, sent now (outside the subscription's order, and kept out of its log); the
/// answer says what the endpoint answered.
pub async fn test(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    let result = async {
        admin_realm(&app, &headers, &realm)?;
        if method != Method::POST {
            return Err(not_allowed(&method, "POST"));
        }
        let webhook = find(&app, &realm, &id).await?;
        let event = StoredEvent {
            seq: 0,
            time: now_millis(),
            kind: "WEBHOOK_TEST".into(),
            resource_id: webhook.id.clone(),
            related_id: None,
            details: "{}".into(),
            request_id: request_id.0.clone(),
            organization: None,
        };
        let attempt = crate::webhooks::test(&app, &webhook, &event).await;
        Ok(Json(attempt_json(&attempt)).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
