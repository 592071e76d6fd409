//! The admin API for bearer tokens: issue a token for a realm or for one organization of
//! it (shown once, kept as a hash), list them, revoke one. A change takes effect on the
//! next request.

use super::RequestId;
use super::admin::{admin_realm, event, not_allowed, optional_json, unknown_realm, with_store};
use super::error::ScimError;
use crate::app::App;
use crate::auth::{TokenHash, new_token};
use crate::store::Store as _;
use crate::store::StoredToken;
use crate::tenants::IssuedToken;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// What to issue.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    /// Limit the token to this organization (alias).
    organization: Option<String>,
    /// A name for the operator's own records.
    #[serde(default)]
    label: String,
}

/// Reloads a realm's issued tokens into its tenant, so the change holds from the next request.
pub(super) async fn reload(app: &Arc<App>, realm: &str) -> Result<(), ScimError> {
    let name = realm.to_string();
    let issued = IssuedToken::from_stored(realm, with_store(app, move |store| store.tokens(&name)).await?);
    app.tenants.update(realm, |tenant| tenant.issued = issued).ok_or_else(|| unknown_realm(realm))?;
    Ok(())
}

/// `GET` (list) and `POST` (issue) on `/admin/realms/{realm}/tokens`.
pub async fn tokens(
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
                let name = realm.clone();
                let stored = with_store(&app, move |store| store.tokens(&name)).await?;
                let listed: Vec<_> = stored
                    .into_iter()
                    .map(|t| json!({ "id": t.id, "organization": t.organization, "label": t.label, "createdAt": t.created_at }))
                    .collect();
                Ok(Json(json!({ "realm": realm, "tokens": listed })).into_response())
            }
            Method::POST => {
                let wanted: Issue = optional_json(&body, r#"{"organization": "alias" (optional), "label": "…"}"#)?;
                if let Some(alias) = &wanted.organization
                    && !tenant.organizations.contains_key(alias)
                {
                    return Err(ScimError::not_found(format!(
                        "organization \"{alias}\" does not exist in realm \"{realm}\""
                    )));
                }
                let token = new_token();
                let stored = StoredToken {
                    id: uuid::Uuid::new_v4().to_string(),
                    realm: realm.clone(),
                    organization: wanted.organization.clone(),
                    hash: TokenHash::of(&token).to_string(),
                    label: wanted.label.clone(),
                    created_at: crate::store::now_millis(),
                };
                let record = stored.clone();
                let details = json!({ "organization": stored.organization, "label": stored.label });
                let issued = event("TOKEN_ISSUED", &stored.id, details, &request_id);
                with_store(&app, move |store| store.insert_token(&record, &issued)).await?;
                reload(&app, &realm).await?;
                let body = json!({
                    "id": stored.id,
                    "token": token,
                    "organization": stored.organization,
                    "label": stored.label,
                    "createdAt": stored.created_at,
                    "note": "the token is shown this once; only its hash is kept",
                });
                Ok((StatusCode::CREATED, Json(body)).into_response())
            }
            other => Err(not_allowed(&other, "GET, POST")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `DELETE /admin/realms/{realm}/tokens/{id}`: revokes a token at once.
pub async fn token(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    let result = async {
        admin_realm(&app, &headers, &realm)?;
        if method != Method::DELETE {
            return Err(not_allowed(&method, "DELETE"));
        }
        let (name, token) = (realm.clone(), id.clone());
        let revoked_event = event("TOKEN_REVOKED", &id, json!({}), &request_id);
        let revoked = with_store(&app, move |store| store.revoke_token(&name, &token, &revoked_event)).await?;
        if !revoked {
            return Err(ScimError::not_found(format!("realm \"{realm}\" has no token {id}")));
        }
        reload(&app, &realm).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
