//! Reads: a page of a product's visible reviews, its meta, and reported
//! reviews for moderators. The change log that followers poll is
//! `changes`.

use mongodb::bson::{Document, doc};
use mongodb::options::Hint;
use tokio::time::Instant;

use mongodb::{ClientSession, SessionCursor};

use super::docs::{int, meta_from, review_from, version_from};
use super::{FACETS, MongoStore, order, primary, until};
use crate::model::{Meta, Page, PageQuery, Review};
use crate::store::page::{SortEntry, select_page};
use crate::store::{StoreError, Versioned};

/// Keys per batch of a facet read: a large product's in one or two round
/// trips (each key projects to ~50 bytes).
const FACET_BATCH: u32 = 10_000;

impl MongoStore {
    /// One page, hinted to the index of its order; `total` and the version
    /// from the meta.
    ///
    /// The meta is read first, then the page, in one causally consistent
    /// session: the page reflects at least every write the meta did (on one
    /// server, as a later read; across a replica set's members, through
    /// the session's cluster time — where a deployment reports none, reads
    /// go to the primary, see [`MongoStore::connect`]). So the page is as
    /// of at least the meta's version (see [`crate::store::Versioned`]).
    pub(super) async fn read_page(
        &self,
        q: PageQuery,
    ) -> Result<Versioned<Option<Page>>, StoreError> {
        let deadline = Instant::now() + self.timeout;
        if !self.product_exists(q.product_id).await? {
            return Ok(Versioned {
                value: None,
                version: 0,
            });
        }
        let mut session = until(deadline, self.client.start_session()).await?;
        let reads = self.reads_for(q.product_id);
        let (meta, version) = self.meta_of(q.product_id, &mut session, deadline).await?;
        let total = meta.total();
        let page = |reviews| Versioned {
            value: Some(Page { total, reviews }),
            version,
        };
        let Some((index, sort)) = order(q.sort).filter(|_| q.filter.is_none()) else {
            let (total, reviews) = self.read_facets(&q, &mut session, deadline).await?;
            return Ok(Versioned {
                value: Some(Page { total, reviews }),
                version,
            });
        };
        if q.offset() >= total {
            return Ok(page(Vec::new()));
        }
        let find = self
            .reviews
            .find(doc! { "product_id": q.product_id as i64, "reported": false })
            .sort(sort)
            .hint(Hint::Name(index.into()))
            .skip(q.offset())
            .limit(i64::from(q.count))
            .projection(doc! { "reviewer_email": 0, "reported": 0, "relevance": 0 })
            .selection_criteria(reads)
            .session(&mut session)
            .into_future();
        // Boxed: the find's future borrows the session, which the compiler
        // cannot prove `Send` for every lifetime through `until`'s generic.
        let cursor = until(deadline, Box::pin(find)).await?;
        Ok(page(reviews_of(cursor, &mut session, deadline).await?))
    }

