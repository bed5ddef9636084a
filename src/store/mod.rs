//! The store: where reviews live. The HTTP edge reads through the small
//! [`Store`] trait; each backend is one module ([`embedded`] on LMDB).

pub mod codec;
pub mod embedded;

use std::future::Future;

use crate::model::{Meta, Page, PageQuery};

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
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
}
