//! The service: what the API does, between the HTTP edge and the cache.
//! Reads go through the read-through cache and render JSON bodies from the
//! store on a miss; writes go to the store, then tell the cache the
//! product's new version, so no older copy is served again. It knows
//! nothing of HTTP.
//!
//! Every store call goes through a circuit breaker shared by both
//! backends: after [`STORE_BREAKER_THRESHOLD`] failures in a row, calls
//! fail at once for [`STORE_BREAKER_COOLDOWN`] instead of each waiting for
//! the store's timeout; then one call probes. `/readyz` always asks the
//! store itself, and its success closes the breaker, as does each change-log
//! poll the store answers (every 250 ms), so a store that is back is used
//! again within a poll whether or not requests come.

pub mod products;
pub mod render;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::cache::{Lookup, Origin};
pub use crate::store::{
    IdempotencyKey, Outcome, Store, StoreError, Versioned, Voter, Write, WriteGuard,
};

use crate::breaker::{Breaker, BreakerState};
use crate::cache::{CacheKey, ReadThrough, Rendered};
use crate::metrics::Metrics;
use crate::model::{NewReview, PageQuery, PageView, Review};
use render::{Format, Native};

/// Store failures in a row that open the store breaker.
pub const STORE_BREAKER_THRESHOLD: u32 = 3;
/// How long the store breaker stays open before one call probes.
pub const STORE_BREAKER_COOLDOWN: Duration = Duration::from_secs(1);
/// How long a read waits for the store unless configured otherwise.
pub const DEFAULT_READ_DEADLINE: Duration = Duration::from_millis(1500);
/// How long `ready` waits for the store before calling it unreachable.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The two updates of an existing review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    /// One more helpful vote.
    Helpful,
    /// Hides the review.
    Report,
}

/// The reviews service over a store `S`.
pub struct Service<S> {
    store: S,
    cache: ReadThrough,
    metrics: Arc<Metrics>,
    breaker: Breaker,
    products: products::Products,
    /// How long a read may wait for the store.
    read_deadline: Duration,
    /// While this file exists, the store counts as unreachable (drills).
    fault_file: Option<PathBuf>,
}

impl<S: Store> Service<S> {
    /// A service reading `store` through `cache`, counting into `metrics`.
    pub fn new(store: S, cache: ReadThrough, metrics: Arc<Metrics>) -> Service<S> {
        Service {
            store,
            cache,
            metrics,
            breaker: Breaker::new(STORE_BREAKER_THRESHOLD, STORE_BREAKER_COOLDOWN),
            products: products::Products::default(),
            read_deadline: DEFAULT_READ_DEADLINE,
            fault_file: None,
        }
    }

    /// The service with products and pictures served as `products` says
    /// (by default: photos under `/photos/`, no product body cache).
    pub fn with_products(mut self, products: products::Products) -> Service<S> {
        self.products = products;
        self
    }

    /// A failure drill: while `file` exists, every store call (and
    /// `/readyz`) fails as if the store could not be reached, so an
    /// operator — or a test across hosts — can rehearse a store outage
    /// without breaking a store.
    pub fn with_fault_file(mut self, file: Option<PathBuf>) -> Service<S> {
        self.fault_file = file;
        self
    }

    /// The drill's error, while its file exists.
    fn drilled(&self) -> Result<(), StoreError> {
        match &self.fault_file {
            Some(file) if file.exists() => Err(StoreError::Unavailable(format!(
                "failure drill: {} exists",
                file.display()
            ))),
            _ => Ok(()),
        }
    }

    /// Bounds every store read by `deadline`: past it the read fails as
    /// the store being unavailable (a stale copy or a fast 503), so a load
    /// balancer in front times out later than the service answers. Writes
    /// are bounded by the store itself, since a write cut off mid-commit
    /// could not say whether it happened.
    pub fn with_read_deadline(mut self, deadline: Duration) -> Service<S> {
        self.read_deadline = deadline;
        self
    }

