//! The embedded store: one SQLite file in WAL mode, shared by every realm.
//!
//! Writers take the one in-process write connection in turn, inside a transaction begun
//! `IMMEDIATE` that calls waiting for it share (see [`group_commit`]): they wait their
//! turn instead of polling SQLite's busy handler. Readers take a pooled read-only
//! connection, and WAL lets them read a consistent snapshot while a writer works; a
//! reader's transaction becomes a write at its first write (see [`transaction`]).
//!
//! A file per concept: the schema and its migrations, the read pool, tenant
//! administration, a call's transaction, rows, searches and the directory contract, SQL
//! filters, group commit and the checkpointer.

mod admin;
mod checkpointer;
mod directory;
mod dump;
mod group_commit;
mod paging;
mod rows;
mod schema;
mod transaction;
mod webhooks;

use super::list_cursors::ListCursors;
use super::pool::{Pool, Pooled, Reusable};
use super::sql_filter::{self as filter, Dialect, Kind, Param, Sql};
use super::*;
use group_commit::{Lease, Writer};
use paging::*;
use rows::*;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params, params_from_iter};
use schema::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use transaction::*;

/// How long a call waits for a connection before answering that the store is busy.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read connections kept open.
const MAX_READERS: usize = 32;
/// The most of the database file a connection maps (SQLite caps it at its build's limit,
/// 2 GiB for the bundled library; beyond, pages are read with `pread`).
const MMAP_BYTES: i64 = 1 << 40;

/// A SQLite file holding every realm.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    durability: Durability,
    writer: Arc<Writer>,
    readers: Arc<Pool<Connection>>,
    /// Wakes the thread that copies the write-ahead log back, off the writer's path.
    checkpoints: checkpointer::Waker,
    cursors: Arc<ListCursors>,
}

/// The most bytes of attributes one page of a search carries: the host reads no more for
/// one call than a guest could take in.
pub const MAX_PAGE_BYTES: usize = 32 << 20;

/// The most resources a lookup (by e-mail, by attribute) returns: a lookup by a common
/// value is a search, which pages.
pub const MAX_LOOKUP_ROWS: usize = 1_000;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, durable at commit, and brings
    /// its schema up to date.
    pub fn open(path: &Path) -> DirResult<Self> {
        Self::open_with(path, Durability::Full)
    }

    /// As [`SqliteStore::open`], with the durability of commits chosen.
    pub fn open_with(path: &Path, durability: Durability) -> DirResult<Self> {
        disable_memory_statistics();
        let store = SqliteStore {
            path: path.to_path_buf(),
            durability,
            writer: Arc::new(Writer::new()),
            readers: Arc::new(Pool::new(MAX_READERS)),
            checkpoints: checkpointer::start(path)
                .map_err(|e| DirectoryError::Unavailable(format!("cannot open {}: {e}", path.display())))?,
            cursors: Arc::default(),
        };
        let mut conn = store.connect(Access::Write)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(failed)?;
        migrate(&mut conn)?;
        Ok(store)
    }

    fn connect(&self, access: Access) -> DirResult<Connection> {
        let flags = match access {
            Access::Write => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            Access::Read => OpenFlags::SQLITE_OPEN_READ_ONLY,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| DirectoryError::Unavailable(format!("cannot open {}: {e}", self.path.display())))?;
        if access == Access::Write {
            self.checkpoints.hook(&mut conn).map_err(failed)?;
            // Each call of a write group runs in a savepoint, whose journal of the pages it
            // changes went to a temporary file: a `pwrite` per page, 7% of the server's CPU.
            conn.pragma_update(None, "temp_store", "MEMORY").map_err(failed)?;
        }
        // A statement running at its call's cut-off is interrupted (`SQLITE_INTERRUPT`).
        conn.progress_handler(STEPS_PER_CHECK, Some(past_cutoff)).map_err(failed)?;
        // Another process on the same file is the only writer we can meet here.
        conn.busy_timeout(Duration::from_secs(5)).map_err(failed)?;
        // FULL syncs the write-ahead log at every commit, so an answered write survives power
        // loss; group commit shares one sync among the calls of a group.
        let synchronous = match self.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!("PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous};"))
            .map_err(failed)?;
        // Read the database file through a memory map: a page missing from a connection's
        // own cache is then found in the kernel's page cache without a `pread` and a copy.
        // Each of the 33 connections keeps a cache of its own (2 MiB), so on a large realm
        // most page reads missed it: at 100,000 users, lists of 100 went from ~750 to ~960
        // a second. The map is address space, not memory: its pages are the kernel's page
        // cache, held once, though the RSS counts them once per connection that mapped
        // them (the README tells operators what to watch). The price: a disk that fails a
        // read of a mapped page stops the process (SIGBUS) where `pread` would have failed
        // one request.
        conn.pragma_update(None, "mmap_size", MMAP_BYTES).map_err(failed)?;
        // Keep each cached statement's plan: without this, the bundled SQLite (built with
        // STAT4) re-prepared statements on every new binding of an indexed parameter,
        // a third of a GET's time in SQLite.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// A pooled read connection, waited for at most `timeout`.
    fn checkout(&self, timeout: Duration) -> DirResult<Pooled<Connection>> {
        self.readers.checkout(timeout, || self.connect(Access::Read))
    }

    /// Runs `f` in a short write transaction of the store's own (realm and organization set-up).
    fn write<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> DirResult<T> {
        let lease = self.join_writer()?;
        // Dropped on error, the lease undoes what `f` did.
        let value = f(&lease).map_err(classify)?;
        lease.commit()?;
        Ok(value)
    }

    /// The write connection, lent within its write group's transaction.
    fn join_writer(&self) -> DirResult<Lease> {
        self.writer.join(CHECKOUT_TIMEOUT, || self.connect(Access::Write))
    }
}

