//! Per-realm admission: a request rate (token bucket), a cap on concurrent guest calls, and
//! a cool-down for a realm whose calls keep running into their deadline or memory cap. A
//! realm over any is refused at once, before it takes an instance slot or a store
//! connection, so its load costs no other realm anything.
//!
//! The cool-down: [`STRIKES`] such failures within [`STRIKE_WINDOW`] refuse the realm's
//! requests for [`FIRST_COOLDOWN`], doubled at each cool-down that follows within
//! [`FORGIVEN_AFTER`], up to [`MAX_COOLDOWN`]. A looping or memory-hungry module then
//! burns a core for a few deadlines, not for as long as its clients retry.
//!
//! The token bucket is a dozen lines over a std Mutex (held for a few nanoseconds, never
//! across an await); a rate-limiting crate would bring more than it saves here.

use crate::config::Limits;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a realm's request was refused.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// Over the request rate; retry after this long.
    Rate(Duration),
    /// Over the number of concurrent calls.
    Concurrency(u32),
    /// Cooling down after calls that ran into their deadline or memory cap; retry after
    /// this long.
    CoolingDown(Duration),
}

impl Refusal {
    /// How long the refusal waits before it is answered. A realm cooling down or running
    /// its limit of calls is refused after [`REFUSAL_PAUSE`]: a client that retries at once
    /// on each of its connections (as identity providers' pools do, and as a tenant's broken
    /// loop would) then costs the server a few refusals a second per connection, not a
    /// core of them. A refusal for rate is answered at once: its wait is a token's, short.
    pub fn pause(&self) -> Duration {
        match self {
            Refusal::Rate(_) => Duration::ZERO,
            Refusal::Concurrency(_) | Refusal::CoolingDown(_) => REFUSAL_PAUSE,
        }
    }
}

/// See [`Refusal::pause`]. Short beside the second a client is told to wait.
pub const REFUSAL_PAUSE: Duration = Duration::from_millis(200);

/// Failures (deadline, memory cap) within [`STRIKE_WINDOW`] that start a cool-down.
pub const STRIKES: usize = 3;
/// The window in which failures count together.
pub const STRIKE_WINDOW: Duration = Duration::from_secs(10);
/// The first cool-down.
pub const FIRST_COOLDOWN: Duration = Duration::from_secs(5);
/// The longest cool-down.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(300);
/// A realm with no cool-down for this long starts again from the first.
pub const FORGIVEN_AFTER: Duration = Duration::from_secs(600);

/// The realm's recent failures and cool-downs.
#[derive(Default)]
struct Strikes {
    recent: std::collections::VecDeque<Instant>,
    cooled_until: Option<Instant>,
    /// The cool-downs in a row (each within [`FORGIVEN_AFTER`] of the last one's end).
    cooldowns: u32,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// How many hosts serve the store now (they share it: see `hosts.rs`). A realm's request
/// rate and burst are the realm's over all hosts; each host admits its share, which holds
/// the realm to its limits when a balancer spreads its requests evenly.
#[derive(Debug)]
pub struct HostCount(AtomicUsize);

impl Default for HostCount {
    fn default() -> Self {
        HostCount(AtomicUsize::new(1))
    }
}

impl HostCount {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed).max(1)
    }

    pub fn set(&self, hosts: usize) {
        self.0.store(hosts.max(1), Ordering::Relaxed);
    }
}

/// The admission state of one realm, shared by every version of its tenant.
pub struct RealmLimiter {
    rate: Option<(f64, f64)>,
    bucket: Mutex<Bucket>,
    calls: Option<(u32, Arc<Semaphore>)>,
    strikes: Mutex<Strikes>,
    hosts: Arc<HostCount>,
}

impl RealmLimiter {
    /// A limiter for these limits (unlimited where they set nothing), on one host.
    pub fn new(limits: &Limits) -> Self {
        Self::shared(limits, Arc::default())
    }

    /// A limiter whose rate and burst are shared among `hosts`.
    pub fn shared(limits: &Limits, hosts: Arc<HostCount>) -> Self {
        let rate = limits.requests_per_second.map(|per_second| {
            let burst = limits.burst.map(f64::from).unwrap_or(per_second.ceil()).max(1.0);
            (per_second, burst)
        });
        let full = rate.map(|(_, burst)| burst).unwrap_or(0.0);
        RealmLimiter {
            rate,
            bucket: Mutex::new(Bucket { tokens: full, refilled: Instant::now() }),
            calls: limits.concurrent_calls.map(|n| (n, Arc::new(Semaphore::new(n as usize)))),
            strikes: Mutex::default(),
            hosts,
        }
    }

    /// Counts a call that ran into its deadline or memory cap; returns the cool-down it
    /// started, if it did.
    pub fn strike(&self) -> Option<Duration> {
        let mut strikes = self.strikes.lock().expect("strikes");
        let now = Instant::now();
        strikes.recent.retain(|at| now.duration_since(*at) < STRIKE_WINDOW);
        strikes.recent.push_back(now);
        if strikes.recent.len() < STRIKES || strikes.cooled_until.is_some_and(|until| now < until) {
            return None;
        }
        let forgiven = strikes.cooled_until.is_none_or(|until| now.duration_since(until) > FORGIVEN_AFTER);
        strikes.cooldowns = if forgiven { 1 } else { strikes.cooldowns + 1 };
        let cooldown = FIRST_COOLDOWN.saturating_mul(1 << (strikes.cooldowns - 1).min(16)).min(MAX_COOLDOWN);
        strikes.cooled_until = Some(now + cooldown);
        strikes.recent.clear();
        Some(cooldown)
    }

