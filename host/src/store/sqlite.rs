//! The embedded store: one SQLite file in WAL mode, shared by every realm.
//!
//! Writers take the one in-process write connection in turn, inside a transaction begun
//! `IMMEDIATE` that calls waiting for it share (see [`super::group_commit`]): they wait
//! their turn instead of polling SQLite's busy handler, and never fail on a read-to-write
//! upgrade. Readers take a pooled read-only connection, and WAL lets them
//! read a consistent snapshot while a writer works.

use super::checkpointer;
use super::group_commit::{Lease, Writer};
use super::sql_filter::{self, Kind, Sql};
use super::*;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params, params_from_iter};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a call waits for a connection before answering that the store is busy.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read connections kept open.
const MAX_READERS: usize = 32;
/// The most of the database file a connection maps (SQLite caps it at its build's limit,
/// 2 GiB for the bundled library; beyond, pages are read with `pread`).
const MMAP_BYTES: i64 = 1 << 40;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS realms (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    managed INTEGER NOT NULL DEFAULT 0,
    limits TEXT,
    settings TEXT
);
CREATE TABLE IF NOT EXISTS users (
    realm TEXT NOT NULL,
    id TEXT NOT NULL,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL,
    email TEXT,
    email_lower TEXT,
    first_name TEXT,
    first_name_lower TEXT,
    last_name TEXT,
    last_name_lower TEXT,
    enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    -- Place in the realm's list order (insertion order), see `list_buckets`.
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_username ON users (realm, username_lower);
CREATE INDEX IF NOT EXISTS users_by_email ON users (realm, email_lower);
DROP INDEX IF EXISTS users_by_creation;
CREATE TABLE IF NOT EXISTS user_attributes (
    realm TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    value_lower TEXT NOT NULL,
    PRIMARY KEY (realm, user_id, name, position),
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS user_attributes_by_value ON user_attributes (realm, name, value_lower);
CREATE UNIQUE INDEX IF NOT EXISTS user_external_ids ON user_attributes (realm, value) WHERE name = 'externalId';
CREATE TABLE IF NOT EXISTS groups (
    realm TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    organization TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, id)
);
CREATE INDEX IF NOT EXISTS groups_by_name ON groups (realm, name_lower);
CREATE INDEX IF NOT EXISTS groups_by_organization ON groups (realm, organization);
DROP INDEX IF EXISTS groups_by_creation;
-- How many of a realm's users (or groups) hold each run of 1,024 list places: a page at
-- any startIndex sums at most a thousand counts per million resources, then skips fewer
-- than 1,024 index entries, instead of walking `startIndex` entries.
CREATE TABLE IF NOT EXISTS list_buckets (
    realm TEXT NOT NULL,
    kind TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (realm, kind, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_attributes (
    realm TEXT NOT NULL,
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    value_lower TEXT NOT NULL,
    PRIMARY KEY (realm, group_id, name, position),
    FOREIGN KEY (realm, group_id) REFERENCES groups (realm, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS group_attributes_by_value ON group_attributes (realm, name, value_lower);
CREATE UNIQUE INDEX IF NOT EXISTS group_external_ids ON group_attributes (realm, value) WHERE name = 'externalId';
CREATE TABLE IF NOT EXISTS memberships (
    realm TEXT NOT NULL,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    UNIQUE (realm, group_id, user_id),
    FOREIGN KEY (realm, group_id) REFERENCES groups (realm, id) ON DELETE CASCADE,
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
-- Covering, so that a user's groups are found without reading the table (a non-covering
-- index lost to the primary key's, which scanned every membership of the realm).
DROP INDEX IF EXISTS memberships_by_user;
CREATE INDEX IF NOT EXISTS memberships_by_user_group ON memberships (realm, user_id, group_id);
CREATE TABLE IF NOT EXISTS organizations (
    realm TEXT NOT NULL,
    id TEXT NOT NULL,
    alias TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (realm, id),
    UNIQUE (realm, alias)
);
CREATE TABLE IF NOT EXISTS organization_members (
    realm TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- 1 for a managed member (created through the organization), 0 for an unmanaged one.
    managed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (realm, organization_id, user_id),
    FOREIGN KEY (realm, organization_id) REFERENCES organizations (realm, id) ON DELETE CASCADE,
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS organization_members_by_user ON organization_members (realm, user_id);
CREATE TABLE IF NOT EXISTS credentials (
    realm TEXT NOT NULL,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (realm, user_id, type),
    FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    realm TEXT NOT NULL,
    organization TEXT,
    hash TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_by_realm ON tokens (realm);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    realm TEXT NOT NULL,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    related_id TEXT,
    details TEXT NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_realm ON events (realm, seq);
"#;

/// log2 of the list places one `list_buckets` row counts.
const BUCKET_BITS: u32 = 10;

/// The list order's index and bucket counts, kept by triggers so that no writer can miss
/// them. Run after [`migrate`], which gives an older database the `seq` columns.
fn list_order_schema() -> String {
    ["users", "groups"]
        .map(|table| {
            format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {table}_in_order ON {table} (realm, seq);
                 CREATE TRIGGER IF NOT EXISTS {table}_counted AFTER INSERT ON {table} BEGIN
                     INSERT INTO list_buckets (realm, kind, bucket, count)
                     VALUES (new.realm, '{table}', new.seq >> {BUCKET_BITS}, 1)
                     ON CONFLICT (realm, kind, bucket) DO UPDATE SET count = count + 1;
                 END;
                 CREATE TRIGGER IF NOT EXISTS {table}_uncounted AFTER DELETE ON {table} BEGIN
                     UPDATE list_buckets SET count = count - 1
                     WHERE realm = old.realm AND kind = '{table}' AND bucket = old.seq >> {BUCKET_BITS};
                 END;"
            )
        })
        .join("\n")
}

/// A SQLite file holding every realm.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    durability: Durability,
    writer: Arc<Writer>,
    readers: Arc<Pool>,
    /// Wakes the thread that copies the write-ahead log back, off the writer's path.
    checkpoints: checkpointer::Waker,
    /// The last list place of a page a list query returned, kept under the query and the
    /// offset after the page (clients paging at once through the same list each find theirs).
    /// Keyed by a digest of the query: a filter of any length costs the table 32 bytes.
    cursors: Arc<Mutex<HashMap<([u8; 32], u32), i64>>>,
}

/// The most bytes of attributes one page of a search carries: the host reads no more for
/// one call than a guest could take in.
pub const MAX_PAGE_BYTES: usize = 32 << 20;
/// The most resources a lookup (by e-mail, by attribute) returns: a lookup by a common
/// value is a search, which pages.
pub const MAX_LOOKUP_ROWS: usize = 1_000;

/// The most list queries whose last page is remembered (beyond, the table starts over).
const MAX_CURSORS: usize = 4096;

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
        let conn = store.connect(Access::Write)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(failed)?;
        conn.execute_batch(SCHEMA).map_err(failed)?;
        migrate(&conn).map_err(failed)?;
        conn.execute_batch(&list_order_schema()).map_err(failed)?;
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
    fn checkout(&self, timeout: Duration) -> DirResult<Pooled> {
        let pool = &self.readers;
        match pool.take(timeout)? {
            Some(conn) => Ok(Pooled { conn: Some(conn), pool: pool.clone() }),
            None => match self.connect(Access::Read) {
                Ok(conn) => Ok(Pooled { conn: Some(conn), pool: pool.clone() }),
                Err(e) => {
                    // The slot taken for the new connection is free again.
                    pool.give_back(None);
                    Err(e)
                }
            },
        }
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

/// Brings a database written by an earlier version up to the current schema.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('realms')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (column, definition) in [("managed", "INTEGER NOT NULL DEFAULT 0"), ("limits", "TEXT"), ("settings", "TEXT")] {
        if !columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE realms ADD COLUMN {column} {definition}"))?;
        }
    }
    // Members of an earlier version's organizations are unmanaged: what created them is unknown.
    let managed =
        conn.prepare("SELECT 1 FROM pragma_table_info('organization_members') WHERE name = 'managed'")?.exists([])?;
    if !managed {
        conn.execute_batch("ALTER TABLE organization_members ADD COLUMN managed INTEGER NOT NULL DEFAULT 0")?;
    }
    // Counters of an earlier version, now the sum of `list_buckets`: left there, they
    // would only go stale.
    for column in ["user_count", "group_count"] {
        if columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE realms DROP COLUMN {column}"))?;
        }
    }
    for table in ["users", "groups"] {
        let has_seq =
            conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = 'seq'"))?.exists([])?;
        if !has_seq {
            // The list order of an older database: creation, then id, as it listed before.
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
                 UPDATE {table} SET seq = o.n FROM (
                     SELECT realm, id, row_number() OVER (PARTITION BY realm ORDER BY created_at, id) AS n FROM {table}
                 ) o WHERE {table}.realm = o.realm AND {table}.id = o.id;
                 INSERT INTO list_buckets (realm, kind, bucket, count)
                     SELECT realm, '{table}', seq >> {BUCKET_BITS}, count(*) FROM {table} GROUP BY realm, seq >> {BUCKET_BITS};"
            ))?;
        }
    }
    Ok(())
}

/// Records an operator's change among the realm's events.
fn insert_event(c: &Connection, realm: &str, event: &OperatorEvent) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO events (realm, time, kind, resource_id, related_id, details, request_id)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)",
    )?
    .execute(params![realm, now_millis(), event.kind, event.resource_id, event.details, event.request_id])
    .map(drop)
}

