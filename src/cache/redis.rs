//! L2: Redis, through the process's shared [`Redis`] handle. Every call has
//! a tight timeout and goes through its server's breaker (on a Redis
//! Cluster, the breaker of the key's master: a lost master costs only its
//! own keys), so a slow or dead server costs a few timeouts per cooldown,
//! not one per request; errors are counted and swallowed — Redis failing
//! never fails a read.
//!
//! - **Layout**: one key per view, `reviews:v7:{product_id}:{view}`, each
//!   holding [`Entry::to_redis`] with its own TTL, so a hot product's
//!   footprint is bounded by the views asked within a TTL. Only pages up to
//!   [`REDIS_MAX_PAGE`] go to Redis: deeper pages (crawlers) are rendered
//!   and kept in L1 only. Nothing is deleted on write: an entry rendered
//!   before a known write is unreachable by its version and expires.
//! - **One round trip per hit**: calls share one multiplexed connection
//!   per server (see [`crate::redis_conn`]).
//! - **Cluster-safe**: every command names one key, and a view's fill lock
//!   shares its slot ([`CacheKey::redis_lock`]), so a fill sets the view and
//!   frees its lock in one pipeline to one master.
//! - **Fills** run in the background, off the response's path.
//! - **Fill lock**: before a cold key goes to the store, a process takes a
//!   short lock on it (`SET NX PX`); the others wait a few milliseconds for
//!   its fill instead of querying the store too, and query it themselves
//!   if the fill does not come. With the key's server slow or down, no one
//!   waits.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::entry::Entry;
use super::key::{CacheKey, View};
use super::stats::Stats;
use crate::redis_conn::{Failure, Redis, Request};

/// Deepest page number cached in Redis.
pub const REDIS_MAX_PAGE: u32 = 20;
/// How long a fill lock holds: about one store read.
const LOCK_TTL: Duration = Duration::from_millis(250);
/// How often a process waiting on another's fill looks for it.
const LOCK_POLL: Duration = Duration::from_millis(10);

/// The Redis tier.
pub struct RedisTier {
    redis: Arc<Redis>,
    stats: Arc<Stats>,
}

impl RedisTier {
    /// A tier on `redis`, counting into `stats`.
    pub fn new(redis: Arc<Redis>, stats: Arc<Stats>) -> RedisTier {
        RedisTier { redis, stats }
    }

    /// The Redis it uses.
    pub fn redis(&self) -> &Arc<Redis> {
        &self.redis
    }

    /// Whether `key`'s responses are kept in Redis at all.
    pub fn caches(key: &CacheKey) -> bool {
        match key.view {
            View::Meta => true,
            View::Page { page, .. } => page <= REDIS_MAX_PAGE,
        }
    }

    /// The entry stored for `key`, whatever its version or freshness;
    /// `None` on a miss or any failure.
    pub async fn get(&self, key: &CacheKey) -> Option<Entry> {
        self.fetch(&key.redis_key()).await.ok().flatten()
    }

    /// The entry stored at `redis_key`: `Ok(None)` on a miss, `Err` when
    /// Redis could not say.
    async fn fetch(&self, redis_key: &str) -> Result<Option<Entry>, Failure> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(redis_key);
        let raw = self
            .call::<Option<Vec<u8>>>(redis_key.as_bytes(), Request::Cmd(&cmd))
            .await?;
        Ok(raw.and_then(Entry::from_redis))
    }

    /// Stores `entry` for `key`, expiring in `ttl`, and frees the key's fill
    /// lock, in the background: one pipeline to the key's server.
    pub fn set_later(self: &Arc<Self>, key: CacheKey, entry: Arc<Entry>, ttl: Duration) {
        let tier = Arc::clone(self);
        tokio::spawn(async move {
            let redis_key = key.redis_key();
            let mut fill = redis::pipe();
            fill.cmd("SET")
                .arg(&redis_key)
                .arg(entry.to_redis())
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .cmd("DEL")
                .arg(key.redis_lock());
            let _ = tier
                .call::<()>(redis_key.as_bytes(), Request::Pipeline(&fill))
                .await;
        });
    }

    /// Takes the fill lock of `key`: true when this process should fill it
    /// (it got the lock, or Redis cannot say).
    pub async fn lock(&self, key: &CacheKey) -> bool {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key.redis_lock())
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL.as_millis() as u64);
        // Routed by the view's key: the lock lives in its slot.
        let taken = self
            .call::<Option<String>>(key.redis_key().as_bytes(), Request::Cmd(&cmd))
            .await;
        !matches!(taken, Ok(None))
    }

    /// Waits up to the lock's lifetime for another process's fill of `key`
    /// that `usable` accepts; gives up at once when Redis cannot say.
    pub async fn wait_for_fill(
        &self,
        key: &CacheKey,
        usable: impl Fn(&Entry) -> bool,
    ) -> Option<Entry> {
        let redis_key = key.redis_key();
        let deadline = tokio::time::Instant::now() + LOCK_TTL;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(LOCK_POLL).await;
            match self.fetch(&redis_key).await {
                Ok(Some(entry)) if usable(&entry) => return Some(entry),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// One call, counted: an error or a call skipped by an open breaker.
    async fn call<T: redis::FromRedisValue>(
        &self,
        routed_by: &[u8],
        request: Request<'_>,
    ) -> Result<T, Failure> {
        let result = self.redis.call(routed_by, request).await;
        match &result {
            Ok(_) => {}
            Err(Failure::Skipped) => {
                self.stats.redis_skipped.fetch_add(1, Ordering::Relaxed);
            }
            Err(Failure::Failed(_)) => {
                self.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }
}
