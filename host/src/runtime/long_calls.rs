//! Cores for long guest calls. A SCIM call runs for well under a millisecond of guest code;
//! one that keeps running (a loop, a heavy computation) past [`GRACE`] needs one of the
//! permits here, of which there are one fewer than the cores (at least one), taken in
//! turns of [`QUANTUM`]. However many long calls a realm starts, and however long they run,
//! one core stays free for the short calls of every realm: a realm that loops costs its
//! neighbours a core, not the machine.
//!
//! Turns go round the realms, not the calls: the next permit goes to the realm served
//! longest ago, so a realm with twenty looping calls and a realm with one heavy call each
//! get half the turns, not twenty to one.
//!
//! A call gives its permit back while it waits outside its own code (a directory call,
//! which may wait for the store's writer; a WASI poll) and takes one again at its next
//! epoch tick. Waiting for a permit ends at the call's cut-off. A call that holds the
//! store's writer never waits here (every realm's writes would wait with it): it is held
//! to [`crate::runtime::WRITER_IDLE`] instead.
//!
//! "Running long" is the CPU time of the call's thread, not the time since it began: on a
//! busy machine a short call may wait for a core for longer than [`GRACE`], and it must not
//! then queue behind the long ones.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Guest time a call runs without a permit.
pub const GRACE: Duration = Duration::from_millis(20);
/// How long a long call keeps its permit while another waits for one.
pub const QUANTUM: Duration = Duration::from_millis(10);
/// How long a long call sleeps after its turn while short calls run: long calls then take
/// a third of their core, and the short calls of every realm the rest of the machine.
pub const STEP_ASIDE: Duration = Duration::from_millis(20);

/// Marks a call cut because its realm began cooling down.
#[derive(Debug, thiserror::Error)]
#[error("the realm began cooling down")]
pub struct CutForCoolDown;

/// The CPU time the calling thread has used (a guest call runs on one thread).
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec for the call to fill; CLOCK_THREAD_CPUTIME_ID is
    // supported on every Linux this runs on (a failure leaves zero, which gates nothing).
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The permits, shared by every call of the runtime.
pub struct LongCalls {
    state: Mutex<State>,
    changed: Condvar,
    /// Guest calls running now, long or short.
    running: AtomicUsize,
    /// Of them, those past their grace.
    long: AtomicUsize,
}

/// One running call, counted while it lives.
pub struct Running(Arc<LongCalls>);

