//! A tenant's configuration as the handler receives it on every call, and the settings
//! the stock handler reads from it: the dialect of one tenant changes with
//! `scim-host admin realm set REALM --setting NAME=VALUE`, without a new module.
//!
//! | setting | values | default |
//! |---|---|---|
//! | `group_patch_response` | `204` (no body), `200` (the group) | `204` |
//! | `upsert_by` | `externalId,userName`, `externalId`, `userName`, `off` | `externalId,userName` |
//! | `username_ignores_case` | `true`, `false` | `true` |
//!
//! A setting the stock handler does not know is left to plugins (a `Profile` hook reads
//! any of them with [`Config::setting`]); a known one with a value it does not know
//! answers every request 500 with the reason, rather than serve a dialect nobody chose.

use crate::error::{ScimError, ScimResult};
use std::collections::BTreeMap;

/// What the host hands the handler about the tenant on every call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The realm's name, as in URLs.
    pub realm: String,
    /// The realm's settings, by name.
    pub settings: BTreeMap<String, String>,
}

impl Config {
    /// A setting's value, if the realm has it.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }
}

/// What a PATCH of a group answers (RFC 7644 §3.5.2 allows either).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupPatchResponse {
    /// 204 with the new ETag, unless the request names `attributes`: a client adding one
    /// member to a group of thousands does not read them all back.
    NoContent,
    /// 200 with the group, members included, as clients that read the answer expect.
    Resource,
}

/// The stock handler's settings, read from a [`Config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `group_patch_response`.
    pub group_patch_response: GroupPatchResponse,
    /// `upsert_by` names `externalId`: a POST whose `externalId` a resource of the scope
    /// already has updates that resource (200) instead of answering 409.
    pub upsert_by_external_id: bool,
    /// `upsert_by` names `userName`: a POST of a user whose `userName` is taken updates
    /// that user (200) instead of answering 409.
    pub upsert_by_username: bool,
    /// `username_ignores_case`: whether `userName` filters and the upsert by `userName`
    /// ignore case (RFC 7643 defines it so). With `false`, `alice` neither matches nor
    /// adopts `Alice`; the store still refuses both at once.
    pub username_ignores_case: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            group_patch_response: GroupPatchResponse::NoContent,
            upsert_by_external_id: true,
            upsert_by_username: true,
            username_ignores_case: true,
        }
    }
}

impl Settings {
    /// The settings a config names, the defaults for the rest.
    pub fn from_config(config: &Config) -> ScimResult<Settings> {
        let mut settings = Settings::default();
        if let Some(value) = config.setting("group_patch_response") {
            settings.group_patch_response = match value.trim() {
                "204" => GroupPatchResponse::NoContent,
                "200" => GroupPatchResponse::Resource,
                _ => return Err(invalid("group_patch_response", value, "204 or 200")),
            };
        }
        if let Some(value) = config.setting("upsert_by") {
            (settings.upsert_by_external_id, settings.upsert_by_username) = (false, false);
            if !value.trim().eq_ignore_ascii_case("off") {
                for key in value.split(',').map(str::trim) {
                    match key {
                        "externalId" => settings.upsert_by_external_id = true,
                        "userName" => settings.upsert_by_username = true,
                        _ => {
                            return Err(invalid(
                                "upsert_by",
                                value,
                                "externalId,userName, externalId, userName or off",
                            ));
                        }
                    }
                }
            }
        }
        if let Some(value) = config.setting("username_ignores_case") {
            settings.username_ignores_case = match value.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(invalid("username_ignores_case", value, "true or false")),
            };
        }
        Ok(settings)
    }
}

fn invalid(name: &str, value: &str, expected: &str) -> ScimError {
    ScimError::new(
        500,
        format!("the realm's setting {name} = \"{value}\" is not one this handler knows; expected {expected}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config { realm: "r".into(), settings: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    #[test]
    fn each_setting_reads_its_documented_values_and_refuses_others() {
        assert_eq!(Settings::from_config(&config(&[])).unwrap(), Settings::default());
        let s = Settings::from_config(&config(&[
            ("group_patch_response", "200"),
            ("upsert_by", "externalId"),
            ("username_ignores_case", "false"),
            ("tier", "gold"),
        ]))
        .unwrap();
        assert_eq!(s.group_patch_response, GroupPatchResponse::Resource);
        assert!(s.upsert_by_external_id && !s.upsert_by_username && !s.username_ignores_case);
        let off = Settings::from_config(&config(&[("upsert_by", "off")])).unwrap();
        assert!(!off.upsert_by_external_id && !off.upsert_by_username);
        for (name, value) in [("group_patch_response", "201"), ("upsert_by", "email"), ("username_ignores_case", "yes")]
        {
            let error = Settings::from_config(&config(&[(name, value)])).unwrap_err();
            assert_eq!(error.status, 500);
            assert!(error.detail.contains(name) && error.detail.contains(value), "{}", error.detail);
        }
    }
}
