//! How cached copies follow writes across processes, with one reader of
//! the store's change log per port.
//!
//! A write's version is known to the writing process before it answers,
//! so its next read shows the write. Every other process — workers of this
//! host, or other hosts on the same store — learns of the write from the
//! store's change log ([`Store::changes_since`]). One process of the port
//! reads it: the holder of the lease in the port's [`Feed`] (memory every
//! worker shares). It polls every [`POLL_EVERY`] and publishes what it
//! learns to the feed; every process of the port, the follower included,
//! reads the feed every [`TAIL_EVERY`] and raises the version it requires
//! of the product's copies (see [`super::versions`]). So a write made
//! elsewhere is known everywhere within [`POLL_EVERY`], one poll's duration
//! and [`TAIL_EVERY`]: well under 1 s. Nothing is deleted: older copies in
//! L1 or Redis just stop being served. The log lives in the store, so this
//! needs no Redis and no change streams; what a poll reads is the store's
//! business (on MongoDB only the entries it has not seen, about one
//! document per write: `store::mongo::changes`), and the follower counts
//! both the polls and the documents they fetched ([`Store::change_log_documents`]).
//!
//! The follower also re-reads the store's product count every
//! [`COUNT_EVERY`], for a store that keeps one ([`Store::product_count`]),
//! and publishes it; every process hands it to its store
//! ([`Store::products_known`]). Background reads thus grow with ports
//! (hosts), not with worker processes.
//!
//! The lease is `pid, heartbeat`. Its holder beats every [`TAIL_EVERY`];
//! any process takes it over when it is free (the holder stopped, or the
//! supervisor reaped it), when its holder's pid is gone, or when the
//! heartbeat is older than [`LEASE_STALE`] (a holder stuck that long). A
//! successor continues from the cursor the last follower published, after
//! the writes it published, so no write is lost in a hand-over. Only the
//! lease holder publishes, checking the lease just before; two followers
//! could only both publish if one stalled for [`LEASE_STALE`] between that
//! check and its next few stores to memory.
//!
//! A process that starts trusts no copy rendered before it started, nor
//! before the feed's first look at the log; it replays the ring's recent
//! entries (so reads of products just written go where those writes are).
//! One that fell a whole ring behind trusts no copy rendered before it
//! noticed. A process alone (`--workers 1`, or a test's in-process
//! application) has a feed of its own and is its own follower.

use std::time::Duration;

use super::ReadThrough;
use super::feed::{ENTRIES, Feed, Learned, Read};
use crate::clock::now_ms;
use crate::metrics::{Background, Metrics};
use crate::store::Store;

/// How often the follower polls the store's change log.
pub const POLL_EVERY: Duration = Duration::from_millis(250);
/// How often every process reads the feed (and the follower beats).
pub const TAIL_EVERY: Duration = Duration::from_millis(50);
/// How often the follower re-reads the store's product count.
pub const COUNT_EVERY: Duration = Duration::from_secs(1);
/// A lease whose heartbeat is this old is taken over.
pub const LEASE_STALE: Duration = Duration::from_secs(3);
/// How far back a starting process replays the feed: as long as a write
/// sends its product's reads to the primary (see `store::mongo`).
const REPLAY: Duration = Duration::from_secs(10);

/// How long a starting process waits for the port's first look at the
/// change log before it serves without trusting any cached copy.
const START_WAIT: Duration = Duration::from_secs(2);

/// One process's following of its port's writes.
pub struct Follower<'a, S> {
    cache: &'a ReadThrough,
    store: &'a S,
    feed: &'a Feed,
    metrics: &'a Metrics,
    pid: u32,
    tail: Tail,
}

/// Where this process is in the feed.
#[derive(Clone, Copy)]
struct Tail {
    /// When it started (unix ms): no copy rendered before is trusted.
    started: u64,
    /// The next entry to read.
    next: u64,
    /// Whether it trusts copies at all yet (the feed had its first look).
    trusting: bool,
    /// The feed's floor it applied.
    floor: u64,
    /// The feed's last answered poll it passed on.
    heard: u64,
    /// When the product count it passed on was read.
    products_at: u64,
    /// The store's own background reads counted so far.
    own_reads: u64,
    /// The change-log documents the store had fetched when last counted.
    own_documents: u64,
}

