//! `PUT` and `DELETE` on `/admin/realms/{realm}/organizations/{alias}/members/{user}`: the
//! operator adds a realm user to an organization as an unmanaged member (Keycloak's "add
//! existing user"), or ends its membership. A user created through the organization's SCIM
//! endpoint is a managed member already; this is how a user the realm had before joins one.

use super::RequestId;
use super::admin::{admin_realm, not_allowed, with_store};
use super::error::ScimError;
use crate::app::App;
use crate::store::Store as _;
use crate::store::{Access, AdminEvent, DirectoryError, EventKind, MembershipType};
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn member(
    State(app): State<Arc<App>>,
    Extension(request_id): Extension<RequestId>,
    method: Method,
    headers: HeaderMap,
    Path((realm, alias, user)): Path<(String, String, String)>,
) -> Response {
    let result = async {
        let tenant = admin_realm(&app, &headers, &realm)?;
        let organization = tenant
            .organizations
            .get(&alias)
            .map(|o| o.id.clone())
            .ok_or_else(|| ScimError::not_found(format!("realm \"{realm}\" has no organization \"{alias}\"")))?;
        let joining = match method {
            Method::PUT => true,
            Method::DELETE => false,
            other => return Err(not_allowed(&other, "PUT, DELETE")),
        };
        let request_id = request_id.0.clone();
        let changed = with_store(&app, move |store| {
            let mut tx = store.begin(&realm, Access::Write, &request_id)?;
            let Some(found) = tx.get_user(&user)? else {
                return Err(DirectoryError::NotFound(format!("user \"{user}\"")));
            };
            let (changed, kind) = if joining {
                let joined = tx.join_organization(&organization, &user, MembershipType::Unmanaged)?;
                (joined, EventKind::OrganizationMemberJoined)
            } else {
                (tx.remove_organization_member(&organization, &user)?, EventKind::OrganizationMemberLeft)
            };
            if changed {
                let details = serde_json::json!({ "userName": found.username, "by": "operator" }).to_string();
                let event = AdminEvent { kind, resource_id: user, related_id: Some(organization), details };
                tx.emit(&event)?;
            }
            tx.commit()?;
            Ok(changed)
        })
        .await?;
        Ok(match (joining, changed) {
            (true, true) => StatusCode::CREATED,
            (_, true) | (true, false) => StatusCode::NO_CONTENT,
            (false, false) => return Err(ScimError::not_found(format!("the user is no member of \"{alias}\""))),
        }
        .into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
