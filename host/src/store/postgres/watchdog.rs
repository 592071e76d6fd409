//! Ends a call's statement at the call's cut-off. `statement_timeout` bounds each statement
//! by the time left when it was set, so a statement begun just before the cut-off could hold
//! its connection (and its row locks) for nearly as long again; the watchdog asks the
//! server to cancel it at the cut-off itself. The statement then fails as a timed-out one
//! does (SQLSTATE 57014: the call ran past its deadline).
//!
//! Cancellation reaches the server on a connection of its own, and may land after the
//! statement it aimed at has ended: a transaction whose watchdog fired never gives its
//! connection back to the pool, so the cancel cannot hit another call's statement.

use super::pg;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// One store's watchdog: a thread that sleeps until the earliest cut-off armed.
#[derive(Clone, Default)]
pub(super) struct Watchdog {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    due: Mutex<Due>,
    changed: Condvar,
}

#[derive(Default)]
struct Due {
    heap: BinaryHeap<Entry>,
    running: bool,
}

struct Entry {
    at: Instant,
    guard: Arc<Guard>,
}

// The earliest cut-off first.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Entry {}

/// One transaction's watch: what may cancel its statement, until it ends.
#[derive(Default)]
struct Guard(Mutex<Watch>);

#[derive(Default)]
enum Watch {
    Armed(pg::CancelToken),
    /// A cancel was sent: the connection must not be reused.
    Fired,
    #[default]
    Ended,
}

/// A transaction's watch: [`Watched::end`] it before its connection is reused.
pub(super) struct Watched {
    guard: Arc<Guard>,
    watchdog: Watchdog,
}

/// The longest the watchdog's thread sleeps before it looks whether its store is gone.
const IDLE: Duration = Duration::from_secs(1);

impl Watchdog {
    /// Cancels the statement running on the session of `token` at `at`, unless the watch
    /// ends first.
    pub(super) fn watch(&self, at: Instant, token: pg::CancelToken) -> Watched {
        let guard = Arc::new(Guard(Mutex::new(Watch::Armed(token))));
        let watched = Watched { guard, watchdog: self.clone() };
        watched.also_at(at);
        watched
    }

    fn push(&self, entry: Entry) {
        let mut due = self.inner.due.lock().expect("watchdog");
        // The thread sleeps until the earliest cut-off: wake it only for an earlier one.
        let earlier = due.heap.peek().is_none_or(|first| entry.at < first.at);
        due.heap.push(entry);
        if !due.running {
            due.running = true;
            let inner = Arc::downgrade(&self.inner);
            std::thread::Builder::new()
                .name("scim-host-pg-watchdog".into())
                .spawn(move || run(inner))
                .expect("the watchdog thread starts");
        }
        if earlier {
            self.inner.changed.notify_one();
        }
    }
}

impl Watched {
    /// Cancels the statement at `at` too (an earlier cut-off: the write hold's).
    pub(super) fn also_at(&self, at: Instant) {
        self.watchdog.push(Entry { at, guard: self.guard.clone() });
    }

    /// Ends the watch; whether a cancel was sent (the connection must then be closed).
    pub(super) fn end(self) -> bool {
        let mut watch = self.guard.0.lock().expect("watch");
        matches!(std::mem::take(&mut *watch), Watch::Fired)
    }
}

/// The watchdog's thread: cancels what comes due, until its store is dropped.
fn run(inner: Weak<Inner>) {
    loop {
        let Some(inner) = inner.upgrade() else { return };
        let mut due = inner.due.lock().expect("watchdog");
        let now = Instant::now();
        match due.heap.peek().map(|e| e.at) {
            Some(at) if at <= now => {
                let entry = due.heap.pop().expect("peeked");
                drop(due);
                fire(&entry.guard);
            }
            next => {
                let sleep = next.map_or(IDLE, |at| (at - now).min(IDLE));
                drop(inner.changed.wait_timeout(due, sleep).expect("watchdog"));
            }
        }
    }
}

/// Cancels the guarded statement if its transaction still runs; the guard stays locked
/// meanwhile, so the transaction cannot end and hand its connection on mid-cancel.
fn fire(guard: &Guard) {
    let mut watch = guard.0.lock().expect("watch");
    if let Watch::Armed(token) = &*watch {
        if let Err(e) = token.cancel_query(pg::NoTls) {
            tracing::warn!("cannot cancel a statement past its deadline: {e}");
        }
        *watch = Watch::Fired;
    }
}
