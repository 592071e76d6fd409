//! Sync diagnostics: what answers "why does Okta show provisioning errors?" without log
//! access. The host keeps, for each realm (and organization), the last failed SCIM
//! requests (method, path, status, `scimType`, `detail`, user agent, request id, time,
//! and the body, its passwords and secrets redacted, size-capped), and counts each
//! identity provider's requests and failures, by user agent.
//!
//! Kept in memory, by each host for the requests it answered: nothing a client sends
//! writes to the store (a flood of refused requests costs no writes), and everything is
//! bounded: entries per realm, bytes in all, and age.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// Failed requests kept per realm (organizations included).
pub const KEPT_PER_REALM: usize = 50;
/// The most of a request body kept, as JSON text, after redaction.
pub const BODY_KEPT: usize = 4096;
/// The most bytes all kept requests may take; beyond, the oldest go first.
const BYTES_KEPT: usize = 32 << 20;
/// How long a failed request is kept.
const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);
/// User agents told apart per realm; the rest count as `other`.
const AGENTS_PER_REALM: usize = 20;

/// Members whose values are secrets, wherever they are in a body (case ignored, and any
/// name containing one of these).
const SECRET_NAMES: [&str; 4] = ["password", "secret", "token", "credential"];

/// One failed request, as kept.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedRequest {
    /// Milliseconds since the epoch.
    pub at: i64,
    pub method: String,
    /// Below the SCIM base, with the query.
    pub path: String,
    /// The organization's alias, in organization scope.
    pub organization: Option<String>,
    pub status: u16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub user_agent: String,
    /// The identity provider the user agent names (`okta`, `entra`, … or `other`).
    pub identity_provider: &'static str,
    pub request_id: String,
    /// The request body, redacted and cut to [`BODY_KEPT`] bytes; `None` when it had none.
    pub body: Option<String>,
}

impl FailedRequest {
    fn bytes(&self) -> usize {
        256 + self.path.len()
            + self.user_agent.len()
            + self.detail.as_ref().map_or(0, String::len)
            + self.body.as_ref().map_or(0, String::len)
    }
}

/// Requests and failures of one user agent.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counts {
    pub requests: u64,
    /// Answers 4xx.
    pub client_errors: u64,
    /// Answers 5xx.
    pub server_errors: u64,
}

#[derive(Default)]
struct RealmLog {
    /// Oldest first, each with its number.
    failed: VecDeque<(u64, FailedRequest)>,
    agents: BTreeMap<String, Counts>,
}

#[derive(Default)]
struct Kept {
    realms: HashMap<String, RealmLog>,
    /// Every kept request, oldest first: (realm, number, `at`), to drop the oldest of all.
    order: VecDeque<(String, u64, i64)>,
    bytes: usize,
    next: u64,
}

/// What this host keeps.
#[derive(Default)]
pub struct Diagnostics {
    kept: Mutex<Kept>,
}

/// The identity provider a user agent names.
pub fn identity_provider(user_agent: &str) -> &'static str {
    let agent = user_agent.to_ascii_lowercase();
    let named = [
        ("okta", "okta"),
        ("azure", "entra"),
        ("microsoft", "entra"),
        ("entra", "entra"),
        ("authentik", "authentik"),
        ("onelogin", "onelogin"),
        ("jumpcloud", "jumpcloud"),
        ("google", "google"),
        ("pingidentity", "ping"),
        ("keycloak", "keycloak"),
    ];
    named.iter().find(|(word, _)| agent.contains(word)).map_or("other", |(_, idp)| idp)
}

impl Diagnostics {
    /// Counts an answered request of `realm` (a known realm: names are bounded by them).
    /// Every request comes here: names are copied only the first time they are counted.
    pub fn count(&self, realm: &str, user_agent: &str, status: u16) {
        let mut kept = self.kept.lock().expect("diagnostics");
        if !kept.realms.contains_key(realm) {
            kept.realms.insert(realm.to_string(), RealmLog::default());
        }
        let log = kept.realms.get_mut(realm).expect("present");
        let known = log.agents.contains_key(user_agent) || log.agents.len() < AGENTS_PER_REALM;
        let agent = if known { user_agent } else { "other" };
        if !log.agents.contains_key(agent) {
            log.agents.insert(agent.to_string(), Counts::default());
        }
        let counts = log.agents.get_mut(agent).expect("present");
        counts.requests += 1;
        match status {
            400..=499 => counts.client_errors += 1,
            500.. => counts.server_errors += 1,
            _ => {}
        }
    }

