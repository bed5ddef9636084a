//! The embedded store on LMDB (through `heed`): one environment in a data
//! directory that many processes can read at once with zero-copy reads, one
//! writer at a time, crash-safe. A fresh machine needs no server for it.
//!
//! Databases in the environment:
//! - `records`: product_id (u64 BE) ‖ review_id (u64 BE) → the record
//!   ([`codec`]): a product's records are neighbours in the map, so a page's
//!   point reads land on the same few pages instead of one page each;
//! - `review_product`: review_id (u64 BE) → product_id (u64 BE), where a
//!   vote, a report or a moderator finds a review's record;
//! - `by_facet`: product_id (u64 BE) ‖ rating (u8) ‖ has photos (u8) ‖
//!   review_id (u64 BE) → date (u32 LE) ‖ helpfulness (u32 LE), for visible
//!   reviews only: a page is one prefix scan of these small entries (one
//!   per kept rating and photo flag when filtered, so `rating=1` reads only
//!   the product's 1-star entries), a partial sort, and a point read per
//!   result;
//! - `meta`: product_id (u64 BE) → the [`Meta`] counters (7 × u32 LE) and
//!   the product's characteristics with their sums (see `keys`);
//! - `changes`: write sequence (u64 BE) → product_id (u64 BE), the last
//!   `CHANGES_KEPT` writes, which every process polls to drop cached copies;
//! - `reported`: review_id (u64 BE) → nothing, every reported review: what
//!   a moderator lists (`GET /admin/reported`);
//! - `expiring` and `expiry`: idempotency keys and helpful votes, each kept
//!   until it expires (`expiring`);
//! - `info`: what data set is loaded and how far (see [`LoadStatus`]; for
//!   an import, the files it came from), the next review id, the last
//!   change sequence, whether `reported`, `by_facet` and the products'
//!   characteristics are there.
//!
//! Files: `read` (pages, meta, the change log, reported reviews), `write`
//! (one transaction per write), `expiring` (records that guard writes),
//! `load` (bulk load, index build), `import` (loading an import of reviews
//! from files, and exporting), `keys` (key and value layouts),
//! [`codec`] (a review's bytes), `products` (the data set products are
//! rendered from).
//!
//! A process killed while it holds a reader slot leaves the slot taken;
//! [`EmbeddedStore::clear_stale_readers`] frees such slots, on every open
//! and, under a supervisor, after every worker's death.
//!
//! Every write is one LMDB transaction (record, index, meta, change log), so
//! it is atomic and durable at commit; LMDB serializes writers across
//! processes, so concurrent writes never lose an update.
//!
//! Loading ([`EmbeddedStore::load`]) appends records in key order (by
//! product, then id) from parallel generator threads in large transactions,
//! recording progress in the same transaction, so an interrupted load
//! resumes without duplicates; the product index, meta and the review →
//! product map are then built in one counting-sort pass.
//!
//! A store written by a version before `records` (records keyed by review
//! id alone, in a database named `reviews`) has its records moved into
//! `records` on open, once ([`migrate`]); one written before `by_facet`
//! (whose index, `by_product`, was keyed by product and review alone) has
//! `by_facet` built from its records on open, once.

pub mod codec;
mod expiring;
mod import;
pub use import::ById;
mod keys;
mod load;
mod migrate;
mod products;
mod read;
pub mod serving;
mod write;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use heed::types::{Bytes, Str};
use heed::{Database, Env, EnvOpenOptions, RoTxn};

pub use self::load::Fingerprint;
use super::load::LoadStatus;
use super::{Changes, Outcome, Store, StoreError, Versioned, Write, WriteGuard};
use crate::generate::DataSet;
use crate::model::{Meta, NewReview, Page, PageQuery, PageView, Review};

/// Virtual size of the memory map; the file only grows as data is written.
const MAP_SIZE: usize = 256 << 30;
/// Records each generator thread encodes per hand-off to the writer.
const CHUNK: u64 = 4096;
/// Index entries written per transaction while building the index.
const INDEX_BATCH: usize = 1 << 20;
/// Records moved per transaction while migrating an older store.
const MIGRATE_BATCH: usize = 100_000;

