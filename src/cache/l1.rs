//! L1: this process's memory, bounded by bytes. Whether an entry may be
//! served is decided by its version (see [`super::versions`]), not by
//! deleting it: a write makes older entries unreachable at once.
//!
//! A hit is the hot path of the whole service, so the tier is small and
//! plain: up to [`SHARDS`] shards (one per MiB of budget, so a small
//! budget still holds a large page), each a hash map under its own
//! (uncontended) lock, evicting by CLOCK — an entry read since the hand last passed it
//! gets another turn — within its share of the byte budget. A hit takes
//! one lock, one lookup, one reference-count increment and no clock read
//! of its own (the caller passes the time it read once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::entry::Entry;
use super::key::CacheKey;
use crate::hash::{fold, mix};

/// Most independent parts of the tier, each with its own lock and budget.
pub const SHARDS: usize = 16;

/// How many shards a budget of `bytes` is split into: one per MiB, at
/// least one, at most [`SHARDS`].
fn shards_for(bytes: u64) -> usize {
    (bytes >> 20).clamp(1, SHARDS as u64) as usize
}

/// A fast hasher for L1 keys (a few integers, and a search's words): one
/// multiply per word, finished with a full mix, from a seed drawn once per
/// process, so a client cannot prepare searches that pile into one bucket
/// (the words are the one part a client chooses freely, and
/// [`super::variants`] bounds how many a product caches).
#[derive(Clone, Copy)]
struct KeyHasher(u64);

impl Default for KeyHasher {
    fn default() -> Self {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        KeyHasher(*SEED.get_or_init(|| fastrand::u64(..)))
    }
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = fold(self.0, n);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

/// The in-process tier; with a budget of 0 it holds nothing.
pub struct L1 {
    shards: Box<[Mutex<Shard>]>,
    /// How long an entry is kept after it was stored, in milliseconds.
    keep_ms: u64,
}

/// One shard: its entries, and the CLOCK ring that evicts them.
struct Shard {
    /// Where each key's entry sits in `ring`.
    index: HashMap<CacheKey, usize, KeyHash>,
    /// The entries; `None` marks a free place (listed in `free`).
    ring: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Where the CLOCK hand points.
    hand: usize,
    /// Bytes held, and the shard's budget.
    bytes: u64,
    budget: u64,
}

struct Slot {
    key: CacheKey,
    entry: Arc<Entry>,
    weight: u64,
    /// Unix ms after which the entry is dropped.
    expires: u64,
    /// Read since the hand last passed.
    referenced: bool,
}

impl L1 {
    /// A tier of at most `bytes` of entries, each kept `keep` at most.
    pub fn new(bytes: u64, keep: Duration) -> L1 {
        let shards = if bytes == 0 { 0 } else { shards_for(bytes) };
        let budget = bytes / shards.max(1) as u64;
        L1 {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        index: HashMap::default(),
                        ring: Vec::new(),
                        free: Vec::new(),
                        hand: 0,
                        bytes: 0,
                        budget,
                    })
                })
                .collect(),
            keep_ms: keep.as_millis() as u64,
        }
    }

    fn shard(&self, key: &CacheKey) -> Option<&Mutex<Shard>> {
        if self.shards.is_empty() {
            return None;
        }
        use std::hash::BuildHasher;
        let hash = KeyHash::default().hash_one(key);
        Some(&self.shards[(hash >> 32) as usize % self.shards.len()])
    }

    /// The entry for `key` at `now` (unix ms), whatever its version and
    /// freshness, unless it was stored longer ago than the tier keeps one.
    pub fn get(&self, key: &CacheKey, now: u64) -> Option<Arc<Entry>> {
        let mut shard = self.shard(key)?.lock().expect("L1 shard lock");
        let at = *shard.index.get(key)?;
        let slot = shard.ring[at].as_mut().expect("indexed slots are full");
        if now >= slot.expires {
            shard.remove(at);
            return None;
        }
        slot.referenced = true;
        Some(Arc::clone(&slot.entry))
    }

    /// Stores `entry` for `key` at `now`, unless a newer one is there
    /// already; an entry larger than a shard's budget is not kept.
    pub fn fill(&self, key: CacheKey, entry: &Arc<Entry>, now: u64) {
        let Some(shard) = self.shard(&key) else {
            return;
        };
        let mut shard = shard.lock().expect("L1 shard lock");
        if let Some(&at) = shard.index.get(&key) {
            let old = shard.ring[at].as_ref().expect("indexed slots are full");
            if old.entry.version > entry.version {
                return;
            }
            shard.remove(at);
        }
        let weight = u64::from(entry.weight());
        if weight > shard.budget {
            return;
        }
        while shard.bytes + weight > shard.budget {
            shard.evict_one();
        }
        let slot = Slot {
            key: key.clone(),
            entry: Arc::clone(entry),
            weight,
            expires: now.saturating_add(self.keep_ms),
            referenced: false,
        };
        let at = match shard.free.pop() {
            Some(at) => {
                shard.ring[at] = Some(slot);
                at
            }
            None => {
                shard.ring.push(Some(slot));
                shard.ring.len() - 1
            }
        };
        shard.index.insert(key, at);
        shard.bytes += weight;
    }

    /// Frees every entry (they are unreachable by version already).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().expect("L1 shard lock");
            shard.index.clear();
            shard.ring.clear();
            shard.free.clear();
            shard.hand = 0;
            shard.bytes = 0;
        }
    }

    /// Bytes held now, by the entries' weights.
    pub fn bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.lock().expect("L1 shard lock").bytes)
            .sum()
    }
}

