//! The memory the counters live in: one [`SlotCounters`] block per worker
//! slot and one gauge [`Cell`] per live worker process, behind a header
//! that says which layout they follow; after them, the port's table of
//! rate-limit buckets ([`crate::limits`]), [`BUCKETS`] words, so that a
//! client's limit holds for the whole port, not per worker; last, the
//! port's [`Feed`]: what the one process following the store's change log
//! tells every worker.
//!
//! Under a supervisor the region is a memfd mapped shared: the supervisor
//! creates it before any worker starts and each worker inherits the fd,
//! like its listening socket, and maps it too. Every process of the port
//! then adds to and reads the same atomics. A process alone gets the same
//! layout in an ordinary zeroed allocation.
//!
//! Everything past the header is atomics, valid when all zeroes (as a new
//! memfd and `alloc_zeroed` give), so no process ever writes non-atomically
//! to memory another may read. The header is written once, before the fd is
//! handed to anyone, and only read after.

use std::alloc::Layout;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

use super::{Cell, SlotCounters, layout_id};
use crate::cache::feed::Feed;

/// Tells a region of ours from any other memory an fd could map.
const MAGIC: u64 = u64::from_be_bytes(*b"reviewsM");
/// Rate-limit buckets of a port, one word each: 512 KiB for 64 Ki clients
/// writing within one refill time, far more than a storefront has.
pub const BUCKETS: usize = 1 << 16;

/// The first bytes of a region.
#[repr(C, align(64))]
struct Header {
    magic: u64,
    /// [`layout_id`] of the binary that created the region.
    layout: u64,
    slots: u64,
    cells: u64,
    /// The supervisor's pid; 0 in a process alone.
    supervisor: u64,
    buckets: u64,
}

/// Counters of every worker slot of a port, and gauges of every worker.
pub struct Region {
    base: NonNull<u8>,
    len: usize,
    slots: usize,
    cells: usize,
    memory: Memory,
}

enum Memory {
    /// This process's own allocation.
    Heap(Layout),
    /// A shared mapping of this memfd.
    Shared(OwnedFd),
}

// SAFETY: the region is only ever accessed through shared references to
// atomics (and to the header, which nobody writes once the region exists),
// so it may be used from any thread.
unsafe impl Send for Region {}
// SAFETY: as for Send.
unsafe impl Sync for Region {}

/// Bytes of a region of `slots` blocks and `cells` cells (and the buckets
/// and the feed).
fn size(slots: usize, cells: usize) -> usize {
    feed_offset(slots, cells) + size_of::<Feed>()
}

/// Where the feed starts: after the buckets, which end 64-aligned.
fn feed_offset(slots: usize, cells: usize) -> usize {
    size_of::<Header>()
        + slots * size_of::<SlotCounters>()
        + cells * size_of::<Cell>()
        + BUCKETS * size_of::<AtomicU64>()
}

impl Region {
    /// A region in this process's memory alone.
    pub fn private(slots: usize, cells: usize) -> Region {
        let len = size(slots, cells);
        let layout = Layout::from_size_align(len, align_of::<Header>()).expect("region layout");
        // SAFETY: `layout` has a non-zero size (the header's at least).
        let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        let region = Region {
            base,
            len,
            slots,
            cells,
            memory: Memory::Heap(layout),
        };
        region.write_header(0);
        region
    }

