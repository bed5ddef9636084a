//! The MongoDB store (production): the official `mongodb` driver against a
//! replica set (`?replicaSet=rs0`), a standalone server, a `mongos`, or a
//! MongoDB-compatible service. Nothing relies on change streams.
//!
//! Collections, in the URI's default database (`reviews` when it names none):
//! - `reviews`: one document per review, `_id` = review_id; `date` is Int64
//!   unix seconds; indexes `{product_id: 1, date: -1, _id: -1}` and
//!   `{product_id: 1, helpfulness: -1, date: -1, _id: -1}`, built after a load;
//! - `meta`: `_id` = product_id, counters `r1`..`r5`, `rec_true`, `rec_false`;
//! - `info`: `{_id: "data_set", seed, records, products, loaded, complete}` and
//!   `{_id: "counters", next_review_id, change_seq}`;
//! - `changes`: `{_id: seq, product_id}`, the last [`CHANGES_KEPT`] writes,
//!   which every process polls ([`crate::coherence`]).
//!
//! Queries: a `newest` page is `find({product_id, reported: false})` sorted
//! `{date: -1, _id: -1}` with skip/limit — an IXSCAN of the first index, no
//! in-memory sort; `helpful` likewise on the second index; `relevant`
//! (helpfulness × 31,536,000 + date) is an aggregation that matches on the
//! `product_id` prefix of either index and sorts the product's reviews in
//! memory (a product holds at most a few thousand). Projections leave
//! `reviewer_email` and `reported` on the server. `explain` on a `newest`
//! page should show `IXSCAN { product_id: 1, date: -1, _id: -1 }`, not COLLSCAN.
//!
//! Reads use the configured read preference (default `secondaryPreferred`),
//! except for products written in the last [`PRIMARY_AFTER_WRITE`], which
//! read from the primary so a write is never followed by a cached stale read
//! from a lagging secondary. Writes use majority write concern, inside a
//! multi-document transaction when the deployment supports them (replica
//! set, mongos); on a standalone server the steps run in order without one.
//! Every call is bounded by the operation timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{
    ClientOptions, IndexOptions, ReadPreference, ReturnDocument, SelectionCriteria, WriteConcern,
};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};

use super::load::{LoadOptions, LoadOutcome, LoadStatus};
use super::{Changes, Store, StoreError};
use crate::generate::{DataSet, Generator};
use crate::model::{
    Meta, NewReview, Page, PageQuery, Photo, RELEVANCE_YEAR_SECS, Review, Sort, photo_id,
};
use crate::seeding::{self, Progress};

