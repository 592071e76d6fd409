//! Webhook delivery: each realm's changes, POSTed to the endpoints its subscriptions name,
//! signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256>`).
//!
//! Nothing lost, nothing invented: the realm's admin events are the outbox (written in
//! the transaction of the request that made them, numbered in commit order; see
//! `store::webhooks`), and each subscription delivers them in that order from its cursor,
//! which moves only past events its endpoint accepted (2xx) or that it does not want. An
//! event is retried, with exponential backoff and jitter, until it is accepted or the
//! endpoint has failed for `disable_after_s` and is disabled. Delivery runs on its own
//! tasks, apart from SCIM requests: a slow or dead receiver delays only its own deliveries.
//!
//! Several hosts share the work through the store: a host leases a due subscription
//! before it delivers it, so one host at a time delivers a subscription's events.

use crate::app::App;
use crate::config::WebhookSettings;
use crate::store::{EventQuery, Store as _, StoredEvent, StoredWebhook, WebhookAttempt, WebhookProgress, now_millis};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a host looks for due subscriptions.
const TICK: Duration = Duration::from_millis(200);
/// How long a host holds a subscription it delivers, at least; a round stops before an
/// attempt that could outlast half of it (see [`lease`]).
const LEASE: Duration = Duration::from_secs(120);
/// Subscriptions leased at once by one host.
const DUE_AT_ONCE: u32 = 64;
/// Events read per round of one subscription.
const EVENTS_PER_ROUND: u32 = 100;
/// The most of a receiver's answer kept in the delivery log.
const RESPONSE_KEPT: usize = 1024;

/// The lease of a round: long enough for several attempts of the longest time one may take.
fn lease(settings: &WebhookSettings) -> Duration {
    LEASE.max(Duration::from_millis(settings.timeout_ms) * 4)
}

/// Starts delivering, until the server stops.
pub fn start(app: Arc<App>) {
    let host = uuid::Uuid::new_v4().to_string();
    let lease = lease(&app.config.webhooks);
    let client = match client(&app.config.webhooks) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("webhooks will not be delivered: cannot build an HTTP client: {e}");
            return;
        }
    };
    let mut closing = app.closing.subscribe();
    tokio::spawn(async move {
        loop {
            // Each tick's leases have a name of their own: a round saves only under its own.
            let (store, holder) = (app.store.clone(), format!("{host}/{}", uuid::Uuid::new_v4().simple()));
            let leased = holder.clone();
            let due =
                tokio::task::spawn_blocking(move || store.due_webhooks(now_millis(), &leased, lease, DUE_AT_ONCE));
            match due.await {
                Ok(Ok(due)) => {
                    for webhook in due {
                        tokio::spawn(deliver(app.clone(), client.clone(), webhook, holder.clone(), lease));
                    }
                }
                Ok(Err(e)) => tracing::warn!("cannot read the webhooks due: {e}"),
                Err(e) => tracing::warn!("reading the webhooks due panicked: {e}"),
            }
            if !crate::app::next_round(&mut closing, TICK).await {
                break;
            }
        }
    });
}

