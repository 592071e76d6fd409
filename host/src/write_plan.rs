//! Whether a call begins as a write, learned per realm from the calls before it.
//!
//! Every call can begin as a read: it reads a snapshot beside the writer and becomes a
//! write at its first write (see the store). That is best for what an identity provider
//! repeats unchanged on every re-sync, which then never waits for the one writer. A call
//! that does write pays for having begun as a read: it took no write turn, and when a
//! write came between its snapshot and its first write, it runs again. So each kind of
//! request keeps the share of its recent runs as reads that wrote: while most did, the
//! next ones begin as writes, and one in [`SAMPLE`] still begins as a read to tell when
//! that changes. Either way the answer is the same; only the path to it differs.
//!
//! Where writes run in parallel (PostgreSQL) a call begun as a read writes beside the
//! realm's other writes, and what it may pay for is meeting one of them on the same rows:
//! it then runs again, alone among the realm's writers. There the share learned is of
//! runs that met another write, and a call begun as a write runs alone from the start:
//! calls that all change one group queue once instead of each running twice.
//!
//! A kind of request is its method and the shape of its path (first segment and number
//! of segments), hashed into a table of fixed size: the host reads no meaning into a path,
//! and no client can grow the table.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};

/// While a kind of request writes, one in this many still begins as a read.
pub const SAMPLE: u32 = 8;

/// Per mille of recent runs as reads that would better have begun as writes, above which
/// calls begin as writes.
const WRITE_FIRST_ABOVE: u32 = 500;

/// How far one run moves the share: it follows the last ~`WEIGHT` runs as reads.
const WEIGHT: u32 = 8;

/// Kinds of request told apart (a realm's API has a dozen; collisions only share learning).
const KINDS: usize = 64;

/// A kind of request: its index in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind(usize);

impl Kind {
    /// The kind of a request with this method and path below the SCIM base.
    pub fn of(method: &str, path: &str) -> Kind {
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let mut hasher = std::hash::DefaultHasher::new();
        (method, segments.next(), segments.count()).hash(&mut hasher);
        Kind(hasher.finish() as usize % KINDS)
    }
}

/// A realm's kinds of request, and whether each writes.
#[derive(Debug)]
pub struct WritePlans {
    kinds: [Learned; KINDS],
}

impl Default for WritePlans {
    fn default() -> Self {
        WritePlans { kinds: std::array::from_fn(|_| Learned::default()) }
    }
}

#[derive(Debug, Default)]
struct Learned {
    /// Per mille of recent runs as reads that wrote.
    wrote: AtomicU32,
    /// Calls planned while writing, to pick the samples.
    planned: AtomicU32,
}

impl WritePlans {
    /// Whether the next call of this kind begins as a write.
    pub fn begins_as_write(&self, kind: Kind) -> bool {
        let learned = &self.kinds[kind.0];
        learned.wrote.load(Ordering::Relaxed) > WRITE_FIRST_ABOVE
            && !learned.planned.fetch_add(1, Ordering::Relaxed).is_multiple_of(SAMPLE)
    }

    /// What a call begun as a read showed: whether it would better have begun as a write
    /// (it wrote; or, where writes run in parallel, it met another write).
    pub fn ran_as_read(&self, kind: Kind, better_as_write: bool) {
        let target = if better_as_write { 1000 } else { 0 };
        // Lossy under races (two updates at once keep one), which only slows the learning.
        let share = &self.kinds[kind.0].wrote;
        let old = share.load(Ordering::Relaxed);
        share.store(old - old / WEIGHT + target / WEIGHT, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads_in(plans: &WritePlans, kind: Kind, n: u32) -> u32 {
        (0..n).filter(|_| !plans.begins_as_write(kind)).count() as u32
    }

    #[test]
    fn kinds_that_write_begin_as_writes_but_one_in_sample_still_reads() {
        let plans = WritePlans::default();
        let post = Kind::of("POST", "/Things");
        assert_eq!(reads_in(&plans, post, 100), 100, "reads first until it learns otherwise");
        for _ in 0..8 {
            plans.ran_as_read(post, true);
        }
        assert_eq!(reads_in(&plans, post, 8 * SAMPLE), 8);
        assert_eq!(reads_in(&plans, Kind::of("PUT", "/Things/1"), 10), 10, "each kind learns apart");
    }

    #[test]
    fn a_few_runs_that_did_not_write_bring_reads_first_back() {
        let plans = WritePlans::default();
        let post = Kind::of("POST", "/Widgets");
        for _ in 0..50 {
            plans.ran_as_read(post, true);
        }
        assert_eq!(reads_in(&plans, post, SAMPLE), 1);
        let mut runs = 0;
        while reads_in(&plans, post, SAMPLE) < SAMPLE {
            plans.ran_as_read(post, false);
            runs += 1;
        }
        assert!((5..=8).contains(&runs), "{runs} runs");
    }

    #[test]
    fn a_kind_is_the_method_and_the_shape_of_the_path() {
        assert_eq!(Kind::of("PATCH", "/Things/1"), Kind::of("PATCH", "/Things/2/"));
        assert_eq!(Kind::of("GET", "/Things"), Kind::of("GET", "Things"));
        // Told apart by method, first segment or depth (these happen not to collide).
        let kinds = [Kind::of("GET", "/Things"), Kind::of("GET", "/Things/1"), Kind::of("POST", "/Things")];
        assert!(kinds[0] != kinds[1] && kinds[0] != kinds[2] && kinds[1] != kinds[2], "{kinds:?}");
    }
}
