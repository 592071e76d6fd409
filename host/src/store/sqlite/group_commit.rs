//! Group commit: the store's one write connection passes from write call to write call
//! inside one transaction while calls wait for it, and the last of the group commits for
//! all of them.
//!
//! Every commit appends each page it changed to the write-ahead log. A new user alone
//! wrote 22 pages (the last leaf of each table and index it touches, the event log, the
//! list counts); four users in one transaction wrote 47, since those pages are shared.
//! Each call but a group's first (whose undoing is the transaction's rollback) runs in a
//! savepoint of its own, so it applies whole or not at all by itself, and its commit
//! returns only once its group's commit is done: nothing is answered before it is in the
//! log. A group takes in calls only while they wait, so a lone write commits at once, as
//! before. A call that runs long (a guest looping until its deadline) holds back the
//! answers of the calls before it in its group, as it holds back every write after it.

use super::{classify, run_cached};
use crate::metrics::latency_histogram;
use crate::store::DirectoryError;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};
use prometheus_client::registry::Registry;
use rusqlite::Connection;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The most calls in one group.
const MAX_MEMBERS: usize = 8;
/// A group takes in no call after this; its first call's answer waits for the commit.
const MAX_AGE: Duration = Duration::from_millis(10);

/// The store's write connection, lent to one call at a time.
pub(super) struct Writer {
    state: Mutex<State>,
    free: Condvar,
    /// How long calls waited for the connection.
    wait_seconds: Histogram,
    /// How many calls each committed transaction held.
    group_calls: Histogram,
    /// Calls whose writes the writer's transactions kept, committed or not yet.
    changes: AtomicU64,
    /// The value of `changes` at the last commit or rollback: equal to it, nothing is
    /// pending, and a new reader's snapshot is what the writer sees.
    settled: AtomicU64,
}

struct State {
    /// The connection, while no call holds it (opened at the first call when `None`).
    conn: Option<Connection>,
    /// A call holds the connection.
    lent: bool,
    /// Calls waiting for the connection.
    waiting: usize,
    /// The group whose transaction the idle connection holds open, handed to the next call.
    open: Option<Arc<Group>>,
}

/// The calls of one transaction, and how it ended.
struct Group {
    started: Instant,
    /// Calls that joined it.
    members: AtomicUsize,
    outcome: Mutex<Option<Result<(), DirectoryError>>>,
    decided: Condvar,
}

impl Group {
    fn new() -> Group {
        Group {
            started: Instant::now(),
            members: AtomicUsize::new(0),
            outcome: Mutex::new(None),
            decided: Condvar::new(),
        }
    }

    fn decide(&self, outcome: Result<(), DirectoryError>) {
        *self.outcome.lock().expect("group lock") = Some(outcome);
        self.decided.notify_all();
    }

    /// Waits for the group's commit (or its rollback).
    fn wait(&self) -> Result<(), DirectoryError> {
        let outcome = self.outcome.lock().expect("group lock");
        let outcome = self.decided.wait_while(outcome, |o| o.is_none()).expect("group lock");
        outcome.clone().expect("decided")
    }
}

impl Writer {
    pub fn new() -> Writer {
        Writer {
            state: Mutex::new(State { conn: None, lent: false, waiting: 0, open: None }),
            free: Condvar::new(),
            wait_seconds: latency_histogram(),
            group_calls: Histogram::new(linear_buckets(1.0, 1.0, MAX_MEMBERS as u16)),
            changes: AtomicU64::new(0),
            settled: AtomicU64::new(0),
        }
    }

    /// The writes kept so far, if none is pending: a reader that begins its snapshot after
    /// asking reads every one of them, and, while [`Writer::changes`] still says the same
    /// once it holds the writer, exactly what the writer sees.
    pub fn settled_changes(&self) -> Option<u64> {
        let settled = self.settled.load(Ordering::Acquire);
        (self.changes.load(Ordering::Acquire) == settled).then_some(settled)
    }