    /// The store behind the service.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The cache in front of the store.
    pub fn cache(&self) -> &ReadThrough {
        &self.cache
    }

    /// The counters requests and store calls are recorded in.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store breaker's state.
    pub fn store_breaker(&self) -> BreakerState {
        self.breaker.state()
    }

    /// One page of a product's reviews, rendered, as of at least version
    /// `at_least` of the product (0: whatever is current; a client sends a
    /// write's version to read its own write wherever it lands); an
    /// unknown product's answer has `found: false`.
    pub async fn page(&self, q: PageQuery, at_least: u64) -> Result<Lookup, StoreError> {
        self.page_in(&Native, q, at_least).await
    }

    /// [`Service::page`] rendered in `format`, cached apart from other
    /// formats' bodies.
    pub async fn page_in<F: Format>(
        &self,
        format: &F,
        q: PageQuery,
        at_least: u64,
    ) -> Result<Lookup, StoreError> {
        let key = CacheKey::page(&q).in_format(F::NAME);
        self.cache
            .get(key, at_least, || async {
                self.expect(q.product_id, at_least);
                let photos = self.products.photo_base();
                let render = |page: PageView<'_, '_>| format.page(&q, page, photos);
                let page = self.read(self.store.page_rendered(q.clone(), render));
                let page = page.await?;
                Ok(rendered(q.product_id, page.value, page.version))
            })
            .await
    }

    /// A product's meta, rendered, as of at least version `at_least` (as
    /// for [`Service::page`]).
    pub async fn meta(&self, product_id: u64, at_least: u64) -> Result<Lookup, StoreError> {
        self.meta_in(&Native, product_id, at_least).await
    }

    /// [`Service::meta`] rendered in `format`, cached apart from other
    /// formats' bodies.
    pub async fn meta_in<F: Format>(
        &self,
        format: &F,
        product_id: u64,
        at_least: u64,
    ) -> Result<Lookup, StoreError> {
        let key = CacheKey::meta(product_id).in_format(F::NAME);
        self.cache
            .get(key, at_least, || async {
                self.expect(product_id, at_least);
                let meta = self.read(self.store.meta_versioned(product_id)).await?;
                let body = meta.value.map(|m| format.meta(product_id, &m));
                Ok(rendered(product_id, body, meta.version))
            })
            .await
    }

    /// A store read for a client asking for version `at_least` of
    /// `product_id`: when that is newer than any write this process knows
    /// of, the write was made elsewhere and not polled yet, so the store
    /// reads where it surely is. Called as the store is read, not on every
    /// request (the cache bounds how often that is for versions no one
    /// wrote). The client's number is never taken as a known write (a
    /// made-up one would hold every copy of the product back for everyone).
    fn expect(&self, product_id: u64, at_least: u64) {
        if at_least > 0 && at_least > self.cache.known_version(product_id) {
            self.store.newer_elsewhere(product_id);
        }
    }

