//! The Atelier CSV export, as it really is: `reviews.csv` (required),
//! `reviews_photos.csv`, `characteristics.csv` and
//! `characteristic_reviews.csv` in one directory; each with a header row
//! (columns found by name, in any order; a missing or unknown one is an
//! error), RFC 4180 quoting (commas, doubled quotes and line breaks inside
//! quoted fields), UTF-8 with or without a byte-order mark, CRLF or LF.
//!
//! # Storage rules of an imported row
//!
//! Looser than a new review's (real reviews are often short), and each
//! broken rule rejects the row alone, naming the column:
//!
//! | file | column | rule |
//! |---|---|---|
//! | reviews | `id`, `product_id` | integers ≥ 1; an `id` seen before is a duplicate |
//! | reviews | `rating` | 1 to 5 |
//! | reviews | `date` | epoch milliseconds, or ISO 8601 (`2019-04-14`, `2019-04-14T00:00:00.000Z`, with an offset or none: UTC); kept to the second |
//! | reviews | `summary` | 0 to 200 characters |
//! | reviews | `body` | 1 to 5,000 characters, not blank |
//! | reviews | `recommend`, `reported` | `true`/`false`, `t`/`f` or `1`/`0`, any case |
//! | reviews | `reviewer_name` | 1 to 100 characters, not blank |
//! | reviews | `reviewer_email` | at most 320 characters |
//! | reviews | `response` | `null` or empty for none, else at most 5,000 characters |
//! | reviews | `helpfulness` | an integer from 0 to 4,294,967,295 |
//! | photos | `id`, `review_id` | integers ≥ 1; an `id` seen before is a duplicate |
//! | photos | `url` | 1 to 2,048 characters, no whitespace |
//! | characteristics | `id`, `product_id` | integers ≥ 1; an `id` seen before is a duplicate |
//! | characteristics | `name` | Size, Width, Comfort, Quality, Length or Fit (any case), once per product |
//! | characteristic ratings | `characteristic_id`, `review_id` | integers ≥ 1 |
//! | characteristic ratings | `value` | 1 to 5 |
//!
//! Text holds no control characters but line breaks and tabs. Rows are
//! also rejected when they join nothing (a photo or rating of a review
//! that is not stored, a rating of an unknown characteristic, or of
//! another product's), when a review would hold a sixth photo, or rate a
//! characteristic twice: see [`super::assemble`]. A row whose field count
//! is not the header's, or whose quoting is broken, is rejected whole; a
//! quote left open runs on to the next quote, and the lines it swallows go
//! with it, as one row ([`super::rows`]).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ImportError;
use super::rows::{Row, Rows};
use crate::generate::{DataSet, Generator};
use crate::model::{Characteristic, Review, UtcDate};
use crate::seeding::Progress;

/// The reviews file.
pub const REVIEWS: &str = "reviews.csv";
/// The photos file.
pub const PHOTOS: &str = "reviews_photos.csv";
/// The products' characteristics.
pub const CHARACTERISTICS: &str = "characteristics.csv";
/// The reviews' characteristic ratings.
pub const RATINGS: &str = "characteristic_reviews.csv";

/// `reviews.csv`'s columns, in the export's order.
pub const REVIEW_COLUMNS: [&str; 12] = [
    "id",
    "product_id",
    "rating",
    "date",
    "summary",
    "body",
    "recommend",
    "reported",
    "reviewer_name",
    "reviewer_email",
    "response",
    "helpfulness",
];
/// `reviews_photos.csv`'s columns.
pub const PHOTO_COLUMNS: [&str; 3] = ["id", "review_id", "url"];
/// `characteristics.csv`'s columns.
pub const CHARACTERISTIC_COLUMNS: [&str; 3] = ["id", "product_id", "name"];
/// `characteristic_reviews.csv`'s columns.
pub const RATING_COLUMNS: [&str; 4] = ["id", "characteristic_id", "review_id", "value"];

/// The files of an export directory.
#[derive(Debug, Clone)]
pub struct Files {
    /// `reviews.csv`.
    pub reviews: PathBuf,
    /// `reviews_photos.csv`, if there.
    pub photos: Option<PathBuf>,
    /// `characteristics.csv`, if there.
    pub characteristics: Option<PathBuf>,
    /// `characteristic_reviews.csv`, if there.
    pub ratings: Option<PathBuf>,
}

