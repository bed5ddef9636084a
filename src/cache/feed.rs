//! The port's feed: what the one process that follows the store's change
//! log for a whole port (see [`super::follower`]) tells every other worker
//! of the port, in the memory they share (the counters region,
//! [`crate::metrics::Region`]).
//!
//! It holds the follower's lease (who follows, and its heartbeat), the
//! change-log cursor it reached (so a successor continues where it
//! stopped), when following began, a floor below which no copy is trusted
//! (raised when the log could not be read back far enough), the store's
//! product count, and a ring of the writes the follower learned:
//! [`ENTRIES`] entries of (product, version, when), each behind a sequence
//! number. Only the lease holder writes entries; each process reads them
//! from where it stopped, and one that fell a whole ring behind knows it
//! (the sequence numbers say so) and trusts no copy rendered before.
//!
//! Everything is atomics, valid all zeroes (a new memfd, or `alloc_zeroed`
//! for a process alone), so the feed needs no initialisation and no lock.

use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Entries of the ring: a reader polling every 50 ms falls behind only if
/// the follower learns of more than this many writes meanwhile.
pub const ENTRIES: usize = 8192;
/// Bits of a lease that hold the heartbeat (unix ms; 2^42 ms is year 2109).
const HEARTBEAT_BITS: u32 = 42;

/// One write the follower learned.
#[repr(C)]
#[derive(Default)]
struct Entry {
    /// Index of the entry plus one once written; 0 while being written.
    seq: AtomicU64,
    product: AtomicU64,
    version: AtomicU64,
    /// When the follower learned it (unix ms).
    at_ms: AtomicU64,
}

/// A write the feed carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    /// The product written.
    pub product_id: u64,
    /// At or above the version of the writes to it the follower saw.
    pub version: u64,
    /// When the follower learned of it (unix ms).
    pub at_ms: u64,
}

/// The feed's memory. `repr(C)`, 64-byte aligned, nothing but atomics.
#[repr(C, align(64))]
pub struct Feed {
    /// The follower: `pid << 42 | heartbeat ms`; 0 when nobody follows.
    lease: AtomicU64,
    /// The change-log cursor the follower reached, plus one; 0: none yet.
    cursor: AtomicU64,
    /// When following began (unix ms): copies rendered since are trusted
    /// as far as the feed goes; 0 before the first look at the log.
    since_ms: AtomicU64,
    /// No copy rendered before this (unix ms) is served as fresh.
    floor_ms: AtomicU64,
    /// The store's product count plus one; 0: not read (or not kept).
    products: AtomicU64,
    /// When the product count was read (unix ms).
    products_ms: AtomicU64,
    /// When the store last answered a poll (unix ms).
    answered_ms: AtomicU64,
    /// Entries written so far.
    head: AtomicU64,
    entries: [Entry; ENTRIES],
}

/// What a reader found past its position in the ring.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// These entries, in order; the next read starts at `next`.
    Entries {
        /// The writes.
        learned: Vec<Learned>,
        /// Where the next read starts.
        next: u64,
    },
    /// Entries the reader had not read were overwritten: it must assume any
    /// product was written; the next read starts at `next`.
    FellBehind {
        /// Where the next read starts.
        next: u64,
    },
}

impl Feed {
    /// The lease of `pid`, beating at `now_ms`.
    pub fn token(pid: u32, now_ms: u64) -> u64 {
        (u64::from(pid) << HEARTBEAT_BITS) | (now_ms & ((1 << HEARTBEAT_BITS) - 1))
    }

    /// The lease now: (follower's pid, its last heartbeat, unix ms); `None`
    /// when nobody follows.
    pub fn lease(&self) -> Option<(u32, u64)> {
        split(self.lease.load(Ordering::Acquire))
    }

