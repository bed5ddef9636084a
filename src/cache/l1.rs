//! L1: this process's memory, bounded by bytes (moka). Whether an entry may
//! be served is decided by its version (see [`super::versions`]), not by
//! deleting it: a write makes older entries unreachable at once.

use std::sync::Arc;
use std::time::Duration;

use super::entry::Entry;
use super::key::CacheKey;
use crate::hash::{fold, mix};

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

/// The in-process tier; with a budget of 0 it holds nothing.
pub struct L1 {
    entries: Option<moka::sync::Cache<CacheKey, Arc<Entry>, KeyHash>>,
}

impl L1 {
    /// A tier of at most `bytes` of entries, each kept `keep` at most.
    pub fn new(bytes: u64, keep: Duration) -> L1 {
        let entries = (bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(bytes)
                .weigher(|_: &CacheKey, entry: &Arc<Entry>| entry.weight())
                .time_to_live(keep)
                .build_with_hasher(KeyHash::default())
        });
        L1 { entries }
    }

    /// The entry for `key`, whatever its version and freshness.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.entries.as_ref()?.get(key)
    }

    /// Stores `entry` for `key`, unless a newer one is there already.
    pub fn fill(&self, key: CacheKey, entry: &Arc<Entry>) {
        if let Some(entries) = &self.entries
            && entries
                .get(&key)
                .is_none_or(|old| old.version <= entry.version)
        {
            entries.insert(key, Arc::clone(entry));
        }
    }

    /// Frees every entry (they are unreachable by version already).
    pub fn clear(&self) {
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }
}
