//! The bulk load `seed` runs: unordered bulk inserts in parallel batches,
//! resumable; then meta, the indexes, and the counters.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::docs::{meta_doc, review_doc};
use super::{DUPLICATE_KEY, MongoStore, mongo};
use crate::generate::{DataSet, Generator};
use crate::model::Review;
use crate::seeding::{self, LoadOptions, LoadOutcome, Progress};
use crate::store::StoreError;

impl MongoStore {
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
