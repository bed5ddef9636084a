//! Reads: a page of a product's visible reviews, its meta, and the change
//! log that followers poll.
//!
//! # The change log
//!
//! Writers log `{_id: token, at, product_id}` in their write's transaction,
//! `at` from the writer's clock: there is no sequence counter for every
//! writer to contend on. Positions therefore do not follow commit order: a
//! transaction may commit after another that took a later `at`. A cursor
//! holds a position (this process's clock at the poll that issued it) and
//! a poll reads every entry with `at` above the cursor's position minus
//! [`window`]: so an entry is seen as long as it commits within the window
//! of the `at` it took, i.e. as long as commit latency plus clock skew
//! between hosts stays under the window. A write's whole request is bounded
//! by the timeout, and the window is at least three timeouts and never under
//! [`MIN_WINDOW`]; a write abandoned with its commit outcome unknown logs a
//! fresh entry once the database answers again (see [`super::write`]).
//!
//! The window is re-read on every poll (an index range of small entries:
//! the window times the write rate, e.g. 1,000 entries of ~40 bytes at 100
//! writes/s), so each issued cursor remembers the entries it had already
//! seen in its window ([`Feed`]), and a poll reports only the others: each
//! write once. A cursor the store does not remember (another process's, or
//! one from long ago) re-reads its window and may report a product twice,
//! never miss one. A cursor older than
//! [`super::CHANGES_KEPT_FOR`] (minus the window) may have lost entries to
//! the TTL index: the poll says the log is incomplete.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::options::Hint;
use tokio::time::Instant;

use mongodb::{ClientSession, SessionCursor};

use super::docs::{int, meta_from, review_from, version_from};
use super::{CHANGES_KEPT_FOR, FACETS, MongoStore, order, primary, unix_ms, until};
use crate::model::{Meta, Page, PageQuery, Review};
use crate::store::page::{SortEntry, select_page};
use crate::store::{Changed, Changes, StoreError, Versioned};

/// The least re-read window of the change log.
pub const MIN_WINDOW: Duration = Duration::from_secs(10);
/// Cursors whose seen entries are remembered.
const REMEMBERED: usize = 16;
/// Low bits of a cursor that tell cursors issued at the same millisecond
/// apart; the position in milliseconds is above them.
const ISSUE_BITS: u32 = 20;
/// Keys per batch of a facet read: a large product's in one or two round
/// trips (each key projects to ~50 bytes).
const FACET_BATCH: u32 = 10_000;

/// How far below its cursor a poll re-reads, for a store whose writes are
/// bounded by `timeout`.
pub fn window(timeout: Duration) -> Duration {
    (timeout * 3).max(MIN_WINDOW)
}

/// What the cursors this store issued had seen (see the module docs).
#[derive(Default)]
pub(super) struct Feed {
    issued: VecDeque<(u64, HashSet<ObjectId>)>,
    count: u64,
}

impl Feed {
    fn seen(&self, cursor: u64) -> Option<&HashSet<ObjectId>> {
        self.issued
            .iter()
            .find(|(c, _)| *c == cursor)
            .map(|(_, seen)| seen)
    }

