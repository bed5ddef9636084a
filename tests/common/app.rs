//! The application under test: the real `Application` on port 0 over a
//! temp embedded store seeded with the demo data set, behind a store
//! wrapper whose switches inject faults.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reviews::cache::StatsSnapshot;
use reviews::config::Config;
use reviews::generate::{DataSet, Generator};
use reviews::http::client::Cidr;
use reviews::model::{Meta, NewReview, Page, PageQuery, Review};
use reviews::seeding::Silent;
use reviews::service::Service;
use reviews::service::products::PhotoBase;
use reviews::startup::{Application, DEMO_SEED};
use reviews::store::embedded::{EmbeddedStore, Fingerprint};
use reviews::store::load::LoadOptions;
use reviews::store::{Changes, Outcome, Store, StoreError, Versioned, Write, WriteGuard};
use tempfile::TempDir;
use tokio::sync::oneshot;

use super::client::{Resp, request};

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
    /// Connections open at once.
    pub max_connections: u64,
    /// How long a head or a body may take to arrive.
    pub client_timeout_ms: u64,
    /// Where generated photos are served from (`--photo-base-url`).
    pub photo_base: PhotoBase,
    /// How long a read may wait for the store.
    pub read_deadline_ms: u64,
    /// Posts a client may make at once (0: no limit).
    pub post_burst: u32,
    /// Posts a client may make a minute after its burst.
    pub post_per_minute: u32,
    /// Votes and reports a client may make at once (0: no limit).
    pub vote_burst: u32,
    /// Votes and reports a minute after the burst.
    pub vote_per_minute: u32,
    /// Seconds a client's helpful vote is remembered (0: every vote counts).
    pub vote_window: u64,
    /// The admin token (`None`: no admin routes).
    pub admin_token: Option<String>,
    /// Origins allowed to write, besides the service's own.
    pub cors_origins: Vec<String>,
    /// The service's own origins (`--public-origins`; empty: the default).
    pub public_origins: Vec<String>,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<String>,
    /// Seconds an Idempotency-Key is kept.
    pub idempotency_ttl: u64,
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
            max_connections: 10_000,
            client_timeout_ms: 10_000,
            photo_base: PhotoBase::default(),
            read_deadline_ms: 1500,
            // Most tests write far faster than a shopper, from one address:
            // limits and one-vote-per-client are off unless a test is about them.
            post_burst: 0,
            post_per_minute: 0,
            vote_burst: 0,
            vote_per_minute: 0,
            vote_window: 0,
            admin_token: Some(ADMIN_TOKEN.into()),
            cors_origins: Vec::new(),
            public_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            idempotency_ttl: 86_400,
        }
    }
}

/// The admin token of a [`TestApp`] unless its options say otherwise.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The real embedded store behind switches that inject faults: every call
/// fails, as a store that went down would, or answers slowly, as a remote
/// store under load does.
pub struct Faulty {
    inner: EmbeddedStore,
    failing: AtomicBool,
    /// Writes fail while reads answer (a write stuck behind a lock).
    writes_failing: AtomicBool,
    delay_ms: AtomicU64,
    /// Reads answer this late after reading (a slow network back).
    late_ms: AtomicU64,
    calls: AtomicU64,
}

impl Faulty {
    /// Makes the store fail (`true`) or answer again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Makes every write fail as one that waited past its deadline does,
    /// while reads go on answering.
    pub fn set_writes_failing(&self, failing: bool) {
        self.writes_failing.store(failing, Ordering::SeqCst);
    }

    /// Delays every answer by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Delays every read's answer by `delay` after the read itself: what a
    /// slow link back from a remote store does.
    pub fn set_late_answers(&self, delay: Duration) {
        self.late_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    async fn answer_late(&self) {
        let late = self.late_ms.load(Ordering::SeqCst);
        if late > 0 {
            tokio::time::sleep(Duration::from_millis(late)).await;
        }
    }

    /// Reads and writes the store was asked for so far (not the change log).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
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
    async fn page_versioned(
        &self,
        query: PageQuery,
    ) -> Result<Versioned<Option<Page>>, StoreError> {
        self.check().await?;
        let page = self.inner.page_versioned(query).await;
        self.answer_late().await;
        page
    }

    async fn meta_versioned(&self, product_id: u64) -> Result<Versioned<Option<Meta>>, StoreError> {
        self.check().await?;
        let meta = self.inner.meta_versioned(product_id).await;
        self.answer_late().await;
        meta
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.ping().await
    }

    async fn add_review_versioned(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> Result<Option<Versioned<u64>>, StoreError> {
        self.check().await?;
        self.inner.add_review_versioned(product_id, review).await
    }

    async fn vote_helpful_versioned(
        &self,
        review_id: u64,
    ) -> Result<Option<Versioned<u64>>, StoreError> {
        self.check().await?;
        self.inner.vote_helpful_versioned(review_id).await
    }

    async fn report_versioned(&self, review_id: u64) -> Result<Option<Versioned<u64>>, StoreError> {
        self.check().await?;
        self.inner.report_versioned(review_id).await
    }

    async fn write_guarded(&self, write: Write, guard: WriteGuard) -> Result<Outcome, StoreError> {
        self.check().await?;
        if self.writes_failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "injected fault: the write waited past its deadline".into(),
            ));
        }
        self.inner.write_guarded(write, guard).await
    }

    async fn reported(&self, before: Option<u64>, limit: u32) -> Result<Vec<Review>, StoreError> {
        self.check().await?;
        self.inner.reported(before, limit).await
    }

    async fn changes_since(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        // A store that is down fails its change log too (not counted as a
        // call: the follower polls it in the background).
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected fault: store down".into()));
        }
        self.inner.changes_since(cursor).await
    }

    async fn data_set(&self) -> Result<Option<DataSet>, StoreError> {
        self.check().await?;
        self.inner.data_set().await
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
    pub service: Arc<Service<Faulty>>,
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
            photo_base_url: options.photo_base.clone(),
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
            max_connections: options.max_connections,
            client_timeout_ms: options.client_timeout_ms,
            read_deadline_ms: options.read_deadline_ms,
            store_fault_file: None,
            cors_origins: options.cors_origins.clone(),
            public_origins: options.public_origins.clone(),
            trusted_proxies: options
                .trusted_proxies
                .iter()
                .map(|p| Cidr::parse(p).expect("a CIDR block"))
                .collect(),
            admin_token: options.admin_token.clone(),
            post_burst: options.post_burst,
            post_per_minute: options.post_per_minute,
            vote_burst: options.vote_burst,
            vote_per_minute: options.vote_per_minute,
            vote_window: options.vote_window,
            idempotency_ttl: options.idempotency_ttl,
        };
        let faulty = Faulty {
            inner: store,
            failing: AtomicBool::new(false),
            writes_failing: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            late_ms: AtomicU64::new(0),
            calls: AtomicU64::new(0),
        };
        let application = Application::with_store(&config, faulty).expect("application builds");
        let addr = application.local_addr();
        let service = application.service();
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
            service,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The cache counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.service.cache().stats()
    }

    /// Makes the store fail or answer again.
    pub fn set_store_failing(&self, failing: bool) {
        self.service.store().set_failing(failing);
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
