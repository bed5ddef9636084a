//! Reads: a page of a product's visible reviews, its meta, and the change
//! log that followers poll.

use mongodb::bson::doc;
use mongodb::options::{Hint, ReadPreference, SelectionCriteria};

use super::docs::{int, meta_from, review_from};
use super::{CHANGES_KEPT, MongoStore, mongo, order};
use crate::model::{Meta, Page, PageQuery};
use crate::store::{Changes, StoreError};

impl MongoStore {
    /// One page, hinted to the index of its order; `total` from the meta.
    pub(super) async fn read_page(&self, q: PageQuery) -> Result<Option<Page>, StoreError> {
        if !self.product_exists(q.product_id).await? {
            return Ok(None);
        }
        let reads = self.reads_for(q.product_id);
        let total = match self.meta_doc(q.product_id, reads.clone()).await? {
            Some(meta) => meta.total(),
            None => 0,
        };
        if q.offset() >= total {
            return Ok(Some(Page {
                total,
                reviews: Vec::new(),
            }));
        }
        let (index, sort) = order(q.sort);
        let find = self
            .reviews
            .find(doc! { "product_id": q.product_id as i64, "reported": false })
            .sort(sort)
            .hint(Hint::Name(index.into()))
            .skip(q.offset())
            .limit(i64::from(q.count))
            .projection(doc! { "reviewer_email": 0, "reported": 0, "relevance": 0 })
            .selection_criteria(reads);
        let mut cursor = self.bound(find).await?;
        let mut reviews = Vec::with_capacity(q.count as usize);
        while self.bound(cursor.advance()).await? {
            let doc = cursor.deserialize_current().map_err(mongo)?;
            reviews.push(review_from(&doc)?);
        }
        Ok(Some(Page { total, reviews }))
    }

    pub(super) async fn read_meta(&self, product_id: u64) -> Result<Option<Meta>, StoreError> {
        if !self.product_exists(product_id).await? {
            return Ok(None);
        }
        let reads = self.reads_for(product_id);
        Ok(Some(
            self.meta_doc(product_id, reads).await?.unwrap_or_default(),
        ))
    }

    pub(super) async fn read_changes(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
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

    pub(super) async fn meta_doc(
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
            Some(d) => meta_from(&d).map(Some),
        }
    }
}
