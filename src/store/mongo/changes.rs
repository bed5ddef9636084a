//! The change log: where each write is logged, and how the port's
//! follower (`cache::follower`) reads back what it has not seen.
//!
//! # Positions
//!
//! A write's entry, `{_id: token, at, product_id, v, pos}`, takes the next
//! number of its product's bucket, one of [`BUCKETS`] counters (the
//! `change_buckets` collection, `{_id: bucket, n}`): the write `$inc`s it
//! in its own transaction, just before it inserts the entry and commits
//! (see `write::steps`), and `pos` = bucket × 2^40 + n. Two writes in one
//! bucket take turns on its document (a write conflict retried on MongoDB,
//! a row lock waited for on engines built on PostgreSQL), so within a
//! bucket numbers commit in order and without gaps: once number `n` is
//! visible, so is every lower one. A follower therefore reads, per bucket,
//! only the numbers above the last it saw — one `$or` of [`BUCKETS`] index
//! ranges on `pos` — and fetches each entry once, however late it
//! committed and whatever the writers' clocks said. What a poll costs is
//! the entries written since the last, not the window times the write
//! rate: the reads do not grow with the window.
//!
//! There is no single counter for every writer to contend on: a bucket's
//! document is held only from its `$inc` to the commit, and a write
//! contends only with writes of the other products of its bucket in that
//! time.
//!
//! # Holes, the window, and entries without a position
//!
//! A number below a bucket's highest that a poll did not find is a hole:
//! on a standalone server (no transactions) a later number can be inserted
//! before an earlier one, and an entry logged again after a commit whose
//! result was unknown takes its number outside any transaction. Polls ask
//! for their holes by `pos` until they appear, for [`window`] at most.
//!
//! The window (at least [`MIN_WINDOW`]) is still read by `at`, once:
//! - by a first look (no cursor) and by a cursor this store did not issue
//!   (another process's, after a hand-over, or one it no longer
//!   remembers), which list every entry of the window below the cursor's
//!   position after reading the buckets' counters (their [`BUCKETS`]
//!   documents), and go on from those counters;
//! - and every poll for entries without `pos` logged in the window by a
//!   version before positions (a rolling upgrade): an index range that is
//!   empty once every writer logs positions.
//!
//! A cursor holds a position (this process's clock at the poll that
//! issued it) and what its poll had seen ([`Seen`]); one older than
//! [`super::CHANGES_KEPT_FOR`] (minus the window) may have lost entries to
//! the TTL index on `at`, and its poll says the log is incomplete.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, IndexModel};
use tokio::time::Instant;

use super::docs::{int, version_from};
use super::{CHANGES_KEPT_FOR, MongoStore, primary, unix_ms, until};
use crate::hash::mix;
use crate::store::{Changed, Changes, StoreError};

/// The buckets whose counters number the change log. Part of the document
/// layout: every process writing or reading a log must agree on it.
pub const BUCKETS: u64 = 64;
/// The least window a first look reads back.
pub const MIN_WINDOW: Duration = Duration::from_secs(10);
/// Bits of `pos` below the bucket: its number in the bucket.
const NUMBER_BITS: u32 = 40;
/// Cursors whose [`Seen`] is remembered.
const REMEMBERED: usize = 16;
/// Low bits of a cursor that tell cursors issued at the same millisecond
/// apart; the position in milliseconds is above them.
const ISSUE_BITS: u32 = 20;
/// Most holes a cursor keeps asking for; a gap wider than this in one
/// poll means the log is not what this store expects (the database
/// replaced under it): the poll says it is incomplete.
const HOLES_MAX: usize = 4096;
/// The index of positions (and, for entries without one, times).
const POSITIONS: &str = "pos_at";

/// How far below its cursor a first look reads, for a store whose writes
/// are bounded by `timeout`.
pub fn window(timeout: Duration) -> Duration {
    (timeout * 3).max(MIN_WINDOW)
}

