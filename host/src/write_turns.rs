//! Turns for write calls. Every write goes through the store's one writer, so write calls
//! beyond the number of cores only take the CPU from the call that holds the writer, and
//! the writer is held longer for everyone: 16 connections PATCHing one group got fewer
//! answers a second than one connection did. Writes beyond the turns wait here, as tasks,
//! before they take an instance slot or a thread; reads never wait here.
//!
//! A call gives its turn back when it reaches its commit (it then waits for its write
//! group's commit, on no CPU; see `store::group_commit`), or after [`TURN`]: a guest that
//! loops until its deadline delays other realms' writes by that much, not by its deadline.

use std::sync::{Arc, Mutex};
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
    pub async fn take(&self) -> Turn {
        let permit = self.turns.clone().acquire_owned().await.expect("the turns are never closed");
        Turn(Arc::new(Mutex::new(Some(permit))))
    }

    /// Waits for `call`, which holds `turn` (its own clone of it) for at most [`TURN`].
    pub async fn hold<T>(turn: Turn, call: JoinHandle<T>) -> Result<T, JoinError> {
        // The turn's end runs in a task of its own: in this future, it would be dropped
        // with it when the client hangs up, and the call would keep its turn to its end.
        // Weak: a call done sooner gives the turn back by dropping its clone.
        let running = Arc::downgrade(&turn.0);
        drop(turn);
        tokio::spawn(async move {
            tokio::time::sleep(TURN).await;
            if let Some(turn) = running.upgrade() {
                Turn(turn).give_back();
            }
        });
        call.await
    }
}

/// A write turn, given back by the call or by [`WriteTurns::hold`], whichever is first.
#[derive(Clone)]
pub struct Turn(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Turn {
    pub fn give_back(&self) {
        self.0.lock().expect("turn lock").take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_call_gives_its_turn_back_while_the_holder_still_waits_and_once_only() {
        let turns = WriteTurns { turns: Arc::new(Semaphore::new(1)) };
        let turn = turns.take().await;
        assert_eq!(turns.turns.available_permits(), 0);
        // The blocking call's clone, given back at its commit.
        let held = turn.clone();
        std::thread::spawn(move || held.give_back()).join().unwrap();
        assert_eq!(turns.turns.available_permits(), 1, "the next write may start");
        // The holder's own give-back, after `TURN` or at the end, frees nothing more.
        turn.give_back();
        drop(turn);
        assert_eq!(turns.turns.available_permits(), 1);
    }
}
