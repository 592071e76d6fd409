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
        Ok(Connection { client: Some(client), statements: HashMap::new(), in_transaction: false })
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
}

impl Reusable for Connection {
    fn reusable(&self) -> bool {
        !self.in_transaction && self.client.as_ref().is_some_and(|c| !c.is_closed())
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

    pub(super) fn query(&mut self, sql: &str, params: &Params) -> DirResult<Vec<pg::Row>> {
        let statement = self.statement(sql)?;
        self.client().query(&statement, params).map_err(classify)
    }

    pub(super) fn query_opt(&mut self, sql: &str, params: &Params) -> DirResult<Option<pg::Row>> {
        let statement = self.statement(sql)?;
        self.client().query_opt(&statement, params).map_err(classify)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &Params) -> DirResult<u64> {
        let statement = self.statement(sql)?;
        self.client().execute(&statement, params).map_err(classify)
    }

    /// Runs statements without parameters in one round trip.
    pub(super) fn batch(&mut self, sql: &str) -> DirResult<()> {
        self.client().batch_execute(sql).map_err(classify)
    }

    /// Begins a transaction with `begin` (which may set it up further).
    pub(super) fn begin(&mut self, begin: &str) -> DirResult<()> {
        self.batch(begin)?;
        self.in_transaction = true;
        Ok(())
    }

    pub(super) fn commit(&mut self) -> DirResult<()> {
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
