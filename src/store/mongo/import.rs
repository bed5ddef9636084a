//! Loading reviews imported from files (see [`crate::transfer`]), and an
//! export of the whole database.
//!
//! Products arrive in product order, from a blocking thread (they are read
//! back from the import's sorted runs); their reviews and meta documents
//! go in unordered bulk inserts, `threads` in flight, duplicates ignored,
//! recording how many products are in as batches complete in order, so an
//! import interrupted and run again with the same files skips what is
//! there; then the indexes and the id counter, as after a generated load.

use std::collections::BTreeMap;

use mongodb::bson::{Document, doc};

use super::docs::{int, meta_doc, meta_from, review_doc, review_from};
use super::load::insert_ignoring_duplicates;
use super::{LAYOUT, MongoStore};
use crate::model::Meta;
use crate::seeding::Progress;
use crate::store::StoreError;
use crate::store::load::{Exported, ImportPlan, ImportedProduct, LoadOptions, LoadOutcome, Source};

/// Products buffered between the thread reading them and the inserts.
const QUEUE: usize = 256;

/// One bulk insert's worth: reviews, meta documents, and the number of
/// products in once it is done.
struct Batch {
    reviews: Vec<Document>,
    metas: Vec<Document>,
    through: u64,
}

impl MongoStore {
    /// Readies the database for an import from `source`: `AlreadyLoaded`
    /// when it holds that import complete; otherwise records the source (a
    /// server refuses the database until the import completes) and answers
    /// how many products an interrupted run left in. Refused when the
    /// database holds anything else.
    pub async fn begin_import(&self, source: &Source) -> Result<LoadOutcome, StoreError> {
        let status = self.status().await?;
        if !status.needs_import(source)? {
            return Ok(LoadOutcome::AlreadyLoaded);
        }
        let update = doc! {
            "$set": {
                "source": { "format": &source.format, "fingerprint": &source.fingerprint },
                "complete": false,
                "layout": LAYOUT,
            },
            "$setOnInsert": { "loaded": 0_i64 },
        };
        self.bound(
            self.info
                .update_one(doc! { "_id": "data_set" }, update)
                .upsert(true),
        )
        .await?;
        Ok(LoadOutcome::Loaded {
            resumed_from: status.loaded,
        })
    }

    /// Loads an import begun with [`MongoStore::begin_import`]: every
    /// product of `products` after the first `resumed_from`, then the
    /// indexes, the id counter and the data set of `plan`.
    pub async fn load_import(
        &self,
        plan: ImportPlan,
        products: Box<dyn Iterator<Item = Result<ImportedProduct, StoreError>> + Send>,
        resumed_from: u64,
        options: LoadOptions,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let set = plan.data_set;
        let named = doc! {
            "$set": {
                "seed": set.seed as i64, "records": set.records as i64,
                "products": set.products as i64,
            },
        };
        self.bound(self.info.update_one(doc! { "_id": "data_set" }, named))
            .await?;
        progress.phase("write", set.records, 0);
        let (tx, mut rx) = tokio::sync::mpsc::channel(QUEUE);
        let reader = tokio::task::spawn_blocking(move || {
            for product in products {
                if tx.blocking_send(product).is_err() {
                    return;
                }
            }
        });
        let mut in_flight = tokio::task::JoinSet::new();
        let mut done: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut seen, mut loaded, mut created) = (0u64, resumed_from, resumed_from);
        let mut batch = Batch {
            reviews: Vec::new(),
            metas: Vec::new(),
            through: 0,
        };
        let threads = options.threads.max(1);
        loop {
            let product = rx.recv().await;
            let last = product.is_none();
            if let Some(product) = product {
                let product = product?;
                seen += 1;
                progress.advance(product.len() as u64);
                if seen <= resumed_from {
                    continue;
                }
                let mut meta = Meta {
                    characteristics: product.characteristics,
                    ..Meta::default()
                };
                for r in &product.reviews()? {
                    if !r.reported {
                        meta.add(r.rating, r.recommend, &r.characteristics);
                    }
                    batch.reviews.push(review_doc(r));
                }
                if meta != Meta::default() {
                    batch.metas.push(meta_doc(product.product_id, &meta));
                }
                batch.through = seen;
            }
            let full = batch.reviews.len() as u64 >= options.batch;
            if (full || last) && batch.through > 0 {
                let ready = std::mem::replace(
                    &mut batch,
                    Batch {
                        reviews: Vec::new(),
                        metas: Vec::new(),
                        through: 0,
                    },
                );
                let (reviews, metas) = (self.reviews.clone(), self.meta.clone());
                let timeout = self.timeout * 10;
                // The batch holds products `first + 1..=through`.
                let first = std::mem::replace(&mut created, ready.through);
                in_flight.spawn(async move {
                    for (coll, docs) in [(reviews, ready.reviews), (metas, ready.metas)] {
                        if !docs.is_empty() {
                            insert_ignoring_duplicates(&coll, docs, timeout).await?;
                        }
                    }
                    Ok::<_, StoreError>((first, ready.through))
                });
            }
            while in_flight.len() >= threads || (last && !in_flight.is_empty()) {
                let finished = in_flight.join_next().await.expect("a task in flight");
                let (first, through) = finished
                    .map_err(|e| StoreError::Unavailable(format!("import task failed: {e}")))??;
                done.insert(first, through);
                // Products are in up to the last batch with every batch
                // before it done.
                while let Some(through) = done.remove(&loaded) {
                    loaded = through;
                }
                let update = doc! { "$set": { "loaded": loaded as i64 } };
                self.bound(self.info.update_one(doc! { "_id": "data_set" }, update))
                    .await?;
            }
            if last {
                break;
            }
        }
        reader
            .await
            .map_err(|e| StoreError::Unavailable(format!("import reader failed: {e}")))?;

