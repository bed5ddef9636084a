//! From rows to products: photos and characteristic ratings joined to their
//! reviews, and every product with its characteristics and reviews handed
//! over in product order ([`Products`]), by external sorts and merge
//! joins, so memory stays bounded whatever the size of the files:
//!
//! 1. the files are read at once, `reviews.csv` on two threads (one reads
//!    and checks rows, the other keeps them) and the others in turn on a
//!    third, each row checked and duplicates of an id seen before rejected
//!    as they are read ([`IdSet`]); reviews are written once, as read, to
//!    a [`Spool`], and only a small entry per review — its id, product and
//!    place in the spool — is sorted by id; photos are sorted by review,
//!    ratings by characteristic;
//! 2. ratings are joined to the characteristics they rate (which gives
//!    their product and kind) and sorted by review;
//! 3. the reviews' entries are merged with their photos and ratings, in
//!    review order: what joins a review goes to a second spool, and an
//!    entry per review pointing at both is sorted by product;
//! 4. [`Products`] merges those with the products' characteristics, and
//!    makes each review's record from its two parts.
//!
//! Memory: at most four sorts hold their budget at once
//! ([`ImportOptions::sort_budget`], 64 MiB by default), plus the id sets
//! (about 1.3 bytes per id) and the read buffers; the spools are read
//! through memory maps, the page cache's.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::atelier::{self, Files, Table};
use super::jsonl;
use super::rows::Row;
use super::spool::{Mapped, Spool};
use super::{IdSet, ImportError, ImportOptions, Imported, Rejects};
use crate::generate::DataSet;
use crate::model::{Characteristic, CharacteristicRatings, Characteristics, Photo, limits};
use crate::seeding::Progress;
use crate::sort::{Peeked, Sorted, Sorter};
use crate::store::StoreError;
use crate::store::embedded::codec;
use crate::store::load::{ImportPlan, ImportedProduct};

/// An import ready to load: what it loads, its products in order, and
/// what it brings.
pub struct Assembled {
    /// The data set and next id the store gets.
    pub plan: ImportPlan,
    /// The products, in product order.
    pub products: Products,
    /// Every review's product and whether it is reported, in id order,
    /// when the assembly met them in that order (an Atelier export's);
    /// else a store sorts them itself.
    pub by_id: Option<ReviewsById>,
    /// What is brought in (rows rejected so far included).
    pub imported: Imported,
}

/// Each review's id, product and whether it is reported, in id order.
pub struct ReviewsById(Mapped);

/// Bytes of one [`ReviewsById`] entry.
const BY_ID_ENTRY: usize = 17;

impl ReviewsById {
    /// The entries: `(id, product, reported)`.
    pub fn iter(&self) -> impl Iterator<Item = Result<(u64, u64, bool), StoreError>> + '_ {
        self.0.all().chunks(BY_ID_ENTRY).map(|e| {
            if e.len() != BY_ID_ENTRY {
                return Err(StoreError::Corrupt("import's review index".into()));
            }
            let id = u64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
            let product = u64::from_le_bytes(e[8..16].try_into().expect("8 bytes"));
            Ok((id, product, e[16] == 1))
        })
    }
}

/// The order of each reader's part of the rejects file.
mod part {
    pub const REVIEWS: u32 = 1;
    pub const PHOTOS: u32 = 2;
    pub const CHARACTERISTICS: u32 = 3;
    pub const RATINGS: u32 = 4;
    pub const JOIN: u32 = 5;
}

/// What reading `reviews.csv` leaves: its reviews as read, an entry per
/// review by id ([`Place`]), how many, and the largest product id.
struct ReadReviews {
    spool: Mapped,
    by_id: Sorted,
    count: u64,
    max_product: u64,
}

/// Where a record is: its product, and its place in a spool.
#[derive(Clone, Copy)]
struct Place {
    product: u64,
    at: u64,
    len: u32,
}

impl Place {
    fn bytes(self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&self.product.to_le_bytes());
        out[8..16].copy_from_slice(&self.at.to_le_bytes());
        out[16..].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    fn read(b: &[u8]) -> Place {
        Place {
            product: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            at: u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
            len: u32::from_le_bytes(b[16..20].try_into().expect("4 bytes")),
        }
    }
}

/// What reading the other files leaves.
struct ReadOthers {
    photos: Sorted,
    ratings: Sorted,
    characteristics: Sorted,
    max_product: u64,
}

/// An Atelier export opened, every header checked: nothing is written
/// anywhere until this is done.
pub struct Opened {
    reviews: Table,
    photos: Option<Table>,
    characteristics: Option<Table>,
    ratings: Option<Table>,
    /// Bytes read so far, of `total`.
    read: Arc<AtomicU64>,
    total: u64,
}

impl Opened {
    /// Opens the export's files and checks their headers.
    pub fn atelier(files: &Files) -> Result<Opened, ImportError> {
        let read = Arc::new(AtomicU64::new(0));
        let open = |path: &std::path::Path, name, columns: &[&str]| {
            Table::open(path, name, columns, read.clone())
        };
        let optional = |path: &Option<std::path::PathBuf>, name, columns: &[&str]| {
            path.as_deref().map(|p| open(p, name, columns)).transpose()
        };
        Ok(Opened {
            reviews: open(&files.reviews, atelier::REVIEWS, &atelier::REVIEW_COLUMNS)?,
            photos: optional(&files.photos, atelier::PHOTOS, &atelier::PHOTO_COLUMNS)?,
            characteristics: optional(
                &files.characteristics,
                atelier::CHARACTERISTICS,
                &atelier::CHARACTERISTIC_COLUMNS,
            )?,
            ratings: optional(&files.ratings, atelier::RATINGS, &atelier::RATING_COLUMNS)?,
            total: files
                .all()
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum(),
            read,
        })
    }
}

