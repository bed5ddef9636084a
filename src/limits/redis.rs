//! The buckets of every host, in Redis: one key per client and class,
//! `reviews:rl:{class}:{client}`, holding its GCRA timestamp and expiring
//! once the bucket is full again. One `EVAL` per check runs the whole
//! check-and-take on Redis's own clock, so hosts with skewed clocks agree;
//! the script names its one key in `KEYS`, so on a Redis Cluster it runs on
//! that key's master.
//! Every call has the Redis timeout and goes through a breaker: a Redis
//! that is down costs one timeout per cooldown, and the caller falls back
//! to its port's own buckets.

use std::sync::Mutex;
use std::time::Duration;

use super::{Class, ClientKey, Decision, Rate};
use crate::breaker::Breaker;
use crate::redis_conn::{Client, Connection};

/// The check: takes a token or answers the milliseconds until one is back.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then return tat - now - tolerance end
redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now)
return 0
";

/// Failures in a row that open the breaker.
const BREAKER_THRESHOLD: u32 = 3;
/// How long the breaker stays open before one call probes.
const BREAKER_COOLDOWN: Duration = Duration::from_secs(1);

/// Rate limits kept in Redis.
pub struct RedisLimits {
    client: Client,
    connection: Mutex<Option<Connection>>,
    breaker: Breaker,
    timeout: Duration,
}

impl RedisLimits {
    /// Limits in the Redis (or Redis Cluster) at `url`; connects on first
    /// use.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<RedisLimits> {
        let client = Client::open(url, timeout)?;
        Ok(RedisLimits {
            client,
            connection: Mutex::new(None),
            breaker: Breaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN),
            timeout,
        })
    }

    /// Redis's decision, or `None` when Redis cannot give one now.
    pub async fn check(&self, class: Class, client: ClientKey, rate: Rate) -> Option<Decision> {
        if !self.breaker.allow() {
            return None;
        }
        let key = format!("reviews:rl:{}:{:016x}", class.name(), client.id());
        let call = async {
            let mut conn = self.connection().await?;
            redis::cmd("EVAL")
                .arg(SCRIPT)
                .arg(1)
                .arg(key)
                .arg(rate.interval_ms())
                .arg(rate.tolerance_ms())
                .query_async::<u64>(&mut conn)
                .await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(wait)) => {
                self.breaker.success();
                Some(match wait {
                    0 => Decision::Allowed,
                    ms => Decision::Limited(Duration::from_millis(ms)),
                })
            }
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("timed out"),
        }
    }

    async fn connection(&self) -> redis::RedisResult<Connection> {
        if let Some(conn) = self
            .connection
            .lock()
            .expect("limits connection lock")
            .as_ref()
        {
            return Ok(conn.clone());
        }
        let conn = self.client.connect().await?;
        *self.connection.lock().expect("limits connection lock") = Some(conn.clone());
        Ok(conn)
    }

    fn failed(&self, why: &str) -> Option<Decision> {
        // The next call connects afresh.
        self.connection
            .lock()
            .expect("limits connection lock")
            .take();
        self.breaker.failure();
        tracing::debug!("redis rate limit check failed ({why}): this port's limits apply");
        None
    }
}
