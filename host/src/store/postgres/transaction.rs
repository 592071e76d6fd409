//! One guest call's transaction on the PostgreSQL store: a pooled connection in a
//! REPEATABLE READ transaction, begun at the call's first directory operation and bounded
//! by its deadline.
//!
//! Writes of a realm run in parallel, and two that touch the same rows meet a serialization
//! failure: the call runs again. So that calls that keep meeting (sixteen clients PATCHing
//! one group) converge instead of failing over and over, each realm has a write lock: every
//! transaction holds it shared from its first write, and a call that runs again takes it
//! whole before its snapshot begins (a session lock, taken before BEGIN), so it runs alone
//! among the realm's writers and wins.

use super::*;

/// One guest call's transaction, begun at its first operation: what a guest does before
/// it touches the directory holds no connection. One snapshot serves all its reads, so a
/// page and its total agree; its writes are checked against what others committed since
/// (a serialization failure, and the call runs again). Dropped without commit, it rolls back.
pub struct PostgresTransaction {
    conn: Option<Pooled<Connection>>,
    pub(super) store: PostgresStore,
    pub(super) realm: String,
    /// Stamped on the admin events the call records.
    pub(super) request_id: String,
    /// For each savepoint the guest holds open, how many events were pending at its start.
    savepoints: Vec<usize>,
    /// The events the call emitted, with their times: written at its commit (see
    /// [`write_events`]).
    pub(super) pending_events: Vec<(i64, AdminEvent)>,
    deadline: Option<Deadline>,
    /// Since when the transaction writes (and holds row locks), its first write having
    /// found the realm still there.
    writing_since: Option<std::time::Instant>,
    /// The organization lookups are bound to, if any.
    pub(super) organization: Option<String>,
    /// Whether the call runs alone among the realm's writers (a call run again).
    alone: bool,
    /// Cancels the running statement at the call's cut-off (see [`super::watchdog`]).
    watched: Option<super::watchdog::Watched>,
}

/// The key of a realm's write lock (an advisory lock of this store's own).
fn realm_lock_key(realm: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("scim-host writes {realm}"));
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The deepest nesting of savepoints a call may open.
const MAX_SAVEPOINTS: usize = 32;

impl PostgresTransaction {
    pub(super) fn new(store: &PostgresStore, realm: &str, access: Access, request_id: &str) -> Self {
        PostgresTransaction {
            conn: None,
            store: store.clone(),
            realm: realm.to_string(),
            request_id: request_id.to_string(),
            savepoints: Vec::new(),
            pending_events: Vec::new(),
            deadline: None,
            writing_since: None,
            organization: None,
            alone: access == Access::Write,
            watched: None,
        }
    }

    /// The transaction's connection, begun on first use. Its wait for a connection, and
    /// every statement, end at the call's deadline (`statement_timeout`, counted from now).
    pub(super) fn conn(&mut self) -> DirResult<&mut Connection> {
        if self.conn.is_none() {
            let remaining = self.deadline.map(|d| d.at.saturating_duration_since(std::time::Instant::now()));
            if remaining.is_some_and(|r| r.is_zero()) {
                return Err(DirectoryError::PastDeadline);
            }
            let mut conn = self.store.checkout(remaining.unwrap_or(CHECKOUT_TIMEOUT).min(CHECKOUT_TIMEOUT))?;
            if let Some(deadline) = self.deadline {
                self.watched = Some(self.store.watchdog.watch(deadline.at, conn.client().cancel_token()));
            }
            let timeout = remaining.map_or(0, |r| r.as_millis().max(1));
            let begin = format!("BEGIN ISOLATION LEVEL REPEATABLE READ; SET LOCAL statement_timeout = {timeout}");
            if self.alone {
                // The realm's write lock, whole, before the snapshot: waited for until the
                // deadline, held by the session until the transaction ends.
                let key = realm_lock_key(&self.realm);
                conn.realm_lock = Some(key);
                let sql = format!(
                    "BEGIN; SET LOCAL statement_timeout = {timeout}; SELECT pg_advisory_lock({key}); COMMIT; {begin}"
                );
                self.begin_or_end(conn, &sql)?;
            } else {
                self.begin_or_end(conn, &begin)?;
            }
        }
        Ok(self.conn.as_mut().expect("just set"))
    }

    /// Begins the transaction on `conn`, which it then holds; on failure, ends the watch.
    fn begin_or_end(&mut self, mut conn: Pooled<Connection>, sql: &str) -> DirResult<()> {
        match conn.begin(sql) {
            Ok(()) => {
                self.conn = Some(conn);
                Ok(())
            }
            Err(e) => {
                end_watch(&mut self.watched, &mut conn);
                Err(e)
            }
        }
    }