    /// Keeps a failed request of `realm`.
    pub fn keep(&self, realm: &str, failed: FailedRequest) {
        let mut kept = self.kept.lock().expect("diagnostics");
        let (now, number) = (failed.at, kept.next);
        kept.next += 1;
        kept.bytes += failed.bytes();
        kept.order.push_back((realm.to_string(), number, now));
        let log = kept.realms.entry(realm.to_string()).or_default();
        log.failed.push_back((number, failed));
        let dropped = match log.failed.len() > KEPT_PER_REALM {
            true => log.failed.pop_front().map_or(0, |(_, f)| f.bytes()),
            false => 0,
        };
        kept.bytes -= dropped;
        // The oldest of all go while the bytes are over, or once past their age.
        let too_old = now - KEPT_FOR.as_millis() as i64;
        while let Some((realm, number, at)) = kept.order.front().cloned() {
            if kept.bytes <= BYTES_KEPT && at >= too_old {
                break;
            }
            kept.order.pop_front();
            // Gone already when the realm's own cap dropped it.
            let freed = kept.realms.get_mut(&realm).and_then(|log| match log.failed.front() {
                Some((oldest, _)) if *oldest == number => log.failed.pop_front(),
                _ => None,
            });
            kept.bytes -= freed.map_or(0, |(_, f)| f.bytes());
        }
    }

    /// A realm's failed requests, newest first: of one organization only when named, and
    /// of one status class (`"4xx"`, `"5xx"`) or status (`"409"`) when given.
    pub fn failed(&self, realm: &str, organization: Option<&str>, status: Option<&str>) -> Vec<FailedRequest> {
        let kept = self.kept.lock().expect("diagnostics");
        let Some(log) = kept.realms.get(realm) else { return Vec::new() };
        let matches = |f: &FailedRequest| match status {
            None => true,
            Some(class) if class.len() == 3 && class.ends_with("xx") => {
                class.as_bytes()[0] == b'0' + (f.status / 100) as u8
            }
            Some(exact) => exact.parse::<u16>().is_ok_and(|s| s == f.status),
        };
        log.failed
            .iter()
            .rev()
            .map(|(_, f)| f)
            .filter(|f| organization.is_none() || f.organization.as_deref() == organization)
            .filter(|f| matches(f))
            .cloned()
            .collect()
    }

    /// A realm's counts by user agent, and by the identity provider each names.
    pub fn counts(&self, realm: &str) -> Value {
        let kept = self.kept.lock().expect("diagnostics");
        let Some(log) = kept.realms.get(realm) else { return json!({ "userAgents": {}, "identityProviders": {} }) };
        let mut providers: BTreeMap<&str, Counts> = BTreeMap::new();
        for (agent, counts) in &log.agents {
            let sum = providers.entry(identity_provider(agent)).or_default();
            sum.requests += counts.requests;
            sum.client_errors += counts.client_errors;
            sum.server_errors += counts.server_errors;
        }
        json!({ "userAgents": log.agents, "identityProviders": providers })
    }

    /// Forgets a deleted realm.
    pub fn forget(&self, realm: &str) {
        let mut kept = self.kept.lock().expect("diagnostics");
        if let Some(log) = kept.realms.remove(realm) {
            kept.bytes -= log.failed.iter().map(|(_, f)| f.bytes()).sum::<usize>();
            kept.order.retain(|(r, _, _)| r != realm);
        }
    }
}

