//! The bulk load `seed` runs: unordered bulk inserts in parallel batches,
//! resumable; then meta, the indexes, and the id counter.

use std::collections::BTreeSet;
use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::docs::{int, meta_doc, review_doc};
use super::write::retry::is_duplicate;
use super::{
    CHANGES_KEPT_FOR, DUPLICATE_KEY, FACETS, LAYOUT, MongoStore, facet_keys, mongo, order,
};
use crate::generate::{DataSet, Generator};
use crate::model::{Meta, RELEVANCE_YEAR_SECS, Review, Sort};
use crate::seeding::{self, Progress};
use crate::store::StoreError;
use crate::store::load::{LoadOptions, LoadOutcome};

/// Meta documents built and inserted at a time.
const META_CHUNK: usize = 10_000;
/// Meta documents an upgrade updates at once.
const UPGRADE_IN_FLIGHT: usize = 32;
/// Index names of the first layout, dropped by an upgrade.
const OLD_INDEXES: [&str; 2] = ["product_date", "product_helpful"];

impl MongoStore {
    /// Loads `set` with unordered bulk inserts, `options.threads` batches of
    /// `options.batch` in flight; resumes an interrupted load of the same set
    /// (re-inserted reviews are duplicate keys, ignored); then writes meta,
    /// builds the indexes and sets the id counter. A complete data set of an
    /// older document layout is upgraded in place.
    pub async fn load(
        &self,
        set: DataSet,
        options: LoadOptions,
        progress: &mut dyn Progress,
    ) -> Result<LoadOutcome, StoreError> {
        let status = self.status().await?;
        let layout = self.layout().await?;
        if !status.needs_load(set)? {
            if layout >= LAYOUT {
                return Ok(LoadOutcome::AlreadyLoaded);
            }
            self.upgrade(set, progress).await?;
            return Ok(LoadOutcome::Loaded {
                resumed_from: set.records,
            });
        }
        // Reviews an older version inserted before it was interrupted lack
        // `relevance` or `has_photos`.
        let backfill = status.loaded > 0 && layout < LAYOUT;
        let data_set = doc! {
            "seed": set.seed as i64, "records": set.records as i64,
            "products": set.products as i64, "complete": false, "layout": LAYOUT,
        };
        let update = doc! { "$set": data_set, "$setOnInsert": { "loaded": 0_i64 } };
        self.bound(
            self.info
                .update_one(doc! { "_id": "data_set" }, update)
                .upsert(true),
        )
        .await?;

        progress.phase("reviews", set.records, status.loaded);
        self.insert_reviews(set, options, status.loaded, progress)
            .await?;
        if backfill {
            self.backfill().await?;
        }

        self.build_indexes(progress).await?;
        progress.phase("meta", set.products, 0);
        let metas = seeding::metas(set, options.threads);
        self.bound(self.meta.delete_many(doc! {})).await?;
        // Every product's, reviews or none: its characteristics are there.
        // The documents of a chunk at a time: a million products'
        // documents at once held about 2 GB at 10M records.
        for (n, chunk) in metas.chunks(META_CHUNK).enumerate() {
            let docs: Vec<Document> = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| meta_doc((n * META_CHUNK + i) as u64 + 1, m))
                .collect();
            self.bound(self.meta.insert_many(docs).ordered(false))
                .await?;
            progress.advance(chunk.len() as u64);
        }
        let counters = doc! {
            "$set": { "next_review_id": set.records as i64 + 1 },
            "$unset": { "change_seq": "" },
        };
        self.bound(
            self.info
                .update_one(doc! { "_id": "counters" }, counters)
                .upsert(true),
        )
        .await?;
        let complete = doc! {
            "$set": { "complete": true, "loaded": set.records as i64, "layout": LAYOUT },
        };
        self.bound(self.info.update_one(doc! { "_id": "data_set" }, complete))
            .await?;
        progress.finish();
        Ok(LoadOutcome::Loaded {
            resumed_from: status.loaded,
        })
    }

    /// Inserts reviews `loaded + 1..=set.records`, recording progress as
    /// batches complete in order.
    async fn insert_reviews(
        &self,
        set: DataSet,
        options: LoadOptions,
        loaded: u64,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let batch = options.batch.max(1);
        let generator = Generator::new(set);
        let mut next = (loaded + 1..=set.records).step_by(batch as usize);
        let mut in_flight = tokio::task::JoinSet::new();
        let mut done = BTreeSet::new();
        let mut loaded = loaded;
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
        Ok(())
    }

    /// The document layout of the loaded data set (1 when it names none).
    async fn layout(&self) -> Result<i64, StoreError> {
        let info = self
            .bound(self.info.find_one(doc! { "_id": "data_set" }))
            .await?;
        match info {
            Some(d) if d.contains_key("layout") => int(&d, "layout"),
            _ => Ok(1),
        }
    }

    /// Brings a complete data set of an older layout to this one:
    /// `relevance` and `has_photos` on every review, the partial indexes in
    /// place of the old ones, the facet index, a change log keyed by token,
    /// no change sequence, and every product's characteristics. Safe to
    /// run again.
    async fn upgrade(&self, set: DataSet, progress: &mut dyn Progress) -> Result<(), StoreError> {
        progress.phase("upgrade", set.products, 0);
        self.backfill().await?;
        self.define_characteristics(set, progress).await?;
        for name in OLD_INDEXES {
            match self
                .slow(self.reviews.drop_index(name), "dropping an index")
                .await
            {
                Ok(()) => {}
                // Dropped by an earlier, interrupted upgrade.
                Err(_) if !self.has_index(name).await? => {}
                Err(e) => return Err(e),
            }
        }
        self.build_indexes(progress).await?;
        self.bound(
            self.changes
                .delete_many(doc! { "at": { "$exists": false } }),
        )
        .await?;
        let counters = doc! { "$unset": { "change_seq": "" } };
        self.bound(self.info.update_one(doc! { "_id": "counters" }, counters))
            .await?;
        let layout = doc! { "$set": { "layout": LAYOUT } };
        self.bound(self.info.update_one(doc! { "_id": "data_set" }, layout))
            .await?;
        progress.finish();
        Ok(())
    }

    /// Gives every product of `set` whose meta document names no
    /// characteristics those the generator gives it, with nothing counted:
    /// the reviews already stored rate none, so they count in no average;
    /// reviews written from now on rate them all. A product without a meta
    /// document gets one. [`UPGRADE_IN_FLIGHT`] updates at a time.
    async fn define_characteristics(
        &self,
        set: DataSet,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let generator = Generator::new(set);
        let mut products = 1..=set.products;
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            while in_flight.len() < UPGRADE_IN_FLIGHT {
                let Some(product) = products.next() else {
                    break;
                };
                let defined = meta_doc(
                    product,
                    &Meta {
                        characteristics: generator.characteristics(product),
                        ..Meta::default()
                    },
                );
                let characteristics = defined.get("characteristics").cloned();
                let meta = self.meta.clone();
                let timeout = self.timeout;
                in_flight.spawn(async move {
                    let filter = doc! {
                        "_id": product as i64, "characteristics": { "$exists": false },
                    };
                    let update = doc! { "$set": { "characteristics": characteristics } };
                    let upsert = meta.update_one(filter, update).upsert(true);
                    match tokio::time::timeout(timeout, upsert.into_future()).await {
                        Ok(Ok(_)) => Ok(()),
                        // Defined already: the upsert's insert met the document.
                        Ok(Err(e)) if is_duplicate(&e) => Ok(()),
                        Ok(Err(e)) => Err(mongo(e)),
                        Err(_) => Err(StoreError::Unavailable(
                            "MongoDB did not answer in time".into(),
                        )),
                    }
                });
            }
            let Some(done) = in_flight.join_next().await else {
                break;
            };
            done.map_err(|e| StoreError::Unavailable(format!("upgrade task failed: {e}")))??;
            progress.advance(1);
        }
        Ok(())
    }

    /// Sets `relevance` and `has_photos` on every review without them
    /// (a pipeline update each, computing the field from the others).
    async fn backfill(&self) -> Result<(), StoreError> {
        let computed = [
            (
                "relevance",
                doc! { "$add": [{ "$multiply": ["$helpfulness", RELEVANCE_YEAR_SECS] }, "$date"] },
            ),
            (
                "has_photos",
                doc! { "$gt": [{ "$size": { "$ifNull": ["$photos", []] } }, 0] },
            ),
        ];
        for (field, value) in computed {
            let set = doc! { "$set": { field: value } };
            let backfill = self
                .reviews
                .update_many(doc! { field: { "$exists": false } }, vec![set]);
            let what = format!("adding {field} to every review");
            self.slow(backfill, &what).await?;
        }
        Ok(())
    }

    async fn has_index(&self, name: &str) -> Result<bool, StoreError> {
        let names = self.bound(self.reviews.list_index_names()).await?;
        Ok(names.iter().any(|n| n == name))
    }

    /// The page indexes (partial: visible reviews only), then the others:
    /// the change log's TTL index, reported reviews', the guards' TTL
    /// indexes — one at a time, as a phase of `progress` (see `indexing`).
    pub(super) async fn build_indexes(
        &self,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let visible = |name: &str, keys: Document| {
            let options = IndexOptions::builder()
                .name(name.to_string())
                .partial_filter_expression(doc! { "reported": false })
                .build();
            IndexModel::builder().keys(keys).options(options).build()
        };
        let mut models: Vec<IndexModel> = Sort::ALL
            .into_iter()
            .filter_map(order)
            .map(|(name, by)| {
                let mut keys = doc! { "product_id": 1 };
                keys.extend(by);
                visible(name, keys)
            })
            .collect();
        models.push(visible(FACETS, facet_keys()));
        let mut builds: Vec<_> = models
            .into_iter()
            .map(|model| (self.reviews.clone(), model))
            .collect();
        let ttl = IndexModel::builder()
            .keys(doc! { "at": 1 })
            .options(
                IndexOptions::builder()
                    .name("at_ttl".to_string())
                    .expire_after(CHANGES_KEPT_FOR)
                    .build(),
            )
            .build();
        builds.push((self.changes.clone(), ttl));
        builds.push((self.reviews.clone(), reported_index()));
        builds.extend(guard_ttl_indexes(&self.idempotency, &self.votes));
        self.build_in_turn(builds, progress).await
    }

    /// Makes sure, in the background, that the indexes of write safety
    /// exist on a data set loaded before they did: the TTL indexes of
    /// `idempotency` and `votes`, and `reported`. Creating an index that
    /// exists is a no-op; until they exist, expired records are only
    /// ignored, not removed, and listing reported reviews scans.
    pub(super) fn ensure_guard_indexes(&self) {
        let reviews = self.reviews.clone();
        let ttl = guard_ttl_indexes(&self.idempotency, &self.votes);
        tokio::spawn(async move {
            for (collection, model) in ttl {
                if let Err(e) = collection.create_index(model).await {
                    tracing::warn!("cannot create a TTL index on {}: {e}", collection.name());
                }
            }
            if let Err(e) = reviews.create_index(reported_index()).await {
                tracing::warn!("cannot create the index of reported reviews: {e}");
            }
        });
    }

    /// Runs a long server-side operation: bounded, but far past one timeout.
    pub(super) async fn slow<T>(
        &self,
        op: impl IntoFuture<Output = mongodb::error::Result<T>>,
        what: &str,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout * 600, op.into_future())
            .await
            .map_err(|_| StoreError::Unavailable(format!("MongoDB: {what} timed out")))?
            .map_err(mongo)
    }
}

/// The partial index of reported reviews, newest id first.
fn reported_index() -> IndexModel {
    let options = IndexOptions::builder()
        .name("reported".to_string())
        .partial_filter_expression(doc! { "reported": true })
        .build();
    IndexModel::builder()
        .keys(doc! { "reported": 1, "_id": -1 })
        .options(options)
        .build()
}

/// The TTL indexes that remove idempotency keys and votes once their date
/// has passed.
fn guard_ttl_indexes(
    idempotency: &Collection<Document>,
    votes: &Collection<Document>,
) -> [(Collection<Document>, IndexModel); 2] {
    let ttl = |name: &str, field: &str| {
        let options = IndexOptions::builder()
            .name(name.to_string())
            .expire_after(Duration::ZERO)
            .build();
        IndexModel::builder()
            .keys(doc! { field: 1 })
            .options(options)
            .build()
    };
    [
        (idempotency.clone(), ttl("expires_ttl", "expires")),
        (votes.clone(), ttl("until_ttl", "until")),
    ]
}

/// Inserts unordered; duplicate keys (a resumed load re-inserting) are fine.
pub(super) async fn insert_ignoring_duplicates(
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
            ErrorKind::InsertMany(failure)
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
