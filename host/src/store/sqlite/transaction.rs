//! One guest call's transaction on the SQLite store: its connection (a pooled reader that
//! becomes the writer at its first write, or the writer from the start), its deadline and
//! its end.

use super::*;

impl SqliteStore {
    /// Takes a connection (waiting at most `timeout`) and begins the transaction of one call.
    pub(super) fn open_transaction(&self, realm: &str, access: Access, timeout: Duration) -> DirResult<Held> {
        match access {
            Access::Read => {
                let conn = self.checkout(timeout)?;
                // Asked before the snapshot begins (at the first read), so that the snapshot
                // holds at least these writes.
                let settled = self.writer.settled_changes();
                run_cached(&conn, "BEGIN DEFERRED").map_err(classify)?;
                Ok(Held::Read(conn, settled))
            }
            Access::Write => {
                let lease = self.writer.join(timeout, || self.connect(Access::Write))?;
                // A write must not bring back a realm deleted since the request found it.
                let known = lease
                    .prepare_cached("SELECT 1 FROM realms WHERE name = ?1")
                    .and_then(|mut s| s.exists(params![realm]))
                    .map_err(classify)?;
                if !known {
                    return Err(DirectoryError::NotFound(format!("realm \"{realm}\"")));
                }
                Ok(Held::Write(lease))
            }
        }
    }
}

/// The connection of a call's transaction: a pooled reader, or the writer lent within a
/// group (see [`super::group_commit`]).
pub(super) enum Held {
    /// A reader, and the writes its snapshot holds when none was pending as it began
    /// ([`super::group_commit::Writer::settled_changes`]).
    Read(Pooled<Connection>, Option<u64>),
    Write(Lease),
}

impl std::ops::Deref for Held {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Held::Read(conn, _) => conn,
            Held::Write(lease) => lease,
        }
    }
}

/// One guest call's transaction, begun at its first operation: what a guest does before
/// it touches the directory (parsing and validating a body) holds no connection and, for
/// a write, not the write connection. Begun as a read, it reads a snapshot beside the
/// writer and becomes a write at its first write (see [`SqliteTransaction::writing`]).
/// Dropped without commit, it rolls back.
pub(super) struct SqliteTransaction {
    pub(super) conn: std::cell::OnceCell<Held>,
    pub(super) store: SqliteStore,
    pub(super) access: Access,
    pub(super) realm: String,
    /// Stamped on the admin events the call records.
    pub(super) request_id: String,
    /// Savepoints the guest holds open.
    pub(super) savepoints: u32,
    /// The call's deadline, once set.
    pub(super) deadline: Option<Deadline>,
    /// When the transaction took the writer.
    pub(super) writer_since: std::cell::Cell<Option<std::time::Instant>>,
    /// The organization lookups are bound to, if any: they match only its members and
    /// groups in SQL, so the lookup cap counts only those.
    pub(super) organization: Option<String>,
}

/// How many SQLite virtual machine steps run between two checks of a call's cut-off (a
/// few microseconds of work).
pub(super) const STEPS_PER_CHECK: i32 = 1_000;

thread_local! {
    /// The cut-off of the call whose transaction this thread runs: a call runs on one
    /// thread and holds its connection there, so every connection's progress handler reads
    /// the cut-off of the call using it here.
    static CUTOFF: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Whether the statement running on this thread is past its call's cut-off. A write is
/// never interrupted: SQLite rolls back the whole transaction of an interrupted write, and
/// the writer's transaction holds other calls' work (group commit). A write call is held
/// to its cut-off before each directory operation instead (see `bindings`).
pub(super) fn past_cutoff() -> bool {
    !WRITING.get() && CUTOFF.get().is_some_and(|cutoff| std::time::Instant::now() >= cutoff)
}

thread_local! {
    /// Set while a write operation runs on this thread.
    static WRITING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks a write operation for as long as it lives: its statements are not interrupted.
pub(super) struct Writing;

impl Writing {
    pub(super) fn begin() -> Writing {
        WRITING.set(true);
        Writing
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        WRITING.set(false);
    }
}

/// The deepest nesting of savepoints a call may open: each costs the writer memory.
pub(super) const MAX_SAVEPOINTS: u32 = 32;

impl SqliteTransaction {
    pub(super) fn new(store: &SqliteStore, realm: &str, access: Access, request_id: &str) -> Self {
        SqliteTransaction {
            request_id: request_id.to_string(),
            conn: std::cell::OnceCell::new(),
            store: store.clone(),
            access,
            realm: realm.to_string(),
            savepoints: 0,
            deadline: None,
            writer_since: Default::default(),
            organization: None,
        }
    }

    /// The transaction's connection, begun on first use. Its wait for a connection and its
    /// statements end at the call's cut-off.
    pub(super) fn conn(&self) -> DirResult<&Held> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn);
        }
        let now = std::time::Instant::now();
        let wait = match self.deadline {
            Some(deadline) => deadline.at.saturating_duration_since(now).min(CHECKOUT_TIMEOUT),
            None => CHECKOUT_TIMEOUT,
        };
        let conn = self.store.open_transaction(&self.realm, self.access, wait)?;
        let since = (self.access == Access::Write).then(std::time::Instant::now);
        self.writer_since.set(since);
        if let Some(deadline) = self.deadline {
            CUTOFF.set(Some(deadline.cutoff(since)));
        }
        Ok(self.conn.get_or_init(|| conn))
    }

    /// Marks a write operation, first making a transaction begun as a read a write. A
    /// reader that has read takes the writer and goes on there if no write was kept since
    /// its snapshot began, so that the writer sees just what it read; otherwise what it
    /// read may be stale, and its call runs again ([`DirectoryError::Transient`]). Its
    /// statements are then not interrupted (see [`past_cutoff`]).
    pub(super) fn writing(&mut self) -> DirResult<Writing> {
        if self.access == Access::Read {
            self.access = Access::Write;
            if let Some(Held::Read(conn, settled)) = self.conn.take() {
                let _ = run_cached(&conn, "ROLLBACK");
                drop(conn);
                self.conn()?;
                if settled != Some(self.store.writer.changes()) {
                    return Err(DirectoryError::Transient(
                        "another write changed the store since this call read it".into(),
                    ));
                }
            }
        }
        Ok(Writing::begin())
    }

    /// Lifts the cut-off before the connection goes back: the writer's rollback or the
    /// next call must not be interrupted by this call's deadline.
    pub(super) fn unbind(&self) {
        if self.conn.get().is_some() {
            CUTOFF.set(None);
        }
    }
}

