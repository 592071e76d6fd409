//! The admin API for realms and organizations: create, list, read, change (limits and
//! guest settings) and delete them while the server runs. What the admin API sets is kept
//! in the store and wins over the configuration; realms and organizations the
//! configuration declares cannot be deleted here (the next start would bring them back).

use super::RequestId;
use super::admin::{admin_realm, authenticate, event, json_body, not_allowed, unknown_realm, with_store};
use super::error::ScimError;
use crate::app::App;
use crate::config::{Limits, check_name};
use crate::limits::RealmLimiter;
use crate::store::Store as _;
use crate::store::StoredRealm;
use crate::tenants::{Overrides, RealmSpec, Tenant, Tenants};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A realm as the admin API shows it.
fn realm_json(app: &App, tenant: &Tenant) -> Value {
    let organizations: Vec<_> = tenant
        .organizations_by_alias()
        .into_iter()
        .map(|o| json!({ "alias": o.alias, "id": o.id, "configured": tenant.configured_organizations.contains(&o.alias) }))
        .collect();
    let limits_from = match (&tenant.overrides.limits, app.config.realms.get(&tenant.name)) {
        (Some(_), _) => "admin",
        (None, Some(realm)) if realm.limits.is_some() => "configuration",
        (None, _) => "server",
    };
    let settings: BTreeMap<_, _> = tenant.guest_config.settings.iter().cloned().collect();
    json!({
        "name": tenant.name,
        "store": app.store.store_of(&tenant.name),
        "managed": tenant.managed,
        "module": tenant.module.digest,
        "organizations": organizations,
        "limits": tenant.limits,
        "limitsFrom": limits_from,
        "settings": settings,
        "settingsFrom": if tenant.overrides.settings.is_some() { "admin" } else if tenant.managed { "server" } else { "configuration" },
        "tokens": { "configured": tenant.tokens.len(), "issued": tenant.issued.len() },
    })
}

/// Limits given in a request, laid over `current`: fields left out keep their value, a
/// `null` lifts an optional limit (rate, burst, concurrency).
fn merged_limits(current: &Limits, given: &Value) -> Result<Limits, ScimError> {
    let bad = |detail: String| ScimError::new(StatusCode::BAD_REQUEST, detail);
    let Value::Object(given) = given else {
        return Err(bad("limits: expected an object such as {\"requests_per_second\": 50}".into()));
    };
    let mut limits = serde_json::to_value(current).expect("limits serialize");
    for (key, value) in given {
        limits[key] = value.clone();
    }
    let limits: Limits = serde_json::from_value(limits).map_err(|e| bad(format!("limits: {e}")))?;
    limits.check("limits").map_err(|e| bad(e.to_string()))?;
    Ok(limits)
}

/// Settings given in a request: an object of strings.
fn settings(given: &Value) -> Result<BTreeMap<String, String>, ScimError> {
    serde_json::from_value(given.clone())
        .map_err(|e| ScimError::new(StatusCode::BAD_REQUEST, format!("settings: expected an object of strings: {e}")))
}

/// The body of `POST /admin/realms`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRealm {
    name: String,
    /// Over the server's limits.
    #[serde(default)]
    limits: Option<Value>,
    #[serde(default)]
    settings: Option<Value>,
    /// The store to create it in, by name (`default` when absent).
    #[serde(default)]
    store: Option<String>,
}

