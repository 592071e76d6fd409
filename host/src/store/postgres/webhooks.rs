//! Webhook subscriptions in the PostgreSQL store (see [`crate::store::webhooks`]). Hosts
//! sharing the database lease each due subscription before they deliver it, so one host
//! at a time delivers a subscription's events, in their order.

use super::admin::insert_event;
use super::*;
use crate::store::webhooks::{types_from_text, types_to_text};

const WEBHOOK_COLUMNS: &str = "id, realm, url, types, organization, secret, created_at, enabled, disabled_reason, \
                               cursor, attempts, failing_since, next_attempt_at";

fn webhook_row(r: &pg::Row) -> StoredWebhook {
    StoredWebhook {
        id: r.get(0),
        realm: r.get(1),
        url: r.get(2),
        types: types_from_text(r.get(3)),
        organization: r.get(4),
        secret: r.get(5),
        created_at: r.get(6),
        enabled: r.get(7),
        disabled_reason: r.get(8),
        cursor: r.get(9),
        attempts: r.get::<_, i32>(10).max(0) as u32,
        failing_since: r.get(11),
        next_attempt_at: r.get(12),
    }
}

impl PostgresStore {
    pub(super) fn insert_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<()> {
        let w = webhook;
        let types = types_to_text(&w.types);
        self.write(|c| {
            // From the realm's last event on: a subscription delivers what happens after it.
            // The realm's events lock orders it among the realm's commits.
            // The lock first, in a statement of its own: the INSERT's snapshot then sees every
            // event committed before it was granted.
            c.execute("SELECT pg_advisory_xact_lock(hashtext('events ' || $1::TEXT))", &[&w.realm])?;
            c.execute(
                &format!(
                    "INSERT INTO webhooks ({WEBHOOK_COLUMNS})
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, NULL,
                            (SELECT coalesce(max(seq), 0) FROM events WHERE realm = $2), 0, NULL, 0"
                ),
                &[&w.id, &w.realm, &w.url, &types, &w.organization, &w.secret, &w.created_at, &w.enabled],
            )?;
            insert_event(c, &w.realm, event)
        })
    }

    pub(super) fn read_webhooks(&self, realm: &str) -> DirResult<Vec<StoredWebhook>> {
        let rows = self.checkout(CHECKOUT_TIMEOUT)?.query(
            &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE realm = $1 ORDER BY created_at, id"),
            &[&realm],
        )?;
        Ok(rows.iter().map(webhook_row).collect())
    }

    pub(super) fn change_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<bool> {
        let w = webhook;
        let types = types_to_text(&w.types);
        self.write(|c| {
            // Enabled again: its failures are forgotten, and the next attempt is now.
            let changed = c.execute(
                "UPDATE webhooks SET url = $3, types = $4, organization = $5, enabled = $6,
                     disabled_reason = CASE WHEN $6 THEN NULL ELSE disabled_reason END,
                     attempts = CASE WHEN $6 AND NOT enabled THEN 0 ELSE attempts END,
                     failing_since = CASE WHEN $6 AND NOT enabled THEN NULL ELSE failing_since END,
                     next_attempt_at = CASE WHEN $6 AND NOT enabled THEN 0 ELSE next_attempt_at END,
                     lease_holder = NULL, lease_until = 0
                 WHERE realm = $1 AND id = $2",
                &[&w.realm, &w.id, &w.url, &types, &w.organization, &w.enabled],
            )? > 0;
            if changed {
                insert_event(c, &w.realm, event)?;
            }
            Ok(changed)
        })
    }

    pub(super) fn remove_webhook(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.write(|c| {
            let deleted = c.execute("DELETE FROM webhooks WHERE realm = $1 AND id = $2", &[&realm, &id])? > 0;
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
        // Most ticks find nothing due: a read first, and a write only then.
        let due = self.checkout(CHECKOUT_TIMEOUT)?.query_opt(
            "SELECT 1 FROM webhooks WHERE enabled AND next_attempt_at <= $1 AND lease_until <= $1
                 AND EXISTS (SELECT 1 FROM events e WHERE e.realm = webhooks.realm AND e.seq > webhooks.cursor)
             LIMIT 1",
            &[&now],
        )?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        self.write(|c| {
            // SKIP LOCKED: hosts leasing at once take different subscriptions.
            let rows = c.query(
                &format!(
                    "UPDATE webhooks SET lease_holder = $2, lease_until = $3
                     WHERE (realm, id) IN (
                         SELECT realm, id FROM webhooks
                         WHERE enabled AND next_attempt_at <= $1 AND lease_until <= $1
                       AND EXISTS (SELECT 1 FROM events e WHERE e.realm = webhooks.realm AND e.seq > webhooks.cursor)
                         ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
                     RETURNING {WEBHOOK_COLUMNS}"
                ),
                &[&now, &host, &until, &i64::from(limit)],
            )?;
            Ok(rows.iter().map(webhook_row).collect())
        })
    }

    pub(super) fn save_webhook_progress(&self, p: &WebhookProgress) -> DirResult<bool> {
        let attempts = p.attempts.min(i32::MAX as u32) as i32;
        self.write(|c| {
            let held = c.execute(
                "UPDATE webhooks SET cursor = $3, attempts = $4, failing_since = $5, next_attempt_at = $6,
                     enabled = enabled AND $7::TEXT IS NULL, disabled_reason = coalesce($7, disabled_reason),
                     lease_holder = NULL, lease_until = 0
                 WHERE realm = $1 AND id = $2 AND lease_holder = $8",
                &[&p.realm, &p.id, &p.cursor, &attempts, &p.failing_since, &p.next_attempt_at, &p.disabled, &p.lease],
            )? > 0;
            if !held {
                return Ok(false);
            }
            for a in &p.log {
                let status = a.status.map(i32::from);
                c.execute(
                    "INSERT INTO webhook_attempts
                         (realm, webhook_id, event_seq, message_id, attempted_at, status, latency_ms, response)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &p.realm,
                        &p.id,
                        &a.event_seq,
                        &a.message_id,
                        &a.attempted_at,
                        &status,
                        &a.latency_ms,
                        &a.response,
                    ],
                )?;
            }
            // The log keeps the newest attempts of each subscription.
            c.execute(
                "DELETE FROM webhook_attempts WHERE realm = $1 AND webhook_id = $2 AND n <= (
                     SELECT n FROM webhook_attempts WHERE realm = $1 AND webhook_id = $2
                     ORDER BY n DESC LIMIT 1 OFFSET $3)",
                &[&p.realm, &p.id, &ATTEMPTS_KEPT],
            )?;
            Ok(true)
        })
    }

    pub(super) fn read_webhook_attempts(&self, realm: &str, id: &str, limit: u32) -> DirResult<Vec<WebhookAttempt>> {
        let rows = self.checkout(CHECKOUT_TIMEOUT)?.query(
            "SELECT event_seq, message_id, attempted_at, status, latency_ms, response FROM webhook_attempts
             WHERE realm = $1 AND webhook_id = $2 ORDER BY n DESC LIMIT $3",
            &[&realm, &id, &i64::from(limit)],
        )?;
        Ok(rows
            .iter()
            .map(|r| WebhookAttempt {
                event_seq: r.get(0),
                message_id: r.get(1),
                attempted_at: r.get(2),
                status: r.get::<_, Option<i32>>(3).and_then(|s| u16::try_from(s).ok()),
                latency_ms: r.get(4),
                response: r.get(5),
            })
            .collect())
    }
}