const KEY_DATA_SET: &str = "data_set";
/// Where an imported data set came from (see [`crate::store::load::Source`]).
const KEY_SOURCE: &str = "source";
const KEY_LOADED: &str = "loaded";
const KEY_COMPLETE: &str = "complete";
const KEY_NEXT_ID: &str = "next_review_id";
/// Set when a load completes: products 1..=this exist.
const KEY_PRODUCTS: &str = "products";
/// Sequence number of the last write in the `changes` log.
const KEY_CHANGE_SEQ: &str = "change_seq";
/// Writes the `changes` log keeps; a reader further behind resets its cache.
const CHANGES_KEPT: u64 = 100_000;
/// Set once `reported` lists every reported review (a store loaded by an
/// older version has it built on open).
const KEY_REPORTED_INDEX: &str = "reported_index";
/// Set once `by_facet` indexes every visible review (a store loaded by an
/// older version has it built on open).
const KEY_FACET_INDEX: &str = "facet_index";
/// Set once every product's meta names its characteristics (a store loaded
/// by an older version has them defined on open).
const KEY_CHARACTERISTICS: &str = "characteristics";
/// The index of older versions, keyed by product and review alone; emptied
/// once `by_facet` is built.
const OLDER_INDEX: &str = "by_product";
/// How many records a migration from the older layout has moved so far.
const KEY_MIGRATED: &str = "migrated";

type Db = Database<Bytes, Bytes>;