/// The bucket of `product_id`'s entries.
pub fn bucket_of(product_id: u64) -> u64 {
    mix(product_id) % BUCKETS
}

/// The position of number `n` of `bucket`.
pub fn position(bucket: u64, n: u64) -> i64 {
    ((bucket << NUMBER_BITS) | n) as i64
}

/// The bucket and number of a position.
fn split(pos: i64) -> (u64, u64) {
    let pos = pos as u64;
    (pos >> NUMBER_BITS, pos & ((1 << NUMBER_BITS) - 1))
}

/// The change entry of a write: `token`, `product_id` at `version`, at
/// `pos`, logged now.
pub(super) fn entry(token: ObjectId, product_id: u64, version: u64, pos: i64) -> Document {
    doc! {
        "_id": token, "at": DateTime::now(),
        "product_id": product_id as i64, "v": version as i64, "pos": pos,
    }
}

/// The `$inc` of `bucket`'s counter that answers its next number (a
/// bucket without a document gets one).
pub(super) fn next_number(
    buckets: &Collection<Document>,
    bucket: u64,
) -> mongodb::action::FindOneAndUpdate<'_, Document> {
    buckets
        .find_one_and_update(
            doc! { "_id": bucket as i64 },
            doc! { "$inc": { "n": 1_i64 } },
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .projection(doc! { "n": 1 })
}

/// The number a counter's document holds.
pub(super) fn number(bucket: &Document) -> Result<u64, StoreError> {
    Ok(int(bucket, "n")?.max(0) as u64)
}

/// One entry as a poll found it.
struct Logged {
    token: ObjectId,
    changed: Changed,
    pos: Option<i64>,
    at_ms: i64,
}

/// What a cursor's polls had seen (see the module docs).
#[derive(Clone)]
struct Seen {
    /// Per bucket, the highest number seen: every lower one was seen too,
    /// or is in `holes`.
    top: Vec<u64>,
    /// Numbers below their bucket's top not seen yet: position → when this
    /// store noticed the gap (unix ms).
    holes: BTreeMap<i64, i64>,
    /// Entries without a position seen in the window: token → `at` (ms).
    unplaced: HashMap<ObjectId, i64>,
}

impl Seen {
    /// Nothing seen, every counter at `top`.
    fn at(top: Vec<u64>) -> Seen {
        Seen {
            top,
            holes: BTreeMap::new(),
            unplaced: HashMap::new(),
        }
    }

    /// The filter of the entries not seen yet: each bucket's numbers above
    /// its top, the holes, and entries without a position logged since
    /// `since`.
    fn unseen(&self, since: DateTime) -> Document {
        let mut any: Vec<Document> = (0..BUCKETS)
            .zip(&self.top)
            .map(|(b, &top)| {
                doc! { "pos": { "$gt": position(b, top), "$lt": position(b + 1, 0) } }
            })
            .collect();
        if !self.holes.is_empty() {
            let holes: Vec<i64> = self.holes.keys().copied().collect();
            any.push(doc! { "pos": { "$in": holes } });
        }
        any.push(doc! { "pos": { "$exists": false }, "at": { "$gt": since } });
        doc! { "$or": any }
    }

