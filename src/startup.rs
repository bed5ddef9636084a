//! Building the service from its [`Config`]: open the store, seed the demo
//! data set into an empty one, bind the port; then run until stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cache::{ReadThrough, follower, follower::Follower};
use crate::config::Config;
use crate::generate::DataSet;
use crate::http::admin::Admin;
use crate::http::client::TrustedProxies;
use crate::http::cors::{Cors, default_public_origins};
use crate::http::{Edge, WriteSafety};
use crate::limits::Limiter;
use crate::limits::redis::RedisLimits;
use crate::seeding;
use crate::server::{self, Limits};
use crate::service::Service;
use crate::service::products::Products;
use crate::store::Store;
use crate::store::embedded::EmbeddedStore;
use crate::store::load::{LoadOptions, LoadOutcome};
use crate::supervisor;

/// The seed of the demo data set `reviews` loads into an empty store.
pub const DEMO_SEED: u64 = 42;

/// A built service: the port is bound and the store ready.
pub struct Application<S> {
    listener: std::net::TcpListener,
    edge: Arc<Edge<S>>,
    limits: Limits,
}

impl Application<EmbeddedStore> {
    /// Opens the embedded store, binds the listen address (failing fast when
    /// it is taken), then seeds `demo_records` records if the store is empty.
    pub fn build(config: &Config) -> anyhow::Result<Application<EmbeddedStore>> {
        let store = EmbeddedStore::open_to_serve(&config.data_dir)?;
        let listener = bind(config)?;
        seed_demo(&store, config.demo_records)?;
        Self::assemble(config, listener, store)
    }

    /// A worker of `--workers N` on the embedded store (the supervisor has
    /// seeded it already).
    pub fn for_worker(
        config: &Config,
        listener: std::net::TcpListener,
    ) -> anyhow::Result<Application<EmbeddedStore>> {
        let store = EmbeddedStore::open_to_serve(&config.data_dir)?;
        Application::with_listener(config, listener, store)
    }
}

/// What the supervisor does before it starts workers: opens the embedded
/// store and seeds the demo data set if it is empty. The supervisor keeps
/// the store open to clear what dead workers leave in it.
pub fn prepare_store(config: &Config) -> anyhow::Result<EmbeddedStore> {
    let store = EmbeddedStore::open_to_serve(&config.data_dir)?;
    seed_demo(&store, config.demo_records)?;
    Ok(store)
}

impl<S: Store> Application<S> {
    /// Serves `store` as `config` says, without any seeding.
    pub fn with_store(config: &Config, store: S) -> anyhow::Result<Application<S>> {
        let listener = bind(config)?;
        Self::assemble(config, listener, store)
    }

    /// Serves `store` on a listening socket made elsewhere (a worker's).
    pub fn with_listener(
        config: &Config,
        listener: std::net::TcpListener,
        store: S,
    ) -> anyhow::Result<Application<S>> {
        listener.set_nonblocking(true)?;
        Self::assemble(config, listener, store)
    }

    fn assemble(
        config: &Config,
        listener: std::net::TcpListener,
        store: S,
    ) -> anyhow::Result<Self> {
        let metrics = Arc::new(supervisor::metrics());
        let cache = ReadThrough::with_stats(&config.cache(), metrics.cache_stats())?;
        // Product and search bodies follow L1's switch: an eighth of its
        // budget, at most 8 MiB.
        let product_bytes = (config.cache().l1_bytes / 8).min(8 << 20);
        let products = Products::new(config.photo_base_url.clone(), product_bytes);
        let service = Service::new(store, cache, metrics)
            .with_read_deadline(Duration::from_millis(config.read_deadline_ms))
            .with_fault_file(config.store_fault_file.clone())
            .with_products(products);
        let service = Arc::new(service);
        let limits = config.limits();
        let safety = write_safety(config, &service, listener.local_addr()?)?;
        let edge = Edge::new(
            service,
            config.max_in_flight as usize,
            limits.client_timeout,
            supervisor::worker_id(),
        )
        .with_safety(safety);
        Ok(Application {
            listener,
            edge: Arc::new(edge),
            limits,
        })
    }

    /// The service, to look at its store and cache.
    pub fn service(&self) -> Arc<Service<S>> {
        Arc::clone(self.edge.service())
    }

    /// The bound address (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then drains open requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let service = self.service();
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let feed = service.metrics().feed();
        // Before the first request: which cached copies may be trusted.
        let follower = {
            let (service, feed) = (Arc::clone(&service), Arc::clone(&feed));
            let (ready, started) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(async move {
                let (cache, store, metrics) = (service.cache(), service.store(), service.metrics());
                let follower = Follower::start(cache, store, (*feed).as_ref(), metrics).await;
                let _ = ready.send(());
                follower.run(|| service.store_answered()).await;
            });
            let _ = started.await;
            task
        };
        server::run(listener, self.edge, shutdown, self.limits).await;
        follower.abort();
        let _ = follower.await;
        follower::stop((*feed).as_ref());
        Ok(())
    }
}

/// What guards writes, as `config` says: the rate limits count in the
/// port's shared buckets (the service's counters region) and, with Redis,
/// across hosts; the service's own origins are `--public-origins`, or
/// those of the address it is `listening` on.
fn write_safety<S: Store>(
    config: &Config,
    service: &Service<S>,
    listening: SocketAddr,
) -> anyhow::Result<WriteSafety> {
    // The cache's Redis: one handle, so one breaker per server and process.
    let redis = service.cache().redis().map(RedisLimits::new);
    let limiter = Limiter::new(
        config.post_rate(),
        config.vote_rate(),
        service.metrics().limit_buckets(),
        redis,
    );
    let own = match &config.public_origins {
        named if !named.is_empty() => named.clone(),
        _ => default_public_origins(listening),
    };
    tracing::debug!("public origins (their pages may write): {}", own.join(", "));
    Ok(WriteSafety {
        trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
        cors: Cors::new(&config.cors_origins, &own),
        admin: Admin::new(config.admin_token.as_deref()),
        limiter,
        idempotency_ttl: Duration::from_secs(config.idempotency_ttl),
        vote_window: Duration::from_secs(config.vote_window),
    })
}

fn bind(config: &Config) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(&config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Loads the demo data set into an empty store (resuming an interrupted
/// demo load); leaves a store that holds any complete data set alone.
fn seed_demo(store: &EmbeddedStore, records: u64) -> anyhow::Result<()> {
    let status = store.status()?;
    if status.complete {
        return Ok(());
    }
    // An import is the user's own reviews: only `seed` with the same files
    // can finish it, and until then nothing is served from it.
    if let Some(unfinished) = status.unfinished_import() {
        anyhow::bail!("{unfinished}");
    }
    if records == 0 {
        if status.data_set.is_none() {
            tracing::warn!("the store is empty and --demo-records is 0: every product is unknown");
        }
        return Ok(());
    }
    let set = status
        .data_set
        .unwrap_or_else(|| DataSet::new(DEMO_SEED, records, None));
    tracing::info!(
        "seeding the demo data set: {} reviews of {} products (seed {})",
        set.records,
        set.products,
        set.seed
    );
    let started = Instant::now();
    let mut progress = seeding::Lines::new(
        |line| tracing::info!("seeding {line}"),
        Duration::from_secs(2),
    );
    let outcome = store.load(set, LoadOptions::default(), &mut progress)?;
    if let LoadOutcome::Loaded { resumed_from } = outcome {
        tracing::info!(
            "seeded in {:.1}s (resumed after {resumed_from} records)",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