impl Shard {
    /// Drops the entry at `at`.
    fn remove(&mut self, at: usize) {
        if let Some(slot) = self.ring[at].take() {
            self.index.remove(&slot.key);
            self.bytes -= slot.weight;
            self.free.push(at);
        }
    }

    /// Moves the hand to the first entry not read since its last pass and
    /// drops it, giving the read ones another turn on the way.
    fn evict_one(&mut self) {
        loop {
            if self.hand >= self.ring.len() {
                self.hand = 0;
            }
            let at = self.hand;
            self.hand += 1;
            match &mut self.ring[at] {
                Some(slot) if slot.referenced => slot.referenced = false,
                Some(_) => return self.remove(at),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(version: u64, size: usize) -> Arc<Entry> {
        Arc::new(Entry::new(
            true,
            Bytes::from(vec![b'x'; size]),
            0,
            version,
            0,
        ))
    }

    fn key(product_id: u64) -> CacheKey {
        CacheKey::meta(product_id)
    }

    #[test]
    fn entries_are_kept_within_the_budget_and_read_ones_survive() {
        let size = 60_000;
        let one = u64::from(entry(1, size).weight());
        // 16 MiB: 16 shards with room for 17 entries each.
        let budget = 16 << 20;
        let per_shard = (budget / SHARDS as u64 / one) as usize;
        let l1 = L1::new(budget, Duration::from_secs(60));
        for id in 0..2_000 {
            l1.fill(key(id), &entry(1, size), 0);
            // The first product is read all along: CLOCK keeps it.
            assert!(l1.get(&key(0), 0).is_some(), "lost at {id}");
        }
        assert!(l1.bytes() <= budget);
        let kept = (0..2_000)
            .filter(|&id| l1.get(&key(id), 0).is_some())
            .count();
        assert!((SHARDS..=per_shard * SHARDS).contains(&kept), "{kept} kept");
    }

    #[test]
    fn a_small_budget_is_one_shard_that_holds_a_large_page() {
        assert_eq!(shards_for(1), 1);
        assert_eq!(shards_for(3 << 20), 3);
        assert_eq!(shards_for(64 << 20), SHARDS);
        let l1 = L1::new(1 << 20, Duration::from_secs(60));
        l1.fill(key(1), &entry(1, 200_000), 0);
        assert!(l1.get(&key(1), 0).is_some());
    }

    #[test]
    fn newer_versions_win_and_old_entries_expire() {
        let l1 = L1::new(1 << 20, Duration::from_millis(1_000));
        l1.fill(key(1), &entry(5, 10), 0);
        l1.fill(key(1), &entry(4, 10), 0);
        assert_eq!(l1.get(&key(1), 10).unwrap().version, 5);
        l1.fill(key(1), &entry(6, 10), 10);
        assert_eq!(l1.get(&key(1), 10).unwrap().version, 6);
        assert!(l1.get(&key(1), 1_009).is_some());
        assert!(l1.get(&key(1), 1_010).is_none());
        assert_eq!(l1.bytes(), 0);
        l1.fill(key(2), &entry(1, 10), 0);
        l1.clear();
        assert!(l1.get(&key(2), 0).is_none());
    }

    #[test]
    fn a_zero_budget_holds_nothing_and_a_huge_entry_is_not_kept() {
        let off = L1::new(0, Duration::from_secs(60));
        off.fill(key(1), &entry(1, 10), 0);
        assert!(off.get(&key(1), 0).is_none());
        let small = L1::new(1_000, Duration::from_secs(60));
        small.fill(key(1), &entry(1, 5_000), 0);
        assert!(small.get(&key(1), 0).is_none());
        assert_eq!(small.bytes(), 0);
    }
}