    fn issue(&mut self, position: i64, seen: HashSet<ObjectId>) -> u64 {
        self.count += 1;
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
    /// One page, hinted to the index of its order; `total` and the version
    /// from the meta.
    ///
    /// The meta is read first, then the page, in one causally consistent
    /// session: the page reflects at least every write the meta did (on one
    /// server, as a later read; across a replica set's members, through
    /// the session's cluster time — where a deployment reports none, reads
    /// go to the primary, see [`MongoStore::connect`]). So the page is as
    /// of at least the meta's version (see [`crate::store::Versioned`]).
    pub(super) async fn read_page(
        &self,
        q: PageQuery,
    ) -> Result<Versioned<Option<Page>>, StoreError> {
        let deadline = Instant::now() + self.timeout;
        if !self.product_exists(q.product_id).await? {
            return Ok(Versioned {
                value: None,
                version: 0,
            });
        }
        let mut session = until(deadline, self.client.start_session()).await?;
        let reads = self.reads_for(q.product_id);
        let (meta, version) = self.meta_of(q.product_id, &mut session, deadline).await?;
        let total = meta.total();
        let page = |reviews| Versioned {
            value: Some(Page { total, reviews }),
            version,
        };
        let Some((index, sort)) = order(q.sort).filter(|_| q.filter.is_none()) else {
            let (total, reviews) = self.read_facets(&q, &mut session, deadline).await?;
            return Ok(Versioned {
                value: Some(Page { total, reviews }),
                version,
            });
        };
        if q.offset() >= total {
            return Ok(page(Vec::new()));
        }
        let find = self
            .reviews
            .find(doc! { "product_id": q.product_id as i64, "reported": false })
            .sort(sort)
            .hint(Hint::Name(index.into()))
            .skip(q.offset())
            .limit(i64::from(q.count))
            .projection(doc! { "reviewer_email": 0, "reported": 0, "relevance": 0 })
            .selection_criteria(reads)
            .session(&mut session)
            .into_future();
        // Boxed: the find's future borrows the session, which the compiler
        // cannot prove `Send` for every lifetime through `until`'s generic.
        let cursor = until(deadline, Box::pin(find)).await?;
        Ok(page(reviews_of(cursor, &mut session, deadline).await?))
    }

    /// A filtered page, or one in a rating order (see the module docs of
    /// [`super`]): the kept reviews' keys from the facet index, ordered
    /// and paged here, then the page's documents by `_id`; with words,
    /// the kept reviews' text is read and searched first. The number of
    /// reviews kept, and the page.
    async fn read_facets(
        &self,
        q: &PageQuery,
        session: &mut ClientSession,
        deadline: Instant,
    ) -> Result<(u64, Vec<Review>), StoreError> {
        let f = &q.filter;
        let mut filter = doc! { "product_id": q.product_id as i64, "reported": false };
        if f.star_bits() != 0 {
            let ratings: Vec<i32> = f.ratings().map(i32::from).collect();
            filter.insert("rating", doc! { "$in": ratings });
        }
        if f.with_photos {
            filter.insert("has_photos", true);
        }
        let mut projection = doc! { "_id": 1, "rating": 1, "date": 1, "helpfulness": 1 };
        if f.words.is_some() {
            projection.extend(doc! { "summary": 1, "body": 1 });
        }
        let find = self
            .reviews
            .find(filter)
            .hint(Hint::Name(FACETS.into()))
            .projection(projection)
            .batch_size(FACET_BATCH)
            .selection_criteria(self.reads_for(q.product_id))
            .session(&mut *session);
        let mut entries = Vec::new();
        let mut cursor = until(deadline, Box::pin(find.into_future())).await?;
        while until(deadline, cursor.advance(&mut *session)).await? {
            let d = cursor
                .deserialize_current()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(words) = &f.words {
                let text = |k| d.get_str(k).unwrap_or_default();
                if !words.all_in(&[text("summary"), text("body")]) {
                    continue;
                }
            }
            let rating = int(&d, "rating")?.clamp(0, 5) as u8;
            let helpfulness = int(&d, "helpfulness")?.clamp(0, i64::from(u32::MAX)) as u32;
            entries.push(SortEntry {
                key: q.sort.key(rating, helpfulness, int(&d, "date")?),
                review_id: int(&d, "_id")? as u64,
            });
        }
        let total = entries.len() as u64;
        let chosen = select_page(&mut entries, q.offset(), q.count);
        if chosen.is_empty() {
            return Ok((total, Vec::new()));
        }
        let ids: Vec<i64> = chosen.iter().map(|e| e.review_id as i64).collect();
        let find = self
            .reviews
            .find(doc! { "_id": { "$in": &ids } })
            .projection(doc! { "reviewer_email": 0, "reported": 0, "relevance": 0 })
            .selection_criteria(self.reads_for(q.product_id))
            .session(&mut *session)
            .into_future();
        let cursor = until(deadline, Box::pin(find)).await?;
        let mut found = reviews_of(cursor, session, deadline).await?;
        // In the page's order; a review gone since its key was read (none
        // can be: reviews are never deleted) would be left out.
        let place = |r: &Review| ids.iter().position(|&id| id as u64 == r.review_id);
        found.sort_by_key(|r| place(r));
        Ok((total, found))
    }

    /// A product's meta; zeros for a product with no document.
    pub(super) async fn read_meta(
        &self,
        product_id: u64,
    ) -> Result<Versioned<Option<Meta>>, StoreError> {
        let deadline = Instant::now() + self.timeout;
        if !self.product_exists(product_id).await? {
            return Ok(Versioned {
                value: None,
                version: 0,
            });
        }
        let mut session = until(deadline, self.client.start_session()).await?;
        let (meta, version) = self.meta_of(product_id, &mut session, deadline).await?;
        Ok(Versioned {
            value: Some(meta),
            version,
        })
    }

    /// A product's meta and version; zeros (and version 0) for a product
    /// with no document.
    async fn meta_of(
        &self,
        product_id: u64,
        session: &mut ClientSession,
        deadline: Instant,
    ) -> Result<(Meta, u64), StoreError> {
        let find = self
            .meta
            .find_one(doc! { "_id": product_id as i64 })
            .selection_criteria(self.reads_for(product_id))
            .session(session);
        match until(deadline, find).await? {
            Some(d) => Ok((meta_from(&d)?, version_from(&d)?)),
            None => Ok((Meta::default(), 0)),
        }
    }

    /// Reported reviews below `before`, highest id first, at most `limit`:
    /// from the primary, so a moderator sees a report at once.
    pub(super) async fn read_reported(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Review>, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let mut filter = doc! { "reported": true };
        if let Some(before) = before {
            filter.insert("_id", doc! { "$lt": before.min(i64::MAX as u64) as i64 });
        }
        let mut session = until(deadline, self.client.start_session()).await?;
        let find = self
            .reviews
            .find(filter)
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit))
            .projection(doc! { "relevance": 0 })
            .selection_criteria(primary())
            .session(&mut session)
            .into_future();
        let cursor = until(deadline, Box::pin(find)).await?;
        reviews_of(cursor, &mut session, deadline).await
    }
}

