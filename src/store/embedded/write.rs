//! Writes: each one LMDB transaction (record, review → product map, index,
//! meta, reported index, the records that guard it, change log), committed
//! durably before it returns. A write that finds nothing to do, or a key already used, aborts
//! its transaction: it leaves no trace.

use heed::RwTxn;

use super::expiring::{IDEMPOTENCY, VOTE, decode_answer, encode_answer, vote_key};
use super::keys::{decode_meta, encode_meta, facet_key, index_value, review_key};
use super::{CHANGES_KEPT, EmbeddedStore, KEY_CHANGE_SEQ, KEY_NEXT_ID, KEY_PRODUCTS, codec};
use crate::clock::unix_seconds;
use crate::model::{Meta, NewReview, Review};
use crate::store::{Outcome, StoreError, Versioned, Voter, Write, WriteGuard};

/// What a write's steps came to, before the guard's records and the log.
enum Applied {
    /// Written: the answer, and the product whose copies it changes.
    Done { answer: u64, product: u64 },
    /// A repeated vote: nothing to write.
    Unchanged { product: u64 },
    /// No such product or review in the state the write needs.
    NotFound,
    /// The write does not fit what the store holds: why.
    Refused(String),
}

impl EmbeddedStore {
    /// [`crate::store::Store::write_guarded`], on the calling thread.
    pub(super) fn write_once(
        &self,
        write: Write,
        guard: &WriteGuard,
    ) -> Result<Outcome, StoreError> {
        let mut txn = self.env.write_txn()?;
        let now = guard.now_ms;
        if let Some(key) = &guard.idempotency
            && let Some(payload) = self.live(&txn, IDEMPOTENCY, key.key.as_bytes(), now)?
        {
            let (fingerprint, answer) = decode_answer(payload)?;
            let version = committed(&txn);
            return Ok(if fingerprint == key.fingerprint {
                Outcome::Replayed(Versioned {
                    value: answer,
                    version,
                })
            } else {
                Outcome::KeyReused
            });
        }
        let applied = match write {
            Write::AddReview { product_id, review } => self.add(&mut txn, product_id, review)?,
            Write::Helpful { review_id } => self.vote(&mut txn, review_id, guard.voter, now)?,
            Write::Report { review_id } => self.set_reported(&mut txn, review_id, true)?,
            Write::Restore { review_id } => self.set_reported(&mut txn, review_id, false)?,
            Write::Respond {
                review_id,
                response,
            } => self.respond(&mut txn, review_id, response)?,
        };
        let (answer, product) = match applied {
            Applied::Done { answer, product } => (answer, product),
            Applied::NotFound => return Ok(Outcome::NotFound),
            Applied::Refused(why) => return Ok(Outcome::Refused(why)),
            Applied::Unchanged { product } => {
                let version = committed(&txn);
                return Ok(Outcome::Unchanged(Versioned {
                    value: product,
                    version,
                }));
            }
        };
        if let Some(key) = &guard.idempotency {
            let payload = encode_answer(key.fingerprint, answer);
            self.put_expiring(
                &mut txn,
                IDEMPOTENCY,
                key.key.as_bytes(),
                key.expires_ms,
                &payload,
            )?;
        }
        self.sweep(&mut txn, now)?;
        self.log_change(&mut txn, product)?;
        // This transaction's id: the version readers see once it commits.
        let version = txn.id() as u64;
        txn.commit()?;
        Ok(Outcome::Written(Versioned {
            value: answer,
            version,
        }))
    }

    fn add(&self, txn: &mut RwTxn, product_id: u64, new: NewReview) -> Result<Applied, StoreError> {
        let products = self.info_u64(txn, KEY_PRODUCTS)?.unwrap_or(0);
        if !(1..=products).contains(&product_id) {
            return Ok(Applied::NotFound);
        }
        let meta = self.meta.get(txn, &product_id.to_be_bytes())?;
        let meta = meta.map(decode_meta).transpose()?.unwrap_or_default();
        let rated = match meta.characteristics.resolve(&new.characteristics) {
            Ok(rated) => rated,
            Err(why) => return Ok(Applied::Refused(why.0)),
        };
        let id = self.info_u64(txn, KEY_NEXT_ID)?.unwrap_or(1);
        let review = Review::submitted(id, product_id, unix_seconds(), new, rated);
        let mut bytes = Vec::with_capacity(512);
        codec::encode(&review, &mut bytes);
        self.records.put(txn, &review_key(product_id, id), &bytes)?;
        self.review_product
            .put(txn, &id.to_be_bytes(), &product_id.to_be_bytes())?;
        let facet = facet_key(product_id, review.rating, !review.photos.is_empty(), id);
        self.by_facet
            .put(txn, &facet, &index_value(review.date, 0))?;
        self.update_meta(txn, product_id, |m| {
            m.add(review.rating, review.recommend, &review.characteristics)
        })?;
        self.info.put(txn, KEY_NEXT_ID, &(id + 1).to_be_bytes())?;
        Ok(Applied::Done {
            answer: id,
            product: product_id,
        })
    }

