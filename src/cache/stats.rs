//! What the cache did, counted per process, and where one answer came from.

use std::sync::atomic::{AtomicU64, Ordering};

/// Where a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Fresh in this process's memory.
    L1,
    /// Fresh in Redis.
    Redis,
    /// Read from the store.
    Store,
    /// The store failed; this is the last known copy.
    Stale,
}

/// Counters of what the cache did, per process.
#[derive(Debug, Default)]
pub struct Stats {
    /// Fresh L1 hits.
    pub l1_hits: AtomicU64,
    /// Fresh Redis hits.
    pub redis_hits: AtomicU64,
    /// Answers read from the store.
    pub misses: AtomicU64,
    /// Stale copies served because the store failed.
    pub stale: AtomicU64,
    /// Queries sent to the store.
    pub store_queries: AtomicU64,
    /// Store queries that failed.
    pub store_errors: AtomicU64,
    /// Redis calls that failed or timed out.
    pub redis_errors: AtomicU64,
    /// Redis calls skipped because the breaker was open.
    pub redis_skipped: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Stats::l1_hits`].
    pub l1_hits: u64,
    /// See [`Stats::redis_hits`].
    pub redis_hits: u64,
    /// See [`Stats::misses`].
    pub misses: u64,
    /// See [`Stats::stale`].
    pub stale: u64,
    /// See [`Stats::store_queries`].
    pub store_queries: u64,
    /// See [`Stats::store_errors`].
    pub store_errors: u64,
    /// See [`Stats::redis_errors`].
    pub redis_errors: u64,
    /// See [`Stats::redis_skipped`].
    pub redis_skipped: u64,
}

impl Stats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            l1_hits: get(&self.l1_hits),
            redis_hits: get(&self.redis_hits),
            misses: get(&self.misses),
            stale: get(&self.stale),
            store_queries: get(&self.store_queries),
            store_errors: get(&self.store_errors),
            redis_errors: get(&self.redis_errors),
            redis_skipped: get(&self.redis_skipped),
        }
    }
}

/// One more on a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
