//! Loading reviews imported from files (see [`crate::transfer`]): the same
//! layout a generated load writes, from products handed over in product
//! order, and an export of the whole store in one read transaction.
//!
//! A product's records, its meta (counted from its visible reviews) and
//! its `by_facet` entries are appended together, in transactions of about
//! `batch` records that each record how many products are in, so an import
//! interrupted and run again with the same files skips what is there;
//! `review_product` and `reported`, keyed by review id, are appended last
//! from an external sort of every review's (id, product, reported).

use heed::PutFlags;

use super::keys::{decode_meta, encode_meta, facet_key, index_value, review_key};
use super::{
    EmbeddedStore, KEY_CHARACTERISTICS, KEY_COMPLETE, KEY_DATA_SET, KEY_FACET_INDEX, KEY_LOADED,
    KEY_NEXT_ID, KEY_PRODUCTS, KEY_REPORTED_INDEX, KEY_SOURCE, codec,
};
use crate::model::Meta;
use crate::seeding::Progress;
use crate::sort::Sorter;
use crate::store::StoreError;
use crate::store::load::{Exported, ImportPlan, ImportedProduct, LoadOptions, LoadOutcome, Source};

/// Where [`EmbeddedStore::load_import`] finds each review's product and
/// whether it is reported, by id.
pub enum ById<'a> {
    /// Given, in id order, `count` of them.
    Given {
        entries: &'a mut dyn Iterator<Item = Result<(u64, u64, bool), StoreError>>,
        count: u64,
    },
    /// Sorted from the products as they are written, in runs in `temp`.
    Sort { temp: &'a std::path::Path },
}

impl EmbeddedStore {
    /// Readies the store for an import from `source`: `AlreadyLoaded` when
    /// it holds that import complete; otherwise records the source (a
    /// server refuses the store until the import completes) and answers
    /// how many products an interrupted run left in. Refused when the
    /// store holds anything else.
    pub fn begin_import(&self, source: &Source) -> Result<LoadOutcome, StoreError> {
        let status = self.status()?;
        if !status.needs_import(source)? {
            return Ok(LoadOutcome::AlreadyLoaded);
        }
        let mut txn = self.env.write_txn()?;
        let json = serde_json::to_vec(source).expect("a source serializes");
        self.info.put(&mut txn, KEY_SOURCE, &json)?;
        txn.commit()?;
        Ok(LoadOutcome::Loaded {
            resumed_from: status.loaded,
        })
    }

    /// Loads an import begun with [`EmbeddedStore::begin_import`]: every
    /// product of `products` (in product order) after the first
    /// `resumed_from`, then the maps by review id (from `by_id`), then the
    /// data set and next id of `plan`; the store is complete after.
    pub fn load_import(
        &self,
        plan: ImportPlan,
        products: &mut dyn Iterator<Item = Result<ImportedProduct, StoreError>>,
        resumed_from: u64,
        options: LoadOptions,
        by_id: ById<'_>,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let set = plan.data_set;
        self.bulk_write(&set, || {
            self.write_imported(plan, products, resumed_from, options, by_id, progress)
        })
    }

