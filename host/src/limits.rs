//! Per-realm admission: a request rate (token bucket) and a cap on concurrent guest calls.
//! A realm over either is refused at once, before it takes an instance slot or a store
//! connection, so its load costs no other realm anything.
//!
//! The token bucket is a dozen lines over a std Mutex (held for a few nanoseconds, never
//! across an await); a rate-limiting crate would bring more than it saves here.

use crate::config::Limits;
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
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// The admission state of one realm, shared by every version of its tenant.
pub struct RealmLimiter {
    rate: Option<(f64, f64)>,
    bucket: Mutex<Bucket>,
    calls: Option<(u32, Arc<Semaphore>)>,
}

impl RealmLimiter {
    /// A limiter for these limits (unlimited where they set nothing).
    pub fn new(limits: &Limits) -> Self {
        let rate = limits.requests_per_second.map(|per_second| {
            let burst = limits.burst.map(f64::from).unwrap_or(per_second.ceil()).max(1.0);
            (per_second, burst)
        });
        let full = rate.map(|(_, burst)| burst).unwrap_or(0.0);
        RealmLimiter {
            rate,
            bucket: Mutex::new(Bucket { tokens: full, refilled: Instant::now() }),
            calls: limits.concurrent_calls.map(|n| (n, Arc::new(Semaphore::new(n as usize)))),
        }
    }

    /// Admits one request, or says why not. The permit (when there is a concurrency
    /// limit) is held until the call ends.
    pub fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
        if let Some((per_second, burst)) = self.rate {
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
    fn no_limits_admit_everything() {
        let limiter = RealmLimiter::new(&Limits::default());
        for _ in 0..1000 {
            assert!(limiter.admit().unwrap().is_none());
        }
    }
}
