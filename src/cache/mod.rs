//! The read-through cache: L1 (in-process, bounded by bytes) → L2 (Redis) →
//! the store, holding exact response bodies. It knows nothing of HTTP: it
//! is handed a loader that renders a body from the store, and answers an
//! [`Entry`] and its [`Origin`].
//!
//! - [`key`]: what an entry is of; [`entry`]: what it holds;
//! - [`l1`]: this process's memory, invalidated by product generation;
//! - [`redis`]: the shared tier, behind a timeout and a circuit breaker;
//! - [`single_flight`]: one store query per key per process at a time;
//! - [`versions`]: which copies are current: by version, not by delete;
//! - [`variants`]: how many filtered views of a product may be cached;
//! - [`follower`]: how every process learns of writes made elsewhere, from
//!   one reader of the change log per port through the port's [`feed`];
//! - [`stats`]: what the cache did, for `/metrics`.
//!
//! A read: a fresh L1 entry at a current version is served at once.
//! Otherwise one task per key, version and process goes further (single
//! flight): L1 again, then Redis (which refills L1), then — after taking
//! the key's fill lock in Redis, or waiting briefly for the process that
//! holds it — the store, whose answer fills both (Redis in the background).
//! TTLs are jittered ±10%; unknown products are cached for at most
//! [`NEGATIVE_TTL`]. Entries outlive their freshness by [`STALE_WINDOW`] in
//! L1: when the store fails, the last known copy is served as
//! [`Origin::Stale`] whatever its version; with none, the error goes up. A
//! read that a known write overtook is served but cached nowhere.
//!
//! A read asking for a version of its product this process has not heard
//! of (`min_version`: a write made elsewhere, or a number made up) is
//! answered by a *look* that began after it arrived — L1, Redis, then the
//! store — and looks at one product begin at most once per
//! [`UNHEARD_GAP`]: at most 20 store reads a second per product, however
//! many such requests come and whatever versions they name (see
//! [`ReadThrough::fetch_unheard`]).

pub mod entry;
pub mod feed;
pub mod follower;
pub mod key;
pub mod l1;
pub mod redis;
pub mod single_flight;
pub mod stats;
pub mod variants;
pub mod versions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use self::entry::Entry;
pub use self::follower::Follower;
pub use self::key::{CacheKey, View};
use self::l1::L1;
use self::redis::RedisTier;
use self::single_flight::SingleFlight;
use self::stats::bump;
pub use self::stats::{Origin, Stats, StatsSnapshot};
use self::variants::Variants;
use self::versions::{Required, Versions};
use crate::breaker::BreakerState;
use crate::clock::{coarse_now_ms, now_ms};
use crate::redis_conn::Redis;
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
    /// The store version the read was as of.
    pub version: u64,
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

/// The least time between the starts of two looks (reads for versions
/// this process has not heard of) at one product: at most 20 store reads a
/// second per product.
pub const UNHEARD_GAP: Duration = Duration::from_millis(50);
/// Slots the last looks are kept in, by product hash.
const UNHEARD_SLOTS: usize = 64;
/// A slot forgets looks older than this once it holds [`LOOKS_SWEEP`]
/// products: a request waits for a look at most a gap and the look's own
/// store read (bounded by the read deadline), so older ones serve nobody.
const LOOK_KEPT: Duration = Duration::from_secs(10);
/// Products a slot holds looks of before it sweeps.
const LOOKS_SWEEP: usize = 64;

/// The last look at one product: a read (L1, Redis, then the store) for a
/// version its process had not heard of.
struct Look {
    /// The view it read.
    key: CacheKey,
    /// When it began: a store read then shows every write committed
    /// before, so it speaks for every request that arrived before.
    began: std::time::Instant,
    /// Its answer: a cached copy at least as new as asked, or the store's
    /// (or, the store failing, the stale copy or the error).
    answer: Result<Lookup, StoreError>,
}