/// Writes the `changes` collection keeps.
const CHANGES_KEPT: i64 = 100_000;
/// How long after a write a product's reads go to the primary.
pub const PRIMARY_AFTER_WRITE: Duration = Duration::from_secs(10);
/// Duplicate key: a re-run of a load inserting a review that is there already.
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
    /// Server selection and connect timeout, and the bound on every operation.
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
    reads: SelectionCriteria,
    timeout: Duration,
    transactions: bool,
    /// Products 1..=this exist (re-read when a larger id is asked for).
    products: AtomicU64,
    recent_writes: Mutex<HashMap<u64, Instant>>,
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
        options.write_concern = Some(WriteConcern::majority());
        let reads = read_preference(&config.read_preference)?;
        let db_name = options
            .default_database
            .clone()
            .unwrap_or_else(|| "reviews".into());
        let client = Client::with_options(options).map_err(unavailable)?;
        let db = client.database(&db_name);
        // A little past server selection, so the driver's own, more telling
        // error comes first.
        let patience = config.timeout + Duration::from_secs(1);
        let hello = bounded(patience, db.run_command(doc! { "hello": 1 })).await?;
        let transactions = hello.contains_key("setName") || hello.get_str("msg") == Ok("isdbgrid");
        if !transactions {
            tracing::warn!("MongoDB is a standalone server: writes run without transactions");
        }
        Ok(MongoStore {
            reviews: db.collection("reviews"),
            meta: db.collection("meta"),
            info: db.collection("info"),
            changes: db.collection("changes"),
            client,
            db,
            reads,
            timeout: config.timeout,
            transactions,
            products: AtomicU64::new(0),
            recent_writes: Mutex::new(HashMap::new()),
        })
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
            },
            Some(d) => LoadStatus {
                data_set: Some(DataSet {
                    seed: int(&d, "seed")? as u64,
                    records: int(&d, "records")? as u64,
                    products: int(&d, "products")? as u64,
                }),
                loaded: int(&d, "loaded")? as u64,
                complete: d.get_bool("complete").unwrap_or(false),
            },
        })
    }

    /// Loads `set` with unordered bulk inserts, `options.threads` batches of
    /// `options.batch` in flight; resumes an interrupted load of the same set
    /// (re-inserted reviews are duplicate keys, ignored); computes meta in
    /// the same pass and builds the indexes after the load.
    pub async fn load(
        &self,
        set: DataSet,
        options: LoadOptions,
        progress: &mut dyn Progress,
    ) -> Result<LoadOutcome, StoreError> {
        let status = self.status().await?;
        if !status.needs_load(set)? {
            return Ok(LoadOutcome::AlreadyLoaded);
        }
        let data_set = doc! {
            "seed": set.seed as i64, "records": set.records as i64,
            "products": set.products as i64, "complete": false,
        };
        let update = doc! { "$set": data_set, "$setOnInsert": { "loaded": 0_i64 } };
        self.bound(
            self.info
                .update_one(doc! { "_id": "data_set" }, update)
                .upsert(true),
        )
        .await?;

        progress.phase("reviews", set.records, status.loaded);
        let batch = options.batch.max(1);
        let generator = Generator::new(set);
        let starts: Vec<u64> = (status.loaded + 1..=set.records)
            .step_by(batch as usize)
            .collect();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut done: std::collections::BTreeSet<u64> = Default::default();
        let mut loaded = status.loaded;
        let mut next = starts.iter().copied();
        loop {
            while in_flight.len() < options.threads.max(1) {
                let Some(first) = next.next() else { break };
                let last = (first + batch - 1).min(set.records);
                let reviews = self.reviews.clone();
                let timeout = self.timeout * 10;
                in_flight.spawn(async move {
                    let docs = tokio::task::spawn_blocking(move || {
                        let mut review = Review::default();
                        (first..=last)
                            .map(|id| {
                                generator.fill(id, &mut review);
                                review_doc(&review)
                            })
                            .collect::<Vec<_>>()
                    })
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("generator failed: {e}")))?;
                    insert_ignoring_duplicates(&reviews, docs, timeout).await?;
                    Ok::<_, StoreError>((first, last))
                });
            }
            let Some(finished) = in_flight.join_next().await else {
                break;
            };
            let (first, last) = finished
                .map_err(|e| StoreError::Unavailable(format!("load task failed: {e}")))??;
            progress.advance(last - first + 1);
            done.insert(first);
            // Record progress up to the last batch with all before it done.
            while done.remove(&(loaded + 1)) {
                loaded = (loaded + batch).min(set.records);
            }
            let update = doc! { "$set": { "loaded": loaded as i64 } };
            self.bound(self.info.update_one(doc! { "_id": "data_set" }, update))
                .await?;
        }

        progress.phase("index", set.records, 0);
        self.build_indexes().await?;
        let metas = seeding::metas(set, options.threads);
        self.bound(self.meta.delete_many(doc! {})).await?;
        let docs: Vec<Document> = metas
            .iter()
            .enumerate()
            .filter(|(_, m)| m.total() > 0)
            .map(|(i, m)| meta_doc(i as u64 + 1, m))
            .collect();
        for chunk in docs.chunks(10_000) {
            self.bound(self.meta.insert_many(chunk.to_vec()).ordered(false))
                .await?;
        }
        progress.advance(set.records);
        let counters =
            doc! { "$set": { "next_review_id": set.records as i64 + 1, "change_seq": 0_i64 } };
        self.bound(
            self.info
                .update_one(doc! { "_id": "counters" }, counters)
                .upsert(true),
        )
        .await?;
        let complete = doc! { "$set": { "complete": true, "loaded": set.records as i64 } };
        self.bound(self.info.update_one(doc! { "_id": "data_set" }, complete))
            .await?;
        progress.finish();
        Ok(LoadOutcome::Loaded {
            resumed_from: status.loaded,
        })
    }

    async fn build_indexes(&self) -> Result<(), StoreError> {
        let index = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build()
        };
        let models = [
            index(
                doc! { "product_id": 1, "date": -1, "_id": -1 },
                "product_date",
            ),
            index(
                doc! { "product_id": 1, "helpfulness": -1, "date": -1, "_id": -1 },
                "product_helpful",
            ),
        ];
        let build = self.reviews.create_indexes(models);
        tokio::time::timeout(self.timeout * 600, build)
            .await
            .map_err(|_| StoreError::Unavailable("MongoDB: building indexes timed out".into()))?
            .map_err(mongo)?;
        Ok(())
    }

    /// Runs one operation under the timeout.
    async fn bound<T>(
        &self,
        op: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, StoreError> {
        bounded(self.timeout, op).await
    }

    async fn product_exists(&self, product_id: u64) -> Result<bool, StoreError> {
        if product_id == 0 {
            return Ok(false);
        }
        if product_id <= self.products.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let info = self
            .bound(
                self.info
                    .find_one(doc! { "_id": "data_set", "complete": true }),
            )
            .await?;
        let products = match info {
            Some(d) => int(&d, "products")? as u64,
            None => 0,
        };
        self.products.fetch_max(products, Ordering::Relaxed);
        Ok(product_id <= products)
    }

    /// Where reads of `product_id` go: the primary right after a write.
    fn reads_for(&self, product_id: u64) -> SelectionCriteria {
        let mut recent = self.recent_writes.lock().expect("recent writes lock");
        recent.retain(|_, at| at.elapsed() < PRIMARY_AFTER_WRITE);
        if recent.contains_key(&product_id) {
            SelectionCriteria::ReadPreference(ReadPreference::Primary)
        } else {
            self.reads.clone()
        }
    }

    fn note_write(&self, product_id: u64) {
        let mut recent = self.recent_writes.lock().expect("recent writes lock");
        recent.insert(product_id, Instant::now());
    }

    /// A session for one write, in a transaction where the deployment has them.
    async fn begin(&self) -> Result<ClientSession, StoreError> {
        let mut session = self.bound(self.client.start_session()).await?;
        if self.transactions {
            self.bound(session.start_transaction()).await?;
        }
        Ok(session)
    }

    /// Commits a write that did something, aborts one that found nothing.
    async fn finish<T>(
        &self,
        session: &mut ClientSession,
        result: Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        if !self.transactions {
            return result;
        }
        match result {
            Ok(Some(value)) => self
                .bound(session.commit_transaction())
                .await
                .map(|()| Some(value)),
            other => {
                let _ = self.bound(session.abort_transaction()).await;
                other
            }
        }
    }

    /// Adds one to a field of the `counters` document in the session and
    /// returns its new value.
    async fn bump_counter(
        &self,
        session: &mut ClientSession,
        field: &str,
    ) -> Result<i64, StoreError> {
        let counters = self
            .bound(
                self.info
                    .find_one_and_update(
                        doc! { "_id": "counters" },
                        doc! { "$inc": { field: 1_i64 } },
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .session(&mut *session),
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("counters missing".into()))?;
        int(&counters, field)
    }

    /// Bumps the change sequence and logs `product_id` in the session.
    async fn log_change(
        &self,
        session: &mut ClientSession,
        product_id: u64,
    ) -> Result<(), StoreError> {
        let seq = self.bump_counter(session, "change_seq").await?;
        let entry = doc! { "_id": seq, "product_id": product_id as i64 };
        self.bound(self.changes.insert_one(entry).session(&mut *session))
            .await?;
        if seq > CHANGES_KEPT {
            let old = doc! { "_id": { "$lte": seq - CHANGES_KEPT } };
            self.bound(self.changes.delete_many(old).session(&mut *session))
                .await?;
        }
        Ok(())
    }

    async fn bump_meta(
        &self,
        session: &mut ClientSession,
        product_id: u64,
        rating: u8,
        recommend: bool,
        by: i64,
    ) -> Result<(), StoreError> {
        let side = if recommend { "rec_true" } else { "rec_false" };
        let update = doc! { "$inc": { format!("r{rating}"): by, side: by } };
        let op = self
            .meta
            .update_one(doc! { "_id": product_id as i64 }, update)
            .upsert(true);
        self.bound(op.session(&mut *session)).await?;
        Ok(())
    }
}

impl Store for MongoStore {
    async fn page(&self, q: PageQuery) -> Result<Option<Page>, StoreError> {
        if !self.product_exists(q.product_id).await? {
            return Ok(None);
        }
        let reads = self.reads_for(q.product_id);
        let total = match self.meta_doc(q.product_id, reads.clone()).await? {
            Some(meta) => meta.total(),
            None => 0,
        };
        let filter = doc! { "product_id": q.product_id as i64, "reported": false };
        let projection = doc! { "reviewer_email": 0, "reported": 0 };
        let (skip, limit) = (q.offset() as i64, i64::from(q.count));
        let mut cursor = match q.sort {
            Sort::Relevant => {
                let score = doc! { "$add": [{ "$multiply": ["$helpfulness", RELEVANCE_YEAR_SECS] }, "$date"] };
                let pipeline = [
                    doc! { "$match": filter },
                    doc! { "$project": projection },
                    doc! { "$addFields": { "score": score } },
                    doc! { "$sort": { "score": -1, "_id": -1 } },
                    doc! { "$skip": skip },
                    doc! { "$limit": limit },
                ];
                self.bound(self.reviews.aggregate(pipeline).selection_criteria(reads))
                    .await?
            }
            sort => {
                let order = match sort {
                    Sort::Newest => doc! { "date": -1, "_id": -1 },
                    _ => doc! { "helpfulness": -1, "date": -1, "_id": -1 },
                };
                let find = self
                    .reviews
                    .find(filter)
                    .sort(order)
                    .skip(skip as u64)
                    .limit(limit)
                    .projection(projection)
                    .selection_criteria(reads);
                self.bound(find).await?
            }
        };
        let mut reviews = Vec::with_capacity(q.count as usize);
        while self.bound(cursor.advance()).await? {
            let doc = cursor.deserialize_current().map_err(mongo)?;
            reviews.push(review_from(&doc)?);
        }
        Ok(Some(Page { total, reviews }))
    }

    async fn meta(&self, product_id: u64) -> Result<Option<Meta>, StoreError> {
        if !self.product_exists(product_id).await? {
            return Ok(None);
        }
        let reads = self.reads_for(product_id);
        Ok(Some(
            self.meta_doc(product_id, reads).await?.unwrap_or_default(),
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let ping = self
            .db
            .run_command(doc! { "ping": 1 })
            .selection_criteria(self.reads.clone());
        self.bound(ping).await.map(|_| ())
    }

    async fn add_review(&self, product_id: u64, new: NewReview) -> Result<Option<u64>, StoreError> {
        if !self.product_exists(product_id).await? {
            return Ok(None);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut session = self.begin().await?;
            let result = self.add_review_in(&mut session, product_id, &new).await;
            match self.finish(&mut session, result).await {
                Err(e) if attempt < 3 && transient(&e) => continue,
                other => {
                    self.note_write(product_id);
                    return other;
                }
            }
        }
    }

    async fn vote_helpful(&self, review_id: u64) -> Result<Option<u64>, StoreError> {
        self.update_review(review_id, Vote::Helpful).await
    }

    async fn report(&self, review_id: u64) -> Result<Option<u64>, StoreError> {
        self.update_review(review_id, Vote::Report).await
    }

    async fn changes_since(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        let primary = SelectionCriteria::ReadPreference(ReadPreference::Primary);
        let counters = self
            .bound(
                self.info
                    .find_one(doc! { "_id": "counters" })
                    .selection_criteria(primary.clone()),
            )
            .await?;
        let head = match counters {
            Some(d) => int(&d, "change_seq")? as u64,
            None => 0,
        };
        let Some(from) = cursor.filter(|&c| c < head) else {
            return Ok(Changes {
                cursor: head,
                products: Vec::new(),
                complete: true,
            });
        };
        let filter = doc! { "_id": { "$gt": from as i64, "$lte": head as i64 } };
        let find = self
            .changes
            .find(filter)
            .sort(doc! { "_id": 1 })
            .selection_criteria(primary);
        let mut found = self.bound(find).await?;
        let mut products = Vec::new();
        while self.bound(found.advance()).await? {
            let doc = found.deserialize_current().map_err(mongo)?;
            products.push(int(&doc, "product_id")? as u64);
        }
        products.sort_unstable();
        products.dedup();
        for &p in &products {
            self.note_write(p);
        }
        let complete = (head - from) as i64 <= CHANGES_KEPT;
        Ok(Changes {
            cursor: head,
            products,
            complete,
        })
    }
}

/// The two updates of an existing review.
#[derive(Clone, Copy)]
enum Vote {
    Helpful,
    Report,
}

fn transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(msg) if msg.contains("TransientTransactionError"))
}

impl MongoStore {
    async fn add_review_in(
        &self,
        session: &mut ClientSession,
        product_id: u64,
        new: &NewReview,
    ) -> Result<Option<u64>, StoreError> {
        let id = self.bump_counter(session, "next_review_id").await? as u64 - 1;
        let review = Review {
            review_id: id,
            product_id,
            rating: new.rating,
            summary: new.summary.clone(),
            body: new.body.clone(),
            recommend: new.recommend,
            reported: false,
            reviewer_name: new.name.clone(),
            reviewer_email: new.email.clone(),
            response: None,
            helpfulness: 0,
            date: crate::clock::unix_seconds(),
            photos: new
                .photos
                .iter()
                .enumerate()
                .map(|(k, url)| Photo {
                    id: photo_id(id, k as u64),
                    url: url.clone(),
                })
                .collect(),
        };
        self.bound(
            self.reviews
                .insert_one(review_doc(&review))
                .session(&mut *session),
        )
        .await?;
        self.bump_meta(session, product_id, review.rating, review.recommend, 1)
            .await?;
        self.log_change(session, product_id).await?;
        Ok(Some(id))
    }

    /// A helpful vote or a report on a visible review; its product.
    async fn update_review(&self, review_id: u64, vote: Vote) -> Result<Option<u64>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut session = self.begin().await?;
            let result = self.update_review_in(&mut session, review_id, vote).await;
            match self.finish(&mut session, result).await {
                Err(e) if attempt < 3 && transient(&e) => continue,
                other => {
                    if let Ok(Some(product)) = other {
                        self.note_write(product);
                    }
                    return other;
                }
            }
        }
    }

    async fn update_review_in(
        &self,
        session: &mut ClientSession,
        review_id: u64,
        vote: Vote,
    ) -> Result<Option<u64>, StoreError> {
        let update = match vote {
            Vote::Helpful => doc! { "$inc": { "helpfulness": 1_i64 } },
            Vote::Report => doc! { "$set": { "reported": true } },
        };
        let updated = self
            .bound(
                self.reviews
                    .find_one_and_update(
                        doc! { "_id": review_id as i64, "reported": false },
                        update,
                    )
                    .projection(doc! { "product_id": 1, "rating": 1, "recommend": 1 })
                    .session(&mut *session),
            )
            .await?;
        let Some(doc) = updated else { return Ok(None) };
        let product_id = int(&doc, "product_id")? as u64;
        if let Vote::Report = vote {
            let rating = int(&doc, "rating")? as u8;
            let recommend = doc
                .get_bool("recommend")
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.bump_meta(session, product_id, rating, recommend, -1)
                .await?;
        }
        self.log_change(session, product_id).await?;
        Ok(Some(product_id))
    }

    async fn meta_doc(
        &self,
        product_id: u64,
        reads: SelectionCriteria,
    ) -> Result<Option<Meta>, StoreError> {
        let find = self
            .meta
            .find_one(doc! { "_id": product_id as i64 })
            .selection_criteria(reads);
        match self.bound(find).await? {
            None => Ok(None),
            Some(d) => {
                let field = |k: &str| int(&d, k).map(|n| n.max(0) as u32);
                Ok(Some(Meta {
                    ratings: [
                        field("r1")?,
                        field("r2")?,
                        field("r3")?,
                        field("r4")?,
                        field("r5")?,
                    ],
                    recommended: field("rec_true")?,
                    not_recommended: field("rec_false")?,
                }))
            }
        }
    }
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

