//! Loading a generated data set: records appended in key order (by
//! product, then id) from parallel generator threads, then the product
//! index, meta and review → product map from the same counting sort; and a
//! digest of the whole store.

use std::sync::mpsc;

use heed::{EnvFlags, PutFlags};

use super::keys::{encode_meta, facet_key, index_value, review_key};
use super::{
    CHUNK, EmbeddedStore, INDEX_BATCH, KEY_CHARACTERISTICS, KEY_COMPLETE, KEY_DATA_SET,
    KEY_FACET_INDEX, KEY_LOADED, KEY_NEXT_ID, KEY_PRODUCTS, KEY_REPORTED_INDEX, codec,
};
use crate::generate::{DataSet, Generator};
use crate::hash::mix;
use crate::model::{CharacteristicRatings, Meta, Review};
use crate::seeding::{self, Progress, Row};
use crate::store::StoreError;
use crate::store::load::{LoadOptions, LoadOutcome};

impl EmbeddedStore {
    /// Loads the generated data set `set`, resuming an interrupted load of
    /// the same set; refuses a store that holds another set.
    pub fn load(
        &self,
        set: DataSet,
        options: LoadOptions,
        progress: &mut dyn Progress,
    ) -> Result<LoadOutcome, StoreError> {
        let status = self.status()?;
        if !status.needs_load(set)? {
            return Ok(LoadOutcome::AlreadyLoaded);
        }
        if set.products > u64::from(u32::MAX) || set.records > u64::from(u32::MAX) {
            return Err(StoreError::Mismatch(
                "at most 4,294,967,295 records and products".into(),
            ));
        }
        self.bulk_write(&set, || {
            self.write_all(set, status.loaded, options, progress)
        })?;
        progress.finish();
        Ok(LoadOutcome::Loaded {
            resumed_from: status.loaded,
        })
    }

    /// Records `set` as the data set being loaded, then runs `write` with
    /// commits unsynced and syncs once at its end: how a load and an
    /// import write their bulk.
    pub(super) fn bulk_write(
        &self,
        set: &DataSet,
        write: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        {
            let mut txn = self.env.write_txn()?;
            let json = serde_json::to_vec(set).expect("DataSet serializes");
            self.info.put(&mut txn, KEY_DATA_SET, &json)?;
            txn.commit()?;
        }
        // SAFETY: only this thread touches the environment's flags; with
        // NO_SYNC a system crash may lose the last commits, which a re-run
        // resumes, and the final sync below makes the load durable.
        unsafe {
            self.env
                .set_flags(EnvFlags::NO_SYNC, heed::FlagSetMode::Enable)?
        };
        let written = write().and_then(|()| Ok(self.env.force_sync()?));
        unsafe {
            self.env
                .set_flags(EnvFlags::NO_SYNC, heed::FlagSetMode::Disable)?
        };
        written
    }

    /// Writes the records after the first `loaded` (in key order), then the
    /// index, meta, review → product map and reported list, all from the
    /// data set's scalars (the same values the records hold).
    fn write_all(
        &self,
        set: DataSet,
        loaded: u64,
        options: LoadOptions,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let rows = seeding::rows(set, options.threads);
        let order = ByProduct::sort(&rows, set.products as usize);
        self.write_records(set, &rows, &order, loaded, options, progress)?;
        self.build_index(set, &rows, &order, progress)
    }

