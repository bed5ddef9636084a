//! The MongoDB store (production): the official `mongodb` driver against a
//! replica set (`?replicaSet=rs0`), a standalone server, a `mongos`, or a
//! MongoDB-compatible service. Nothing relies on change streams.
//!
//! # Layout
//!
//! - `docs`: how a review and a product's meta look as documents;
//! - `read`: pages, meta, and reported reviews;
//! - `changes`: the change log — each write's position in it, and what
//!   the port's follower reads back;
//! - `write`: new reviews, helpful votes and reports — transactions,
//!   retries, the per-request deadline, idempotency;
//! - `load`: the bulk load `seed` runs, and the index build after it;
//! - `indexing`: index builds one at a time, each named, with the
//!   deployment's own progress where it reports one;
//! - `import`: loading an import of reviews from files, and exporting;
//! - `products`: the data set products are rendered from.
//!
//! # Collections
//!
//! In the URI's default database (`reviews` when it names none):
//! - `reviews`: one document per review, `_id` = review_id; `date` is Int64
//!   unix seconds; `relevance` = helpfulness × 31,536,000 + date, the
//!   `relevant` sort key, kept up to date by votes (a vote adds a year);
//!   `has_photos`: whether `photos` is non-empty, for the photo filter;
//!   `characteristics`: its ratings of its product's, by name.
//! - `meta`: `_id` = product_id, counters `r1`..`r5`, `rec_true`,
//!   `rec_false`, `characteristics` (`{"Fit": {id, sum, count}, …}`, by
//!   name), and `v`, the product's version: every write to the product
//!   adds one to it in its transaction (see `write`). A product with
//!   neither reviews nor characteristics may have no document; it reads
//!   as zeros and version 0, as does a missing counter. Every write names
//!   all seven counters, so an upsert creates a whole document; a review's
//!   write `$inc`s the sums of the characteristics it rates.
//! - `info`: `{_id: "data_set", seed, records, products, loaded, complete,
//!   layout, source}` (what is loaded, how far, in which document layout,
//!   and for an import the files it came from) and `{_id: "counters",
//!   next_review_id}`.
//! - `changes`: one entry per write, `{_id: token, at, product_id, v,
//!   pos}` (`v`: the write's version; `pos`: its position, a number of
//!   its product's bucket), which one process per port polls (the cache's
//!   change-log follower, `cache::follower`); kept for
//!   [`CHANGES_KEPT_FOR`] by a TTL index on `at`.
//! - `change_buckets`: `{_id: bucket, n}`, the [`changes::BUCKETS`]
//!   counters that number the change log (see `changes`).
//! - `idempotency`: `{_id: Idempotency-Key, request, answer, expires,
//!   token}`, claimed by an insert in the transaction of the write it
//!   guards; `votes`: `{_id: "review_id:voter", until, token}`, one per
//!   helpful vote of a client, claimed the same way. Both have a TTL index
//!   on their date (`expireAfterSeconds: 0`); a record past its date that
//!   the TTL monitor (which runs every minute) has not removed yet is
//!   deleted by the next claim of its `_id`.
//!
//! # Indexes
//!
//! Each page order has its own partial index over visible reviews only
//! (`partialFilterExpression: {reported: false}`), keyed exactly as the
//! order sorts after the product:
//! - `visible_newest`: `{product_id: 1, date: -1, _id: -1}`;
//! - `visible_helpful`: `{product_id: 1, helpfulness: -1, date: -1, _id: -1}`;
//! - `visible_relevant`: `{product_id: 1, relevance: -1, _id: -1}`.
//!
//! A page is `find({product_id, reported: false})` with the order's sort,
//! skip and limit, hinted to its index: one IXSCAN over the product's
//! visible keys, no SORT stage, at most `offset + count` keys examined.
//!
//! Filtered pages (`rating`, `with_photos`, `q`) and the two rating orders
//! read `visible_facets` (`{product_id: 1, rating: 1, has_photos: 1,
//! date: 1, helpfulness: 1, _id: 1}`, partial too): the product's keys
//! that the stars and photos keep — one index range per kept rating, no
//! other key examined and, as every field projected is in the key, no
//! document fetched — are ordered in the service like the embedded store's
//! (the same [`crate::store::page`] code), and the page's documents are
//! then read by `_id`. A search (`q`) reads the kept reviews' summary and
//! body and matches the words in the service ([`crate::text`]), the same
//! code on both stores.
//!
//! Reported reviews leave the indexes when reported (and come back when
//! restored); `reported` (`{reported: 1, _id: -1}`, partial: reported only)
//! lists them for moderators. `changes` has a TTL index on `at` and one
//! on `{pos: 1, at: 1}` (`pos_at`) that polls read by. `deploy/README.md`
//! shows the plans.
//!
//! # Writes
//!
//! A write touches only documents of its own review and product, plus one
//! new change entry, so writes to different products never conflict:
//! - review ids come from blocks of `ID_BLOCK` (64) that each process
//!   reserves with one `$inc` on `counters`, outside any transaction; so
//!   ids stay unique but are not dense across processes, and ids left in a
//!   block when a process stops are never used (gaps);
//! - the change log has no single sequence counter: an entry's position
//!   is the next number of one of [`changes::BUCKETS`] counters (its
//!   product's), taken last in the write's transaction, so a bucket's
//!   numbers commit in order and a poll reads only what is new (see
//!   `changes`).
//!
//! On a replica set or `mongos` each write is one multi-document
//! transaction (majority write concern unless the URI sets `w=`), retried
//! with jittered backoff on every error the driver labels or kinds as
//! retryable, all within one deadline per request (the configured
//! timeout). The change entry's `_id` is a token drawn once per request: it
//! is written in the same transaction, so an attempt after one whose commit
//! result is unknown first looks it up, and a second copy of the write can
//! never commit. Writes to one product (or review) from one process queue
//! in process rather than conflict in the database. On a standalone server
//! the same steps run once, in order, without a transaction.
//!
//! Reads use the configured read preference (default `secondaryPreferred`),
//! except for products written in the last [`PRIMARY_AFTER_WRITE`] — by
//! this process, by any other as its change log poll tells it, or as a
//! client's `min_version` shows — which read from the primary, so a write
//! is never followed by a stale read from a lagging secondary. A deployment
//! that reports no cluster time (a standalone server, some compatible
//! services) cannot make a secondary's read causally follow an earlier
//! one, so there every read goes to the primary.
//!
//! # Versions
//!
//! A product's version is its own counter `v` (see `write`), not the
//! deployment's cluster time: every deployment this store runs on keeps it
//! the same way, with or without cluster time, and it is known to the
//! writer before its answer. Versions of different products are not
//! comparable, and the cache never compares them.