/// The tables that hold a realm's rows, children before their parents.
const REALM_TABLES: [&str; 12] = [
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

/// A small connection pool: `capacity` connections at most, idle ones kept for reuse.
/// A std Mutex, not a tokio one: guest calls run on blocking threads and never await.
struct Pool {
    state: Mutex<PoolState>,
    returned: Condvar,
    capacity: usize,
}

struct PoolState {
    idle: Vec<Connection>,
    out: usize,
}

impl Pool {
    fn new(capacity: usize) -> Self {
        Pool { state: Mutex::new(PoolState { idle: Vec::new(), out: 0 }), returned: Condvar::new(), capacity }
    }

    /// An idle connection, or `None` when the caller may open a new one.
    fn take(&self, timeout: Duration) -> DirResult<Option<Connection>> {
        let state = self.state.lock().expect("pool lock");
        let (mut state, waited) = self
            .returned
            .wait_timeout_while(state, timeout, |s| s.idle.is_empty() && s.out >= self.capacity)
            .expect("pool lock");
        if waited.timed_out() && state.idle.is_empty() && state.out >= self.capacity {
            return Err(DirectoryError::Unavailable(format!(
                "the store is busy: no connection free after {} s",
                timeout.as_secs()
            )));
        }
        state.out += 1;
        Ok(state.idle.pop())
    }

    fn give_back(&self, conn: Option<Connection>) {
        let mut state = self.state.lock().expect("pool lock");
        state.out -= 1;
        if let Some(conn) = conn {
            state.idle.push(conn);
        }
        self.returned.notify_one();
    }
}

/// A connection checked out of a pool, returned when dropped.
struct Pooled {
    conn: Option<Connection>,
    pool: Arc<Pool>,
}

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a pooled connection is present until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // A connection left inside a transaction is not reusable; close it.
        let conn = self.conn.take().filter(|c| c.is_autocommit());
        self.pool.give_back(conn);
    }
}

/// Runs a statement without parameters (BEGIN, COMMIT) from the connection's cache: every
/// call runs two, and `execute_batch` parses them anew each time.
pub(super) fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn failed(e: rusqlite::Error) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

/// Busy and locked databases are transient: the whole call can run again.
pub(super) fn classify(e: rusqlite::Error) -> DirectoryError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DirectoryError::Transient(e.to_string()),
        Some(ErrorCode::OperationInterrupted) => DirectoryError::PastDeadline,
        Some(ErrorCode::ConstraintViolation) => {
            DirectoryError::Conflict { constraint: "unique".into(), detail: e.to_string() }
        }
        _ => DirectoryError::Unavailable(e.to_string()),
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Adds one value to attributes read in (name, position) order: to the last attribute
/// when it has this name, else as a new attribute.
fn push_value(attributes: &mut Vec<Attribute>, name: String, value: String) {
    match attributes.last_mut() {
        Some(last) if last.name == name => last.values.push(value),
        _ => attributes.push(Attribute { name, values: vec![value] }),
    }
}

fn organization_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Organization> {
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
            c.prepare_cached("DELETE FROM events WHERE seq <= ?1")?.execute(params![last]).map(|n| n as u64)
        })
    }

    fn events(&self, realm: &str, query: &EventQuery) -> DirResult<Vec<StoredEvent>> {
        let conn = self.checkout(CHECKOUT_TIMEOUT)?;
        // The kinds travel as one JSON array, so the statement text (and its cache entry)
        // stays the same whatever the filter.
        let kinds = serde_json::to_string(&query.kinds).expect("strings serialize");
        let mut statement = conn
            .prepare_cached(
                "SELECT seq, time, kind, resource_id, related_id, details, request_id FROM events
                 WHERE realm = ?1 AND seq > ?2
                   AND (?3 = '[]' OR kind IN (SELECT value FROM json_each(?3)))
                   AND time >= ?4 AND time < ?5
                 ORDER BY seq LIMIT ?6",
            )
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
                })
            })
            .map_err(classify)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(classify)
    }
}

