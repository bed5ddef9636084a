//! The read-through cache of SPEC §5: L1 (in-process, bounded by bytes) →
//! L2 (Redis) → store, holding exact response bodies.
//!
//! - A fresh L1 entry is served at once (`HIT-L1`).
//! - Otherwise one task per key and process goes further (single-flight):
//!   it checks L1 again, then Redis (`HIT-REDIS`, which refills L1), then asks
//!   the store (`MISS`, which fills both). Waiters share its result.
//! - TTLs are jittered ±10%; unknown products (404) are cached for at most
//!   [`NEGATIVE_TTL`].
//! - Entries outlive their freshness by [`STALE_WINDOW`] in L1: when the
//!   store fails, the last known copy is served as `STALE`; with none, the
//!   error goes up (503 with `Retry-After`).
//! - Writes call [`ReadThrough::invalidate`]; other processes learn of them
//!   from the store's change log ([`crate::coherence`]). A fetch that overlaps
//!   an invalidation serves what it read but does not cache it.

mod breaker;
mod entry;
mod redis;
mod single_flight;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

pub use self::breaker::BreakerState;
pub use self::entry::{Entry, matches_if_none_match};
pub use self::redis::RedisTier;
use self::single_flight::SingleFlight;
use crate::model::{PageQuery, Sort};
use crate::store::StoreError;

/// Longest time an unknown product's 404 is cached.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// How long past its freshness an L1 entry is kept to serve as `STALE`.
pub const STALE_WINDOW: Duration = Duration::from_secs(3600);

/// What a cached response is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The product.
    pub product_id: u64,
    /// Which of its responses.
    pub view: View,
}

/// One response of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// `GET /reviews/:id/meta`.
    Meta,
    /// `GET /reviews/:id?page&count&sort`.
    Page {
        /// Page number.
        page: u32,
        /// Page size.
        count: u32,
        /// Order.
        sort: Sort,
    },
}

impl CacheKey {
    /// The key of a page query.
    pub fn page(q: &PageQuery) -> CacheKey {
        let view = View::Page {
            page: q.page,
            count: q.count,
            sort: q.sort,
        };
        CacheKey {
            product_id: q.product_id,
            view,
        }
    }

    /// The key of a product's meta.
    pub fn meta(product_id: u64) -> CacheKey {
        CacheKey {
            product_id,
            view: View::Meta,
        }
    }

    /// The Redis hash holding every view of this key's product.
    pub fn redis_key(&self) -> String {
        Self::redis_key_of(self.product_id)
    }

    /// The Redis hash of a product.
    pub fn redis_key_of(product_id: u64) -> String {
        format!("reviews:v1:{product_id}")
    }

    /// This view's field in the product's hash.
    pub fn redis_field(&self) -> String {
        match self.view {
            View::Meta => "meta".to_string(),
            View::Page { page, count, sort } => format!("p{page}.{count}.{sort}"),
        }
    }
}

/// Where a response came from (the `X-Cache` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Fresh in this process's memory.
    HitL1,
    /// Fresh in Redis.
    HitRedis,
    /// Read from the store.
    Miss,
    /// The store failed; this is the last known copy.
    Stale,
}

impl CacheStatus {
    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::HitL1 => "HIT-L1",
            CacheStatus::HitRedis => "HIT-REDIS",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
        }
    }
}

/// A cached response and where it came from.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The response.
    pub entry: Arc<Entry>,
    /// Its origin.
    pub status: CacheStatus,
}

/// A response freshly rendered from the store.
#[derive(Debug)]
pub struct Rendered {
    /// 200, or 404 for an unknown product.
    pub status: u16,
    /// The JSON body.
    pub body: Vec<u8>,
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

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// How the cache is set up.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// L1 budget in bytes; 0 turns L1 off.
    pub l1_bytes: u64,
    /// Redis URL; `None` runs without L2.
    pub redis_url: Option<String>,
    /// Nominal freshness of a cached response.
    pub ttl: Duration,
    /// Timeout of every Redis call.
    pub redis_timeout: Duration,
}

/// Slots of the product generation table (a power of two).
const GENERATION_SLOTS: usize = 1 << 16;

/// An L1 entry with the generation of its product's slot when it was read.
#[derive(Clone)]
struct L1Value {
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
        crate::generate::mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
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

/// The read-through cache in front of the store.
///
/// Invalidation is by generation: each product hashes to a slot of a fixed
/// table of counters, an invalidation bumps the slot, and an L1 entry counts
/// only while its slot still has the generation the entry was read under. A
/// hit costs one atomic load; a write costs one atomic add (a collision only
/// drops a few extra entries). A fetch that sees its slot move while it
/// reads the store serves what it read but caches it nowhere.
pub struct ReadThrough {
    l1: Option<moka::sync::Cache<CacheKey, L1Value, KeyHash>>,
    l2: Option<RedisTier>,
    generations: Box<[AtomicU64]>,
    flights: SingleFlight<CacheKey, Result<Lookup, StoreError>>,
    stats: Arc<Stats>,
    ttl: Duration,
}

impl ReadThrough {
    /// Builds the tiers `config` asks for.
    pub fn new(config: &CacheConfig) -> anyhow::Result<ReadThrough> {
        let stats = Arc::new(Stats::default());
        let l1 = (config.l1_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.l1_bytes)
                .weigher(|_: &CacheKey, v: &L1Value| v.entry.weight())
                .time_to_live(config.ttl.mul_f64(1.1) + STALE_WINDOW)
                .build_with_hasher(KeyHash::default())
        });
        let l2 = match &config.redis_url {
            Some(url) => Some(RedisTier::new(
                url,
                config.redis_timeout,
                Arc::clone(&stats),
            )?),
            None => None,
        };
        Ok(ReadThrough {
            l1,
            l2,
            generations: (0..GENERATION_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            flights: SingleFlight::new(),
            stats,
            ttl: config.ttl,
        })
    }

