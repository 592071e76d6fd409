//! Caps on open admin event streams (SSE), per realm and in all: each holds a connection
//! and polls the store for as long as its client keeps it open, so their number is bounded
//! by construction rather than by the clients' good manners.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open event streams of one realm at most.
pub const PER_REALM: usize = 8;
/// Open event streams of the server at most.
pub const TOTAL: usize = 256;

/// The streams open now, by realm.
#[derive(Default)]
pub struct StreamSlots {
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream; its slot is free again when it is dropped (the client went away or
/// the server stops).
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    realm: String,
}

impl StreamSlots {
    /// A slot for one more stream of the realm, unless either cap is reached.
    pub fn take(self: &Arc<Self>, realm: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().expect("stream slots");
        let total: usize = open.values().sum();
        let of_realm = open.get(realm).copied().unwrap_or(0);
        if total >= TOTAL || of_realm >= PER_REALM {
            return None;
        }
        open.insert(realm.to_string(), of_realm + 1);
        Some(StreamSlot { slots: self.clone(), realm: realm.to_string() })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("stream slots");
        if let Some(n) = open.get_mut(&self.realm) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.realm);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_beyond_a_realms_cap_are_refused_until_one_closes() {
        let slots = Arc::new(StreamSlots::default());
        let held: Vec<_> = (0..PER_REALM).map(|_| slots.take("a").unwrap()).collect();
        assert!(slots.take("a").is_none());
        assert!(slots.take("b").is_some(), "another realm has its own share");
        drop(held);
        assert!(slots.take("a").is_some());
        assert!(slots.open.lock().unwrap().is_empty(), "closed streams leave nothing behind");
    }

    #[test]
    fn the_server_wide_cap_holds_across_realms() {
        let slots = Arc::new(StreamSlots::default());
        let held: Vec<_> = (0..TOTAL).map(|i| slots.take(&format!("r{}", i / PER_REALM)).unwrap()).collect();
        assert!(slots.take("new").is_none());
        drop(held);
    }
}