    /// Takes the lease for `pid` if it is still `seen` (as [`Feed::lease`]
    /// read it); true if taken.
    pub fn take_lease(&self, seen: Option<(u32, u64)>, pid: u32, now_ms: u64) -> bool {
        let seen = seen.map_or(0, |(p, at)| Feed::token(p, at));
        self.lease
            .compare_exchange(
                seen,
                Feed::token(pid, now_ms),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Renews `pid`'s lease at `now_ms`; false if `pid` does not hold it.
    pub fn renew(&self, pid: u32, now_ms: u64) -> bool {
        let mut current = self.lease.load(Ordering::Acquire);
        loop {
            if split(current).map(|(p, _)| p) != Some(pid) {
                return false;
            }
            match self.lease.compare_exchange(
                current,
                Feed::token(pid, now_ms),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Gives up the lease if `pid` holds it (it stops, or the supervisor
    /// reaped it): another process takes over at once.
    pub fn release(&self, pid: u32) {
        let current = self.lease.load(Ordering::Acquire);
        if split(current).map(|(p, _)| p) == Some(pid) {
            let _ = self
                .lease
                .compare_exchange(current, 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Whether `pid` holds the lease.
    pub fn held_by(&self, pid: u32) -> bool {
        self.lease().map(|(p, _)| p) == Some(pid)
    }

    /// The cursor the follower reached; `None` before its first look.
    pub fn cursor(&self) -> Option<u64> {
        self.cursor.load(Ordering::Acquire).checked_sub(1)
    }

    /// Since when (unix ms) the feed lists every write; `None` before the
    /// first look at the log.
    pub fn since_ms(&self) -> Option<u64> {
        Some(self.since_ms.load(Ordering::Acquire)).filter(|&ms| ms != 0)
    }

    /// The floor (unix ms; 0 for none): no copy rendered before is fresh.
    pub fn floor_ms(&self) -> u64 {
        self.floor_ms.load(Ordering::Acquire)
    }

    /// The product count and when it was read; `None` if never read.
    pub fn products(&self) -> Option<(u64, u64)> {
        let at = self.products_ms.load(Ordering::Acquire);
        let products = self.products.load(Ordering::Acquire).checked_sub(1)?;
        Some((products, at))
    }

    /// When the store last answered a poll (unix ms; 0: never).
    pub fn answered_ms(&self) -> u64 {
        self.answered_ms.load(Ordering::Acquire)
    }

    /// Entries written so far: a new reader starts near here.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Publishes one poll: its writes, then the cursor it reached (so a
    /// successor that finds the cursor finds the writes before it), then
    /// that following began at `began_ms` if it had not, and that the store
    /// answered at `now_ms`. Only the lease holder calls it.
    pub fn publish(&self, learned: &[Learned], cursor: u64, began_ms: u64, now_ms: u64) {
        let head = self.head.load(Ordering::Acquire);
        for (i, l) in (head..).zip(learned) {
            let entry = &self.entries[i as usize % ENTRIES];
            entry.seq.store(0, Ordering::Relaxed);
            fence(Ordering::Release);
            entry.product.store(l.product_id, Ordering::Relaxed);
            entry.version.store(l.version, Ordering::Relaxed);
            entry.at_ms.store(l.at_ms, Ordering::Relaxed);
            entry.seq.store(i + 1, Ordering::Release);
        }
        self.head
            .store(head + learned.len() as u64, Ordering::Release);
        self.cursor.store(cursor + 1, Ordering::Release);
        let _ = self
            .since_ms
            .compare_exchange(0, began_ms, Ordering::AcqRel, Ordering::Acquire);
        self.answered_ms.fetch_max(now_ms, Ordering::AcqRel);
    }

    /// The log no longer reached back to the last cursor: no copy rendered
    /// before `now_ms` is fresh, in any process.
    pub fn raise_floor(&self, now_ms: u64) {
        self.floor_ms.fetch_max(now_ms, Ordering::AcqRel);
    }

    /// Publishes the store's product count, read at `now_ms`.
    pub fn publish_products(&self, products: u64, now_ms: u64) {
        self.products.store(products + 1, Ordering::Release);
        self.products_ms.store(now_ms, Ordering::Release);
    }

    /// The entries from `from` on, as far as they were written.
    pub fn read(&self, from: u64) -> Read {
        let head = self.head.load(Ordering::Acquire);
        if head.saturating_sub(from) > ENTRIES as u64 {
            return Read::FellBehind { next: head };
        }
        let mut learned = Vec::with_capacity((head.saturating_sub(from)) as usize);
        for i in from..head {
            match self.entry(i) {
                Some(l) => learned.push(l),
                None => return Read::FellBehind { next: head },
            }
        }
        Read::Entries {
            learned,
            next: head.max(from),
        }
    }

    /// Entry `i`, unless it was overwritten (or is being written).
    fn entry(&self, i: u64) -> Option<Learned> {
        let entry = &self.entries[i as usize % ENTRIES];
        let before = entry.seq.load(Ordering::Acquire);
        let learned = Learned {
            product_id: entry.product.load(Ordering::Relaxed),
            version: entry.version.load(Ordering::Relaxed),
            at_ms: entry.at_ms.load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        let after = entry.seq.load(Ordering::Relaxed);
        (before == i + 1 && after == i + 1).then_some(learned)
    }
}

/// A lease word as (pid, heartbeat); `None` for 0.
fn split(lease: u64) -> Option<(u32, u64)> {
    (lease != 0).then_some((
        (lease >> HEARTBEAT_BITS) as u32,
        lease & ((1 << HEARTBEAT_BITS) - 1),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> Box<Feed> {
        // SAFETY: a Feed is atomics only, valid all zeroes.
        unsafe { Box::new_zeroed().assume_init() }
    }

    fn learned(product_id: u64) -> Learned {
        Learned {
            product_id,
            version: product_id * 10,
            at_ms: 5,
        }
    }

    #[test]
    fn one_process_holds_the_lease_until_it_lets_go() {
        let f = feed();
        assert_eq!(f.lease(), None);
        assert!(f.take_lease(None, 7, 1_000));
        assert!(!f.take_lease(None, 8, 1_001), "taken already");
        assert_eq!(f.lease(), Some((7, 1_000)));
        assert!(f.renew(7, 1_250));
        assert!(!f.renew(8, 1_250), "only the holder renews");
        assert!(!f.take_lease(Some((7, 1_000)), 8, 1_300), "it beat since");
        assert!(f.take_lease(Some((7, 1_250)), 8, 1_300));
        assert!(f.held_by(8) && !f.held_by(7));
        f.release(7);
        assert!(f.held_by(8), "only the holder lets go");
        f.release(8);
        assert_eq!(f.lease(), None);
    }

    #[test]
    fn readers_see_each_write_once_in_order_and_know_when_they_fell_behind() {
        let f = feed();
        assert_eq!(f.cursor(), None);
        assert_eq!(f.since_ms(), None);
        f.publish(&[learned(1), learned(2)], 40, 100, 110);
        f.publish(&[learned(3)], 41, 200, 210);
        assert_eq!(f.cursor(), Some(41));
        assert_eq!(f.since_ms(), Some(100), "following began once");
        assert_eq!(f.answered_ms(), 210);
        let Read::Entries { learned: got, next } = f.read(0) else {
            panic!("fell behind");
        };
        assert_eq!(got, vec![learned(1), learned(2), learned(3)]);
        assert_eq!(
            f.read(next),
            Read::Entries {
                learned: vec![],
                next: 3
            }
        );
        let many: Vec<Learned> = (10..10 + ENTRIES as u64).map(learned).collect();
        f.publish(&many, 42, 300, 310);
        // Exactly one ring behind: nothing it had not read is lost yet.
        assert!(matches!(f.read(next), Read::Entries { .. }));
        f.publish(&[learned(1)], 43, 300, 320);
        assert_eq!(f.read(next), Read::FellBehind { next: f.head() });
        // A reader one ring behind still reads every entry.
        let Read::Entries { learned: got, .. } = f.read(f.head() - ENTRIES as u64) else {
            panic!("fell behind");
        };
        assert_eq!(got.len(), ENTRIES);
        assert_eq!(got[0], learned(11));
        assert_eq!(got[ENTRIES - 1], learned(1));
    }

    #[test]
    fn the_floor_and_the_product_count_only_say_the_latest() {
        let f = feed();
        assert_eq!(f.products(), None);
        f.publish_products(0, 5);
        assert_eq!(f.products(), Some((0, 5)));
        f.publish_products(1000, 6);
        assert_eq!(f.products(), Some((1000, 6)));
        f.raise_floor(50);
        f.raise_floor(40);
        assert_eq!(f.floor_ms(), 50);
    }
}