pub mod changes;
mod docs;
mod import;
mod indexing;
mod load;
mod products;
mod read;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::{
    Acknowledgment, ClientOptions, ReadPreference, SelectionCriteria, WriteConcern,
};
use mongodb::{Client, Collection, Database};
use tokio::time::Instant;

use super::load::{LoadStatus, Source};
use super::{Changes, Outcome, Store, StoreError, Versioned, Write, WriteGuard};
use crate::generate::DataSet;
use crate::model::{Meta, NewReview, Page, PageQuery, Review, Sort};
use docs::int;

/// How long after a write a product's reads go to the primary.
pub const PRIMARY_AFTER_WRITE: Duration = Duration::from_secs(10);
/// How long change entries are kept; a follower further behind is told the
/// log is incomplete and drops its whole cache.
pub const CHANGES_KEPT_FOR: Duration = Duration::from_secs(3600);
/// How long a product count this process read itself is used: a load
/// completed, or a smaller data set seeded in its place, shows within this.
const PRODUCTS_REFRESH: Duration = Duration::from_secs(1);
/// How long a product count the port's follower read is used before this
/// process reads one itself: the follower re-reads it every second, so this
/// is only reached when no process of the port follows.
const PRODUCTS_TOLD_FOR: Duration = Duration::from_secs(3);
/// The document layout this code reads and writes: 2 added `relevance` and
/// the partial indexes, 3 `has_photos` and the facet index, 4 the
/// characteristics (every product's meta document names them). `seed`
/// upgrades an older complete data set.
const LAYOUT: i64 = 4;
/// Server error code of a duplicate key.
const DUPLICATE_KEY: i32 = 11000;

