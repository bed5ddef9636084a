//! The store: where reviews live, behind the small [`Store`] trait the
//! layers above read and write through.
//!
//! - [`embedded`]: the default backend, LMDB in a data directory;
//! - `mongo`: the production backend, a MongoDB replica set (the default
//!   `mongodb` cargo feature);
//! - [`page`]: choosing one sorted page out of a product's reviews;
//! - [`load`]: what loading a generated data set reports.

pub mod embedded;
pub mod load;
#[cfg(feature = "mongodb")]
pub mod mongo;
pub mod page;

use std::future::Future;

use crate::generate::DataSet;
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

/// A store answer and the store version it reflects.
///
/// Versions order the store's writes: every write has one, and a read "as
/// of" version `v` reflects every write whose version is at most `v` (it
/// may reflect later ones too). The cache serves a copy only while its
/// version is at least that of the latest write it knows of for the
/// product. On the embedded store a version is the write's position in the
/// change log, read in the same transaction; on MongoDB it is the
/// deployment's cluster time (`operationTime`) of the read or the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The answer.
    pub value: T,
    /// For a read, the version it is as of; for a write, its version.
    pub version: u64,
}

/// Reads and writes of the API, answered the same way by every backend.
///
/// Each backend implements the `*_versioned` methods; the plain ones drop
/// the version, for callers that do not cache.
pub trait Store: Send + Sync + 'static {
    /// One page of a product's visible reviews; `None` for an unknown product.
    fn page_versioned(
        &self,
        query: PageQuery,
    ) -> impl Future<Output = Result<Versioned<Option<Page>>, StoreError>> + Send;

    /// A product's meta; `None` for an unknown product.
    fn meta_versioned(
        &self,
        product_id: u64,
    ) -> impl Future<Output = Result<Versioned<Option<Meta>>, StoreError>> + Send;

    /// Succeeds when the store can serve reads (what `/readyz` asks).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds a review (helpfulness 0, no response, dated now) and counts it in
    /// the product's meta, durably, in one atomic write; its id, or `None`
    /// for an unknown product.
    fn add_review_versioned(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> impl Future<Output = Result<Option<Versioned<u64>>, StoreError>> + Send;

    /// One more helpful vote, durably; the review's product, or `None` for
    /// an unknown or reported review.
    fn vote_helpful_versioned(
        &self,
        review_id: u64,
    ) -> impl Future<Output = Result<Option<Versioned<u64>>, StoreError>> + Send;

    /// Hides a review and counts it out of its product's meta, durably; the
    /// review's product, or `None` for an unknown or already reported review.
    fn report_versioned(
        &self,
        review_id: u64,
    ) -> impl Future<Output = Result<Option<Versioned<u64>>, StoreError>> + Send;

    /// The products written since `cursor` (every process polls this to
    /// learn of writes made elsewhere); with no cursor, just the current
    /// position and version.
    fn changes_since(
        &self,
        cursor: Option<u64>,
    ) -> impl Future<Output = Result<Changes, StoreError>> + Send;

    /// The generated data set the store holds once it is completely
    /// loaded, `None` before: products and their pictures are rendered from
    /// it (see [`crate::generate`]), the same over every backend.
    fn data_set(&self) -> impl Future<Output = Result<Option<DataSet>, StoreError>> + Send;

    /// [`Store::page_versioned`] without the version.
    fn page(
        &self,
        query: PageQuery,
    ) -> impl Future<Output = Result<Option<Page>, StoreError>> + Send {
        async move { Ok(self.page_versioned(query).await?.value) }
    }

    /// [`Store::meta_versioned`] without the version.
    fn meta(
        &self,
        product_id: u64,
    ) -> impl Future<Output = Result<Option<Meta>, StoreError>> + Send {
        async move { Ok(self.meta_versioned(product_id).await?.value) }
    }

    /// [`Store::add_review_versioned`] without the version.
    fn add_review(
        &self,
        product_id: u64,
        review: NewReview,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        async move {
            let written = self.add_review_versioned(product_id, review).await?;
            Ok(written.map(|w| w.value))
        }
    }

    /// [`Store::vote_helpful_versioned`] without the version.
    fn vote_helpful(
        &self,
        review_id: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        async move {
            Ok(self
                .vote_helpful_versioned(review_id)
                .await?
                .map(|w| w.value))
        }
    }

    /// [`Store::report_versioned`] without the version.
    fn report(
        &self,
        review_id: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        async move { Ok(self.report_versioned(review_id).await?.map(|w| w.value)) }
    }
}

/// What [`Store::changes_since`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Where the next poll starts.
    pub cursor: u64,
    /// Products written since the previous cursor (each once).
    pub products: Vec<u64>,
    /// A version at or above every listed write's: what the poll saw.
    pub version: u64,
    /// False when the log no longer reaches back to the previous cursor:
    /// the caller must assume every product changed.
    pub complete: bool,
}
