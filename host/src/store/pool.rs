//! A small pool of database connections, for both SQL stores.

use super::{DirResult, DirectoryError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A connection a pool can take back: one left inside a transaction, or broken, is closed.
pub trait Reusable {
    fn reusable(&self) -> bool;
}

/// A small connection pool: `capacity` connections at most, idle ones kept for reuse.
/// A std Mutex, not a tokio one: guest calls run on blocking threads and never await.
pub struct Pool<C> {
    state: Mutex<PoolState<C>>,
    returned: Condvar,
    capacity: usize,
}

struct PoolState<C> {
    idle: Vec<C>,
    out: usize,
}

impl<C: Reusable> Pool<C> {
    pub fn new(capacity: usize) -> Self {
        Pool { state: Mutex::new(PoolState { idle: Vec::new(), out: 0 }), returned: Condvar::new(), capacity }
    }

    /// An idle connection, or `None` when the caller may open a new one.
    fn take(&self, timeout: Duration) -> DirResult<Option<C>> {
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

    fn give_back(&self, conn: Option<C>) {
        let mut state = self.state.lock().expect("pool lock");
        state.out -= 1;
        if let Some(conn) = conn {
            state.idle.push(conn);
        }
        self.returned.notify_one();
    }

    /// An idle connection, or one `connect` opens, waited for at most `timeout`.
    pub fn checkout(
        self: &Arc<Self>,
        timeout: Duration,
        connect: impl FnOnce() -> DirResult<C>,
    ) -> DirResult<Pooled<C>> {
        let conn = match self.take(timeout)? {
            Some(conn) => conn,
            None => match connect() {
                Ok(conn) => conn,
                Err(e) => {
                    // The slot taken for the new connection is free again.
                    self.give_back(None);
                    return Err(e);
                }
            },
        };
        Ok(Pooled { conn: Some(conn), pool: self.clone() })
    }
}

/// A connection checked out of a pool, returned when dropped.
pub struct Pooled<C: Reusable> {
    conn: Option<C>,
    pool: Arc<Pool<C>>,
}

impl<C: Reusable> std::ops::Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.conn.as_ref().expect("a pooled connection is present until dropped")
    }
}

impl<C: Reusable> std::ops::DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().expect("a pooled connection is present until dropped")
    }
}

impl<C: Reusable> Drop for Pooled<C> {
    fn drop(&mut self) {
        let conn = self.conn.take().filter(C::reusable);
        self.pool.give_back(conn);
    }
}