/// One call past its grace, counted while it lives.
pub struct LongCall(Arc<LongCalls>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for LongCall {
    fn drop(&mut self) {
        self.0.long.fetch_sub(1, Ordering::Relaxed);
    }
}

struct State {
    free: usize,
    /// The calls waiting: their ticket and their realm's key.
    waiting: VecDeque<(u64, usize)>,
    next_ticket: u64,
    /// Permits given so far.
    given: u64,
    /// For each realm served among the last [`REMEMBERED`] permits, the count of permits
    /// given when it was last served; a realm not in it was served longer ago than any.
    served: HashMap<usize, u64>,
}

/// How many permits back a realm's last turn is remembered.
const REMEMBERED: u64 = 1024;

impl State {
    /// The ticket of the oldest waiting call of the realm served longest ago.
    fn next_in_line(&self) -> Option<u64> {
        let last_turn = |realm: &usize| self.served.get(realm).copied().unwrap_or(0);
        self.waiting.iter().min_by_key(|(ticket, realm)| (last_turn(realm), *ticket)).map(|(ticket, _)| *ticket)
    }

    fn give(&mut self, ticket: u64, realm: usize) {
        self.waiting.retain(|(t, _)| *t != ticket);
        self.free -= 1;
        self.given += 1;
        self.served.insert(realm, self.given);
        let given = self.given;
        self.served.retain(|_, last| given - *last < REMEMBERED);
    }
}

/// A long call's permit: its turn on the cores long calls share. Given back when dropped.
pub struct Permit {
    calls: Arc<LongCalls>,
    pub since: Instant,
}

impl LongCalls {
    /// Permits for one fewer than the machine's cores, and at least one.
    pub fn for_this_machine() -> Arc<LongCalls> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores.saturating_sub(1).max(1))
    }

    pub fn new(permits: usize) -> Arc<LongCalls> {
        let state = State { free: permits, waiting: VecDeque::new(), next_ticket: 0, given: 0, served: HashMap::new() };
        Arc::new(LongCalls {
            state: Mutex::new(state),
            changed: Condvar::new(),
            running: AtomicUsize::new(0),
            long: AtomicUsize::new(0),
        })
    }

    /// Counts a call as running until the guard drops.
    pub fn running(self: &Arc<Self>) -> Running {
        self.running.fetch_add(1, Ordering::Relaxed);
        Running(self.clone())
    }

    /// Counts a call as long until the guard drops.
    pub fn mark_long(self: &Arc<Self>) -> LongCall {
        self.long.fetch_add(1, Ordering::Relaxed);
        LongCall(self.clone())
    }

    /// Whether calls that are not long are running.
    pub fn short_calls_running(&self) -> bool {
        self.running.load(Ordering::Relaxed) > self.long.load(Ordering::Relaxed)
    }

    /// Waits for a permit until `cutoff` (`None` past it): realms in turn, the calls of a
    /// realm in the order they asked. `realm` is any key that tells realms apart.
    pub fn take(self: &Arc<Self>, realm: usize, cutoff: Instant) -> Option<Permit> {
        let mut state = self.state.lock().expect("long calls");
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back((ticket, realm));
        loop {
            if state.free > 0 && state.next_in_line() == Some(ticket) {
                state.give(ticket, realm);
                // The next in line may find a permit free too.
                self.changed.notify_all();
                return Some(Permit { calls: self.clone(), since: Instant::now() });
            }
            let left = cutoff.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.waiting.retain(|(t, _)| *t != ticket);
                self.changed.notify_all();
                return None;
            }
            state = self.changed.wait_timeout(state, left).expect("long calls").0;
        }
    }

    /// Whether a call waits for a permit.
    pub fn contended(&self) -> bool {
        !self.state.lock().expect("long calls").waiting.is_empty()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.calls.state.lock().expect("long calls");
        state.free += 1;
        self.calls.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_calls_take_the_permits_in_turn_and_give_up_waiting_at_their_cutoff() {
        let calls = LongCalls::new(1);
        let far = Instant::now() + Duration::from_secs(60);
        let first = calls.take(1, far).unwrap();
        assert!(!calls.contended());
        assert!(calls.take(1, Instant::now() + Duration::from_millis(20)).is_none(), "past its cut-off");
        assert!(!calls.contended(), "a call that gave up waits no more");

        let waiter = {
            let calls = calls.clone();
            std::thread::spawn(move || calls.take(1, far).map(|p| p.since))
        };
        while !calls.contended() {
            std::thread::yield_now();
        }
        let released = Instant::now();
        drop(first);
        assert!(waiter.join().unwrap().unwrap() >= released, "the waiter ran once the permit was back");
    }

    /// Realm 1 asked first, three times; realm 2 once, last: realm 2 gets the second turn.
    #[test]
    fn turns_go_round_the_realms_not_the_calls() {
        let calls = LongCalls::new(1);
        let far = Instant::now() + Duration::from_secs(60);
        let holder = calls.take(1, far).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for (name, realm) in [("a1", 1), ("a2", 1), ("a3", 1), ("b", 2)] {
            let (waiter, order) = (calls.clone(), order.clone());
            waiters.push(std::thread::spawn(move || {
                let permit = waiter.take(realm, far).unwrap();
                order.lock().unwrap().push(name);
                drop(permit);
            }));
            while calls.state.lock().unwrap().waiting.len() < waiters.len() {
                std::thread::yield_now();
            }
        }
        drop(holder);
        for waiter in waiters {
            waiter.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["b", "a1", "a2", "a3"]);
    }
}