    /// The `statement_timeout` (milliseconds, as text; 0: none) that ends statements at the
    /// cut-off of a write hold begun at `since`.
    fn write_hold_timeout(&self, since: std::time::Instant) -> String {
        let now = std::time::Instant::now();
        let left = self.deadline.map(|d| d.cutoff(Some(since)).saturating_duration_since(now));
        left.map_or(0, |left| left.as_millis().max(1)).to_string()
    }

    /// Marks a write: the first one makes sure the realm still exists, so that a write
    /// does not bring back a realm deleted since the request found it, and starts the
    /// call's write hold (it may hold row locks from now on).
    pub(super) fn writing(&mut self) -> DirResult<()> {
        if self.writing_since.is_none() {
            let (realm, now) = (self.realm.clone(), std::time::Instant::now());
            // Statements end at the write hold's cut-off from now on (same round trip).
            let timeout = self.write_hold_timeout(now);
            let key = realm_lock_key(&realm);
            let found = self.conn()?.query_opt(
                "SELECT set_config('statement_timeout', $2, TRUE), pg_advisory_xact_lock_shared($3)
                 FROM realms WHERE name = $1",
                &[&realm, &timeout, &key],
            )?;
            if found.is_none() {
                return Err(DirectoryError::NotFound(format!("realm \"{realm}\"")));
            }
            self.writing_since = Some(now);
            if let (Some(watched), Some(deadline)) = (&self.watched, self.deadline) {
                let cutoff = deadline.cutoff(Some(now));
                if cutoff < deadline.at {
                    watched.also_at(cutoff);
                }
            }
            self.store.metrics.write_transactions.inc();
        }
        Ok(())
    }
}

impl Drop for PostgresTransaction {
    fn drop(&mut self) {
        if let Some(conn) = &mut self.conn {
            conn.rollback();
            unlock_realm(conn);
            end_watch(&mut self.watched, conn);
        }
    }
}

/// Ends a transaction's watch before its connection goes back to the pool: a connection
/// the watchdog sent a cancel to is closed instead (the cancel may land later).
fn end_watch(watched: &mut Option<super::watchdog::Watched>, conn: &mut Connection) {
    if watched.take().is_some_and(|watched| watched.end()) {
        conn.cancelled = true;
    }
}

/// Gives back the realm's write lock the session holds, if it does; a connection that
/// cannot is not reused (its session's end gives the lock back).
fn unlock_realm(conn: &mut Connection) {
    if let Some(key) = conn.realm_lock
        && conn.batch(&format!("SELECT pg_advisory_unlock({key})")).is_ok()
    {
        conn.realm_lock = None;
    }
}

impl Transaction for PostgresTransaction {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = Some(deadline);
    }

    fn bind_lookups_to_organization(&mut self, organization_id: &str) {
        self.organization = Some(organization_id.to_string());
    }

    fn writer_since(&self) -> Option<std::time::Instant> {
        self.writing_since
    }

    fn organization_members_among(&mut self, organization_id: &str, user_ids: &[String]) -> DirResult<Vec<bool>> {
        let realm = self.realm.clone();
        let rows = self.conn()?.query(
            "SELECT user_id FROM organization_members WHERE realm = $1 AND organization_id = $2 AND user_id = ANY($3)",
            &[&realm, &organization_id, &user_ids],
        )?;
        let members: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(user_ids.iter().map(|id| members.contains(id)).collect())
    }

    fn organization_groups_among(&mut self, organization_id: &str, group_ids: &[String]) -> DirResult<Vec<bool>> {
        let realm = self.realm.clone();
        let rows = self.conn()?.query(
            "SELECT id FROM groups WHERE realm = $1 AND organization = $2 AND id = ANY($3)",
            &[&realm, &organization_id, &group_ids],
        )?;
        let owned: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(group_ids.iter().map(|id| owned.contains(id)).collect())
    }

    fn join_organization(
        &mut self,
        organization_id: &str,
        user_id: &str,
        membership: MembershipType,
    ) -> DirResult<bool> {
        for (table, id) in [("organizations", organization_id), ("users", user_id)] {
            if !self.exists(table, id)? {
                return Err(DirectoryError::NotFound(id.to_string()));
            }
        }
        // A member already is one without a write, so that a repeated upsert stays a read.
        if self.is_organization_member(organization_id, user_id)? {
            return Ok(false);
        }
        self.writing()?;
        let realm = self.realm.clone();
        let managed = membership == MembershipType::Managed;
        let added = self.conn()?.execute(
            "INSERT INTO organization_members (realm, organization_id, user_id, managed) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&realm, &organization_id, &user_id, &managed],
        )?;
        Ok(added > 0)
    }

    fn offboard_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<Offboarding> {
        self.writing()?;
        let realm = self.realm.clone();
        // (managed here, memberships of other organizations)
        let found = self.conn()?.query_opt(
            "SELECT managed, (SELECT count(*) FROM organization_members o
                              WHERE o.realm = m.realm AND o.user_id = m.user_id AND o.organization_id <> m.organization_id)
             FROM organization_members m WHERE m.realm = $1 AND m.organization_id = $2 AND m.user_id = $3",
            &[&realm, &organization_id, &user_id],
        )?;
        match found.map(|r| (r.get::<_, bool>(0), r.get::<_, i64>(1))) {
            None => Ok(Offboarding::NotMember),
            Some((true, 0)) => {
                self.delete_user(user_id)?;
                Ok(Offboarding::Deleted)
            }
            Some(_) => {
                self.remove_organization_member(organization_id, user_id)?;
                Ok(Offboarding::Left)
            }
        }
    }

    fn commit(mut self: Box<Self>) -> DirResult<()> {
        let events = std::mem::take(&mut self.pending_events);
        if !events.is_empty() {
            let (realm, request_id, organization) =
                (self.realm.clone(), self.request_id.clone(), self.organization.clone());
            write_events(self.conn()?, &realm, &request_id, organization.as_deref(), &events)?;
        }
        match self.conn.take() {
            Some(mut conn) => {
                let committed = conn.commit();
                unlock_realm(&mut conn);
                end_watch(&mut self.watched, &mut conn);
                committed
            }
            // The call never touched the directory.
            None => Ok(()),
        }
    }
}

