//! Turns for write calls. Every write goes through the store's one writer, so write calls
//! beyond the number of cores only take the CPU from the call that holds the writer, and
//! the writer is held longer for everyone: 16 connections PATCHing one group got fewer
//! answers a second than one connection did. Writes beyond the turns wait here, as tasks,
//! before they take an instance slot or a thread; reads never wait here.
//!
//! A call still running after [`TURN`] gives its turn to the next write: a guest that
//! loops until its deadline delays other realms' writes by that much, not by its deadline.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinHandle};

/// How long a write call keeps its turn (a write takes a few milliseconds).
pub const TURN: Duration = Duration::from_millis(50);

pub struct WriteTurns {
    turns: Arc<Semaphore>,
}

impl WriteTurns {
    /// One turn per core, and at least two.
    pub fn per_core() -> WriteTurns {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        WriteTurns { turns: Arc::new(Semaphore::new(cores.max(2))) }
    }

    /// Waits for a turn (first come, first served).
    pub async fn take(&self) -> OwnedSemaphorePermit {
        self.turns.clone().acquire_owned().await.expect("the turns are never closed")
    }

    /// Waits for `call`, holding `turn` (if any) for at most [`TURN`].
    pub async fn hold<T>(turn: Option<OwnedSemaphorePermit>, call: JoinHandle<T>) -> Result<T, JoinError> {
        let Some(turn) = turn else { return call.await };
        let mut call = call;
        tokio::select! {
            done = &mut call => done,
            () = tokio::time::sleep(TURN) => {
                drop(turn);
                call.await
            }
        }
    }
}
