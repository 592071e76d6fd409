//! Webhook subscriptions in the SQLite store (see [`crate::store::webhooks`]).

use super::admin::insert_event;
use super::*;
use crate::store::webhooks::{types_from_text, types_to_text};

const WEBHOOK_COLUMNS: &str = "id, realm, url, types, organization, secret, created_at, enabled, disabled_reason, \
                               cursor, attempts, failing_since, next_attempt_at";

fn webhook_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredWebhook> {
    Ok(StoredWebhook {
        id: r.get(0)?,
        realm: r.get(1)?,
        url: r.get(2)?,
        types: types_from_text(&r.get::<_, String>(3)?),
        organization: r.get(4)?,
        secret: r.get(5)?,
        created_at: r.get(6)?,
        enabled: r.get(7)?,
        disabled_reason: r.get(8)?,
        cursor: r.get(9)?,
        attempts: r.get(10)?,
        failing_since: r.get(11)?,
        next_attempt_at: r.get(12)?,
    })
}

impl SqliteStore {
    pub(super) fn insert_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<()> {
        let w = webhook;
        self.write(|c| {
            // From the realm's last event on: a subscription delivers what happens after it.
            c.execute(
                &format!(
                    "INSERT INTO webhooks ({WEBHOOK_COLUMNS})
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL,
                            (SELECT coalesce(max(seq), 0) FROM events WHERE realm = ?2), 0, NULL, 0"
                ),
                params![
                    w.id,
                    w.realm,
                    w.url,
                    types_to_text(&w.types),
                    w.organization,
                    w.secret,
                    w.created_at,
                    w.enabled
                ],
            )?;
            insert_event(c, &w.realm, event)
        })
    }

    pub(super) fn read_webhooks(&self, realm: &str) -> DirResult<Vec<StoredWebhook>> {
        let conn = self.checkout(CHECKOUT_TIMEOUT)?;
        let mut statement = conn
            .prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE realm = ?1 ORDER BY created_at, id"))
            .map_err(classify)?;
        let rows = statement.query_map(params![realm], webhook_row).map_err(classify)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(classify)
    }

    pub(super) fn change_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<bool> {
        let w = webhook;
        self.write(|c| {
            // Enabled again: its failures are forgotten, and the next attempt is now.
            let changed = c.execute(
                "UPDATE webhooks SET url = ?3, types = ?4, organization = ?5, enabled = ?6,
                     disabled_reason = CASE WHEN ?6 THEN NULL ELSE disabled_reason END,
                     attempts = CASE WHEN ?6 AND NOT enabled THEN 0 ELSE attempts END,
                     failing_since = CASE WHEN ?6 AND NOT enabled THEN NULL ELSE failing_since END,
                     next_attempt_at = CASE WHEN ?6 AND NOT enabled THEN 0 ELSE next_attempt_at END,
                     lease_holder = NULL, lease_until = 0
                 WHERE realm = ?1 AND id = ?2",
                params![w.realm, w.id, w.url, types_to_text(&w.types), w.organization, w.enabled],
            )? > 0;
            if changed {
                insert_event(c, &w.realm, event)?;
            }
            Ok(changed)
        })
    }

    pub(super) fn remove_webhook(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.write(|c| {
            c.execute("DELETE FROM webhook_attempts WHERE realm = ?1 AND webhook_id = ?2", params![realm, id])?;
            let deleted = c.execute("DELETE FROM webhooks WHERE realm = ?1 AND id = ?2", params![realm, id])? > 0;
            if deleted {
                insert_event(c, realm, event)?;
            }
            Ok(deleted)
        })
    }