impl Files {
    /// The export in `dir`: `reviews.csv` must be there. A ratings file
    /// without the characteristics it rates is an error too.
    pub fn find(dir: &Path) -> Result<Files, ImportError> {
        if !dir.is_dir() {
            return Err(ImportError::Input(format!(
                "--from-atelier {}: no such directory",
                dir.display()
            )));
        }
        let optional = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        let reviews = dir.join(REVIEWS);
        if !reviews.is_file() {
            return Err(ImportError::Input(format!(
                "{}: missing (an Atelier export holds reviews.csv, and optionally \
                 reviews_photos.csv, characteristics.csv and characteristic_reviews.csv)",
                reviews.display()
            )));
        }
        let files = Files {
            reviews,
            photos: optional(PHOTOS),
            characteristics: optional(CHARACTERISTICS),
            ratings: optional(RATINGS),
        };
        if files.ratings.is_some() && files.characteristics.is_none() {
            return Err(ImportError::Input(format!(
                "{}: missing, yet {RATINGS} rates characteristics",
                dir.join(CHARACTERISTICS).display()
            )));
        }
        Ok(files)
    }

    /// Every file there, in a fixed order.
    pub fn all(&self) -> Vec<PathBuf> {
        let mut all = vec![self.reviews.clone()];
        all.extend(self.photos.iter().cloned());
        all.extend(self.characteristics.iter().cloned());
        all.extend(self.ratings.iter().cloned());
        all
    }
}

/// A file that counts the bytes read from it (for progress).
struct Counted {
    file: File,
    read: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One file of the export, opened: its header checked, its rows read one
/// by one ([`Rows`]: strictly, with the line each starts on).
pub struct Table {
    /// The file's name, as the rejects list it.
    pub name: &'static str,
    rows: Rows<BufReader<Counted>>,
    /// Where each expected column is in the file's rows.
    at: Vec<usize>,
    width: usize,
}

impl Table {
    /// Opens `path` (called `name`), whose header must name exactly
    /// `columns` (in any order, any case); `read` counts the bytes read.
    pub fn open(
        path: &Path,
        name: &'static str,
        columns: &[&str],
        read: Arc<AtomicU64>,
    ) -> Result<Table, ImportError> {
        let file =
            File::open(path).map_err(|e| ImportError::Input(format!("{}: {e}", path.display())))?;
        let mut rows = Rows::new(BufReader::with_capacity(1 << 20, Counted { file, read }));
        let mut header = Row::default();
        let bad = |what: String| {
            ImportError::Input(format!(
                "{}: {what}; its header must name {}",
                path.display(),
                columns.join(",")
            ))
        };
        if !rows
            .next(&mut header)
            .map_err(|e| ImportError::Input(format!("{}: {e}", path.display())))?
        {
            return Err(bad("empty".into()));
        }
        if let Some(why) = header.malformed {
            return Err(bad(format!("its header is malformed ({why})")));
        }
        let names: Vec<String> = header
            .fields()
            .map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase())
            .collect();
        if let Some(unknown) = names.iter().find(|n| !columns.contains(&n.as_str())) {
            return Err(bad(format!("unknown column `{unknown}`")));
        }
        let mut at = Vec::with_capacity(columns.len());
        for column in columns {
            let found: Vec<usize> = (0..names.len()).filter(|&i| names[i] == *column).collect();
            match found[..] {
                [i] => at.push(i),
                [] => return Err(bad(format!("missing column `{column}`"))),
                _ => return Err(bad(format!("column `{column}` named twice"))),
            }
        }
        Ok(Table {
            name,
            rows,
            at,
            width: names.len(),
        })
    }

    /// Reads the next row into `row`; false at the end.
    pub fn next(&mut self, row: &mut Row) -> Result<bool, ImportError> {
        self.rows
            .next(row)
            .map_err(|e| ImportError::Io(io::Error::other(format!("{}: {e}", self.name))))
    }

    /// Field `column` (in the expected columns' order) of `row`, once
    /// [`Table::shape`] has checked it.
    pub fn field<'r>(&self, row: &'r Row, column: usize) -> &'r [u8] {
        row.get(self.at[column])
    }

    /// Why `row` cannot be read: its quoting is broken, or it has another
    /// number of fields than the header.
    pub fn shape(&self, row: &Row) -> Result<(), String> {
        if let Some(why) = row.malformed {
            return Err(format!(
                "malformed: {why} (a quote left open runs to the next quote; the lines up to \
                 there are this row)"
            ));
        }
        if row.len() == self.width {
            return Ok(());
        }
        Err(format!(
            "{} fields where the header has {}",
            row.len(),
            self.width
        ))
    }
}

