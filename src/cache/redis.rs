//! L2: Redis through a deadpool-redis pool. Every call has a tight timeout
//! and goes through the [`Breaker`], so a slow or dead Redis costs one
//! timeout per cooldown, not one per request; errors are counted and
//! swallowed — Redis failing never fails a read.
//!
//! Layout: one hash per product, `reviews:v2:{product_id}`, a field per view
//! (`meta`, `p{page}.{count}.{sort}`) holding [`Entry::to_redis`]. A write
//! invalidates a product with one `DEL`. The hash expires `ttl` after its
//! last fill; each field carries its own freshness.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::{Config, Pool, Runtime, Timeouts};

use super::entry::Entry;
use super::key::CacheKey;
use super::stats::Stats;
use crate::breaker::Breaker;

/// Consecutive failures that open the breaker.
const BREAKER_THRESHOLD: u32 = 3;
/// How long the breaker stays open before it probes.
const BREAKER_COOLDOWN: Duration = Duration::from_secs(1);

/// The Redis tier.
pub struct RedisTier {
    pool: Pool,
    /// Products whose Redis copies must be deleted before Redis is trusted.
    pending: Mutex<HashSet<u64>>,
    breaker: Breaker,
    timeout: Duration,
    stats: Arc<Stats>,
}

impl RedisTier {
    /// A tier for `url` (`redis://host:port/db`); connects lazily, so a
    /// Redis that is down at startup only opens the breaker.
    pub fn new(url: &str, timeout: Duration, stats: Arc<Stats>) -> anyhow::Result<RedisTier> {
        let mut config = Config::from_url(url);
        let mut pool = deadpool_redis::PoolConfig::new(32);
        pool.timeouts = Timeouts {
            wait: Some(timeout),
            create: Some(timeout),
            recycle: Some(timeout),
        };
        config.pool = Some(pool);
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| anyhow::anyhow!("invalid --redis-url {url}: {e}"))?;
        Ok(RedisTier {
            pool,
            pending: Mutex::new(HashSet::new()),
            breaker: Breaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN),
            timeout,
            stats,
        })
    }

    /// The breaker, for metrics and tests.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The cached entry for `key`, fresh or not; `None` on a miss, on any
    /// failure, or while invalidations are pending.
    pub async fn get(&self, key: &CacheKey) -> Option<Entry> {
        if !self.pending().is_empty() && !self.flush_pending().await {
            return None;
        }
        let mut cmd = redis::cmd("HGET");
        cmd.arg(key.redis_key()).arg(key.redis_field());
        let raw = self.call::<Option<Vec<u8>>>(cmd).await.flatten()?;
        Entry::from_redis(raw)
    }

    /// Stores `entry` for `key` and pushes the product's expiry to `ttl` from now.
    pub async fn set(&self, key: &CacheKey, entry: &Entry, ttl: Duration) {
        let redis_key = key.redis_key();
        let mut pipe = redis::pipe();
        pipe.cmd("HSET")
            .arg(&redis_key)
            .arg(key.redis_field())
            .arg(entry.to_redis())
            .ignore();
        pipe.cmd("PEXPIRE")
            .arg(&redis_key)
            .arg(ttl.as_millis() as u64)
            .ignore();
        let _: Option<()> = self.call_pipe(pipe).await;
    }

    /// Deletes every cached view of `product_id`. If Redis cannot be told
    /// now, the product is remembered and Redis is not read for it (nor for
    /// anything, while deletions are pending) until the deletion succeeds.
    pub async fn invalidate(&self, product_id: u64) {
        self.pending().insert(product_id);
        self.flush_pending().await;
    }

    /// Sends the pending deletions; true when none is left.
    async fn flush_pending(&self) -> bool {
        let products: Vec<u64> = self.pending().iter().copied().collect();
        if products.is_empty() {
            return true;
        }
        let mut cmd = redis::cmd("DEL");
        for &product in &products {
            cmd.arg(CacheKey::redis_key_of(product));
        }
        if self.call::<i64>(cmd).await.is_none() {
            return false;
        }
        let mut pending = self.pending();
        for product in products {
            pending.remove(&product);
        }
        pending.is_empty()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.pending.lock().expect("pending invalidations lock")
    }

    async fn call<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        self.guarded(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    async fn call_pipe<T: redis::FromRedisValue>(&self, pipe: redis::Pipeline) -> Option<T> {
        self.guarded(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await
    }

    /// Runs one call on a pooled connection under the breaker and timeout.
    async fn guarded<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allow() {
            self.stats.redis_skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let attempt = async {
            let conn = self.pool.get().await.map_err(|e| e.to_string())?;
            call(conn).await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(value)) => {
                self.breaker.success();
                Some(value)
            }
            Ok(Err(e)) => self.failed(&e),
            Err(_) => self.failed("timed out"),
        }
    }

    fn failed<T>(&self, why: &str) -> Option<T> {
        self.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
        self.breaker.failure();
        tracing::debug!("redis call failed: {why}");
        None
    }
}
