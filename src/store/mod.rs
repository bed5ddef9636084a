//! The store: where reviews live, behind the small [`Store`] trait the
//! layers above read and write through.
//!
//! - [`embedded`]: the default backend, LMDB in a data directory;
//! - [`mongo`]: the production backend, a MongoDB replica set;
//! - [`page`]: choosing one sorted page out of a product's reviews;
//! - [`load`]: what loading a generated data set reports.

pub mod embedded;
pub mod load;
pub mod mongo;
pub mod page;

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

/// Reads of docs/api.md, answered the same way by every backend.
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