async fn bounded<T>(
    timeout: Duration,
    op: impl IntoFuture<Output = mongodb::error::Result<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, op.into_future()).await {
        Ok(result) => result.map_err(mongo),
        Err(_) => Err(StoreError::Unavailable(format!(
            "MongoDB did not answer within {timeout:?}"
        ))),
    }
}

fn mongo(e: mongodb::error::Error) -> StoreError {
    let labels = if e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR) {
        " (TransientTransactionError)"
    } else {
        ""
    };
    StoreError::Unavailable(format!("MongoDB: {e}{labels}"))
}

/// Inserts unordered; duplicate keys (a resumed load re-inserting) are fine.
async fn insert_ignoring_duplicates(
    coll: &Collection<Document>,
    docs: Vec<Document>,
    timeout: Duration,
) -> Result<(), StoreError> {
    let insert = coll.insert_many(docs).ordered(false);
    match tokio::time::timeout(timeout, insert.into_future()).await {
        Err(_) => Err(StoreError::Unavailable(
            "MongoDB: bulk insert timed out".into(),
        )),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => match e.kind.as_ref() {
            mongodb::error::ErrorKind::InsertMany(failure)
                if failure.write_concern_error.is_none()
                    && failure
                        .write_errors
                        .as_ref()
                        .is_some_and(|errors| errors.iter().all(|w| w.code == DUPLICATE_KEY)) =>
            {
                Ok(())
            }
            _ => Err(mongo(e)),
        },
    }
}

