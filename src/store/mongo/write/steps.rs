//! The steps of one attempt, in its session (see the module docs above):
//! the guard claims, the review write, the key's answer, the product's
//! meta and version, the change entry at the next number of its bucket.
//!
//! # Versions
//!
//! Every write `$inc`s its product's `v` in the meta document, in the
//! write's own transaction, and reads the new value back from that update
//! (`findOneAndUpdate`, after the change): the write's version, known
//! before the commit, carried by its change entry, and read by every later
//! read of the product with its meta. Writes to one product hold the meta
//! document's lock in turn (a write conflict retried on MongoDB, a row
//! lock waited for on engines built on PostgreSQL), so each gets a version
//! above every earlier one's, on any deployment — no cluster time needed.

use mongodb::ClientSession;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use tokio::time::Instant;

use super::retry::{Failure, Next, within};
use super::{Applied, Change, Op};
use crate::model::RELEVANCE_YEAR_SECS;
use crate::store::mongo::docs::{int, meta_inc, ratings_from, review_doc, version_from};
use crate::store::mongo::{MongoStore, changes};
use crate::store::{StoreError, Versioned, WriteGuard};

impl MongoStore {
    /// The write's steps in `session`.
    pub(super) async fn apply(
        &self,
        session: &mut ClientSession,
        op: Op<'_>,
        guard: &WriteGuard,
        token: ObjectId,
        deadline: Instant,
    ) -> Result<Applied, Failure> {
        if let Some(claim) = self
            .claim_guards(session, op, guard, token, deadline)
            .await?
        {
            return Ok(Applied::Taken(claim));
        }
        let (product, counted) = match op {
            Op::Add(review) => {
                let insert = self.reviews.insert_one(review_doc(review));
                within(deadline, insert.session(&mut *session)).await?;
                let counted = meta_inc(review.rating, review.recommend, &review.characteristics, 1);
                (review.product_id, counted)
            }
            Op::Update(review_id, change) => {
                let Some(found) = self
                    .update_review(session, review_id, change, deadline)
                    .await?
                else {
                    return Ok(Applied::NotFound);
                };
                found
            }
        };
        self.record_answer(session, guard, op.answer(product), deadline)
            .await?;
        // The product's meta, which every write to the product locks, as
        // late as the version allows: the less time a transaction holds it,
        // the less another waits — and the less a transaction orphaned by a
        // lost connection holds up (an engine without `killSessions` keeps
        // it until its own transaction time limit).
        let version = self.advance(session, product, counted, deadline).await?;
        // Last, so that without a transaction followers never hear of a
        // write before it is there; the bucket's counter just before, so
        // the transaction holds it for the least time (its entry and the
        // commit): the bucket's other products' writes wait for that.
        let pos = self.next_position(session, product, deadline).await?;
        let entry = changes::entry(token, product, version, pos);
        let log = self.changes.insert_one(entry).session(&mut *session);
        within(deadline, log).await?;
        Ok(Applied::Done(Versioned {
            value: product,
            version,
        }))
    }

    /// Votes on, reports or restores a visible (to restore, a reported)
    /// review, or sets its seller's response (reported or not): its
    /// product and what its meta counts change by, or `None` when no
    /// review is in that state.
    async fn update_review(
        &self,
        session: &mut ClientSession,
        review_id: u64,
        change: Change<'_>,
        deadline: Instant,
    ) -> Result<Option<(u64, Document)>, Failure> {
        let (filter, update) = match change {
            Change::Helpful => (
                doc! { "_id": review_id as i64, "reported": false },
                doc! { "$inc": { "helpfulness": 1_i64, "relevance": RELEVANCE_YEAR_SECS } },
            ),
            Change::Report => (
                doc! { "_id": review_id as i64, "reported": false },
                doc! { "$set": { "reported": true } },
            ),
            Change::Restore => (
                doc! { "_id": review_id as i64, "reported": true },
                doc! { "$set": { "reported": false } },
            ),
            Change::Respond(response) => (
                doc! { "_id": review_id as i64 },
                doc! { "$set": { "response": response } },
            ),
        };
        let find = self
            .reviews
            .find_one_and_update(filter, update)
            .projection(doc! {
                "product_id": 1, "rating": 1, "recommend": 1, "characteristics": 1,
            })
            .session(&mut *session);
        let Some(doc) = within(deadline, find).await? else {
            return Ok(None);
        };
        let product = int(&doc, "product_id")? as u64;
        let counted = match change {
            // A vote or a response counts nothing in meta; it only moves
            // the version.
            Change::Helpful | Change::Respond(_) => doc! { "$inc": {} },
            Change::Report | Change::Restore => {
                let rating = int(&doc, "rating")? as u8;
                let recommend = doc
                    .get_bool("recommend")
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let rated = ratings_from(&doc)?;
                let by = if change == Change::Report { -1 } else { 1 };
                meta_inc(rating, recommend, &rated, by)
            }
        };
        Ok(Some((product, counted)))
    }

    /// The next position of `product_id`'s bucket in the change log (see
    /// `store::mongo::changes`).
    async fn next_position(
        &self,
        session: &mut ClientSession,
        product_id: u64,
        deadline: Instant,
    ) -> Result<i64, Failure> {
        let bucket = changes::bucket_of(product_id);
        let bump = changes::next_number(&self.buckets, bucket).session(&mut *session);
        match within(deadline, bump).await {
            Ok(Some(counter)) => Ok(changes::position(bucket, changes::number(&counter)?)),
            Ok(None) => Err(Failure::stop(StoreError::Corrupt(
                "the change log's counter upsert returned no document".into(),
            ))),
            // Two first writes to a bucket created its counter at once: the
            // other one stands, so this attempt can simply go again.
            Err(failure) if failure.next == Next::Duplicate => Err(Failure {
                next: Next::Retry,
                ..failure
            }),
            Err(failure) => Err(failure),
        }
    }

    /// Applies `counted` (an `$inc` of meta counters) to the product's meta
    /// and advances its version: the write's version. A product with no
    /// document yet gets one.
    async fn advance(
        &self,
        session: &mut ClientSession,
        product_id: u64,
        mut counted: Document,
        deadline: Instant,
    ) -> Result<u64, Failure> {
        let inc = counted
            .get_document_mut("$inc")
            .map_err(|e| Failure::stop(StoreError::Corrupt(e.to_string())))?;
        inc.insert("v", 1_i64);
        let update = self
            .meta
            .find_one_and_update(doc! { "_id": product_id as i64 }, counted)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .projection(doc! { "v": 1 })
            .session(&mut *session);
        match within(deadline, update).await? {
            Some(meta) => Ok(version_from(&meta)?),
            None => Err(Failure::stop(StoreError::Corrupt(
                "the meta upsert returned no document".into(),
            ))),
        }
    }
}