/// The reviews a find's `cursor` in `session` answers, each read whole,
/// within `deadline`.
async fn reviews_of(
    mut cursor: SessionCursor<Document>,
    session: &mut ClientSession,
    deadline: Instant,
) -> Result<Vec<Review>, StoreError> {
    let mut reviews = Vec::new();
    while until(deadline, cursor.advance(session)).await? {
        let doc = cursor
            .deserialize_current()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        reviews.push(review_from(&doc)?);
    }
    Ok(reviews)
}

impl MongoStore {
    /// The products written since `cursor` (see the module docs).
    pub(super) async fn read_changes(&self, cursor: Option<u64>) -> Result<Changes, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let now = unix_ms();
        let window = window(self.timeout).as_millis() as i64;
        let from = cursor.map_or(now, |c| (c >> ISSUE_BITS) as i64);
        let since = DateTime::from_millis(from - window);
        let mut session = until(deadline, self.client.start_session()).await?;
        let find = self
            .changes
            .find(doc! { "at": { "$gt": since } })
            .projection(doc! { "product_id": 1, "v": 1 })
            .selection_criteria(primary())
            .session(&mut session)
            .into_future();
        let mut found = until(deadline, Box::pin(find)).await?;
        let mut entries = Vec::new();
        while until(deadline, found.advance(&mut session)).await? {
            let doc = found
                .deserialize_current()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(Bson::ObjectId(token)) = doc.get("_id") {
                let changed = Changed {
                    product_id: int(&doc, "product_id")? as u64,
                    version: version_from(&doc)?,
                };
                entries.push((*token, changed));
            }
        }

        let mut feed = self.feed.lock().expect("change feed lock");
        // A first look lists its whole window: writes just before a process
        // started, which copies read then may predate.
        let seen = cursor.and_then(|c| feed.seen(c));
        let mut products: Vec<Changed> = entries
            .iter()
            .filter(|(token, _)| !seen.is_some_and(|s| s.contains(token)))
            .map(|&(_, changed)| changed)
            .collect();
        // Each product once, at its highest version listed.
        products.sort_unstable_by(|a, b| (a.product_id, b.version).cmp(&(b.product_id, a.version)));
        products.dedup_by_key(|c| c.product_id);
        let next = feed.issue(from.max(now), entries.iter().map(|&(t, _)| t).collect());
        drop(feed);
        for changed in &products {
            self.note_write(changed.product_id);
        }
        let kept = CHANGES_KEPT_FOR.as_millis() as i64 - window;
        Ok(Changes {
            cursor: next,
            products,
            complete: now - from <= kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_keep_their_position_and_are_told_apart() {
        let mut feed = Feed::default();
        let a = feed.issue(1_767_225_600_000, HashSet::new());
        let b = feed.issue(1_767_225_600_000, [ObjectId::new()].into());
        assert_ne!(a, b);
        assert!(b > a);
        assert_eq!((a >> ISSUE_BITS) as i64, 1_767_225_600_000);
        assert_eq!(feed.seen(b).map(HashSet::len), Some(1));
        for at in 0..REMEMBERED as i64 {
            feed.issue(1_767_225_600_001 + at, HashSet::new());
        }
        assert!(
            feed.seen(a).is_none(),
            "only the last cursors are remembered"
        );
    }

    #[test]
    fn the_window_outlasts_a_write() {
        assert_eq!(window(Duration::from_secs(2)), MIN_WINDOW);
        assert_eq!(window(Duration::from_secs(10)), Duration::from_secs(30));
    }
}