/// How to reach MongoDB.
#[derive(Debug, Clone)]
pub struct MongoConfig {
    /// The connection string.
    pub uri: String,
    /// `primary`, `primaryPreferred`, `secondary`, `secondaryPreferred` or `nearest`.
    pub read_preference: String,
    /// Most connections per server.
    pub pool_size: u32,
    /// Server selection and connect timeout, the bound on every read, and
    /// the deadline of a whole write request, retries included.
    pub timeout: Duration,
}

/// The MongoDB-backed [`Store`].
pub struct MongoStore {
    client: Client,
    db: Database,
    reviews: Collection<Document>,
    meta: Collection<Document>,
    info: Collection<Document>,
    changes: Collection<Document>,
    /// The counters that number the change log (see `changes`).
    buckets: Collection<Document>,
    /// `Idempotency-Key` records, `{_id: key, request, answer, expires}`.
    idempotency: Collection<Document>,
    /// Helpful votes, `{_id: "review_id:voter", until}`.
    votes: Collection<Document>,
    reads: SelectionCriteria,
    timeout: Duration,
    transactions: bool,
    products: ProductCount,
    /// Products written lately, and when: their reads go to the primary.
    recent_writes: Mutex<HashMap<u64, std::time::Instant>>,
    /// Review ids this process has reserved and not used yet.
    ids: tokio::sync::Mutex<write::IdBlock>,
    /// Queues for writes to the same product or review from this process.
    turns: write::Turns,
    /// Sessions being aborted in the background, so their count stays bounded.
    reapers: Arc<AtomicUsize>,
    /// What the change-log cursors this store handed out had already seen.
    cursors: Mutex<changes::Cursors>,
    /// Change-log documents this store's polls have fetched.
    change_log_documents: AtomicU64,
}