    /// Whether the realm is cooling down now: its calls still running are cut.
    pub fn cooling(&self) -> bool {
        self.strikes.lock().expect("strikes").cooled_until.is_some_and(|until| Instant::now() < until)
    }

    /// Ends a cool-down and forgets past failures (the operator changed the module).
    pub fn forgive(&self) {
        *self.strikes.lock().expect("strikes") = Strikes::default();
    }

    /// Admits one request, or says why not. The permit (when there is a concurrency
    /// limit) is held until the call ends.
    pub fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
        if let Some(until) = self.strikes.lock().expect("strikes").cooled_until {
            let left = until.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                return Err(Refusal::CoolingDown(left));
            }
        }
        if let Some((per_second, burst)) = self.rate {
            // This host's share.
            let hosts = self.hosts.get() as f64;
            let (per_second, burst) = (per_second / hosts, (burst / hosts).max(1.0));
            let mut bucket = self.bucket.lock().expect("rate bucket");
            let now = Instant::now();
            let earned = now.duration_since(bucket.refilled).as_secs_f64() * per_second;
            bucket.tokens = (bucket.tokens + earned).min(burst);
            bucket.refilled = now;
            if bucket.tokens < 1.0 {
                let wait = (1.0 - bucket.tokens) / per_second;
                return Err(Refusal::Rate(Duration::from_secs_f64(wait)));
            }
            bucket.tokens -= 1.0;
        }
        match &self.calls {
            None => Ok(None),
            Some((limit, calls)) => {
                calls.clone().try_acquire_owned().map(Some).map_err(|_| Refusal::Concurrency(*limit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: Option<f64>, burst: Option<u32>, calls: Option<u32>) -> Limits {
        Limits { requests_per_second: rate, burst, concurrent_calls: calls, ..Limits::default() }
    }

    #[test]
    fn a_burst_is_admitted_then_the_rate_holds() {
        let limiter = RealmLimiter::new(&limits(Some(2.0), Some(3), None));
        for _ in 0..3 {
            assert!(limiter.admit().is_ok());
        }
        match limiter.admit() {
            Err(Refusal::Rate(wait)) => assert!(wait <= Duration::from_millis(500), "{wait:?}"),
            other => panic!("expected a rate refusal, got {other:?}"),
        }
    }

    #[test]
    fn concurrent_calls_beyond_the_cap_are_refused_until_one_ends() {
        let limiter = RealmLimiter::new(&limits(None, None, Some(1)));
        let first = limiter.admit().unwrap();
        assert_eq!(limiter.admit().unwrap_err(), Refusal::Concurrency(1));
        drop(first);
        assert!(limiter.admit().is_ok());
    }

    #[test]
    fn repeated_deadlines_cool_the_realm_down_for_longer_each_time_until_forgiven() {
        let limiter = RealmLimiter::new(&limits(None, None, None));
        for _ in 1..STRIKES {
            assert_eq!(limiter.strike(), None);
        }
        assert_eq!(limiter.strike(), Some(FIRST_COOLDOWN));
        match limiter.admit() {
            Err(Refusal::CoolingDown(left)) => assert!(left <= FIRST_COOLDOWN && left > Duration::ZERO),
            other => panic!("expected a cool-down, got {other:?}"),
        }
        // Calls in flight when it began end during it: they start nothing more.
        assert_eq!(limiter.strike(), None);
        // The next cool-down, right after this one, lasts twice as long.
        limiter.strikes.lock().unwrap().cooled_until = Some(Instant::now());
        let next = (0..STRIKES).filter_map(|_| limiter.strike()).collect::<Vec<_>>();
        assert_eq!(next, [FIRST_COOLDOWN * 2]);
        limiter.forgive();
        assert!(limiter.admit().is_ok(), "a new module starts afresh");
    }

    #[test]
    fn each_of_several_hosts_admits_its_share_of_the_rate() {
        let hosts = Arc::new(HostCount::default());
        let limiter = RealmLimiter::shared(&limits(Some(4.0), Some(8), None), hosts.clone());
        hosts.set(2);
        let admitted = (0..20).filter(|_| limiter.admit().is_ok()).count();
        assert_eq!(admitted, 4, "half the burst of 8");
        hosts.set(1);
        std::thread::sleep(Duration::from_millis(600));
        // Alone again: the whole rate (4/s: at least two tokens in 0.6 s; its share, one).
        let admitted = (0..20).filter(|_| limiter.admit().is_ok()).count();
        assert!(admitted >= 2, "{admitted}");
    }

    #[test]
    fn no_limits_admit_everything() {
        let limiter = RealmLimiter::new(&limits(None, None, None));
        for _ in 0..1000 {
            assert!(limiter.admit().unwrap().is_none());
        }
    }

    #[test]
    fn every_realm_has_a_fair_share_unless_the_operator_lifts_it() {
        let defaults = Limits::default();
        assert!(defaults.concurrent_calls.is_some_and(|n| n < 64), "below the server's 64 calls");
        let limiter = RealmLimiter::new(&defaults);
        let held: Vec<_> = (0..defaults.concurrent_calls.unwrap()).map(|_| limiter.admit().unwrap()).collect();
        assert!(matches!(limiter.admit(), Err(Refusal::Concurrency(_))));
        drop(held);
        let burst = defaults.burst.unwrap() as usize;
        let admitted = (0..burst + 10).filter(|_| limiter.admit().is_ok()).count();
        assert!(admitted <= burst + 1, "{admitted} admitted at once");
    }
}