/// How a look answers a request of its product that arrived before it
/// began.
enum Served {
    /// With the look's own answer.
    Answer,
    /// With a copy of the request's view at least this new.
    AtLeast(u64),
}

impl Look {
    /// How this look answers a request for version `at_least` of `key`
    /// that arrived before it began, if it can. A store read shows every
    /// write committed before it began: its own view's answer is the
    /// newest there is, and it tells the version the store had (a request
    /// asking more asked for a version no one had written by then). A
    /// failed one tells nothing: the request is read as any read is (the
    /// store breaker bounds a failing store's reads). A cached copy
    /// answers only requests asking no more than its version; those asking
    /// more need a look of their own.
    fn serves(&self, key: &CacheKey, at_least: u64) -> Option<Served> {
        let (read_store, version) = match &self.answer {
            Ok(l) => (
                matches!(l.origin, Origin::Store | Origin::Stale),
                l.entry.version,
            ),
            Err(_) => (true, 0),
        };
        if self.key == *key {
            return (read_store || version >= at_least).then_some(Served::Answer);
        }
        match &self.answer {
            Ok(l) if l.origin == Origin::Store => Some(Served::AtLeast(at_least.min(version))),
            _ if read_store || version >= at_least => Some(Served::AtLeast(at_least)),
            _ => None,
        }
    }
}