        self.build_indexes(progress).await?;
        let counters = doc! {
            "$set": { "next_review_id": plan.next_review_id as i64 },
            "$unset": { "change_seq": "" },
        };
        self.bound(
            self.info
                .update_one(doc! { "_id": "counters" }, counters)
                .upsert(true),
        )
        .await?;
        let complete = doc! {
            "$set": { "complete": true, "loaded": seen as i64, "layout": LAYOUT },
        };
        self.bound(self.info.update_one(doc! { "_id": "data_set" }, complete))
            .await?;
        progress.finish();
        Ok(())
    }

    /// Visits the whole database: the header, every product with
    /// characteristics, then every review with an id below the counter
    /// read at the start (in id order). Each review is one document, read
    /// whole; reviews written while the export runs are left out.
    pub async fn export(
        &self,
        visit: &mut (dyn FnMut(Exported<'_>) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        let status = self.status().await?;
        let (Some(data_set), true) = (status.data_set, status.complete) else {
            return Err(StoreError::Mismatch(
                "the database holds no complete data set: run `seed` first".into(),
            ));
        };
        let counters = self
            .bound(self.info.find_one(doc! { "_id": "counters" }))
            .await?;
        let next_review_id = match counters {
            Some(c) if c.contains_key("next_review_id") => int(&c, "next_review_id")? as u64,
            _ => data_set.records + 1,
        };
        visit(Exported::Header {
            data_set,
            next_review_id,
        })?;
        let mut metas = self
            .bound(
                self.meta
                    .find(doc! { "characteristics": { "$exists": true } })
                    .sort(doc! { "_id": 1 }),
            )
            .await?;
        while metas.advance().await.map_err(super::mongo)? {
            let d = metas.deserialize_current().map_err(super::mongo)?;
            let meta = meta_from(&d)?;
            if !meta.characteristics.is_empty() {
                visit(Exported::Product {
                    product_id: int(&d, "_id")? as u64,
                    characteristics: &meta.characteristics,
                })?;
            }
        }
        let mut reviews = self
            .bound(
                self.reviews
                    .find(doc! { "_id": { "$lt": next_review_id as i64 } })
                    .sort(doc! { "_id": 1 })
                    .batch_size(10_000),
            )
            .await?;
        while reviews.advance().await.map_err(super::mongo)? {
            let d = reviews.deserialize_current().map_err(super::mongo)?;
            visit(Exported::Review(&review_from(&d)?))?;
        }
        Ok(())
    }
}
