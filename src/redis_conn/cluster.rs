//! A Redis Cluster, routed here rather than by the redis crate's
//! `cluster_async` client, whose one connection task pauses every command
//! — those to healthy masters too — while it refreshes the slot map, and
//! refreshes it and reconnects to a dead master on every failed command
//! (measured: 1,000 slot refreshes and 3,200 failed connects a second in one
//! process, 90% of reads missing with one master of three lost).
//!
//! - **Routing**: a key's slot ([`key_slot`]) names its master in the slot
//!   map; each master is a [`Node`] with its own multiplexed connection and
//!   its own breaker, so a lost master fails only its own slots' calls, fast,
//!   and the others' go on as before.
//! - **Redirections**: `MOVED` points the slot at the named node at once
//!   (and asks for a refresh); `ASK` sends `ASKING` and the request to the
//!   named node once. At most two redirections per call.
//! - **The slot map** comes from `CLUSTER NODES`, which also says which
//!   nodes the cluster marks failed: their calls fail fast without waiting
//!   for this process's own failures. It is read before the first call,
//!   then again only when a call fails, is skipped or is redirected — in a
//!   background task, never in front of a call — at most once per
//!   [`REFRESH_GAP`]: a process asks for the slot map at most 4 times a
//!   second, and only while something is wrong. Each refresh asks the
//!   reachable masters, then the seed nodes, one at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use redis::{ConnectionInfo, Value};
use tokio::time::Instant;

use super::node::{Node, Request};
use super::slot::{SLOTS, key_slot};
use super::{Failure, node_info};
use crate::breaker::BreakerState;

/// The shortest time between two refreshes of the slot map.
pub const REFRESH_GAP: Duration = Duration::from_millis(250);
/// Redirections one call follows at most.
const MAX_REDIRECTS: usize = 2;
/// A slot no master serves.
const NONE: u16 = u16::MAX;

/// Which master serves each slot.
struct SlotMap {
    /// Per slot, an index into `masters` (or [`NONE`]).
    owners: Box<[u16]>,
    masters: Vec<Arc<Node>>,
}

impl SlotMap {
    fn empty() -> SlotMap {
        SlotMap {
            owners: vec![NONE; SLOTS].into_boxed_slice(),
            masters: Vec::new(),
        }
    }

    fn owner(&self, slot: u16) -> Option<&Arc<Node>> {
        self.masters
            .get(usize::from(self.owners[usize::from(slot)]))
    }

    /// The masters with how many slots each serves, by address.
    fn summary(&self) -> Vec<(String, usize)> {
        let mut counts = vec![0usize; self.masters.len()];
        for &owner in self.owners.iter().filter(|&&o| o != NONE) {
            counts[usize::from(owner)] += 1;
        }
        let mut summary: Vec<(String, usize)> = self
            .masters
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(node, n)| (node.addr().to_string(), n))
            .collect();
        summary.sort();
        summary
    }

    /// A copy of the map with `slot` served by `node`.
    fn with_owner(&self, slot: u16, node: &Arc<Node>) -> SlotMap {
        let mut masters = self.masters.clone();
        let index = match masters.iter().position(|m| Arc::ptr_eq(m, node)) {
            Some(i) => i,
            None => {
                masters.push(Arc::clone(node));
                masters.len() - 1
            }
        };
        let mut owners = self.owners.clone();
        owners[usize::from(slot)] = index as u16;
        SlotMap { owners, masters }
    }
}

/// One line of `CLUSTER NODES`: a node, whether it is a master the cluster
/// marks failed, and the slots it serves.
#[derive(Debug, PartialEq)]
struct Line {
    addr: String,
    master: bool,
    failed: bool,
    slots: Vec<(u16, u16)>,
}

/// Parses `CLUSTER NODES` as `asked` answered it: a node that does not know
/// its own address yet (`:port`) is `asked`'s host. Lines of nodes without
/// an address or still in handshake are left out.
fn parse_nodes(text: &str, asked: &str) -> Vec<Line> {
    let asked_host = asked.rsplit_once(':').map_or(asked, |(host, _)| host);
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, flags) = (*fields.get(1)?, *fields.get(2)?);
            let flags: Vec<&str> = flags.split(',').collect();
            if flags.iter().any(|f| ["noaddr", "handshake"].contains(f)) {
                return None;
            }
            let hostport = address.split(['@', ',']).next()?;
            let (host, port) = hostport.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            let host = if host.is_empty() { asked_host } else { host };
            let slots = fields
                .iter()
                .skip(8)
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| {
                    let (from, to) = s.split_once('-').unwrap_or((s, s));
                    Some((from.parse().ok()?, to.parse().ok()?))
                })
                .filter(|&(from, to): &(u16, u16)| from <= to && usize::from(to) < SLOTS)
                .collect();
            Some(Line {
                addr: format!("{host}:{port}"),
                master: flags.contains(&"master"),
                failed: flags.contains(&"fail"),
                slots,
            })
        })
        .collect()
}