/// Fields as a CSV row, comma-separated and quoted as needed (how the
/// rejects file shows a row rebuilt from its values).
pub fn row_of(fields: &[&str]) -> String {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let _ = out.write_record(fields);
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8_lossy(bytes.strip_suffix(b"\n").unwrap_or(&bytes)).into_owned()
}

/// An id: an integer ≥ 1 (spaces around it allowed).
pub fn id(field: &[u8], column: &str) -> Result<u64, String> {
    match integer(field) {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{column} must be an integer of at least 1, got {}",
            shown(field)
        )),
    }
}

fn integer(field: &[u8]) -> Option<u64> {
    // The common case, digits alone (at most 19 of them: no overflow),
    // read straight from the bytes; anything else as text, trimmed.
    if (1..=19).contains(&field.len()) && field.iter().all(u8::is_ascii_digit) {
        return Some(field.iter().fold(0, |n, &b| n * 10 + u64::from(b - b'0')));
    }
    let s = std::str::from_utf8(field).ok()?.trim();
    (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A field as an error message quotes it: at most 40 characters.
fn shown(field: &[u8]) -> String {
    let s = String::from_utf8_lossy(field);
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// A 1–5 rating (a review's stars or a characteristic rating).
pub fn one_to_five(field: &[u8], column: &str) -> Result<u8, String> {
    match integer(field) {
        Some(n @ 1..=5) => Ok(n as u8),
        _ => Err(format!(
            "{column} must be an integer from 1 to 5, got {}",
            shown(field)
        )),
    }
}

/// A boolean: `true`/`false`, `t`/`f` or `1`/`0`, in any case.
pub fn boolean(field: &[u8], column: &str) -> Result<bool, String> {
    match field {
        b"true" | b"1" => return Ok(true),
        b"false" | b"0" => return Ok(false),
        _ => {}
    }
    let s = String::from_utf8_lossy(field).trim().to_ascii_lowercase();
    match s.as_str() {
        "true" | "t" | "1" => Ok(true),
        "false" | "f" | "0" => Ok(false),
        _ => Err(format!(
            "{column} must be true or false (or 1 or 0), got {}",
            shown(field)
        )),
    }
}

/// Text of `chars` characters, without control characters but line breaks
/// and tabs; `not_blank` refuses whitespace alone.
pub fn text(
    field: &[u8],
    column: &str,
    chars: RangeInclusive<usize>,
    not_blank: bool,
) -> Result<String, String> {
    let s = std::str::from_utf8(field).map_err(|_| format!("{column} is not valid UTF-8"))?;
    // A character is a byte that does not continue one; control
    // characters (C0 but line breaks and tabs, DEL, C1) are found by their
    // encodings, looked for one by one only where a byte that may start
    // one is (both passes branch-free over the bytes otherwise).
    let count = field.iter().filter(|&&b| b & 0xC0 != 0x80).count();
    let may_hold_control = field.iter().fold(false, |seen, &b| {
        seen | (b < 0x20) | (b == 0x7F) | (b == 0xC2)
    });
    if may_hold_control {
        for (i, &b) in field.iter().enumerate() {
            let control = match b {
                b'\n' | b'\r' | b'\t' => None,
                0..0x20 | 0x7F => Some(u32::from(b)),
                0xC2 => field
                    .get(i + 1)
                    .filter(|&&n| (0x80..=0x9F).contains(&n))
                    .map(|&n| u32::from(n)),
                _ => None,
            };
            if let Some(c) = control {
                return Err(format!("{column} holds a control character (U+{c:04X})"));
            }
        }
    }
    if !chars.contains(&count) {
        return Err(format!(
            "{column} must be {} to {} characters, got {count}",
            chars.start(),
            chars.end()
        ));
    }
    if not_blank && s.trim().is_empty() {
        return Err(format!("{column} is blank"));
    }
    Ok(s.to_string())
}

/// A date: epoch milliseconds (as the Atelier export writes it) or ISO
/// 8601; unix seconds.
pub fn date(field: &[u8]) -> Result<i64, String> {
    let bad = || {
        format!(
            "date must be epoch milliseconds or an ISO 8601 date, got {}",
            shown(field)
        )
    };
    let s = std::str::from_utf8(field).map_err(|_| bad())?.trim();
    let secs = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<i64>().map_err(|_| bad())? / 1000
    } else {
        UtcDate::parse(s).ok_or_else(bad)?.0
    };
    // Years 1970 to 9999: what a date is shown as.
    if !(0..=253_402_300_799).contains(&secs) {
        return Err(bad());
    }
    Ok(secs)
}

/// A review of `reviews.csv` (no photos, no characteristic ratings yet).
pub fn review(t: &Table, r: &Row) -> Result<Review, String> {
    t.shape(r)?;
    let f = |column: usize| t.field(r, column);
    let response = match f(10) {
        raw if raw.trim_ascii().is_empty() || raw.trim_ascii().eq_ignore_ascii_case(b"null") => {
            None
        }
        raw => Some(text(raw, "response", 1..=5000, false)?),
    };
    let helpfulness = integer(f(11))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            format!(
                "helpfulness must be an integer from 0 to 4294967295, got {}",
                shown(f(11))
            )
        })?;
    Ok(Review {
        review_id: id(f(0), "id")?,
        product_id: id(f(1), "product_id")?,
        rating: one_to_five(f(2), "rating")?,
        date: date(f(3))?,
        summary: text(f(4), "summary", 0..=200, false)?,
        body: text(f(5), "body", 1..=5000, true)?,
        recommend: boolean(f(6), "recommend")?,
        reported: boolean(f(7), "reported")?,
        reviewer_name: text(f(8), "reviewer_name", 1..=100, true)?,
        reviewer_email: text(f(9), "reviewer_email", 0..=320, false)?,
        response,
        helpfulness,
        photos: Vec::new(),
        characteristics: Default::default(),
    })
}