/// The read-through cache in front of the store.
pub struct ReadThrough {
    l1: L1,
    l2: Option<Arc<RedisTier>>,
    versions: Versions,
    variants: Variants,
    flights: SingleFlight<(CacheKey, Required), Result<Lookup, StoreError>>,
    /// The last look at each product, in slots by product hash (see
    /// [`ReadThrough::fetch_unheard`]).
    looks: Box<[tokio::sync::Mutex<HashMap<u64, Look>>]>,
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
            Some(url) => {
                let redis = Redis::open(url, config.redis_timeout)?;
                Some(Arc::new(RedisTier::new(
                    Arc::new(redis),
                    Arc::clone(&stats),
                )))
            }
            None => None,
        };
        Ok(ReadThrough {
            l1: L1::new(config.l1_bytes, config.ttl.mul_f64(1.1) + STALE_WINDOW),
            l2,
            // Past the longest freshness any copy may have (TTL + 10%
            // jitter), and a minute more for clocks apart between hosts.
            versions: Versions::new(config.ttl.mul_f64(1.1) + Duration::from_secs(60)),
            variants: Variants::new(config.ttl),
            flights: SingleFlight::new(),
            looks: (0..UNHEARD_SLOTS)
                .map(|_| tokio::sync::Mutex::new(HashMap::new()))
                .collect(),
            stats,
            ttl: config.ttl,
        })
    }

    /// The counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Keys whose store read is in flight now (for tests and metrics).
    pub fn flights(&self) -> usize {
        self.flights.len()
    }

    /// A write to `product_id` at `version` is known: copies rendered
    /// before it are served no more, by any tier of this process.
    pub fn written(&self, product_id: u64, version: u64) {
        self.versions.written(product_id, version);
    }

    /// Any product may have been written before `now_ms` (the change log
    /// no longer reaches back to the last poll): every copy read before
    /// goes.
    pub fn all_written(&self, now_ms: u64) {
        self.versions.all_written(now_ms);
        self.l1.clear();
    }

    /// This process's first look at the change log began at `now_ms`:
    /// copies read from then on may be served (none before).
    pub fn start_at(&self, now_ms: u64) {
        self.versions.start_at(now_ms);
    }

    /// The version of `product_id` this process knows to be current (0 for
    /// none known).
    pub fn known_version(&self, product_id: u64) -> u64 {
        self.versions.required(product_id).version
    }

    /// The Redis breaker's state (on a cluster, the most open of its
    /// masters'); `None` without Redis.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.l2.as_ref().map(|l2| l2.redis().state())
    }

    /// The process's Redis, for the other tiers that keep state there (the
    /// rate limits); `None` without Redis.
    pub fn redis(&self) -> Option<Arc<Redis>> {
        self.l2.as_ref().map(|l2| Arc::clone(l2.redis()))
    }

    /// The response for `key`, from the nearest tier that has it fresh at
    /// a current version — and at least `at_least`, a version the client
    /// showed — or rendered by `load` from the store.
    pub async fn get<F, Fut>(
        &self,
        key: CacheKey,
        at_least: u64,
        load: F,
    ) -> Result<Lookup, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, StoreError>>,
    {
        let known = self.versions.required(key.product_id);
        let unheard = at_least > known.version;
        let required = Required {
            version: known.version.max(at_least),
            ..known
        };
        let now = coarse_now_ms();
        if let Some(entry) = self.l1.get(&key, now).filter(|e| usable(e, required, now)) {
            bump(&self.stats.l1_hits);
            return Ok(Lookup {
                entry,
                origin: Origin::L1,
            });
        }
        if unheard {
            return Box::pin(self.fetch_unheard(key, known, at_least, load)).await;
        }
        self.flight(key, required, load).await
    }

    /// A read asked for version `at_least` of its product, newer than any
    /// this process has heard of (`known`): a write made elsewhere, or a
    /// number made up. Either way it is answered by a look that began
    /// after it arrived — L1 and Redis, for a copy at least as new as
    /// asked, then the store, whose read shows every write committed before
    /// it began (the client's write was committed before its answer, so
    /// before this request) — and looks at one product begin at most once
    /// per [`UNHEARD_GAP`]:
    ///
    /// - a look at the product that began after this request arrived
    ///   answers it as [`Look::serves`] says: of the same view, with its
    ///   answer; of another view, by the version the store had, so the
    ///   request needs a copy at least that new (or its own version, if
    ///   lower) — which a cached copy or one single-flight read gives, as
    ///   for any read;
    /// - otherwise (none, or one that found a cached copy older than this
    ///   request asks) the request waits for the next look, which begins
    ///   once the gap since the last one has passed, and serves every
    ///   request that was waiting when it began.
    ///
    /// So however many such requests come, and whatever versions they
    /// name, a product costs at most one look per gap (20 store reads a
    /// second), besides what the same requests without a version would
    /// cost; a request waits at most the gap and one store read. A made-up
    /// version is answered with the newest copy the store has.
    async fn fetch_unheard<F, Fut>(
        &self,
        key: CacheKey,
        mut known: Required,
        at_least: u64,
        load: F,
    ) -> Result<Lookup, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, StoreError>>,
    {
        let arrived = Instant::now();
        let product = key.product_id;
        let slot = &self.looks[(crate::hash::mix(product) as usize) % UNHEARD_SLOTS];
        loop {
            let mut looks = slot.lock().await;
            let last = looks.get(&product);
            if let Some(look) = last.filter(|l| l.began >= arrived) {
                match look.serves(&key, at_least) {
                    Some(Served::Answer) => return look.answer.clone(),
                    Some(Served::AtLeast(version)) => {
                        let required = Required {
                            version: known.version.max(version),
                            ..known
                        };
                        drop(looks);
                        return self.flight(key, required, load).await;
                    }
                    None => {}
                }
            }
            let next = last.map(|l| l.began + UNHEARD_GAP);
            if let Some(next) = next.filter(|&next| next > Instant::now()) {
                drop(looks);
                tokio::time::sleep_until(next.into()).await;
                // Writes learned meanwhile count.
                known = self.versions.required(product);
                continue;
            }
            // This request's own look, under the slot's lock: requests for
            // the product that arrive meanwhile queue behind it. L1 and
            // Redis first (a write made elsewhere may be cached there
            // already), then the store.
            let began = Instant::now();
            let required = Required {
                version: known.version.max(at_least),
                ..known
            };
            let answer = self.fetch(key.clone(), required, load).await;
            if !matches!(&answer, Ok(l) if matches!(l.origin, Origin::L1 | Origin::Redis)) {
                bump(&self.stats.unheard_reads);
            }
            if looks.len() >= LOOKS_SWEEP {
                looks.retain(|_, l| l.began.elapsed() < LOOK_KEPT);
            }
            let look = Look {
                key,
                began,
                answer: answer.clone(),
            };
            looks.insert(product, look);
            return answer;
        }
    }

    /// One store read per key and required version in flight at a time:
    /// requests that arrive meanwhile share its answer.
    async fn flight<F, Fut>(
        &self,
        key: CacheKey,
        required: Required,
        load: F,
    ) -> Result<Lookup, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, StoreError>>,
    {
        // Keyed by the version too: a request that knows of a newer write
        // never joins a flight that started before it. Boxed: the flight's
        // state (Redis, the store, the fill) is kilobytes, and an unboxed
        // one would be part of, and copied with, every hit's future too.
        let flight = (key.clone(), required);
        Box::pin(self.flights.run(flight, || self.fetch(key, required, load))).await
    }

    /// The single flight's work: L1 again, Redis, then the store. A
    /// filtered view its product may not add to the cache (see
    /// [`variants`]) skips Redis and fills nothing.
    async fn fetch<F, Fut>(
        &self,
        key: CacheKey,
        required: Required,
        load: F,
    ) -> Result<Lookup, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, StoreError>>,
    {
        let now = now_ms();
        let mut last_known = self.l1.get(&key, now);
        if let Some(entry) = last_known.as_ref().filter(|e| usable(e, required, now)) {
            bump(&self.stats.l1_hits);
            return Ok(Lookup {
                entry: Arc::clone(entry),
                origin: Origin::L1,
            });
        }
        let admitted = self.variants.admit(&key, now);
        let l2 = self
            .l2
            .as_ref()
            .filter(|_| admitted && RedisTier::caches(&key));
        if let Some(l2) = l2 {
            let mut found = l2.get(&key).await;
            if !found
                .as_ref()
                .is_some_and(|e| usable(e, required, now_ms()))
                && !l2.lock(&key).await
            {
                // Another process is filling this key: wait for its fill.
                let fresh = |e: &Entry| usable(e, required, now_ms());
                if let Some(filled) = l2.wait_for_fill(&key, fresh).await {
                    found = Some(filled);
                }
            }
            if let Some(entry) = found {
                let entry = Arc::new(entry);
                let now = now_ms();
                if usable(&entry, required, now) {
                    bump(&self.stats.redis_hits);
                    self.l1.fill(key, &entry, now);
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
        }
        bump(&self.stats.store_queries);
        let began = now_ms();
        match load().await {
            Ok(rendered) => {
                let ttl = self.jittered_ttl(rendered.found);
                let now = now_ms();
                let fresh_until = now + ttl.as_millis() as u64;
                let entry = Arc::new(Entry::new(
                    rendered.found,
                    Bytes::from(rendered.body),
                    fresh_until,
                    rendered.version,
                    began,
                ));
                // Cached only if no write this process knows of is newer
                // than the read (one may have landed while it ran). A copy
                // older than what the client asked for is still exact for
                // its version: others may be served it.
                let known = self.versions.required(key.product_id);
                if admitted && entry.version >= known.version && began >= known.since_ms {
                    if let Some(l2) = l2 {
                        l2.set_later(key.clone(), Arc::clone(&entry), ttl);
                    }
                    self.l1.fill(key, &entry, now);
                }
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

/// Whether `entry` may be served at `now` (unix ms) as fresh to a reader
/// that requires `required`.
fn usable(entry: &Entry, required: Required, now: u64) -> bool {
    entry.version >= required.version
        && entry.rendered_at >= required.since_ms
        && entry.is_fresh(now)
}