/// Reads, checks and joins an opened Atelier export (see the module
/// docs), listing rejected rows in `rejects`.
pub fn atelier(
    opened: Opened,
    options: &ImportOptions,
    rejects: &Rejects,
    progress: &mut dyn Progress,
) -> Result<Assembled, ImportError> {
    let Opened {
        reviews,
        photos,
        characteristics,
        ratings,
        read,
        total,
    } = opened;
    progress.phase("read", total, 0);
    let (first, others) = std::thread::scope(|scope| {
        let first = scope.spawn(|| read_reviews(reviews, options, rejects));
        let others =
            scope.spawn(|| read_others(photos, characteristics, ratings, options, rejects));
        let mut shown = 0;
        while !(first.is_finished() && others.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            let now = read.load(Ordering::Relaxed);
            progress.advance(now.saturating_sub(shown));
            shown = now;
        }
        let first = first.join().expect("the reviews reader does not panic");
        let others = others.join().expect("the other readers do not panic");
        (first, others)
    });
    let (first, others) = (first?, others?);
    join(first, others, options, rejects, progress)
}

fn io(e: std::io::Error) -> ImportError {
    ImportError::Io(e)
}

/// Reviews read, checked and encoded per hand-off to the sorting thread.
const BATCH: usize = 4096;

/// Reads `reviews.csv`: every row that keeps the storage rules, kept in a
/// spool and sorted by id. Two threads: this one reads and checks the
/// rows, another keeps them.
fn read_reviews(
    mut table: Table,
    options: &ImportOptions,
    rejects: &Rejects,
) -> Result<ReadReviews, ImportError> {
    let mut part = rejects.part(part::REVIEWS)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u64>, Vec<u8>, Vec<usize>)>(4);
    std::thread::scope(|scope| {
        let keeping = scope.spawn(move || -> Result<(Spool, Sorter, u64), ImportError> {
            let mut spool = Spool::new(&options.temp_dir)?;
            let mut sorter = Sorter::new(options.sort_budget, &options.temp_dir);
            let mut max_product = 0;
            for (ids, bytes, ends) in rx {
                let mut start = 0;
                for (&id, &end) in ids.iter().zip(&ends) {
                    let record = &bytes[start..end];
                    let product = codec::product_of(record).unwrap_or(0);
                    max_product = max_product.max(product);
                    let place = Place {
                        product,
                        at: spool.append(record)?,
                        len: record.len() as u32,
                    };
                    sorter.push(u128::from(id), &place.bytes()).map_err(io)?;
                    start = end;
                }
            }
            Ok((spool, sorter, max_product))
        });
        let (mut seen, mut row) = (IdSet::default(), Row::default());
        let mut batch = (
            Vec::with_capacity(BATCH),
            Vec::new(),
            Vec::with_capacity(BATCH),
        );
        let read = loop {
            match table.next(&mut row) {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
            let why = match atelier::review(&table, &row) {
                Ok(review) if seen.insert(review.review_id) => {
                    codec::encode(&review, &mut batch.1);
                    batch.0.push(review.review_id);
                    batch.2.push(batch.1.len());
                    if batch.0.len() == BATCH {
                        let full = std::mem::replace(
                            &mut batch,
                            (
                                Vec::with_capacity(BATCH),
                                Vec::new(),
                                Vec::with_capacity(BATCH),
                            ),
                        );
                        if tx.send(full).is_err() {
                            break Ok(()); // the sorter failed: its error says why
                        }
                    }
                    continue;
                }
                Ok(review) => format!("duplicate id {}", review.review_id),
                Err(why) => why,
            };
            if let Err(e) = part.reject(table.name, row.line, &why, &row.text()) {
                break Err(e);
            }
        };
        if !batch.0.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        let kept = keeping.join().expect("the keeping thread does not panic");
        read?;
        let (spool, sorter, max_product) = kept?;
        part.close()?;
        Ok(ReadReviews {
            spool: spool.finish()?,
            count: sorter.len(),
            by_id: sorter.finish().map_err(io)?,
            max_product,
        })
    })
}