/// A photo of `reviews_photos.csv`: (id, review id, url).
pub fn photo(t: &Table, r: &Row) -> Result<(u64, u64, String), String> {
    t.shape(r)?;
    let url = text(t.field(r, 2), "url", 1..=2048, true)?;
    if url.chars().any(char::is_whitespace) {
        return Err(format!("url holds whitespace: {}", shown(url.as_bytes())));
    }
    Ok((
        id(t.field(r, 0), "id")?,
        id(t.field(r, 1), "review_id")?,
        url,
    ))
}

/// A characteristic of `characteristics.csv`: (id, product, kind).
pub fn characteristic(t: &Table, r: &Row) -> Result<(u64, u64, Characteristic), String> {
    t.shape(r)?;
    let name = t.field(r, 2);
    let kind = Characteristic::parse(&String::from_utf8_lossy(name)).ok_or_else(|| {
        format!(
            "name must be one of Size, Width, Comfort, Quality, Length, Fit, got {}",
            shown(name)
        )
    })?;
    Ok((
        id(t.field(r, 0), "id")?,
        id(t.field(r, 1), "product_id")?,
        kind,
    ))
}

/// A rating of `characteristic_reviews.csv`: (its id, characteristic id,
/// review id, value).
pub fn rating(t: &Table, r: &Row) -> Result<(u64, u64, u64, u8), String> {
    t.shape(r)?;
    Ok((
        id(t.field(r, 0), "id")?,
        id(t.field(r, 1), "characteristic_id")?,
        id(t.field(r, 2), "review_id")?,
        one_to_five(t.field(r, 3), "value")?,
    ))
}

/// What [`write_generated`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows of `reviews.csv`.
    pub reviews: u64,
    /// Rows of `reviews_photos.csv`.
    pub photos: u64,
    /// Rows of `characteristics.csv`.
    pub characteristics: u64,
    /// Rows of `characteristic_reviews.csv`.
    pub ratings: u64,
}

/// Reviews generated per hand-off from a generator thread to the writer.
const CHUNK: u64 = 4096;

