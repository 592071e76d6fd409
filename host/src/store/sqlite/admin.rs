//! Tenant administration in the SQLite store: realms, organizations, tokens and the event
//! log, each change recorded among its realm's events in the same transaction.

use super::*;

/// Records an operator's change among the realm's events.
pub(super) fn insert_event(c: &Connection, realm: &str, event: &OperatorEvent) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO events (realm, time, kind, resource_id, related_id, details, request_id)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)",
    )?
    .execute(params![realm, now_millis(), event.kind, event.resource_id, event.details, event.request_id])
    .map(drop)
}

/// The tables that hold a realm's rows, children before their parents.
pub(super) const REALM_TABLES: [&str; 14] = [
    "webhook_attempts",
    "webhooks",
    "credentials",
    "organization_members",
    "memberships",
    "user_attributes",
    "group_attributes",
    "users",
    "groups",
    "list_buckets",
    "organizations",
    "tokens",
    "events",
    "realms",
];

pub(super) fn organization_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Organization> {
    Ok(Organization { id: r.get(0)?, alias: r.get(1)?, name: r.get(2)? })
}

impl Store for SqliteStore {
    fn ensure_realm(&self, realm: &str) -> DirResult<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO realms (name, created_at, managed) VALUES (?1, ?2, 0)
                 ON CONFLICT (name) DO UPDATE SET managed = 0",
                params![realm, now_millis()],
            )
            .map(drop)
        })
    }

    fn realms(&self) -> DirResult<Vec<StoredRealm>> {
        let conn = self.checkout(CHECKOUT_TIMEOUT)?;
        let mut statement = conn
            .prepare_cached("SELECT name, managed, created_at, limits, settings FROM realms ORDER BY name")
            .map_err(classify)?;
        let rows = statement
            .query_map([], |r| {
                Ok(StoredRealm {
                    name: r.get(0)?,
                    managed: r.get(1)?,
                    created_at: r.get(2)?,
                    limits: r.get(3)?,
                    settings: r.get(4)?,
                })
            })
            .map_err(classify)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(classify)
    }

    fn create_realm(&self, realm: &StoredRealm, event: &OperatorEvent) -> DirResult<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO realms (name, created_at, managed, limits, settings) VALUES (?1, ?2, 1, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET managed = 1, limits = excluded.limits, settings = excluded.settings",
                params![realm.name, realm.created_at, realm.limits, realm.settings],
            )?;
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
                "UPDATE realms SET limits = ?2, settings = ?3 WHERE name = ?1",
                params![realm, limits, settings],
            )? > 0;
            if changed {
                insert_event(c, realm, event)?;
            }
            Ok(changed)
        })
    }

    fn delete_realm(&self, realm: &str) -> DirResult<bool> {
        self.write(|c| {
            let known = c.query_row("SELECT 1 FROM realms WHERE name = ?1", params![realm], |_| Ok(())).optional()?;
            // Table by table over the realm's index range: much faster than row-by-row
            // cascades when a realm holds many users.
            for table in REALM_TABLES {
                let column = if table == "realms" { "name" } else { "realm" };
                c.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), params![realm])?;
            }
            Ok(known.is_some())
        })
    }

    fn organizations(&self, realm: &str) -> DirResult<Vec<Organization>> {
        let conn = self.checkout(CHECKOUT_TIMEOUT)?;
        let mut statement = conn
            .prepare_cached("SELECT id, alias, name FROM organizations WHERE realm = ?1 ORDER BY alias")
            .map_err(classify)?;
        let rows = statement.query_map(params![realm], organization_row).map_err(classify)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(classify)
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
                "INSERT OR IGNORE INTO organizations (realm, id, alias, name) VALUES (?1, ?2, ?3, ?4)",
                params![realm, new_id(), alias, name],
            )? > 0;
            if !inserted {
                return Ok(None);
            }
            insert_event(c, realm, event)?;
            c.query_row(
                "SELECT id, alias, name FROM organizations WHERE realm = ?1 AND alias = ?2",
                params![realm, alias],
                organization_row,
            )
            .map(Some)
        })?;
        created.ok_or_else(|| DirectoryError::Conflict {
            constraint: "alias".into(),
            detail: format!("realm \"{realm}\" already has an organization \"{alias}\""),
        })
    }

    fn delete_organization(&self, realm: &str, alias: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.write(|c| {
            let id: Option<String> = c
                .query_row("SELECT id FROM organizations WHERE realm = ?1 AND alias = ?2", params![realm, alias], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(id) = id else { return Ok(false) };
            // Groups (with their attributes and memberships) and members cascade.
            c.execute("DELETE FROM groups WHERE realm = ?1 AND organization = ?2", params![realm, id])?;
            c.execute("DELETE FROM organizations WHERE realm = ?1 AND id = ?2", params![realm, id])?;
            c.execute("DELETE FROM tokens WHERE realm = ?1 AND organization = ?2", params![realm, alias])?;
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
                "INSERT INTO organizations (realm, id, alias, name) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (realm, alias) DO UPDATE SET name = excluded.name",
                params![realm, new_id(), alias, name],
            )?;
            c.query_row(
                "SELECT id, alias, name FROM organizations WHERE realm = ?1 AND alias = ?2",
                params![realm, alias],
                organization_row,
            )
        })
    }

    fn begin(&self, realm: &str, access: Access, request_id: &str) -> DirResult<Box<dyn Transaction>> {
        Ok(Box::new(SqliteTransaction::new(self, realm, access, request_id)))
    }

    fn insert_token(&self, token: &StoredToken, event: &OperatorEvent) -> DirResult<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO tokens (id, realm, organization, hash, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![token.id, token.realm, token.organization, token.hash, token.label, token.created_at],
            )?;
            insert_event(c, &token.realm, event)
        })
    }

    fn tokens(&self, realm: &str) -> DirResult<Vec<StoredToken>> {
        let conn = self.checkout(CHECKOUT_TIMEOUT)?;
        let mut statement = conn
            .prepare_cached(
                "SELECT id, realm, organization, hash, label, created_at FROM tokens WHERE realm = ?1 ORDER BY created_at, id",
            )
            .map_err(classify)?;
        let rows = statement
            .query_map(params![realm], |r| {
                Ok(StoredToken {
                    id: r.get(0)?,
                    realm: r.get(1)?,
                    organization: r.get(2)?,
                    hash: r.get(3)?,
                    label: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })
            .map_err(classify)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(classify)
    }

    fn revoke_token(&self, realm: &str, id: &str, event: &OperatorEvent) -> DirResult<bool> {
        self.write(|c| {
            let revoked = c.execute("DELETE FROM tokens WHERE realm = ?1 AND id = ?2", params![realm, id])? > 0;
            if revoked {
                insert_event(c, realm, event)?;
            }
            Ok(revoked)
        })
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.writer.register_metrics(registry);
    }

    fn export_realm(&self, realm: &str, out: &mut crate::store::dump::Out) -> DirResult<()> {
        self.export(realm, out)
    }

    fn import_realm(&self, realm: &str, rows: &mut crate::store::dump::Rows) -> DirResult<()> {
        self.import(realm, rows)
    }

    fn prune_events(&self, before: i64, batch: u32) -> DirResult<u64> {
        self.write(|c| {
            // Events are numbered in the order they were recorded: the old ones come first,
            // read by the primary key without a scan of the table for their time.
            let oldest: Vec<(i64, i64)> = c
                .prepare_cached("SELECT seq, time FROM events ORDER BY seq LIMIT ?1")?
                .query_map(params![batch], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let Some(last) = oldest.iter().take_while(|(_, time)| *time < before).map(|(seq, _)| *seq).last() else {
                return Ok(0);
            };
            // Kept while an enabled webhook subscription of their realm has yet to deliver
            // them (until it delivers them, or fails long enough to be disabled).
            c.prepare_cached(
                "DELETE FROM events WHERE seq <= ?1 AND NOT EXISTS (SELECT 1 FROM webhooks w
                     WHERE w.realm = events.realm AND w.enabled AND w.cursor < events.seq)",
            )?
            .execute(params![last])
            .map(|n| n as u64)
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

    fn due_webhooks(
        &self,
        now: i64,
        host: &str,
        lease: std::time::Duration,
        limit: u32,
    ) -> DirResult<Vec<StoredWebhook>> {
        self.lease_due_webhooks(now, host, lease, limit)
    }

    fn webhook_progress(&self, progress: &WebhookProgress) -> DirResult<bool> {
        self.save_webhook_progress(progress)
    }

    fn webhook_attempts(&self, realm: &str, id: &str, limit: u32) -> DirResult<Vec<WebhookAttempt>> {
        self.read_webhook_attempts(realm, id, limit)
    }

    fn events(&self, realm: &str, query: &EventQuery) -> DirResult<Vec<StoredEvent>> {
        let conn = self.checkout(CHECKOUT_TIMEOUT)?;
        // The kinds travel as one JSON array, so the statement text (and its cache entry)
        // stays the same whatever the filter.
        let kinds = serde_json::to_string(&query.kinds).expect("strings serialize");
        let order = if query.newest_first { "DESC" } else { "" };
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT seq, time, kind, resource_id, related_id, details, request_id, organization FROM events
                 WHERE realm = ?1 AND seq > ?2
                   AND (?3 = '[]' OR kind IN (SELECT value FROM json_each(?3)))
                   AND time >= ?4 AND time < ?5
                 ORDER BY seq {order} LIMIT ?6"
            ))
            .map_err(classify)?;
        let (since, until) = (query.since.unwrap_or(i64::MIN), query.until.unwrap_or(i64::MAX));
        let rows = statement
            .query_map(params![realm, query.after, kinds, since, until, query.limit], |r| {
                Ok(StoredEvent {
                    seq: r.get(0)?,
                    time: r.get(1)?,
                    kind: r.get(2)?,
                    resource_id: r.get(3)?,
                    related_id: r.get(4)?,
                    details: r.get(5)?,
                    request_id: r.get(6)?,
                    organization: r.get(7)?,
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

    #[test]
    fn events_past_their_retention_are_pruned_in_batches_and_the_rest_kept() {
        let (_dir, store) = store();
        for i in 0..5 {
            store.record("r", &operator_event("TOKEN_ISSUED", &format!("t{i}"))).unwrap();
        }
        let all = |store: &SqliteStore| store.events("r", &EventQuery { limit: 100, ..Default::default() }).unwrap();
        let times: Vec<i64> = all(&store).iter().map(|e| e.time).collect();
        assert_eq!(store.prune_events(times[0], 100).unwrap(), 0, "nothing before the oldest");
        let future = now_millis() + 60_000;
        assert_eq!(store.prune_events(future, 2).unwrap(), 2, "one batch at a time");
        assert_eq!(all(&store).len(), 3);
        assert_eq!(store.prune_events(future, 100).unwrap(), 3);
        assert!(all(&store).is_empty());
        store.record("r", &operator_event("TOKEN_ISSUED", "late")).unwrap();
        assert_eq!(store.prune_events(now_millis() - 60_000, 100).unwrap(), 0, "a recent event is kept");
        assert_eq!(all(&store).len(), 1);
    }
}
