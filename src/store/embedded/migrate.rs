//! Moving a store written by an older version into today's layout, once,
//! on open: that version kept records in `reviews`, keyed by review id
//! alone, so a page's records lay scattered over the whole map.
//!
//! The records are copied into `records` in key order (product, then id)
//! in transactions of [`MIGRATE_BATCH`], each recording how far it got in
//! `info`, so a migration interrupted (or run by two processes opening the
//! store at once) goes on where the last commit left it; the last one
//! fills `review_product`, empties `reviews` and drops the progress mark.
//! A load the older version left unfinished is not moved but restarted:
//! its progress counted ids, today's counts positions in key order.

use heed::PutFlags;

use super::keys::review_key;
use super::{Db, EmbeddedStore, KEY_COMPLETE, KEY_LOADED, KEY_MIGRATED, MIGRATE_BATCH};
#[cfg(test)]
use super::{codec, keys};
use crate::store::StoreError;

/// The older version's record database.
pub(super) const OLDER_RECORDS: &str = "reviews";

impl EmbeddedStore {
    /// Moves every record of `older` into `records` (see the module docs).
    pub(super) fn migrate(&self, older: Db) -> Result<(), StoreError> {
        self.migrate_in(older, MIGRATE_BATCH)
    }

    fn migrate_in(&self, older: Db, batch: usize) -> Result<(), StoreError> {
        // Every record's (review id, product), in id order as `older` holds
        // them: what `review_product` gets; `places` is the same sorted by
        // product, the order `records` is written in.
        let by_id = {
            let txn = self.env.read_txn()?;
            if older.is_empty(&txn)? {
                return Ok(());
            }
            if self.info_u64(&txn, KEY_COMPLETE)? != Some(1) {
                drop(txn);
                return self.restart_unfinished(older);
            }
            tracing::info!(
                "moving records into the product-keyed layout (once, for a store written by an \
                 older version)"
            );
            let mut by_id = Vec::new();
            for item in older.iter(&txn)? {
                let (key, value) = item?;
                let (product, id) = place(key, value)?;
                by_id.push((id, product));
            }
            by_id
        };
        let mut places: Vec<_> = by_id.iter().map(|&(id, product)| (product, id)).collect();
        places.sort_unstable();
        let mut value = Vec::new();
        loop {
            let mut txn = self.env.write_txn()?;
            if older.is_empty(&txn)? {
                return Ok(()); // another process finished it
            }
            let from = self.info_u64(&txn, KEY_MIGRATED)?.unwrap_or(0) as usize;
            if from == 0 {
                self.records.clear(&mut txn)?;
            }
            let to = (from + batch).min(places.len());
            for &(product, id) in &places[from..to] {
                let raw = older.get(&txn, &id.to_be_bytes())?;
                let raw = raw.ok_or_else(|| StoreError::Corrupt(format!("review {id} moved")))?;
                value.clear();
                value.extend_from_slice(raw);
                let key = review_key(product, id);
                self.records
                    .put_with_flags(&mut txn, PutFlags::APPEND, &key, &value)?;
            }
            if to < places.len() {
                self.info
                    .put(&mut txn, KEY_MIGRATED, &(to as u64).to_be_bytes())?;
                txn.commit()?;
                continue;
            }
            self.review_product.clear(&mut txn)?;
            for &(id, product) in &by_id {
                self.review_product.put_with_flags(
                    &mut txn,
                    PutFlags::APPEND,
                    &id.to_be_bytes(),
                    &product.to_be_bytes(),
                )?;
            }
            older.clear(&mut txn)?;
            self.info.delete(&mut txn, KEY_MIGRATED)?;
            txn.commit()?;
            tracing::info!("moved {} records", places.len());
            return Ok(());
        }
    }

    /// Drops what an unfinished load of the older version wrote, so the
    /// next `seed` (or the demo seeding) loads the data set from the start.
    fn restart_unfinished(&self, older: Db) -> Result<(), StoreError> {
        let mut txn = self.env.write_txn()?;
        tracing::info!("an unfinished load by an older version: it starts again");
        older.clear(&mut txn)?;
        self.records.clear(&mut txn)?;
        self.info.delete(&mut txn, KEY_LOADED)?;
        txn.commit()?;
        Ok(())
    }
}

/// Where an older record goes: (product id, review id), the product read
/// from the record's first bytes ([`super::codec`]).
fn place(key: &[u8], value: &[u8]) -> Result<(u64, u64), StoreError> {
    let bad = || StoreError::Corrupt("record of an older version".into());
    let id: [u8; 8] = key.try_into().map_err(|_| bad())?;
    let product: [u8; 8] = value
        .get(..8)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    Ok((u64::from_le_bytes(product), u64::from_be_bytes(id)))
}

