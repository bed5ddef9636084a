//! Loading a generated data set: records appended in id order from
//! parallel generator threads, then the product index and meta in one
//! counting-sort pass; and a digest of the whole store.

use std::sync::mpsc;

use heed::{EnvFlags, PutFlags};

use super::keys::{encode_meta, index_key, index_value};
use super::{
    CHUNK, EmbeddedStore, INDEX_BATCH, KEY_COMPLETE, KEY_DATA_SET, KEY_LOADED, KEY_NEXT_ID,
    KEY_PRODUCTS, KEY_REPORTED_INDEX, codec,
};
use crate::generate::{DataSet, Generator};
use crate::hash::mix;
use crate::model::{Meta, Review};
use crate::seeding::{self, Progress};
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
        {
            let mut txn = self.env.write_txn()?;
            let json = serde_json::to_vec(&set).expect("DataSet serializes");
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
        let loaded = self
            .write_reviews(set, status.loaded, options, progress)
            .and_then(|()| self.build_index(set, options, progress))
            .and_then(|()| Ok(self.env.force_sync()?));
        unsafe {
            self.env
                .set_flags(EnvFlags::NO_SYNC, heed::FlagSetMode::Disable)?
        };
        loaded?;
        progress.finish();
        Ok(LoadOutcome::Loaded {
            resumed_from: status.loaded,
        })
    }

    /// Appends reviews `loaded + 1 ..= set.records`, encoded by parallel
    /// generator threads, committing every `options.batch` records.
    fn write_reviews(
        &self,
        set: DataSet,
        loaded: u64,
        options: LoadOptions,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        progress.phase("reviews", set.records, loaded);
        let remaining = set.records - loaded;
        let chunks = remaining.div_ceil(CHUNK);
        let threads = options.threads.max(1) as u64;
        let generator = Generator::new(set);
        std::thread::scope(|scope| {
            let mut inboxes = Vec::new();
            for worker in 0..threads {
                let (tx, rx) = mpsc::sync_channel::<Encoded>(4);
                inboxes.push(rx);
                scope.spawn(move || {
                    let mut review = Review::default();
                    for chunk in (worker..chunks).step_by(threads as usize) {
                        let first = loaded + 1 + chunk * CHUNK;
                        let last = (first + CHUNK - 1).min(set.records);
                        let mut out = Encoded {
                            first,
                            bytes: Vec::with_capacity(CHUNK as usize * 512),
                            ends: Vec::with_capacity(CHUNK as usize),
                        };
                        for id in first..=last {
                            generator.fill(id, &mut review);
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
                for (offset, &end) in encoded.ends.iter().enumerate() {
                    let key = (encoded.first + offset as u64).to_be_bytes();
                    let value = &encoded.bytes[start..end];
                    self.reviews
                        .put_with_flags(&mut txn, PutFlags::APPEND, &key, value)?;
                    start = end;
                }
                let count = encoded.ends.len() as u64;
                in_txn += count;
                progress.advance(count);
                if in_txn >= options.batch || chunk + 1 == chunks {
                    let last = encoded.first + count - 1;
                    self.info.put(&mut txn, KEY_LOADED, &last.to_be_bytes())?;
                    txn.commit()?;
                    txn = self.env.write_txn()?;
                    in_txn = 0;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }

    /// Builds `by_product`, `meta` and `reported` from the data set's scalars (the same
    /// values the stored records hold), then marks the load complete.
    fn build_index(
        &self,
        set: DataSet,
        options: LoadOptions,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        progress.phase("index", set.records, 0);
        let rows = seeding::rows(set, options.threads);

        // Counting sort of visible review ids by product; ids stay ascending.
        let products = set.products as usize;
        let mut starts = vec![0u32; products + 2];
        for row in rows.iter().filter(|r| r.visible) {
            starts[row.product as usize + 1] += 1;
        }
        for p in 1..starts.len() {
            starts[p] += starts[p - 1];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; starts[products + 1] as usize];
        for (index, row) in rows.iter().enumerate().filter(|(_, r)| r.visible) {
            let slot = &mut next[row.product as usize];
            order[*slot as usize] = index as u32 + 1;
            *slot += 1;
        }

        let mut txn = self.env.write_txn()?;
        self.by_product.clear(&mut txn)?;
        self.meta.clear(&mut txn)?;
        let mut in_txn = 0;
        for product in 1..=products {
            let ids = &order[starts[product] as usize..starts[product + 1] as usize];
            let mut meta = Meta::default();
            for &id in ids {
                let row = rows[id as usize - 1];
                meta.add(row.rating, row.recommend);
                let key = index_key(product as u64, u64::from(id));
                let value = index_value(i64::from(row.date), row.helpfulness);
                self.by_product
                    .put_with_flags(&mut txn, PutFlags::APPEND, &key, &value)?;
            }
            if !ids.is_empty() {
                let key = (product as u64).to_be_bytes();
                self.meta
                    .put_with_flags(&mut txn, PutFlags::APPEND, &key, &encode_meta(&meta))?;
            }
            in_txn += ids.len();
            progress.advance(ids.len() as u64);
            if in_txn >= INDEX_BATCH {
                txn.commit()?;
                txn = self.env.write_txn()?;
                in_txn = 0;
            }
        }
        self.reported.clear(&mut txn)?;
        for (index, _) in rows.iter().enumerate().filter(|(_, r)| !r.visible) {
            let id = (index as u64 + 1).to_be_bytes();
            self.reported
                .put_with_flags(&mut txn, PutFlags::APPEND, &id, &[])?;
        }
        self.info
            .put(&mut txn, KEY_REPORTED_INDEX, &1u64.to_be_bytes())?;
        self.info
            .put(&mut txn, KEY_NEXT_ID, &(set.records + 1).to_be_bytes())?;
        self.info
            .put(&mut txn, KEY_PRODUCTS, &set.products.to_be_bytes())?;
        self.info.put(&mut txn, KEY_COMPLETE, &1u64.to_be_bytes())?;
        txn.commit()?;
        Ok(())
    }

    /// Counts and a digest of everything the store holds, to compare two
    /// stores (e.g. a resumed load with an uninterrupted one).
    pub fn fingerprint(&self) -> Result<Fingerprint, StoreError> {
        let txn = self.env.read_txn()?;
        let mut print = Fingerprint::default();
        for (count, db) in [
            (&mut print.reviews, &self.reviews),
            (&mut print.index_entries, &self.by_product),
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
    /// Records in `reviews`.
    pub reviews: u64,
    /// Entries in `by_product` (visible reviews).
    pub index_entries: u64,
    /// Products with meta.
    pub metas: u64,
    /// A hash over every key and value, in key order.
    pub digest: u64,
}

/// One chunk of encoded records, handed from a generator thread to the writer.
struct Encoded {
    first: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}
