//! What version of each product this process knows to be current.
//!
//! Every write advances its product's version in the store (see
//! [`crate::store::Versioned`]); a cached copy carries the version it was
//! rendered at and is served only while that is at least the version of
//! the latest write this process knows of for its product. So a copy that
//! predates a known write is unreachable wherever it is — in L1, in a Redis
//! restored from a snapshot, or arriving from a late fill — rather than
//! something a delete must catch in time. Versions are compared only
//! within a product: on MongoDB each product counts its own.
//!
//! A process learns of writes from its own (at once) and from the store's
//! change log (within a poll). It knows nothing of writes before it
//! started, so it trusts no copy rendered before its first look at the log
//! (the floor, a time: copies carry when their store read began); until
//! that look succeeds it trusts none.
//!
//! The known versions are kept per product, exactly, in shards under their
//! own locks. A read first checks a table of marks — how many products
//! with a known write fall in its slot — so reading a product no write has
//! touched (nearly every read) takes two atomic loads and no lock. A known
//! version is kept for [`Versions::new`]'s `keep` after it was learned: long
//! enough that every copy rendered before the write has stopped being fresh
//! (the longest TTL plus a margin for clocks); then it is forgotten, so the
//! table holds about one TTL's worth of written products.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::coarse_now_ms;
use crate::hash::mix;

/// Slots of the mark table (a power of two).
const SLOTS: usize = 1 << 16;
/// Shards of the known versions (a power of two).
const SHARDS: usize = 64;
/// A shard is first swept of forgotten versions at this many products.
const SWEEP_FIRST: usize = 256;

/// What a copy must have to be served as fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Required {
    /// The least version of the product.
    pub version: u64,
    /// The earliest time (unix ms) its store read may have begun.
    pub since_ms: u64,
}

/// The versions a copy must have reached to be served.
pub struct Versions {
    marks: Box<[AtomicU32]>,
    shards: Box<[Mutex<Shard>]>,
    /// Copies rendered before this (unix ms) are never served as fresh.
    floor: AtomicU64,
    /// How long a known version is kept after it was learned (ms).
    keep_ms: u64,
}

/// Known versions of the products of one shard.
#[derive(Default)]
struct Shard {
    /// Product → (version, when it was learned, unix ms).
    known: HashMap<u64, (u64, u64)>,
    /// Sweep forgotten versions once the shard holds this many.
    sweep_at: usize,
}