impl From<heed::Error> for StoreError {
    fn from(e: heed::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// The LMDB-backed [`Store`]. Cloning is cheap: clones share the environment.
#[derive(Clone)]
pub struct EmbeddedStore {
    env: Env,
    records: Db,
    review_product: Db,
    by_facet: Db,
    meta: Db,
    info: Database<Str, Bytes>,
    /// Products 1..=this exist, as last read from `info`: saves a lookup per
    /// read. Re-read whenever a larger id is asked for, so a load completed
    /// by another process (e.g. `seed`) is seen.
    products: Arc<AtomicU64>,
    changes: Db,
    /// Change-log entries this store's reads of the log have read.
    change_log_entries: Arc<AtomicU64>,
    reported: Db,
    expiring: Db,
    expiry: Db,
    /// A server's shared lock on the directory (see [`serving`]).
    _serving: Option<serving::Serving>,
}

/// The error for a data directory this process cannot open; refused
/// permission names the user it runs as and the `chown` that fixes it (in
/// the image, uid 10001 and a folder mounted over /data that root owns).
pub(crate) fn data_dir_error(dir: &Path, e: &std::io::Error) -> StoreError {
    cannot_open(dir, e, e.kind() == std::io::ErrorKind::PermissionDenied)
}

fn cannot_open(dir: &Path, e: &dyn std::fmt::Display, refused: bool) -> StoreError {
    let mut message = format!("cannot open data dir {}: {e}", dir.display());
    if refused {
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        message.push_str(&format!(
            "; this process runs as uid {uid} (gid {gid}) and must be able to write there: \
             give it the directory (`chown {uid}:{gid} DIR`, on the host for a bind mount) \
             or choose another with --data-dir"
        ));
    }
    StoreError::Unavailable(message)
}

impl EmbeddedStore {
    /// Opens the store in `dir` to serve it: as [`EmbeddedStore::open`],
    /// holding the directory's serving lock while any clone of the store
    /// lives, so `seed` refuses to replace it under the server.
    pub fn open_to_serve(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        let serving = serving::hold(dir)?;
        Ok(EmbeddedStore {
            _serving: Some(serving),
            ..EmbeddedStore::open(dir)?
        })
    }

    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        let fail = |e: &dyn std::fmt::Display| cannot_open(dir, e, false);
        std::fs::create_dir_all(dir).map_err(|e| data_dir_error(dir, &e))?;
        // SAFETY: the environment is opened once per process (heed refuses a
        // second open of the same path) and its files are only ever changed
        // through LMDB.
        let env = unsafe {
            EnvOpenOptions::new()
                .map_size(MAP_SIZE)
                .max_dbs(16)
                .max_readers(1024)
                .open(dir)
        }
        .map_err(|e| match &e {
            heed::Error::Io(io) => data_dir_error(dir, io),
            _ => fail(&e),
        })?;
        let mut txn = env.write_txn().map_err(|e| fail(&e))?;
        let mut create = |name| env.create_database::<Bytes, Bytes>(&mut txn, Some(name));
        let (records, review_product) = (create("records"), create("review_product"));
        let (by_facet, meta) = (create("by_facet"), create("meta"));
        let changes = create("changes");
        let (reported, expiring, expiry) =
            (create("reported"), create("expiring"), create("expiry"));
        let info = env.create_database(&mut txn, Some("info"));
        let older = env.open_database::<Bytes, Bytes>(&txn, Some(migrate::OLDER_RECORDS));
        let older = older.map_err(|e| fail(&e))?;
        let store = EmbeddedStore {
            records: records.map_err(|e| fail(&e))?,
            review_product: review_product.map_err(|e| fail(&e))?,
            by_facet: by_facet.map_err(|e| fail(&e))?,
            meta: meta.map_err(|e| fail(&e))?,
            info: info.map_err(|e| fail(&e))?,
            env: env.clone(),
            products: Arc::new(AtomicU64::new(0)),
            change_log_entries: Arc::new(AtomicU64::new(0)),
            changes: changes.map_err(|e| fail(&e))?,
            reported: reported.map_err(|e| fail(&e))?,
            expiring: expiring.map_err(|e| fail(&e))?,
            expiry: expiry.map_err(|e| fail(&e))?,
            _serving: None,
        };
        txn.commit().map_err(|e| fail(&e))?;
        if let Some(older) = older {
            store.migrate(older)?;
        }
        store.build_reported_index()?;
        store.build_facet_index()?;
        store.define_characteristics()?;
        match store.clear_stale_readers() {
            Ok(0) => {}
            Ok(n) => tracing::info!("cleared {n} stale LMDB reader slots"),
            Err(e) => tracing::warn!("cannot clear stale LMDB reader slots: {e}"),
        }
        Ok(store)
    }

    /// Frees the reader slots of processes that died without releasing
    /// them; returns how many. LMDB frees a slot only when its process ends
    /// a read or closes the environment, so a process killed (SIGKILL, a
    /// crash) leaves its slot taken: the snapshot it read stays pinned, so
    /// the file grows on every later write, and once all `max_readers`
    /// slots are taken every read fails. Called on open, and by the
    /// supervisor after each worker's death and every 30 s.
    pub fn clear_stale_readers(&self) -> Result<usize, StoreError> {
        Ok(self.env.clear_stale_readers()?)
    }

    /// Lists every reported review in `reported`, once, for a complete data
    /// set loaded before that index existed: one pass over the records,
    /// reading only their flags.
    fn build_reported_index(&self) -> Result<(), StoreError> {
        {
            let txn = self.env.read_txn()?;
            let complete = self.info_u64(&txn, KEY_COMPLETE)? == Some(1);
            if !complete || self.info_u64(&txn, KEY_REPORTED_INDEX)?.is_some() {
                return Ok(());
            }
        }
        let mut txn = self.env.write_txn()?;
        // Another process may have built it while this one waited to write.
        if self.info_u64(&txn, KEY_REPORTED_INDEX)?.is_some() {
            return Ok(());
        }
        tracing::info!("listing reported reviews (once, for a store loaded by an older version)");
        let mut ids = Vec::new();
        for item in self.records.iter(&txn)? {
            let (key, value) = item?;
            if codec::head(value).is_some_and(|head| head.reported) {
                ids.push(keys::review_of(key)?);
            }
        }
        self.reported.clear(&mut txn)?;
        for id in ids {
            self.reported.put(&mut txn, &id.to_be_bytes(), &[])?;
        }
        self.info
            .put(&mut txn, KEY_REPORTED_INDEX, &1u64.to_be_bytes())?;
        txn.commit()?;
        Ok(())
    }

    /// Indexes every visible review in `by_facet`, once, for a complete
    /// data set loaded before that index existed: one pass over the
    /// records, reading their heads, in transactions of [`INDEX_BATCH`]
    /// entries (an interrupted build starts over); then the older index
    /// is emptied.
    fn build_facet_index(&self) -> Result<(), StoreError> {
        {
            let txn = self.env.read_txn()?;
            let complete = self.info_u64(&txn, KEY_COMPLETE)? == Some(1);
            if !complete || self.info_u64(&txn, KEY_FACET_INDEX)?.is_some() {
                return Ok(());
            }
        }
        tracing::info!(
            "indexing reviews by rating and photos (once, for a store loaded by an older version)"
        );
        let mut txn = self.env.write_txn()?;
        if self.info_u64(&txn, KEY_FACET_INDEX)?.is_some() {
            return Ok(()); // another process built it while this one waited
        }
        self.by_facet.clear(&mut txn)?;
        let mut entries = Vec::with_capacity(INDEX_BATCH);
        let mut after: Option<Vec<u8>> = None;
        loop {
            entries.clear();
            let range = match &after {
                Some(key) => (Bound::Excluded(&key[..]), Bound::Unbounded),
                None => (Bound::Unbounded, Bound::Unbounded),
            };
            for item in self.records.range(&txn, &range)?.take(INDEX_BATCH) {
                let (key, value) = item?;
                let head =
                    codec::head(value).ok_or_else(|| StoreError::Corrupt("record".into()))?;
                after = Some(key.to_vec());
                if head.reported {
                    continue;
                }
                let product = u64::from_be_bytes(key[..8].try_into().expect("16-byte key"));
                let id = keys::review_of(key)?;
                entries.push((
                    keys::facet_key(product, head.rating, head.photos > 0, id),
                    keys::index_value(head.date, head.helpfulness),
                ));
            }
            if entries.is_empty() {
                break;
            }
            entries.sort_unstable();
            for (key, value) in &entries {
                self.by_facet.put(&mut txn, key, value)?;
            }
            txn.commit()?;
            txn = self.env.write_txn()?;
        }
        if let Some(older) = self
            .env
            .open_database::<Bytes, Bytes>(&txn, Some(OLDER_INDEX))?
        {
            older.clear(&mut txn)?;
        }
        self.info
            .put(&mut txn, KEY_FACET_INDEX, &1u64.to_be_bytes())?;
        txn.commit()?;
        Ok(())
    }

    /// Gives every product its characteristics, once, for a complete data
    /// set loaded before there were any: those the generator gives it, in
    /// its meta, with nothing counted — the reviews already stored rate
    /// none, so they count in no average; reviews written from now on rate
    /// them all. In transactions of [`INDEX_BATCH`] products; one
    /// interrupted goes on where it stopped (a product already given its
    /// characteristics is left as it is).
    fn define_characteristics(&self) -> Result<(), StoreError> {
        let Some(set) = self.status()?.data_set else {
            return Ok(());
        };
        let products = {
            let txn = self.env.read_txn()?;
            let complete = self.info_u64(&txn, KEY_COMPLETE)? == Some(1);
            if !complete || self.info_u64(&txn, KEY_CHARACTERISTICS)?.is_some() {
                return Ok(());
            }
            self.info_u64(&txn, KEY_PRODUCTS)?.unwrap_or(0)
        };
        tracing::info!(
            "giving products their characteristics (once, for a store loaded by an older version)"
        );
        let generator = crate::generate::Generator::new(set);
        let mut product = 1;
        while product <= products {
            let mut txn = self.env.write_txn()?;
            if self.info_u64(&txn, KEY_CHARACTERISTICS)?.is_some() {
                return Ok(()); // another process did it while this one waited
            }
            let last = (product + INDEX_BATCH as u64 - 1).min(products);
            for p in product..=last {
                let key = p.to_be_bytes();
                let mut meta = match self.meta.get(&txn, &key)? {
                    Some(raw) => keys::decode_meta(raw)?,
                    None => Meta::default(),
                };
                if meta.characteristics.is_empty() {
                    meta.characteristics = generator.characteristics(p);
                    self.meta.put(&mut txn, &key, &keys::encode_meta(&meta))?;
                }
            }
            if last == products {
                self.info
                    .put(&mut txn, KEY_CHARACTERISTICS, &1u64.to_be_bytes())?;
            }
            txn.commit()?;
            product = last + 1;
        }
        Ok(())
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
        let source = match self.info.get(&txn, KEY_SOURCE)? {
            Some(raw) => {
                Some(serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
            None => None,
        };
        Ok(LoadStatus {
            data_set,
            loaded: self.info_u64(&txn, KEY_LOADED)?.unwrap_or(0),
            complete: self.info_u64(&txn, KEY_COMPLETE)? == Some(1),
            source,
        })
    }

    pub(super) fn info_u64(&self, txn: &RoTxn, key: &str) -> Result<Option<u64>, StoreError> {
        match self.info.get(txn, key)? {
            None => Ok(None),
            Some(raw) => raw
                .try_into()
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| StoreError::Corrupt(format!("info {key}"))),
        }
    }

    /// Whether `product_id` is one of the loaded data set's products.
    pub(super) fn product_exists(&self, txn: &RoTxn, product_id: u64) -> Result<bool, StoreError> {
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
    async fn page_versioned(
        &self,
        query: PageQuery,
    ) -> Result<Versioned<Option<Page>>, StoreError> {
        self.read_page(query)
    }

    async fn page_rendered<R>(
        &self,
        query: PageQuery,
        render: R,
    ) -> Result<Versioned<Option<Vec<u8>>>, StoreError>
    where
        R: FnOnce(PageView<'_, '_>) -> Vec<u8> + Send,
    {
        self.read_page_rendered(query, render)
    }

    async fn meta_versioned(&self, product_id: u64) -> Result<Versioned<Option<Meta>>, StoreError> {
        self.read_meta(product_id)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.env.read_txn()?;
        Ok(())
    }

    async fn add_review_versioned(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> Result<Option<Versioned<u64>>, StoreError> {
        let write = Write::AddReview { product_id, review };
        Ok(self.write_guarded(write, unguarded()).await?.versioned())
    }

    async fn vote_helpful_versioned(
        &self,
        review_id: u64,
    ) -> Result<Option<Versioned<u64>>, StoreError> {
        let write = Write::Helpful { review_id };
        Ok(self.write_guarded(write, unguarded()).await?.versioned())
    }

    async fn report_versioned(&self, review_id: u64) -> Result<Option<Versioned<u64>>, StoreError> {
        let write = Write::Report { review_id };
        Ok(self.write_guarded(write, unguarded()).await?.versioned())
    }

    async fn write_guarded(&self, write: Write, guard: WriteGuard) -> Result<Outcome, StoreError> {
        self.blocking(move |store| store.write_once(write, &guard))
            .await
    }

    async fn reported(&self, before: Option<u64>, limit: u32) -> Result<Vec<Review>, StoreError> {
        self.read_reported(before, limit)
    }

    async fn changes_since(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        self.read_changes(cursor)
    }

    async fn data_set(&self) -> Result<Option<DataSet>, StoreError> {
        self.read_data_set()
    }

    fn change_log_documents(&self) -> u64 {
        self.change_log_entries.load(Ordering::Relaxed)
    }
}

/// The guard of a write made without one: at the current time, nothing else.
fn unguarded() -> WriteGuard {
    WriteGuard {
        now_ms: crate::clock::now_ms(),
        ..WriteGuard::default()
    }
}