/// A review as a document (every field; reads project some away).
fn review_doc(r: &Review) -> Document {
    let photos: Vec<Bson> = r
        .photos
        .iter()
        .map(|p| Bson::Document(doc! { "id": p.id as i64, "url": &p.url }))
        .collect();
    doc! {
        "_id": r.review_id as i64,
        "product_id": r.product_id as i64,
        "rating": i32::from(r.rating),
        "summary": &r.summary,
        "body": &r.body,
        "recommend": r.recommend,
        "reported": r.reported,
        "reviewer_name": &r.reviewer_name,
        "reviewer_email": &r.reviewer_email,
        "response": r.response.as_deref().map_or(Bson::Null, |s| Bson::String(s.to_string())),
        "helpfulness": i64::from(r.helpfulness),
        "date": r.date,
        "photos": photos,
    }
}

fn meta_doc(product_id: u64, m: &Meta) -> Document {
    doc! {
        "_id": product_id as i64,
        "r1": i64::from(m.ratings[0]), "r2": i64::from(m.ratings[1]), "r3": i64::from(m.ratings[2]),
        "r4": i64::from(m.ratings[3]), "r5": i64::from(m.ratings[4]),
        "rec_true": i64::from(m.recommended), "rec_false": i64::from(m.not_recommended),
    }
}

