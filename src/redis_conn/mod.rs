//! How the crate talks to Redis (the L2 cache and the rate limits share
//! it): `--redis-url` parsed once into one server or a Redis Cluster, and
//! one [`Redis`] handle per process that both tiers call, so a server's
//! loss is noticed — and logged — once per process.
//!
//! - One server: `redis://host:port/db`: one [`node::Node`], a
//!   multiplexed connection behind its breaker. (The redis crate is built
//!   without its TLS features: a `rediss://` URL parses but cannot connect.)
//! - A cluster: its nodes' URLs separated by commas,
//!   `redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379`;
//!   [`cluster::Cluster`] reads the slot map from them, keeps one
//!   multiplexed connection and one breaker per master, and sends each
//!   call to its key's master ([`slot`]), following `MOVED` and `ASK`. List
//!   two or more nodes, so a start finds the cluster with one seed down.
//!
//! Every call names the one key it is routed by, and every key the service
//! writes is valid on a cluster: each command and script names one key,
//! and the one pipeline — a view's fill and the `DEL` of its fill lock —
//! names two keys that share a slot (the lock's hash tag is the view's key;
//! see [`crate::cache::key::CacheKey::redis_lock`]).
//!
//! Each call has the `--redis-timeout-ms` deadline, connecting included.
//! A call either answers, or fails with a [`Failure`]: skipped (its
//! server's breaker is open: at once), or failed (an error, a refusal, the
//! deadline); an error reply such as `CLUSTERDOWN` fails the call without
//! counting against the server, which answered.
//!
//! Connections set `TCP_NODELAY`: requests share one pipelined connection
//! per server, and with Nagle's algorithm a small command written while
//! another awaits its reply waits for an ACK — up to the peer's
//! delayed-ACK timer, milliseconds on a path that takes microseconds
//! (measured: a Redis hit's p50 at 3,000 req/s went from 1.85 ms to 0.47
//! ms with it).

pub mod cluster;
pub mod node;
pub mod slot;

use std::sync::Arc;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, FromRedisValue, IntoConnectionInfo};

use self::cluster::Cluster;
use self::node::Node;
pub use self::node::Request;
use crate::breaker::BreakerState;

/// What `--redis-url` names.
#[derive(Debug, Clone)]
pub enum Target {
    /// One server.
    Single(ConnectionInfo),
    /// A Redis Cluster, by the nodes to ask for its slot map.
    Cluster(Vec<ConnectionInfo>),
}

/// Parses `--redis-url`: one URL, or a cluster's node URLs separated by
/// commas.
pub fn target(url: &str) -> anyhow::Result<Target> {
    let mut nodes = url
        .split(',')
        .map(|node| connection_info(node.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(match nodes.len() {
        1 => Target::Single(nodes.remove(0)),
        _ => Target::Cluster(nodes),
    })
}

/// The connection settings of one server's URL, with `TCP_NODELAY` (the
/// benchmark's floor connects with them too).
pub fn connection_info(url: &str) -> anyhow::Result<ConnectionInfo> {
    let info = url
        .into_connection_info()
        .map_err(|e| anyhow::anyhow!("invalid --redis-url {url}: {e}"))?;
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    Ok(info.set_tcp_settings(tcp))
}

/// `template`'s settings (credentials, TLS, `TCP_NODELAY`) for the server
/// at `host:port`; `None` for a template that is not TCP.
fn node_info(template: &ConnectionInfo, host: &str, port: u16) -> Option<ConnectionInfo> {
    let mut addr = template.addr().clone();
    match &mut addr {
        ConnectionAddr::Tcp(h, p)
        | ConnectionAddr::TcpTls {
            host: h, port: p, ..
        } => {
            *h = host.to_string();
            *p = port;
        }
        _ => return None,
    }
    Some(template.clone().set_addr(addr))
}

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not sent: the key's server is unreachable (its breaker is open, or
    /// its cluster marks it failed).
    Skipped,
    /// Sent, or tried, and failed: why.
    Failed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Skipped => f.write_str("skipped: the server is unreachable"),
            Failure::Failed(why) => f.write_str(why),
        }
    }
}

/// Where calls go.
enum Servers {
    Single(Box<Node>),
    Cluster(Arc<Cluster>),
}

/// This process's Redis: one server or a cluster, shared by every call.
pub struct Redis {
    servers: Servers,
    timeout: Duration,
}

impl Redis {
    /// The Redis (or Redis Cluster) of `url`; connects on first use, so a
    /// Redis that is down at startup only opens a breaker. `timeout` bounds
    /// each call, connecting included.
    pub fn open(url: &str, timeout: Duration) -> anyhow::Result<Redis> {
        let invalid = |e: redis::RedisError| anyhow::anyhow!("invalid --redis-url {url}: {e}");
        let servers = match target(url)? {
            Target::Single(info) => {
                Servers::Single(Box::new(Node::new(info, timeout).map_err(invalid)?))
            }
            Target::Cluster(nodes) => {
                Servers::Cluster(Arc::new(Cluster::new(nodes, timeout).map_err(invalid)?))
            }
        };
        Ok(Redis { servers, timeout })
    }

    /// Sends `request`, whose keys all share `key`'s slot, and reads its
    /// reply (a pipeline's: the array of its replies) as a `T`.
    pub async fn call<T: FromRedisValue>(
        &self,
        key: &[u8],
        request: Request<'_>,
    ) -> Result<T, Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let value = match &self.servers {
            Servers::Single(node) => node.send(request, deadline).await?,
            Servers::Cluster(cluster) => cluster.send(key, request, deadline).await?,
        };
        let value = value
            .extract_error()
            .map_err(|e| Failure::Failed(e.to_string()))?;
        redis::from_redis_value(value).map_err(|e| Failure::Failed(e.to_string()))
    }

    /// The breaker's state; on a cluster, the most open of its masters'.
    pub fn state(&self) -> BreakerState {
        match &self.servers {
            Servers::Single(node) => node.state(),
            Servers::Cluster(cluster) => cluster.state(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_a_server_and_a_list_is_a_cluster() {
        assert!(matches!(
            target("redis://127.0.0.1:6379/").unwrap(),
            Target::Single(_)
        ));
        let Target::Cluster(nodes) =
            target("redis://10.0.0.1:7000, redis://10.0.0.2:7000,redis://10.0.0.3:7000").unwrap()
        else {
            panic!("not a cluster");
        };
        assert_eq!(nodes.len(), 3);
        assert!(nodes.iter().all(|n| n.tcp_settings().nodelay()));
        let err = target("redis://10.0.0.1:7000,nonsense").unwrap_err();
        assert!(err.to_string().starts_with("invalid --redis-url"), "{err}");
    }

    #[test]
    fn a_node_found_in_the_cluster_keeps_the_seeds_settings() {
        let seed = connection_info("redis://user:secret@10.0.0.1:7000/").unwrap();
        let node = node_info(&seed, "10.0.0.9", 7005).unwrap();
        assert_eq!(node.addr().to_string(), "10.0.0.9:7005");
        assert_eq!(node.redis_settings().password(), Some("secret"));
        assert_eq!(node.redis_settings().username(), Some("user"));
        assert!(node.tcp_settings().nodelay());
    }
}