    /// A region in a new memfd, mapped shared, for a supervisor to hand to
    /// its workers with [`Region::fd`].
    pub fn shared(slots: usize, cells: usize) -> io::Result<Region> {
        let len = size(slots, cells);
        // SAFETY: the name is a valid C string; the flags are memfd's own.
        let raw = unsafe { libc::memfd_create(c"reviews-metrics".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create just returned this fd, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate on an fd we own; a memfd grows zero-filled.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let region = Region::map(fd, len, slots, cells)?;
        region.write_header(std::process::id());
        Ok(region)
    }

    /// Maps the region a supervisor created, from the fd this worker
    /// inherited; refuses one laid out by a build with other counters.
    pub fn inherit(fd: OwnedFd) -> io::Result<Region> {
        // SAFETY: fstat fills the zeroed struct it is given.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open and `stat` is a valid out-pointer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = stat.st_size as usize;
        if len < size_of::<Header>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a counters region",
            ));
        }
        let mut region = Region::map(fd, len, 0, 0)?;
        let header = region.header();
        let (slots, cells) = (header.slots as usize, header.cells as usize);
        if header.magic != MAGIC
            || header.layout != layout_id()
            || header.buckets != BUCKETS as u64
            || size(slots, cells) != len
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "counters laid out by another build",
            ));
        }
        (region.slots, region.cells) = (slots, cells);
        Ok(region)
    }

    fn map(fd: OwnedFd, len: usize, slots: usize, cells: usize) -> io::Result<Region> {
        // SAFETY: a fresh shared mapping of `len` bytes of an fd we own; the
        // kernel picks the (page-aligned) address.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region {
            base: NonNull::new(base.cast()).expect("mmap gives a non-null address"),
            len,
            slots,
            cells,
            memory: Memory::Shared(fd),
        })
    }

    fn write_header(&self, supervisor: u32) {
        let header = Header {
            magic: MAGIC,
            layout: layout_id(),
            slots: self.slots as u64,
            cells: self.cells as u64,
            supervisor: u64::from(supervisor),
            buckets: BUCKETS as u64,
        };
        // SAFETY: the region starts with room for an aligned header, and no
        // other process has it yet (it is created, not inherited, here).
        unsafe { self.base.cast::<Header>().as_ptr().write(header) };
    }

    fn header(&self) -> &Header {
        // SAFETY: every region starts with a header, aligned (mmap and the
        // heap layout both align to at least 64), written before any other
        // process maps the region and never written again.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    /// The memfd to hand to workers; `None` for a private region.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.memory {
            Memory::Shared(fd) => Some(fd.as_fd()),
            Memory::Heap(_) => None,
        }
    }

    /// The supervisor's pid, for a region a supervisor made.
    pub fn supervisor(&self) -> Option<u32> {
        u32::try_from(self.header().supervisor)
            .ok()
            .filter(|&pid| pid != 0)
    }

    /// Every slot's counters.
    pub fn slots(&self) -> &[SlotCounters] {
        // SAFETY: `slots` blocks follow the header, inside the region;
        // blocks are 64-aligned and made of atomics, valid all zeroes; the
        // borrow keeps the region mapped.
        unsafe {
            let first = self.base.as_ptr().add(size_of::<Header>());
            std::slice::from_raw_parts(first.cast(), self.slots)
        }
    }

    /// Every gauge cell.
    pub fn cells(&self) -> &[Cell] {
        let offset = size_of::<Header>() + self.slots * size_of::<SlotCounters>();
        // SAFETY: as in `slots`, for the `cells` cells after the blocks.
        unsafe {
            let first = self.base.as_ptr().add(offset);
            std::slice::from_raw_parts(first.cast(), self.cells)
        }
    }
}

impl Region {
    /// The port's rate-limit buckets.
    pub fn buckets(&self) -> &[AtomicU64] {
        let offset = size_of::<Header>()
            + self.slots * size_of::<SlotCounters>()
            + self.cells * size_of::<Cell>();
        // SAFETY: as in `slots`: `BUCKETS` words after the cells, inside the
        // region (its size counts them), 8-aligned (every block before them
        // is a multiple of 64 bytes), atomics valid all zeroes.
        unsafe {
            let first = self.base.as_ptr().add(offset);
            std::slice::from_raw_parts(first.cast(), BUCKETS)
        }
    }
}

impl Region {
    /// The port's feed (see [`crate::cache::follower`]).
    pub fn feed(&self) -> &Feed {
        // SAFETY: as in `slots`: the feed follows the buckets, inside the
        // region (its size counts it), 64-aligned (every block before it is
        // a multiple of 64 bytes), atomics valid all zeroes.
        unsafe {
            let first = self.base.as_ptr().add(feed_offset(self.slots, self.cells));
            &*first.cast::<Feed>()
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        match &self.memory {
            // SAFETY: allocated in `private` with this very layout.
            Memory::Heap(layout) => unsafe { std::alloc::dealloc(self.base.as_ptr(), *layout) },
            // SAFETY: mapped in `map` at this address with this length; no
            // borrow of the region outlives it.
            Memory::Shared(_) => unsafe {
                libc::munmap(self.base.as_ptr().cast(), self.len);
            },
        }
    }
}