    /// Appends the records at positions `loaded..` of `order`, encoded by
    /// parallel generator threads, committing every `options.batch` records.
    fn write_records(
        &self,
        set: DataSet,
        rows: &[Row],
        order: &ByProduct,
        loaded: u64,
        options: LoadOptions,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        progress.phase("reviews", set.records, loaded);
        let remaining = set.records - loaded;
        let chunks = remaining.div_ceil(CHUNK);
        let threads = options.threads.max(1) as u64;
        let generator = Generator::new(set);
        let ids = &order.ids;
        std::thread::scope(|scope| {
            let mut inboxes = Vec::new();
            for worker in 0..threads {
                let (tx, rx) = mpsc::sync_channel::<Encoded>(4);
                inboxes.push(rx);
                scope.spawn(move || {
                    let mut review = Review::default();
                    for chunk in (worker..chunks).step_by(threads as usize) {
                        let first = (loaded + chunk * CHUNK) as usize;
                        let last = (first + CHUNK as usize).min(ids.len());
                        let mut out = Encoded {
                            first,
                            bytes: Vec::with_capacity(CHUNK as usize * 512),
                            ends: Vec::with_capacity(CHUNK as usize),
                        };
                        for &id in &ids[first..last] {
                            generator.fill(u64::from(id), &mut review);
                            codec::encode(&review, &mut out.bytes);
                            out.ends.push(out.bytes.len());
                        }
                        if tx.send(out).is_err() {
                            return; // the writer stopped on an error
                        }
                    }
                });
            }
            let mut txn = self.env.write_txn()?;
            let mut in_txn = 0u64;
            for chunk in 0..chunks {
                let encoded = inboxes[(chunk % threads) as usize]
                    .recv()
                    .map_err(|_| StoreError::Unavailable("a generator thread died".into()))?;
                let mut start = 0;
                for (&id, &end) in ids[encoded.first..].iter().zip(&encoded.ends) {
                    let product = rows[id as usize - 1].product;
                    let key = review_key(u64::from(product), u64::from(id));
                    let value = &encoded.bytes[start..end];
                    self.records
                        .put_with_flags(&mut txn, PutFlags::APPEND, &key, value)?;
                    start = end;
                }
                let count = encoded.ends.len() as u64;
                in_txn += count;
                progress.advance(count);
                if in_txn >= options.batch || chunk + 1 == chunks {
                    let done = (encoded.first as u64 + count).to_be_bytes();
                    self.info.put(&mut txn, KEY_LOADED, &done)?;
                    txn.commit()?;
                    txn = self.env.write_txn()?;
                    in_txn = 0;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }

    /// Every stored record's characteristic ratings, in key order (the
    /// [`ByProduct`] order): read back from the records' heads, since they
    /// follow each review's text, which only the records pass generates.
    fn stored_ratings(&self) -> Result<Vec<[u8; 3]>, StoreError> {
        let txn = self.env.read_txn()?;
        let mut out = Vec::with_capacity(self.records.len(&txn)? as usize);
        for item in self.records.iter(&txn)? {
            let (_, raw) = item?;
            let head = codec::head(raw).ok_or_else(|| StoreError::Corrupt("record".into()))?;
            out.push(head.characteristics.pack());
        }
        Ok(out)
    }

    /// Builds `by_facet`, `meta` (every product's, with its
    /// characteristics), `review_product` and `reported`, then marks the
    /// load complete.
    fn build_index(
        &self,
        set: DataSet,
        rows: &[Row],
        order: &ByProduct,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        progress.phase("index", set.records, 0);
        let rated = self.stored_ratings()?;
        if rated.len() != order.ids.len() {
            return Err(StoreError::Corrupt(format!(
                "{} records stored of {}",
                rated.len(),
                order.ids.len()
            )));
        }
        let generator = Generator::new(set);
        let mut txn = self.env.write_txn()?;
        self.by_facet.clear(&mut txn)?;
        self.meta.clear(&mut txn)?;
        let mut in_txn = 0;
        let mut entries = Vec::new();
        for product in 1..=set.products as usize {
            let mut meta = Meta {
                characteristics: generator.characteristics(product as u64),
                ..Meta::default()
            };
            let ids = order.of(product);
            let first = order.starts[product] as usize;
            entries.clear();
            for (&id, &packed) in ids.iter().zip(&rated[first..]) {
                let row = rows[id as usize - 1];
                if !row.visible {
                    continue;
                }
                let ratings = CharacteristicRatings::unpack(packed);
                meta.add(row.rating, row.recommend, &ratings);
                let key = facet_key(product as u64, row.rating, row.photos, u64::from(id));
                entries.push((key, index_value(i64::from(row.date), row.helpfulness)));
            }
            entries.sort_unstable();
            for (key, value) in &entries {
                self.by_facet
                    .put_with_flags(&mut txn, PutFlags::APPEND, key, value)?;
            }
            let key = (product as u64).to_be_bytes();
            self.meta
                .put_with_flags(&mut txn, PutFlags::APPEND, &key, &encode_meta(&meta))?;
            in_txn += ids.len();
            progress.advance(ids.len() as u64);
            if in_txn >= INDEX_BATCH {
                txn.commit()?;
                txn = self.env.write_txn()?;
                in_txn = 0;
            }
        }
        self.review_product.clear(&mut txn)?;
        self.reported.clear(&mut txn)?;
        for (index, row) in rows.iter().enumerate() {
            let id = (index as u64 + 1).to_be_bytes();
            let product = u64::from(row.product).to_be_bytes();
            self.review_product
                .put_with_flags(&mut txn, PutFlags::APPEND, &id, &product)?;
            if !row.visible {
                self.reported
                    .put_with_flags(&mut txn, PutFlags::APPEND, &id, &[])?;
            }
            if (index + 1) % INDEX_BATCH == 0 {
                txn.commit()?;
                txn = self.env.write_txn()?;
            }
        }
        self.info
            .put(&mut txn, KEY_REPORTED_INDEX, &1u64.to_be_bytes())?;
        self.info
            .put(&mut txn, KEY_NEXT_ID, &(set.records + 1).to_be_bytes())?;
        self.info
            .put(&mut txn, KEY_PRODUCTS, &set.products.to_be_bytes())?;
        self.info
            .put(&mut txn, KEY_FACET_INDEX, &1u64.to_be_bytes())?;
        self.info
            .put(&mut txn, KEY_CHARACTERISTICS, &1u64.to_be_bytes())?;
        self.info.put(&mut txn, KEY_COMPLETE, &1u64.to_be_bytes())?;
        txn.commit()?;
        Ok(())
    }

    /// Counts and a digest of everything the store holds, to compare two
    /// stores (e.g. a resumed load with an uninterrupted one).
    pub fn fingerprint(&self) -> Result<Fingerprint, StoreError> {
        let txn = self.env.read_txn()?;
        let mut print = Fingerprint::default();
        // The review → product map counts in the digest, not in a field.
        let mut mapped = 0;
        for (count, db) in [
            (&mut print.reviews, &self.records),
            (&mut mapped, &self.review_product),
            (&mut print.index_entries, &self.by_facet),
            (&mut print.metas, &self.meta),
        ] {
            for item in db.iter(&txn)? {
                let (key, value) = item?;
                *count += 1;
                for chunk in [key, value] {
                    print.digest = chunk
                        .iter()
                        .fold(mix(print.digest ^ chunk.len() as u64), |h, &b| {
                            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                        });
                }
            }
        }
        Ok(print)
    }
}

/// What [`EmbeddedStore::fingerprint`] reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// Records in `records`.
    pub reviews: u64,
    /// Entries in `by_facet` (visible reviews).
    pub index_entries: u64,
    /// Products with meta.
    pub metas: u64,
    /// A hash over every key and value, in key order.
    pub digest: u64,
}

/// Review ids grouped by product, ascending within each: a counting sort
/// of the data set's rows, the order records are stored in.
struct ByProduct {
    /// Product p's ids are `ids[starts[p]..starts[p + 1]]`.
    starts: Vec<u32>,
    ids: Vec<u32>,
}

impl ByProduct {
    fn sort(rows: &[Row], products: usize) -> ByProduct {
        let mut starts = vec![0u32; products + 2];
        for row in rows {
            starts[row.product as usize + 1] += 1;
        }
        for p in 1..starts.len() {
            starts[p] += starts[p - 1];
        }
        let mut next = starts.clone();
        let mut ids = vec![0u32; rows.len()];
        for (index, row) in rows.iter().enumerate() {
            let slot = &mut next[row.product as usize];
            ids[*slot as usize] = index as u32 + 1;
            *slot += 1;
        }
        ByProduct { starts, ids }
    }

    fn of(&self, product: usize) -> &[u32] {
        &self.ids[self.starts[product] as usize..self.starts[product + 1] as usize]
    }
}

/// One chunk of encoded records, handed from a generator thread to the writer.
struct Encoded {
    /// Position of the first in the [`ByProduct`] order.
    first: usize,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}