/// `GET` (list) and `POST` (create) on `/admin/realms`.
pub async fn realms(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        authenticate(&app, &headers)?;
        match method {
            Method::GET => {
                let realms: Vec<_> = app.tenants.all().iter().map(|t| realm_json(&app, t)).collect();
                Ok(Json(json!({ "realms": realms })).into_response())
            }
            Method::POST => {
                let wanted: NewRealm = json_body(
                    &body,
                    r#"{"name": "…", "limits": {…}, "settings": {…}, "store": "…" (all optional but name)}"#,
                )?;
                create_realm(&app, wanted, &request_id).await
            }
            other => Err(not_allowed(&other, "GET, POST")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn create_realm(app: &Arc<App>, wanted: NewRealm, request_id: &RequestId) -> Result<Response, ScimError> {
    check_name("realm", &wanted.name).map_err(|e| ScimError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let _changing = app.admin_changes.lock().await;
    if app.tenants.get(&wanted.name).is_some() {
        return Err(ScimError::new(StatusCode::CONFLICT, format!("realm \"{}\" already exists", wanted.name)));
    }
    let overrides = Overrides {
        limits: wanted.limits.as_ref().map(|l| merged_limits(&app.config.limits, l)).transpose()?,
        settings: wanted.settings.as_ref().map(settings).transpose()?,
    };
    let (limits, settings) = overrides.to_stored();
    let record = StoredRealm {
        name: wanted.name.clone(),
        managed: true,
        created_at: crate::store::now_millis(),
        limits,
        settings,
    };
    let created = event("REALM_CREATED", &wanted.name, json!({ "limits": overrides.limits }), request_id);
    let placed_in = wanted.store.clone();
    with_store(app, move |store| store.create_realm_in(placed_in.as_deref(), &record, &created)).await?;
    // Loading may compile (or read the compiled bundled module from disk): off the async threads.
    let app2 = app.clone();
    let name = wanted.name.clone();
    let tenant = tokio::task::spawn_blocking(move || {
        let spec = RealmSpec::managed(&app2.config, &name);
        Tenants::open(spec, overrides, app2.store.as_ref(), &app2.runtime, app2.modules.as_ref(), &app2.hosts)
    })
    .await
    .map_err(|e| ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("loading the realm panicked: {e}")))?
    .map_err(|e| ScimError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")))?;
    let body = realm_json(app, &tenant);
    app.tenants.insert(tenant);
    tracing::info!(realm = %wanted.name, request_id = %request_id.0, "realm created");
    let location = format!("/admin/realms/{}", wanted.name);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(body)).into_response())
}

/// The body of `PATCH /admin/realms/{realm}`: each field left out stays as it is; `null`
/// returns it to what the configuration (or the server) gives.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RealmChange {
    #[serde(default, deserialize_with = "present")]
    limits: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    settings: Option<Value>,
}

/// Tells a field given as `null` (`Some(Value::Null)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// `GET`, `PATCH` and `DELETE` on `/admin/realms/{realm}`.
pub async fn realm(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let tenant = admin_realm(&app, &headers, &realm)?;
        match method {
            Method::GET => Ok(Json(realm_json(&app, &tenant)).into_response()),
            Method::PATCH => {
                let change: RealmChange = json_body(&body, r#"{"limits": {…} or null, "settings": {…} or null}"#)?;
                change_realm(&app, &realm, change, &request_id).await
            }
            Method::DELETE => delete_realm(&app, &tenant, &request_id).await,
            other => Err(not_allowed(&other, "GET, PATCH, DELETE")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn change_realm(
    app: &Arc<App>,
    realm: &str,
    change: RealmChange,
    request_id: &RequestId,
) -> Result<Response, ScimError> {
    let _changing = app.admin_changes.lock().await;
    let tenant = app.tenants.get(realm).ok_or_else(|| unknown_realm(realm))?;
    let mut overrides = tenant.overrides.clone();
    match &change.limits {
        None => {}
        Some(Value::Null) => overrides.limits = None,
        Some(given) => overrides.limits = Some(merged_limits(&tenant.limits, given)?),
    }
    match &change.settings {
        None => {}
        Some(Value::Null) => overrides.settings = None,
        Some(given) => overrides.settings = Some(settings(given)?),
    }
    let (limits, settings) = overrides.to_stored();
    let details = json!({ "limits": change.limits, "settings": change.settings.as_ref().map(|_| "changed") });
    let changed = event("REALM_UPDATED", realm, details, request_id);
    let name = realm.to_string();
    let known =
        with_store(app, move |store| store.update_realm(&name, limits.as_deref(), settings.as_deref(), &changed))
            .await?;
    if !known {
        return Err(unknown_realm(realm));
    }
    let (effective, settings) = overrides.over(&RealmSpec::of(&app.config, realm));
    app.tenants
        .update(realm, |t| {
            // A new limiter: the new rate and concurrency hold from the next request.
            if t.limits != effective {
                t.limiter = Arc::new(RealmLimiter::shared(&effective, app.hosts.clone()));
            }
            t.limits = effective;
            t.guest_config.settings = settings.into_iter().collect();
            t.overrides = overrides;
        })
        .ok_or_else(|| unknown_realm(realm))?;
    let tenant = app.tenants.get(realm).ok_or_else(|| unknown_realm(realm))?;
    tracing::info!(realm, request_id = %request_id.0, "realm changed");
    Ok(Json(realm_json(app, &tenant)).into_response())
}

async fn delete_realm(app: &Arc<App>, tenant: &Tenant, request_id: &RequestId) -> Result<Response, ScimError> {
    let realm = tenant.name.clone();
    if !tenant.managed {
        return Err(ScimError::new(
            StatusCode::CONFLICT,
            format!("realm \"{realm}\" is declared in the configuration file; remove it there and restart"),
        ));
    }
    let _changing = app.admin_changes.lock().await;
    // Stop serving first: requests already running finish, and a write that starts
    // after the store has dropped the realm is refused by the store.
    app.tenants.remove(&realm).ok_or_else(|| unknown_realm(&realm))?;
    let name = realm.clone();
    with_store(app, move |store| store.delete_realm(&name)).await?;
    let name = realm.clone();
    super::modules::with_modules(app, "forgetting the realm's modules", move |m| m.forget(&name)).await?;
    app.diagnostics.forget(&realm);
    tracing::info!(realm, request_id = %request_id.0, "realm deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of `POST /admin/realms/{realm}/organizations`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrganization {
    alias: String,
    /// The display name; the alias when absent.
    #[serde(default)]
    name: Option<String>,
}

fn organization_json(realm: &str, tenant: &Tenant, alias: &str, id: &str) -> Value {
    json!({
        "alias": alias,
        "id": id,
        "configured": tenant.configured_organizations.contains(alias),
        "scim": format!("/realms/{realm}/scim/v2/organizations/{alias}"),
    })
}

/// `GET` (list) and `POST` (create) on `/admin/realms/{realm}/organizations`.
pub async fn organizations(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path(realm): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let tenant = admin_realm(&app, &headers, &realm)?;
        match method {
            Method::GET => {
                let listed: Vec<_> = tenant
                    .organizations_by_alias()
                    .into_iter()
                    .map(|o| organization_json(&realm, &tenant, &o.alias, &o.id))
                    .collect();
                Ok(Json(json!({ "realm": realm, "organizations": listed })).into_response())
            }
            Method::POST => {
                let wanted: NewOrganization = json_body(&body, r#"{"alias": "…", "name": "…" (optional)}"#)?;
                check_name("organization", &wanted.alias)
                    .map_err(|e| ScimError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
                let _changing = app.admin_changes.lock().await;
                let display = wanted.name.clone().unwrap_or_else(|| wanted.alias.clone());
                let created = event("ORGANIZATION_CREATED", &wanted.alias, json!({ "name": display }), &request_id);
                let (name, alias) = (realm.clone(), wanted.alias.clone());
                let organization =
                    with_store(&app, move |store| store.create_organization(&name, &alias, &display, &created)).await?;
                let reference =
                    crate::bindings::types::OrganizationRef { id: organization.id.clone(), alias: organization.alias };
                app.tenants
                    .update(&realm, |t| {
                        t.organizations.insert(wanted.alias.clone(), reference);
                    })
                    .ok_or_else(|| unknown_realm(&realm))?;
                let body = organization_json(&realm, &tenant, &wanted.alias, &organization.id);
                let location = format!("/admin/realms/{realm}/organizations/{}", wanted.alias);
                Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(body)).into_response())
            }
            other => Err(not_allowed(&other, "GET, POST")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET` and `DELETE` on `/admin/realms/{realm}/organizations/{alias}`. Deleting takes the
/// organization's groups, memberships and tokens with it; its users stay in the realm.
pub async fn organization(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path((realm, alias)): Path<(String, String)>,
) -> Response {
    let result = async {
        let tenant = admin_realm(&app, &headers, &realm)?;
        let unknown = || ScimError::not_found(format!("realm \"{realm}\" has no organization \"{alias}\""));
        let id = tenant.organizations.get(&alias).map(|o| o.id.clone()).ok_or_else(unknown)?;
        match method {
            Method::GET => Ok(Json(organization_json(&realm, &tenant, &alias, &id)).into_response()),
            Method::DELETE => {
                if tenant.configured_organizations.contains(&alias) {
                    return Err(ScimError::new(
                        StatusCode::CONFLICT,
                        format!(
                            "organization \"{alias}\" is declared in the configuration of realm \"{realm}\"; \
                             remove it there and restart"
                        ),
                    ));
                }
                let _changing = app.admin_changes.lock().await;
                let deleted = event("ORGANIZATION_DELETED", &alias, json!({ "id": id }), &request_id);
                let (name, org) = (realm.clone(), alias.clone());
                if !with_store(&app, move |store| store.delete_organization(&name, &org, &deleted)).await? {
                    return Err(unknown());
                }
                app.tenants
                    .update(&realm, |t| {
                        t.organizations.remove(&alias);
                    })
                    .ok_or_else(|| unknown_realm(&realm))?;
                // The tokens limited to it are gone from the store; drop them here too.
                super::tokens::reload(&app, &realm).await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            other => Err(not_allowed(&other, "GET, DELETE")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