/// A connection left inside a transaction is not reusable.
impl Reusable for Connection {
    fn reusable(&self) -> bool {
        self.is_autocommit()
    }
}

/// Turns off SQLite's memory statistics, which put every allocation of every connection
/// behind one global mutex (seen as lock contention in malloc under load). Must run
/// before SQLite initializes; later calls are refused by SQLite and harmless.
fn disable_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before any connection of this process opens
        // (it returns SQLITE_MISUSE, changing nothing, if SQLite is already initialized).
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
        }
    });
}

/// Runs a statement without parameters (BEGIN, COMMIT) from the connection's cache: every
/// call runs two, and `execute_batch` parses them anew each time.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Text(text) => text.to_sql(),
            Param::Int(int) => int.to_sql(),
            Param::Bool(flag) => flag.to_sql(),
        }
    }
}

fn failed(e: rusqlite::Error) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

/// Busy and locked databases are transient: the whole call can run again.
fn classify(e: rusqlite::Error) -> DirectoryError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DirectoryError::Transient(e.to_string()),
        Some(ErrorCode::OperationInterrupted) => DirectoryError::PastDeadline,
        Some(ErrorCode::ConstraintViolation) => {
            DirectoryError::Conflict { constraint: "unique".into(), detail: e.to_string() }
        }
        _ => DirectoryError::Unavailable(e.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn operator_event(kind: &'static str, resource_id: &str) -> OperatorEvent {
        OperatorEvent { kind, resource_id: resource_id.into(), details: "{}".into(), request_id: "t".into() }
    }

    pub(crate) fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("test.db")).unwrap();
        store.ensure_realm("r").unwrap();
        (dir, store)
    }

    /// The usernames of one page of the whole realm, read with no remembered cursor.
    pub(crate) fn usernames_at(store: &SqliteStore, offset: u32, limit: u32) -> Vec<String> {
        store.cursors.clear();
        let mut read = store.begin("r", Access::Read, "test").unwrap();
        let page = read.search_users(&Query { offset, limit, ..Query::default() }).unwrap();
        page.items.into_iter().map(|u| u.username).collect()
    }

    pub(crate) fn draft(username: &str, external: &str) -> UserDraft {
        UserDraft {
            username: username.into(),
            enabled: true,
            attributes: vec![Attribute { name: "externalId".into(), values: vec![external.into()] }],
            ..UserDraft::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::*;

    #[test]
    fn every_connection_reads_the_file_through_a_memory_map() {
        let (_dir, store) = store();
        for access in [Access::Read, Access::Write] {
            let conn = store.connect(access).unwrap();
            let mapped: i64 = conn.query_row("PRAGMA mmap_size", [], |r| r.get(0)).unwrap();
            assert!(mapped >= 1 << 30, "{access:?} connection maps {mapped} bytes");
        }
    }

    #[test]
    fn a_write_in_a_deleted_realm_is_refused() {
        let (_dir, store) = store();
        assert!(store.delete_realm("r").unwrap());
        let mut write = store.begin("r", Access::Write, "test").unwrap();
        assert!(matches!(write.get_user("any"), Err(DirectoryError::NotFound(_))));
        assert!(!store.delete_realm("r").unwrap());
    }
}
