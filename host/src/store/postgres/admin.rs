//! Tenant administration in the PostgreSQL store: realms, organizations, tokens and the
//! event log, each change recorded among its realm's events in the same transaction.

use super::*;

/// Records an operator's change among the realm's events.
/// Numbered under the realm's event lock, as a call's events are (see `write_events`); every
/// host hears of the change at the commit (see [`changes`]).
pub(super) fn insert_event(c: &mut Connection, realm: &str, event: &OperatorEvent) -> DirResult<()> {
    c.execute(
        "WITH turn AS (SELECT pg_advisory_xact_lock(hashtext('events ' || $1::TEXT))),
              heard AS (SELECT pg_notify('scim_host_changes', $1::TEXT))
         INSERT INTO events (realm, time, kind, resource_id, related_id, details, request_id)
         SELECT $1::TEXT, $2::BIGINT, $3::TEXT, $4::TEXT, NULL, $5::TEXT, $6::TEXT FROM turn, heard",
        &[&realm, &now_millis(), &event.kind, &event.resource_id, &event.details, &event.request_id],
    )
    .map(drop)
}

fn organization_row(r: &pg::Row) -> Organization {
    Organization { id: r.get(0), alias: r.get(1), name: r.get(2) }
}

const REALM_ROWS: &str = "SELECT name, managed, created_at, limits, settings FROM realms";

fn realm_row(r: &pg::Row) -> StoredRealm {
    StoredRealm { name: r.get(0), managed: r.get(1), created_at: r.get(2), limits: r.get(3), settings: r.get(4) }
}

const ORGANIZATION_BY_ALIAS: &str = "SELECT id, alias, name FROM organizations WHERE realm = $1 AND alias = $2";

