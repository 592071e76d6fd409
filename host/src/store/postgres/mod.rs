//! The PostgreSQL store: every realm in one database that several hosts share, chosen by
//! a `postgres://` store URL.
//!
//! There is no writer of the process here: each call's transaction is a PostgreSQL
//! transaction of its own, at REPEATABLE READ, on a pooled connection, so realms (and
//! calls of one realm) write at once. Calls that race converge through the database: a
//! unique index refuses the second of two identical creates, a serialization failure the
//! second of two updates of one row, and the host runs the losing call again (the store
//! answers [`DirectoryError::Transient`]), when it finds what the winner wrote.
//!
//! A file per concept: the schema and its migrations, tenant administration, a call's
//! transaction, and the directory contract; filters come from [`super::sql_filter`].

mod admin;
mod changes;
mod directory;
mod dump;
mod modules;
mod schema;
mod transaction;
mod watchdog;
mod webhooks;

use super::list_cursors::ListCursors;
use super::pool::{Pool, Pooled, Reusable};
use super::sql_filter::Param;
use super::*;
use ::postgres as pg;
use pg::types::ToSql;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use transaction::PostgresTransaction;

/// How long a call waits for a connection before answering that the store is busy.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections a host keeps open to one database.
const MAX_CONNECTIONS: usize = 32;
/// Prepared statements a connection keeps (each is a few KiB on the server).
const MAX_STATEMENTS: usize = 256;

/// The most bytes of attributes one page of a search carries (as in the SQLite store).
const MAX_PAGE_BYTES: usize = 32 << 20;
/// The most resources a lookup returns (as in the SQLite store).
const MAX_LOOKUP_ROWS: usize = 1_000;

/// A PostgreSQL database holding every realm.
#[derive(Clone)]
pub struct PostgresStore {
    config: pg::Config,
    pool: Arc<Pool<Connection>>,
    cursors: Arc<ListCursors>,
    metrics: Arc<StoreMetrics>,
    /// Cancels calls' statements at their cut-offs.
    watchdog: watchdog::Watchdog,
}

/// What the store measures for operators: the wait for a pooled connection (the pool
/// bounds what one host asks of the database), and the call transactions that wrote.
struct StoreMetrics {
    connection_wait_seconds: prometheus_client::metrics::histogram::Histogram,
    write_transactions: prometheus_client::metrics::counter::Counter,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            connection_wait_seconds: crate::metrics::latency_histogram(),
            write_transactions: Default::default(),
        }
    }
}