    pub(super) fn lease_due_webhooks(
        &self,
        now: i64,
        host: &str,
        lease: std::time::Duration,
        limit: u32,
    ) -> DirResult<Vec<StoredWebhook>> {
        let until = now + lease.as_millis() as i64;
        // Most ticks find nothing due: ask a reader first, and take the writer only then.
        let due = self.checkout(CHECKOUT_TIMEOUT)?.query_row(
            "SELECT EXISTS (SELECT 1 FROM webhooks WHERE enabled AND next_attempt_at <= ?1 AND lease_until <= ?1
                 AND EXISTS (SELECT 1 FROM events e WHERE e.realm = webhooks.realm AND e.seq > webhooks.cursor))",
            params![now],
            |r| r.get::<_, bool>(0),
        );
        if !due.map_err(classify)? {
            return Ok(Vec::new());
        }
        self.write(|c| {
            let mut statement = c.prepare_cached(&format!(
                "UPDATE webhooks SET lease_holder = ?2, lease_until = ?3
                 WHERE (realm, id) IN (
                     SELECT realm, id FROM webhooks
                     WHERE enabled AND next_attempt_at <= ?1 AND lease_until <= ?1
                       AND EXISTS (SELECT 1 FROM events e WHERE e.realm = webhooks.realm AND e.seq > webhooks.cursor)
                     ORDER BY next_attempt_at LIMIT ?4)
                 RETURNING {WEBHOOK_COLUMNS}"
            ))?;
            let rows = statement.query_map(params![now, host, until, limit], webhook_row)?;
            rows.collect()
        })
    }

    pub(super) fn save_webhook_progress(&self, p: &WebhookProgress) -> DirResult<bool> {
        self.write(|c| {
            let held = c.execute(
                "UPDATE webhooks SET cursor = ?3, attempts = ?4, failing_since = ?5, next_attempt_at = ?6,
                     enabled = enabled AND ?7 IS NULL, disabled_reason = coalesce(?7, disabled_reason),
                     lease_holder = NULL, lease_until = 0
                 WHERE realm = ?1 AND id = ?2 AND lease_holder = ?8",
                params![p.realm, p.id, p.cursor, p.attempts, p.failing_since, p.next_attempt_at, p.disabled, p.lease],
            )? > 0;
            if !held {
                return Ok(false);
            }
            let mut insert = c.prepare_cached(
                "INSERT INTO webhook_attempts
                     (realm, webhook_id, event_seq, message_id, attempted_at, status, latency_ms, response)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for a in &p.log {
                insert.execute(params![
                    p.realm,
                    p.id,
                    a.event_seq,
                    a.message_id,
                    a.attempted_at,
                    a.status,
                    a.latency_ms,
                    a.response
                ])?;
            }
            // The log keeps the newest attempts of each subscription.
            c.execute(
                "DELETE FROM webhook_attempts WHERE realm = ?1 AND webhook_id = ?2 AND n <= (
                     SELECT n FROM webhook_attempts WHERE realm = ?1 AND webhook_id = ?2
                     ORDER BY n DESC LIMIT 1 OFFSET ?3)",
                params![p.realm, p.id, ATTEMPTS_KEPT],
            )?;
            Ok(true)
        })
    }

    pub(super) fn read_webhook_attempts(&self, realm: &str, id: &str, limit: u32) -> DirResult<Vec<WebhookAttempt>> {
        let conn = self.checkout(CHECKOUT_TIMEOUT)?;
        let mut statement = conn
            .prepare_cached(
                "SELECT event_seq, message_id, attempted_at, status, latency_ms, response FROM webhook_attempts
                 WHERE realm = ?1 AND webhook_id = ?2 ORDER BY n DESC LIMIT ?3",
            )
            .map_err(classify)?;
        let rows = statement
            .query_map(params![realm, id, limit], |r| {
                Ok(WebhookAttempt {
                    event_seq: r.get(0)?,
                    message_id: r.get(1)?,
                    attempted_at: r.get(2)?,
                    status: r.get(3)?,
                    latency_ms: r.get(4)?,
                    response: r.get(5)?,
                })
            })
            .map_err(classify)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::test_support::*;

    fn subscription(id: &str) -> StoredWebhook {
        StoredWebhook {
            id: id.into(),
            realm: "r".into(),
            url: "http://127.0.0.1:9/hook".into(),
            types: Vec::new(),
            organization: None,
            secret: "whsec_c2VjcmV0".into(),
            created_at: 0,
            enabled: true,
            disabled_reason: None,
            cursor: 0,
            attempts: 0,
            failing_since: None,
            next_attempt_at: 0,
        }
    }

    fn progress(webhook: &StoredWebhook, lease: &str, cursor: i64) -> WebhookProgress {
        WebhookProgress {
            realm: webhook.realm.clone(),
            id: webhook.id.clone(),
            lease: lease.into(),
            cursor,
            attempts: 0,
            failing_since: None,
            next_attempt_at: 0,
            disabled: None,
            log: Vec::new(),
        }
    }

    /// A round that lost its lease (it ran out and another round took the subscription, or
    /// an operator changed it) must not move the cursor back, or forward past what the
    /// other round delivers: it saves nothing.
    #[test]
    fn a_round_that_lost_its_lease_saves_nothing() {
        let (_dir, store) = store();
        let webhook = subscription("w");
        store.create_webhook(&webhook, &operator_event("WEBHOOK_CREATED", "w")).unwrap();
        store.record("r", &operator_event("TOKEN_ISSUED", "t")).unwrap();
        let lease = std::time::Duration::from_secs(60);
        let first = store.due_webhooks(now_millis(), "first", lease, 10).unwrap();
        assert_eq!(first.len(), 1, "events wait after its cursor");
        assert!(store.due_webhooks(now_millis(), "second", lease, 10).unwrap().is_empty(), "leased");
        // The lease runs out, and another round takes it.
        let later = now_millis() + 61_000;
        assert_eq!(store.due_webhooks(later, "second", lease, 10).unwrap().len(), 1);
        assert!(!store.webhook_progress(&progress(&webhook, "first", 2)).unwrap(), "the first round's save is refused");
        assert!(store.webhook_progress(&progress(&webhook, "second", 1)).unwrap());
        assert_eq!(store.webhooks("r").unwrap()[0].cursor, 1);
        // An operator's change ends any round's lease.
        store.record("r", &operator_event("TOKEN_ISSUED", "t2")).unwrap();
        assert_eq!(store.due_webhooks(later, "third", lease, 10).unwrap().len(), 1);
        store.update_webhook(&webhook, &operator_event("WEBHOOK_UPDATED", "w")).unwrap();
        assert!(!store.webhook_progress(&progress(&webhook, "third", 3)).unwrap());
    }

    /// Events an enabled subscription has yet to deliver outlive their retention; once it
    /// is disabled (it failed too long), they go.
    #[test]
    fn events_a_subscription_has_yet_to_deliver_are_not_pruned() {
        let (_dir, store) = store();
        let mut webhook = subscription("w");
        store.create_webhook(&webhook, &operator_event("WEBHOOK_CREATED", "w")).unwrap();
        store.record("r", &operator_event("TOKEN_ISSUED", "t")).unwrap();
        let future = now_millis() + 60_000;
        assert_eq!(store.prune_events(future, 100).unwrap(), 0, "all of them after its cursor");
        webhook.enabled = false;
        store.update_webhook(&webhook, &operator_event("WEBHOOK_UPDATED", "w")).unwrap();
        assert_eq!(store.prune_events(future, 100).unwrap(), 3, "disabled, it holds none");
    }
}