/// Reads the characteristics, the photos and the ratings, and joins the
/// ratings to the characteristics they rate.
fn read_others(
    photos: Option<Table>,
    characteristics: Option<Table>,
    ratings: Option<Table>,
    options: &ImportOptions,
    rejects: &Rejects,
) -> Result<ReadOthers, ImportError> {
    let new_sorter = || Sorter::new(options.sort_budget, &options.temp_dir);
    let mut row = Row::default();
    let mut max_product = 0;

    // Characteristics: by id (what ratings join) and by product (what
    // products are handed over with).
    let (mut by_id, mut by_product) = (new_sorter(), new_sorter());
    // The lowest and highest id kept: how a table of them would span.
    let mut ids_kept = (u64::MAX, 0);
    let mut part = rejects.part(part::CHARACTERISTICS)?;
    if let Some(mut table) = characteristics {
        let (mut ids, mut kinds) = (IdSet::default(), IdSet::default());
        while table.next(&mut row)? {
            let why = match atelier::characteristic(&table, &row) {
                Err(why) => why,
                Ok((id, _, _)) if !ids.insert(id) => format!("duplicate id {id}"),
                Ok((_, product, kind))
                    if !kinds
                        .insert(product * Characteristic::COUNT as u64 + kind.index() as u64) =>
                {
                    format!("product {product} has a {kind} characteristic already")
                }
                Ok((id, product, kind)) => {
                    max_product = max_product.max(product);
                    ids_kept = (ids_kept.0.min(id), ids_kept.1.max(id));
                    let mut def = [0u8; 9];
                    def[..8].copy_from_slice(&product.to_le_bytes());
                    def[8] = kind.index() as u8;
                    by_id.push(u128::from(id), &def).map_err(io)?;
                    let key = u128::from(product) << 64 | kind.index() as u128;
                    by_product.push(key, &id.to_le_bytes()).map_err(io)?;
                    continue;
                }
            };
            part.reject(table.name, row.line, &why, &row.text())?;
        }
    }
    part.close()?;

    // Photos, by review and then id.
    let mut photo_sorter = new_sorter();
    let mut part = rejects.part(part::PHOTOS)?;
    if let Some(mut table) = photos {
        let mut ids = IdSet::default();
        let mut payload = Vec::new();
        while table.next(&mut row)? {
            let line = row.line;
            let why = match atelier::photo(&table, &row) {
                Err(why) => why,
                Ok((id, _, _)) if !ids.insert(id) => format!("duplicate id {id}"),
                Ok((id, review, url)) => {
                    payload.clear();
                    payload.extend_from_slice(&line.to_le_bytes());
                    payload.extend_from_slice(url.as_bytes());
                    photo_sorter
                        .push(u128::from(review) << 64 | u128::from(id), &payload)
                        .map_err(io)?;
                    continue;
                }
            };
            part.reject(table.name, line, &why, &row.text())?;
        }
    }
    part.close()?;

    // Ratings: joined to the characteristic they rate, then sorted by
    // review. When the characteristics fit in memory (the sort's budget),
    // each rating is joined as it is read; otherwise ratings are sorted by
    // characteristic first and merged with them. Either way, ratings of a
    // characteristic that is not there are listed after the rows that
    // could not be read, by characteristic and line.
    let (mut by_review, mut buf) = (new_sorter(), Vec::new());
    let mut part = rejects.part(part::RATINGS)?;
    let count = by_id.len();
    let mut defs = Peeked::new(by_id.finish().map_err(io)?).map_err(io)?;
    let known = Known::load(&mut defs, count, ids_kept, options.sort_budget).map_err(io)?;
    // Ratings to merge with the characteristics (all of them), or those
    // of characteristics not known (when they are all in memory).
    let mut by_characteristic = new_sorter();
    if let Some(mut table) = ratings {
        while table.next(&mut row)? {
            let line = row.line;
            match atelier::rating(&table, &row) {
                Err(why) => part.reject(table.name, line, &why, &row.text())?,
                Ok((row_id, characteristic, review, value)) => {
                    if let Some((product, kind)) =
                        known.as_ref().and_then(|k| k.get(characteristic))
                    {
                        let rated = Rated {
                            characteristic,
                            product,
                            kind,
                            value,
                            row_id,
                        };
                        let key = u128::from(review) << 64 | u128::from(line);
                        rated.write(&mut buf);
                        by_review.push(key, &buf).map_err(io)?;
                        continue;
                    }
                    let mut payload = [0u8; 17];
                    payload[..8].copy_from_slice(&review.to_le_bytes());
                    payload[8] = value;
                    payload[9..].copy_from_slice(&row_id.to_le_bytes());
                    let key = u128::from(characteristic) << 64 | u128::from(line);
                    by_characteristic.push(key, &payload).map_err(io)?;
                }
            }
        }
    }
    drop(known);
    let mut ratings = Peeked::new(by_characteristic.finish().map_err(io)?).map_err(io)?;
    while let Some(key) = ratings.key() {
        let (characteristic, line) = ((key >> 64) as u64, key as u64);
        let r = ratings.record();
        let review = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
        let (value, row_id) = (
            r[8],
            u64::from_le_bytes(r[9..17].try_into().expect("8 bytes")),
        );
        while defs.key().is_some_and(|k| (k as u64) < characteristic) {
            defs.advance().map_err(io)?;
        }
        if defs.key() == Some(u128::from(characteristic)) {
            let def = defs.record();
            let rated = Rated {
                characteristic,
                product: u64::from_le_bytes(def[..8].try_into().expect("8 bytes")),
                kind: def[8],
                value,
                row_id,
            };
            let key = u128::from(review) << 64 | u128::from(line);
            rated.write(&mut buf);
            by_review.push(key, &buf).map_err(io)?;
        } else {
            let row = rating_row(row_id, characteristic, review, value);
            let why = format!(
                "no characteristic {characteristic} in {}",
                atelier::CHARACTERISTICS
            );
            part.reject(atelier::RATINGS, line, &why, &row)?;
        }
        ratings.advance().map_err(io)?;
    }
    part.close()?;
    Ok(ReadOthers {
        photos: photo_sorter.finish().map_err(io)?,
        ratings: by_review.finish().map_err(io)?,
        characteristics: by_product.finish().map_err(io)?,
        max_product,
    })
}

