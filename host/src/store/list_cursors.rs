//! Where each page of a list query ended, so that the next page starts from that list
//! place (an index seek) instead of skipping `startIndex` rows: an identity provider's
//! import reads a list in order, and each of its pages then costs O(log n).

use super::sql_filter::{Kind, Param};
use std::collections::HashMap;
use std::sync::Mutex;

/// The most list queries whose last page is remembered (beyond, the table starts over).
const MAX_CURSORS: usize = 4096;

/// The last list place of a page a list query returned, kept under the query and the
/// offset after the page (clients paging at once through the same list each find theirs).
/// Keyed by a digest of the query: a filter of any length costs the table 32 bytes.
#[derive(Default)]
pub struct ListCursors(Mutex<HashMap<([u8; 32], u32), i64>>);

/// A list query, as the cursors know it.
pub type QueryKey = [u8; 32];

impl ListCursors {
    /// The key of a query in the default order: its kind, its SQL condition and the values bound.
    pub fn key(kind: Kind, condition: &str, params: &[Param]) -> QueryKey {
        use sha2::Digest as _;
        sha2::Sha256::digest(format!("{kind:?}|{condition}|{params:?}")).into()
    }

    /// The list place after which the page at `offset` of the query starts, if known.
    pub fn place_before(&self, key: QueryKey, offset: u32) -> Option<i64> {
        self.0.lock().expect("cursors").get(&(key, offset)).copied()
    }

    /// Remembers that the page ending before `next_offset` ended at list place `last`.
    pub fn remember(&self, key: QueryKey, next_offset: u32, last: i64) {
        let mut cursors = self.0.lock().expect("cursors");
        if cursors.len() >= MAX_CURSORS {
            cursors.clear();
        }
        cursors.insert((key, next_offset), last);
    }

    /// Forgets every place (tests read a page as a client with no cursor would).
    #[cfg(test)]
    pub fn clear(&self) {
        self.0.lock().expect("cursors").clear();
    }

    /// The offsets remembered, in order.
    #[cfg(test)]
    pub fn ends(&self) -> Vec<u32> {
        let mut ends: Vec<u32> = self.0.lock().expect("cursors").keys().map(|(_, end)| *end).collect();
        ends.sort();
        ends
    }
}
