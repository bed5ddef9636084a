//! External sorting in bounded memory: records (a 128-bit key and bytes)
//! are kept in memory up to a budget, sorted and written out as a run
//! whenever the budget is reached, and merged back from the runs in one
//! pass. Records with equal keys come out in the order they went in, so a
//! sort is stable and, given the same input, its output is the same.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Sorts records by key in at most about `budget` bytes of memory.
pub struct Sorter {
    budget: usize,
    dir: PathBuf,
    /// The records in memory: their bytes, end to end.
    bytes: Vec<u8>,
    /// Key, start in `bytes` and length of each record in memory.
    index: Vec<(u128, u32, u32)>,
    /// Sorted runs written out, oldest first.
    runs: Vec<File>,
    count: u64,
}

/// Bytes of one record's index entry, counted against the budget.
const ENTRY: usize = std::mem::size_of::<(u128, u32, u32)>();
/// Buffer of each run read back during the merge.
const RUN_BUFFER: usize = 64 << 10;

impl Sorter {
    /// A sorter spilling runs into unnamed temporary files in `dir` past
    /// `budget` bytes of records.
    pub fn new(budget: usize, dir: &Path) -> Sorter {
        Sorter {
            budget: budget.max(1 << 16),
            dir: dir.to_path_buf(),
            bytes: Vec::new(),
            index: Vec::new(),
            runs: Vec::new(),
            count: 0,
        }
    }

    /// Adds a record.
    pub fn push(&mut self, key: u128, record: &[u8]) -> io::Result<()> {
        if !self.index.is_empty()
            && self.bytes.len() + record.len() + (self.index.len() + 1) * ENTRY > self.budget
        {
            self.spill()?;
        }
        let len = u32::try_from(record.len()).map_err(|_| io::Error::other("record over 4 GiB"))?;
        self.index.push((key, self.bytes.len() as u32, len));
        self.bytes.extend_from_slice(record);
        self.count += 1;
        Ok(())
    }

    /// How many records were added.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sorts what is in memory (stably: equal keys keep their order, by
    /// where they sit in `bytes`, which makes every entry's sort key
    /// distinct, so an unstable sort is as good).
    fn sort_memory(&mut self) {
        self.index.sort_unstable_by_key(|&(key, at, _)| (key, at));
    }

    /// Writes the records in memory out as one sorted run.
    fn spill(&mut self) -> io::Result<()> {
        self.sort_memory();
        let mut run = BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(&self.dir)?);
        for &(key, at, len) in &self.index {
            run.write_all(&key.to_le_bytes())?;
            run.write_all(&len.to_le_bytes())?;
            run.write_all(&self.bytes[at as usize..(at + len) as usize])?;
        }
        let mut file = run.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        self.runs.push(file);
        self.index.clear();
        self.bytes.clear();
        Ok(())
    }

    /// The records in key order.
    pub fn finish(mut self) -> io::Result<Sorted> {
        if self.runs.is_empty() {
            self.sort_memory();
            self.index.reverse();
            return Ok(Sorted(Inner::Memory {
                bytes: self.bytes,
                index: self.index,
            }));
        }
        if !self.index.is_empty() {
            self.spill()?;
        }
        let mut runs: Vec<Run> = self
            .runs
            .into_iter()
            .map(|f| Run {
                reader: BufReader::with_capacity(RUN_BUFFER, f),
                key: 0,
                record: Vec::new(),
            })
            .collect();
        let mut heap = BinaryHeap::with_capacity(runs.len());
        for (i, run) in runs.iter_mut().enumerate() {
            if run.advance()? {
                heap.push(Reverse((run.key, i)));
            }
        }
        Ok(Sorted(Inner::Runs { runs, heap }))
    }
}

/// One run being read back.
struct Run {
    reader: BufReader<File>,
    key: u128,
    record: Vec<u8>,
}

