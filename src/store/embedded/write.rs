//! Writes: each one LMDB transaction (record, index, meta, change log),
//! committed durably before it returns.

use heed::RwTxn;

use super::keys::{decode_meta, encode_meta, index_key, index_value};
use super::{CHANGES_KEPT, EmbeddedStore, KEY_CHANGE_SEQ, KEY_NEXT_ID, KEY_PRODUCTS, codec};
use crate::clock::unix_seconds;
use crate::model::{Meta, NewReview, Review};
use crate::store::{StoreError, Versioned};

impl EmbeddedStore {
    pub(super) fn write_add(
        &self,
        product_id: u64,
        new: NewReview,
    ) -> Result<Option<Versioned<u64>>, StoreError> {
        let mut txn = self.env.write_txn()?;
        let products = self.info_u64(&txn, KEY_PRODUCTS)?.unwrap_or(0);
        if !(1..=products).contains(&product_id) {
            return Ok(None);
        }
        let id = self.info_u64(&txn, KEY_NEXT_ID)?.unwrap_or(1);
        let review = Review::submitted(id, product_id, unix_seconds(), new);
        let mut bytes = Vec::with_capacity(512);
        codec::encode(&review, &mut bytes);
        self.reviews.put(&mut txn, &id.to_be_bytes(), &bytes)?;
        self.by_product.put(
            &mut txn,
            &index_key(product_id, id),
            &index_value(review.date, 0),
        )?;
        self.update_meta(&mut txn, product_id, |m| {
            m.add(review.rating, review.recommend)
        })?;
        self.info
            .put(&mut txn, KEY_NEXT_ID, &(id + 1).to_be_bytes())?;
        let version = self.log_change(&mut txn, product_id)?;
        txn.commit()?;
        Ok(Some(Versioned { value: id, version }))
    }

    /// Rewrites a visible review with `change`; `None` if unknown or reported.
    pub(super) fn write_update(
        &self,
        review_id: u64,
        change: impl FnOnce(&mut Review),
    ) -> Result<Option<Versioned<u64>>, StoreError> {
        let mut txn = self.env.write_txn()?;
        let Some(raw) = self.reviews.get(&txn, &review_id.to_be_bytes())? else {
            return Ok(None);
        };
        let mut review = codec::decode(review_id, raw).map_err(StoreError::Corrupt)?;
        if review.reported {
            return Ok(None);
        }
        change(&mut review);
        let mut bytes = Vec::with_capacity(raw.len());
        codec::encode(&review, &mut bytes);
        self.reviews
            .put(&mut txn, &review_id.to_be_bytes(), &bytes)?;
        let key = index_key(review.product_id, review_id);
        if review.reported {
            self.by_product.delete(&mut txn, &key)?;
            self.update_meta(&mut txn, review.product_id, |m| {
                m.remove(review.rating, review.recommend)
            })?;
        } else {
            self.by_product.put(
                &mut txn,
                &key,
                &index_value(review.date, review.helpfulness),
            )?;
        }
        let version = self.log_change(&mut txn, review.product_id)?;
        txn.commit()?;
        Ok(Some(Versioned {
            value: review.product_id,
            version,
        }))
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

    /// Appends `product_id` to the change log and trims its oldest entry;
    /// the write's version (its position in the log).
    fn log_change(&self, txn: &mut RwTxn, product_id: u64) -> Result<u64, StoreError> {
        let seq = self.info_u64(txn, KEY_CHANGE_SEQ)?.unwrap_or(0) + 1;
        self.changes
            .put(txn, &seq.to_be_bytes(), &product_id.to_be_bytes())?;
        if seq > CHANGES_KEPT {
            self.changes
                .delete(txn, &(seq - CHANGES_KEPT).to_be_bytes())?;
        }
        self.info.put(txn, KEY_CHANGE_SEQ, &seq.to_be_bytes())?;
        Ok(seq)
    }
}