impl MongoStore {
    /// Connects and checks the deployment answers (within the timeout).
    pub async fn connect(config: &MongoConfig) -> Result<MongoStore, StoreError> {
        let unavailable =
            |e: mongodb::error::Error| StoreError::Unavailable(format!("MongoDB: {e}"));
        let mut options = ClientOptions::parse(&config.uri)
            .await
            .map_err(unavailable)?;
        options.app_name.get_or_insert_with(|| "reviews".into());
        // What the URI sets wins; the flags fill in the rest.
        options.max_pool_size.get_or_insert(config.pool_size);
        options
            .server_selection_timeout
            .get_or_insert(config.timeout);
        options.connect_timeout.get_or_insert(config.timeout);
        // Majority unless the URI names a `w`; its `journal` and
        // `wtimeoutMS` are kept either way.
        let concern = options
            .write_concern
            .get_or_insert_with(WriteConcern::default);
        concern.w.get_or_insert(Acknowledgment::Majority);
        let reads = read_preference(&config.read_preference)?;
        let db_name = options
            .default_database
            .clone()
            .unwrap_or_else(|| "reviews".into());
        let client = Client::with_options(options.clone()).map_err(unavailable)?;
        let db = client.database(&db_name);
        // A little past server selection, so the driver's own, more telling
        // error comes first.
        let patience = config.timeout + Duration::from_secs(1);
        let hello = db.run_command(doc! { "hello": 1 }).into_future();
        let hello = match tokio::time::timeout(patience, hello).await {
            Ok(Ok(hello)) => hello,
            // Reached, but refused (authentication, TLS, ...): the error says why.
            Ok(Err(e)) if !matches!(*e.kind, ErrorKind::ServerSelection { .. }) => {
                return Err(unavailable(e));
            }
            failed => {
                let e = match failed {
                    Ok(Err(e)) => unavailable(e),
                    _ => StoreError::Unavailable("MongoDB did not answer in time".into()),
                };
                return Err(match replica_set_hint(&options, config.timeout).await {
                    Some(hint) => StoreError::Unavailable(format!("{e}; {hint}")),
                    None => e,
                });
            }
        };
        let transactions = hello.contains_key("setName") || hello.get_str("msg") == Ok("isdbgrid");
        if !transactions {
            tracing::warn!("MongoDB is a standalone server: writes run without transactions");
        }
        // Without cluster time a session cannot make a read on one member
        // wait for what an earlier read saw on another: a page read after
        // its meta could be older than the meta's version.
        let reads = if hello.contains_key("$clusterTime") || is_primary(&reads) {
            reads
        } else {
            tracing::info!(
                "MongoDB reports no cluster time (a standalone server or a compatible service): \
                 reads go to the primary, where each sees every earlier write"
            );
            primary()
        };
        let store = MongoStore {
            reviews: db.collection("reviews"),
            meta: db.collection("meta"),
            info: db.collection("info"),
            changes: db.collection("changes"),
            buckets: db.collection("change_buckets"),
            idempotency: db.collection("idempotency"),
            votes: db.collection("votes"),
            client,
            db,
            reads,
            timeout: config.timeout,
            transactions,
            products: ProductCount::new(),
            recent_writes: Mutex::new(HashMap::new()),
            ids: tokio::sync::Mutex::new(write::IdBlock::default()),
            turns: write::Turns::new(),
            reapers: Arc::new(AtomicUsize::new(0)),
            cursors: Mutex::new(changes::Cursors::new()),
            change_log_documents: AtomicU64::new(0),
        };
        store.ensure_guard_indexes();
        store.ensure_change_log();
        Ok(store)
    }

    /// Drops the whole database (what `seed --drop` does).
    pub async fn drop_all(&self) -> Result<(), StoreError> {
        self.bound(self.db.drop()).await
    }

    /// What data set the database holds and how far it is loaded.
    pub async fn status(&self) -> Result<LoadStatus, StoreError> {
        let info = self
            .bound(self.info.find_one(doc! { "_id": "data_set" }))
            .await?;
        Ok(match info {
            None => LoadStatus {
                data_set: None,
                loaded: 0,
                complete: false,
                source: None,
            },
            Some(d) => LoadStatus {
                // An import names its data set only once it loads.
                data_set: match d.contains_key("seed") {
                    true => Some(DataSet {
                        seed: int(&d, "seed")? as u64,
                        records: int(&d, "records")? as u64,
                        products: int(&d, "products")? as u64,
                    }),
                    false => None,
                },
                loaded: if d.contains_key("loaded") {
                    int(&d, "loaded")? as u64
                } else {
                    0
                },
                complete: d.get_bool("complete").unwrap_or(false),
                source: match d.get_document("source") {
                    Ok(source) => Some(Source {
                        format: source.get_str("format").unwrap_or_default().to_string(),
                        fingerprint: source
                            .get_str("fingerprint")
                            .unwrap_or_default()
                            .to_string(),
                    }),
                    Err(_) => None,
                },
            },
        })
    }

