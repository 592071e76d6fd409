//! SCIM errors (RFC 7644 §3.12): one type for every failure the SCIM logic reports, and
//! the one place that renders it.

use crate::directory::DirectoryError;
use crate::http::Response;
use serde_json::json;

/// The `scimType` values RFC 7644 §3.12 defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimType {
    /// The filter is not valid.
    InvalidFilter,
    /// The filter matches more resources than a response may carry.
    TooMany,
    /// A value must be unique and is not.
    Uniqueness,
    /// The attribute may not be changed.
    Mutability,
    /// The body is not valid JSON or not the right shape.
    InvalidSyntax,
    /// The PATCH path is not valid.
    InvalidPath,
    /// The PATCH path matches nothing.
    NoTarget,
    /// A value is missing or not acceptable.
    InvalidValue,
    /// The version (`If-Match`) does not match.
    InvalidVers,
    /// The request would carry sensitive information in a URL.
    Sensitive,
}

impl ScimType {
    /// The keyword as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

/// A SCIM error: an HTTP status, an optional `scimType` and a detail for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimError {
    /// The HTTP status.
    pub status: u16,
    /// The `scimType`, where RFC 7644 defines one.
    pub scim_type: Option<ScimType>,
    /// What is wrong, for a person to read.
    pub detail: String,
}

/// What SCIM operations return.
pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    /// An error with a status and no `scimType`.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type: None, detail: detail.into() }
    }

    /// A 400 with the given `scimType`.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError { status: 400, scim_type: Some(scim_type), detail: detail.into() }
    }

    /// 400 invalidValue.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    /// 400 invalidSyntax.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    /// 400 invalidSyntax for a request body that does not parse, saying where it broke.
    pub fn body_not_json(error: impl std::fmt::Display) -> Self {
        Self::invalid_syntax(format!("the request body is not valid JSON: {error}"))
    }

    /// 400 invalidSyntax for a request body that is JSON but not an object.
    pub fn body_not_object() -> Self {
        Self::invalid_syntax("the request body must be a JSON object")
    }

    /// 404 for a resource of the given type.
    pub fn not_found(resource: &str, id: &str) -> Self {
        Self::new(404, format!("{resource} \"{id}\" not found"))
    }

    /// 409 uniqueness.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError { status: 409, scim_type: Some(ScimType::Uniqueness), detail: detail.into() }
    }

    /// The RFC 7644 §3.12 body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t.as_str());
        }
        body
    }

    /// The HTTP response carrying this error.
    pub fn into_response(self) -> Response {
        Response::json(self.status, &self.to_json())
    }
}

impl From<DirectoryError> for ScimError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound(id) => ScimError::new(404, format!("resource \"{id}\" not found")),
            DirectoryError::Conflict { constraint, detail } => {
                ScimError::uniqueness(format!("{detail} (constraint {constraint})"))
            }
            DirectoryError::Invalid(why) => ScimError::invalid_value(why),
            DirectoryError::Unavailable(why) => ScimError::new(503, format!("store unavailable: {why}")),
            // The host's own: it stops the call before a guest sees them.
            e @ (DirectoryError::Transient(_) | DirectoryError::PastDeadline) => ScimError::new(503, e.to_string()),
        }
    }
}
