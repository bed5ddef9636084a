//! Writes: a new review, a helpful vote, a report, each in a transaction
//! where the deployment has them.

use mongodb::ClientSession;
use mongodb::bson::doc;
use mongodb::options::ReturnDocument;

use super::docs::{int, meta_inc, review_doc};
use super::{CHANGES_KEPT, MongoStore};
use crate::generate::photo_id;
use crate::model::{NewReview, Photo, RELEVANCE_YEAR_SECS, Review};
use crate::store::StoreError;

/// The two updates of an existing review.
#[derive(Clone, Copy)]
pub(super) enum Vote {
    Helpful,
    Report,
}

fn transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(msg) if msg.contains("TransientTransactionError"))
}

impl MongoStore {
    pub(super) async fn write_review(
        &self,
        product_id: u64,
        new: NewReview,
    ) -> Result<Option<u64>, StoreError> {
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
        // All seven counters, so that an upsert creates a whole document.
        let op = self
            .meta
            .update_one(
                doc! { "_id": product_id as i64 },
                meta_inc(rating, recommend, by),
            )
            .upsert(true);
        self.bound(op.session(&mut *session)).await?;
        Ok(())
    }

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
            date: crate::cache::now_ms() as i64 / 1000,
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
    pub(super) async fn update_review(
        &self,
        review_id: u64,
        vote: Vote,
    ) -> Result<Option<u64>, StoreError> {
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
            Vote::Helpful => {
                doc! { "$inc": { "helpfulness": 1_i64, "relevance": RELEVANCE_YEAR_SECS } }
            }
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
}