/// The HTTP client of deliveries: a timeout per attempt, and no redirects (an endpoint is
/// the URL its subscription names, not wherever it points).
fn client(settings: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("scim-host-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One round of a subscription: its events after its cursor, in order, until one fails,
/// the batch ends or the next attempt could outlast half the lease; then what it came to
/// is saved under the round's lease (and the lease given back).
async fn deliver(app: Arc<App>, client: reqwest::Client, webhook: StoredWebhook, holder: String, lease: Duration) {
    let started = Instant::now();
    let (store, realm, after) = (app.store.clone(), webhook.realm.clone(), webhook.cursor);
    let read = tokio::task::spawn_blocking(move || {
        store.events(&realm, &EventQuery { after, limit: EVENTS_PER_ROUND, ..Default::default() })
    });
    let mut progress = unchanged(&webhook, holder);
    let events = match read.await {
        Ok(Ok(events)) => events,
        Ok(Err(e)) => {
            tracing::warn!(realm = %webhook.realm, webhook = %webhook.id, "cannot read the events to deliver: {e}");
            progress.next_attempt_at = now_millis() + TICK.as_millis() as i64;
            return save(&app, progress).await;
        }
        Err(e) => return tracing::warn!("reading the events to deliver panicked: {e}"),
    };
    let settings = app.config.webhooks;
    let attempt_takes = Duration::from_millis(settings.timeout_ms);
    for event in &events {
        if !wanted(&webhook, event) {
            progress.cursor = event.seq;
            continue;
        }
        if started.elapsed() + attempt_takes > lease / 2 {
            break;
        }
        let attempt = attempt(&app, &client, &webhook, event, message_id(&webhook, event)).await;
        let accepted = attempt.status.is_some_and(|s| (200..300).contains(&s));
        progress.log.push(attempt);
        if !accepted {
            let now = now_millis();
            progress.attempts += 1;
            let failing_since = *progress.failing_since.get_or_insert(now);
            progress.next_attempt_at = now + backoff(&settings, progress.attempts).as_millis() as i64;
            if now - failing_since >= (settings.disable_after_s * 1000) as i64 {
                let last = progress.log.last().map(|a| a.response.clone()).unwrap_or_default();
                progress.disabled = Some(format!("failed since {failing_since} (ms since the epoch); last: {last}"));
                tracing::warn!(realm = %webhook.realm, webhook = %webhook.id, "webhook endpoint disabled after failing too long");
            }
            return save(&app, progress).await;
        }
        (progress.cursor, progress.attempts, progress.failing_since) = (event.seq, 0, None);
    }
    // Due again at once: the store leases a subscription only when events wait after its cursor.
    save(&app, progress).await
}

/// The state of a subscription as it was, under the round's lease, due again at once.
fn unchanged(webhook: &StoredWebhook, lease: String) -> WebhookProgress {
    WebhookProgress {
        realm: webhook.realm.clone(),
        id: webhook.id.clone(),
        lease,
        cursor: webhook.cursor,
        attempts: webhook.attempts,
        failing_since: webhook.failing_since,
        next_attempt_at: 0,
        disabled: None,
        log: Vec::new(),
    }
}

async fn save(app: &Arc<App>, progress: WebhookProgress) {
    let store = app.store.clone();
    let (realm, id) = (progress.realm.clone(), progress.id.clone());
    match tokio::task::spawn_blocking(move || store.webhook_progress(&progress)).await {
        Ok(Ok(true)) => {}
        // Changed or deleted meanwhile, or the lease ran out: the round's events go out again.
        Ok(Ok(false)) => {
            tracing::info!(%realm, webhook = %id, "a delivery round's lease was lost; its events go out again")
        }
        Ok(Err(e)) => tracing::warn!(%realm, webhook = %id, "cannot save a webhook's progress: {e}"),
        Err(e) => tracing::warn!("saving a webhook's progress panicked: {e}"),
    }
}

/// Whether a subscription wants an event: one of its types (when it names none, any
/// directory change: not the operator's own changes, such as a token issued),
/// and, when it names an organization, made in that organization's scope or a change of
/// its members (through any scope, the admin API's included).
fn wanted(webhook: &StoredWebhook, event: &StoredEvent) -> bool {
    let of_type = match webhook.types.is_empty() {
        true => crate::store::EventKind::from_name(&event.kind).is_some(),
        false => webhook.types.contains(&event.kind),
    };
    let membership = event.kind.starts_with("ORGANIZATION_MEMBER_");
    let of_organization = match &webhook.organization {
        None => true,
        Some(org) => event.organization.as_ref() == Some(org) || (membership && event.related_id.as_ref() == Some(org)),
    };
    of_type && of_organization
}

/// The `webhook-id` of an event's message to a subscription: the same on every attempt,
/// so that a receiver can tell a retry from a new message.
fn message_id(webhook: &StoredWebhook, event: &StoredEvent) -> String {
    format!("msg_{}_{}", webhook.id, event.seq)
}

/// What a delivery carries: the event's type, realm and organization, the resource (as
/// SCIM JSON when the module recorded it), and the request that made it.
fn payload(app: &App, webhook: &StoredWebhook, event: &StoredEvent) -> Value {
    let mut details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    // The resource once, as `resource`, not again among the details.
    let recorded = details.as_object_mut().and_then(|d| d.remove("resource"));
    let resource = recorded.unwrap_or_else(|| json!({ "id": event.resource_id }));
    let organization = event.organization.as_ref().and_then(|id| {
        let tenant = app.tenants.get(&webhook.realm)?;
        tenant.organizations.values().find(|o| &o.id == id).map(|o| json!({ "id": o.id, "alias": o.alias }))
    });
    json!({
        "type": event.kind,
        "timestamp": time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(event.time) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "data": {
            "realm": webhook.realm,
            "organization": organization,
            "resourceId": event.resource_id,
            "relatedId": event.related_id,
            "resource": resource,
            "details": details,
            "requestId": event.request_id,
            "sequence": event.seq,
        },
    })
}

/// A test message to a subscription's endpoint, sent now, with an id of its own.
pub async fn test(app: &App, webhook: &StoredWebhook, event: &StoredEvent) -> WebhookAttempt {
    let id = format!("msg_test_{}", uuid::Uuid::new_v4().simple());
    match client(&app.config.webhooks) {
        Ok(client) => attempt(app, &client, webhook, event, id).await,
        Err(e) => failed(event, id, now_millis(), 0, format!("cannot build an HTTP client: {e}")),
    }
}

/// One signed POST of an event to a subscription's endpoint.
async fn attempt(
    app: &App,
    client: &reqwest::Client,
    webhook: &StoredWebhook,
    event: &StoredEvent,
    id: String,
) -> WebhookAttempt {
    let body = payload(app, webhook, event).to_string();
    let attempted_at = now_millis();
    let timestamp = attempted_at / 1000;
    let signature = match sign(&webhook.secret, &id, timestamp, body.as_bytes()) {
        Ok(signature) => signature,
        Err(why) => return failed(event, id, attempted_at, 0, why),
    };
    let started = Instant::now();
    let sent = client
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let latency_ms = started.elapsed().as_millis() as i64;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let response = excerpt(response).await;
            WebhookAttempt {
                event_seq: event.seq,
                message_id: id,
                attempted_at,
                status: Some(status),
                latency_ms,
                response,
            }
        }
        // Without the URL, which may hold a credential of the receiver's.
        Err(e) => failed(event, id, attempted_at, latency_ms, format!("no answer: {}", e.without_url())),
    }
}