    /// The writes kept so far, committed or not; stable while the caller holds a lease.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Registers what the writer measures: where a write's time goes beside its own work.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "writer_wait_seconds",
            "Time a call waited for the store's write connection",
            self.wait_seconds.clone(),
        );
        registry.register(
            "write_group_calls",
            "Calls in one transaction when it commits (group commit)",
            self.group_calls.clone(),
        );
    }

    /// Lends the connection to one call, within the open group's transaction or a new
    /// one: waits for it at most `timeout`, and opens it with `connect` if needed.
    pub fn join(
        self: &Arc<Self>,
        timeout: Duration,
        connect: impl FnOnce() -> Result<Connection, DirectoryError>,
    ) -> Result<Lease, DirectoryError> {
        let asked = Instant::now();
        let mut state = self.state.lock().expect("writer lock");
        state.waiting += 1;
        let (mut state, _) = self.free.wait_timeout_while(state, timeout, |s| s.lent).expect("writer lock");
        state.waiting -= 1;
        self.wait_seconds.observe(asked.elapsed().as_secs_f64());
        if state.lent {
            return Err(DirectoryError::Unavailable(format!(
                "the store is busy: the write connection was not free after {} s",
                timeout.as_secs()
            )));
        }
        state.lent = true;
        let (conn, open) = (state.conn.take(), state.open.take());
        drop(state);

        let conn = match conn.map_or_else(connect, Ok) {
            Ok(conn) => conn,
            Err(e) => {
                self.give_back(None);
                return Err(e);
            }
        };
        // The first call of a group runs without a savepoint: to undo it is to roll the
        // transaction back, since nothing else is in it yet.
        let savepoint = open.is_some();
        let group = match open {
            Some(group) => group,
            None => match run_cached(&conn, "BEGIN IMMEDIATE") {
                Ok(()) => Arc::new(Group::new()),
                Err(e) => {
                    self.give_back(Some(conn));
                    return Err(classify(e));
                }
            },
        };
        group.members.fetch_add(1, Ordering::Relaxed);
        let rows_before = conn.total_changes();
        let lease = Lease { writer: self.clone(), conn: Some(conn), group, savepoint, rows_before };
        if savepoint {
            // A failure here ends the group through the lease's drop, like any broken call.
            run_cached(&lease, "SAVEPOINT scim_call").map_err(classify)?;
        }
        Ok(lease)
    }

    /// Takes the connection back from a call (closed when it is left inside a transaction).
    fn give_back(&self, conn: Option<Connection>) {
        let mut state = self.state.lock().expect("writer lock");
        state.conn = conn.filter(|c| c.is_autocommit());
        state.lent = false;
        self.free.notify_one();
    }

    /// Ends one call's part of its group: keeps or undoes its savepoint, then hands the
    /// open transaction to a waiting call or ends it. With `keep`, returns how the
    /// group's commit went, once it is done.
    fn end(&self, conn: Connection, lease: &Lease, keep: bool) -> Result<(), DirectoryError> {
        let group = lease.group.clone();
        if keep && conn.total_changes() != lease.rows_before {
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
        let ended = match (lease.savepoint, keep) {
            (true, true) => run_cached(&conn, "RELEASE scim_call"),
            (true, false) => {
                run_cached(&conn, "ROLLBACK TO scim_call").and_then(|()| run_cached(&conn, "RELEASE scim_call"))
            }
            (false, _) => Ok(()),
        };
        // Some errors make SQLite roll back the whole transaction: the earlier calls of the
        // group lost their changes too, and run again.
        let broken = match ended {
            Err(e) => Some(e.to_string()),
            Ok(()) if conn.is_autocommit() => Some("SQLite rolled it back".to_string()),
            Ok(()) => None,
        };
        let outcome = if !lease.savepoint && !keep {
            // The group's first call: no other call is in this transaction yet.
            let _ = run_cached(&conn, "ROLLBACK");
            Ok(())
        } else if let Some(why) = broken {
            let _ = run_cached(&conn, "ROLLBACK");
            Err(DirectoryError::Transient(format!("the transaction of its write group was rolled back: {why}")))
        } else {
            let mut state = self.state.lock().expect("writer lock");
            let members = group.members.load(Ordering::Relaxed);
            if state.waiting > 0 && members < MAX_MEMBERS && group.started.elapsed() < MAX_AGE {
                state.conn = Some(conn);
                state.open = Some(group.clone());
                state.lent = false;
                self.free.notify_one();
                drop(state);
                return if keep { group.wait() } else { Ok(()) };
            }
            drop(state);
            self.group_calls.observe(members as f64);
            let committed = run_cached(&conn, "COMMIT").map_err(classify);
            if committed.is_err() {
                let _ = run_cached(&conn, "ROLLBACK");
            }
            committed
        };
        // Committed or rolled back, nothing is pending.
        self.settled.store(self.changes.load(Ordering::Acquire), Ordering::Release);
        group.decide(outcome.clone());
        self.give_back(Some(conn));
        if keep { outcome } else { Ok(()) }
    }
}

/// One call's hold on the write connection, inside its group's transaction. Dropped without
/// [`Lease::commit`], it undoes the call's changes and nothing else.
pub(super) struct Lease {
    writer: Arc<Writer>,
    conn: Option<Connection>,
    group: Arc<Group>,
    /// Runs in a savepoint (all calls of a group but its first).
    savepoint: bool,
    /// The connection's count of changed rows when the call took it: whether it wrote.
    rows_before: u64,
}

impl Lease {
    /// Keeps the call's changes; returns once they are committed with its group's.
    pub fn commit(mut self) -> Result<(), DirectoryError> {
        let conn = self.conn.take().expect("a lease holds the connection until it ends");
        self.writer.end(conn, &self, true)
    }
}

impl std::ops::Deref for Lease {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a lease holds the connection until it ends")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = self.writer.end(conn, self, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const WAIT: Duration = Duration::from_secs(10);

