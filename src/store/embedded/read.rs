//! Reads: one read transaction each, zero-copy until a record is decoded.

use std::ops::Bound;
use std::sync::atomic::Ordering;

use heed::RoTxn;

use super::keys::{decode_index, decode_meta, facet_prefix, review_key, review_of};
use super::{CHANGES_KEPT, EmbeddedStore, KEY_CHANGE_SEQ, codec};
use crate::model::{Meta, Page, PageQuery, PageView, Review, Words};
use crate::store::page::{SortEntry, select_page};
use crate::store::{Changed, Changes, StoreError, Versioned};

/// Products with at most this many records are paged from one walk over
/// their records (neighbours in `records`), sort keys read from each
/// record's head; larger ones from `by_product` and a point read per
/// result. A walk reads every record of the product, the index path one
/// B-tree search per result: 32 records (~26 KB) is about where the walk
/// stops being the cheaper.
const WALK_LIMIT: usize = 32;

/// A review's place in a page's order, and its stored bytes.
type Walked<'t> = (SortEntry, &'t [u8]);

/// Whether review `id`'s summary or body hold every one of `words`.
fn has_words(words: &Words, id: u64, raw: &[u8]) -> Result<bool, StoreError> {
    let view = codec::decode_view(id, raw).map_err(StoreError::Corrupt)?;
    Ok(words.all_in(&[view.summary, view.body]))
}

impl EmbeddedStore {
    pub(super) fn read_page(&self, q: PageQuery) -> Result<Versioned<Option<Page>>, StoreError> {
        self.read_selected(q, |total, chosen| {
            let reviews = chosen
                .iter()
                .map(|&(e, raw)| codec::decode(e.review_id, raw).map_err(StoreError::Corrupt))
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
        self.read_selected(q, |total, chosen| {
            let mut views = Vec::with_capacity(chosen.len());
            for &(e, raw) in chosen {
                let view = codec::decode_view(e.review_id, raw);
                views.push(view.map_err(StoreError::Corrupt)?);
            }
            Ok(render(PageView {
                total,
                reviews: &views,
            }))
        })
    }

    /// One read transaction choosing the page `q` asks for: `read` gets
    /// the total of the reviews the filter keeps and the page's reviews, in
    /// order; `None` for an unknown product.
    fn read_selected<T>(
        &self,
        q: PageQuery,
        read: impl FnOnce(u64, &[Walked<'_>]) -> Result<T, StoreError>,
    ) -> Result<Versioned<Option<T>>, StoreError> {
        let txn = self.env.read_txn()?;
        let version = self.version(&txn);
        if !self.product_exists(&txn, q.product_id)? {
            return Ok(Versioned {
                value: None,
                version,
            });
        }
        let value = match self.walk(&txn, &q)? {
            Some(mut entries) => {
                let total = entries.len() as u64;
                read(total, select_page(&mut entries, q.offset(), q.count))?
            }
            None => {
                let mut entries = self.index_entries(&txn, &q)?;
                if let Some(words) = &q.filter.words {
                    // The words are in the records: read each candidate's.
                    let mut found = Vec::new();
                    for e in entries {
                        let raw = self.read_record(&txn, q.product_id, e.review_id)?;
                        if has_words(words, e.review_id, raw)? {
                            found.push((e, raw));
                        }
                    }
                    let total = found.len() as u64;
                    read(total, select_page(&mut found, q.offset(), q.count))?
                } else {
                    let total = entries.len() as u64;
                    let mut chosen = Vec::with_capacity(q.count as usize);
                    for e in select_page(&mut entries, q.offset(), q.count) {
                        let raw = self.read_record(&txn, q.product_id, e.review_id)?;
                        chosen.push((*e, raw));
                    }
                    read(total, &chosen)?
                }
            }
        };
        Ok(Versioned {
            value: Some(value),
            version,
        })
    }

    /// Every visible review of the product that `q`'s filter keeps, with
    /// its sort key for `q` and its bytes, from one walk over its records;
    /// `None` when it has more than [`WALK_LIMIT`].
    fn walk<'t>(
        &self,
        txn: &'t RoTxn,
        q: &PageQuery,
    ) -> Result<Option<Vec<Walked<'t>>>, StoreError> {
        let mut entries = Vec::new();
        let records = self.records.prefix_iter(txn, &q.product_id.to_be_bytes())?;
        for (seen, item) in records.enumerate() {
            if seen == WALK_LIMIT {
                return Ok(None);
            }
            let (key, raw) = item?;
            let head = codec::head(raw).ok_or_else(|| StoreError::Corrupt("record".into()))?;
            if head.reported || !q.filter.keeps(head.rating, usize::from(head.photos)) {
                continue;
            }
            let review_id = review_of(key)?;
            if let Some(words) = &q.filter.words
                && !has_words(words, review_id, raw)?
            {
                continue;
            }
            let entry = SortEntry {
                key: q.sort.key(head.rating, head.helpfulness, head.date),
                review_id,
            };
            entries.push((entry, raw));
        }
        Ok(Some(entries))
    }

    /// Every visible review of the product that the stars and photos of
    /// `q`'s filter keep, with its sort key for `q`, from `by_facet`: one
    /// prefix scan of the product's entries, or one per kept rating (and
    /// photos) when filtered, so a filter reads only the entries it keeps.
    fn index_entries(&self, txn: &RoTxn, q: &PageQuery) -> Result<Vec<SortEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut scan = |prefix: &[u8]| -> Result<(), StoreError> {
            for item in self.by_facet.prefix_iter(txn, prefix)? {
                let (key, value) = item?;
                let (id, rating, date, helpfulness) = decode_index(key, value)?;
                entries.push(SortEntry {
                    key: q.sort.key(rating, helpfulness, date),
                    review_id: id,
                });
            }
            Ok(())
        };
        let f = &q.filter;
        if f.star_bits() == 0 && !f.with_photos {
            scan(&q.product_id.to_be_bytes())?;
        } else {
            for rating in f.ratings() {
                for photos in [true, false] {
                    if photos || !f.with_photos {
                        scan(&facet_prefix(q.product_id, rating, photos))?;
                    }
                }
            }
        }
        Ok(entries)
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

    /// The stored bytes of a review known to exist (indexed, or mapped to
    /// its product).
    fn read_record<'t>(
        &self,
        txn: &'t RoTxn,
        product_id: u64,
        id: u64,
    ) -> Result<&'t [u8], StoreError> {
        let raw = self.records.get(txn, &review_key(product_id, id))?;
        raw.ok_or_else(|| StoreError::Corrupt(format!("review {id} missing from records")))
    }

