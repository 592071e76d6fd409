//! A tenant's own SCIM handler, built on the stock one. It changes two things:
//!
//! - **userName comes from the primary email** (else the first), lowercased, whatever
//!   the identity provider sends as userName: on POST, PUT, PATCH and in Bulk alike. A
//!   realm with the setting `username_lowercase=false` keeps the email's case.
//! - **A badge extension schema** (`urn:example:params:scim:schemas:extension:badge:2.0:User`)
//!   is accepted, stored, filterable and published at `/Schemas` and `/ResourceTypes`.
//!
//! Everything else (upsert by externalId, membership reconciliation, filters, PATCH,
//! paging, errors) is the stock handler's, because [`PROFILE`] is handed to the same
//! library code.

use scim_guest::error::{ScimError, ScimResult};
use scim_guest::schema::{AttrDef, ENTERPRISE_USER, GROUP_TYPE, Kind, ResourceType, Schema, USER, attr, string};
use scim_guest::serde_json::{Map, Value};
use scim_guest::{Config, Profile};

/// The URN of the badge extension.
pub const BADGE_SCHEMA: &str = "urn:example:params:scim:schemas:extension:badge:2.0:User";

const BADGE_ATTRIBUTES: [AttrDef; 3] = [
    string("badgeNumber", "The number printed on the badge.").case_exact(),
    string("clearance", "Which doors the badge opens.").canonical(&["visitor", "staff", "restricted"]),
    attr("expires", Kind::DateTime, "When the badge stops opening doors."),
];

/// The badge extension schema.
pub static BADGE: Schema = Schema {
    id: BADGE_SCHEMA,
    name: "Badge",
    description: "The building badge of an employee",
    attributes: &BADGE_ATTRIBUTES,
};

/// Users: the core schema with the Enterprise and badge extensions.
pub static USER_TYPE: ResourceType =
    ResourceType { name: "User", endpoint: "/Users", schema: &USER, extensions: &[&ENTERPRISE_USER, &BADGE] };

/// What this guest serves.
pub static PROFILE: Profile = Profile { user: &USER_TYPE, group: &GROUP_TYPE, prepare_user: user_name_from_email };

/// Sets userName to the primary (else the first) email, lowercased unless the realm's
/// setting `username_lowercase` is `false`. A user without an email keeps the userName it
/// was sent; one with neither is refused.
pub fn user_name_from_email(user: &mut Map<String, Value>, config: &Config) -> ScimResult<()> {
    let emails = user.get("emails").and_then(Value::as_array);
    let primary = emails
        .and_then(|list| list.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or_else(|| list.first()));
    match primary.and_then(|e| e.get("value")).and_then(Value::as_str) {
        Some(email) => {
            let lowercase = config.setting("username_lowercase") != Some("false");
            let username = if lowercase { email.to_lowercase() } else { email.to_string() };
            user.insert("userName".into(), Value::String(username));
            Ok(())
        }
        None if user.contains_key("userName") => Ok(()),
        None => Err(ScimError::invalid_value(
            "a user needs an email address here: this realm derives userName from the primary email",
        )),
    }
}

#[cfg(target_arch = "wasm32")]
scim_guest::export_profile!(PROFILE);