impl Versions {
    /// Known versions kept for `keep` after they are learned.
    pub fn new(keep: Duration) -> Versions {
        Versions {
            marks: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        known: HashMap::new(),
                        sweep_at: SWEEP_FIRST,
                    })
                })
                .collect(),
            floor: AtomicU64::new(u64::MAX),
            keep_ms: keep.as_millis() as u64,
        }
    }

    /// What a copy of `product_id` must have to be served.
    pub fn required(&self, product_id: u64) -> Required {
        let since_ms = self.floor.load(Ordering::Acquire);
        let hash = mix(product_id);
        let version = if self.marks[hash as usize & (SLOTS - 1)].load(Ordering::Acquire) == 0 {
            0
        } else {
            let shard = self.shard(hash).lock().expect("versions lock");
            shard.known.get(&product_id).map_or(0, |&(v, _)| v)
        };
        Required { version, since_ms }
    }

    /// A write to `product_id` at `version` is known: older copies go.
    pub fn written(&self, product_id: u64, version: u64) {
        let hash = mix(product_id);
        let now = coarse_now_ms();
        let mut shard = self.shard(hash).lock().expect("versions lock");
        match shard.known.get_mut(&product_id) {
            Some(known) => *known = (known.0.max(version), now),
            None => {
                shard.known.insert(product_id, (version, now));
                // Under the shard's lock, so a read that sees the mark finds
                // the version.
                self.marks[hash as usize & (SLOTS - 1)].fetch_add(1, Ordering::AcqRel);
            }
        }
        if shard.known.len() >= shard.sweep_at {
            self.sweep(&mut shard, now);
        }
    }

    /// Every product may have been written before `now_ms` (the change log
    /// no longer reaches back far enough): no copy rendered before goes on.
    pub fn all_written(&self, now_ms: u64) {
        let floor = &self.floor;
        let mut current = floor.load(Ordering::Acquire);
        while current == u64::MAX || current < now_ms {
            match floor.compare_exchange(current, now_ms, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// The first look at the log began at `now_ms`: copies rendered from
    /// then on are trusted (before it, none is).
    pub fn start_at(&self, now_ms: u64) {
        self.all_written(now_ms);
    }

    /// Forgets versions learned more than `keep` ago; the next sweep comes
    /// when the shard has doubled from what is left, so sweeping costs a
    /// constant per write.
    fn sweep(&self, shard: &mut Shard, now: u64) {
        let keep = self.keep_ms;
        let marks = &self.marks;
        shard.known.retain(|&product_id, &mut (_, learned)| {
            let kept = now.saturating_sub(learned) < keep;
            if !kept {
                marks[mix(product_id) as usize & (SLOTS - 1)].fetch_sub(1, Ordering::AcqRel);
            }
            kept
        });
        shard.sweep_at = (shard.known.len() * 2).max(SWEEP_FIRST);
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        // The high bits: the low ones pick the mark.
        &self.shards[(hash >> 58) as usize & (SHARDS - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Versions {
        /// Products whose version is remembered now.
        fn known(&self) -> usize {
            self.shards
                .iter()
                .map(|s| s.lock().expect("versions lock").known.len())
                .sum()
        }
    }

    #[test]
    fn nothing_is_trusted_before_the_first_look_then_writes_raise_the_bar() {
        let v = Versions::new(Duration::from_secs(60));
        assert_eq!(
            v.required(7).since_ms,
            u64::MAX,
            "no copy is trusted before the start"
        );
        v.start_at(10);
        assert_eq!(
            v.required(7),
            Required {
                version: 0,
                since_ms: 10
            }
        );
        v.written(7, 15);
        v.written(7, 12);
        assert_eq!(v.required(7).version, 15, "versions only rise");
        assert_eq!(v.required(8).version, 0, "each product its own");
        v.all_written(20);
        assert_eq!(v.required(8).since_ms, 20);
        v.all_written(5);
        assert_eq!(v.required(8).since_ms, 20, "the floor only rises");
    }

    #[test]
    fn products_sharing_a_slot_keep_their_own_versions() {
        let v = Versions::new(Duration::from_secs(60));
        // Products whose marks share a slot with product 1.
        let slot = mix(1) as usize & (SLOTS - 1);
        let mates: Vec<u64> = (2..)
            .filter(|&p| mix(p) as usize & (SLOTS - 1) == slot)
            .take(2)
            .collect();
        v.written(1, 1_000_000);
        assert_eq!(v.required(mates[0]).version, 0);
        v.written(mates[0], 3);
        assert_eq!(v.required(mates[0]).version, 3);
        assert_eq!(v.required(mates[1]).version, 0);
        assert_eq!(v.required(1).version, 1_000_000);
    }

    #[test]
    fn versions_are_forgotten_after_keep_and_the_table_stays_bounded() {
        let v = Versions::new(Duration::ZERO);
        for p in 0..100_000 {
            v.written(p, p + 1);
        }
        // With nothing kept, every sweep empties its shard.
        assert!(v.known() <= SHARDS * SWEEP_FIRST, "{} known", v.known());
        let kept = Versions::new(Duration::from_secs(3600));
        for p in 0..10_000 {
            kept.written(p, p + 1);
        }
        assert_eq!(kept.known(), 10_000);
        assert_eq!(kept.required(9_999).version, 10_000);
        // Marks drop as versions are forgotten: a forgotten product reads as
        // unwritten again without a lock.
        let marked: u32 = v.marks.iter().map(|m| m.load(Ordering::Relaxed)).sum();
        assert_eq!(marked as usize, v.known());
    }
}