    /// Adds a review once it is durable; from then on this process serves
    /// no copy of the product older than the write. Its id, or `None` for
    /// an unknown product.
    pub async fn add_review(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> Result<Option<u64>, StoreError> {
        let written = self
            .call_write(self.store.add_review_versioned(product_id, review))
            .await?;
        Ok(written.map(|w| {
            self.cache.written(product_id, w.version);
            w.value
        }))
    }

    /// Records a vote on a visible review; from then on this process serves
    /// no copy of its product older than the vote. False for an unknown or
    /// reported review.
    pub async fn vote(&self, review_id: u64, vote: Vote) -> Result<bool, StoreError> {
        let written = match vote {
            Vote::Helpful => {
                self.call_write(self.store.vote_helpful_versioned(review_id))
                    .await?
            }
            Vote::Report => {
                self.call_write(self.store.report_versioned(review_id))
                    .await?
            }
        };
        let Some(written) = written else {
            return Ok(false);
        };
        self.cache.written(written.value, written.version);
        Ok(true)
    }

    /// Applies an API write once, as `guard` allows (see
    /// [`Store::write_guarded`]); whenever it was applied, now or by the
    /// first request with the same key, this process serves no copy of the
    /// product older than what the store holds now.
    pub async fn write(&self, write: Write, guard: WriteGuard) -> Result<Outcome, StoreError> {
        let product = match &write {
            Write::AddReview { product_id, .. } => Some(*product_id),
            _ => None,
        };
        let outcome = self
            .call_write(self.store.write_guarded(write, guard))
            .await?;
        if let Some(w) = outcome.versioned() {
            // A new review answers its id; the other writes their product.
            self.cache.written(product.unwrap_or(w.value), w.version);
        }
        Ok(outcome)
    }

    /// Reported reviews for a moderator, highest id first (not cached: a
    /// moderator must see a report at once).
    pub async fn reported(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Review>, StoreError> {
        self.read(self.store.reported(before, limit)).await
    }

    /// Whether the store answers now (what a load balancer polls). Asks the
    /// store itself, whatever the breaker says; a success closes it.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.drilled()?;
        match tokio::time::timeout(READY_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => {
                self.breaker.success();
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Unavailable(
                "store did not answer in time".into(),
            )),
        }
    }

    /// The store answered a background call (the change-log poll): a store
    /// that is back closes the breaker within a poll, instead of the next
    /// requests each waiting for a probe — during which the breaker turns
    /// concurrent requests away. A failure drill keeps it open.
    pub fn store_answered(&self) {
        if self.drilled().is_ok() {
            self.breaker.success();
        }
    }

    /// Runs a store read behind the breaker, bounded by the read deadline.
    async fn read<T>(
        &self,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let deadline = self.read_deadline;
        self.call(async move {
            tokio::time::timeout(deadline, read)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(format!(
                        "the store did not answer within {} ms",
                        deadline.as_millis()
                    )))
                })
        })
        .await
    }

    /// Runs a write behind the breaker, timing it for `/metrics`. Its
    /// failure does not count toward opening the breaker: a write can fail
    /// for reasons of its own — waiting past its deadline on a product that
    /// other writes hold — that say nothing of whether reads can be served,
    /// and an open breaker turns every read without a cached copy away.
    /// Reads, readiness and the change-log poll decide; a write that
    /// succeeds closes it.
    async fn call_write<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.guarded(call, false).await
    }

    /// Runs a store call behind the breaker, timing it for `/metrics`.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.guarded(call, true).await
    }

    /// A call behind the breaker; its failure counts toward opening it when
    /// `counts` says so.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
        counts: bool,
    ) -> Result<T, StoreError> {
        if !self.breaker.allow() {
            return Err(StoreError::Unavailable(
                "the store is failing; not asked again until it recovers".into(),
            ));
        }
        let started = Instant::now();
        let result = match self.drilled() {
            Ok(()) => call.await,
            Err(e) => Err(e),
        };
        self.metrics.store_call(started.elapsed(), result.is_ok());
        match &result {
            Err(StoreError::Unavailable(_)) if counts => {
                self.breaker.failure();
            }
            Err(StoreError::Unavailable(_)) => {}
            _ => {
                self.breaker.success();
            }
        }
        result
    }
}

/// A store answer as the cache keeps it: the body, or the 404 body of an
/// unknown product (cached briefly too), and the version it is as of.
fn rendered(product_id: u64, body: Option<Vec<u8>>, version: u64) -> Rendered {
    match body {
        Some(body) => Rendered {
            found: true,
            body,
            version,
        },
        None => Rendered {
            found: false,
            body: render::error(&unknown_product(product_id)),
            version,
        },
    }
}

/// What a request for an unknown product is told.
pub fn unknown_product(product_id: u64) -> String {
    format!("product {product_id} not found")
}