impl Drop for SqliteTransaction {
    fn drop(&mut self) {
        self.unbind();
        // A lease undoes its own call's changes when dropped.
        if let Some(Held::Read(conn, _)) = self.conn.get()
            && !conn.is_autocommit()
        {
            let _ = run_cached(conn, "ROLLBACK");
        }
    }
}

impl Transaction for SqliteTransaction {
    fn bind_lookups_to_organization(&mut self, organization_id: &str) {
        self.organization = Some(organization_id.to_string());
    }

    fn organization_members_among(&mut self, organization_id: &str, user_ids: &[String]) -> DirResult<Vec<bool>> {
        let members: std::collections::HashSet<String> = self.ids_among(
            "SELECT user_id FROM organization_members
             WHERE realm = ?1 AND organization_id = ?2 AND user_id IN (SELECT value FROM json_each(?3))",
            organization_id,
            user_ids,
        )?;
        Ok(user_ids.iter().map(|id| members.contains(id)).collect())
    }

    fn organization_groups_among(&mut self, organization_id: &str, group_ids: &[String]) -> DirResult<Vec<bool>> {
        let owned: std::collections::HashSet<String> = self.ids_among(
            "SELECT id FROM groups WHERE realm = ?1 AND organization = ?2 AND id IN (SELECT value FROM json_each(?3))",
            organization_id,
            group_ids,
        )?;
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
        // A member already is one without a write, so that a repeated upsert in an
        // organization stays a read.
        if self.is_organization_member(organization_id, user_id)? {
            return Ok(false);
        }
        let _writing = self.writing()?;
        self.conn()?
            .prepare_cached(
                "INSERT OR IGNORE INTO organization_members (realm, organization_id, user_id, managed)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(params![self.realm, organization_id, user_id, membership == MembershipType::Managed])
            })
            .map(|n| n > 0)
            .map_err(classify)
    }

    fn offboard_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<Offboarding> {
        let _writing = self.writing()?;
        // (managed here, memberships of other organizations)
        let found: Option<(bool, i64)> = self
            .conn()?
            .prepare_cached(
                "SELECT managed, (SELECT count(*) FROM organization_members o
                                  WHERE o.realm = m.realm AND o.user_id = m.user_id AND o.organization_id != m.organization_id)
                 FROM organization_members m WHERE m.realm = ?1 AND m.organization_id = ?2 AND m.user_id = ?3",
            )
            .and_then(|mut s| s.query_row(params![self.realm, organization_id, user_id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(classify)?;
        match found {
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

    fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = Some(deadline);
    }

    fn writer_since(&self) -> Option<std::time::Instant> {
        self.writer_since.get()
    }

    fn commit(mut self: Box<Self>) -> DirResult<()> {
        self.unbind();
        match self.conn.take() {
            Some(Held::Read(conn, _)) => run_cached(&conn, "COMMIT").map_err(classify),
            Some(Held::Write(lease)) => lease.commit(),
            // The call never touched the directory.
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::test_support::*;

    #[test]
    fn slow_store_work_is_interrupted_at_the_calls_deadline_and_the_next_call_is_not() {
        let (_dir, store) = store();
        let endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n";
        for access in [Access::Read, Access::Write] {
            let mut tx = SqliteTransaction::new(&store, "r", access, "test");
            let deadline = std::time::Instant::now() + Duration::from_millis(100);
            tx.set_deadline(Deadline { at: deadline, write_hold: Duration::from_secs(60) });
            let started = std::time::Instant::now();
            let ran = tx.conn().unwrap().query_row(endless, [], |r| r.get::<_, i64>(0)).map_err(classify);
            assert_eq!(ran, Err(DirectoryError::PastDeadline), "{access:?}");
            assert!(started.elapsed() < Duration::from_secs(5), "{access:?}: {:?}", started.elapsed());
            drop(tx);
            // The connection goes back without the cut-off: the next call's work runs.
            let mut next = store.begin("r", access, "test").unwrap();
            assert!(next.get_user("nobody").unwrap().is_none());
        }
    }

    #[test]
    fn a_write_past_the_cutoff_is_not_interrupted_since_that_would_roll_back_its_group() {
        let (_dir, store) = store();
        let org = store.ensure_organization("r", "acme", "Acme").unwrap();
        let mut setup = store.begin("r", Access::Write, "test").unwrap();
        let ann = setup.create_user(&draft("ann", "x-ann")).unwrap();
        setup.add_organization_member(&org.id, &ann.id).unwrap();
        for i in 0..2_000 {
            let group = GroupDraft { name: format!("g{i}"), organization: Some(org.id.clone()), attributes: vec![] };
            let group = setup.create_group(&group).unwrap();
            setup.add_member(&group.id, &ann.id).unwrap();
        }
        setup.commit().unwrap();

        let mut tx = SqliteTransaction::new(&store, "r", Access::Write, "test");
        tx.set_deadline(Deadline { at: std::time::Instant::now(), write_hold: Duration::ZERO });
        // Past its cut-off from the start: a long read is interrupted; a long write (2,000
        // memberships and the touch of their groups) runs whole.
        let endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n";
        let read = tx.conn().unwrap().query_row(endless, [], |r| r.get::<_, i64>(0)).map_err(classify);
        assert_eq!(read, Err(DirectoryError::PastDeadline));
        assert!(tx.remove_organization_member(&org.id, &ann.id).unwrap());
        Box::new(tx).commit().unwrap();
        let mut reader = store.begin("r", Access::Read, "test").unwrap();
        assert!(reader.user_groups(&ann.id).unwrap().is_empty(), "the write was kept whole");
    }

    #[test]
    fn savepoints_nest_up_to_a_cap() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for _ in 0..MAX_SAVEPOINTS {
            tx.savepoint().unwrap();
        }
        assert!(matches!(tx.savepoint(), Err(DirectoryError::Invalid(_))));
        tx.rollback_to_savepoint().unwrap();
        tx.savepoint().unwrap();
        assert!(matches!(
            store.begin("r", Access::Read, "test").unwrap().release_savepoint(),
            Err(DirectoryError::Invalid(_))
        ));
    }

    #[test]
    fn an_uncommitted_transaction_leaves_nothing_behind() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        tx.create_user(&draft("ann", "x1")).unwrap();
        drop(tx);
        let mut tx = store.begin("r", Access::Read, "test").unwrap();
        assert_eq!(tx.get_user_by_username("ann").unwrap(), None);
    }

    #[test]
    fn a_read_that_writes_becomes_a_write_unless_a_write_came_between() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        tx.create_user(&draft("ann", "x1")).unwrap();
        tx.commit().unwrap();
        // Nothing written since it read: it goes on as a write, and keeps what it read.
        let mut fresh = store.begin("r", Access::Read, "test").unwrap();
        let ann = fresh.get_user_by_username("ann").unwrap().unwrap();
        assert!(fresh.writer_since().is_none(), "a read does not hold the writer");
        fresh.update_user(&ann.id, &draft("ann", "x2")).unwrap();
        assert!(fresh.writer_since().is_some());
        fresh.commit().unwrap();
        // A write committed after its snapshot began: what it read may be stale.
        let mut stale = store.begin("r", Access::Read, "test").unwrap();
        assert!(stale.get_user_by_username("bob").unwrap().is_none());
        let mut other = store.begin("r", Access::Write, "test").unwrap();
        other.create_user(&draft("bob", "x3")).unwrap();
        other.commit().unwrap();
        assert!(matches!(stale.create_user(&draft("bob", "x4")), Err(DirectoryError::Transient(_))));
        drop(stale);
        // A read that never read before its first write simply begins as a write.
        let mut blind = store.begin("r", Access::Read, "test").unwrap();
        blind.create_user(&draft("cy", "x5")).unwrap();
        blind.commit().unwrap();
        let mut read = store.begin("r", Access::Read, "test").unwrap();
        let names: Vec<String> = read
            .search_users(&Query { limit: 10, ..Query::default() })
            .unwrap()
            .items
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["ann", "bob", "cy"]);
        assert_eq!(read.get_user(&ann.id).unwrap().unwrap().attributes[0].values, ["x2"]);
    }
}
