//! What every SCIM operation works with: the directory, the scope, the request, and the
//! rules shared by Users and Groups (meta, entity tags, preconditions, admin events).

use crate::directory::{AdminEvent, Directory, EventKind};
use crate::error::{ScimError, ScimResult};
use crate::http::{Request, Response};
use crate::profile::Profile;
use crate::settings::{Config, Settings};
use serde_json::Value;

/// A resource an event is about (see [`Ctx::event_resource`]).
pub enum Resource<'a> {
    /// A user, as just written.
    User(&'a crate::directory::User),
    /// A group, as just written.
    Group(&'a crate::directory::Group),
}

/// Who a request is addressed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole realm.
    Realm,
    /// One organization of the realm.
    Organization {
        /// The organization's id.
        id: String,
        /// Its alias, as in URLs.
        alias: String,
    },
}

impl Scope {
    /// The organization id, in organization scope.
    pub fn organization(&self) -> Option<&str> {
        match self {
            Scope::Realm => None,
            Scope::Organization { id, .. } => Some(id),
        }
    }
}

/// The handler's view of one request.
pub struct Ctx<'a> {
    /// The directory of the call.
    pub dir: &'a mut dyn Directory,
    /// Who the request is addressed to.
    pub scope: Scope,
    /// The request.
    pub request: &'a Request,
    /// The resource types served and the handler's rules.
    pub profile: &'static Profile,
    /// The tenant's configuration, as the host handed it over.
    pub config: &'a Config,
    /// The stock handler's settings, read from `config`.
    pub settings: Settings,
}

impl Ctx<'_> {
    /// The same directory and scope, answering another request (a `.search` body read
    /// as the query of a list).
    pub fn with_request<'b>(&'b mut self, request: &'b Request) -> Ctx<'b> {
        Ctx {
            dir: &mut *self.dir,
            scope: self.scope.clone(),
            request,
            profile: self.profile,
            config: self.config,
            settings: self.settings,
        }
    }

    /// Records an admin event.
    pub fn emit(
        &mut self,
        kind: EventKind,
        resource_id: &str,
        related_id: Option<&str>,
        details: Value,
    ) -> ScimResult<()> {
        self.dir.emit(&AdminEvent {
            kind,
            resource_id: resource_id.to_string(),
            related_id: related_id.map(str::to_string),
            details: details.to_string(),
        })?;
        Ok(())
    }

    /// The resource as SCIM JSON, for an event's `resource` (what the host's webhooks
    /// deliver): every attribute but the ones derived from elsewhere (a user's `groups`, a
    /// group's `members`, which member events carry).
    pub fn event_resource(&mut self, resource: Resource<'_>) -> ScimResult<Value> {
        let projection = crate::projection::Projection::default();
        let text = match resource {
            Resource::User(user) => crate::render::user(self, user, &[], &projection)?,
            Resource::Group(group) => crate::render::group(self, group, None, &projection),
        };
        let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(doc) = value.as_object_mut() {
            doc.remove("groups");
        }
        Ok(value)
    }

    /// The URL of a resource.
    pub fn location(&self, endpoint: &str, id: &str) -> String {
        // Not `format!`: a group renders one per member, and the formatting machinery
        // cost more than the rest of a member's rendering.
        [self.request.base_url.as_str(), "/", endpoint, "/", id].concat()
    }

    /// Checks `If-Match` before a change: 412 when the client's version is stale.
    pub fn check_if_match(&self, version: u64) -> ScimResult<()> {
        if let Some(expected) = self.request.header("if-match")
            && !etag_matches(expected, version)
        {
            return Err(ScimError::new(
                412,
                format!("If-Match: {expected} does not match the current version {}", etag(version)),
            ));
        }
        Ok(())
    }

    /// Whether `If-None-Match` names the current version (the answer is then 304).
    pub fn not_modified(&self, version: u64) -> bool {
        self.request.header("if-none-match").is_some_and(|v| etag_matches(v, version))
    }
}

/// The entity tag of a version.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

fn etag_matches(header: &str, version: u64) -> bool {
    let current = version.to_string();
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == current)
}

/// A resource response: its JSON text and ETag, plus a `Location` header when given
/// (a 201, or a POST that adopted an existing resource).
pub fn resource_response(status: u16, body: String, version: u64, location: Option<String>) -> Response {
    let response = Response::json_text(status, body).with_header("etag", etag(version));
    match location {
        Some(location) => response.with_header("location", location),
        None => response,
    }
}
