//! The buckets of every host, in Redis: one key per client and class,
//! `reviews:rl:{class}:{client}`, holding its GCRA timestamp and expiring
//! once the bucket is full again. One `EVAL` per check runs the whole
//! check-and-take on Redis's own clock, so hosts with skewed clocks agree;
//! the script names its one key in `KEYS`, so on a Redis Cluster it runs on
//! that key's master.
//! Calls go through the process's shared [`Redis`] handle: each has the
//! Redis timeout and its server's breaker (on a cluster, the bucket's
//! master's), so a Redis that is down costs a few timeouts per cooldown,
//! and the caller falls back to its port's own buckets.

use std::sync::Arc;
use std::time::Duration;

use super::{Class, ClientKey, Decision, Rate};
use crate::redis_conn::{Redis, Request};

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

/// Rate limits kept in Redis.
pub struct RedisLimits {
    redis: Arc<Redis>,
}

impl RedisLimits {
    /// Limits in `redis` (one server or a cluster).
    pub fn new(redis: Arc<Redis>) -> RedisLimits {
        RedisLimits { redis }
    }

    /// Redis's decision, or `None` when Redis cannot give one now.
    pub async fn check(&self, class: Class, client: ClientKey, rate: Rate) -> Option<Decision> {
        let key = format!("reviews:rl:{}:{:016x}", class.name(), client.id());
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT)
            .arg(1)
            .arg(&key)
            .arg(rate.interval_ms())
            .arg(rate.tolerance_ms());
        match self
            .redis
            .call::<u64>(key.as_bytes(), Request::Cmd(&cmd))
            .await
        {
            Ok(0) => Some(Decision::Allowed),
            Ok(ms) => Some(Decision::Limited(Duration::from_millis(ms))),
            Err(why) => {
                tracing::debug!("redis rate limit check failed ({why}): this port's limits apply");
                None
            }
        }
    }
}