    /// A filtered page, or one in a rating order (see the module docs of
    /// [`super`]): the kept reviews' keys from the facet index, ordered
    /// and paged here, then the page's documents by `_id`; with words,
    /// the kept reviews' text is read and searched first. The number of
    /// reviews kept, and the page.
    async fn read_facets(
        &self,
        q: &PageQuery,
        session: &mut ClientSession,
        deadline: Instant,
    ) -> Result<(u64, Vec<Review>), StoreError> {
        let f = &q.filter;
        let mut filter = doc! { "product_id": q.product_id as i64, "reported": false };
        if f.star_bits() != 0 {
            let ratings: Vec<i32> = f.ratings().map(i32::from).collect();
            filter.insert("rating", doc! { "$in": ratings });
        }
        if f.with_photos {
            filter.insert("has_photos", true);
        }
        let mut projection = doc! { "_id": 1, "rating": 1, "date": 1, "helpfulness": 1 };
        if f.words.is_some() {
            projection.extend(doc! { "summary": 1, "body": 1 });
        }
        let find = self
            .reviews
            .find(filter)
            .hint(Hint::Name(FACETS.into()))
            .projection(projection)
            .batch_size(FACET_BATCH)
            .selection_criteria(self.reads_for(q.product_id))
            .session(&mut *session);
        let mut entries = Vec::new();
        let mut cursor = until(deadline, Box::pin(find.into_future())).await?;
        while until(deadline, cursor.advance(&mut *session)).await? {
            let d = cursor
                .deserialize_current()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(words) = &f.words {
                let text = |k| d.get_str(k).unwrap_or_default();
                if !words.all_in(&[text("summary"), text("body")]) {
                    continue;
                }
            }
            let rating = int(&d, "rating")?.clamp(0, 5) as u8;
            let helpfulness = int(&d, "helpfulness")?.clamp(0, i64::from(u32::MAX)) as u32;
            entries.push(SortEntry {
                key: q.sort.key(rating, helpfulness, int(&d, "date")?),
                review_id: int(&d, "_id")? as u64,
            });
        }
        let total = entries.len() as u64;
        let chosen = select_page(&mut entries, q.offset(), q.count);
        if chosen.is_empty() {
            return Ok((total, Vec::new()));
        }
        let ids: Vec<i64> = chosen.iter().map(|e| e.review_id as i64).collect();
        let find = self
            .reviews
            .find(doc! { "_id": { "$in": &ids } })
            .projection(doc! { "reviewer_email": 0, "reported": 0, "relevance": 0 })
            .selection_criteria(self.reads_for(q.product_id))
            .session(&mut *session)
            .into_future();
        let cursor = until(deadline, Box::pin(find)).await?;
        let mut found = reviews_of(cursor, session, deadline).await?;
        // In the page's order; a review gone since its key was read (none
        // can be: reviews are never deleted) would be left out.
        let place = |r: &Review| ids.iter().position(|&id| id as u64 == r.review_id);
        found.sort_by_key(|r| place(r));
        Ok((total, found))
    }

    /// A product's meta; zeros for a product with no document.
    pub(super) async fn read_meta(
        &self,
        product_id: u64,
    ) -> Result<Versioned<Option<Meta>>, StoreError> {
        let deadline = Instant::now() + self.timeout;
        if !self.product_exists(product_id).await? {
            return Ok(Versioned {
                value: None,
                version: 0,
            });
        }
        let mut session = until(deadline, self.client.start_session()).await?;
        let (meta, version) = self.meta_of(product_id, &mut session, deadline).await?;
        Ok(Versioned {
            value: Some(meta),
            version,
        })
    }

    /// A product's meta and version; zeros (and version 0) for a product
    /// with no document.
    async fn meta_of(
        &self,
        product_id: u64,
        session: &mut ClientSession,
        deadline: Instant,
    ) -> Result<(Meta, u64), StoreError> {
        let find = self
            .meta
            .find_one(doc! { "_id": product_id as i64 })
            .selection_criteria(self.reads_for(product_id))
            .session(session);
        match until(deadline, find).await? {
            Some(d) => Ok((meta_from(&d)?, version_from(&d)?)),
            None => Ok((Meta::default(), 0)),
        }
    }

    /// Reported reviews below `before`, highest id first, at most `limit`:
    /// from the primary, so a moderator sees a report at once.
    pub(super) async fn read_reported(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Review>, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let mut filter = doc! { "reported": true };
        if let Some(before) = before {
            filter.insert("_id", doc! { "$lt": before.min(i64::MAX as u64) as i64 });
        }
        let mut session = until(deadline, self.client.start_session()).await?;
        let find = self
            .reviews
            .find(filter)
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit))
            .projection(doc! { "relevance": 0 })
            .selection_criteria(primary())
            .session(&mut session)
            .into_future();
        let cursor = until(deadline, Box::pin(find)).await?;
        reviews_of(cursor, &mut session, deadline).await
    }
}

/// The reviews a find's `cursor` in `session` answers, each read whole,
/// within `deadline`.
async fn reviews_of(
    mut cursor: SessionCursor<Document>,
    session: &mut ClientSession,
    deadline: Instant,
) -> Result<Vec<Review>, StoreError> {
    let mut reviews = Vec::new();
    while until(deadline, cursor.advance(session)).await? {
        let doc = cursor
            .deserialize_current()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        reviews.push(review_from(&doc)?);
    }
    Ok(reviews)
}