/// A review from a (projected) document; absent email and flag read as empty.
fn review_from(d: &Document) -> Result<Review, StoreError> {
    let text = |k: &str| {
        d.get_str(k)
            .map(str::to_string)
            .map_err(|e| StoreError::Corrupt(format!("{k}: {e}")))
    };
    let photos = match d.get_array("photos") {
        Ok(list) => list
            .iter()
            .map(|p| {
                let p = p
                    .as_document()
                    .ok_or_else(|| StoreError::Corrupt("photo".into()))?;
                let url = p
                    .get_str("url")
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Photo {
                    id: int(p, "id")? as u64,
                    url: url.to_string(),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        Err(_) => Vec::new(),
    };
    Ok(Review {
        review_id: int(d, "_id")? as u64,
        product_id: int(d, "product_id")? as u64,
        rating: int(d, "rating")? as u8,
        summary: text("summary")?,
        body: text("body")?,
        recommend: d
            .get_bool("recommend")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        reported: d.get_bool("reported").unwrap_or(false),
        reviewer_name: text("reviewer_name")?,
        reviewer_email: d.get_str("reviewer_email").unwrap_or_default().to_string(),
        response: d.get_str("response").ok().map(str::to_string),
        helpfulness: int(d, "helpfulness")?.clamp(0, i64::from(u32::MAX)) as u32,
        date: int(d, "date")?,
        photos,
    })
}

/// An integer field stored as Int32, Int64 or a whole Double.
fn int(d: &Document, key: &str) -> Result<i64, StoreError> {
    match d.get(key) {
        Some(Bson::Int32(n)) => Ok(i64::from(*n)),
        Some(Bson::Int64(n)) => Ok(*n),
        Some(Bson::Double(f)) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(StoreError::Corrupt(format!("field {key}: {other:?}"))),
    }
}