    /// A writer on a fresh database with a table `t (x UNIQUE)`, and the commits it made.
    fn writer(
        dir: &std::path::Path,
    ) -> (Arc<Writer>, impl Fn() -> Result<Connection, DirectoryError> + Clone + Send + use<>, Arc<AtomicUsize>) {
        let path = dir.join("t.db");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x TEXT UNIQUE)").unwrap();
        let commits = Arc::new(AtomicUsize::new(0));
        let counted = commits.clone();
        let connect = move || {
            let mut conn = Connection::open(&path).map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
            let counted = counted.clone();
            conn.commit_hook(Some(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                false
            }))
            .map_err(|e| DirectoryError::Unavailable(e.to_string()))?;
            Ok(conn)
        };
        (Arc::new(Writer::new()), connect, commits)
    }

    fn rows(dir: &std::path::Path) -> Vec<String> {
        let conn = Connection::open(dir.join("t.db")).unwrap();
        let mut rows: Vec<String> =
            conn.prepare("SELECT x FROM t").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        rows.sort();
        rows
    }

    fn insert(lease: &Lease, x: &str) -> rusqlite::Result<usize> {
        lease.execute("INSERT INTO t VALUES (?1)", [x])
    }

    /// Waits until `n` calls wait for the connection.
    fn until_waiting(writer: &Writer, n: usize) {
        let deadline = Instant::now() + WAIT;
        while writer.state.lock().unwrap().waiting < n {
            assert!(Instant::now() < deadline, "{n} calls never waited for the writer");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Calls that each insert their row once the writer is theirs, then commit it if
    /// `keeps` says so (else drop their lease), started once the first call holds the
    /// writer; returns when they all wait for it.
    fn waiting_calls<C>(
        writer: &Arc<Writer>,
        connect: &C,
        xs: [&'static str; 2],
        keeps: fn(&str) -> bool,
    ) -> Vec<std::thread::JoinHandle<Result<(), DirectoryError>>>
    where
        C: Fn() -> Result<Connection, DirectoryError> + Clone + Send + 'static,
    {
        let calls = xs
            .map(|x| {
                let (writer, connect) = (writer.clone(), connect.clone());
                std::thread::spawn(move || {
                    let lease = writer.join(WAIT, connect).unwrap();
                    insert(&lease, x).unwrap();
                    if keeps(x) { lease.commit() } else { Ok(()) }
                })
            })
            .into();
        until_waiting(writer, xs.len());
        calls
    }

    #[test]
    fn a_lone_call_commits_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, connect, commits) = writer(dir.path());
        let lease = writer.join(WAIT, connect.clone()).unwrap();
        insert(&lease, "a").unwrap();
        lease.commit().unwrap();
        assert_eq!((rows(dir.path()), commits.load(Ordering::SeqCst)), (vec!["a".to_string()], 1));
    }

    #[test]
    fn calls_waiting_for_the_writer_share_one_commit_and_answer_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, connect, commits) = writer(dir.path());
        let first = writer.join(WAIT, connect.clone()).unwrap();
        insert(&first, "a").unwrap();
        let others = waiting_calls(&writer, &connect, ["b", "c"], |_| true);
        // Returns once the last of the group has committed for all three.
        first.commit().unwrap();
        assert_eq!(rows(dir.path()), ["a", "b", "c"]);
        assert_eq!(commits.load(Ordering::SeqCst), 1);
        for other in others {
            other.join().unwrap().unwrap();
        }
        // The metrics say so: one transaction of three calls; two of them waited for the
        // writer, at least as long as the first held it.
        assert_eq!((writer.group_calls.count(), writer.group_calls.sum()), (1, 3.0));
        assert_eq!(writer.wait_seconds.count(), 3);
        assert!(writer.wait_seconds.sum() > 0.0);
    }

    #[test]
    fn a_call_undone_inside_a_group_takes_only_its_own_changes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, connect, commits) = writer(dir.path());
        let first = writer.join(WAIT, connect.clone()).unwrap();
        insert(&first, "a").unwrap();
        // "b" fails after writing; dropped, its lease undoes its insert.
        let others = waiting_calls(&writer, &connect, ["b", "c"], |x| x == "c");
        first.commit().unwrap();
        for other in others {
            other.join().unwrap().unwrap();
        }
        assert_eq!(rows(dir.path()), ["a", "c"]);
        assert_eq!(commits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn when_sqlite_rolls_back_the_whole_group_the_earlier_calls_are_told_to_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, connect, commits) = writer(dir.path());
        let first = writer.join(WAIT, connect.clone()).unwrap();
        insert(&first, "a").unwrap();
        let second = {
            let (writer, connect) = (writer.clone(), connect.clone());
            std::thread::spawn(move || {
                let lease = writer.join(WAIT, connect).unwrap();
                // OR ROLLBACK ends the whole transaction, "a" with it.
                let broke = lease.execute("INSERT OR ROLLBACK INTO t VALUES ('a')", []).is_err();
                assert!(lease.is_autocommit());
                broke
            })
        };
        until_waiting(&writer, 1);
        assert!(matches!(first.commit(), Err(DirectoryError::Transient(_))));
        assert!(second.join().unwrap());
        assert!(rows(dir.path()).is_empty());
        assert_eq!(commits.load(Ordering::SeqCst), 0);
        // The writer goes on with a fresh transaction.
        let lease = writer.join(WAIT, connect).unwrap();
        insert(&lease, "d").unwrap();
        lease.commit().unwrap();
        assert_eq!(rows(dir.path()), ["d"]);
    }
}
