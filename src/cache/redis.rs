//! L2: Redis through a deadpool-redis pool. Every call has a tight timeout
//! and goes through a [`Breaker`], so a slow or dead Redis costs one timeout
//! per cooldown, not one per request; errors are counted and swallowed —
//! Redis failing never fails a read.
//!
//! - **Layout**: one key per view, `reviews:v7:{product_id}:{view}`, each
//!   holding [`Entry::to_redis`] with its own TTL, so a hot product's
//!   footprint is bounded by the views asked within a TTL. Only pages up to
//!   [`REDIS_MAX_PAGE`] go to Redis: deeper pages (crawlers) are rendered
//!   and kept in L1 only. Nothing is deleted on write: an entry rendered
//!   before a known write is unreachable by its version and expires.
//! - **One round trip per hit**: the tier keeps one multiplexed connection
//!   checked out of the pool and shares it between requests (pipelined by
//!   the driver); the pool's per-checkout health check (a PING) is paid
//!   only when that connection fails and a new one is taken. On a Redis
//!   Cluster the shared connection is a cluster connection (one multiplexed
//!   connection per master, see [`crate::redis_conn`]), made afresh after a
//!   failure.
//! - **Cluster-safe**: every command names one key (a fill sends its `SET`
//!   and its lock's `DEL` as two commands, at once, rather than as one
//!   pipeline), so views and locks spread over a cluster's masters by
//!   their own slots.
//! - **Fills** run in the background, off the response's path.
//! - **Fill lock**: before a cold key goes to the store, a process takes a
//!   short lock on it (`SET NX PX`); the others wait a few milliseconds for
//!   its fill instead of querying the store too, and query it themselves
//!   if the fill does not come. With Redis slow or down, no one waits.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::{Manager, Pool, PoolConfig, Runtime, Timeouts};
use redis::cluster::ClusterClient;

use super::entry::Entry;
use super::key::{CacheKey, View};
use super::stats::Stats;
use crate::breaker::Breaker;
use crate::redis_conn::{Connection, Target};

/// Consecutive failures that open the breaker.
const BREAKER_THRESHOLD: u32 = 3;
/// How long the breaker stays open before it probes.
const BREAKER_COOLDOWN: Duration = Duration::from_secs(1);
/// Deepest page number cached in Redis.
pub const REDIS_MAX_PAGE: u32 = 20;
/// How long a fill lock holds: about one store read.
const LOCK_TTL: Duration = Duration::from_millis(250);
/// How often a process waiting on another's fill looks for it.
const LOCK_POLL: Duration = Duration::from_millis(10);

/// Where the tier's connections come from.
enum Source {
    /// A pool of connections to one server.
    Pool(Pool),
    /// A Redis Cluster.
    Cluster(Box<ClusterClient>),
}

/// The connection the tier shares while it works.
enum Held {
    /// Checked out of the pool (given up, not returned, when it fails).
    Pooled(deadpool_redis::Connection),
    /// To a cluster.
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Held {
    fn connection(&self) -> Connection {
        match self {
            Held::Pooled(conn) => Connection::Single((**conn).clone()),
            Held::Cluster(conn) => Connection::Cluster(conn.clone()),
        }
    }
}

/// The Redis tier.
pub struct RedisTier {
    source: Source,
    /// The connection shared by every call while it works.
    shared: Mutex<Option<Held>>,
    breaker: Breaker,
    timeout: Duration,
    stats: Arc<Stats>,
}

impl RedisTier {
    /// A tier for `url` (`redis://host:port/db`, or a cluster's node URLs
    /// separated by commas, see [`crate::redis_conn`]); connects lazily, so
    /// a Redis that is down at startup only opens the breaker.
    pub fn new(url: &str, timeout: Duration, stats: Arc<Stats>) -> anyhow::Result<RedisTier> {
        let invalid = |e: &dyn std::fmt::Display| anyhow::anyhow!("invalid --redis-url {url}: {e}");
        let source = match crate::redis_conn::target(url)? {
            Target::Single(info) => {
                let manager = Manager::new(info).map_err(|e| invalid(&e))?;
                let mut config = PoolConfig::new(4);
                config.timeouts = Timeouts {
                    wait: Some(timeout),
                    create: Some(timeout),
                    recycle: Some(timeout),
                };
                let pool = Pool::builder(manager)
                    .config(config)
                    .runtime(Runtime::Tokio1)
                    .build()
                    .map_err(|e| invalid(&e))?;
                Source::Pool(pool)
            }
            Target::Cluster(nodes) => Source::Cluster(Box::new(
                crate::redis_conn::cluster_client(nodes, timeout).map_err(|e| invalid(&e))?,
            )),
        };
        Ok(RedisTier {
            source,
            shared: Mutex::new(None),
            breaker: Breaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN),
            timeout,
            stats,
        })
    }

