//! Reviews in and out of a store, as files: the Atelier CSV export and JSON
//! Lines.
//!
//! An import streams: a format's reader ([`atelier`], [`jsonl`]) yields
//! typed rows, checked against the storage rules (what a row must be to be
//! stored; looser than a new review's, since real reviews are often short)
//! and rejected one by one when they break one ([`Rejects`]); [`assemble`]
//! joins photos and characteristic ratings to their reviews and hands the
//! store one product at a time, in product order
//! ([`crate::store::load::ImportedProduct`]), through external sorts
//! ([`crate::sort`]) that keep memory bounded whatever the size of the
//! files.
//! The store writes them as it loads a generated data set: in large
//! transactions or bulk inserts, recording how far it got, so a run
//! interrupted and started again with the same files finishes the job
//! without duplicates.
//!
//! An export reads a store whole ([`jsonl::Writer`]); the generator writes
//! the Atelier layout ([`atelier::write_generated`]).

pub mod assemble;
pub mod atelier;
pub mod jsonl;
pub mod rows;
pub mod spool;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Where rejected rows are listed.
    pub rejects: PathBuf,
    /// More rejected rows than this fail the import.
    pub max_rejects: u64,
    /// Where the external sorts keep their runs.
    pub temp_dir: PathBuf,
    /// Memory each external sort may hold before it writes a run.
    pub sort_budget: usize,
}

impl ImportOptions {
    /// Rejects listed in `rejects`, none allowed, runs in the system's
    /// temporary directory, 64 MiB per sort.
    pub fn new(rejects: PathBuf) -> ImportOptions {
        ImportOptions {
            rejects,
            max_rejects: 0,
            temp_dir: std::env::temp_dir(),
            sort_budget: 64 << 20,
        }
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file, a column or a header is missing or unknown; nothing written.
    #[error("{0}")]
    Input(String),
    /// More rows were rejected than allowed.
    #[error(
        "rejected {rejected} rows, more than --max-rejects {allowed} (see {}); the store is left \
         unfinished: run again (with a larger --max-rejects, or mended files) to finish it",
        file.display()
    )]
    TooManyRejects {
        /// Rows rejected when it stopped.
        rejected: u64,
        /// The bound.
        allowed: u64,
        /// The rejects file.
        file: PathBuf,
    },
    /// Reading the files or the temporary runs failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

/// What an import brought in: the closing line's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Reviews stored.
    pub reviews: u64,
    /// Photos stored with them.
    pub photos: u64,
    /// Characteristic ratings stored with them.
    pub ratings: u64,
    /// Products 1..=this exist.
    pub products: u64,
    /// Rows rejected.
    pub rejected: u64,
}

/// Rows that break a storage rule: each listed with its file, the line it
/// starts on (the header is line 1), the reason and the row, and counted;
/// past the allowed number, the import stops.
///
/// Several readers reject at once (one thread a file), each into its own
/// part; [`Rejects::finish`] writes the parts into the rejects file in a
/// fixed order (the files', then the join's), so the same input lists the
/// same rejects in the same order.
#[derive(Clone)]
pub struct Rejects {
    shared: Arc<Shared>,
}

struct Shared {
    count: AtomicU64,
    allowed: u64,
    file: PathBuf,
    dir: PathBuf,
    parts: std::sync::Mutex<Vec<(u32, File)>>,
}

/// One reader's part of the rejects.
pub struct RejectPart {
    rejects: Rejects,
    order: u32,
    out: csv::Writer<BufWriter<File>>,
}

