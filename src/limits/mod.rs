//! Per-client rate limits on writes: token buckets, one per client and
//! class of write ([`Class`]), kept as GCRA ("generic cell rate
//! algorithm") timestamps, which behave exactly like token buckets but
//! need one number per client.
//!
//! - [`table`]: the buckets of one port, in memory every worker of the port
//!   shares ([`crate::metrics::Region`]), updated lock-free: the limit holds
//!   for the whole port, not once per worker;
//! - [`redis`]: the buckets of every host, in Redis (one Lua script per
//!   check, on Redis's clock), when `--redis-url` is set.
//!
//! With Redis configured, Redis decides; when it fails, times out or its
//! breaker is open, the port's own table decides instead (per-host limits),
//! so writes never fail because Redis does. Reads are never limited.

pub mod redis;
pub mod table;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use self::redis::RedisLimits;
use crate::hash::{fold, mix};

/// The writes a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `POST /reviews/:product_id`.
    Posts,
    /// `PUT /reviews/:review_id/helpful` and `/report`.
    Votes,
}

impl Class {
    /// The class's name in Redis keys and messages.
    pub fn name(self) -> &'static str {
        match self {
            Class::Posts => "posts",
            Class::Votes => "votes",
        }
    }
}

/// A token bucket: `burst` tokens, one more every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests a client may make at once.
    pub burst: u32,
    /// How long one token takes to come back.
    pub interval: Duration,
}

impl Rate {
    /// `burst` at once and `per_minute` a minute after that; `None` (no
    /// limit) when either is 0.
    pub fn per_minute(burst: u32, per_minute: u32) -> Option<Rate> {
        (burst > 0 && per_minute > 0).then(|| Rate {
            burst,
            interval: Duration::from_millis((60_000 / u64::from(per_minute)).max(1)),
        })
    }

    /// The interval in milliseconds (at least 1).
    pub fn interval_ms(self) -> u64 {
        (self.interval.as_millis() as u64).max(1)
    }

    /// How far ahead of now a client's timestamp may run: `burst - 1`
    /// intervals (GCRA's tolerance).
    pub fn tolerance_ms(self) -> u64 {
        self.interval_ms() * u64::from(self.burst.saturating_sub(1))
    }
}

/// What a check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may go ahead (a token was taken).
    Allowed,
    /// Too many: the next token comes in this long.
    Limited(Duration),
}

/// Who a client is, for the limits and for one vote per review: the
/// client's address, IPv6 cut to its /64 (one household or host usually
/// holds a whole /64, and can pick any address in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(u64);

impl ClientKey {
    /// The key of a client at `ip`.
    pub fn of(ip: IpAddr) -> ClientKey {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        let h = match ip {
            IpAddr::V4(v4) => fold(4, u64::from(u32::from(v4))),
            IpAddr::V6(v6) => fold(6, (u128::from(v6) >> 64) as u64),
        };
        ClientKey(mix(h))
    }

    /// The key as a number (a hash of the address).
    pub fn id(self) -> u64 {
        self.0
    }
}

/// The limits of one process, over its port's shared buckets and,
/// optionally, Redis.
pub struct Limiter {
    posts: Option<Rate>,
    votes: Option<Rate>,
    buckets: Arc<dyn AsRef<[AtomicU64]> + Send + Sync>,
    redis: Option<RedisLimits>,
}

impl Limiter {
    /// Limits of `posts` and `votes` (`None`: unlimited) over `buckets`,
    /// across hosts through `redis` when given.
    pub fn new(
        posts: Option<Rate>,
        votes: Option<Rate>,
        buckets: Arc<dyn AsRef<[AtomicU64]> + Send + Sync>,
        redis: Option<RedisLimits>,
    ) -> Limiter {
        Limiter {
            posts,
            votes,
            buckets,
            redis,
        }
    }

    /// No limits at all.
    pub fn unlimited() -> Limiter {
        Limiter::new(None, None, Arc::new(Vec::<AtomicU64>::new()), None)
    }

    /// The rate of `class`, if it is limited.
    pub fn rate(&self, class: Class) -> Option<Rate> {
        match class {
            Class::Posts => self.posts,
            Class::Votes => self.votes,
        }
    }

    /// Takes a token of `class` for `client`, or says when the next comes.
    pub async fn check(&self, class: Class, client: ClientKey) -> Decision {
        let Some(rate) = self.rate(class) else {
            return Decision::Allowed;
        };
        if let Some(redis) = &self.redis
            && let Some(decision) = redis.check(class, client, rate).await
        {
            return decision;
        }
        let key = mix(fold(client.id(), class as u64 + 1));
        let buckets = (*self.buckets).as_ref();
        match table::admit(buckets, key, crate::clock::now_ms(), rate) {
            Ok(()) => Decision::Allowed,
            Err(wait_ms) => Decision::Limited(Duration::from_millis(wait_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_client_keys() {
        assert_eq!(Rate::per_minute(0, 10), None);
        assert_eq!(Rate::per_minute(5, 0), None);
        let rate = Rate::per_minute(5, 2).unwrap();
        assert_eq!((rate.interval_ms(), rate.tolerance_ms()), (30_000, 120_000));
        let v6 = |s: &str| ClientKey::of(s.parse().unwrap());
        assert_eq!(v6("2001:db8::1"), v6("2001:db8::ffff:1"), "one /64");
        assert_ne!(v6("2001:db8::1"), v6("2001:db8:0:1::1"));
        assert_eq!(v6("::ffff:10.0.0.1"), v6("10.0.0.1"), "mapped IPv4");
        assert_ne!(v6("10.0.0.1"), v6("10.0.0.2"));
    }
}
