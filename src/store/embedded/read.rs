//! Reads: one read transaction each, zero-copy until a record is decoded.

use std::ops::Bound;

use heed::RoTxn;

use super::keys::{decode_index, decode_meta};
use super::{CHANGES_KEPT, EmbeddedStore, KEY_CHANGE_SEQ, codec};
use crate::model::{Meta, Page, PageQuery, PageView, Review, ReviewView};
use crate::store::page::{SortEntry, select_page};
use crate::store::{Changes, StoreError, Versioned};

impl EmbeddedStore {
    pub(super) fn read_page(&self, q: PageQuery) -> Result<Versioned<Option<Page>>, StoreError> {
        self.read_selected(q, |txn, total, selected| {
            let reviews = selected
                .iter()
                .map(|e| self.read_review(txn, e.review_id))
                .collect::<Result<_, _>>()?;
            Ok(Page { total, reviews })
        })
    }

    /// [`read_page`](Self::read_page) handed to `render` as views borrowed
    /// from the map, within the read transaction: no string is copied.
    pub(super) fn read_page_rendered<R>(
        &self,
        q: PageQuery,
        render: R,
    ) -> Result<Versioned<Option<Vec<u8>>>, StoreError>
    where
        R: FnOnce(PageView<'_, '_>) -> Vec<u8>,
    {
        self.read_selected(q, |txn, total, selected| {
            let mut views = Vec::with_capacity(selected.len());
            for e in selected {
                views.push(self.read_view(txn, e.review_id)?);
            }
            Ok(render(PageView {
                total,
                reviews: &views,
            }))
        })
    }

    /// One read transaction choosing the page `q` asks for: `read` gets
    /// the product's visible total and the page's entries, in order;
    /// `None` for an unknown product.
    fn read_selected<T>(
        &self,
        q: PageQuery,
        read: impl FnOnce(&RoTxn, u64, &[SortEntry]) -> Result<T, StoreError>,
    ) -> Result<Versioned<Option<T>>, StoreError> {
        let txn = self.env.read_txn()?;
        let version = self.version(&txn);
        let value = match self.page_entries(&txn, q)? {
            None => None,
            Some((total, mut entries)) => {
                let selected = select_page(&mut entries, q.offset(), q.count);
                Some(read(&txn, total, selected)?)
            }
        };
        Ok(Versioned { value, version })
    }

    /// Every visible review of the product with its sort key for `q`, and
    /// how many there are; `None` for an unknown product.
    fn page_entries(
        &self,
        txn: &RoTxn,
        q: PageQuery,
    ) -> Result<Option<(u64, Vec<SortEntry>)>, StoreError> {
        if !self.product_exists(txn, q.product_id)? {
            return Ok(None);
        }
        let mut entries = Vec::new();
        for item in self
            .by_product
            .prefix_iter(txn, &q.product_id.to_be_bytes())?
        {
            let (key, value) = item?;
            let (id, date, helpfulness) = decode_index(key, value)?;
            entries.push(SortEntry {
                key: q.sort.key(helpfulness, date),
                review_id: id,
            });
        }
        Ok(Some((entries.len() as u64, entries)))
    }

    /// The store's version as this read transaction sees it: the id of
    /// the last write transaction committed before it began (LMDB numbers
    /// write transactions in commit order), so it costs no lookup.
    pub(super) fn version(&self, txn: &RoTxn) -> u64 {
        txn.id() as u64
    }

    /// Where the change log ends as `txn` sees it: the sequence number of
    /// its last entry.
    fn log_head(&self, txn: &RoTxn) -> Result<u64, StoreError> {
        Ok(self.info_u64(txn, KEY_CHANGE_SEQ)?.unwrap_or(0))
    }

    fn read_review(&self, txn: &RoTxn, id: u64) -> Result<Review, StoreError> {
        let raw = self.reviews.get(txn, &id.to_be_bytes())?;
        let raw = raw.ok_or_else(|| StoreError::Corrupt(format!("indexed review {id} missing")))?;
        codec::decode(id, raw).map_err(StoreError::Corrupt)
    }

    fn read_view<'t>(&self, txn: &'t RoTxn, id: u64) -> Result<ReviewView<'t>, StoreError> {
        let raw = self.reviews.get(txn, &id.to_be_bytes())?;
        let raw = raw.ok_or_else(|| StoreError::Corrupt(format!("indexed review {id} missing")))?;
        codec::decode_view(id, raw).map_err(StoreError::Corrupt)
    }

    pub(super) fn read_meta(&self, product_id: u64) -> Result<Versioned<Option<Meta>>, StoreError> {
        let txn = self.env.read_txn()?;
        let version = self.version(&txn);
        let value = if !self.product_exists(&txn, product_id)? {
            None
        } else {
            match self.meta.get(&txn, &product_id.to_be_bytes())? {
                None => Some(Meta::default()),
                Some(raw) => Some(decode_meta(raw)?),
            }
        };
        Ok(Versioned { value, version })
    }

    /// Reported reviews below `before`, highest id first, at most `limit`.
    pub(super) fn read_reported(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Review>, StoreError> {
        let txn = self.env.read_txn()?;
        let end = before.map(u64::to_be_bytes);
        let range = match &end {
            Some(end) => (Bound::Unbounded, Bound::Excluded(&end[..])),
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        let mut out = Vec::new();
        for item in self.reported.rev_range(&txn, &range)?.take(limit as usize) {
            let (key, _) = item?;
            let id: [u8; 8] = key
                .try_into()
                .map_err(|_| StoreError::Corrupt("reported entry".into()))?;
            out.push(self.read_review(&txn, u64::from_be_bytes(id))?);
        }
        Ok(out)
    }

    pub(super) fn read_changes(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        let txn = self.env.read_txn()?;
        let head = self.log_head(&txn)?;
        let version = self.version(&txn);
        let Some(from) = cursor.filter(|&c| c < head) else {
            return Ok(Changes {
                cursor: head,
                version,
                products: Vec::new(),
                complete: true,
            });
        };
        let complete = head - from < CHANGES_KEPT;
        let mut products = Vec::new();
        let after = from.to_be_bytes();
        let range = (Bound::Excluded(&after[..]), Bound::Unbounded);
        for item in self.changes.range(&txn, &range)? {
            let (_, product) = item?;
            let product: [u8; 8] = product
                .try_into()
                .map_err(|_| StoreError::Corrupt("change entry".into()))?;
            products.push(u64::from_be_bytes(product));
        }
        products.sort_unstable();
        products.dedup();
        Ok(Changes {
            cursor: head,
            version,
            products,
            complete,
        })
    }
}
