//! Whether an upsert (a POST of a user or a group, a PUT of a user) runs first as a read.
//!
//! Run as a read, an upsert that changes nothing never waits for the one writer; one that
//! changes something stops at its first write and runs again as a write, paying its
//! reading part (an instance, the body's parse, the lookups) twice. Which kind a realm's
//! upserts are depends on what its identity provider is doing: a first provisioning
//! creates every user, a re-sync mostly repeats them. So each kind of upsert keeps the
//! share of its recent runs as reads that had to write: while most did, the next ones go
//! straight to the writer, and one in [`SAMPLE`] still runs as a read to tell when that
//! changes. Either way the answer is the same; only the path to it differs.

use std::sync::atomic::{AtomicU32, Ordering};

/// While the realm's upserts write, one in this many still runs first as a read.
pub const SAMPLE: u32 = 8;

/// Per mille of recent runs as reads that wrote, above which upserts go to the writer.
const WRITE_FIRST_ABOVE: u32 = 500;

/// How far one run moves the share: it follows the last ~`WEIGHT` runs as reads.
const WEIGHT: u32 = 8;

/// The kinds of upsert, learned apart: a re-sync POSTs new users and PUTs known ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upsert {
    PostUser,
    PostGroup,
    PutUser,
}

/// A realm's upserts, by kind.
#[derive(Debug, Default)]
pub struct UpsertPlans {
    kinds: [Learned; 3],
}

#[derive(Debug, Default)]
struct Learned {
    /// Per mille of recent runs as reads that wrote.
    wrote: AtomicU32,
    /// Upserts planned while writing, to pick the samples.
    planned: AtomicU32,
}

impl UpsertPlans {
    /// Whether the next upsert of this kind runs first as a read.
    pub fn read_first(&self, upsert: Upsert) -> bool {
        let learned = &self.kinds[upsert as usize];
        learned.wrote.load(Ordering::Relaxed) <= WRITE_FIRST_ABOVE
            || learned.planned.fetch_add(1, Ordering::Relaxed).is_multiple_of(SAMPLE)
    }

    /// What a run as a read showed: whether the upsert had to write.
    pub fn ran_as_read(&self, upsert: Upsert, wrote: bool) {
        let target = if wrote { 1000 } else { 0 };
        // Lossy under races (two updates at once keep one), which only slows the learning.
        let share = &self.kinds[upsert as usize].wrote;
        let old = share.load(Ordering::Relaxed);
        share.store(old - old / WEIGHT + target / WEIGHT, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads_in(plans: &UpsertPlans, upsert: Upsert, n: u32) -> u32 {
        (0..n).filter(|_| plans.read_first(upsert)).count() as u32
    }

    #[test]
    fn upserts_that_write_go_to_the_writer_but_one_in_sample_still_reads() {
        let plans = UpsertPlans::default();
        assert_eq!(reads_in(&plans, Upsert::PostUser, 100), 100, "reads first until it learns otherwise");
        for _ in 0..8 {
            plans.ran_as_read(Upsert::PostUser, true);
        }
        assert_eq!(reads_in(&plans, Upsert::PostUser, 8 * SAMPLE), 8);
        assert_eq!(reads_in(&plans, Upsert::PutUser, 10), 10, "each kind learns apart");
    }

    #[test]
    fn a_few_runs_that_did_not_write_bring_reads_first_back() {
        let plans = UpsertPlans::default();
        for _ in 0..50 {
            plans.ran_as_read(Upsert::PostGroup, true);
        }
        assert_eq!(reads_in(&plans, Upsert::PostGroup, SAMPLE), 1);
        let mut runs = 0;
        while !(0..SAMPLE).all(|_| plans.read_first(Upsert::PostGroup)) {
            plans.ran_as_read(Upsert::PostGroup, false);
            runs += 1;
        }
        assert!((5..=8).contains(&runs), "{runs} runs");
    }
}