    /// Takes in what a poll found at `now_ms`: the writes among them it had
    /// not seen, and whether a gap was too wide to keep asking for.
    /// Holes older than `window_ms`, and entries without a position logged
    /// before `since_ms`, are let go.
    fn take(
        &mut self,
        found: Vec<Logged>,
        now_ms: i64,
        since_ms: i64,
        window_ms: i64,
    ) -> (Vec<Changed>, bool) {
        let mut new = Vec::new();
        let mut above: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for logged in found {
            match logged.pos.map(split) {
                Some((b, n)) if b < BUCKETS => {
                    let top = self.top[b as usize];
                    let hole = logged.pos.is_some_and(|p| self.holes.remove(&p).is_some());
                    if n > top {
                        above.entry(b).or_default().push(n);
                    }
                    if n > top || hole {
                        new.push(logged.changed);
                    }
                }
                // A bucket this version does not number: reported, not followed.
                Some(_) => new.push(logged.changed),
                None => {
                    if self.unplaced.insert(logged.token, logged.at_ms).is_none() {
                        new.push(logged.changed);
                    }
                }
            }
        }
        let mut lost = false;
        for (b, mut numbers) in above {
            numbers.sort_unstable();
            let mut next = self.top[b as usize] + 1;
            numbers.dedup();
            for n in numbers {
                if n - next > HOLES_MAX as u64 {
                    lost = true;
                } else {
                    for missing in next..n {
                        self.holes.insert(position(b, missing), now_ms);
                    }
                }
                next = n + 1;
            }
            self.top[b as usize] = next - 1;
        }
        self.holes
            .retain(|_, noticed| now_ms - *noticed <= window_ms);
        while self.holes.len() > HOLES_MAX {
            let oldest = self
                .holes
                .iter()
                .min_by_key(|&(_, noticed)| *noticed)
                .map(|(&pos, _)| pos);
            oldest.map(|pos| self.holes.remove(&pos));
            lost = true;
        }
        self.unplaced.retain(|_, at| *at > since_ms);
        (new, lost)
    }
}

/// What the cursors this store issued had seen.
pub(super) struct Cursors {
    issued: VecDeque<(u64, Seen)>,
    /// Cursors issued, from a random start: a cursor another process
    /// issued at the same millisecond is told apart from this store's.
    count: u64,
}

impl Cursors {
    /// None issued yet.
    pub(super) fn new() -> Cursors {
        Cursors {
            issued: VecDeque::new(),
            count: fastrand::u64(..),
        }
    }

    fn seen(&self, cursor: u64) -> Option<&Seen> {
        self.issued
            .iter()
            .find(|(c, _)| *c == cursor)
            .map(|(_, seen)| seen)
    }

    fn issue(&mut self, position: i64, seen: Seen) -> u64 {
        self.count = self.count.wrapping_add(1);
        let cursor =
            ((position.max(0) as u64) << ISSUE_BITS) | (self.count & ((1 << ISSUE_BITS) - 1));
        if self.issued.len() == REMEMBERED {
            self.issued.pop_front();
        }
        self.issued.push_back((cursor, seen));
        cursor
    }
}

impl MongoStore {
    /// The products written since `cursor` (see the module docs).
    pub(super) async fn read_changes(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let now = unix_ms();
        let window = window(self.timeout).as_millis() as i64;
        let from = cursor.map_or(now, |c| (c >> ISSUE_BITS) as i64);
        let since = from - window;
        let known = cursor.and_then(|c| {
            let cursors = self.cursors.lock().expect("change cursors lock");
            cursors.seen(c).cloned()
        });
        let (mut products, seen, lost) = match known {
            Some(mut seen) => {
                let filter = seen.unseen(DateTime::from_millis(since));
                let found = self.logged(filter, deadline).await?;
                let (new, lost) = seen.take(found, now, since, window);
                (new, seen, lost)
            }
            None => self.first_look(since, now, window, deadline).await?,
        };
        // Each product once, at its highest version listed.
        products.sort_unstable_by(|a, b| (a.product_id, b.version).cmp(&(b.product_id, a.version)));
        products.dedup_by_key(|c| c.product_id);
        let next = {
            let mut cursors = self.cursors.lock().expect("change cursors lock");
            cursors.issue(from.max(now), seen)
        };
        for changed in &products {
            self.note_write(changed.product_id);
        }
        let kept = CHANGES_KEPT_FOR.as_millis() as i64 - window;
        Ok(Changes {
            cursor: next,
            products,
            complete: now - from <= kept && !lost,
        })
    }

