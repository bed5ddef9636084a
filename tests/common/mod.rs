//! The one integration-test harness: starts the real application on port 0
//! with a temp data dir, and talks to it over real HTTP/1.1.

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reviews::cache::StatsSnapshot;
use reviews::config::Config;
use reviews::generate::{DataSet, Generator, Scalars};
use reviews::http::App;
use reviews::model::{Meta, NewReview, Page, PageQuery};
use reviews::seeding::{LoadOptions, Silent};
use reviews::startup::{Application, DEMO_SEED};
use reviews::store::embedded::{EmbeddedStore, Fingerprint};
use reviews::store::{Changes, Store, StoreError};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Reviews in the data set most tests run against.
pub const RECORDS: u64 = 20_000;

/// How a [`TestApp`] is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Demo reviews seeded into the temp store.
    pub records: u64,
    /// L1 budget in MB (0 = off).
    pub l1_mb: u64,
    /// Redis URL of the L2 cache.
    pub redis_url: Option<String>,
    /// Cache TTL in seconds.
    pub ttl: u64,
    /// Requests in flight before load is shed.
    pub max_in_flight: u64,
}

impl Options {
    /// L1 off, Redis at `url`: every read goes through Redis.
    pub fn redis_only(url: String) -> Options {
        Options {
            l1_mb: 0,
            redis_url: Some(url),
            ..Options::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            records: RECORDS,
            l1_mb: 16,
            redis_url: None,
            ttl: 300,
            max_in_flight: 1024,
        }
    }
}

/// The real embedded store behind switches that inject faults: every call
/// fails, as a store that went down would, or answers slowly, as a remote
/// store under load does.
pub struct Faulty {
    inner: EmbeddedStore,
    failing: AtomicBool,
    delay_ms: AtomicU64,
}

impl Faulty {
    /// Makes the store fail (`true`) or answer again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Delays every answer by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    async fn check(&self) -> Result<(), StoreError> {
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("injected fault: store down".into()))
        } else {
            Ok(())
        }
    }
}

impl Store for Faulty {
    async fn page(&self, query: PageQuery) -> Result<Option<Page>, StoreError> {
        self.check().await?;
        self.inner.page(query).await
    }

    async fn meta(&self, product_id: u64) -> Result<Option<Meta>, StoreError> {
        self.check().await?;
        self.inner.meta(product_id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.ping().await
    }

    async fn add_review(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> Result<Option<u64>, StoreError> {
        self.check().await?;
        self.inner.add_review(product_id, review).await
    }

    async fn vote_helpful(&self, review_id: u64) -> Result<Option<u64>, StoreError> {
        self.check().await?;
        self.inner.vote_helpful(review_id).await
    }

    async fn report(&self, review_id: u64) -> Result<Option<u64>, StoreError> {
        self.check().await?;
        self.inner.report(review_id).await
    }

    async fn changes_since(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        self.inner.changes_since(cursor).await
    }
}

impl Faulty {
    /// A digest of everything the store holds.
    pub fn fingerprint(&self) -> Fingerprint {
        self.inner.fingerprint().expect("fingerprint")
    }
}

/// A running application over a temp store seeded with the demo data set.
pub struct TestApp {
    pub addr: SocketAddr,
    pub set: DataSet,
    pub dir: TempDir,
    pub app: Arc<App<Faulty>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// The demo data set of `RECORDS` reviews, L1 on, no Redis.
    pub async fn spawn() -> TestApp {
        Self::start(Options::default()).await
    }

    /// As [`TestApp::spawn`], with `records` demo reviews.
    pub async fn spawn_with(records: u64) -> TestApp {
        Self::start(Options {
            records,
            ..Options::default()
        })
        .await
    }

    /// Seeds a fresh data dir and serves it on a free port as `options` say.
    pub async fn start(options: Options) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let set = DataSet::new(DEMO_SEED, options.records, None);
        let data_dir = dir.path().join("data");
        let store = tokio::task::spawn_blocking({
            let data_dir = data_dir.clone();
            move || {
                let store = EmbeddedStore::open(&data_dir).expect("store opens");
                store
                    .load(set, LoadOptions::default(), &mut Silent)
                    .expect("demo data loads");
                store
            }
        })
        .await
        .unwrap();
        let config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir,
            demo_records: 0,
            redis_url: options.redis_url.clone(),
            l1_capacity_mb: options.l1_mb,
            cache_ttl: options.ttl,
            redis_timeout_ms: 100,
            workers: 1,
            max_in_flight: options.max_in_flight,
            log_format: "text".into(),
            mongodb_uri: None,
            mongodb_read_preference: "secondaryPreferred".into(),
            mongodb_pool_size: 8,
            mongodb_timeout_ms: 2000,
            shutdown_timeout: 5,
        };
        let faulty = Faulty {
            inner: store,
            failing: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
        };
        let application = Application::with_store(&config, faulty).expect("application builds");
        let addr = application.local_addr();
        let app = application.app();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            application
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        TestApp {
            addr,
            set,
            dir,
            app,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The cache counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.app.cache().stats()
    }

    /// Makes the store fail or answer again.
    pub fn set_store_failing(&self, failing: bool) {
        self.app.store().set_failing(failing);
    }

    /// The generator of the data set this app serves.
    pub fn generator(&self) -> Generator {
        Generator::new(self.set)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], b"").await
    }

    /// One request on a fresh connection.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        request(self.addr, method, path, headers, body).await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body parsed as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The pid of the process that answered: request ids it assigns start
    /// with its pid in hex followed by five hex digits.
    pub fn answering_pid(&self) -> u32 {
        let id = self.header("x-request-id").expect("request id");
        let prefix = &id[..id.find('-').expect("assigned id")];
        u32::from_str_radix(&prefix[..prefix.len() - 5], 16).expect("hex pid")
    }

    /// The `error` message of a JSON error body, after checking its form.
    pub fn error(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let json = self.json();
        let obj = json.as_object().expect("error body is an object");
        assert_eq!(obj.len(), 1, "error body has only `error`: {json}");
        obj["error"]
            .as_str()
            .expect("error is a string")
            .to_string()
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(addr, &raw).await
}