    /// Review `id`, found through `review_product`; `None` if there is none.
    pub(super) fn find_review(&self, txn: &RoTxn, id: u64) -> Result<Option<Review>, StoreError> {
        let Some(product) = self.review_product.get(txn, &id.to_be_bytes())? else {
            return Ok(None);
        };
        let product: [u8; 8] = product
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("review {id}'s product")))?;
        let raw = self.read_record(txn, u64::from_be_bytes(product), id)?;
        codec::decode(id, raw)
            .map(Some)
            .map_err(StoreError::Corrupt)
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
            let id = u64::from_be_bytes(id);
            let review = self.find_review(&txn, id)?;
            out.push(review.ok_or_else(|| StoreError::Corrupt(format!("reported {id} missing")))?);
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
        self.change_log_entries
            .fetch_add(products.len() as u64, Ordering::Relaxed);
        products.sort_unstable();
        products.dedup();
        // Transaction ids order every product at once: the read's is at or
        // above every listed write's.
        let products = products
            .into_iter()
            .map(|product_id| Changed {
                product_id,
                version,
            })
            .collect();
        Ok(Changes {
            cursor: head,
            products,
            complete,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::DataSet;
    use crate::model::{Filter, Sort};
    use crate::seeding::Silent;
    use crate::store::load::LoadOptions;

    /// The walk over a product's records and the index agree on every
    /// product small enough to walk, for every order and filter; larger
    /// ones are left to the index.
    #[test]
    fn walking_records_and_reading_the_index_choose_the_same_reviews() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let set = DataSet::new(7, 20_000, None);
        store
            .load(set, LoadOptions::default(), &mut Silent)
            .unwrap();
        let txn = store.env.read_txn().unwrap();
        let filters = [
            Filter::default(),
            Filter {
                stars: 0b00001,
                ..Filter::default()
            },
            Filter {
                stars: 0b11000,
                with_photos: true,
                ..Filter::default()
            },
            Filter {
                with_photos: true,
                ..Filter::default()
            },
        ];
        let (mut walked, mut too_many, mut hidden, mut kept) = (0, 0, 0, 0);
        for product_id in 1..=set.products {
            for sort in Sort::ALL {
                for filter in &filters {
                    let q = PageQuery {
                        product_id,
                        page: 1,
                        count: 100,
                        sort,
                        filter: filter.clone(),
                    };
                    let mut indexed = store.index_entries(&txn, &q).unwrap();
                    indexed.sort_unstable();
                    let Some(walk) = store.walk(&txn, &q).unwrap() else {
                        too_many += 1;
                        continue;
                    };
                    let mut entries: Vec<SortEntry> = walk.iter().map(|&(e, _)| e).collect();
                    entries.sort_unstable();
                    assert_eq!(
                        entries, indexed,
                        "product {product_id} by {sort}, {filter:?}"
                    );
                    for (e, raw) in walk {
                        let review = codec::decode(e.review_id, raw).unwrap();
                        assert_eq!(review.product_id, product_id);
                        assert!(filter.keeps(review.rating, review.photos.len()));
                    }
                    walked += 1;
                    kept += usize::from(!filter.is_none() && !entries.is_empty());
                }
            }
            let records = store.records.prefix_iter(&txn, &product_id.to_be_bytes());
            let q = PageQuery {
                product_id,
                page: 1,
                count: 1,
                sort: Sort::Newest,
                filter: Filter::default(),
            };
            hidden += records.unwrap().count() - store.index_entries(&txn, &q).unwrap().len();
        }
        assert!(
            walked > 0 && too_many > 0 && hidden > 0 && kept > 0,
            "{walked} {too_many} {hidden} {kept}"
        );
    }
}