impl Store for PostgresStore {
    fn ensure_realm(&self, realm: &str) -> DirResult<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO realms (name, created_at, managed) VALUES ($1, $2, FALSE)
                 ON CONFLICT (name) DO UPDATE SET managed = FALSE",
                &[&realm, &now_millis()],
            )
            .map(drop)
        })
    }

    fn realms(&self) -> DirResult<Vec<StoredRealm>> {
        let rows = self.checkout(CHECKOUT_TIMEOUT)?.query(&format!("{REALM_ROWS} ORDER BY name"), &[])?;
        Ok(rows.iter().map(realm_row).collect())
    }

    /// By its key: every host reads a realm on each change to it, whatever the realms.
    fn realm(&self, name: &str) -> DirResult<Option<StoredRealm>> {
        let row = self.checkout(CHECKOUT_TIMEOUT)?.query_opt(&format!("{REALM_ROWS} WHERE name = $1"), &[&name])?;
        Ok(row.as_ref().map(realm_row))
    }

    fn create_realm(&self, realm: &StoredRealm, event: &OperatorEvent) -> DirResult<()> {
        self.write(|c| {
            // A realm another host created a moment ago (this one has not heard yet) is
            // not taken over: only one a configuration declared and no longer does.
            let created = c.execute(
                "INSERT INTO realms (name, created_at, managed, limits, settings) VALUES ($1, $2, TRUE, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET managed = TRUE, limits = excluded.limits, settings = excluded.settings
                 WHERE realms.managed = FALSE",
                &[&realm.name, &realm.created_at, &realm.limits, &realm.settings],
            )?;
            if created == 0 {
                return Err(DirectoryError::Conflict {
                    constraint: "realm".into(),
                    detail: format!("realm \"{}\" already exists", realm.name),
                });
            }
            insert_event(c, &realm.name, event)
        })
    }

    fn update_realm(
        &self,
        realm: &str,
        limits: Option<&str>,
        settings: Option<&str>,
        event: &OperatorEvent,
    ) -> DirResult<bool> {
        self.write(|c| {
            let changed = c.execute(
                "UPDATE realms SET limits = $2, settings = $3 WHERE name = $1",
                &[&realm, &limits, &settings],
            )? > 0;
            if changed {
                insert_event(c, realm, event)?;
            }
            Ok(changed)
        })
    }

    fn delete_realm(&self, realm: &str) -> DirResult<bool> {
        self.write(|c| {
            // Users, groups, organizations and tokens cascade from the realm; events do not.
            c.execute("DELETE FROM events WHERE realm = $1", &[&realm])?;
            changes::notify(c, realm)?;
            Ok(c.execute("DELETE FROM realms WHERE name = $1", &[&realm])? > 0)
        })
    }

    fn organizations(&self, realm: &str) -> DirResult<Vec<Organization>> {
        let rows = self
            .checkout(CHECKOUT_TIMEOUT)?
            .query("SELECT id, alias, name FROM organizations WHERE realm = $1 ORDER BY alias", &[&realm])?;
        Ok(rows.iter().map(organization_row).collect())
    }

    fn create_organization(
        &self,
        realm: &str,
        alias: &str,
        name: &str,
        event: &OperatorEvent,
    ) -> DirResult<Organization> {
        let created = self.write(|c| {
            let inserted = c.execute(
                "INSERT INTO organizations (realm, id, alias, name) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (realm, alias) DO NOTHING",
                &[&realm, &new_id(), &alias, &name],
            )? > 0;
            if !inserted {
                return Ok(None);
            }
            insert_event(c, realm, event)?;
            Ok(c.query_opt(ORGANIZATION_BY_ALIAS, &[&realm, &alias])?.as_ref().map(organization_row))
        })?;
        created.ok_or_else(|| DirectoryError::Conflict {
            constraint: "alias".into(),
            detail: format!("realm \"{realm}\" already has an organization \"{alias}\""),
        })
    }

    fn delete_organization(&self, realm: &str, alias: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.write(|c| {
            let Some(row) = c.query_opt(ORGANIZATION_BY_ALIAS, &[&realm, &alias])? else { return Ok(false) };
            let id: String = row.get(0);
            // Groups (with their attributes and memberships) and members cascade.
            c.execute("DELETE FROM groups WHERE realm = $1 AND organization = $2", &[&realm, &id])?;
            c.execute("DELETE FROM organizations WHERE realm = $1 AND id = $2", &[&realm, &id])?;
            c.execute("DELETE FROM tokens WHERE realm = $1 AND organization = $2", &[&realm, &alias])?;
            insert_event(c, realm, event)?;
            Ok(true)
        })
    }

    fn record(&self, realm: &str, event: &OperatorEvent) -> DirResult<()> {
        self.write(|c| insert_event(c, realm, event))
    }

    fn ensure_organization(&self, realm: &str, alias: &str, name: &str) -> DirResult<Organization> {
        self.write(|c| {
            c.execute(
                "INSERT INTO organizations (realm, id, alias, name) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (realm, alias) DO UPDATE SET name = excluded.name",
                &[&realm, &new_id(), &alias, &name],
            )?;
            let row = c.query_opt(ORGANIZATION_BY_ALIAS, &[&realm, &alias])?;
            row.as_ref().map(organization_row).ok_or_else(|| DirectoryError::NotFound(alias.to_string()))
        })
    }

    fn begin(&self, realm: &str, access: Access, request_id: &str) -> DirResult<Box<dyn Transaction>> {
        Ok(Box::new(PostgresTransaction::new(self, realm, access, request_id)))
    }

    fn insert_token(&self, token: &StoredToken, event: &OperatorEvent) -> DirResult<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO tokens (id, realm, organization, hash, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&token.id, &token.realm, &token.organization, &token.hash, &token.label, &token.created_at],
            )?;
            insert_event(c, &token.realm, event)
        })
    }

    fn tokens(&self, realm: &str) -> DirResult<Vec<StoredToken>> {
        let rows = self.checkout(CHECKOUT_TIMEOUT)?.query(
            "SELECT id, realm, organization, hash, label, created_at FROM tokens WHERE realm = $1 ORDER BY created_at, id",
            &[&realm],
        )?;
        Ok(rows
            .iter()
            .map(|r| StoredToken {
                id: r.get(0),
                realm: r.get(1),
                organization: r.get(2),
                hash: r.get(3),
                label: r.get(4),
                created_at: r.get(5),
            })
            .collect())
    }

    fn revoke_token(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.write(|c| {
            let revoked = c.execute("DELETE FROM tokens WHERE realm = $1 AND id = $2", &[&realm, &id])? > 0;
            if revoked {
                insert_event(c, realm, event)?;
            }
            Ok(revoked)
        })
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.register(registry);
    }

    fn writes_in_parallel(&self, _realm: &str) -> bool {
        true
    }

    fn modules(&self) -> Option<Arc<dyn crate::modules::Modules>> {
        Some(Arc::new(self.clone()))
    }

    fn follow_changes(&self, follower: Arc<dyn ChangeFollower>) {
        self.follow(follower)
    }

    fn heartbeat(&self, host: &str, alive: Duration) -> DirResult<usize> {
        // The database's clock, not the hosts' (which may disagree by seconds).
        const NOW: &str = "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)";
        let alive = alive.as_millis() as i64;
        self.write(|c| {
            c.execute(
                &format!(
                    "INSERT INTO hosts (id, seen_at) VALUES ($1, {NOW}) ON CONFLICT (id) DO UPDATE SET seen_at = {NOW}"
                ),
                &[&host],
            )?;
            // Hosts killed long ago are forgotten.
            c.execute(&format!("DELETE FROM hosts WHERE seen_at < {NOW} - $1 - 60000"), &[&alive])?;
            let hosts: i64 =
                c.query(&format!("SELECT count(*) FROM hosts WHERE seen_at >= {NOW} - $1"), &[&alive])?[0].get(0);
            Ok(hosts as usize)
        })
    }

    fn heartbeat_stop(&self, host: &str) -> DirResult<()> {
        self.write(|c| c.execute("DELETE FROM hosts WHERE id = $1", &[&host]).map(drop))
    }

    fn export_realm(&self, realm: &str, out: &mut crate::store::dump::Out) -> DirResult<()> {
        self.export(realm, out)
    }

    fn import_realm(&self, realm: &str, rows: &mut crate::store::dump::Rows) -> DirResult<()> {
        self.import(realm, rows)
    }

    fn prune_events(&self, before: i64, batch: u32) -> DirResult<u64> {
        self.write(|c| {
            // The oldest events first, by the primary key, without a scan for their time.
            c.execute(
                // Kept while an enabled webhook subscription of their realm has yet to
                // deliver them (until it does, or fails long enough to be disabled).
                "DELETE FROM events WHERE seq IN
                    (SELECT seq FROM (SELECT seq, time FROM events ORDER BY seq LIMIT $1) oldest WHERE time < $2)
                  AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.realm = events.realm AND w.enabled AND w.cursor < events.seq)",
                &[&i64::from(batch), &before],
            )
        })
    }

    fn create_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<()> {
        self.insert_webhook(webhook, event)
    }

    fn webhooks(&self, realm: &str) -> DirResult<Vec<StoredWebhook>> {
        self.read_webhooks(realm)
    }

    fn update_webhook(&self, webhook: &StoredWebhook, event: &OperatorEvent) -> DirResult<bool> {
        self.change_webhook(webhook, event)
    }

    fn delete_webhook(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.remove_webhook(realm, id, event)
    }

    fn due_webhooks(&self, now: i64, host: &str, lease: Duration, limit: u32) -> DirResult<Vec<StoredWebhook>> {
        self.lease_due_webhooks(now, host, lease, limit)
    }

    fn webhook_progress(&self, progress: &WebhookProgress) -> DirResult<bool> {
        self.save_webhook_progress(progress)
    }

    fn webhook_attempts(&self, realm: &str, id: &str, limit: u32) -> DirResult<Vec<WebhookAttempt>> {
        self.read_webhook_attempts(realm, id, limit)
    }

    fn events(&self, realm: &str, query: &EventQuery) -> DirResult<Vec<StoredEvent>> {
        let (since, until) = (query.since.unwrap_or(i64::MIN), query.until.unwrap_or(i64::MAX));
        let order = if query.newest_first { "DESC" } else { "" };
        let rows = self.checkout(CHECKOUT_TIMEOUT)?.query(
            &format!(
                "SELECT seq, time, kind, resource_id, related_id, details, request_id, organization FROM events
                 WHERE realm = $1 AND seq > $2 AND (cardinality($3::text[]) = 0 OR kind = ANY($3))
                   AND time >= $4 AND time < $5
                 ORDER BY seq {order} LIMIT $6"
            ),
            &[&realm, &query.after, &query.kinds, &since, &until, &i64::from(query.limit)],
        )?;
        Ok(rows
            .iter()
            .map(|r| StoredEvent {
                seq: r.get(0),
                time: r.get(1),
                kind: r.get(2),
                resource_id: r.get(3),
                related_id: r.get(4),
                details: r.get(5),
                request_id: r.get(6),
                organization: r.get(7),
            })
            .collect())
    }
}