impl Run {
    /// Reads the next record; false at the end.
    fn advance(&mut self) -> io::Result<bool> {
        let mut head = [0u8; 20];
        match self.reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        self.key = u128::from_le_bytes(head[..16].try_into().expect("16 bytes"));
        let len = u32::from_le_bytes(head[16..].try_into().expect("4 bytes")) as usize;
        self.record.resize(len, 0);
        self.reader.read_exact(&mut self.record)?;
        Ok(true)
    }
}

/// Sorted records, read back one at a time.
pub struct Sorted(Inner);

enum Inner {
    /// Everything fitted in memory: the index in reverse order, popped.
    Memory {
        /// The records' bytes.
        bytes: Vec<u8>,
        /// Key, start and length, last record first.
        index: Vec<(u128, u32, u32)>,
    },
    /// A merge of sorted runs: the run with the smallest key next (the
    /// earlier run first among equal keys, which keeps the sort stable).
    Runs {
        /// The runs.
        runs: Vec<Run>,
        /// Each run's next key, and its place in `runs`.
        heap: BinaryHeap<Reverse<(u128, usize)>>,
    },
}

impl Sorted {
    /// The next record into `out` (replacing what it held), and its key;
    /// `None` after the last.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<Option<u128>> {
        match &mut self.0 {
            Inner::Memory { bytes, index } => Ok(index.pop().map(|(key, at, len)| {
                out.clear();
                out.extend_from_slice(&bytes[at as usize..(at + len) as usize]);
                key
            })),
            Inner::Runs { runs, heap } => {
                let Some(Reverse((key, i))) = heap.pop() else {
                    return Ok(None);
                };
                let run = &mut runs[i];
                std::mem::swap(out, &mut run.record);
                if run.advance()? {
                    heap.push(Reverse((run.key, i)));
                }
                Ok(Some(key))
            }
        }
    }
}

/// One sorted stream with its next record looked at ahead: what a merge
/// join walks.
pub struct Peeked {
    sorted: Sorted,
    key: Option<u128>,
    record: Vec<u8>,
}

impl Peeked {
    /// `sorted`, its first record looked at.
    pub fn new(mut sorted: Sorted) -> io::Result<Peeked> {
        let mut record = Vec::new();
        let key = sorted.next_into(&mut record)?;
        Ok(Peeked {
            sorted,
            key,
            record,
        })
    }

    /// The next record's key, if any is left.
    pub fn key(&self) -> Option<u128> {
        self.key
    }

    /// The next record's bytes (meaningful while [`Peeked::key`] is some).
    pub fn record(&self) -> &[u8] {
        &self.record
    }

    /// Moves to the record after.
    pub fn advance(&mut self) -> io::Result<()> {
        self.key = self.sorted.next_into(&mut self.record)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(budget: usize, input: &[(u128, Vec<u8>)]) -> Vec<(u128, Vec<u8>)> {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(budget, dir.path());
        for (key, record) in input {
            sorter.push(*key, record).unwrap();
        }
        let spilled = !sorter.runs.is_empty();
        let mut out = Vec::new();
        let mut sorted = sorter.finish().unwrap();
        let mut record = Vec::new();
        while let Some(key) = sorted.next_into(&mut record).unwrap() {
            out.push((key, record.clone()));
        }
        assert_eq!(
            spilled,
            budget < 1 << 20 && !input.is_empty(),
            "the small budget spills"
        );
        out
    }

    #[test]
    fn sorts_stably_in_memory_and_through_runs() {
        let mut rng = crate::generate::Rng::new(1, 9, 9);
        let input: Vec<(u128, Vec<u8>)> = (0..50_000u32)
            .map(|n| {
                let key = u128::from(rng.below(5_000));
                let len = rng.below(40) as usize;
                (key, [n.to_le_bytes().to_vec(), vec![7u8; len]].concat())
            })
            .collect();
        let mut expected = input.clone();
        expected.sort_by_key(|(key, _)| *key); // stable
        assert_eq!(sorted(64 << 20, &input), expected);
        assert_eq!(sorted(1 << 16, &input), expected);
        assert!(sorted(1 << 16, &[]).is_empty());
    }
}