    /// A look with nothing seen: the buckets' counters, then every entry
    /// logged since `since` (all of them listed), and what is seen then.
    async fn first_look(
        &self,
        since: i64,
        now: i64,
        window: i64,
        deadline: Instant,
    ) -> Result<(Vec<Changed>, Seen, bool), StoreError> {
        let mut top = vec![0; BUCKETS as usize];
        let find = self
            .buckets
            .find(doc! {})
            .selection_criteria(primary())
            .into_future();
        let mut counters = until(deadline, find).await?;
        while until(deadline, counters.advance()).await? {
            self.change_log_documents.fetch_add(1, Ordering::Relaxed);
            let d = counters
                .deserialize_current()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let bucket = int(&d, "_id")?;
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| top.get_mut(b)) {
                *slot = number(&d)?;
            }
        }
        let window_filter = doc! { "at": { "$gt": DateTime::from_millis(since) } };
        let found = self.logged(window_filter, deadline).await?;
        let listed = found.iter().map(|l| l.changed).collect();
        let mut seen = Seen::at(top);
        let (_, lost) = seen.take(found, now, since, window);
        Ok((listed, seen, lost))
    }

    /// The entries `filter` finds, from the primary, each counted as a
    /// document fetched.
    async fn logged(&self, filter: Document, deadline: Instant) -> Result<Vec<Logged>, StoreError> {
        let find = self
            .changes
            .find(filter)
            .projection(doc! { "product_id": 1, "v": 1, "pos": 1, "at": 1 })
            .selection_criteria(primary())
            .into_future();
        let mut found = until(deadline, find).await?;
        let mut entries = Vec::new();
        while until(deadline, found.advance()).await? {
            self.change_log_documents.fetch_add(1, Ordering::Relaxed);
            let d = found
                .deserialize_current()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let Some(Bson::ObjectId(token)) = d.get("_id") else {
                continue;
            };
            entries.push(Logged {
                token: *token,
                changed: Changed {
                    product_id: int(&d, "product_id")? as u64,
                    version: version_from(&d)?,
                },
                pos: d.contains_key("pos").then(|| int(&d, "pos")).transpose()?,
                at_ms: d.get_datetime("at").map_or(0, |at| at.timestamp_millis()),
            });
        }
        Ok(entries)
    }

    /// Makes sure, in the background, that the log's index of positions
    /// and the buckets' counters exist (on a database written by a version
    /// before positions, or just dropped). Until the index is built, polls
    /// scan; a counter missing when a write comes is created by it.
    pub(super) fn ensure_change_log(&self) {
        let (changes, buckets, timeout) =
            (self.changes.clone(), self.buckets.clone(), self.timeout);
        tokio::spawn(async move {
            let options = IndexOptions::builder().name(POSITIONS.to_string()).build();
            let index = IndexModel::builder()
                .keys(doc! { "pos": 1, "at": 1 })
                .options(options)
                .build();
            if let Err(e) = changes.create_index(index).await {
                tracing::warn!("cannot create the change log's index of positions: {e}");
            }
            let counters = (0..BUCKETS)
                .map(|b| doc! { "_id": b as i64, "n": 0_i64 })
                .collect();
            if let Err(e) =
                super::load::insert_ignoring_duplicates(&buckets, counters, timeout).await
            {
                tracing::warn!("cannot create the change log's counters: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(pos: Option<i64>, product_id: u64) -> Logged {
        Logged {
            token: ObjectId::new(),
            changed: Changed {
                product_id,
                version: 1,
            },
            pos,
            at_ms: 1_000,
        }
    }

    fn products(changed: &[Changed]) -> Vec<u64> {
        changed.iter().map(|c| c.product_id).collect()
    }

    #[test]
    fn cursors_keep_their_position_and_are_told_apart() {
        let mut cursors = Cursors::new();
        let a = cursors.issue(1_767_225_600_000, Seen::at(vec![0; BUCKETS as usize]));
        let b = cursors.issue(1_767_225_600_000, Seen::at(vec![7; BUCKETS as usize]));
        assert_ne!(a, b);
        assert_eq!((a >> ISSUE_BITS) as i64, 1_767_225_600_000);
        assert_eq!(cursors.seen(b).map(|s| s.top[3]), Some(7));
        for at in 0..REMEMBERED as i64 {
            cursors.issue(1_767_225_600_001 + at, Seen::at(vec![0; BUCKETS as usize]));
        }
        assert!(
            cursors.seen(a).is_none(),
            "only the last cursors are remembered"
        );
    }

    #[test]
    fn each_entry_is_taken_once_and_a_late_one_fills_its_hole() {
        let mut seen = Seen::at(vec![0; BUCKETS as usize]);
        // Numbers 1 and 3 of bucket 5 commit; 2 is late.
        let found = vec![
            logged(Some(position(5, 1)), 10),
            logged(Some(position(5, 3)), 30),
        ];
        let (new, lost) = seen.take(found, 1_000, 0, 10_000);
        assert_eq!((products(&new), lost), (vec![10, 30], false));
        assert_eq!(seen.top[5], 3);
        assert_eq!(
            seen.holes.keys().copied().collect::<Vec<_>>(),
            vec![position(5, 2)]
        );
        // The next poll asks for the hole and for what is above the tops.
        let filter = seen.unseen(DateTime::from_millis(0));
        let any = filter.get_array("$or").unwrap();
        assert_eq!(any.len(), BUCKETS as usize + 2, "{filter}");
        assert!(filter.to_string().contains(&position(5, 2).to_string()));
        // The late one comes; the one seen again is not listed twice.
        let found = vec![
            logged(Some(position(5, 2)), 20),
            logged(Some(position(5, 3)), 30),
        ];
        let (new, _) = seen.take(found, 1_500, 0, 10_000);
        assert_eq!(products(&new), vec![20]);
        assert!(seen.holes.is_empty());
    }

    #[test]
    fn holes_are_let_go_after_the_window_and_a_wild_gap_says_so() {
        let mut seen = Seen::at(vec![0; BUCKETS as usize]);
        let (_, lost) = seen.take(vec![logged(Some(position(0, 3)), 1)], 1_000, 0, 10_000);
        assert!(!lost);
        assert_eq!(seen.holes.len(), 2);
        seen.take(Vec::new(), 11_001, 0, 10_000);
        assert!(seen.holes.is_empty(), "a hole older than the window");
        let far = position(1, HOLES_MAX as u64 + 10);
        let (new, lost) = seen.take(vec![logged(Some(far), 2)], 12_000, 0, 10_000);
        assert_eq!(products(&new), vec![2]);
        assert!(lost, "a gap wider than the holes kept");
        assert!(seen.holes.is_empty());
    }

    #[test]
    fn entries_without_a_position_are_taken_once_while_in_the_window() {
        let mut seen = Seen::at(vec![0; BUCKETS as usize]);
        let old = logged(None, 4);
        let token = old.token;
        let (new, _) = seen.take(vec![old], 1_000, 0, 10_000);
        assert_eq!(products(&new), vec![4]);
        let again = Logged {
            token,
            ..logged(None, 4)
        };
        let (new, _) = seen.take(vec![again], 1_100, 0, 10_000);
        assert!(new.is_empty());
        seen.take(Vec::new(), 20_000, 5_000, 10_000);
        assert!(seen.unplaced.is_empty(), "logged before the window");
    }

    #[test]
    fn positions_keep_bucket_and_number_apart() {
        assert_eq!(split(position(63, 12_345)), (63, 12_345));
        assert!(position(1, 0) > position(0, (1 << NUMBER_BITS) - 1));
        assert!((0..1000).all(|p| bucket_of(p) < BUCKETS));
    }

    #[test]
    fn the_window_outlasts_a_write() {
        assert_eq!(window(Duration::from_secs(2)), MIN_WINDOW);
        assert_eq!(window(Duration::from_secs(10)), Duration::from_secs(30));
    }
}
