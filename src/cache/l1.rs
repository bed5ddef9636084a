//! L1: this process's memory, bounded by bytes (moka), invalidated by
//! product generation.
//!
//! Each product hashes to a slot of a fixed table of counters; an
//! invalidation bumps the slot, and an entry counts only while its slot
//! still has the generation the entry was read under. A hit costs one
//! atomic load; a write costs one atomic add (a collision only drops a few
//! extra entries).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::entry::Entry;
use super::key::CacheKey;
use crate::hash::{fold, mix};

/// Slots of the product generation table (a power of two).
const GENERATION_SLOTS: usize = 1 << 16;

/// An entry with the generation of its product's slot when it was read.
#[derive(Clone)]
struct Value {
    entry: Arc<Entry>,
    generation: u64,
}

/// A fast hasher for L1 keys (a few integers): one multiply per word,
/// finished with a full mix. L1 keys are not attacker-chosen beyond ids the
/// edge validated, and moka shards by the hash, so quality suffices.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

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

/// The in-process tier. With a budget of 0 it holds nothing, but product
/// generations still count (fills check them either way).
pub struct L1 {
    entries: Option<moka::sync::Cache<CacheKey, Value, KeyHash>>,
    generations: Box<[AtomicU64]>,
}

impl L1 {
    /// A tier of at most `bytes` of entries, each kept `keep` at most.
    pub fn new(bytes: u64, keep: Duration) -> L1 {
        let entries = (bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(bytes)
                .weigher(|_: &CacheKey, v: &Value| v.entry.weight())
                .time_to_live(keep)
                .build_with_hasher(KeyHash::default())
        });
        L1 {
            entries,
            generations: (0..GENERATION_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The generation `product_id`'s entries are current under now.
    pub fn generation(&self, product_id: u64) -> u64 {
        self.slot(product_id).load(Ordering::SeqCst)
    }

    /// The entry for `key` unless its product was invalidated since it was
    /// stored (fresh or not).
    pub fn current(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let value = self.entries.as_ref()?.get(key)?;
        (value.generation == self.generation(key.product_id)).then_some(value.entry)
    }

    /// Stores `entry` unless its product was invalidated since the reader
    /// saw `generation`.
    pub fn fill(&self, key: CacheKey, entry: &Arc<Entry>, generation: u64) {
        if let Some(entries) = &self.entries
            && self.generation(key.product_id) == generation
        {
            let entry = Arc::clone(entry);
            entries.insert(key, Value { entry, generation });
        }
    }

    /// Makes every entry of `product_id` unreachable.
    pub fn invalidate(&self, product_id: u64) {
        self.slot(product_id).fetch_add(1, Ordering::SeqCst);
    }

    /// Makes every entry unreachable and frees them.
    pub fn invalidate_all(&self) {
        for slot in self.generations.iter() {
            slot.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }

    fn slot(&self, product_id: u64) -> &AtomicU64 {
        &self.generations[mix(product_id) as usize & (GENERATION_SLOTS - 1)]
    }
}