impl SqliteStore {
    /// Takes a connection (waiting at most `timeout`) and begins the transaction of one call.
    fn open_transaction(&self, realm: &str, access: Access, timeout: Duration) -> DirResult<Held> {
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
enum Held {
    /// A reader, and the writes its snapshot holds when none was pending as it began
    /// ([`super::group_commit::Writer::settled_changes`]).
    Read(Pooled, Option<u64>),
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
struct SqliteTransaction {
    conn: std::cell::OnceCell<Held>,
    store: SqliteStore,
    access: Access,
    realm: String,
    /// Stamped on the admin events the call records.
    request_id: String,
    /// Savepoints the guest holds open.
    savepoints: u32,
    /// The call's deadline, once set.
    deadline: Option<Deadline>,
    /// When the transaction took the writer.
    writer_since: std::cell::Cell<Option<std::time::Instant>>,
    /// The organization lookups are bound to, if any: they match only its members and
    /// groups in SQL, so the lookup cap counts only those.
    organization: Option<String>,
}

/// How many SQLite virtual machine steps run between two checks of a call's cut-off (a
/// few microseconds of work).
const STEPS_PER_CHECK: i32 = 1_000;

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
fn past_cutoff() -> bool {
    !WRITING.get() && CUTOFF.get().is_some_and(|cutoff| std::time::Instant::now() >= cutoff)
}

thread_local! {
    /// Set while a write operation runs on this thread.
    static WRITING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks a write operation for as long as it lives: its statements are not interrupted.
struct Writing;

impl Writing {
    fn begin() -> Writing {
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
const MAX_SAVEPOINTS: u32 = 32;

impl SqliteTransaction {
    fn new(store: &SqliteStore, realm: &str, access: Access, request_id: &str) -> Self {
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
    fn conn(&self) -> DirResult<&Held> {
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
    fn writing(&mut self) -> DirResult<Writing> {
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
    fn unbind(&self) {
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

// The list place comes last: read by `placed`, not by the row functions.
const USER_COLUMNS: &str =
    "u.id, u.username, u.email, u.first_name, u.last_name, u.enabled, u.created_at, u.updated_at, u.version, u.seq";
const GROUP_COLUMNS: &str = "g.id, g.name, g.organization, g.created_at, g.updated_at, g.version, g.seq";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        first_name: r.get(3)?,
        last_name: r.get(4)?,
        enabled: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        version: r.get::<_, i64>(8)? as u64,
        attributes: Vec::new(),
    })
}

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        name: r.get(1)?,
        organization: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        version: r.get::<_, i64>(5)? as u64,
        attributes: Vec::new(),
    })
}

/// The table, its alias in queries and the columns read, of each kind of resource.
fn source(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::Users => ("users", "u", USER_COLUMNS),
        Kind::Groups => ("groups", "g", GROUP_COLUMNS),
    }
}

/// Where the `offset`-th (from 0) row of a whole realm is to be found: the first list
/// place of the bucket that holds it, and how many of the realm's rows from there come
/// before it.
fn place_of(buckets: &[(i64, u32)], offset: u32) -> (i64, u32) {
    let mut before = 0;
    for &(bucket, count) in buckets {
        if before + count > offset {
            return (bucket << BUCKET_BITS, offset - before);
        }
        before += count;
    }
    (0, offset)
}

/// Reads rows with their list place (the last column).
fn placed<T>(
    row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<(i64, T)> {
    move |r| Ok((r.get(r.as_ref().column_count() - 1)?, row(r)?))
}

fn lower(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.to_lowercase())
}

/// The externalId among a draft's attributes.
fn external_id(attributes: &[Attribute]) -> Option<&str> {
    attributes.iter().find(|a| a.name == "externalId").and_then(|a| a.values.first()).map(String::as_str)
}

impl SqliteTransaction {
    fn attributes(&self, table: &str, owner: &str, id: &str) -> DirResult<Vec<Attribute>> {
        let sql = format!("SELECT name, value FROM {table} WHERE realm = ?1 AND {owner} = ?2 ORDER BY name, position");
        let mut statement = self.conn()?.prepare_cached(&sql).map_err(classify)?;
        let mut rows = statement.query(params![self.realm, id]).map_err(classify)?;
        let mut attributes: Vec<Attribute> = Vec::new();
        while let Some(row) = rows.next().map_err(classify)? {
            push_value(&mut attributes, row.get(0).map_err(classify)?, row.get(1).map_err(classify)?);
        }
        Ok(attributes)
    }

    /// Replaces the attributes of an owner.
    fn write_attributes(&self, table: &str, owner: &str, id: &str, attributes: &[Attribute]) -> DirResult<()> {
        let delete = format!("DELETE FROM {table} WHERE realm = ?1 AND {owner} = ?2");
        self.conn()?.prepare_cached(&delete).and_then(|mut s| s.execute(params![self.realm, id])).map_err(classify)?;
        self.insert_attributes(table, owner, id, attributes)
    }

    /// Adds the attributes of an owner that has none (one just created).
    fn insert_attributes(&self, table: &str, owner: &str, id: &str, attributes: &[Attribute]) -> DirResult<()> {
        let insert = format!(
            "INSERT INTO {table} (realm, {owner}, name, position, value, value_lower) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        );
        let mut statement = self.conn()?.prepare_cached(&insert).map_err(classify)?;
        for attribute in attributes {
            for (position, value) in attribute.values.iter().enumerate() {
                statement
                    .execute(params![self.realm, id, attribute.name, position as i64, value, value.to_lowercase()])
                    .map_err(classify)?;
            }
        }
        Ok(())
    }

    /// The attributes of many owners in one query (a page of a list), by owner id; only
    /// those named, when names are given.
    fn attributes_of_many(
        &self,
        table: &str,
        owner: &str,
        ids: &[&str],
        names: Option<&[String]>,
    ) -> DirResult<HashMap<String, Vec<Attribute>>> {
        // The ids (and names) travel as one JSON array, so the statement stays the same
        // for any page.
        let named = if names.is_some() { "AND name IN (SELECT value FROM json_each(?3))" } else { "" };
        let sql = format!(
            "SELECT {owner}, name, value FROM {table}
             WHERE realm = ?1 AND {owner} IN (SELECT value FROM json_each(?2)) {named}
             ORDER BY {owner}, name, position"
        );
        let ids = serde_json::to_string(ids).expect("strings serialize");
        let names = names.map(|n| serde_json::to_string(n).expect("strings serialize"));
        let mut statement = self.conn()?.prepare_cached(&sql).map_err(classify)?;
        let mut rows = match &names {
            Some(names) => statement.query(params![self.realm, ids, names]),
            None => statement.query(params![self.realm, ids]),
        }
        .map_err(classify)?;
        let mut by_owner: HashMap<String, Vec<Attribute>> = HashMap::new();
        let mut bytes = 0;
        while let Some(row) = rows.next().map_err(classify)? {
            let id: String = row.get(0).map_err(classify)?;
            let (name, value): (String, String) = (row.get(1).map_err(classify)?, row.get(2).map_err(classify)?);
            bytes += name.len() + value.len();
            if bytes > MAX_PAGE_BYTES {
                return Err(DirectoryError::Invalid(format!(
                    "the page holds more than {MAX_PAGE_BYTES} bytes of attributes: ask for fewer resources"
                )));
            }
            push_value(by_owner.entry(id).or_default(), name, value);
        }
        Ok(by_owner)
    }

    fn with_user_attributes(&self, mut user: User) -> DirResult<User> {
        user.attributes = self.attributes("user_attributes", "user_id", &user.id)?;
        Ok(user)
    }

    fn with_group_attributes(&self, mut group: Group) -> DirResult<Group> {
        group.attributes = self.attributes("group_attributes", "group_id", &group.id)?;
        Ok(group)
    }

    /// The few rows `condition` picks, in list order. No ORDER BY: with one, SQLite walked
    /// the realm's list-order index and tested the condition on every row. A `lookup` by
    /// value matches only the bound organization's members and groups, if one is bound.
    fn rows_where<T>(
        &self,
        kind: Kind,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
        lookup: bool,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> DirResult<Vec<T>> {
        let (table, alias, columns) = source(kind);
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&self.realm];
        all.extend_from_slice(args);
        let bound = match &self.organization {
            Some(organization) if lookup => {
                all.push(organization);
                let org = all.len();
                match kind {
                    // Correlated: one primary-key probe per candidate row, not a list of
                    // every member built for each lookup.
                    Kind::Users => format!(
                        " AND EXISTS (SELECT 1 FROM organization_members m \
                         WHERE m.realm = ?1 AND m.organization_id = ?{org} AND m.user_id = u.id)"
                    ),
                    Kind::Groups => format!(" AND g.organization = ?{org}"),
                }
            }
            _ => String::new(),
        };
        let sql = format!(
            "SELECT {columns} FROM {table} {alias} WHERE {alias}.realm = ?1 AND {condition}{bound} LIMIT {}",
            MAX_LOOKUP_ROWS + 1
        );
        let mut statement = self.conn()?.prepare_cached(&sql).map_err(classify)?;
        let mut rows = statement
            .query_map(all.as_slice(), placed(row))
            .map_err(classify)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(classify)?;
        if rows.len() > MAX_LOOKUP_ROWS {
            return Err(DirectoryError::Invalid(format!(
                "the lookup matches more than {MAX_LOOKUP_ROWS} resources: search with a filter and pages instead"
            )));
        }
        rows.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(rows.into_iter().map(|(_, item)| item).collect())
    }

    /// One page of users with their attributes (only those named, when names are given).
    fn users_page(&self, query: &Query, names: Option<&[String]>) -> DirResult<Page<User>> {
        let (total, mut users) = self.search(Kind::Users, query, user_row)?;
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let mut attributes = self.attributes_of_many("user_attributes", "user_id", &ids, names)?;
        for user in &mut users {
            user.attributes = attributes.remove(&user.id).unwrap_or_default();
        }
        Ok(Page { total, items: users })
    }

    fn users_where(&self, condition: &str, args: &[&dyn rusqlite::ToSql], lookup: bool) -> DirResult<Vec<User>> {
        let users = self.rows_where(Kind::Users, condition, args, lookup, user_row)?;
        users.into_iter().map(|u| self.with_user_attributes(u)).collect()
    }

    fn groups_where(&self, condition: &str, args: &[&dyn rusqlite::ToSql], lookup: bool) -> DirResult<Vec<Group>> {
        let groups = self.rows_where(Kind::Groups, condition, args, lookup, group_row)?;
        groups.into_iter().map(|g| self.with_group_attributes(g)).collect()
    }

    /// One page of a list query and the number of all matches. A page in the default
    /// order starts from a known list place where it can: the one where the previous page
    /// of the same query ended (an IdP's import, reading in order), or for an unfiltered
    /// list the bucket that holds `startIndex`. Either costs O(log n), not O(startIndex).
    /// Under concurrent writes a page may then differ from what OFFSET would give, which
    /// RFC 7644 §3.4.2.4 allows.
    fn search<T>(
        &self,
        kind: Kind,
        query: &Query,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> DirResult<(u32, Vec<T>)> {
        let (table, alias, columns) = source(kind);
        let mut sql = Sql::new(&self.realm);
        let mut conditions = vec![format!("{alias}.realm = ?1")];
        if let Some(organization) = &query.organization {
            let org = sql.bind(organization.clone());
            conditions.push(match kind {
                Kind::Users => format!(
                    "u.id IN (SELECT user_id FROM organization_members WHERE realm = ?1 AND organization_id = {org})"
                ),
                Kind::Groups => format!("g.organization = {org}"),
            });
        }
        if let Some(filter) = sql_filter::filter(kind, &query.filter, &mut sql)? {
            conditions.push(filter);
        }
        let whole_realm = conditions.len() == 1;
        let condition = conditions.join(" AND ");
        // The whole realm is counted by its buckets, not by walking a million index entries.
        let buckets = if whole_realm { Some(self.buckets(table)?) } else { None };
        let total = match &buckets {
            Some(buckets) => buckets.iter().map(|(_, count)| count).sum(),
            None => self
                .conn()?
                .prepare_cached(&format!("SELECT count(*) FROM {table} {alias} WHERE {condition}"))
                .and_then(|mut s| s.query_row(params_from_iter(sql.params.iter()), |r| r.get(0)))
                .map_err(classify)?,
        };
        if query.limit == 0 || query.offset >= total {
            return Ok((total, Vec::new()));
        }
        let order = sql_filter::order(kind, query.sort.as_ref(), &mut sql);
        // Only the default order (the list place) can start from a place.
        let cursor_key = query.sort.is_none().then(|| {
            use sha2::Digest as _;
            let key: [u8; 32] = sha2::Sha256::digest(format!("{kind:?}|{condition}|{:?}", sql.params)).into();
            key
        });
        let cursor = cursor_key
            .filter(|_| query.offset > 0)
            .and_then(|k| self.store.cursors.lock().expect("cursors").get(&(k, query.offset)).copied());
        let in_bucket = buckets.filter(|_| query.sort.is_none()).map(|b| place_of(&b, query.offset));
        let (start, offset) = match (cursor, in_bucket) {
            (Some(after), _) => (Some(after + 1), 0),
            (None, Some((start, skip))) => (Some(start), skip),
            (None, None) => (None, query.offset),
        };
        let condition = match start {
            Some(start) => format!("{condition} AND {alias}.seq >= {}", sql.bind(start)),
            None => condition,
        };
        let limit = sql.bind(query.limit as i64);
        let offset = sql.bind(offset as i64);
        let page_sql = format!(
            "SELECT {columns} FROM {table} {alias} WHERE {condition} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let rows = self
            .conn()?
            .prepare_cached(&page_sql)
            .and_then(|mut s| {
                s.query_map(params_from_iter(sql.params.iter()), placed(row))?.collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(classify)?;
        if let (Some(k), Some((last, _))) = (cursor_key, rows.last()) {
            let next_offset = query.offset + rows.len() as u32;
            let mut cursors = self.store.cursors.lock().expect("cursors");
            if cursors.len() >= MAX_CURSORS {
                cursors.clear();
            }
            cursors.insert((k, next_offset), *last);
        }
        Ok((total, rows.into_iter().map(|(_, item)| item).collect()))
    }

    /// The realm's buckets of users or groups (`table`), in list order: (bucket, count).
    fn buckets(&self, table: &str) -> DirResult<Vec<(i64, u32)>> {
        self.conn()?
            .prepare_cached("SELECT bucket, count FROM list_buckets WHERE realm = ?1 AND kind = ?2 ORDER BY bucket")
            .and_then(|mut s| s.query_map(params![self.realm, table], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(classify)
    }

    fn check_user_unique(&self, draft: &UserDraft, own: Option<&str>) -> DirResult<()> {
        let taken: Option<String> = self
            .conn()?
            .prepare_cached("SELECT id FROM users WHERE realm = ?1 AND username_lower = ?2")
            .and_then(|mut s| s.query_row(params![self.realm, draft.username.to_lowercase()], |r| r.get(0)).optional())
            .map_err(classify)?;
        if taken.filter(|id| Some(id.as_str()) != own).is_some() {
            return Err(DirectoryError::Conflict {
                constraint: "username".into(),
                detail: format!("userName \"{}\" is already taken", draft.username),
            });
        }
        self.check_external_id("user_attributes", "user_id", "user", &draft.attributes, own)
    }

    fn check_group_unique(&self, draft: &GroupDraft, own: Option<&str>) -> DirResult<()> {
        self.check_external_id("group_attributes", "group_id", "group", &draft.attributes, own)
    }

    /// Refuses an externalId another resource of the same kind already has.
    fn check_external_id(
        &self,
        table: &str,
        owner: &str,
        noun: &str,
        attributes: &[Attribute],
        own: Option<&str>,
    ) -> DirResult<()> {
        let Some(value) = external_id(attributes) else { return Ok(()) };
        let sql = format!("SELECT {owner} FROM {table} WHERE realm = ?1 AND name = 'externalId' AND value = ?2");
        let taken: Option<String> = self
            .conn()?
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params![self.realm, value], |r| r.get(0)).optional())
            .map_err(classify)?;
        // The detail names the value, never the holder: the caller may not be allowed to see it.
        match taken.filter(|id| Some(id.as_str()) != own) {
            Some(_) => Err(DirectoryError::Conflict {
                constraint: "external-id".into(),
                detail: format!("externalId \"{value}\" is already used by another {noun}"),
            }),
            None => Ok(()),
        }
    }

    /// The ids a query selects among `ids` (`?3`, as a JSON array) for the organization (`?2`).
    fn ids_among(
        &self,
        sql: &str,
        organization_id: &str,
        ids: &[String],
    ) -> DirResult<std::collections::HashSet<String>> {
        let ids = serde_json::to_string(ids).expect("strings serialize");
        self.conn()?
            .prepare_cached(sql)
            .and_then(|mut s| s.query_map(params![self.realm, organization_id, ids], |r| r.get(0))?.collect())
            .map_err(classify)
    }

    fn exists(&self, table: &str, id: &str) -> DirResult<bool> {
        let sql = format!("SELECT 1 FROM {table} WHERE realm = ?1 AND id = ?2");
        self.conn()?.prepare_cached(&sql).and_then(|mut s| s.exists(params![self.realm, id])).map_err(classify)
    }

    /// Marks groups as changed (their member lists moved): new version, new lastModified.
    fn touch_groups(&self, condition: &str, args: &[&dyn rusqlite::ToSql]) -> DirResult<()> {
        let sql = format!(
            "UPDATE groups SET version = version + 1, updated_at = ?2 WHERE realm = ?1 AND id IN ({condition})"
        );
        let now = now_millis();
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&self.realm, &now];
        all.extend_from_slice(args);
        self.conn()?.prepare_cached(&sql).and_then(|mut s| s.execute(all.as_slice())).map_err(classify).map(drop)
    }
}

impl Directory for SqliteTransaction {
    fn get_user(&mut self, id: &str) -> DirResult<Option<User>> {
        Ok(self.users_where("u.id = ?2", &[&id], false)?.pop())
    }

    fn get_user_by_username(&mut self, username: &str) -> DirResult<Option<User>> {
        Ok(self.users_where("u.username_lower = ?2", &[&username.to_lowercase()], true)?.pop())
    }

    fn get_users_by_email(&mut self, email: &str) -> DirResult<Vec<User>> {
        self.users_where("u.email_lower = ?2", &[&email.to_lowercase()], true)
    }

    fn get_users_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<User>> {
        if name == "externalId" {
            // Unique in a realm: one row at most, found without the IN list's temporary table.
            return self.users_where(
                "u.id = (SELECT user_id FROM user_attributes WHERE realm = ?1 AND name = 'externalId' AND value = ?2)",
                &[&value],
                true,
            );
        }
        self.users_where(
            "u.id IN (SELECT user_id FROM user_attributes WHERE realm = ?1 AND name = ?2 AND value_lower = ?3 AND value = ?4)",
            &[&name, &value.to_lowercase(), &value],
            true,
        )
    }

    fn search_users(&mut self, query: &Query) -> DirResult<Page<User>> {
        self.users_page(query, None)
    }

    fn search_users_selected(&mut self, query: &Query, attributes: &[String]) -> DirResult<Page<User>> {
        self.users_page(query, Some(attributes))
    }

    fn create_user(&mut self, draft: &UserDraft) -> DirResult<User> {
        let _writing = self.writing()?;
        self.check_user_unique(draft, None)?;
        let (id, now) = (new_id(), now_millis());
        self.conn()?
            .prepare_cached(
                "INSERT INTO users (realm, id, username, username_lower, email, email_lower, first_name,
                    first_name_lower, last_name, last_name_lower, enabled, created_at, updated_at, version, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, 1,
                    (SELECT coalesce(max(seq), 0) + 1 FROM users WHERE realm = ?1))",
            )
            .and_then(|mut s| {
                s.execute(params![
                    self.realm,
                    id,
                    draft.username,
                    draft.username.to_lowercase(),
                    draft.email,
                    lower(&draft.email),
                    draft.first_name,
                    lower(&draft.first_name),
                    draft.last_name,
                    lower(&draft.last_name),
                    draft.enabled,
                    now
                ])
            })
            .map_err(classify)?;
        self.insert_attributes("user_attributes", "user_id", &id, &draft.attributes)?;
        // The user as stored, without reading it back.
        Ok(User::created(id, draft, now))
    }

    fn update_user(&mut self, id: &str, draft: &UserDraft) -> DirResult<User> {
        let _writing = self.writing()?;
        self.check_user_unique(draft, Some(id))?;
        let changed = self
            .conn()?
            .prepare_cached(
                "UPDATE users SET username = ?3, username_lower = ?4, email = ?5, email_lower = ?6,
                    first_name = ?7, first_name_lower = ?8, last_name = ?9, last_name_lower = ?10,
                    enabled = ?11, updated_at = ?12, version = version + 1
                 WHERE realm = ?1 AND id = ?2",
            )
            .and_then(|mut s| {
                s.execute(params![
                    self.realm,
                    id,
                    draft.username,
                    draft.username.to_lowercase(),
                    draft.email,
                    lower(&draft.email),
                    draft.first_name,
                    lower(&draft.first_name),
                    draft.last_name,
                    lower(&draft.last_name),
                    draft.enabled,
                    now_millis()
                ])
            })
            .map_err(classify)?;
        if changed == 0 {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        self.write_attributes("user_attributes", "user_id", id, &draft.attributes)?;
        self.get_user(id)?.ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    fn delete_user(&mut self, id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        self.touch_groups("SELECT group_id FROM memberships WHERE realm = ?1 AND user_id = ?3", &[&id])?;
        let deleted = self
            .conn()?
            .prepare_cached("DELETE FROM users WHERE realm = ?1 AND id = ?2")
            .and_then(|mut s| s.execute(params![self.realm, id]))
            .map_err(classify)?;
        Ok(deleted > 0)
    }

    fn get_group(&mut self, id: &str) -> DirResult<Option<Group>> {
        Ok(self.groups_where("g.id = ?2", &[&id], false)?.pop())
    }

    fn get_groups_by_attribute(&mut self, name: &str, value: &str) -> DirResult<Vec<Group>> {
        if name == "externalId" {
            // As for users.
            return self.groups_where(
                "g.id = (SELECT group_id FROM group_attributes WHERE realm = ?1 AND name = 'externalId' AND value = ?2)",
                &[&value],
                true,
            );
        }
        self.groups_where(
            "g.id IN (SELECT group_id FROM group_attributes WHERE realm = ?1 AND name = ?2 AND value_lower = ?3 AND value = ?4)",
            &[&name, &value.to_lowercase(), &value],
            true,
        )
    }

    fn search_groups(&mut self, query: &Query) -> DirResult<Page<Group>> {
        let (total, mut groups) = self.search(Kind::Groups, query, group_row)?;
        let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        let mut attributes = self.attributes_of_many("group_attributes", "group_id", &ids, None)?;
        for group in &mut groups {
            group.attributes = attributes.remove(&group.id).unwrap_or_default();
        }
        Ok(Page { total, items: groups })
    }

    fn create_group(&mut self, draft: &GroupDraft) -> DirResult<Group> {
        let _writing = self.writing()?;
        self.check_group_unique(draft, None)?;
        if let Some(organization) = &draft.organization
            && !self.exists("organizations", organization)?
        {
            return Err(DirectoryError::NotFound(organization.clone()));
        }
        let (id, now) = (new_id(), now_millis());
        self.conn()?
            .prepare_cached(
                "INSERT INTO groups (realm, id, name, name_lower, organization, created_at, updated_at, version, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, (SELECT coalesce(max(seq), 0) + 1 FROM groups WHERE realm = ?1))",
            )
            .and_then(|mut s| {
                s.execute(params![self.realm, id, draft.name, draft.name.to_lowercase(), draft.organization, now])
            })
            .map_err(classify)?;
        self.insert_attributes("group_attributes", "group_id", &id, &draft.attributes)?;
        // The group as stored, without reading it back.
        Ok(Group::created(id, draft, now))
    }

    fn update_group(&mut self, id: &str, draft: &GroupDraft) -> DirResult<Group> {
        let _writing = self.writing()?;
        self.check_group_unique(draft, Some(id))?;
        let changed = self
            .conn()?
            .prepare_cached(
                "UPDATE groups SET name = ?3, name_lower = ?4, updated_at = ?5, version = version + 1
                 WHERE realm = ?1 AND id = ?2",
            )
            .and_then(|mut s| s.execute(params![self.realm, id, draft.name, draft.name.to_lowercase(), now_millis()]))
            .map_err(classify)?;
        if changed == 0 {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        self.write_attributes("group_attributes", "group_id", id, &draft.attributes)?;
        self.get_group(id)?.ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    fn delete_group(&mut self, id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        let deleted = self
            .conn()?
            .prepare_cached("DELETE FROM groups WHERE realm = ?1 AND id = ?2")
            .and_then(|mut s| s.execute(params![self.realm, id]))
            .map_err(classify)?;
        Ok(deleted > 0)
    }

    fn group_members(&mut self, group_id: &str) -> DirResult<Vec<Member>> {
        self.conn()?
            .prepare_cached(
                "SELECT u.id, u.username FROM memberships m JOIN users u ON u.realm = m.realm AND u.id = m.user_id
                 WHERE m.realm = ?1 AND m.group_id = ?2 ORDER BY m.rowid",
            )
            .and_then(|mut s| {
                s.query_map(params![self.realm, group_id], |r| Ok(Member { user_id: r.get(0)?, username: r.get(1)? }))?
                    .collect()
            })
            .map_err(classify)
    }

    fn group_member_ids(&mut self, group_id: &str) -> DirResult<Vec<String>> {
        // The memberships' covering index alone: no lookup of each member's user.
        self.conn()?
            .prepare_cached("SELECT user_id FROM memberships WHERE realm = ?1 AND group_id = ?2 ORDER BY rowid")
            .and_then(|mut s| s.query_map(params![self.realm, group_id], |r| r.get(0))?.collect())
            .map_err(classify)
    }

    fn user_groups(&mut self, user_id: &str) -> DirResult<Vec<Membership>> {
        self.conn()?
            .prepare_cached(
                "SELECT g.id, g.name FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
                 WHERE m.realm = ?1 AND m.user_id = ?2 ORDER BY m.rowid",
            )
            .and_then(|mut s| {
                s.query_map(params![self.realm, user_id], |r| {
                    Ok(Membership { group_id: r.get(0)?, group_name: r.get(1)? })
                })?
                .collect()
            })
            .map_err(classify)
    }

    fn groups_of_users(&mut self, user_ids: &[String]) -> DirResult<Vec<Vec<Membership>>> {
        // The ids travel as one JSON array, so the statement stays the same for any page.
        let ids = serde_json::to_string(user_ids).expect("strings serialize");
        let mut statement = self
            .conn()?
            .prepare_cached(
                "SELECT m.user_id, g.id, g.name FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
                 WHERE m.realm = ?1 AND m.user_id IN (SELECT value FROM json_each(?2)) ORDER BY m.rowid",
            )
            .map_err(classify)?;
        let mut rows = statement.query(params![self.realm, ids]).map_err(classify)?;
        let mut by_user: HashMap<String, Vec<Membership>> = HashMap::new();
        while let Some(row) = rows.next().map_err(classify)? {
            let membership =
                Membership { group_id: row.get(1).map_err(classify)?, group_name: row.get(2).map_err(classify)? };
            by_user.entry(row.get(0).map_err(classify)?).or_default().push(membership);
        }
        Ok(user_ids.iter().map(|id| by_user.get(id).cloned().unwrap_or_default()).collect())
    }

    fn add_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        for (table, id) in [("groups", group_id), ("users", user_id)] {
            if !self.exists(table, id)? {
                return Err(DirectoryError::NotFound(id.to_string()));
            }
        }
        let added = self
            .conn()?
            .prepare_cached("INSERT OR IGNORE INTO memberships (realm, group_id, user_id) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![self.realm, group_id, user_id]))
            .map_err(classify)?
            > 0;
        if added {
            self.touch_groups("?3", &[&group_id])?;
        }
        Ok(added)
    }

    fn remove_member(&mut self, group_id: &str, user_id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        let removed = self
            .conn()?
            .prepare_cached("DELETE FROM memberships WHERE realm = ?1 AND group_id = ?2 AND user_id = ?3")
            .and_then(|mut s| s.execute(params![self.realm, group_id, user_id]))
            .map_err(classify)?
            > 0;
        if removed {
            self.touch_groups("?3", &[&group_id])?;
        }
        Ok(removed)
    }

    fn get_organization(&mut self, alias: &str) -> DirResult<Option<Organization>> {
        self.conn()?
            .prepare_cached("SELECT id, alias, name FROM organizations WHERE realm = ?1 AND alias = ?2")
            .and_then(|mut s| {
                s.query_row(params![self.realm, alias], |r| {
                    Ok(Organization { id: r.get(0)?, alias: r.get(1)?, name: r.get(2)? })
                })
                .optional()
            })
            .map_err(classify)
    }

    fn is_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        self.conn()?
            .prepare_cached(
                "SELECT 1 FROM organization_members WHERE realm = ?1 AND organization_id = ?2 AND user_id = ?3",
            )
            .and_then(|mut s| s.exists(params![self.realm, organization_id, user_id]))
            .map_err(classify)
    }

    fn add_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        self.join_organization(organization_id, user_id, MembershipType::Unmanaged)
    }

    fn remove_organization_member(&mut self, organization_id: &str, user_id: &str) -> DirResult<bool> {
        let _writing = self.writing()?;
        let organization_groups =
            "SELECT m.group_id FROM memberships m JOIN groups g ON g.realm = m.realm AND g.id = m.group_id
             WHERE m.realm = ?1 AND m.user_id = ?3 AND g.organization = ?4";
        self.touch_groups(organization_groups, &[&user_id, &organization_id])?;
        self.conn()?
            .prepare_cached(
                "DELETE FROM memberships WHERE realm = ?1 AND user_id = ?2 AND group_id IN
                    (SELECT id FROM groups WHERE realm = ?1 AND organization = ?3)",
            )
            .and_then(|mut s| s.execute(params![self.realm, user_id, organization_id]))
            .map_err(classify)?;
        self.conn()?
            .prepare_cached(
                "DELETE FROM organization_members WHERE realm = ?1 AND organization_id = ?2 AND user_id = ?3",
            )
            .and_then(|mut s| s.execute(params![self.realm, organization_id, user_id]))
            .map(|n| n > 0)
            .map_err(classify)
    }

    fn set_password(&mut self, user_id: &str, password: &str) -> DirResult<()> {
        let _writing = self.writing()?;
        if !self.exists("users", user_id)? {
            return Err(DirectoryError::NotFound(user_id.to_string()));
        }
        let hash = crate::credentials::hash_password(password)?;
        self.conn()?
            .prepare_cached(
                "INSERT INTO credentials (realm, user_id, type, secret, created_at) VALUES (?1, ?2, 'password', ?3, ?4)
                 ON CONFLICT (realm, user_id, type) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at",
            )
            .and_then(|mut s| s.execute(params![self.realm, user_id, hash, now_millis()]))
            .map(drop)
            .map_err(classify)
    }

    fn emit(&mut self, event: &AdminEvent) -> DirResult<()> {
        let _writing = self.writing()?;
        self.conn()?
            .prepare_cached(
                "INSERT INTO events (realm, time, kind, resource_id, related_id, details, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    self.realm,
                    now_millis(),
                    event.kind.name(),
                    event.resource_id,
                    event.related_id,
                    event.details,
                    self.request_id
                ])
            })
            .map(drop)
            .map_err(classify)
    }

    // Named apart from the group commit's own `scim_call`, which encloses them: its RELEASE
    // or ROLLBACK TO ends any a guest left open.
    fn savepoint(&mut self) -> DirResult<()> {
        let _writing = self.writing()?;
        if self.savepoints >= MAX_SAVEPOINTS {
            return Err(DirectoryError::Invalid(format!("at most {MAX_SAVEPOINTS} savepoints may be open at once")));
        }
        run_cached(self.conn()?, "SAVEPOINT scim_guest").map_err(classify)?;
        self.savepoints += 1;
        Ok(())
    }

    fn release_savepoint(&mut self) -> DirResult<()> {
        if self.savepoints == 0 {
            return Err(DirectoryError::Invalid("no savepoint is open".into()));
        }
        let _writing = self.writing()?;
        run_cached(self.conn()?, "RELEASE scim_guest").map_err(classify)?;
        self.savepoints -= 1;
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> DirResult<()> {
        if self.savepoints == 0 {
            return Err(DirectoryError::Invalid("no savepoint is open".into()));
        }
        let _writing = self.writing()?;
        let conn = self.conn()?;
        run_cached(conn, "ROLLBACK TO scim_guest")
            .and_then(|()| run_cached(conn, "RELEASE scim_guest"))
            .map_err(classify)?;
        self.savepoints -= 1;
        Ok(())
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

    fn operator_event(kind: &'static str, resource_id: &str) -> OperatorEvent {
        OperatorEvent { kind, resource_id: resource_id.into(), details: "{}".into(), request_id: "t".into() }
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("test.db")).unwrap();
        store.ensure_realm("r").unwrap();
        (dir, store)
    }

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
    fn a_database_of_an_earlier_version_gets_the_realm_columns_and_keeps_its_realms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch("CREATE TABLE realms (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL); INSERT INTO realms VALUES ('kept', 1);")
            .unwrap();
        drop(old);
        let store = SqliteStore::open(&path).unwrap();
        let realms = store.realms().unwrap();
        assert_eq!(realms.len(), 1);
        assert_eq!((realms[0].name.as_str(), realms[0].managed, realms[0].limits.as_deref()), ("kept", false, None));
        let event = operator_event("REALM_UPDATED", "kept");
        assert!(store.update_realm("kept", Some("{}"), None, &event).unwrap());
        assert_eq!(store.realms().unwrap()[0].limits.as_deref(), Some("{}"));
    }

    #[test]
    fn a_write_in_a_deleted_realm_is_refused() {
        let (_dir, store) = store();
        assert!(store.delete_realm("r").unwrap());
        let mut write = store.begin("r", Access::Write, "test").unwrap();
        assert!(matches!(write.get_user("any"), Err(DirectoryError::NotFound(_))));
        assert!(!store.delete_realm("r").unwrap());
    }

    #[test]
    fn an_unfiltered_total_follows_inserts_deletes_and_cascades() {
        let (_dir, store) = store();
        let org = store.ensure_organization("r", "acme", "Acme").unwrap();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        let ids: Vec<String> =
            (0..3).map(|n| tx.create_user(&draft(&format!("u{n}"), &format!("x{n}"))).unwrap().id).collect();
        assert!(tx.delete_user(&ids[0]).unwrap());
        assert!(!tx.delete_user(&ids[0]).unwrap(), "a second delete counts nothing");
        for (name, organization) in [("a", None), ("b", Some(org.id.clone())), ("c", Some(org.id.clone()))] {
            tx.create_group(&GroupDraft { name: name.into(), organization, attributes: vec![] }).unwrap();
        }
        tx.commit().unwrap();
        let totals = || {
            let mut read = store.begin("r", Access::Read, "test").unwrap();
            let users = read.search_users(&Query { limit: 1, ..Query::default() }).unwrap();
            let groups = read.search_groups(&Query { limit: 0, ..Query::default() }).unwrap();
            (users.total, users.items.len(), groups.total)
        };
        assert_eq!(totals(), (2, 1, 3));
        let event = operator_event("ORGANIZATION_DELETED", "acme");
        assert!(store.delete_organization("r", "acme", &event).unwrap());
        assert_eq!(totals(), (2, 1, 1), "the organization's groups left the count with it");
    }

    #[test]
    fn pages_read_in_order_continue_from_the_last_key_and_match_offsets() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for n in 0..25 {
            tx.create_user(&draft(&format!("u{n:02}"), &format!("x{n}"))).unwrap();
        }
        tx.commit().unwrap();
        let page = |offset: u32| {
            let mut read = store.begin("r", Access::Read, "test").unwrap();
            let page = read.search_users(&Query { offset, limit: 10, ..Query::default() }).unwrap();
            page.items.into_iter().map(|u| u.username).collect::<Vec<_>>()
        };
        let by_offset: Vec<Vec<String>> = [20, 0, 10].into_iter().map(page).collect();
        store.cursors.lock().unwrap().clear();
        let in_order: Vec<Vec<String>> = [0, 10, 20].into_iter().map(page).collect();
        assert_eq!(in_order, [by_offset[1].clone(), by_offset[2].clone(), by_offset[0].clone()]);
        assert_eq!(in_order.concat().len(), 25);
        let mut ends: Vec<u32> = store.cursors.lock().unwrap().keys().map(|(_, end)| *end).collect();
        ends.sort();
        assert_eq!(ends, [10, 20, 25], "each page left its end for the next");
    }

    /// The usernames of one page of the whole realm, read with no remembered cursor.
    fn usernames_at(store: &SqliteStore, offset: u32, limit: u32) -> Vec<String> {
        store.cursors.lock().unwrap().clear();
        let mut read = store.begin("r", Access::Read, "test").unwrap();
        let page = read.search_users(&Query { offset, limit, ..Query::default() }).unwrap();
        page.items.into_iter().map(|u| u.username).collect()
    }

    #[test]
    fn a_page_at_any_start_index_is_the_slice_of_the_list_in_order_after_deletes() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        let ids: Vec<String> =
            (0..3000).map(|n| tx.create_user(&draft(&format!("u{n:04}"), &format!("x{n}"))).unwrap().id).collect();
        // Holes in every bucket, one bucket emptied, and the newest user gone.
        for (n, id) in ids.iter().enumerate() {
            if n % 7 == 3 || (1100..2100).contains(&n) || n == 2999 {
                assert!(tx.delete_user(id).unwrap());
            }
        }
        tx.create_user(&draft("late", "x-late")).unwrap();
        tx.commit().unwrap();
        let mut expected: Vec<String> =
            (0..2999).filter(|n| !(n % 7 == 3 || (1100..2100).contains(n))).map(|n| format!("u{n:04}")).collect();
        expected.push("late".into());
        assert_eq!(usernames_at(&store, 0, 5000), expected, "one page of everything, in insertion order");
        for offset in [1, 99, 942, 943, 944, 1023, 1024, 1700, expected.len() as u32 - 1] {
            let end = (offset as usize + 100).min(expected.len());
            assert_eq!(usernames_at(&store, offset, 100), expected[offset as usize..end], "page at offset {offset}");
        }
        assert!(usernames_at(&store, expected.len() as u32, 100).is_empty());
    }

    #[test]
    fn an_older_database_gets_list_places_in_creation_order() {
        let (dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for n in 0..5 {
            tx.create_user(&draft(&format!("u{n}"), &format!("x{n}"))).unwrap();
        }
        tx.commit().unwrap();
        drop(store);
        // Before list places, users listed by creation time, then id, and realms kept counters.
        let conn = Connection::open(dir.path().join("test.db")).unwrap();
        conn.execute_batch(
            "DROP TRIGGER users_counted; DROP TRIGGER users_uncounted; DROP INDEX users_in_order;
             ALTER TABLE users DROP COLUMN seq; DELETE FROM list_buckets;
             ALTER TABLE realms ADD COLUMN user_count INTEGER NOT NULL DEFAULT 5;
             UPDATE users SET created_at = 100 - CAST(substr(username, 2) AS INTEGER);",
        )
        .unwrap();
        drop(conn);
        let reopened = SqliteStore::open(&dir.path().join("test.db")).unwrap();
        let mut tx = reopened.begin("r", Access::Write, "test").unwrap();
        tx.create_user(&draft("new", "x-new")).unwrap();
        tx.commit().unwrap();
        assert_eq!(usernames_at(&reopened, 0, 10), ["u4", "u3", "u2", "u1", "u0", "new"]);
        assert_eq!(usernames_at(&reopened, 2, 10), ["u2", "u1", "u0", "new"]);
        let conn = Connection::open(dir.path().join("test.db")).unwrap();
        let counted: i64 = conn
            .query_row("SELECT sum(count) FROM list_buckets WHERE realm = 'r' AND kind = 'users'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(counted, 6, "the migration counted the old users, the trigger the new one");
        let stale =
            conn.prepare("SELECT 1 FROM pragma_table_info('realms') WHERE name = 'user_count'").unwrap().exists([]);
        assert!(!stale.unwrap(), "the old counter is gone");
    }

    fn draft(username: &str, external: &str) -> UserDraft {
        UserDraft {
            username: username.into(),
            enabled: true,
            attributes: vec![Attribute { name: "externalId".into(), values: vec![external.into()] }],
            ..UserDraft::default()
        }
    }

    #[test]
    fn an_attribute_named_twice_is_refused_since_it_would_not_read_back_apart() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        let nick = Attribute { name: "nick".into(), values: vec!["a".into()] };
        let twice = UserDraft { username: "bob".into(), attributes: vec![nick; 2], ..UserDraft::default() };
        assert!(matches!(tx.create_user(&twice), Err(DirectoryError::Conflict { .. })));
    }

    #[test]
    fn another_realm_may_reuse_a_username_and_an_external_id() {
        let (_dir, store) = store();
        store.ensure_realm("other").unwrap();
        for realm in ["r", "other"] {
            let mut tx = store.begin(realm, Access::Write, "test").unwrap();
            tx.create_user(&draft("ann", "x1")).unwrap();
            tx.commit().unwrap();
        }
    }

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

    #[test]
    fn a_lookup_by_a_common_value_is_refused_rather_than_loading_the_realm() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for i in 0..=MAX_LOOKUP_ROWS {
            let mut user = draft(&format!("u{i}"), &format!("x{i}"));
            user.attributes.push(Attribute::single("title", "Engineer"));
            tx.create_user(&user).unwrap();
        }
        let refused = tx.get_users_by_attribute("title", "Engineer").unwrap_err();
        assert!(matches!(refused, DirectoryError::Invalid(_)), "{refused:?}");
        assert_eq!(tx.get_users_by_attribute("externalId", "x7").unwrap().len(), 1);
    }

    /// The lookup cap must count the organization's matches only: counted across the
    /// realm, a common value outside the organization would break the organization's own
    /// lookups and tell it how many such users the realm holds.
    #[test]
    fn organization_lookup_is_not_refused_for_matches_outside_the_organization() {
        let (_dir, store) = store();
        let org = store.ensure_organization("r", "acme", "Acme").unwrap();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        for i in 0..=MAX_LOOKUP_ROWS {
            let mut user = draft(&format!("u{i}"), &format!("x{i}"));
            user.attributes.push(Attribute::single("title", "Engineer"));
            tx.create_user(&user).unwrap();
        }
        tx.commit().unwrap();
        let inner = store.begin("r", Access::Write, "test").unwrap();
        let mut scoped = OrganizationScoped::new(inner, org.id.clone());
        assert!(scoped.get_users_by_attribute("title", "Engineer").unwrap().is_empty());
        let mut member = draft("inside", "x-inside");
        member.attributes.push(Attribute::single("title", "Engineer"));
        let member = scoped.create_user(&member).unwrap();
        let found = scoped.get_users_by_attribute("title", "Engineer").unwrap();
        assert_eq!(found.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), [member.id.as_str()]);
        assert!(scoped.get_user_by_username("u7").unwrap().is_none(), "a user outside is not found");
    }

    #[test]
    fn a_page_larger_than_the_cap_is_refused_before_it_is_read_whole() {
        let (_dir, store) = store();
        let mut tx = store.begin("r", Access::Write, "test").unwrap();
        let big = "b".repeat(1 << 20);
        for i in 0..(MAX_PAGE_BYTES >> 20) + 2 {
            let mut user = draft(&format!("u{i}"), &format!("x{i}"));
            user.attributes.push(Attribute::single("blob", big.clone()));
            tx.create_user(&user).unwrap();
        }
        let all = Query { filter: vec![], organization: None, sort: None, offset: 0, limit: 1000 };
        assert!(matches!(tx.search_users(&all), Err(DirectoryError::Invalid(_))));
        let few = Query { limit: 4, ..all };
        assert_eq!(tx.search_users(&few).unwrap().items.len(), 4);
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

    /// A module hands the store a filter as nodes, as deep as it likes: the store walks
    /// them recursively on the guest call's stack, after the guest's own (up to 512 KiB
    /// of a 2 MiB thread). The deepest filter it admits must fit in 1 MiB (unoptimized).
    #[test]
    fn module_filter_as_deep_as_allowed_does_not_overflow_the_stack() {
        let (_dir, store) = store();
        let searched = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let mut tx = store.begin("r", Access::Write, "test").unwrap();
                tx.create_user(&draft("ann", "x-ann")).unwrap();
                for chain in [|i: u32| FilterNode::Negate(i), |i: u32| FilterNode::AllOf(vec![i])] {
                    let mut filter = vec![FilterNode::Condition(Condition {
                        field: Field::Username,
                        op: Comparator::Eq,
                        value: "ann".into(),
                        case_exact: false,
                    })];
                    for i in 0..10_000 {
                        filter.push(chain(i));
                    }
                    let query = Query { filter, limit: 10, ..Query::default() };
                    let refused = tx.search_users(&query).unwrap_err();
                    assert!(matches!(refused, DirectoryError::Invalid(_)), "{refused:?}");
                    query_within_budget(&mut tx, chain);
                }
            })
            .unwrap()
            .join();
        assert!(searched.is_ok(), "the search panicked");
    }

    /// The deepest chain admitted answers as its root condition does.
    fn query_within_budget(tx: &mut Box<dyn Transaction>, chain: fn(u32) -> FilterNode) {
        for depth in (1..sql_filter::MAX_DEPTH as u32 + 10).rev() {
            let mut filter = vec![FilterNode::Condition(Condition {
                field: Field::Username,
                op: Comparator::Eq,
                value: "ann".into(),
                case_exact: false,
            })];
            filter.extend((0..depth).map(chain));
            let query = Query { filter, limit: 10, ..Query::default() };
            match tx.search_users(&query) {
                Ok(page) => {
                    assert_eq!(depth as usize, sql_filter::MAX_DEPTH - 1, "the root condition is one level more");
                    // An even number of NOTs, or any AllOf chain, keeps the condition.
                    let kept = depth % 2 == 0 || matches!(chain(0), FilterNode::AllOf(_));
                    assert_eq!(page.total, u32::from(kept));
                    return;
                }
                Err(DirectoryError::Invalid(_)) => continue,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
}