impl PostgresTransaction {
    pub(super) fn savepoint_open(&mut self) -> DirResult<()> {
        if self.savepoints.len() >= MAX_SAVEPOINTS {
            return Err(DirectoryError::Invalid(format!("at most {MAX_SAVEPOINTS} savepoints may be open at once")));
        }
        self.conn()?.batch("SAVEPOINT scim_guest")?;
        self.savepoints.push(self.pending_events.len());
        Ok(())
    }

    pub(super) fn savepoint_close(&mut self, undo: bool) -> DirResult<()> {
        let Some(&pending) = self.savepoints.last() else {
            return Err(DirectoryError::Invalid("no savepoint is open".into()));
        };
        let sql = if undo { "ROLLBACK TO scim_guest; RELEASE scim_guest" } else { "RELEASE scim_guest" };
        self.conn()?.batch(sql)?;
        self.savepoints.pop();
        if undo {
            self.pending_events.truncate(pending);
            // ROLLBACK TO undid the write hold's `statement_timeout` too, if it came after.
            if let (Some(since), Some(_)) = (self.writing_since, self.deadline) {
                let timeout = self.write_hold_timeout(since);
                self.conn()?.query("SELECT set_config('statement_timeout', $1, TRUE)", &[&timeout])?;
            }
        }
        Ok(())
    }
}

/// Writes a committing call's events. Their numbers must follow the order in which their
/// transactions become visible, or a reader that resumes after the last number it saw (an
/// event stream) would skip an event numbered before it and committed after: so each
/// realm's events are numbered under a lock held from here to the commit, a moment.
fn write_events(
    conn: &mut Connection,
    realm: &str,
    request_id: &str,
    organization: Option<&str>,
    events: &[(i64, AdminEvent)],
) -> DirResult<()> {
    let times: Vec<i64> = events.iter().map(|(time, _)| *time).collect();
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e.kind.name()).collect();
    let resources: Vec<&str> = events.iter().map(|(_, e)| e.resource_id.as_str()).collect();
    let related: Vec<Option<&str>> = events.iter().map(|(_, e)| e.related_id.as_deref()).collect();
    let details: Vec<&str> = events.iter().map(|(_, e)| e.details.as_str()).collect();
    conn.execute(
        "WITH turn AS (SELECT pg_advisory_xact_lock(hashtext('events ' || $1::TEXT)))
         INSERT INTO events (realm, time, kind, resource_id, related_id, details, request_id, organization)
         SELECT $1::TEXT, e.at, e.kind, e.resource_id, e.related_id, e.details, $2::TEXT, $8::TEXT
         FROM turn, unnest($3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[])
              WITH ORDINALITY AS e(at, kind, resource_id, related_id, details, n)
         ORDER BY e.n",
        &[&realm, &request_id, &times, &kinds, &resources, &related, &details, &organization],
    )
    .map(drop)
}