    /// Runs one operation under the timeout.
    async fn bound<T>(
        &self,
        op: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, StoreError> {
        bounded(self.timeout, op).await
    }

    /// Whether `product_id` is one of the loaded data set's products. The
    /// count comes from the port's follower once a second (see
    /// [`Store::products_known`]); without a count from it in the last
    /// [`PRODUCTS_TOLD_FOR`], it is re-read every [`PRODUCTS_REFRESH`] by
    /// one caller while the others use the cached value. So it follows a
    /// new load — larger or smaller — without a query per request.
    async fn product_exists(&self, product_id: u64) -> Result<bool, StoreError> {
        if product_id == 0 {
            return Ok(false);
        }
        let count = &self.products;
        let known =
            count.checked.load(Ordering::Acquire) != 0 || count.told.load(Ordering::Acquire) != 0;
        if known && (count.fresh() || count.refreshing.swap(true, Ordering::AcqRel)) {
            return Ok(product_id <= count.products.load(Ordering::Acquire));
        }
        let _refresh = Refreshing(&count.refreshing);
        let products = self.loaded_products().await?;
        count.products.store(products, Ordering::Release);
        count.checked.store(count.now(), Ordering::Release);
        Ok(product_id <= products)
    }

    /// Products of the completely loaded data set (0 while none is). Read
    /// from the primary: a lagging secondary could hide a load just done
    /// for a whole refresh period, and this is one small read a second.
    async fn loaded_products(&self) -> Result<u64, StoreError> {
        self.products.reads.fetch_add(1, Ordering::Relaxed);
        let info = self
            .bound(
                self.info
                    .find_one(doc! { "_id": "data_set" })
                    .selection_criteria(primary()),
            )
            .await?;
        let Some(d) = info else { return Ok(0) };
        if !d.get_bool("complete").unwrap_or(false) {
            if d.contains_key("source") {
                return Err(StoreError::Mismatch(
                    "the MongoDB database holds an import that did not finish: run the same \
                     `seed` command again to finish it (or `seed --drop` to start over)"
                        .into(),
                ));
            }
            return Ok(0);
        }
        let layout = if d.contains_key("layout") {
            int(&d, "layout")?
        } else {
            1
        };
        if layout < LAYOUT {
            return Err(StoreError::Mismatch(format!(
                "the MongoDB data set was loaded by an older version (document layout \
                 {layout}, this one reads {LAYOUT}): run `seed` with the same flags to upgrade it"
            )));
        }
        Ok(int(&d, "products")? as u64)
    }

    /// Where reads of `product_id` go: the primary right after a write.
    fn reads_for(&self, product_id: u64) -> SelectionCriteria {
        let recent = self.recent_writes.lock().expect("recent writes lock");
        match recent.get(&product_id) {
            Some(at) if at.elapsed() < PRIMARY_AFTER_WRITE => {
                SelectionCriteria::ReadPreference(ReadPreference::Primary)
            }
            _ => self.reads.clone(),
        }
    }

    /// Sends `product_id`'s reads to the primary for [`PRIMARY_AFTER_WRITE`].
    fn note_write(&self, product_id: u64) {
        let mut recent = self.recent_writes.lock().expect("recent writes lock");
        // Trimmed here rather than on every read, once it has grown.
        if recent.len() >= 4096 {
            recent.retain(|_, at| at.elapsed() < PRIMARY_AFTER_WRITE);
        }
        recent.insert(product_id, std::time::Instant::now());
    }
}

impl Store for MongoStore {
    async fn page_versioned(&self, q: PageQuery) -> Result<Versioned<Option<Page>>, StoreError> {
        self.read_page(q).await
    }