/// A bound value, as PostgreSQL reads it.
type Params<'a> = [&'a (dyn ToSql + Sync)];

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`) and brings
    /// its schema up to date.
    pub fn open(url: &str) -> DirResult<Self> {
        let config: pg::Config =
            url.parse().map_err(|e| DirectoryError::Unavailable(format!("the store URL is not valid: {e}")))?;
        let store = PostgresStore {
            config,
            pool: Arc::new(Pool::new(MAX_CONNECTIONS)),
            cursors: Arc::default(),
            metrics: Arc::default(),
            watchdog: Default::default(),
        };
        let mut conn = store.checkout(CHECKOUT_TIMEOUT)?;
        schema::migrate(&mut conn)?;
        Ok(store)
    }

    /// A new session with the database.
    fn client(&self) -> DirResult<pg::Client> {
        let mut config = self.config.clone();
        config.connect_timeout(CHECKOUT_TIMEOUT).application_name("scim-host");
        config.connect(pg::NoTls).map_err(|e| DirectoryError::Unavailable(format!("cannot connect to the store: {e}")))
    }

    fn connect(&self) -> DirResult<Connection> {
        let mut client = self.client()?;
        // A host that stops mid-call (kill -9, a lost network) must not hold row locks
        // for long: the server ends such a session's transaction itself.
        client
            .batch_execute("SET idle_in_transaction_session_timeout = '60s'")
            .map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
        Ok(Connection {
            client: Some(client),
            statements: HashMap::new(),
            in_transaction: false,
            failed: false,
            realm_lock: None,
            cancelled: false,
        })
    }

    /// A pooled connection, waited for at most `timeout`.
    fn checkout(&self, timeout: Duration) -> DirResult<Pooled<Connection>> {
        let asked = std::time::Instant::now();
        let conn = self.pool.checkout(timeout, || self.connect());
        self.metrics.connection_wait_seconds.observe(asked.elapsed().as_secs_f64());
        conn
    }

    /// Adds the store's metrics to the server's.
    fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "connection_wait_seconds",
            "Time a call or an operator waited for a pooled connection",
            self.metrics.connection_wait_seconds.clone(),
        );
        registry.register(
            "write_transactions",
            "Call transactions that wrote, counted at their first write",
            self.metrics.write_transactions.clone(),
        );
    }

    /// Runs `f` in a short transaction of the store's own (tenant administration); a
    /// serialization failure or a race on a unique index runs it again.
    fn write<T>(&self, mut f: impl FnMut(&mut Connection) -> DirResult<T>) -> DirResult<T> {
        let mut last = String::new();
        for _ in 0..5 {
            let mut conn = self.checkout(CHECKOUT_TIMEOUT)?;
            conn.begin("BEGIN")?;
            let done = f(&mut conn).and_then(|value| conn.commit().map(|()| value));
            match done {
                Ok(value) => return Ok(value),
                Err(DirectoryError::Transient(why)) => last = why,
                Err(e) => return Err(e),
            }
        }
        Err(DirectoryError::Unavailable(format!("the store stayed busy: {last}")))
    }
}

/// One connection to the database, with the statements it prepared.
pub(super) struct Connection {
    /// Taken only by `drop`.
    client: Option<pg::Client>,
    statements: HashMap<String, pg::Statement>,
    /// Inside a transaction begun by [`Connection::begin`].
    in_transaction: bool,
    /// The transaction's last statement failed: PostgreSQL has aborted it (only a
    /// `ROLLBACK TO` a savepoint revives it), and a COMMIT would roll it back in silence.
    failed: bool,
    /// A realm's write lock this session holds beyond its transaction (see `transaction`).
    pub(super) realm_lock: Option<i64>,
    /// A cancel was sent to the session, which may still land: it is not reused.
    pub(super) cancelled: bool,
}

impl Reusable for Connection {
    fn reusable(&self) -> bool {
        !self.in_transaction
            && self.realm_lock.is_none()
            && !self.cancelled
            && self.client.as_ref().is_some_and(|c| !c.is_closed())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The client owns a runtime of its own, which must not be dropped on an async
        // worker thread (a pool may be dropped there).
        if let Some(client) = self.client.take() {
            std::thread::spawn(move || drop(client));
        }
    }
}

impl Connection {
    fn client(&mut self) -> &mut pg::Client {
        self.client.as_mut().expect("the client is present until dropped")
    }

    /// The prepared statement of `sql` (prepared once per connection).
    fn statement(&mut self, sql: &str) -> DirResult<pg::Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client().prepare(sql).map_err(classify)?;
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Notes whether a statement of the transaction failed (see `failed`).
    fn tracked<T>(&mut self, result: DirResult<T>) -> DirResult<T> {
        if self.in_transaction {
            self.failed = result.is_err();
        }
        result
    }

    pub(super) fn query(&mut self, sql: &str, params: &Params) -> DirResult<Vec<pg::Row>> {
        let result = self.statement(sql).and_then(|s| self.client().query(&s, params).map_err(classify));
        self.tracked(result)
    }

    pub(super) fn query_opt(&mut self, sql: &str, params: &Params) -> DirResult<Option<pg::Row>> {
        let result = self.statement(sql).and_then(|s| self.client().query_opt(&s, params).map_err(classify));
        self.tracked(result)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &Params) -> DirResult<u64> {
        let result = self.statement(sql).and_then(|s| self.client().execute(&s, params).map_err(classify));
        self.tracked(result)
    }

    /// Runs statements without parameters in one round trip.
    pub(super) fn batch(&mut self, sql: &str) -> DirResult<()> {
        let result = self.client().batch_execute(sql).map_err(classify);
        self.tracked(result)
    }

    /// Begins a transaction with `begin` (which may set it up further).
    pub(super) fn begin(&mut self, begin: &str) -> DirResult<()> {
        if let Err(e) = self.batch(begin) {
            // What `begin` opened before it failed (a lock not granted in time) ends here.
            let _ = self.client().batch_execute("ROLLBACK");
            return Err(e);
        }
        (self.in_transaction, self.failed) = (true, false);
        Ok(())
    }

    /// Commits; a transaction a failed statement aborted is rolled back and reported, never
    /// answered as kept.
    pub(super) fn commit(&mut self) -> DirResult<()> {
        if self.failed {
            self.rollback();
            return Err(DirectoryError::Unavailable("a statement of the transaction failed: nothing was kept".into()));
        }
        let committed = self.batch("COMMIT");
        // A failed COMMIT ends the transaction too (PostgreSQL rolls it back).
        self.in_transaction = false;
        committed
    }

    pub(super) fn rollback(&mut self) {
        if self.in_transaction && self.batch("ROLLBACK").is_ok() {
            self.in_transaction = false;
        }
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &pg::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<pg::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Text(text) => text.to_sql(ty, out),
            Param::Int(int) => int.to_sql(ty, out),
            Param::Bool(flag) => flag.to_sql(ty, out),
        }
    }

    fn accepts(ty: &pg::types::Type) -> bool {
        <String as ToSql>::accepts(ty) || <i64 as ToSql>::accepts(ty) || <bool as ToSql>::accepts(ty)
    }

    pg::types::to_sql_checked!();
}

/// What a PostgreSQL error means to a call. Races between transactions are transient:
/// the call runs again and finds what the other wrote. Uniqueness a call can see is
/// checked before it writes (a `Conflict` the guest handles), so a unique index that
/// refuses a write was raced, and a foreign key that refuses one lost its row to a
/// concurrent delete.
fn classify(e: pg::Error) -> DirectoryError {
    use pg::error::SqlState;
    let Some(code) = e.code() else { return DirectoryError::Unavailable(e.to_string()) };
    // The server's message may quote stored values: it goes to the log, its code to the caller.
    let message = e.as_db_error().map_or_else(|| e.to_string(), |db| db.message().to_string());
    if *code == SqlState::QUERY_CANCELED {
        DirectoryError::PastDeadline
    } else if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *code == SqlState::UNTRANSLATABLE_CHARACTER {
        DirectoryError::Invalid("a value holds a character the store cannot keep (NUL)".into())
    } else if *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
        DirectoryError::Invalid("a value is longer than the store can index".into())
    } else if [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::UNIQUE_VIOLATION,
        SqlState::FOREIGN_KEY_VIOLATION,
        SqlState::LOCK_NOT_AVAILABLE,
    ]
    .contains(code)
    {
        DirectoryError::Transient(format!("database error {}", code.code()))
    } else {
        tracing::error!(code = code.code(), "the database refused a statement: {message}");
        DirectoryError::Unavailable(format!("database error {}", code.code()))
    }
}

#[cfg(test)]
#[path = "../../../../tests/src/scratch_postgres.rs"]
#[allow(dead_code)]
mod scratch_postgres;

#[cfg(test)]
mod tests {
    use super::*;

    /// A guest that swallows a store error and answers 2xx must not be told its write was
    /// kept: PostgreSQL aborted the transaction at the error, and COMMIT would roll it back
    /// without a word.
    #[test]
    fn commit_after_a_failed_statement_keeps_nothing_and_says_so() {
        let store = PostgresStore::open(&scratch_postgres::fresh_database()).unwrap();
        let mut conn = store.checkout(CHECKOUT_TIMEOUT).unwrap();
        conn.begin("BEGIN").unwrap();
        conn.execute("INSERT INTO realms (name, created_at) VALUES ('swallowed', 0)", &[]).unwrap();
        assert!(conn.batch("SELECT 1 / 0").is_err());
        assert!(conn.commit().is_err(), "a commit of an aborted transaction is a failure");
        assert!(conn.query_opt("SELECT 1 FROM realms WHERE name = 'swallowed'", &[]).unwrap().is_none());
        // A savepoint rolled back revives the transaction: the commit keeps the rest.
        conn.begin("BEGIN").unwrap();
        conn.execute("INSERT INTO realms (name, created_at) VALUES ('kept', 0)", &[]).unwrap();
        conn.batch("SAVEPOINT s").unwrap();
        assert!(conn.batch("SELECT 1 / 0").is_err());
        conn.batch("ROLLBACK TO s").unwrap();
        conn.commit().unwrap();
        assert!(conn.query_opt("SELECT 1 FROM realms WHERE name = 'kept'", &[]).unwrap().is_some());
    }

    /// A call's statement begun just before its deadline must not hold its connection (and
    /// its locks) for as long again: `statement_timeout` alone would let it run 1 s past
    /// the deadline here; the watchdog ends it at the deadline.
    #[test]
    fn statement_begun_just_before_the_deadline_ends_at_it() {
        use std::time::{Duration, Instant};
        let store = PostgresStore::open(&scratch_postgres::fresh_database()).unwrap();
        let mut tx = PostgresTransaction::new(&store, "r", Access::Read, "t");
        let at = Instant::now() + Duration::from_secs(1);
        tx.set_deadline(Deadline { at, write_hold: Duration::from_secs(60) });
        tx.conn().unwrap().query("SELECT 1", &[]).unwrap();
        std::thread::sleep(at.saturating_duration_since(Instant::now()).saturating_sub(Duration::from_millis(100)));
        let e = tx.conn().unwrap().query("SELECT pg_sleep(5)", &[]).unwrap_err();
        let overran = Instant::now().saturating_duration_since(at);
        assert_eq!(e, DirectoryError::PastDeadline);
        assert!(overran < Duration::from_millis(500), "the statement ran {overran:?} past the deadline");
        drop(tx);
        // The cancelled session is not handed to the next calls: none of them is cancelled.
        for _ in 0..20 {
            let mut tx = PostgresTransaction::new(&store, "r", Access::Read, "t");
            tx.conn().unwrap().query("SELECT pg_sleep(0.01)", &[]).unwrap();
        }
    }
}