/// Writes `raw` bytes to a fresh connection and parses what comes back.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw).await.expect("write request");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("response within 10 s")
        .expect("read response");
    parse_response(&out)
}

fn parse_response(out: &[u8]) -> Resp {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(out)));
    let head = std::str::from_utf8(&out[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: out[split + 4..].to_vec(),
    }
}

/// The visible reviews of `product` in the data set, by brute force.
pub fn visible_reviews(g: &Generator, product: u64) -> Vec<Scalars> {
    (1..=g.data_set().records)
        .map(|id| g.scalars(id))
        .filter(|s| s.product_id == product && !s.reported)
        .collect()
}

/// A `reviews` or `seed` process started from the built binary.
pub struct Proc {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl Proc {
    /// Starts `bin` with `args`, stderr captured to a file in `dir`.
    pub fn start(bin: &str, args: &[&str], dir: &Path) -> Proc {
        Proc::start_with_log(bin, args, dir, "info")
    }

    /// As [`Proc::start`], with `RUST_LOG` set to `filter`.
    pub fn start_with_log(bin: &str, args: &[&str], dir: &Path, filter: &str) -> Proc {
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let stderr_path = dir.join(format!("stderr-{n}.log"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", filter)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("binary starts");
        Proc { child, stderr_path }
    }

    /// `reviews` with `args`, serving a temp store in `dir` seeded with 3,000
    /// demo reviews on a free port; returns once it listens.
    pub fn serve(dir: &Path, args: &[&str]) -> (Proc, SocketAddr) {
        let data = dir.join("data");
        let mut all = vec![
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ];
        if !args.contains(&"--demo-records") {
            all.extend(["--demo-records", "3000"]);
        }
        all.extend(args);
        let mut proc = Proc::start(env!("CARGO_BIN_EXE_reviews"), &all, dir);
        let addr = proc.wait_listening(Duration::from_secs(60));
        (proc, addr)
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits for the server's "listening on" line and returns its address.
    pub fn wait_listening(&mut self, within: Duration) -> SocketAddr {
        let deadline = Instant::now() + within;
        loop {
            let text = self.stderr();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)));
                return rest[..end.unwrap_or(rest.len())].parse().unwrap();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited with {status} before listening: {text}");
            }
            assert!(
                Instant::now() < deadline,
                "server not listening in time: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit, at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("process did not exit within {within:?}: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real `redis-server` on a free loopback port, owned by one test.
pub struct RedisServer {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` (no persistence) and waits until it answers.
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
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

/// Whether connecting to `addr` now fails (nothing listens).
pub async fn request_fails(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

/// The review ids of a page body, in order.
pub fn review_ids(page: &Value) -> Vec<u64> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["review_id"].as_u64().unwrap())
        .collect()
}