    async fn meta_versioned(&self, product_id: u64) -> Result<Versioned<Option<Meta>>, StoreError> {
        self.read_meta(product_id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let ping = self
            .db
            .run_command(doc! { "ping": 1 })
            .selection_criteria(self.reads.clone());
        self.bound(ping).await.map(|_| ())
    }

    async fn add_review_versioned(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> Result<Option<Versioned<u64>>, StoreError> {
        let write = Write::AddReview { product_id, review };
        Ok(self.write(write, &unguarded()).await?.versioned())
    }

    async fn vote_helpful_versioned(
        &self,
        review_id: u64,
    ) -> Result<Option<Versioned<u64>>, StoreError> {
        let write = Write::Helpful { review_id };
        Ok(self.write(write, &unguarded()).await?.versioned())
    }

    async fn report_versioned(&self, review_id: u64) -> Result<Option<Versioned<u64>>, StoreError> {
        let write = Write::Report { review_id };
        Ok(self.write(write, &unguarded()).await?.versioned())
    }

    async fn write_guarded(&self, write: Write, guard: WriteGuard) -> Result<Outcome, StoreError> {
        self.write(write, &guard).await
    }

    async fn reported(&self, before: Option<u64>, limit: u32) -> Result<Vec<Review>, StoreError> {
        self.read_reported(before, limit).await
    }

    async fn changes_since(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        self.read_changes(cursor).await
    }

    async fn data_set(&self) -> Result<Option<DataSet>, StoreError> {
        self.read_data_set().await
    }

    fn newer_elsewhere(&self, product_id: u64) {
        self.note_write(product_id);
    }

    async fn product_count(&self) -> Result<Option<u64>, StoreError> {
        self.loaded_products().await.map(Some)
    }

    fn products_known(&self, products: u64) {
        let count = &self.products;
        count.products.store(products, Ordering::Release);
        count.told.store(count.now(), Ordering::Release);
    }

    fn background_reads(&self) -> u64 {
        self.products.reads.load(Ordering::Relaxed)
    }

    fn change_log_documents(&self) -> u64 {
        self.change_log_documents.load(Ordering::Relaxed)
    }
}

/// The cached product count of [`MongoStore::product_exists`].
struct ProductCount {
    products: AtomicU64,
    /// Milliseconds after `born` of the last read, plus one; 0 = never read.
    checked: AtomicU64,
    /// As `checked`, for the last count the port's follower told.
    told: AtomicU64,
    /// Reads of the count made so far.
    reads: AtomicU64,
    /// Set while one caller re-reads the count.
    refreshing: AtomicBool,
    born: std::time::Instant,
}

impl ProductCount {
    fn new() -> ProductCount {
        ProductCount {
            products: AtomicU64::new(0),
            checked: AtomicU64::new(0),
            told: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            born: std::time::Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        self.born.elapsed().as_millis() as u64 + 1
    }

    fn fresh(&self) -> bool {
        let now = self.now();
        let checked = self.checked.load(Ordering::Acquire);
        let told = self.told.load(Ordering::Acquire);
        (checked != 0 && now.saturating_sub(checked) < PRODUCTS_REFRESH.as_millis() as u64)
            || (told != 0 && now.saturating_sub(told) < PRODUCTS_TOLD_FOR.as_millis() as u64)
    }
}

/// Clears the refreshing flag however the refresh ends (even cancelled).
struct Refreshing<'a>(&'a AtomicBool);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The index an unfiltered page in `sort`'s order reads, and its sort
/// after the product; `None` for the orders that read [`FACETS`] instead.
fn order(sort: Sort) -> Option<(&'static str, Document)> {
    match sort {
        Sort::Newest => Some(("visible_newest", doc! { "date": -1, "_id": -1 })),
        Sort::Helpful => Some((
            "visible_helpful",
            doc! { "helpfulness": -1, "date": -1, "_id": -1 },
        )),
        Sort::Relevant => Some(("visible_relevant", doc! { "relevance": -1, "_id": -1 })),
        Sort::RatingHigh | Sort::RatingLow => None,
    }
}

/// The index filtered pages and the rating orders read: every field a
/// page is filtered or ordered by, so the read of a product's matching
/// keys is covered (no document fetched) and bounded by the filter.
const FACETS: &str = "visible_facets";

/// The keys of [`FACETS`].
fn facet_keys() -> Document {
    doc! { "product_id": 1, "rating": 1, "has_photos": 1, "date": 1, "helpfulness": 1, "_id": 1 }
}

/// Parses a read preference name.
fn read_preference(name: &str) -> Result<SelectionCriteria, StoreError> {
    let preference = match name {
        "primary" => ReadPreference::Primary,
        "primaryPreferred" => ReadPreference::PrimaryPreferred { options: None },
        "secondary" => ReadPreference::Secondary { options: None },
        "secondaryPreferred" => ReadPreference::SecondaryPreferred { options: None },
        "nearest" => ReadPreference::Nearest { options: None },
        other => {
            return Err(StoreError::Mismatch(format!(
                "unknown read preference {other:?}: use primary, primaryPreferred, secondary, \
                 secondaryPreferred or nearest"
            )));
        }
    };
    Ok(SelectionCriteria::ReadPreference(preference))
}

fn primary() -> SelectionCriteria {
    SelectionCriteria::ReadPreference(ReadPreference::Primary)
}

fn is_primary(reads: &SelectionCriteria) -> bool {
    matches!(
        reads,
        SelectionCriteria::ReadPreference(ReadPreference::Primary)
    )
}

/// When the URI names a replica set the servers do not form, why: asks each
/// of the first hosts directly what it is. `None` when no host answers or
/// the URI names no replica set.
async fn replica_set_hint(options: &ClientOptions, timeout: Duration) -> Option<String> {
    let set = options.repl_set_name.as_deref()?;
    for host in options.hosts.iter().take(3) {
        let mut direct = options.clone();
        direct.hosts = vec![host.clone()];
        direct.repl_set_name = None;
        direct.direct_connection = Some(true);
        let Ok(client) = Client::with_options(direct) else {
            continue;
        };
        let admin = client.database("admin");
        let hello = admin.run_command(doc! { "hello": 1 });
        let Ok(Ok(hello)) = tokio::time::timeout(timeout, hello.into_future()).await else {
            continue;
        };
        let member_of = hello.get_str("setName").ok();
        let hint = if hello.get_str("msg") == Ok("isdbgrid") {
            format!(
                "{host} is a mongos, not a member of replica set {set:?}: \
                 remove replicaSet={set} from the URI"
            )
        } else if let Some(name) = member_of.filter(|name| *name != set) {
            format!(
                "{host} is a member of replica set {name:?}, not {set:?}: \
                 fix replicaSet= in the URI"
            )
        } else if member_of.is_some() {
            format!(
                "{host} is a member of {set:?} but the set has no primary: \
                 does a majority of its members run?"
            )
        } else if hello.get_bool("isreplicaset") == Ok(true) {
            format!("{host} runs with --replSet but the set is not initiated: run rs.initiate()")
        } else {
            format!(
                "{host} is a standalone server, not a member of replica set {set:?}: \
                 remove replicaSet={set} from the URI (or start mongod with \
                 --replSet {set} and run rs.initiate())"
            )
        };
        return Some(hint);
    }
    None
}

/// Runs one driver call under `timeout`.
async fn bounded<T>(
    timeout: Duration,
    op: impl IntoFuture<Output = mongodb::error::Result<T>>,
) -> Result<T, StoreError> {
    until(Instant::now() + timeout, op).await
}

/// Runs one driver call that must be done by `deadline`.
async fn until<T>(
    deadline: Instant,
    op: impl IntoFuture<Output = mongodb::error::Result<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout_at(deadline, op.into_future()).await {
        Ok(result) => result.map_err(mongo),
        Err(_) => Err(StoreError::Unavailable(
            "MongoDB did not answer in time".into(),
        )),
    }
}

fn mongo(e: mongodb::error::Error) -> StoreError {
    StoreError::Unavailable(format!("MongoDB: {e}"))
}

/// Milliseconds since the Unix epoch on this machine's clock.
fn unix_ms() -> i64 {
    crate::clock::now_ms() as i64
}

/// The guard of a write made without one: at the current time, nothing else.
fn unguarded() -> WriteGuard {
    WriteGuard {
        now_ms: crate::clock::now_ms(),
        ..WriteGuard::default()
    }
}
