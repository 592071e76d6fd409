//! A small pool of read connections.

use super::*;

/// A small connection pool: `capacity` connections at most, idle ones kept for reuse.
/// A std Mutex, not a tokio one: guest calls run on blocking threads and never await.
pub(super) struct Pool {
    pub(super) state: Mutex<PoolState>,
    pub(super) returned: Condvar,
    pub(super) capacity: usize,
}

pub(super) struct PoolState {
    pub(super) idle: Vec<Connection>,
    pub(super) out: usize,
}

impl Pool {
    pub(super) fn new(capacity: usize) -> Self {
        Pool { state: Mutex::new(PoolState { idle: Vec::new(), out: 0 }), returned: Condvar::new(), capacity }
    }

    /// An idle connection, or `None` when the caller may open a new one.
    pub(super) fn take(&self, timeout: Duration) -> DirResult<Option<Connection>> {
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

    pub(super) fn give_back(&self, conn: Option<Connection>) {
        let mut state = self.state.lock().expect("pool lock");
        state.out -= 1;
        if let Some(conn) = conn {
            state.idle.push(conn);
        }
        self.returned.notify_one();
    }
}

/// A connection checked out of a pool, returned when dropped.
pub(super) struct Pooled {
    pub(super) conn: Option<Connection>,
    pub(super) pool: Arc<Pool>,
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
