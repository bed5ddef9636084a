//! The embedded store on LMDB (through `heed`): one environment in a data
//! directory that many processes can read at once with zero-copy reads, one
//! writer at a time, crash-safe. A fresh machine needs no server for it.
//!
//! Databases in the environment:
//! - `reviews`: review_id (u64 BE) → the record ([`codec`]);
//! - `by_product`: product_id (u64 BE) ‖ review_id (u64 BE) → date (u32 LE) ‖
//!   helpfulness (u32 LE), for visible reviews only: a page is one prefix scan
//!   of these small entries, a partial sort, and a point read per result;
//! - `meta`: product_id (u64 BE) → the [`Meta`] counters (7 × u32 LE);
//! - `changes`: write sequence (u64 BE) → product_id (u64 BE), the last
//!   [`CHANGES_KEPT`] writes, which every process polls to drop cached copies;
//! - `info`: what data set is loaded and how far (see [`LoadStatus`]), the
//!   next review id, the last change sequence.
//!
//! Every write is one LMDB transaction (record, index, meta, change log), so
//! it is atomic and durable at commit; LMDB serializes writers across
//! processes, so concurrent writes never lose an update.
//!
//! Loading ([`EmbeddedStore::load`]) appends records in id order from
//! parallel generator threads in large transactions, recording progress in
//! the same transaction, so an interrupted load resumes without duplicates;
//! the product index and meta are then built in one counting-sort pass.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use heed::types::{Bytes, Str};
use heed::{Database, Env, EnvFlags, EnvOpenOptions, PutFlags, RoTxn, RwTxn};

use super::{Changes, SortEntry, Store, StoreError, codec, select_page};
use crate::generate::{DataSet, Generator, mix, photo_id};
use crate::model::{Meta, NewReview, Page, PageQuery, Photo, Review};
use crate::seeding::{self, LoadOptions, LoadOutcome, LoadStatus, Progress};

/// Virtual size of the memory map; the file only grows as data is written.
const MAP_SIZE: usize = 256 << 30;
/// Records each generator thread encodes per hand-off to the writer.
const CHUNK: u64 = 4096;
/// Index entries written per transaction while building the index.
const INDEX_BATCH: usize = 1 << 20;

const KEY_DATA_SET: &str = "data_set";
const KEY_LOADED: &str = "loaded";
const KEY_COMPLETE: &str = "complete";
const KEY_NEXT_ID: &str = "next_review_id";
/// Set when a load completes: products 1..=this exist.
const KEY_PRODUCTS: &str = "products";
/// Sequence number of the last write in the `changes` log.
const KEY_CHANGE_SEQ: &str = "change_seq";
/// Writes the `changes` log keeps; a reader further behind resets its cache.
const CHANGES_KEPT: u64 = 100_000;

type Db = Database<Bytes, Bytes>;

/// The LMDB-backed [`Store`]. Cloning is cheap: clones share the environment.
#[derive(Clone)]
pub struct EmbeddedStore {
    env: Env,
    reviews: Db,
    by_product: Db,
    meta: Db,
    info: Database<Str, Bytes>,
    /// Products 1..=this exist, as last read from `info`: saves a lookup per
    /// read. Re-read whenever a larger id is asked for, so a load completed
    /// by another process (e.g. `seed`) is seen.
    products: Arc<AtomicU64>,
    changes: Db,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        let fail = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("cannot open data dir {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        // SAFETY: the environment is opened once per process (heed refuses a
        // second open of the same path) and its files are only ever changed
        // through LMDB.
        let env = unsafe {
            EnvOpenOptions::new()
                .map_size(MAP_SIZE)
                .max_dbs(8)
                .max_readers(1024)
                .open(dir)
        }
        .map_err(|e| fail(&e))?;
        let mut txn = env.write_txn().map_err(|e| fail(&e))?;
        let mut create = |name| env.create_database::<Bytes, Bytes>(&mut txn, Some(name));
        let (reviews, by_product, meta) = (create("reviews"), create("by_product"), create("meta"));
        let changes = create("changes");
        let info = env.create_database(&mut txn, Some("info"));
        let store = EmbeddedStore {
            reviews: reviews.map_err(|e| fail(&e))?,
            by_product: by_product.map_err(|e| fail(&e))?,
            meta: meta.map_err(|e| fail(&e))?,
            info: info.map_err(|e| fail(&e))?,
            env: env.clone(),
            products: Arc::new(AtomicU64::new(0)),
            changes: changes.map_err(|e| fail(&e))?,
        };
        txn.commit().map_err(|e| fail(&e))?;
        Ok(store)
    }