#[cfg(test)]
mod tests {
    use heed::types::Bytes;

    use super::*;
    use crate::generate::DataSet;
    use crate::model::{Filter, PageQuery, Sort};
    use crate::seeding::Silent;
    use crate::store::load::LoadOptions;

    const SET: DataSet = DataSet {
        seed: 7,
        records: 5_000,
        products: 500,
    };

    /// A store loaded today with [`SET`], in a temporary directory.
    fn loaded() -> (tempfile::TempDir, EmbeddedStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .load(SET, LoadOptions::default(), &mut Silent)
            .unwrap();
        (dir, store)
    }

    /// A store loaded today, then put back into the older layout: its
    /// records in `reviews` by id, `records` and `review_product` empty.
    fn older_store() -> (tempfile::TempDir, EmbeddedStore, Db) {
        let (dir, store) = loaded();
        let mut txn = store.env.write_txn().unwrap();
        let older: Db = store
            .env
            .create_database::<Bytes, Bytes>(&mut txn, Some(OLDER_RECORDS))
            .unwrap();
        let moved: Vec<_> = store
            .records
            .iter(&txn)
            .unwrap()
            .map(|item| item.map(|(k, v)| (k[8..].to_vec(), v.to_vec())).unwrap())
            .collect();
        for (id, value) in moved {
            older.put(&mut txn, &id, &value).unwrap();
        }
        store.records.clear(&mut txn).unwrap();
        store.review_product.clear(&mut txn).unwrap();
        txn.commit().unwrap();
        (dir, store, older)
    }

    fn pages(store: &EmbeddedStore) -> Vec<String> {
        (1..=40)
            .map(|product_id| {
                let q = PageQuery {
                    product_id,
                    page: 1,
                    count: 100,
                    sort: Sort::Helpful,
                    filter: Filter::default(),
                };
                format!("{:?}", store.read_page(q).unwrap().value)
            })
            .collect()
    }

    #[test]
    fn an_older_store_is_moved_in_batches_and_reads_the_same() {
        let (_fresh_dir, fresh) = loaded();
        let (_dir, store, older) = older_store();
        assert_ne!(store.fingerprint().unwrap(), fresh.fingerprint().unwrap());
        store.migrate_in(older, 700).unwrap();
        assert_eq!(store.fingerprint().unwrap(), fresh.fingerprint().unwrap());
        assert_eq!(pages(&store), pages(&fresh));
        let txn = store.env.read_txn().unwrap();
        assert!(older.is_empty(&txn).unwrap());
        assert_eq!(store.info_u64(&txn, KEY_MIGRATED).unwrap(), None);
        let review = store.find_review(&txn, 4_321).unwrap().unwrap();
        assert_eq!(review, crate::generate::Generator::new(SET).record(4_321));
        drop(txn);
        // Done once: a second open finds nothing to move.
        store.migrate(older).unwrap();
        assert_eq!(store.fingerprint().unwrap(), fresh.fingerprint().unwrap());
    }

    #[test]
    fn an_interrupted_migration_goes_on_where_its_last_commit_left_it() {
        let (_dir, store, older) = older_store();
        // What a process killed after its first commit of 1,000 leaves.
        let mut txn = store.env.write_txn().unwrap();
        let mut places: Vec<_> = older
            .iter(&txn)
            .unwrap()
            .map(|item| item.map(|(k, v)| place(k, v).unwrap()).unwrap())
            .collect();
        places.sort_unstable();
        for &(product, id) in &places[..1_000] {
            let value = older
                .get(&txn, &id.to_be_bytes())
                .unwrap()
                .unwrap()
                .to_vec();
            let key = review_key(product, id);
            store.records.put(&mut txn, &key, &value).unwrap();
        }
        store
            .info
            .put(&mut txn, KEY_MIGRATED, &1_000u64.to_be_bytes())
            .unwrap();
        txn.commit().unwrap();

        store.migrate_in(older, 1_500).unwrap();
        let (_fresh_dir, fresh) = loaded();
        assert_eq!(store.fingerprint().unwrap(), fresh.fingerprint().unwrap());
    }

