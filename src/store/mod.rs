//! The store: where reviews live. The HTTP edge reads through the small
//! [`Store`] trait; each backend is one module ([`embedded`] on LMDB).

pub mod codec;
pub mod embedded;
pub mod mongo;

use std::future::Future;

use crate::model::{Meta, NewReview, Page, PageQuery};

/// Why a store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend failed or cannot be reached; worth retrying later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored bytes did not decode: a bug or a damaged store.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The store holds another data set than the one asked for.
    #[error("{0}")]
    Mismatch(String),
}

impl From<heed::Error> for StoreError {
    fn from(e: heed::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Reads of SPEC §3, answered the same way by every backend.
pub trait Store: Send + Sync + 'static {
    /// One page of a product's visible reviews; `None` for an unknown product.
    fn page(
        &self,
        query: PageQuery,
    ) -> impl Future<Output = Result<Option<Page>, StoreError>> + Send;

    /// A product's meta; `None` for an unknown product.
    fn meta(
        &self,
        product_id: u64,
    ) -> impl Future<Output = Result<Option<Meta>, StoreError>> + Send;

    /// Succeeds when the store can serve reads (what `/readyz` asks).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds a review (helpfulness 0, no response, dated now) and counts it in
    /// the product's meta, durably, in one atomic write; its id, or `None`
    /// for an unknown product.
    fn add_review(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// One more helpful vote, durably; the review's product, or `None` for
    /// an unknown or reported review.
    fn vote_helpful(
        &self,
        review_id: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Hides a review and counts it out of its product's meta, durably; the
    /// review's product, or `None` for an unknown or already reported review.
    fn report(
        &self,
        review_id: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// The products written since `cursor` (every process polls this to drop
    /// its cached copies); with no cursor, just the current position.
    fn changes_since(
        &self,
        cursor: Option<u64>,
    ) -> impl Future<Output = Result<Changes, StoreError>> + Send;
}

/// What [`Store::changes_since`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Where the next poll starts.
    pub cursor: u64,
    /// Products written since the previous cursor (each once).
    pub products: Vec<u64>,
    /// False when the log no longer reaches back to the previous cursor:
    /// the caller must assume every product changed.
    pub complete: bool,
}

/// A review's place in a sorted page: its sort key, then its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortEntry {
    /// [`crate::model::Sort::key`] of the review.
    pub key: (i64, i64),
    /// Breaks ties.
    pub review_id: u64,
}

/// The entries of one page, in order: largest key first, ties on the larger
/// review id. Only the entries up to the page's end are fully sorted.
pub fn select_page(entries: &mut [SortEntry], offset: u64, count: u32) -> &[SortEntry] {
    let len = entries.len() as u64;
    if offset >= len {
        return &[];
    }
    let end = (offset + u64::from(count)).min(len) as usize;
    let descending = |a: &SortEntry, b: &SortEntry| b.cmp(a);
    if end < entries.len() {
        entries.select_nth_unstable_by(end - 1, descending);
    }
    entries[..end].sort_unstable_by(descending);
    &entries[offset as usize..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_sort_descending_with_ties_on_the_larger_id() {
        let entry = |key, review_id| SortEntry {
            key: (key, 0),
            review_id,
        };
        let entries = vec![
            entry(5, 1),
            entry(7, 2),
            entry(5, 9),
            entry(7, 3),
            entry(1, 4),
        ];
        let ids = |page: &[SortEntry]| page.iter().map(|e| e.review_id).collect::<Vec<_>>();
        assert_eq!(ids(select_page(&mut entries.clone(), 0, 2)), [3, 2]);
        assert_eq!(ids(select_page(&mut entries.clone(), 2, 2)), [9, 1]);
        assert_eq!(ids(select_page(&mut entries.clone(), 4, 2)), [4]);
        assert!(select_page(&mut entries.clone(), 5, 2).is_empty());
    }
}