    fn write_imported(
        &self,
        plan: ImportPlan,
        products: &mut dyn Iterator<Item = Result<ImportedProduct, StoreError>>,
        resumed_from: u64,
        options: LoadOptions,
        by_id: ById<'_>,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let io =
            |e: std::io::Error| StoreError::Unavailable(format!("import's temporary runs: {e}"));
        progress.phase("write", plan.data_set.records, 0);
        // Sorted here unless given in order.
        let (mut sorter, given) = match by_id {
            ById::Given { entries, count } => (None, Some((entries, count))),
            ById::Sort { temp } => (Some(Sorter::new(64 << 20, temp)), None),
        };
        let mut txn = self.env.write_txn()?;
        let (mut done, mut in_txn) = (0u64, 0u64);
        let mut facets = Vec::new();
        for product in products {
            let product = product?;
            let p = product.product_id;
            let mut heads = Vec::with_capacity(product.len());
            for (id, raw) in product.records() {
                let head = codec::head(raw).ok_or_else(|| StoreError::Corrupt("record".into()))?;
                if let Some(sorter) = &mut sorter {
                    let mut entry = [0u8; 9];
                    entry[..8].copy_from_slice(&p.to_le_bytes());
                    entry[8] = u8::from(head.reported);
                    sorter.push(u128::from(id), &entry).map_err(io)?;
                }
                heads.push(head);
            }
            done += 1;
            progress.advance(product.len() as u64);
            if done <= resumed_from {
                continue;
            }
            let mut meta = Meta {
                characteristics: product.characteristics,
                ..Meta::default()
            };
            facets.clear();
            for ((id, raw), head) in product.records().zip(&heads) {
                self.records
                    .put_with_flags(&mut txn, PutFlags::APPEND, &review_key(p, id), raw)?;
                if !head.reported {
                    meta.add(head.rating, head.recommend, &head.characteristics);
                    let key = facet_key(p, head.rating, head.photos > 0, id);
                    facets.push((key, index_value(head.date, head.helpfulness)));
                }
            }
            facets.sort_unstable();
            for (key, value) in &facets {
                self.by_facet
                    .put_with_flags(&mut txn, PutFlags::APPEND, key, value)?;
            }
            if meta != Meta::default() {
                self.meta.put_with_flags(
                    &mut txn,
                    PutFlags::APPEND,
                    &p.to_be_bytes(),
                    &encode_meta(&meta),
                )?;
            }
            in_txn += product.len() as u64 + 1;
            if in_txn >= options.batch {
                self.info.put(&mut txn, KEY_LOADED, &done.to_be_bytes())?;
                txn.commit()?;
                txn = self.env.write_txn()?;
                in_txn = 0;
            }
        }
        self.info.put(&mut txn, KEY_LOADED, &done.to_be_bytes())?;
        txn.commit()?;

        let mut from_sorter;
        let (entries, count): (&mut dyn Iterator<Item = _>, u64) = match (sorter, given) {
            (Some(sorter), _) => {
                let count = sorter.len();
                let mut sorted = sorter.finish().map_err(io)?;
                let mut entry = Vec::new();
                from_sorter = std::iter::from_fn(move || match sorted.next_into(&mut entry) {
                    Ok(Some(id)) => {
                        let product = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
                        Some(Ok((id as u64, product, entry[8] == 1)))
                    }
                    Ok(None) => None,
                    Err(e) => Some(Err(io(e))),
                });
                (&mut from_sorter, count)
            }
            (None, Some((entries, count))) => (entries, count),
            (None, None) => unreachable!("one or the other"),
        };
        progress.phase("index", count, 0);
        let mut txn = self.env.write_txn()?;
        self.review_product.clear(&mut txn)?;
        self.reported.clear(&mut txn)?;
        let mut n = 0u64;
        for entry in entries {
            let (id, product, reported) = entry?;
            let id = id.to_be_bytes();
            self.review_product.put_with_flags(
                &mut txn,
                PutFlags::APPEND,
                &id,
                &product.to_le_bytes(),
            )?;
            if reported {
                self.reported
                    .put_with_flags(&mut txn, PutFlags::APPEND, &id, &[])?;
            }
            n += 1;
            if n.is_multiple_of(super::INDEX_BATCH as u64) {
                progress.advance(super::INDEX_BATCH as u64);
                txn.commit()?;
                txn = self.env.write_txn()?;
            }
        }
        for key in [KEY_REPORTED_INDEX, KEY_FACET_INDEX, KEY_CHARACTERISTICS] {
            self.info.put(&mut txn, key, &1u64.to_be_bytes())?;
        }
        self.info
            .put(&mut txn, KEY_NEXT_ID, &plan.next_review_id.to_be_bytes())?;
        self.info.put(
            &mut txn,
            KEY_PRODUCTS,
            &plan.data_set.products.to_be_bytes(),
        )?;
        self.info.put(&mut txn, KEY_COMPLETE, &1u64.to_be_bytes())?;
        txn.commit()?;
        progress.finish();
        Ok(())
    }

    /// Visits the whole store as one consistent snapshot (one read
    /// transaction: a write committed meanwhile is wholly in it or not at
    /// all): the header, every product with characteristics (in product
    /// order), then every review (in product order, then id).
    pub fn export(
        &self,
        visit: &mut dyn FnMut(Exported<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.env.read_txn()?;
        let data_set = match self.info.get(&txn, KEY_DATA_SET)? {
            Some(raw) => {
                serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt(e.to_string()))?
            }
            None => return Err(StoreError::Mismatch("the store is empty".into())),
        };
        if self.info_u64(&txn, KEY_COMPLETE)? != Some(1) {
            return Err(StoreError::Mismatch(
                "the store's load did not finish: run `seed` to finish it first".into(),
            ));
        }
        let next_review_id = self.info_u64(&txn, KEY_NEXT_ID)?.unwrap_or(1);
        visit(Exported::Header {
            data_set,
            next_review_id,
        })?;
        for item in self.meta.iter(&txn)? {
            let (key, raw) = item?;
            let meta = decode_meta(raw)?;
            if meta.characteristics.is_empty() {
                continue;
            }
            let product_id = u64::from_be_bytes(
                key.try_into()
                    .map_err(|_| StoreError::Corrupt("meta key".into()))?,
            );
            visit(Exported::Product {
                product_id,
                characteristics: &meta.characteristics,
            })?;
        }
        for item in self.records.iter(&txn)? {
            let (key, raw) = item?;
            let review =
                codec::decode(super::keys::review_of(key)?, raw).map_err(StoreError::Corrupt)?;
            visit(Exported::Review(&review))?;
        }
        Ok(())
    }
}