impl<'a, S: Store> Follower<'a, S> {
    /// Joins the port's following: before the first request, takes the
    /// lease and looks at the change log if nobody follows, or waits (up to
    /// [`START_WAIT`]) for the follower's first look; then replays the feed's
    /// recent writes. Copies rendered before this call are never trusted.
    pub async fn start(
        cache: &'a ReadThrough,
        store: &'a S,
        feed: &'a Feed,
        metrics: &'a Metrics,
    ) -> Follower<'a, S> {
        let started = now_ms();
        let replay_from = started.saturating_sub(REPLAY.as_millis() as u64);
        let mut follower = Follower {
            cache,
            store,
            feed,
            metrics,
            pid: std::process::id(),
            tail: Tail {
                started,
                next: feed.head().saturating_sub(ENTRIES as u64),
                trusting: false,
                floor: 0,
                heard: feed.answered_ms(),
                products_at: 0,
                own_reads: store.background_reads(),
                own_documents: store.change_log_documents(),
            },
        };
        let deadline = tokio::time::Instant::now() + START_WAIT;
        while feed.since_ms().is_none() && tokio::time::Instant::now() < deadline {
            if follower.take_lease() {
                // The count first: whoever sees the first look sees it too.
                follower.count().await;
                follower.poll().await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Read::Entries { learned, next } = feed.read(follower.tail.next) {
            for l in learned.iter().filter(|l| l.at_ms >= replay_from) {
                cache.written(l.product_id, l.version);
                store.newer_elsewhere(l.product_id);
            }
            follower.tail.next = next;
        } else {
            // Older entries were overwritten while it looked: from the head.
            follower.tail.next = feed.head();
        }
        follower.step(&|| {});
        follower
    }

    /// Follows forever: reads the feed every [`TAIL_EVERY`], and follows
    /// the change log whenever this process holds the lease. `answered` is
    /// told each poll the store answered (a sign of life its circuit
    /// breaker can close on without waiting for traffic).
    pub async fn run(mut self, answered: impl Fn()) {
        let (cache, store, feed, metrics, pid) =
            (self.cache, self.store, self.feed, self.metrics, self.pid);
        let lead = Follower {
            cache,
            store,
            feed,
            metrics,
            pid,
            tail: self.tail,
        };
        let tail = async {
            let mut ticks = tokio::time::interval(TAIL_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                self.step(&answered);
            }
        };
        tokio::join!(lead.lead(), tail);
    }

    /// Reads the feed once, telling the cache and the store what it says;
    /// beats for the lease while this process holds it.
    fn step(&mut self, answered: &dyn Fn()) {
        let (feed, cache, store, t) = (self.feed, self.cache, self.store, &mut self.tail);
        let now = now_ms();
        feed.renew(self.pid, now);
        match feed.read(t.next) {
            Read::Entries { learned, next } => {
                for l in &learned {
                    cache.written(l.product_id, l.version);
                    store.newer_elsewhere(l.product_id);
                }
                t.next = next;
            }
            Read::FellBehind { next } => {
                tracing::warn!("fell behind the port's feed; no older copy is served");
                cache.all_written(now);
                t.next = next;
            }
        }
        if !t.trusting
            && let Some(since) = feed.since_ms()
        {
            cache.start_at(since.max(t.started));
            t.trusting = true;
        }
        let floor = feed.floor_ms();
        if floor > t.floor {
            cache.all_written(floor);
            t.floor = floor;
        }
        let answer = feed.answered_ms();
        if answer > t.heard {
            answered();
            t.heard = answer;
        }
        if let Some((products, at)) = feed.products()
            && at != t.products_at
        {
            store.products_known(products);
            t.products_at = at;
        }
        // A product count reads one document.
        let reads = store.background_reads();
        self.metrics
            .background_reads(Background::ProductCount, reads - t.own_reads);
        self.metrics
            .background_documents(Background::ProductCount, reads - t.own_reads);
        t.own_reads = reads;
        let documents = store.change_log_documents();
        self.metrics
            .background_documents(Background::ChangeLog, documents - t.own_documents);
        t.own_documents = documents;
    }

    /// Takes the lease if it is free or its holder is gone; true if this
    /// process holds it now.
    fn take_lease(&self) -> bool {
        let feed = self.feed;
        if feed.held_by(self.pid) {
            return true;
        }
        let seen = feed.lease();
        let vacant = match seen {
            None => true,
            Some((holder, beat)) => {
                !alive(holder) || now_ms().saturating_sub(beat) > LEASE_STALE.as_millis() as u64
            }
        };
        if !vacant || !feed.take_lease(seen, self.pid, now_ms()) {
            return false;
        }
        match seen {
            Some((holder, _)) => {
                tracing::info!("following the change log for the port (after pid {holder})")
            }
            None => tracing::info!("following the change log for the port"),
        }
        true
    }

    /// Takes the lease when it is free or its holder is gone, and while
    /// this process holds it, polls the change log every [`POLL_EVERY`] and
    /// the product count every [`COUNT_EVERY`], publishing both.
    async fn lead(self) {
        let mut ticks = tokio::time::interval(TAIL_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let polls_per_count = (COUNT_EVERY.as_millis() / POLL_EVERY.as_millis()) as u32;
        loop {
            ticks.tick().await;
            if !self.take_lease() {
                continue;
            }
            let mut polls = tokio::time::interval(POLL_EVERY);
            polls.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for n in 0.. {
                polls.tick().await;
                if !self.feed.held_by(self.pid) {
                    tracing::info!("another process follows the change log now");
                    break;
                }
                self.poll().await;
                if n % polls_per_count == 0 {
                    self.count().await;
                }
            }
        }
    }

    /// One poll of the change log from the feed's cursor, published if
    /// this process still holds the lease.
    async fn poll(&self) {
        let (store, feed, metrics, pid) = (self.store, self.feed, self.metrics, self.pid);
        let cursor = feed.cursor();
        let began = now_ms();
        metrics.background_reads(Background::ChangeLog, 1);
        let changes = match store.changes_since(cursor).await {
            Ok(changes) => changes,
            Err(e) => {
                match cursor {
                    None => tracing::warn!(
                        "cannot read the change log: {e}; trusting no cached copy yet"
                    ),
                    Some(_) => tracing::debug!("cannot read the change log: {e}"),
                }
                return;
            }
        };
        if !feed.held_by(pid) {
            return;
        }
        let now = now_ms();
        if cursor.is_some() && !changes.complete {
            tracing::warn!("missed part of the change log; no older copy is served");
            feed.raise_floor(began);
        }
        let learned: Vec<Learned> = changes
            .products
            .iter()
            .map(|c| Learned {
                product_id: c.product_id,
                version: c.version,
                at_ms: now,
            })
            .collect();
        feed.publish(&learned, changes.cursor, began, now);
    }

    /// One read of the store's product count, published if this process
    /// still holds the lease (a store that keeps none answers `None`).
    async fn count(&self) {
        match self.store.product_count().await {
            Ok(Some(products)) if self.feed.held_by(self.pid) => {
                self.feed.publish_products(products, now_ms())
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("cannot read the product count: {e}"),
        }
    }
}

/// Stops this process's following: another process of the port takes
/// over at once.
pub fn stop(feed: &Feed) {
    feed.release(std::process::id());
}

/// Whether process `pid` still exists (a zombie not yet reaped counts).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let sent = unsafe { libc::kill(pid, 0) } == 0;
    sent || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaped_process_is_gone_and_a_living_one_is_not() {
        assert!(alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid), "pid {pid} was reaped");
        assert!(!alive(u32::MAX), "no such pid");
    }
}