/// A Redis Cluster as one process routes to it.
pub struct Cluster {
    /// The settings each node's connection copies (credentials, TLS,
    /// `TCP_NODELAY`): the first seed's.
    template: ConnectionInfo,
    /// The nodes `--redis-url` names, asked for the slot map when no
    /// master answers.
    seeds: Vec<String>,
    timeout: Duration,
    /// Every node met so far, by address, so a node keeps its connection
    /// and breaker across refreshes.
    nodes: Mutex<HashMap<String, Arc<Node>>>,
    map: RwLock<Arc<SlotMap>>,
    /// When the next refresh may start, in ms since `epoch`.
    next_refresh: AtomicU64,
    epoch: std::time::Instant,
    /// Held by the refresh in progress.
    refreshing: tokio::sync::Mutex<()>,
}

impl Cluster {
    /// A cluster found through `seeds`; reads its slot map on first use.
    /// `timeout` bounds each connection attempt and each call.
    pub fn new(seeds: Vec<ConnectionInfo>, timeout: Duration) -> redis::RedisResult<Cluster> {
        let template = seeds.first().cloned().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no cluster nodes"))
        })?;
        let mut nodes = HashMap::new();
        let mut addrs = Vec::new();
        for info in seeds {
            let addr = info.addr().to_string();
            nodes.insert(addr.clone(), Arc::new(Node::new(info, timeout)?));
            addrs.push(addr);
        }
        Ok(Cluster {
            template,
            seeds: addrs,
            timeout,
            nodes: Mutex::new(nodes),
            map: RwLock::new(Arc::new(SlotMap::empty())),
            next_refresh: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// The most open breaker among the masters: `Open` while any master
    /// is out.
    pub fn state(&self) -> BreakerState {
        let map = Arc::clone(&self.map.read().expect("slot map lock"));
        let states = map.masters.iter().map(|m| m.state());
        states
            .max_by_key(|s| match s {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            })
            .unwrap_or(BreakerState::Closed)
    }

    /// Sends `request` to the master of `key`'s slot by `deadline`,
    /// following redirections.
    pub async fn send(
        self: &Arc<Self>,
        key: &[u8],
        request: Request<'_>,
        deadline: Instant,
    ) -> Result<Value, Failure> {
        let slot = key_slot(key);
        let mut node = match self.owner(slot) {
            Some(node) => node,
            None => {
                self.load(deadline).await;
                self.owner(slot).ok_or_else(|| {
                    self.refresh_soon();
                    Failure::Failed(format!("no master known for slot {slot}"))
                })?
            }
        };
        let mut asking = None;
        for _ in 0..=MAX_REDIRECTS {
            let sent = match &asking {
                Some(pipe) => node.send(Request::Pipeline(pipe), deadline).await,
                None => node.send(request, deadline).await,
            };
            let value = match sent {
                Ok(value) => value,
                Err(failure) => {
                    self.refresh_soon();
                    return Err(failure);
                }
            };
            let value = match asking.take() {
                Some(_) => after_asking(value, request),
                None => value,
            };
            match redirection(&value) {
                None => return Ok(value),
                Some((Redirect::Moved, to)) => {
                    node = self.node_at(to).ok_or_else(|| bad_redirect(to))?;
                    self.set_owner(slot, &node);
                    self.refresh_soon();
                }
                Some((Redirect::Ask, to)) => {
                    node = self.node_at(to).ok_or_else(|| bad_redirect(to))?;
                    asking = Some(asking_pipeline(request));
                }
            }
        }
        Err(Failure::Failed(format!(
            "slot {slot}: more than {MAX_REDIRECTS} redirections"
        )))
    }

    fn owner(&self, slot: u16) -> Option<Arc<Node>> {
        self.map.read().expect("slot map lock").owner(slot).cloned()
    }

    fn set_owner(&self, slot: u16, node: &Arc<Node>) {
        let mut map = self.map.write().expect("slot map lock");
        if !map.owner(slot).is_some_and(|o| Arc::ptr_eq(o, node)) {
            *map = Arc::new(map.with_owner(slot, node));
        }
    }

    /// The node at `addr` (`host:port`), made on first mention.
    fn node_at(&self, addr: &str) -> Option<Arc<Node>> {
        let mut nodes = self.nodes.lock().expect("cluster nodes lock");
        if let Some(node) = nodes.get(addr) {
            return Some(Arc::clone(node));
        }
        let (host, port) = addr.rsplit_once(':')?;
        let info = node_info(&self.template, host, port.parse().ok()?)?;
        let node = Arc::new(Node::new(info, self.timeout).ok()?);
        nodes.insert(addr.to_string(), Arc::clone(&node));
        Some(node)
    }

    /// The first slot map: read now, by this call or the one already
    /// reading it, within `deadline`.
    async fn load(&self, deadline: Instant) {
        let Ok(_turn) = tokio::time::timeout_at(deadline, self.refreshing.lock()).await else {
            return;
        };
        if self.map.read().expect("slot map lock").masters.is_empty() {
            let _ = tokio::time::timeout_at(deadline, self.refresh()).await;
        }
    }

    /// Reads the slot map again in the background, unless a refresh began
    /// less than [`REFRESH_GAP`] ago.
    fn refresh_soon(self: &Arc<Self>) {
        let now = self.epoch.elapsed().as_millis() as u64;
        let next = self.next_refresh.load(Ordering::Relaxed);
        let gap = REFRESH_GAP.as_millis() as u64;
        if now < next
            || self
                .next_refresh
                .compare_exchange(next, now + gap, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let cluster = Arc::clone(self);
        tokio::spawn(async move {
            let _turn = cluster.refreshing.lock().await;
            cluster.refresh().await;
        });
    }

    /// Asks the reachable masters, then the seeds, for `CLUSTER NODES`
    /// until one answers, and takes its slot map and failure marks.
    async fn refresh(&self) {
        let masters = self.map.read().expect("slot map lock").masters.clone();
        let mut asked: Vec<Arc<Node>> = Vec::new();
        let seeds: Vec<Arc<Node>> = self.seeds.iter().filter_map(|a| self.node_at(a)).collect();
        let candidates = masters.into_iter().filter(|m| m.available()).chain(seeds);
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("NODES");
        for node in candidates {
            if asked.iter().any(|a| Arc::ptr_eq(a, &node)) {
                continue;
            }
            asked.push(Arc::clone(&node));
            let answer = node
                .send(Request::Cmd(&cmd), Instant::now() + self.timeout)
                .await;
            let Ok(text) = answer.map(redis::from_redis_value::<String>) else {
                continue;
            };
            let Ok(text) = text else {
                continue;
            };
            let lines = parse_nodes(&text, node.addr());
            if lines.iter().any(|l| l.master && !l.slots.is_empty()) {
                self.apply(&lines);
                return;
            }
        }
        tracing::debug!("redis cluster: no node answered CLUSTER NODES");
    }

    /// Takes the slot map and failure marks of `lines`; says so when the
    /// masters changed.
    fn apply(&self, lines: &[Line]) {
        let mut next = SlotMap::empty();
        for line in lines {
            let known = self
                .nodes
                .lock()
                .expect("cluster nodes lock")
                .get(&line.addr)
                .cloned();
            let node = match known {
                Some(node) => node,
                None if line.master && !line.slots.is_empty() => match self.node_at(&line.addr) {
                    Some(node) => node,
                    None => continue,
                },
                None => continue,
            };
            node.mark_failed(line.failed);
            if !line.master || line.slots.is_empty() {
                continue;
            }
            let index = next.masters.len() as u16;
            next.masters.push(node);
            for &(from, to) in &line.slots {
                next.owners[usize::from(from)..=usize::from(to)].fill(index);
            }
        }
        let summary = next.summary();
        let previous = std::mem::replace(
            &mut *self.map.write().expect("slot map lock"),
            Arc::new(next),
        );
        let before = previous.summary();
        if summary != before {
            let list = |s: &[(String, usize)]| {
                s.iter()
                    .map(|(addr, n)| format!("{addr} ({n} slots)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let uncovered = SLOTS - summary.iter().map(|(_, n)| n).sum::<usize>();
            if before.is_empty() {
                tracing::info!("redis cluster: masters {}", list(&summary));
            } else {
                tracing::info!(
                    "redis cluster: masters now {} (were {}){}",
                    list(&summary),
                    list(&before),
                    match uncovered {
                        0 => String::new(),
                        n => format!("; {n} slots served by none"),
                    }
                );
            }
        }
    }
}

/// How a node turned a request away.
#[derive(Debug, PartialEq)]
enum Redirect {
    /// The slot lives elsewhere now.
    Moved,
    /// The slot is moving: ask the other node this once.
    Ask,
}

/// The redirection in `value` (a reply, or a pipeline's replies), with the
/// address it names.
fn redirection(value: &Value) -> Option<(Redirect, &str)> {
    let error = match value {
        Value::ServerError(e) => e,
        Value::Array(values) => values.iter().find_map(|v| match v {
            Value::ServerError(e) if matches!(e.code(), "MOVED" | "ASK") => Some(e),
            _ => None,
        })?,
        _ => return None,
    };
    let kind = match error.code() {
        "MOVED" => Redirect::Moved,
        "ASK" => Redirect::Ask,
        _ => return None,
    };
    // "<slot> <host>:<port>"
    let to = error.details()?.split_whitespace().nth(1)?;
    Some((kind, to))
}

fn bad_redirect(to: &str) -> Failure {
    Failure::Failed(format!("redirected to an unusable address {to:?}"))
}

/// `ASKING` and then `request`, in one write.
fn asking_pipeline(request: Request<'_>) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("ASKING");
    match request {
        Request::Cmd(cmd) => {
            pipe.add_command(cmd.clone());
        }
        Request::Pipeline(inner) => {
            for cmd in inner.cmd_iter() {
                pipe.add_command(cmd.clone());
            }
        }
    }
    pipe
}

/// The reply to `request` within the reply to its [`asking_pipeline`].
fn after_asking(value: Value, request: Request<'_>) -> Value {
    match (value, request) {
        (Value::Array(mut values), Request::Cmd(_)) if values.len() == 2 => values.remove(1),
        (Value::Array(mut values), Request::Pipeline(_)) if !values.is_empty() => {
            values.remove(0);
            Value::Array(values)
        }
        (other, _) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_give_masters_slots_and_failure_marks() {
        let text = "\
07c37dfeb235 127.0.0.1:30004@31004,host4 slave e7d1eecce10f 0 1426238317239 4 connected
67ed2db8d677 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922 [5461->-292f8b365bb7]
292f8b365bb7 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383 42
e7d1eecce10f :30001@31001 myself,master,fail - 1426238316232 1426238315000 1 disconnected 0-5460
a1b2c3d4e5f6 :0@0 master,noaddr - 1426238316232 1426238315000 7 disconnected
";
        let lines = parse_nodes(text, "10.0.0.1:30001");
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(
            lines[0],
            Line {
                addr: "127.0.0.1:30004".into(),
                master: false,
                failed: false,
                slots: vec![],
            }
        );
        assert_eq!(
            lines[1].slots,
            vec![(5461, 10922)],
            "a migration is no range"
        );
        assert_eq!(lines[2].slots, vec![(10923, 16383), (42, 42)]);
        assert_eq!(
            lines[3],
            Line {
                addr: "10.0.0.1:30001".into(),
                master: true,
                failed: true,
                slots: vec![(0, 5460)],
            },
            "a node without its own address is the one asked"
        );
    }

    #[test]
    fn redirections_name_their_node() {
        let reply = |raw: &str| redis::parse_redis_value(raw.as_bytes()).unwrap();
        let moved = reply("-MOVED 3999 127.0.0.1:6381\r\n");
        assert_eq!(
            redirection(&moved),
            Some((Redirect::Moved, "127.0.0.1:6381"))
        );
        let ask = reply("-ASK 3999 127.0.0.1:6382\r\n");
        assert_eq!(redirection(&ask), Some((Redirect::Ask, "127.0.0.1:6382")));
        let piped = reply("*2\r\n-MOVED 12 10.0.0.2:7000\r\n:1\r\n");
        assert_eq!(
            redirection(&piped),
            Some((Redirect::Moved, "10.0.0.2:7000"))
        );
        assert_eq!(
            redirection(&reply("-CLUSTERDOWN The cluster is down\r\n")),
            None
        );
        assert_eq!(redirection(&reply("$2\r\nok\r\n")), None);
        let answered = reply("*2\r\n+OK\r\n$2\r\nhi\r\n");
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg("k");
        let cmd = redis::cmd("GET");
        assert_eq!(
            after_asking(answered.clone(), Request::Cmd(&cmd)),
            Value::BulkString(b"hi".to_vec())
        );
        assert_eq!(
            after_asking(answered, Request::Pipeline(&pipe)),
            Value::Array(vec![Value::BulkString(b"hi".to_vec())])
        );
    }
}
