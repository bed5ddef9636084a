//! The read-through cache: L1 (in-process, bounded by bytes) → L2 (Redis) →
//! the store, holding exact response bodies. It knows nothing of HTTP: it
//! is handed a loader that renders a body from the store, and answers an
//! [`Entry`] and its [`Origin`].
//!
//! - [`key`]: what an entry is of; [`entry`]: what it holds;
//! - [`l1`]: this process's memory, invalidated by product generation;
//! - [`redis`]: the shared tier, behind a timeout and a circuit breaker;
//! - [`single_flight`]: one store query per key per process at a time;
//! - [`follower`]: how every process learns of writes made elsewhere;
//! - [`stats`]: what the cache did, for `/metrics`.
//!
//! A read: a fresh L1 entry is served at once. Otherwise one task per key
//! and process goes further (single flight): L1 again, then Redis (which
//! refills L1), then the store (which fills both). TTLs are jittered ±10%;
//! unknown products are cached for at most [`NEGATIVE_TTL`]. Entries
//! outlive their freshness by [`STALE_WINDOW`] in L1: when the store fails,
//! the last known copy is served as [`Origin::Stale`]; with none, the
//! error goes up. A fetch that overlaps an invalidation serves what it read
//! but caches it nowhere.

pub mod entry;
pub mod follower;
pub mod key;
pub mod l1;
pub mod redis;
pub mod single_flight;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use self::entry::Entry;
pub use self::follower::follow;
pub use self::key::{CacheKey, View};
use self::l1::L1;
use self::redis::RedisTier;
use self::single_flight::SingleFlight;
use self::stats::bump;
pub use self::stats::{Origin, Stats, StatsSnapshot};
use crate::breaker::BreakerState;
use crate::clock::now_ms;
use crate::store::StoreError;

/// Longest time an unknown product's answer is cached.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// How long past its freshness an L1 entry is kept to serve as stale.
pub const STALE_WINDOW: Duration = Duration::from_secs(3600);

/// A cached response and where it came from.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The response.
    pub entry: Arc<Entry>,
    /// Its origin.
    pub origin: Origin,
}

/// A response freshly rendered from the store.
#[derive(Debug)]
pub struct Rendered {
    /// False for an unknown product.
    pub found: bool,
    /// The JSON body.
    pub body: Vec<u8>,
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

/// The read-through cache in front of the store.
pub struct ReadThrough {
    l1: L1,
    l2: Option<RedisTier>,
    flights: SingleFlight<CacheKey, Result<Lookup, StoreError>>,
    stats: Arc<Stats>,
    ttl: Duration,
}

impl ReadThrough {
    /// Builds the tiers `config` asks for, counting in this process alone.
    pub fn new(config: &CacheConfig) -> anyhow::Result<ReadThrough> {
        Self::with_stats(config, Stats::default())
    }

    /// Builds the tiers `config` asks for, counting into `stats`.
    pub fn with_stats(config: &CacheConfig, stats: Stats) -> anyhow::Result<ReadThrough> {
        let stats = Arc::new(stats);
        let l2 = match &config.redis_url {
            Some(url) => Some(RedisTier::new(
                url,
                config.redis_timeout,
                Arc::clone(&stats),
            )?),
            None => None,
        };
        Ok(ReadThrough {
            l1: L1::new(config.l1_bytes, config.ttl.mul_f64(1.1) + STALE_WINDOW),
            l2,
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
        self.l1.invalidate(product_id);
        if let Some(l2) = &self.l2 {
            l2.invalidate(product_id).await;
        }
    }

    /// Drops all of this process's L1 (when it may have missed writes).
    pub fn invalidate_all(&self) {
        self.l1.invalidate_all();
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
        if let Some(entry) = self.l1.current(&key).filter(|e| e.is_fresh(now_ms())) {
            bump(&self.stats.l1_hits);
            return Ok(Lookup {
                entry,
                origin: Origin::L1,
            });
        }
        self.flights.run(key, || self.fetch(key, load)).await
    }

    /// The single flight's work: L1 again, Redis, then the store.
    async fn fetch<F, Fut>(&self, key: CacheKey, load: F) -> Result<Lookup, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, StoreError>>,
    {
        let generation = self.l1.generation(key.product_id);
        let mut last_known = self.l1.current(&key);
        if let Some(entry) = last_known.as_ref().filter(|e| e.is_fresh(now_ms())) {
            bump(&self.stats.l1_hits);
            return Ok(Lookup {
                entry: Arc::clone(entry),
                origin: Origin::L1,
            });
        }
        if let Some(l2) = &self.l2
            && let Some(entry) = l2.get(&key).await
        {
            let entry = Arc::new(entry);
            if entry.is_fresh(now_ms()) {
                bump(&self.stats.redis_hits);
                self.l1.fill(key, &entry, generation);
                return Ok(Lookup {
                    entry,
                    origin: Origin::Redis,
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
                let ttl = self.jittered_ttl(rendered.found);
                let fresh_until = now_ms() + ttl.as_millis() as u64;
                let entry = Arc::new(Entry::new(
                    rendered.found,
                    Bytes::from(rendered.body),
                    fresh_until,
                ));
                if let Some(l2) = &self.l2
                    && self.l1.generation(key.product_id) == generation
                {
                    l2.set(&key, &entry, ttl).await;
                }
                self.l1.fill(key, &entry, generation);
                bump(&self.stats.misses);
                Ok(Lookup {
                    entry,
                    origin: Origin::Store,
                })
            }
            Err(e) => {
                bump(&self.stats.store_errors);
                match last_known {
                    Some(entry) => {
                        bump(&self.stats.stale);
                        Ok(Lookup {
                            entry,
                            origin: Origin::Stale,
                        })
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// The TTL of a new entry: ±10% around the configured one (at most
    /// [`NEGATIVE_TTL`] for an unknown product), so entries filled together
    /// expire apart.
    fn jittered_ttl(&self, found: bool) -> Duration {
        let base = if found {
            self.ttl
        } else {
            self.ttl.min(NEGATIVE_TTL)
        };
        base.mul_f64(0.9 + 0.2 * fastrand::f64())
    }
}