impl Rejects {
    /// Rejects listed in `file` (written by [`Rejects::finish`]), more than
    /// `allowed` stopping the import; parts kept in `dir` meanwhile.
    pub fn new(file: &Path, allowed: u64, dir: &Path) -> Rejects {
        Rejects {
            shared: Arc::new(Shared {
                count: AtomicU64::new(0),
                allowed,
                file: file.to_path_buf(),
                dir: dir.to_path_buf(),
                parts: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    /// A part for a reader; parts are written out in `order`.
    pub fn part(&self, order: u32) -> io::Result<RejectPart> {
        let file = tempfile::tempfile_in(&self.shared.dir)?;
        Ok(RejectPart {
            rejects: self.clone(),
            order,
            out: csv::Writer::from_writer(BufWriter::new(file)),
        })
    }

    /// Rows rejected so far.
    pub fn count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// The error of having rejected more than allowed, once that is so.
    pub fn check(&self) -> Result<(), ImportError> {
        let rejected = self.count();
        if rejected > self.shared.allowed {
            return Err(ImportError::TooManyRejects {
                rejected,
                allowed: self.shared.allowed,
                file: self.shared.file.clone(),
            });
        }
        Ok(())
    }

    /// Writes the rejects file: a header (`file,line,reason,row`) and the
    /// parts, in their order.
    pub fn finish(&self) -> io::Result<()> {
        let mut parts = std::mem::take(&mut *self.shared.parts.lock().expect("rejects lock"));
        parts.sort_by_key(|(order, _)| *order);
        let mut out = BufWriter::new(File::create(&self.shared.file)?);
        out.write_all(b"file,line,reason,row\n")?;
        for (_, mut part) in parts {
            part.rewind()?;
            io::copy(&mut part, &mut out)?;
        }
        out.flush()
    }

    /// Where the rejects are listed.
    pub fn file(&self) -> &Path {
        &self.shared.file
    }
}

impl RejectPart {
    /// Lists a rejected row; the import's error when that is one too many.
    pub fn reject(
        &mut self,
        file: &str,
        line: u64,
        reason: &str,
        row: &str,
    ) -> Result<(), ImportError> {
        self.out
            .write_record([file, &line.to_string(), reason, row])
            .map_err(io::Error::other)?;
        self.rejects.shared.count.fetch_add(1, Ordering::Relaxed);
        self.rejects.check()
    }

    /// Hands the part to the rejects file (see [`Rejects::finish`]).
    pub fn close(self) -> io::Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?
            .into_inner()
            .map_err(|e| e.into_error())?;
        let shared = &self.rejects.shared;
        shared
            .parts
            .lock()
            .expect("rejects lock")
            .push((self.order, file));
        Ok(())
    }
}

/// A set of ids, for telling a duplicate from the first: a bitmap in
/// chunks of 65,536 ids, allocated as ids fall in them (8 KiB a chunk, so
/// about 1.3 bytes per id for the dense ids of an export).
#[derive(Default)]
pub struct IdSet {
    chunks: HashMap<u64, Box<[u64; 1024]>>,
}

impl IdSet {
    /// Adds `id`; false when it was there already.
    pub fn insert(&mut self, id: u64) -> bool {
        let chunk = self
            .chunks
            .entry(id >> 16)
            .or_insert_with(|| Box::new([0; 1024]));
        let (word, bit) = (((id >> 6) & 1023) as usize, id & 63);
        let fresh = chunk[word] & (1 << bit) == 0;
        chunk[word] |= 1 << bit;
        fresh
    }
}

/// A fingerprint of input files, so an interrupted import is finished only
/// with the same files: each one's name, size and the hash of its first
/// and last 64 KiB.
pub fn fingerprint(files: &[PathBuf]) -> io::Result<String> {
    let mut print = 0u64;
    for path in files {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        let mut head = vec![0; 64 << 10];
        let n = file.read(&mut head)?;
        head.truncate(n);
        let mut tail = vec![0; 64 << 10];
        let start = size.saturating_sub(tail.len() as u64);
        file.seek(io::SeekFrom::Start(start))?;
        let n = file.read(&mut tail)?;
        tail.truncate(n);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for part in [name.as_bytes(), &size.to_le_bytes(), &head, &tail] {
            print = crate::hash::mix(print ^ crate::hash::bytes(part));
        }
    }
    Ok(format!("{print:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_sets_tell_duplicates() {
        let mut set = IdSet::default();
        for id in [1, 2, 65_536, u64::MAX, 7_000_000] {
            assert!(set.insert(id), "{id}");
            assert!(!set.insert(id), "{id} again");
        }
        assert!(set.insert(3));
    }

    #[test]
    fn rejects_are_listed_in_their_parts_order_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rejects.csv");
        let rejects = Rejects::new(&file, 2, dir.path());
        let mut late = rejects.part(2).unwrap();
        let mut early = rejects.part(1).unwrap();
        late.reject("b.csv", 9, "bad", "x,\"y\"").unwrap();
        early.reject("a.csv", 2, "worse", "1,2").unwrap();
        let third = early.reject("a.csv", 3, "worst", "z");
        assert!(matches!(
            third,
            Err(ImportError::TooManyRejects { rejected: 3, .. })
        ));
        late.close().unwrap();
        early.close().unwrap();
        rejects.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "file,line,reason,row\na.csv,2,worse,\"1,2\"\na.csv,3,worst,z\nb.csv,9,bad,\"x,\"\"y\"\"\"\n"
        );
    }
}