/// A request body as kept: JSON with every secret's value replaced, cut to [`BODY_KEPT`]
/// bytes; anything else only by its size (it may be a secret in another shape).
pub fn redacted_body(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return Some(format!("(not JSON: {} bytes, not kept)", body.len()));
    };
    redact(&mut value);
    let mut text = value.to_string();
    if text.len() > BODY_KEPT {
        let mut cut = BODY_KEPT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(&format!("… ({} bytes in all)", body.len()));
    }
    Some(text)
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(members) => redact_members(members),
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn redact_members(members: &mut Map<String, Value>) {
    for (name, value) in members.iter_mut() {
        let lower = name.to_ascii_lowercase();
        if SECRET_NAMES.iter().any(|secret| lower.contains(secret)) {
            *value = Value::String("[redacted]".into());
        } else {
            redact(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(at: i64, status: u16, body: &str) -> FailedRequest {
        FailedRequest {
            at,
            method: "POST".into(),
            path: "/Users".into(),
            organization: None,
            status,
            scim_type: None,
            detail: None,
            user_agent: "Okta SCIM Client 1.0.0".into(),
            identity_provider: "okta",
            request_id: "r".into(),
            body: Some(body.into()),
        }
    }

    #[test]
    fn passwords_and_secrets_are_redacted_wherever_they_are() {
        let body = br#"{"userName":"ada","password":"hunter2","urn:x:ext":{"apiToken":"t0k","nested":[{"clientSecret":"s"}]},"displayName":"Ada"}"#;
        let kept = redacted_body(body).unwrap();
        for secret in ["hunter2", "t0k", "\"s\""] {
            assert!(!kept.contains(secret), "{secret} in {kept}");
        }
        assert!(kept.contains("\"userName\":\"ada\"") && kept.contains("[redacted]"), "{kept}");
        assert_eq!(redacted_body(b"password=hunter2").unwrap(), "(not JSON: 16 bytes, not kept)");
        let long = format!(r#"{{"userName":"{}"}}"#, "é".repeat(5000));
        assert!(redacted_body(long.as_bytes()).unwrap().len() < BODY_KEPT + 64);
    }

    #[test]
    fn each_realm_keeps_its_last_failures_and_all_stay_within_bounds() {
        let diagnostics = Diagnostics::default();
        for n in 0..(KEPT_PER_REALM as i64 + 10) {
            diagnostics.keep("noisy", failed(n, 400, "{}"));
        }
        diagnostics.keep("quiet", failed(1, 409, "{}"));
        let noisy = diagnostics.failed("noisy", None, None);
        assert_eq!(noisy.len(), KEPT_PER_REALM);
        assert_eq!(noisy[0].at, KEPT_PER_REALM as i64 + 9, "newest first");
        assert_eq!(diagnostics.failed("quiet", None, Some("4xx")).len(), 1, "a noisy realm does not crowd it out");
        assert!(diagnostics.failed("quiet", None, Some("5xx")).is_empty());
        assert_eq!(diagnostics.failed("quiet", None, Some("409")).len(), 1);
        // A day later, what is older goes.
        diagnostics.keep("quiet", failed(KEPT_FOR.as_millis() as i64 + 100, 500, "{}"));
        assert_eq!(diagnostics.failed("noisy", None, None).len(), 0);
        assert_eq!(diagnostics.failed("quiet", None, None).len(), 1);
    }

    #[test]
    fn user_agents_count_apart_up_to_a_bound_and_name_their_provider() {
        let diagnostics = Diagnostics::default();
        diagnostics.count("r", "Okta SCIM Client 1.0.0", 201);
        diagnostics.count("r", "Okta SCIM Client 1.0.0", 409);
        diagnostics.count("r", "Azure Active Directory SCIM Client", 500);
        for n in 0..100 {
            diagnostics.count("r", &format!("curl/{n}"), 200);
        }
        let counts = diagnostics.counts("r");
        assert_eq!(counts["identityProviders"]["okta"]["client_errors"], json!(1));
        assert_eq!(counts["identityProviders"]["entra"]["server_errors"], json!(1));
        assert!(counts["userAgents"].as_object().unwrap().len() <= AGENTS_PER_REALM + 1);
        assert!(counts["userAgents"]["other"]["requests"].as_u64().unwrap() > 0);
    }
}
