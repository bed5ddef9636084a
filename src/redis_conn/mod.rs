//! How the crate connects to Redis (the L2 cache and the rate limits share
//! it): `--redis-url` parsed once into either one server or a Redis
//! Cluster, with `TCP_NODELAY` on every connection, and a [`Connection`]
//! that is either, so the callers send the same commands to both.
//!
//! - One server: `redis://host:port/db` (or `rediss://` for TLS).
//! - A cluster: its nodes' URLs separated by commas,
//!   `redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379`
//!   (the list of seed URLs deadpool-redis's cluster configuration takes);
//!   the client asks them for the slot map and connects to every master,
//!   following `MOVED` and `ASK` as slots move. List two or more nodes, so
//!   a start finds the cluster with one seed down. A cluster connection is
//!   redis's own `cluster_async::ClusterConnection` (one multiplexed
//!   connection per master, commands routed by their key's slot): built
//!   here rather than through deadpool-redis's cluster pool, whose manager
//!   cannot set `TCP_NODELAY`.
//!
//! Every key the service writes is valid on a cluster: each command and
//! each script names one key, and the one pipeline of two keys (a view and
//! its fill lock) shares a hash tag, so both land on one master.
//!
//! Requests share one pipelined connection per process, and with Nagle's
//! algorithm a small command written while another awaits its reply waits
//! for an ACK — up to the peer's delayed-ACK timer, milliseconds on a path
//! that takes microseconds (measured: a Redis hit's p50 at 3,000 req/s
//! went from 1.85 ms to 0.47 ms with it).

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, Value};

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

/// A client of one server or of a cluster, that opens [`Connection`]s.
#[derive(Clone)]
pub enum Client {
    /// One server.
    Single(redis::Client),
    /// A cluster.
    Cluster(Box<ClusterClient>),
}

impl Client {
    /// A client of what `url` names; connects on first use. `timeout`
    /// bounds each connection attempt and each reply from a cluster node.
    pub fn open(url: &str, timeout: Duration) -> anyhow::Result<Client> {
        let invalid = |e: redis::RedisError| anyhow::anyhow!("invalid --redis-url {url}: {e}");
        Ok(match target(url)? {
            Target::Single(info) => Client::Single(redis::Client::open(info).map_err(invalid)?),
            Target::Cluster(nodes) => {
                Client::Cluster(Box::new(cluster_client(nodes, timeout).map_err(invalid)?))
            }
        })
    }

    /// A new connection (to every master, for a cluster).
    pub async fn connect(&self) -> redis::RedisResult<Connection> {
        Ok(match self {
            Client::Single(client) => {
                Connection::Single(client.get_multiplexed_async_connection().await?)
            }
            Client::Cluster(client) => Connection::Cluster(client.get_async_connection().await?),
        })
    }
}

/// A cluster client of `nodes`: `TCP_NODELAY` on every node's connection,
/// `timeout` on connecting and on each reply, and one retry at most (the
/// caller's own timeout and breaker take it from there).
pub fn cluster_client(
    nodes: Vec<ConnectionInfo>,
    timeout: Duration,
) -> redis::RedisResult<ClusterClient> {
    let tcp = redis::io::tcp::TcpSettings::default().set_nodelay(true);
    ClusterClientBuilder::new(nodes)
        .tcp_settings(tcp)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(1)
        .build()
}

/// A connection to one server or to a cluster: cheap to clone, every clone
/// pipelining on the same sockets.
#[derive(Clone)]
pub enum Connection {
    /// One multiplexed connection.
    Single(MultiplexedConnection),
    /// A multiplexed connection per master, commands routed by key slot.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
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
}