    /// The counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Drops every cached copy of `product_id`: this process's L1 at once,
    /// and Redis (retried before Redis is trusted again if it fails now).
    pub async fn invalidate(&self, product_id: u64) {
        self.slot(product_id).fetch_add(1, Ordering::SeqCst);
        if let Some(l2) = &self.l2 {
            l2.invalidate(product_id).await;
        }
    }

    /// Drops all of this process's L1 (when it may have missed writes).
    pub fn invalidate_all(&self) {
        for slot in self.generations.iter() {
            slot.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(l1) = &self.l1 {
            l1.invalidate_all();
        }
    }

    /// The Redis breaker's state; `None` without Redis.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.l2.as_ref().map(|l2| l2.breaker().state())
    }

    /// The response for `key`, from the nearest tier that has it fresh, or
    /// rendered by `load` from the store.
    pub async fn get<F, Fut>(&self, key: CacheKey, load: F) -> Result<Lookup, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, StoreError>>,
    {
        if let Some(entry) = self.l1_fresh(&key) {
            bump(&self.stats.l1_hits);
            return Ok(Lookup {
                entry,
                status: CacheStatus::HitL1,
            });
        }
        self.flights.run(key, || self.fetch(key, load)).await
    }

    fn slot(&self, product_id: u64) -> &AtomicU64 {
        &self.generations[crate::generate::mix(product_id) as usize & (GENERATION_SLOTS - 1)]
    }

    /// The L1 entry for `key` unless its product was invalidated since.
    fn l1_current(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let value = self.l1.as_ref()?.get(key)?;
        let current = self.slot(key.product_id).load(Ordering::SeqCst);
        (value.generation == current).then_some(value.entry)
    }

    fn l1_fresh(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.l1_current(key)
            .filter(|entry| entry.is_fresh(now_ms()))
    }

    /// The single flight's work: L1 again, Redis, then the store.
    async fn fetch<F, Fut>(&self, key: CacheKey, load: F) -> Result<Lookup, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, StoreError>>,
    {
        let generation = self.slot(key.product_id).load(Ordering::SeqCst);
        let mut last_known = self.l1_current(&key);
        if let Some(entry) = last_known.as_ref().filter(|e| e.is_fresh(now_ms())) {
            bump(&self.stats.l1_hits);
            return Ok(Lookup {
                entry: Arc::clone(entry),
                status: CacheStatus::HitL1,
            });
        }
        if let Some(l2) = &self.l2
            && let Some(entry) = l2.get(&key).await
        {
            let entry = Arc::new(entry);
            if entry.is_fresh(now_ms()) {
                bump(&self.stats.redis_hits);
                self.fill_l1(key, &entry, generation);
                return Ok(Lookup {
                    entry,
                    status: CacheStatus::HitRedis,
                });
            }
            if last_known
                .as_ref()
                .is_none_or(|old| old.fresh_until < entry.fresh_until)
            {
                last_known = Some(entry);
            }
        }
        bump(&self.stats.store_queries);
        match load().await {
            Ok(rendered) => {
                let ttl = self.jittered_ttl(rendered.status);
                let fresh_until = now_ms() + ttl.as_millis() as u64;
                let entry = Arc::new(Entry::new(
                    rendered.status,
                    Bytes::from(rendered.body),
                    fresh_until,
                ));
                if let Some(l2) = &self.l2
                    && self.slot(key.product_id).load(Ordering::SeqCst) == generation
                {
                    l2.set(&key, &entry, ttl).await;
                }
                self.fill_l1(key, &entry, generation);
                bump(&self.stats.misses);
                Ok(Lookup {
                    entry,
                    status: CacheStatus::Miss,
                })
            }
            Err(e) => {
                bump(&self.stats.store_errors);
                match last_known {
                    Some(entry) => {
                        bump(&self.stats.stale);
                        Ok(Lookup {
                            entry,
                            status: CacheStatus::Stale,
                        })
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// Caches `entry` in L1 unless its product was invalidated since the
    /// fetch saw `generation`.
    fn fill_l1(&self, key: CacheKey, entry: &Arc<Entry>, generation: u64) {
        if let Some(l1) = &self.l1
            && self.slot(key.product_id).load(Ordering::SeqCst) == generation
        {
            l1.insert(
                key,
                L1Value {
                    entry: Arc::clone(entry),
                    generation,
                },
            );
        }
    }

    /// The TTL of a new entry: ±10% around the configured one (at most
    /// [`NEGATIVE_TTL`] for a 404), so entries filled together expire apart.
    fn jittered_ttl(&self, status: u16) -> Duration {
        let base = if status == 404 {
            self.ttl.min(NEGATIVE_TTL)
        } else {
            self.ttl
        };
        base.mul_f64(0.9 + 0.2 * fastrand::f64())
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