    /// A store loaded before `by_facet` existed: its index was
    /// `by_product`, keyed by product and review alone.
    #[test]
    fn a_store_without_the_facet_index_has_it_built_once_on_open() {
        let (_fresh_dir, fresh) = loaded();
        let (dir, store) = loaded();
        let mut txn = store.env.write_txn().unwrap();
        let older: Db = store
            .env
            .create_database::<Bytes, Bytes>(&mut txn, Some(super::super::OLDER_INDEX))
            .unwrap();
        older.put(&mut txn, &review_key(1, 1), &[0; 8]).unwrap();
        store.by_facet.clear(&mut txn).unwrap();
        store
            .info
            .delete(&mut txn, super::super::KEY_FACET_INDEX)
            .unwrap();
        txn.commit().unwrap();
        assert_ne!(store.fingerprint().unwrap(), fresh.fingerprint().unwrap());
        drop(store);

        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.fingerprint().unwrap(), fresh.fingerprint().unwrap());
        assert_eq!(pages(&store), pages(&fresh));
        let txn = store.env.read_txn().unwrap();
        let older = store
            .env
            .open_database::<Bytes, Bytes>(&txn, Some(super::super::OLDER_INDEX))
            .unwrap()
            .unwrap();
        assert!(older.is_empty(&txn).unwrap(), "the older index is emptied");
    }

    /// A store loaded before characteristics: records that rate none (no
    /// flag 8), meta of the seven counters alone. On open each product is
    /// given its characteristics, with nothing counted; the reviews read
    /// as rating none, and a new review counts in.
    #[test]
    fn a_store_from_before_characteristics_has_them_defined_once_on_open() {
        use crate::model::{CharacteristicRatings, NewReview};
        use crate::store::{Outcome, Write, WriteGuard};
        let (dir, store) = loaded();
        let mut txn = store.env.write_txn().unwrap();
        let records: Vec<_> = store
            .records
            .iter(&txn)
            .unwrap()
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        for (key, value) in records {
            let mut review = codec::decode(keys::review_of(&key).unwrap(), &value).unwrap();
            review.characteristics = CharacteristicRatings::default();
            let mut older = Vec::new();
            codec::encode(&review, &mut older);
            store.records.put(&mut txn, &key, &older).unwrap();
        }
        let metas: Vec<_> = store
            .meta
            .iter(&txn)
            .unwrap()
            .map(|item| item.map(|(k, v)| (k.to_vec(), v[..28].to_vec())).unwrap())
            .collect();
        for (key, value) in metas {
            store.meta.put(&mut txn, &key, &value).unwrap();
        }
        store
            .info
            .delete(&mut txn, super::super::KEY_CHARACTERISTICS)
            .unwrap();
        txn.commit().unwrap();
        let product = 3;
        let counted: Vec<_> = (1..=SET.products)
            .map(|p| store.read_meta(p).unwrap().value.unwrap())
            .collect();
        assert!(
            counted.iter().all(|m| m.characteristics.is_empty()),
            "the older layout"
        );
        let before = counted[product as usize - 1];
        drop(store);

        let store = EmbeddedStore::open(dir.path()).unwrap();
        let g = crate::generate::Generator::new(SET);
        for (p, older) in (1..=SET.products).zip(&counted) {
            let meta = store.read_meta(p).unwrap().value.unwrap();
            assert_eq!(meta.characteristics, g.characteristics(p), "product {p}");
            let counters = |m: &crate::model::Meta| (m.ratings, m.recommended, m.not_recommended);
            assert_eq!(counters(&meta), counters(older), "product {p}'s counts");
        }
        let txn = store.env.read_txn().unwrap();
        let review = store.find_review(&txn, 4_321).unwrap().unwrap();
        assert!(
            review.characteristics.is_empty(),
            "stored reviews rate none"
        );
        drop(txn);
        let scales = g.characteristics(product);
        let new = NewReview {
            rating: 4,
            summary: "Good".into(),
            body: "b".repeat(60),
            recommend: true,
            name: "Ana".into(),
            email: "ana@example.com".into(),
            photos: Vec::new(),
            characteristics: scales.iter().map(|s| (s.id, 2)).collect(),
        };
        let write = Write::AddReview {
            product_id: product,
            review: new,
        };
        let outcome = store.write_once(write, &WriteGuard::default()).unwrap();
        assert!(matches!(outcome, Outcome::Written(_)), "{outcome:?}");
        let after = store.read_meta(product).unwrap().value.unwrap();
        assert_eq!(after.total(), before.total() + 1);
        for s in after.characteristics.iter() {
            assert_eq!(
                (s.sum, s.count),
                (2, 1),
                "only the new review counts in {}",
                s.kind
            );
        }
    }

    #[test]
    fn an_older_unfinished_load_starts_again() {
        let (_dir, store, older) = older_store();
        let mut txn = store.env.write_txn().unwrap();
        store.info.delete(&mut txn, KEY_COMPLETE).unwrap();
        store
            .info
            .put(&mut txn, KEY_LOADED, &4_000u64.to_be_bytes())
            .unwrap();
        txn.commit().unwrap();
        store.migrate(older).unwrap();
        let status = store.status().unwrap();
        assert_eq!((status.loaded, status.complete), (0, false));
        let txn = store.env.read_txn().unwrap();
        assert!(older.is_empty(&txn).unwrap());
        assert!(store.records.is_empty(&txn).unwrap());
    }
}
