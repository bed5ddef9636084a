//! A spool: records appended once to an unnamed temporary file, then read
//! back in any order through a read-only memory map. An import keeps its
//! reviews here in the order it read them and sorts only small index
//! entries that point into it, so the reviews themselves are written once
//! and never sorted, merged or copied between runs; what is mapped is the
//! page cache's, not the process's own memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Records being appended.
pub struct Spool {
    out: BufWriter<File>,
    len: u64,
}

impl Spool {
    /// An empty spool in `dir`.
    pub fn new(dir: &Path) -> io::Result<Spool> {
        Ok(Spool {
            out: BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(dir)?),
            len: 0,
        })
    }

    /// Appends `record`: where it starts.
    pub fn append(&mut self, record: &[u8]) -> io::Result<u64> {
        let at = self.len;
        self.out.write_all(record)?;
        self.len += record.len() as u64;
        Ok(at)
    }

    /// Everything appended, mapped to be read.
    pub fn finish(self) -> io::Result<Mapped> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Mapped::new(file, self.len)
    }
}

/// A spool's records, mapped read-only.
pub struct Mapped {
    ptr: *const u8,
    len: usize,
    _file: File,
}

// SAFETY: the mapping is read-only and private to this value; nothing
// writes the file once it is mapped.
unsafe impl Send for Mapped {}
// SAFETY: as above: shared reads of immutable memory.
unsafe impl Sync for Mapped {}

impl Mapped {
    fn new(file: File, len: u64) -> io::Result<Mapped> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("spool too large to map"))?;
        if len == 0 {
            return Ok(Mapped {
                ptr: std::ptr::NonNull::dangling().as_ptr(),
                len: 0,
                _file: file,
            });
        }
        use std::os::fd::AsRawFd;
        // SAFETY: a fresh read-only, private mapping of `len` bytes of a
        // file we own and no longer write; checked for failure below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapped {
            ptr: ptr.cast(),
            len,
            _file: file,
        })
    }

    /// The bytes at `at..at + len`; an error past the end.
    pub fn get(&self, at: u64, len: u32) -> io::Result<&[u8]> {
        let (at, len) = (at as usize, len as usize);
        if at.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(io::Error::other("spool read past its end"));
        }
        // SAFETY: in bounds (checked), and the mapping lives as long as self.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr.add(at), len) })
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping exactly what `new` mapped, once.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path()).unwrap();
        let places: Vec<(u64, u32)> = (0..10_000u32)
            .map(|n| {
                let record = n.to_string().repeat(1 + n as usize % 7);
                (
                    spool.append(record.as_bytes()).unwrap(),
                    record.len() as u32,
                )
            })
            .collect();
        let mapped = spool.finish().unwrap();
        for n in (0..10_000u32).rev().step_by(7) {
            let (at, len) = places[n as usize];
            let expected = n.to_string().repeat(1 + n as usize % 7);
            assert_eq!(mapped.get(at, len).unwrap(), expected.as_bytes());
        }
        assert!(mapped.get(u64::MAX - 1, 4).is_err());
        let empty = Spool::new(dir.path()).unwrap().finish().unwrap();
        assert!(empty.get(0, 0).unwrap().is_empty());
    }
}