    /// The breaker, for metrics and tests.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
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
        let mut cmd = redis::cmd("GET");
        cmd.arg(key.redis_key());
        let raw = self.call::<Option<Vec<u8>>>(cmd).await.flatten()?;
        Entry::from_redis(raw)
    }

    /// Stores `entry` for `key`, expiring in `ttl`, in the background.
    pub fn set_later(self: &Arc<Self>, key: CacheKey, entry: Arc<Entry>, ttl: Duration) {
        let tier = Arc::clone(self);
        tokio::spawn(async move {
            let mut set = redis::cmd("SET");
            set.arg(key.redis_key())
                .arg(entry.to_redis())
                .arg("PX")
                .arg(ttl.as_millis() as u64);
            let mut unlock = redis::cmd("DEL");
            unlock.arg(key.redis_lock());
            // Sent together on the shared connection: one write to one
            // server, and on a cluster each to its key's master.
            let _: (Option<()>, Option<()>) = tokio::join!(tier.call(set), tier.call(unlock));
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
        match self.call::<Option<String>>(cmd).await {
            Some(Some(_)) | None => true,
            Some(None) => false,
        }
    }

    /// Waits up to the lock's lifetime for another process's fill of `key`
    /// that `usable` accepts.
    pub async fn wait_for_fill(
        &self,
        key: &CacheKey,
        usable: impl Fn(&Entry) -> bool,
    ) -> Option<Entry> {
        let deadline = tokio::time::Instant::now() + LOCK_TTL;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(LOCK_POLL).await;
            if let Some(entry) = self.get(key).await.filter(|e| usable(e)) {
                return Some(entry);
            }
            if !self.breaker.allow_peek() {
                return None;
            }
        }
        None
    }

    async fn call<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        self.guarded(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// The shared connection, taking one from the pool (or connecting to
    /// the cluster) when there is none.
    async fn connection(&self) -> Result<Connection, String> {
        if let Some(held) = self.shared.lock().expect("redis connection lock").as_ref() {
            return Ok(held.connection());
        }
        let held = match &self.source {
            Source::Pool(pool) => Held::Pooled(pool.get().await.map_err(|e| e.to_string())?),
            Source::Cluster(client) => Held::Cluster(
                client
                    .get_async_connection()
                    .await
                    .map_err(|e| e.to_string())?,
            ),
        };
        let conn = held.connection();
        *self.shared.lock().expect("redis connection lock") = Some(held);
        Ok(conn)
    }

    /// Runs one call on the shared connection under the breaker and timeout.
    async fn guarded<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allow() {
            self.stats.redis_skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let attempt = async {
            let conn = self.connection().await?;
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
        // The next call takes a connection the pool has checked.
        if let Some(Held::Pooled(conn)) = self.shared.lock().expect("redis connection lock").take()
        {
            drop(deadpool_redis::Connection::take(conn));
        }
        self.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
        self.breaker.failure();
        tracing::debug!("redis call failed: {why}");
        None
    }
}
