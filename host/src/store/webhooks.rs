//! Webhook subscriptions as the stores keep them: where a realm's changes are delivered,
//! and how far each subscription's delivery has come.
//!
//! The realm's admin events are the outbox: a request's events are written in its own
//! transaction (a request rolled back leaves none, one committed never loses them) and
//! numbered in commit order, so each subscription keeps only a cursor, the last event it
//! is done with, and its deliveries go out in that order, at least once.

/// A webhook subscription of a realm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredWebhook {
    pub id: String,
    pub realm: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The event kinds delivered ([`scim_directory::EventKind::name`]); every kind when empty.
    pub types: Vec<String>,
    /// Only the events of this organization (its id), when set.
    pub organization: Option<String>,
    /// The signing secret, `whsec_<base64>` (Standard Webhooks).
    pub secret: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Whether deliveries go out; an endpoint that failed too long is disabled.
    pub enabled: bool,
    /// Why it was disabled, when the host disabled it.
    pub disabled_reason: Option<String>,
    /// The last event (`seq`) the subscription is done with.
    pub cursor: i64,
    /// Failed attempts at the next event since it last succeeded.
    pub attempts: u32,
    /// When the first of those failed (milliseconds since the epoch).
    pub failing_since: Option<i64>,
    /// Not before then is the next attempt made (milliseconds since the epoch).
    pub next_attempt_at: i64,
}

/// One attempt at delivering an event, as the delivery log keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// The event delivered.
    pub event_seq: i64,
    /// The `webhook-id` header: the same for every attempt at one event.
    pub message_id: String,
    /// Milliseconds since the epoch.
    pub attempted_at: i64,
    /// The receiver's status; none when it did not answer.
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// The start of the receiver's answer, or why there was none.
    pub response: String,
}

/// What one round of delivery came to, saved in one transaction, if the round still holds
/// the subscription's lease.
#[derive(Clone, Debug)]
pub struct WebhookProgress {
    pub realm: String,
    pub id: String,
    /// The lease the round was delivered under (see [`crate::store::Store::due_webhooks`]).
    pub lease: String,
    /// The cursor it moves to.
    pub cursor: i64,
    pub attempts: u32,
    pub failing_since: Option<i64>,
    pub next_attempt_at: i64,
    /// Set when the endpoint is disabled now, with why.
    pub disabled: Option<String>,
    /// The attempts made, for the delivery log.
    pub log: Vec<WebhookAttempt>,
}

/// How many attempts the delivery log keeps per subscription (the oldest go first).
pub const ATTEMPTS_KEPT: i64 = 100;

/// A subscription's types as the stores keep them: a JSON array.
pub(crate) fn types_to_text(types: &[String]) -> String {
    serde_json::to_string(types).expect("strings serialize")
}

/// The types a store kept (none when damaged: then every type).
pub(crate) fn types_from_text(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}
