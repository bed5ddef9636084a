//! A real `redis-server`, started and stopped by the test that owns it, and
//! a real Redis Cluster made of several: three masters, alone or each with
//! a replica.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A real `redis-server` on a free loopback port, owned by one test.
pub struct RedisServer {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
    /// Arguments besides the port, the address and no persistence.
    extra: Vec<String>,
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts `redis-server` (no persistence) and waits until it answers.
    pub fn start() -> RedisServer {
        RedisServer::start_with(Vec::new())
    }

    /// As [`RedisServer::start`], with `extra` arguments.
    fn start_with(extra: Vec<String>) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            extra,
        };
        server.restart();
        server
    }

    /// The URL the service is given.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections hang, as with a stuck Redis.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Thaws a paused server (SIGCONT), its data intact.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(&self.extra)
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for these tests (scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes a snapshot to disk (`SAVE`): a restart then loads it, as a
    /// Redis restored from a backup would.
    pub fn snapshot(&self) {
        assert_eq!(self.command(&["SAVE"]).as_deref(), Some("+OK"));
    }

    /// Keys matching `pattern` (`KEYS`), counted.
    pub fn count_keys(&self, pattern: &str) -> usize {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(format!("KEYS {pattern}\r\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line.trim_end().trim_start_matches('*').parse().unwrap()
    }

    /// The number of keys matching `pattern` once it is `want`, or after 5
    /// s of asking: a view goes to Redis in the background after its
    /// answer is sent, so a test reading Redis right after a miss may be
    /// ahead of it.
    pub async fn count_keys_when(&self, pattern: &str, want: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let n = self.count_keys(pattern);
            if n == want || std::time::Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends one inline command and returns the first reply line.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream
            .write_all(format!("{}\r\n", args.join(" ")).as_bytes())
            .ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).ok()?;
        Some(line.trim_end().to_string())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real Redis Cluster of three masters, alone or each with a replica:
/// `redis-server --cluster-enabled yes` on free ports, each in its own temp
/// dir, joined by `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three masters and no replicas (16,384 slots split three ways), up
    /// when every node says the cluster is ok. A node that stops answering
    /// is marked failed after one second; with a master lost, the cluster
    /// refuses every command (`cluster-require-full-coverage yes`).
    pub fn start() -> RedisCluster {
        RedisCluster::create(3, 0, &["--cluster-node-timeout", "1000"])
    }

    /// Three masters each with a replica, as this service's deployment
    /// advice has it (`deploy/README.md`): a master that stops answering is
    /// marked failed after `cluster-node-timeout` 2000 ms, then its replica
    /// takes its slots; meanwhile the other masters go on serving theirs
    /// (`cluster-require-full-coverage no`). Up when every node says the
    /// cluster is ok and every replica is in sync with its master.
    pub fn start_with_replicas() -> RedisCluster {
        let cluster = RedisCluster::create(
            6,
            1,
            &[
                "--cluster-node-timeout",
                "2000",
                "--cluster-require-full-coverage",
                "no",
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster.live().all(|n| {
            let info = n.info("replication");
            info.contains("role:master") || info.contains("master_link_status:up")
        }) || cluster.masters().len() != 3
        {
            assert!(Instant::now() < deadline, "the replicas did not sync");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// `count` nodes with `extra` arguments, `replicas` per master.
    fn create(count: usize, replicas: usize, extra: &[&str]) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..count)
            .map(|_| {
                let mut args: Vec<String> = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-port",
                    &free_port().to_string(),
                ]
                .map(String::from)
                .to_vec();
                args.extend(extra.iter().map(|a| a.to_string()));
                RedisServer::start_with(args)
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed for these tests (scripts/test.sh installs redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster
            .live()
            .all(|n| n.cluster_state().as_deref() == Some("ok"))
        {
            assert!(Instant::now() < deadline, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// The live nodes that say they are masters, by index.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].child.is_some()
                    && self.nodes[i].info("replication").contains("role:master")
            })
            .collect()
    }

    /// `CLUSTER NODES` as the first live node sees it.
    pub fn nodes_view(&self) -> String {
        let node = self.live().next().expect("a live node");
        redis_cli(node.port, &["cluster", "nodes"])
    }

    /// What `--redis-url` is given: every node's URL, comma-separated.
    pub fn url(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(RedisServer::url).collect();
        urls.join(",")
    }

    /// The nodes still running.
    pub fn live(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes.iter().filter(|n| n.child.is_some())
    }

    /// Keys matching `pattern` on each node, in node order (0 for a dead one).
    pub fn keys_per_node(&self, pattern: &str) -> Vec<usize> {
        self.nodes
            .iter()
            .map(|n| {
                if n.child.is_some() {
                    n.count_keys(pattern)
                } else {
                    0
                }
            })
            .collect()
    }

    /// Waits until the live nodes say the cluster has failed (a master is
    /// lost and no replica takes its slots).
    pub fn wait_failed(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .live()
            .all(|n| n.cluster_state().as_deref() == Some("fail"))
        {
            assert!(
                Instant::now() < deadline,
                "the cluster never noticed the loss"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Moves every slot of node `from` to node `to`, keys and all
    /// (`redis-cli --cluster reshard`), as an operator rebalancing does.
    pub fn move_slots(&self, from: usize, to: usize) {
        let id = |i: usize| {
            redis_cli(self.nodes[i].port, &["cluster", "myid"])
                .trim()
                .to_string()
        };
        let owned: usize = redis_cli(self.nodes[from].port, &["cluster", "nodes"])
            .lines()
            .find(|l| l.contains("myself"))
            .map(|l| {
                l.split_whitespace()
                    .skip(8)
                    .filter_map(|r| {
                        let (a, b) = r.split_once('-').unwrap_or((r, r));
                        Some(b.parse::<usize>().ok()? - a.parse::<usize>().ok()? + 1)
                    })
                    .sum()
            })
            .unwrap_or(0);
        let out = Command::new("redis-cli")
            .args([
                "--cluster",
                "reshard",
                &format!("127.0.0.1:{}", self.nodes[from].port),
            ])
            .args(["--cluster-from", &id(from), "--cluster-to", &id(to)])
            .args(["--cluster-slots", &owned.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli --cluster reshard: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The ports of the live nodes.
    pub fn live_ports(&self) -> Vec<u16> {
        self.live().map(|n| n.port).collect()
    }

    /// Commands processed by every live node (`INFO stats`), summed.
    pub fn commands_processed(&self) -> u64 {
        self.live().map(RedisServer::commands_processed).sum()
    }
}

/// What `redis-cli -p port args…` prints (empty when it cannot run).
fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

impl RedisServer {
    /// `cluster_state` from `CLUSTER INFO`.
    fn cluster_state(&self) -> Option<String> {
        let text = redis_cli(self.port, &["cluster", "info"]);
        let line = text.lines().find(|l| l.starts_with("cluster_state:"))?;
        Some(line.trim_start_matches("cluster_state:").trim().to_string())
    }

    /// A section of `INFO`, as text.
    pub fn info(&self, section: &str) -> String {
        redis_cli(self.port, &["info", section])
    }

    /// The keys matching `pattern` (`KEYS`), by name.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        redis_cli(self.port, &["keys", pattern])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `total_commands_processed` from `INFO stats`.
    pub fn commands_processed(&self) -> u64 {
        self.info("stats")
            .lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// When a lost master's failover happened, as the cluster told it.
#[derive(Debug, Clone, Copy)]
pub struct Failover {
    /// The cluster agreed the master had failed (its `fail` flag).
    pub failed: Instant,
    /// Its replica took its slots.
    pub promoted: Instant,
}

/// Watches `CLUSTER NODES` on the nodes at `ports` (polling every 20 ms)
/// until the master at `127.0.0.1:<victim>` is flagged failed and then
/// serves no slot any more, at most `within`.
pub fn watch_failover(ports: &[u16], victim: u16, within: Duration) -> Failover {
    let deadline = Instant::now() + within;
    let name = format!("127.0.0.1:{victim}@");
    let mut failed = None;
    loop {
        let view = ports
            .iter()
            .map(|&p| redis_cli(p, &["cluster", "nodes"]))
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        if let Some(line) = view.lines().find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.starts_with(&name))
        }) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if failed.is_none() && fields[2].split(',').any(|f| f == "fail") {
                failed = Some(Instant::now());
            }
            if let Some(failed) = failed
                && fields.len() <= 8
            {
                return Failover {
                    failed,
                    promoted: Instant::now(),
                };
            }
        }
        assert!(
            Instant::now() < deadline,
            "no failover of :{victim} within {within:?}: {view}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