/// Writes the generated data set `set` in the Atelier layout into `dir`
/// (created if needed), `threads` generator threads feeding one writer:
/// dates as epoch milliseconds, booleans as `true`/`false`, no response as
/// `null`, rows in id order.
pub fn write_generated(
    set: DataSet,
    dir: &Path,
    threads: usize,
    progress: &mut dyn Progress,
) -> io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let create = |name: &str| -> io::Result<csv::Writer<BufWriter<File>>> {
        Ok(csv::Writer::from_writer(BufWriter::with_capacity(
            1 << 20,
            File::create(dir.join(name))?,
        )))
    };
    let (mut reviews, mut photos) = (create(REVIEWS)?, create(PHOTOS)?);
    let (mut characteristics, mut ratings) = (create(CHARACTERISTICS)?, create(RATINGS)?);
    reviews.write_record(REVIEW_COLUMNS)?;
    photos.write_record(PHOTO_COLUMNS)?;
    characteristics.write_record(CHARACTERISTIC_COLUMNS)?;
    ratings.write_record(RATING_COLUMNS)?;
    let g = Generator::new(set);
    let mut written = Written::default();
    progress.phase("products", set.products, 0);
    for p in 1..=set.products {
        for s in g.characteristics(p).iter() {
            characteristics.write_record([
                s.id.to_string(),
                p.to_string(),
                s.kind.name().into(),
            ])?;
            written.characteristics += 1;
        }
        progress.advance(1);
    }
    progress.phase("reviews", set.records, 0);
    let chunks = set.records.div_ceil(CHUNK);
    let threads = threads.max(1) as u64;
    std::thread::scope(|scope| -> io::Result<()> {
        let mut inboxes = Vec::new();
        for worker in 0..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Review>>(4);
            inboxes.push(rx);
            scope.spawn(move || {
                for chunk in (worker..chunks).step_by(threads as usize) {
                    let first = chunk * CHUNK + 1;
                    let last = (first + CHUNK - 1).min(set.records);
                    let reviews = (first..=last).map(|id| g.record(id)).collect();
                    if tx.send(reviews).is_err() {
                        return;
                    }
                }
            });
        }
        for chunk in 0..chunks {
            let batch = inboxes[(chunk % threads) as usize]
                .recv()
                .map_err(|_| io::Error::other("a generator thread died"))?;
            for r in &batch {
                let scales = g.characteristics(r.product_id);
                reviews.write_record([
                    r.review_id.to_string(),
                    r.product_id.to_string(),
                    r.rating.to_string(),
                    (r.date * 1000).to_string(),
                    r.summary.clone(),
                    r.body.clone(),
                    r.recommend.to_string(),
                    r.reported.to_string(),
                    r.reviewer_name.clone(),
                    r.reviewer_email.clone(),
                    r.response.clone().unwrap_or_else(|| "null".into()),
                    r.helpfulness.to_string(),
                ])?;
                for photo in &r.photos {
                    photos.write_record([
                        photo.id.to_string(),
                        r.review_id.to_string(),
                        photo.url.clone(),
                    ])?;
                    written.photos += 1;
                }
                for (kind, value) in r.characteristics.iter() {
                    let id = scales.by_kind(kind).expect("the product's").id;
                    written.ratings += 1;
                    ratings.write_record([
                        written.ratings.to_string(),
                        id.to_string(),
                        r.review_id.to_string(),
                        value.to_string(),
                    ])?;
                }
            }
            written.reviews += batch.len() as u64;
            progress.advance(batch.len() as u64);
        }
        Ok(())
    })?;
    for mut file in [reviews, photos, characteristics, ratings] {
        file.flush()?;
    }
    progress.finish();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_storage_rules() {
        assert_eq!(id(b" 12 ", "id"), Ok(12));
        assert!(id(b"0", "id").unwrap_err().contains("at least 1"));
        assert!(id(b"1.5", "id").is_err() && id(b"", "id").is_err());
        assert_eq!(one_to_five(b"5", "rating"), Ok(5));
        assert!(
            one_to_five(b"6", "rating")
                .unwrap_err()
                .contains("1 to 5, got \"6\"")
        );
        for (raw, value) in [
            ("true", true),
            ("F", false),
            ("1", true),
            ("0", false),
            ("t", true),
        ] {
            assert_eq!(boolean(raw.as_bytes(), "recommend"), Ok(value), "{raw}");
        }
        assert!(boolean(b"yes", "recommend").is_err());
        assert_eq!(date(b"1555200000000"), Ok(1_555_200_000));
        assert_eq!(date(b"2019-04-14T00:00:00.000Z"), Ok(1_555_200_000));
        assert_eq!(date(b"2019-04-14"), Ok(1_555_200_000));
        assert!(date(b"14/04/2019").is_err());
        assert_eq!(
            text(b"Comfortable and practical.", "body", 1..=5000, true)
                .unwrap()
                .len(),
            26
        );
        assert!(
            text(b"   ", "body", 1..=5000, true)
                .unwrap_err()
                .contains("blank")
        );
        assert!(
            text(b"a\x07", "body", 1..=5000, true)
                .unwrap_err()
                .contains("U+0007")
        );
        assert!(text(b"line\r\nbreak", "body", 1..=5000, true).is_ok());
        assert!(
            text("C1 \u{9b}".as_bytes(), "body", 1..=5000, true)
                .unwrap_err()
                .contains("U+009B")
        );
        assert_eq!(
            text("Zoë ✓".as_bytes(), "name", 5..=5, true).as_deref(),
            Ok("Zoë ✓")
        );
        assert!(
            text("Zoë ✓".as_bytes(), "name", 6..=9, true)
                .unwrap_err()
                .contains("got 5")
        );
    }
}
