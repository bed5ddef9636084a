//! What the cache did, counted per worker slot, and where one answer came
//! from.
//!
//! The counters are a plain block of atomics ([`Counters`]) so that a block
//! can live in memory shared by every worker process of a port (see
//! [`crate::metrics`]); [`Stats`] is the handle the cache counts through,
//! wherever its block lives.

use std::ops::Deref;
use std::sync::Arc;
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

/// Counters of what the cache did. `repr(C)` and nothing but atomics: all
/// zeroes is a valid start, so a block can sit in shared memory.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Counters {
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
    /// Of those, looks: reads that answer a version of its product this
    /// process had not heard of, and tell the version the store has (at
    /// most 20 a second per product).
    pub unheard_reads: AtomicU64,
    /// Store queries that failed.
    pub store_errors: AtomicU64,
    /// Redis calls that failed or timed out.
    pub redis_errors: AtomicU64,
    /// Redis calls skipped because the breaker was open.
    pub redis_skipped: AtomicU64,
}

impl AsRef<Counters> for Counters {
    fn as_ref(&self) -> &Counters {
        self
    }
}

/// The cache's counters as the cache uses them: dereferences to
/// [`Counters`], kept either by this process alone ([`Stats::default`]) or
/// elsewhere, such as a worker slot's block of shared memory
/// ([`Stats::kept_by`]).
#[derive(Clone)]
pub struct Stats {
    home: Arc<dyn AsRef<Counters> + Send + Sync>,
}

impl Stats {
    /// Counters that `home` keeps.
    pub fn kept_by(home: Arc<dyn AsRef<Counters> + Send + Sync>) -> Stats {
        Stats { home }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::kept_by(Arc::new(Counters::default()))
    }
}

impl Deref for Stats {
    type Target = Counters;

    fn deref(&self) -> &Counters {
        (*self.home).as_ref()
    }
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

/// A copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Counters::l1_hits`].
    pub l1_hits: u64,
    /// See [`Counters::redis_hits`].
    pub redis_hits: u64,
    /// See [`Counters::misses`].
    pub misses: u64,
    /// See [`Counters::stale`].
    pub stale: u64,
    /// See [`Counters::store_queries`].
    pub store_queries: u64,
    /// See [`Counters::unheard_reads`].
    pub unheard_reads: u64,
    /// See [`Counters::store_errors`].
    pub store_errors: u64,
    /// See [`Counters::redis_errors`].
    pub redis_errors: u64,
    /// See [`Counters::redis_skipped`].
    pub redis_skipped: u64,
}

impl Counters {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            l1_hits: get(&self.l1_hits),
            redis_hits: get(&self.redis_hits),
            misses: get(&self.misses),
            stale: get(&self.stale),
            store_queries: get(&self.store_queries),
            unheard_reads: get(&self.unheard_reads),
            store_errors: get(&self.store_errors),
            redis_errors: get(&self.redis_errors),
            redis_skipped: get(&self.redis_skipped),
        }
    }
}

impl std::ops::AddAssign for StatsSnapshot {
    fn add_assign(&mut self, other: StatsSnapshot) {
        self.l1_hits += other.l1_hits;
        self.redis_hits += other.redis_hits;
        self.misses += other.misses;
        self.stale += other.stale;
        self.store_queries += other.store_queries;
        self.unheard_reads += other.unheard_reads;
        self.store_errors += other.store_errors;
        self.redis_errors += other.redis_errors;
        self.redis_skipped += other.redis_skipped;
    }
}

/// One more on a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
