//! What version of each product this process knows to be current.
//!
//! Every write advances its product's version in the store (see
//! [`crate::store::Versioned`]); a cached copy carries the version it was
//! rendered at and is served only while that is at least the version of
//! the latest write this process knows of for its product. So a copy that
//! predates a known write is unreachable wherever it is — in L1, in a Redis
//! restored from a snapshot, or arriving from a late fill — rather than
//! something a delete must catch in time.
//!
//! A process learns of writes from its own (at once) and from the store's
//! change log (within a poll). It knows nothing of writes before it
//! started, so it trusts no copy rendered before its first look at the log
//! (the floor); until that look succeeds it trusts none.
//!
//! Products share a fixed table of slots holding the highest version
//! written to any product in the slot: a check is two atomic loads, and a
//! collision only makes a copy of a slot-mate look older than it is (an
//! extra store read, never a stale answer).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::hash::mix;

/// Slots of the version table (a power of two).
const SLOTS: usize = 1 << 16;

/// The versions a copy must have reached to be served.
pub struct Versions {
    slots: Box<[AtomicU64]>,
    /// Copies rendered below this are never served as fresh.
    floor: AtomicU64,
}

impl Default for Versions {
    fn default() -> Self {
        Versions {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            floor: AtomicU64::new(u64::MAX),
        }
    }
}

impl Versions {
    /// The least version a copy of `product_id` must have to be served.
    pub fn required(&self, product_id: u64) -> u64 {
        let slot = self.slot(product_id).load(Ordering::Acquire);
        slot.max(self.floor.load(Ordering::Acquire))
    }

    /// A write to `product_id` at `version` is known: older copies go.
    pub fn written(&self, product_id: u64, version: u64) {
        self.slot(product_id).fetch_max(version, Ordering::AcqRel);
    }

    /// Every product may have been written up to `version` (the change log
    /// no longer reaches back far enough): every older copy goes.
    pub fn all_written(&self, version: u64) {
        let floor = &self.floor;
        let mut current = floor.load(Ordering::Acquire);
        while current == u64::MAX || current < version {
            match floor.compare_exchange(current, version, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// The first look at the log: copies rendered from `version` on are
    /// trusted (before it, none is).
    pub fn start_at(&self, version: u64) {
        self.all_written(version);
    }

    fn slot(&self, product_id: u64) -> &AtomicU64 {
        &self.slots[mix(product_id) as usize & (SLOTS - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_trusted_before_the_first_look_then_writes_raise_the_bar() {
        let v = Versions::default();
        assert_eq!(
            v.required(7),
            u64::MAX,
            "no copy is trusted before the start"
        );
        v.start_at(10);
        assert_eq!(v.required(7), 10);
        v.written(7, 15);
        v.written(7, 12);
        assert_eq!(v.required(7), 15, "versions only rise");
        v.all_written(20);
        assert_eq!(v.required(7), 20);
        assert_eq!(v.required(8), 20);
        v.all_written(5);
        assert_eq!(v.required(8), 20, "the floor only rises");
    }
}