/// The start of a receiver's answer: read until [`RESPONSE_KEPT`] bytes, the rest left
/// unread (a receiver that streams without end costs no more).
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_KEPT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_KEPT - kept.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn failed(event: &StoredEvent, message_id: String, attempted_at: i64, latency_ms: i64, why: String) -> WebhookAttempt {
    WebhookAttempt { event_seq: event.seq, message_id, attempted_at, status: None, latency_ms, response: why }
}

/// The `webhook-signature` of a message (Standard Webhooks 1.0, by its own library).
fn sign(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let signer = standardwebhooks::Webhook::new(secret).map_err(|e| format!("the signing secret is damaged: {e}"))?;
    signer.sign(message_id, timestamp, body).map_err(|e| format!("cannot sign: {e}"))
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The wait before attempt `attempts + 1` at an event: doubling from `first_backoff_ms`
/// up to `max_backoff_ms`, each drawn between half and the whole (so that endpoints that
/// failed together are not retried together).
fn backoff(settings: &WebhookSettings, attempts: u32) -> Duration {
    use rand::Rng as _;
    let doubled = settings.first_backoff_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(32));
    let ceiling = doubled.min(settings.max_backoff_ms).max(1);
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Receivers are HTTPS endpoints: the client speaks TLS (a refused connection, not
    /// an unsupported scheme).
    #[tokio::test]
    async fn deliveries_reach_https_endpoints() {
        let client = client(&WebhookSettings::default()).unwrap();
        let e = client.post("https://127.0.0.1:9/hook").send().await.unwrap_err();
        assert!(e.is_connect(), "{e:?}");
    }

    /// A receiver that answers with a body without end costs a kilobyte, not memory.
    #[tokio::test]
    async fn receiver_streaming_an_endless_answer_costs_a_kilobyte() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        });
        let client = client(&WebhookSettings::default()).unwrap();
        let response = client.post(url).send().await.unwrap();
        let kept = tokio::time::timeout(Duration::from_secs(10), excerpt(response)).await.expect("it stops reading");
        assert_eq!(kept.len(), RESPONSE_KEPT);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_ceiling() {
        let settings = WebhookSettings { first_backoff_ms: 1000, max_backoff_ms: 60_000, ..Default::default() };
        for (attempts, ceiling) in [(1, 1000), (2, 2000), (3, 4000), (7, 60_000), (40, 60_000)] {
            for _ in 0..20 {
                let wait = backoff(&settings, attempts).as_millis() as u64;
                assert!((ceiling / 2..=ceiling).contains(&wait), "attempt {attempts}: {wait} ms");
            }
        }
    }

    #[test]
    fn a_signature_verifies_with_the_standard_library_and_fails_on_a_changed_body() {
        let secret = new_secret();
        let (id, timestamp, body) = ("msg_1", time::OffsetDateTime::now_utc().unix_timestamp(), br#"{"a":1}"#);
        let signature = sign(&secret, id, timestamp, body).unwrap();
        assert!(signature.starts_with("v1,"), "{signature}");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
        verifier.verify(body, &headers).unwrap();
        assert!(verifier.verify(br#"{"a":2}"#, &headers).is_err());
    }
}