    /// One more helpful vote on a visible review, unless `voter` already
    /// voted on it before `now`'s window ends.
    fn vote(
        &self,
        txn: &mut RwTxn,
        review_id: u64,
        voter: Option<Voter>,
        now: u64,
    ) -> Result<Applied, StoreError> {
        let Some(before) = self.find_review(txn, review_id)?.filter(|r| !r.reported) else {
            return Ok(Applied::NotFound);
        };
        let product = before.product_id;
        if let Some(voter) = voter {
            let key = vote_key(review_id, voter.id);
            if self.live(txn, VOTE, &key, now)?.is_some() {
                return Ok(Applied::Unchanged { product });
            }
            self.put_expiring(txn, VOTE, &key, voter.until_ms, &[])?;
        }
        let mut after = before.clone();
        after.helpfulness = after.helpfulness.saturating_add(1);
        self.rewrite(txn, &before, &after)?;
        Ok(Applied::Done {
            answer: product,
            product,
        })
    }

    /// Reports (`reported`) a visible review or restores a reported one.
    fn set_reported(
        &self,
        txn: &mut RwTxn,
        review_id: u64,
        reported: bool,
    ) -> Result<Applied, StoreError> {
        let Some(before) = self
            .find_review(txn, review_id)?
            .filter(|r| r.reported != reported)
        else {
            return Ok(Applied::NotFound);
        };
        let mut after = before.clone();
        after.reported = reported;
        self.rewrite(txn, &before, &after)?;
        Ok(Applied::Done {
            answer: before.product_id,
            product: before.product_id,
        })
    }

    /// Sets (or, with `None`, clears) the seller's answer to a review,
    /// reported or not.
    fn respond(
        &self,
        txn: &mut RwTxn,
        review_id: u64,
        response: Option<String>,
    ) -> Result<Applied, StoreError> {
        let Some(before) = self.find_review(txn, review_id)? else {
            return Ok(Applied::NotFound);
        };
        let mut after = before.clone();
        after.response = response;
        self.rewrite(txn, &before, &after)?;
        Ok(Applied::Done {
            answer: before.product_id,
            product: before.product_id,
        })
    }

    /// Stores `after` in place of `before`, moving it in or out of the
    /// product index, the meta and the reported index as its flag changes.
    fn rewrite(&self, txn: &mut RwTxn, before: &Review, after: &Review) -> Result<(), StoreError> {
        let id = after.review_id;
        let mut bytes = Vec::with_capacity(512);
        codec::encode(after, &mut bytes);
        let key = review_key(after.product_id, id);
        self.records.put(txn, &key, &bytes)?;
        let (rating, recommend, rated) = (after.rating, after.recommend, after.characteristics);
        let facet = facet_key(after.product_id, rating, !after.photos.is_empty(), id);
        if after.reported {
            if !before.reported {
                self.by_facet.delete(txn, &facet)?;
                self.update_meta(txn, after.product_id, |m| {
                    m.remove(rating, recommend, &rated)
                })?;
            }
            self.reported.put(txn, &id.to_be_bytes(), &[])?;
            return Ok(());
        }
        self.by_facet
            .put(txn, &facet, &index_value(after.date, after.helpfulness))?;
        if before.reported {
            self.update_meta(txn, after.product_id, |m| m.add(rating, recommend, &rated))?;
            self.reported.delete(txn, &id.to_be_bytes())?;
        }
        Ok(())
    }

    fn update_meta(
        &self,
        txn: &mut RwTxn,
        product_id: u64,
        change: impl FnOnce(&mut Meta),
    ) -> Result<(), StoreError> {
        let key = product_id.to_be_bytes();
        let mut meta = match self.meta.get(txn, &key)? {
            Some(raw) => decode_meta(raw)?,
            None => Meta::default(),
        };
        change(&mut meta);
        self.meta.put(txn, &key, &encode_meta(&meta))?;
        Ok(())
    }

    /// Appends `product_id` to the change log and trims its oldest entry.
    fn log_change(&self, txn: &mut RwTxn, product_id: u64) -> Result<(), StoreError> {
        let seq = self.info_u64(txn, KEY_CHANGE_SEQ)?.unwrap_or(0) + 1;
        self.changes
            .put(txn, &seq.to_be_bytes(), &product_id.to_be_bytes())?;
        if seq > CHANGES_KEPT {
            self.changes
                .delete(txn, &(seq - CHANGES_KEPT).to_be_bytes())?;
        }
        self.info.put(txn, KEY_CHANGE_SEQ, &seq.to_be_bytes())?;
        Ok(())
    }
}

/// The version a write transaction that will not commit (a replay, or a
/// write that changes nothing) reports: what the store holds now, the last
/// committed transaction's — write transactions are serialized, so that
/// is the one numbered just before this.
fn committed(txn: &RwTxn) -> u64 {
    (txn.id() as u64).saturating_sub(1)
}