/// The characteristics, in memory, by id: a table from the lowest id when
/// the ids are dense (as an Atelier export's are), else sorted, for a
/// binary search; either within the sort budget.
enum Known {
    /// The product and kind of id `first + i` at `i`; kind `u8::MAX`
    /// where there is no such id.
    Dense {
        first: u64,
        products: Vec<u64>,
        kinds: Vec<u8>,
    },
    /// `(id, product, kind)` by id.
    Sorted(Vec<(u64, u64, u8)>),
}

impl Known {
    /// The `count` characteristics of `defs` (sorted by id, ids from
    /// `ids.0` to `ids.1`), read into memory if they fit in `budget`;
    /// else `None` and `defs` left as it was.
    fn load(
        defs: &mut Peeked,
        count: u64,
        ids: (u64, u64),
        budget: usize,
    ) -> std::io::Result<Option<Known>> {
        let read = |defs: &mut Peeked, put: &mut dyn FnMut(u64, u64, u8)| {
            while let Some(id) = defs.key() {
                let def = defs.record();
                let product = u64::from_le_bytes(def[..8].try_into().expect("8 bytes"));
                put(id as u64, product, def[8]);
                defs.advance()?;
            }
            Ok::<_, std::io::Error>(())
        };
        let budget = budget as u64;
        let span = ids.1.saturating_sub(ids.0).saturating_add(1);
        if count > 0 && span <= 2 * count && span.saturating_mul(9) <= budget {
            let (first, mut products, mut kinds) =
                (ids.0, vec![0; span as usize], vec![u8::MAX; span as usize]);
            read(defs, &mut |id, product, kind| {
                products[(id - first) as usize] = product;
                kinds[(id - first) as usize] = kind;
            })?;
            return Ok(Some(Known::Dense {
                first,
                products,
                kinds,
            }));
        }
        if count.saturating_mul(24) <= budget {
            let mut all = Vec::with_capacity(count as usize);
            read(defs, &mut |id, product, kind| all.push((id, product, kind)))?;
            return Ok(Some(Known::Sorted(all)));
        }
        Ok(None)
    }

    /// The product and kind of characteristic `id`.
    fn get(&self, id: u64) -> Option<(u64, u8)> {
        match self {
            Known::Dense {
                first,
                products,
                kinds,
            } => {
                let at = usize::try_from(id.checked_sub(*first)?).ok()?;
                let kind = *kinds.get(at).filter(|&&k| k != u8::MAX)?;
                Some((products[at], kind))
            }
            Known::Sorted(all) => all
                .binary_search_by_key(&id, |d| d.0)
                .ok()
                .map(|i| (all[i].1, all[i].2)),
        }
    }
}

/// A rating joined to the characteristic it rates, as sorted by review.
struct Rated {
    characteristic: u64,
    /// The characteristic's product.
    product: u64,
    /// Its kind's index.
    kind: u8,
    value: u8,
    /// The rating row's own id, for the rejects file.
    row_id: u64,
}