    /// Deletes the store's files in `dir` (what `seed --drop` does). No
    /// process may have the store open.
    pub fn destroy(dir: &Path) -> std::io::Result<()> {
        for file in ["data.mdb", "lock.mdb"] {
            match std::fs::remove_file(dir.join(file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// What data set the store holds and how far it is loaded.
    pub fn status(&self) -> Result<LoadStatus, StoreError> {
        let txn = self.env.read_txn()?;
        let data_set = match self.info.get(&txn, KEY_DATA_SET)? {
            Some(raw) => {
                Some(serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
            None => None,
        };
        Ok(LoadStatus {
            data_set,
            loaded: self.info_u64(&txn, KEY_LOADED)?.unwrap_or(0),
            complete: self.info_u64(&txn, KEY_COMPLETE)? == Some(1),
        })
    }

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

    /// Builds `by_product` and `meta` from the data set's scalars (the same
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

    fn info_u64(&self, txn: &RoTxn, key: &str) -> Result<Option<u64>, StoreError> {
        match self.info.get(txn, key)? {
            None => Ok(None),
            Some(raw) => raw
                .try_into()
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| StoreError::Corrupt(format!("info {key}"))),
        }
    }

    /// Whether `product_id` is one of the loaded data set's products.
    fn product_exists(&self, txn: &RoTxn, product_id: u64) -> Result<bool, StoreError> {
        if product_id == 0 {
            return Ok(false);
        }
        if product_id <= self.products.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let products = self.info_u64(txn, KEY_PRODUCTS)?.unwrap_or(0);
        self.products.fetch_max(products, Ordering::Relaxed);
        Ok(product_id <= products)
    }

    fn read_page(&self, q: PageQuery) -> Result<Option<Page>, StoreError> {
        let txn = self.env.read_txn()?;
        if !self.product_exists(&txn, q.product_id)? {
            return Ok(None);
        }
        let mut entries = Vec::new();
        for item in self
            .by_product
            .prefix_iter(&txn, &q.product_id.to_be_bytes())?
        {
            let (key, value) = item?;
            let (id, date, helpfulness) = decode_index(key, value)?;
            entries.push(SortEntry {
                key: q.sort.key(helpfulness, date),
                review_id: id,
            });
        }
        let total = entries.len() as u64;
        let reviews = select_page(&mut entries, q.offset(), q.count)
            .iter()
            .map(|e| self.read_review(&txn, e.review_id))
            .collect::<Result<_, _>>()?;
        Ok(Some(Page { total, reviews }))
    }

    fn read_review(&self, txn: &RoTxn, id: u64) -> Result<Review, StoreError> {
        let raw = self.reviews.get(txn, &id.to_be_bytes())?;
        let raw = raw.ok_or_else(|| StoreError::Corrupt(format!("indexed review {id} missing")))?;
        codec::decode(id, raw).map_err(StoreError::Corrupt)
    }

    fn read_meta(&self, product_id: u64) -> Result<Option<Meta>, StoreError> {
        let txn = self.env.read_txn()?;
        if !self.product_exists(&txn, product_id)? {
            return Ok(None);
        }
        match self.meta.get(&txn, &product_id.to_be_bytes())? {
            None => Ok(Some(Meta::default())),
            Some(raw) => decode_meta(raw).map(Some),
        }
    }
}

impl EmbeddedStore {
    fn write_add(&self, product_id: u64, new: NewReview) -> Result<Option<u64>, StoreError> {
        let mut txn = self.env.write_txn()?;
        let products = self.info_u64(&txn, KEY_PRODUCTS)?.unwrap_or(0);
        if !(1..=products).contains(&product_id) {
            return Ok(None);
        }
        let id = self.info_u64(&txn, KEY_NEXT_ID)?.unwrap_or(1);
        let date = crate::cache::now_ms() as i64 / 1000;
        let photos = new.photos.into_iter().enumerate();
        let review = Review {
            review_id: id,
            product_id,
            rating: new.rating,
            summary: new.summary,
            body: new.body,
            recommend: new.recommend,
            reported: false,
            reviewer_name: new.name,
            reviewer_email: new.email,
            response: None,
            helpfulness: 0,
            date,
            photos: photos
                .map(|(k, url)| Photo {
                    id: photo_id(id, k as u64),
                    url,
                })
                .collect(),
        };
        let mut bytes = Vec::with_capacity(512);
        codec::encode(&review, &mut bytes);
        self.reviews.put(&mut txn, &id.to_be_bytes(), &bytes)?;
        self.by_product
            .put(&mut txn, &index_key(product_id, id), &index_value(date, 0))?;
        self.update_meta(&mut txn, product_id, |m| {
            m.add(review.rating, review.recommend)
        })?;
        self.info
            .put(&mut txn, KEY_NEXT_ID, &(id + 1).to_be_bytes())?;
        self.log_change(&mut txn, product_id)?;
        txn.commit()?;
        Ok(Some(id))
    }

    /// Rewrites a visible review with `change`; `None` if unknown or reported.
    fn write_update(
        &self,
        review_id: u64,
        change: impl FnOnce(&mut Review),
    ) -> Result<Option<u64>, StoreError> {
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
        self.log_change(&mut txn, review.product_id)?;
        txn.commit()?;
        Ok(Some(review.product_id))
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

    fn read_changes(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        let txn = self.env.read_txn()?;
        let head = self.info_u64(&txn, KEY_CHANGE_SEQ)?.unwrap_or(0);
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
        products.sort_unstable();
        products.dedup();
        Ok(Changes {
            cursor: head,
            products,
            complete,
        })
    }

    /// Runs a blocking write on tokio's blocking pool: LMDB's write lock may
    /// wait for another process's write.
    async fn blocking<T: Send + 'static>(
        &self,
        write: impl FnOnce(EmbeddedStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || write(store))
            .await
            .map_err(|e| StoreError::Unavailable(format!("write task failed: {e}")))?
    }
}

impl Store for EmbeddedStore {
    async fn page(&self, query: PageQuery) -> Result<Option<Page>, StoreError> {
        self.read_page(query)
    }

    async fn meta(&self, product_id: u64) -> Result<Option<Meta>, StoreError> {
        self.read_meta(product_id)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.env.read_txn()?;
        Ok(())
    }

    async fn add_review(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> Result<Option<u64>, StoreError> {
        self.blocking(move |store| store.write_add(product_id, review))
            .await
    }

    async fn vote_helpful(&self, review_id: u64) -> Result<Option<u64>, StoreError> {
        self.blocking(move |store| {
            store.write_update(review_id, |r| {
                r.helpfulness = r.helpfulness.saturating_add(1)
            })
        })
        .await
    }

    async fn report(&self, review_id: u64) -> Result<Option<u64>, StoreError> {
        self.blocking(move |store| store.write_update(review_id, |r| r.reported = true))
            .await
    }

    async fn changes_since(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        self.read_changes(cursor)
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

fn index_key(product_id: u64, review_id: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&product_id.to_be_bytes());
    key[8..].copy_from_slice(&review_id.to_be_bytes());
    key
}

fn index_value(date: i64, helpfulness: u32) -> [u8; 8] {
    let mut value = [0; 8];
    value[..4].copy_from_slice(&(date as u32).to_le_bytes());
    value[4..].copy_from_slice(&helpfulness.to_le_bytes());
    value
}

fn decode_index(key: &[u8], value: &[u8]) -> Result<(u64, i64, u32), StoreError> {
    let bad = || StoreError::Corrupt("index entry".into());
    let id: [u8; 8] = key
        .get(8..16)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(bad)?;
    let date: [u8; 4] = value
        .get(..4)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    let help: [u8; 4] = value
        .get(4..8)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    Ok((
        u64::from_be_bytes(id),
        i64::from(u32::from_le_bytes(date)),
        u32::from_le_bytes(help),
    ))
}

fn encode_meta(meta: &Meta) -> [u8; 28] {
    let mut out = [0; 28];
    let fields = meta
        .ratings
        .iter()
        .chain([&meta.recommended, &meta.not_recommended]);
    for (slot, value) in out.chunks_exact_mut(4).zip(fields) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
    out
}

fn decode_meta(raw: &[u8]) -> Result<Meta, StoreError> {
    if raw.len() != 28 {
        return Err(StoreError::Corrupt("meta entry".into()));
    }
    let mut fields = raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()));
    let mut next = || fields.next().unwrap_or(0);
    Ok(Meta {
        ratings: [next(), next(), next(), next(), next()],
        recommended: next(),
        not_recommended: next(),
    })
}