impl Rated {
    /// Its bytes as sorted: kind and value in one byte, then the numbers
    /// as LEB128 varints (a few bytes each where a u64 takes 8: tens of
    /// millions of these are sorted).
    fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(self.kind << 4 | self.value & 0x0F);
        for n in [self.product, self.characteristic, self.row_id] {
            let mut n = n;
            while n >= 0x80 {
                out.push(n as u8 | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
    }

    /// Reads what [`Rated::write`] wrote.
    fn read(b: &[u8]) -> Rated {
        let (mut numbers, mut at) = ([0u64; 3], 1);
        for n in &mut numbers {
            let mut shift = 0;
            while let Some(&byte) = b.get(at) {
                at += 1;
                *n |= u64::from(byte & 0x7F) << shift;
                shift += 7;
                if byte < 0x80 || shift >= 64 {
                    break;
                }
            }
        }
        Rated {
            kind: b[0] >> 4,
            value: b[0] & 0x0F,
            product: numbers[0],
            characteristic: numbers[1],
            row_id: numbers[2],
        }
    }
}

/// A rating's row as the rejects file shows it.
fn rating_row(id: u64, characteristic: u64, review: u64, value: u8) -> String {
    format!("{id},{characteristic},{review},{value}")
}

/// A photo's row as the rejects file shows it.
fn photo_row(id: u64, review: u64, url: &str) -> String {
    atelier::row_of(&[&id.to_string(), &review.to_string(), url])
}

/// Merges the reviews' entries with their photos and ratings, in review
/// order, rejecting what joins nothing; what joins a review goes to a
/// spool, and an entry per review pointing at its two parts is sorted by
/// product.
fn join(
    reviews: ReadReviews,
    others: ReadOthers,
    options: &ImportOptions,
    rejects: &Rejects,
    progress: &mut dyn Progress,
) -> Result<Assembled, ImportError> {
    let mut part = rejects.part(part::JOIN)?;
    let mut by_product = Sorter::new(options.sort_budget, &options.temp_dir);
    let mut extras_spool = Spool::new(&options.temp_dir)?;
    let mut by_id = Spool::new(&options.temp_dir)?;
    let mut entries = Peeked::new(reviews.by_id).map_err(io)?;
    let mut photos = Peeked::new(others.photos).map_err(io)?;
    let mut ratings = Peeked::new(others.ratings).map_err(io)?;
    let mut imported = Imported::default();
    let mut max_review = 0;
    let (mut kept_photos, mut extras) = (Vec::new(), Vec::new());
    progress.phase("join", reviews.count, 0);
    loop {
        let next = entries.key().map(|k| k as u64);
        // Photos and ratings of reviews before this one (or after the
        // last) join nothing.
        while let Some(key) = photos
            .key()
            .filter(|&k| next.is_none_or(|n| ((k >> 64) as u64) < n))
        {
            let (review, id) = ((key >> 64) as u64, key as u64);
            let line = u64::from_le_bytes(photos.record()[..8].try_into().expect("8 bytes"));
            let url = String::from_utf8_lossy(&photos.record()[8..]).into_owned();
            let why = format!(
                "no review {review} in {} (or it was rejected)",
                atelier::REVIEWS
            );
            part.reject(atelier::PHOTOS, line, &why, &photo_row(id, review, &url))?;
            photos.advance().map_err(io)?;
        }
        while let Some(key) = ratings
            .key()
            .filter(|&k| next.is_none_or(|n| ((k >> 64) as u64) < n))
        {
            let (review, line) = ((key >> 64) as u64, key as u64);
            let r = Rated::read(ratings.record());
            let why = format!(
                "no review {review} in {} (or it was rejected)",
                atelier::REVIEWS
            );
            let row = rating_row(r.row_id, r.characteristic, review, r.value);
            part.reject(atelier::RATINGS, line, &why, &row)?;
            ratings.advance().map_err(io)?;
        }
        let Some(id) = next else { break };
        let place = Place::read(entries.record());
        kept_photos.clear();
        while let Some(key) = photos.key().filter(|&k| (k >> 64) as u64 == id) {
            let photo_id = key as u64;
            let line = u64::from_le_bytes(photos.record()[..8].try_into().expect("8 bytes"));
            let url = String::from_utf8_lossy(&photos.record()[8..]).into_owned();
            if kept_photos.len() < limits::PHOTOS_MAX {
                kept_photos.push(Photo { id: photo_id, url });
            } else {
                let why = format!(
                    "review {id} has {} photos already, the most a review holds",
                    limits::PHOTOS_MAX
                );
                part.reject(atelier::PHOTOS, line, &why, &photo_row(photo_id, id, &url))?;
            }
            photos.advance().map_err(io)?;
        }
        let mut rated = CharacteristicRatings::default();
        while let Some(key) = ratings.key().filter(|&k| (k >> 64) as u64 == id) {
            let line = key as u64;
            let Rated {
                characteristic,
                product,
                kind,
                value,
                row_id,
            } = Rated::read(ratings.record());
            let kind = Characteristic::ALL[usize::from(kind) % Characteristic::COUNT];
            let why = if product != place.product {
                Some(format!(
                    "characteristic {characteristic} is product {product}'s, not product {}'s \
                     (review {id}'s)",
                    place.product
                ))
            } else if rated.get(kind).is_some() {
                Some(format!(
                    "review {id} rates {kind} (characteristic {characteristic}) twice"
                ))
            } else {
                rated.set(kind, value);
                None
            };
            if let Some(why) = why {
                let row = rating_row(row_id, characteristic, id, value);
                part.reject(atelier::RATINGS, line, &why, &row)?;
            }
            ratings.advance().map_err(io)?;
        }
        let joined = if kept_photos.is_empty() && rated.is_empty() {
            Place {
                at: 0,
                len: 0,
                ..place
            }
        } else {
            extras.clear();
            codec::extras(&rated, &kept_photos, &mut extras);
            Place {
                at: extras_spool.append(&extras)?,
                len: extras.len() as u32,
                ..place
            }
        };
        imported.reviews += 1;
        imported.photos += kept_photos.len() as u64;
        imported.ratings += rated.iter().count() as u64;
        max_review = max_review.max(id);
        let head = reviews
            .spool
            .get(place.at, place.len)
            .ok()
            .and_then(codec::head)
            .ok_or_else(|| io(std::io::Error::other("import's spool: a record unreadable")))?;
        let mut entry = [0u8; BY_ID_ENTRY];
        entry[..8].copy_from_slice(&id.to_le_bytes());
        entry[8..16].copy_from_slice(&place.product.to_le_bytes());
        entry[16] = u8::from(head.reported);
        by_id.append(&entry)?;
        let key = u128::from(place.product) << 64 | u128::from(id);
        by_product
            .push(key, &[place.bytes(), joined.bytes()].concat())
            .map_err(io)?;
        entries.advance().map_err(io)?;
        progress.advance(1);
    }
    part.close()?;
    let products = reviews.max_product.max(others.max_product);
    imported.products = products;
    let plan = ImportPlan {
        data_set: DataSet {
            seed: 0,
            records: imported.reviews,
            products,
        },
        next_review_id: max_review + 1,
    };
    Ok(Assembled {
        plan,
        products: Products::new(
            by_product.finish().map_err(io)?,
            others.characteristics,
            reviews.spool,
            extras_spool.finish()?,
        )
        .map_err(io)?,
        by_id: Some(ReviewsById(by_id.finish()?)),
        imported,
    })
}

/// Reads a JSON Lines export (see [`jsonl`]) called `name` (in the rejects
/// file): its header, products and reviews, each checked as an Atelier
/// row is, sorted by product.
pub fn jsonl(
    input: &mut dyn BufRead,
    name: &str,
    options: &ImportOptions,
    rejects: &Rejects,
    progress: &mut dyn Progress,
) -> Result<Assembled, ImportError> {
    let mut part = rejects.part(part::REVIEWS)?;
    let mut spool = Spool::new(&options.temp_dir)?;
    let mut reviews = Sorter::new(options.sort_budget, &options.temp_dir);
    let mut characteristics = Sorter::new(options.sort_budget, &options.temp_dir);
    let (mut review_ids, mut products_seen) = (IdSet::default(), IdSet::default());
    let (mut header, mut imported) = (None, Imported::default());
    let (mut max_product, mut max_review) = (0, 0);
    let (mut text, mut line, mut bytes) = (String::new(), 0u64, Vec::new());
    progress.phase("read", 0, 0);
    loop {
        text.clear();
        if input.read_line(&mut text)? == 0 {
            break;
        }
        line += 1;
        let raw = text.trim_end_matches(['\n', '\r']);
        if raw.trim().is_empty() {
            continue;
        }
        match jsonl::parse_line(raw) {
            Err(why) => part.reject(name, line, &why, raw)?,
            Ok(jsonl::Item::Header(h)) if line == 1 => header = Some(h),
            Ok(jsonl::Item::Header(_)) => {
                part.reject(name, line, "a header after the first line", raw)?
            }
            Ok(jsonl::Item::Product {
                product_id,
                characteristics: defined,
            }) => {
                if !products_seen.insert(product_id) {
                    part.reject(name, line, &format!("product {product_id} again"), raw)?;
                    continue;
                }
                max_product = max_product.max(product_id);
                for s in defined.iter() {
                    let key = u128::from(product_id) << 64 | s.kind.index() as u128;
                    characteristics.push(key, &s.id.to_le_bytes()).map_err(io)?;
                }
            }
            Ok(jsonl::Item::Review(review)) => {
                if !review_ids.insert(review.review_id) {
                    let why = format!("duplicate review_id {}", review.review_id);
                    part.reject(name, line, &why, raw)?;
                    continue;
                }
                max_product = max_product.max(review.product_id);
                max_review = max_review.max(review.review_id);
                imported.reviews += 1;
                imported.photos += review.photos.len() as u64;
                imported.ratings += review.characteristics.iter().count() as u64;
                bytes.clear();
                codec::encode(&review, &mut bytes);
                let key = u128::from(review.product_id) << 64 | u128::from(review.review_id);
                let place = Place {
                    product: review.product_id,
                    at: spool.append(&bytes)?,
                    len: bytes.len() as u32,
                };
                let none = Place {
                    at: 0,
                    len: 0,
                    ..place
                };
                reviews
                    .push(key, &[place.bytes(), none.bytes()].concat())
                    .map_err(io)?;
            }
        }
        progress.advance(1);
    }
    part.close()?;
    let products = header.map_or(max_product, |h| h.data_set.products.max(max_product));
    imported.products = products;
    let plan = ImportPlan {
        data_set: match header {
            Some(h) => DataSet {
                products,
                ..h.data_set
            },
            None => DataSet {
                seed: 0,
                records: imported.reviews,
                products,
            },
        },
        next_review_id: header.map_or(0, |h| h.next_review_id).max(max_review + 1),
    };
    let no_extras = Spool::new(&options.temp_dir)?.finish()?;
    Ok(Assembled {
        plan,
        products: Products::new(
            reviews.finish().map_err(io)?,
            characteristics.finish().map_err(io)?,
            spool.finish()?,
            no_extras,
        )
        .map_err(io)?,
        by_id: None,
        imported,
    })
}

/// The products of an import in product order: reviews' entries sorted
/// by (product, id), each pointing at its record and at what joined it,
/// merged with characteristics sorted by (product, kind).
pub struct Products {
    reviews: Peeked,
    characteristics: Peeked,
    records: Mapped,
    extras: Mapped,
}

impl Products {
    fn new(
        reviews: Sorted,
        characteristics: Sorted,
        records: Mapped,
        extras: Mapped,
    ) -> std::io::Result<Products> {
        Ok(Products {
            reviews: Peeked::new(reviews)?,
            characteristics: Peeked::new(characteristics)?,
            records,
            extras,
        })
    }

    fn next_product(&mut self) -> std::io::Result<Option<ImportedProduct>> {
        let product = |k: u128| (k >> 64) as u64;
        let next = match (self.reviews.key(), self.characteristics.key()) {
            (None, None) => return Ok(None),
            (Some(r), None) => product(r),
            (None, Some(c)) => product(c),
            (Some(r), Some(c)) => product(r).min(product(c)),
        };
        let mut characteristics = Characteristics::default();
        while let Some(key) = self.characteristics.key().filter(|&k| product(k) == next) {
            let kind = Characteristic::ALL[(key as u64 as usize) % Characteristic::COUNT];
            let id = u64::from_le_bytes(self.characteristics.record()[..8].try_into().expect("8"));
            characteristics
                .define(kind, id)
                .map_err(|e| std::io::Error::other(e.0))?;
            self.characteristics.advance()?;
        }
        let mut imported = ImportedProduct {
            product_id: next,
            characteristics,
            ..ImportedProduct::default()
        };
        let bad = |e: String| std::io::Error::other(e);
        while let Some(key) = self.reviews.key().filter(|&k| product(k) == next) {
            let entry = self.reviews.record();
            let (base, joined) = (Place::read(&entry[..20]), Place::read(&entry[20..40]));
            let base = self.records.get(base.at, base.len)?;
            let extras = self.extras.get(joined.at, joined.len)?;
            let start = imported.records.len();
            codec::compose(base, extras, &mut imported.records).map_err(bad)?;
            // A rating of a characteristic the product does not have (a
            // JSON Lines review edited by hand) is not kept.
            let rated = codec::head(&imported.records[start..])
                .ok_or_else(|| bad("a composed record".into()))?
                .characteristics;
            if rated
                .iter()
                .any(|(kind, _)| characteristics.by_kind(kind).is_none())
            {
                let mut review =
                    codec::decode(key as u64, &imported.records[start..]).map_err(bad)?;
                for (kind, _) in rated.iter() {
                    if characteristics.by_kind(kind).is_none() {
                        review.characteristics.set(kind, 0);
                    }
                }
                imported.records.truncate(start);
                codec::encode(&review, &mut imported.records);
            }
            imported.ends.push((key as u64, imported.records.len()));
            self.reviews.advance()?;
        }
        Ok(Some(imported))
    }
}

impl Products {
    /// The products made on a thread of their own, up to `depth` ahead of
    /// the reader: a store writes one while the next is read from the
    /// spools and composed.
    pub fn read_ahead(self, depth: usize) -> ReadAhead {
        let (tx, rx) = std::sync::mpsc::sync_channel(depth);
        let thread = std::thread::Builder::new()
            .name("import-products".into())
            .spawn(move || {
                for product in self {
                    if tx.send(product).is_err() {
                        break; // the reader stopped
                    }
                }
            })
            .expect("a thread starts");
        ReadAhead {
            rx: Some(rx),
            thread: Some(thread),
        }
    }
}

/// [`Products::read_ahead`]: the products in order; dropped early, the
/// thread making them stops.
pub struct ReadAhead {
    rx: Option<std::sync::mpsc::Receiver<Result<ImportedProduct, StoreError>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Iterator for ReadAhead {
    type Item = Result<ImportedProduct, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.rx.as_ref()?.recv().ok();
        if next.is_none() {
            // The thread is done: its panic, if any, is this one's.
            self.rx = None;
            if let Some(thread) = self.thread.take()
                && let Err(panic) = thread.join()
            {
                std::panic::resume_unwind(panic);
            }
        }
        next
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.rx = None; // its next send fails: it stops
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Iterator for Products {
    type Item = Result<ImportedProduct, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_product()
            .map_err(|e| StoreError::Unavailable(format!("import's temporary runs: {e}")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn rows_are_joined_by_review_and_handed_over_by_product() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "reviews.csv",
            "\u{feff}id,product_id,rating,date,summary,body,recommend,reported,reviewer_name,\
             reviewer_email,response,helpfulness\r\n\
             3,2,5,1555200000000,Great,\"Comfortable, and \"\"practical\"\".\r\nTwo lines.\",true,false,ana,a@x.io,null,4\r\n\
             1,1,4,2019-04-14,,Short.,1,0,bo,b@x.io,,0\r\n\
             2,1,6,2019-04-14,x,Bad rating.,true,false,cy,c@x.io,,0\r\n",
        );
        write(
            d,
            "reviews_photos.csv",
            "id,review_id,url\n7,3,https://img/a.jpg\n8,9,https://img/b.jpg\n",
        );
        write(
            d,
            "characteristics.csv",
            "id,product_id,name\n10,1,Fit\n11,2,Size\n12,4,quality\n",
        );
        write(
            d,
            "characteristic_reviews.csv",
            "id,characteristic_id,review_id,value\n1,11,3,2\n2,10,3,4\n3,10,1,5\n4,99,1,3\n",
        );
        let options = ImportOptions {
            max_rejects: 10,
            temp_dir: d.to_path_buf(),
            ..ImportOptions::new(d.join("rejects.csv"))
        };
        let rejects = Rejects::new(&options.rejects, options.max_rejects, d);
        let opened = Opened::atelier(&Files::find(d).unwrap()).unwrap();
        let mut quiet = crate::seeding::Silent;
        let assembled = atelier(opened, &options, &rejects, &mut quiet).unwrap();
        assert_eq!(assembled.plan.next_review_id, 4);
        assert_eq!(
            assembled.plan.data_set.products, 4,
            "characteristics name product 4"
        );
        let products: Vec<(u64, Vec<crate::model::Review>)> = assembled
            .products
            .map(|p| {
                let p = p.unwrap();
                (p.product_id, p.reviews().unwrap())
            })
            .collect();
        let ids: Vec<(u64, Vec<u64>)> = products
            .iter()
            .map(|(p, reviews)| (*p, reviews.iter().map(|r| r.review_id).collect()))
            .collect();
        assert_eq!(ids, [(1, vec![1]), (2, vec![3]), (4, vec![])]);
        let three = &products[1].1[0];
        assert_eq!(three.body, "Comfortable, and \"practical\".\r\nTwo lines.");
        assert_eq!(three.date, 1_555_200_000);
        assert_eq!(
            three.photos,
            [Photo {
                id: 7,
                url: "https://img/a.jpg".into()
            }]
        );
        assert_eq!(
            three.characteristics.iter().collect::<Vec<_>>(),
            [(Characteristic::Size, 2)]
        );
        assert_eq!(products[0].1[0].summary, "");
        assert_eq!(
            products[0].1[0].characteristics.get(Characteristic::Fit),
            Some(5)
        );
        rejects.finish().unwrap();
        let mut listed = csv::Reader::from_path(d.join("rejects.csv")).unwrap();
        assert_eq!(
            listed.headers().unwrap(),
            vec!["file", "line", "reason", "row"]
        );
        let rows: Vec<Vec<String>> = listed
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        let expected = [
            (
                "reviews.csv",
                "5",
                "rating must be an integer from 1 to 5, got \"6\"",
                "2,1,6,2019-04-14,x,Bad rating.,true,false,cy,c@x.io,,0",
            ),
            (
                "characteristic_reviews.csv",
                "5",
                "no characteristic 99 in characteristics.csv",
                "4,99,1,3",
            ),
            (
                "characteristic_reviews.csv",
                "3",
                "characteristic 10 is product 1's, not product 2's (review 3's)",
                "2,10,3,4",
            ),
            (
                "reviews_photos.csv",
                "3",
                "no review 9 in reviews.csv (or it was rejected)",
                "8,9,https://img/b.jpg",
            ),
        ];
        assert_eq!(rows.len(), expected.len(), "{rows:?}");
        for (row, (file, line, reason, text)) in rows.iter().zip(expected) {
            assert_eq!(row, &[file, line, reason, text], "{rows:?}");
        }
    }

    /// Characteristics in memory (joined as ratings are read) or past the
    /// sort budget (ratings sorted and merged with them): the same
    /// products, the same rejects in the same order.
    #[test]
    fn ratings_join_alike_whether_characteristics_fit_in_memory_or_not() {
        let run = |budget: usize, stride: u64| {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let mut reviews = String::from(
                "id,product_id,rating,date,summary,body,recommend,reported,reviewer_name,\
                 reviewer_email,response,helpfulness\n",
            );
            let (mut chars, mut ratings) = (
                String::from("id,product_id,name\n"),
                String::from("id,characteristic_id,review_id,value\n"),
            );
            for product in 1..=1_500u64 {
                reviews.push_str(&format!(
                    "{product},{product},4,2020-01-01,s,b,true,false,n,e@x.io,,0\n"
                ));
                for (k, name) in ["Fit", "Length"].iter().enumerate() {
                    chars.push_str(&format!(
                        "{},{product},{name}\n",
                        product * stride + k as u64
                    ));
                }
                // One rating of its own characteristic, and every seventh
                // review one of a characteristic that is not there.
                ratings.push_str(&format!(
                    "{},{},{product},3\n",
                    product * 3,
                    product * stride
                ));
                if product % 7 == 0 {
                    ratings.push_str(&format!(
                        "{},{},{product},2\n",
                        product * 3 + 1,
                        100_000_000 - product
                    ));
                }
            }
            ratings.push_str("9999999,x,1,3\n");
            write(d, "reviews.csv", &reviews);
            write(d, "characteristics.csv", &chars);
            write(d, "characteristic_reviews.csv", &ratings);
            let options = ImportOptions {
                max_rejects: 1_000,
                temp_dir: d.to_path_buf(),
                sort_budget: budget,
                ..ImportOptions::new(d.join("rejects.csv"))
            };
            let rejects = Rejects::new(&options.rejects, options.max_rejects, d);
            let opened = Opened::atelier(&Files::find(d).unwrap()).unwrap();
            let assembled =
                atelier(opened, &options, &rejects, &mut crate::seeding::Silent).unwrap();
            let products: Vec<_> = assembled
                .products
                .read_ahead(4)
                .map(|p| {
                    let p = p.unwrap();
                    (p.product_id, p.characteristics, p.reviews().unwrap())
                })
                .collect();
            rejects.finish().unwrap();
            (
                products,
                std::fs::read_to_string(d.join("rejects.csv")).unwrap(),
            )
        };
        // Ids one after another (a table) and far apart (a binary search).
        let (in_memory, in_memory_rejects) = run(64 << 20, 2);
        let (sparse, sparse_rejects) = run(64 << 20, 1_000);
        let (spilled, spilled_rejects) = run(1 << 16, 2);
        assert_eq!(in_memory.len(), 1_500);
        assert_eq!(
            in_memory[6].2[0].characteristics.get(Characteristic::Fit),
            Some(3)
        );
        assert_eq!(in_memory, spilled);
        assert_eq!(in_memory.len(), sparse.len());
        for (a, b) in in_memory.iter().zip(&sparse) {
            assert_eq!((a.0, &a.2), (b.0, &b.2), "the same ratings");
        }
        assert_eq!(in_memory_rejects.lines().count(), 1 + 1 + 1_500 / 7);
        assert!(in_memory_rejects.contains("no characteristic 99999993 in characteristics.csv"));
        assert_eq!(in_memory_rejects, spilled_rejects);
        assert_eq!(in_memory_rejects, sparse_rejects);
    }

    #[test]
    fn a_rating_reads_back_as_written() {
        let mut buf = Vec::new();
        for (characteristic, product, row_id) in [
            (1, 1, 1),
            (135_228, 40_344, 5_774_952),
            (u64::MAX, 0, 1 << 63),
        ] {
            for (kind, value) in [(0, 1), (5, 5)] {
                let rated = Rated {
                    characteristic,
                    product,
                    kind,
                    value,
                    row_id,
                };
                rated.write(&mut buf);
                let back = Rated::read(&buf);
                assert_eq!(
                    (
                        back.characteristic,
                        back.product,
                        back.kind,
                        back.value,
                        back.row_id
                    ),
                    (characteristic, product, kind, value, row_id)
                );
            }
        }
    }
}
