//! The store: where reviews live, behind the small [`Store`] trait the
//! layers above read and write through.
//!
//! - [`embedded`]: the default backend, LMDB in a data directory;
//! - `mongo`: the production backend, a MongoDB replica set (the default
//!   `mongodb` cargo feature);
//! - [`page`]: choosing one sorted page out of a product's reviews;
//! - [`load`]: what loading a generated data set reports.
//!
//! Writes from the API go through [`Store::write_guarded`]: the write and
//! what guards it against retries and repeats ([`WriteGuard`]: an
//! idempotency key, the voter of a helpful vote) are checked and recorded
//! in one transaction, so a retry can never write twice, whichever process
//! or host it reaches, and a restart forgets nothing.

pub mod embedded;
pub mod load;
#[cfg(feature = "mongodb")]
pub mod mongo;
pub mod page;

use std::future::Future;

use crate::generate::DataSet;
use crate::model::{Meta, NewReview, Page, PageQuery, PageView, Review, ReviewView};

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

/// A store answer and the version of its product it reflects.
///
/// Versions order each product's writes: every write has one, higher than
/// every earlier write's to the same product, and a read of a product "as
/// of" version `v` reflects every write to it whose version is at most `v`
/// (it may reflect later ones too). Versions of different products are
/// never compared. The cache serves a copy only while its version is at
/// least that of the latest write it knows of for the product. On the
/// embedded store a version is an LMDB transaction id (a write's own; for a
/// read, the last write committed before it began), which orders every
/// product at once; on MongoDB it is the product's own counter, advanced by
/// every write in the write's transaction (see `mongo`), which any
/// deployment keeps, cluster time or not.
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

    /// One page of a product's visible reviews handed to `render` as
    /// borrowed views, and what it made of them; `None` for an unknown
    /// product. The embedded store lends the views straight from its
    /// memory map inside the read, so nothing is copied on the way to the
    /// body; others render what [`Store::page_versioned`] answers.
    fn page_rendered<R>(
        &self,
        query: PageQuery,
        render: R,
    ) -> impl Future<Output = Result<Versioned<Option<Vec<u8>>>, StoreError>> + Send
    where
        R: FnOnce(PageView<'_, '_>) -> Vec<u8> + Send,
    {
        async move {
            let page = self.page_versioned(query).await?;
            let value = page.value.map(|p| {
                let views: Vec<ReviewView> = p.reviews.iter().map(ReviewView::from).collect();
                render(PageView {
                    total: p.total,
                    reviews: &views,
                })
            });
            Ok(Versioned {
                value,
                version: page.version,
            })
        }
    }

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

    /// Applies `write` once, guarded by `guard`, in one atomic, durable
    /// write: the idempotency key is looked up and recorded, and the voter's
    /// earlier vote looked up and recorded, in the write's own transaction.
    fn write_guarded(
        &self,
        write: Write,
        guard: WriteGuard,
    ) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    /// Reported (hidden) reviews, highest id first: at most `limit`, with
    /// ids below `before` when it is given.
    fn reported(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Review>, StoreError>> + Send;

    /// The products written since `cursor` (one process per port polls
    /// this to learn of writes made elsewhere, see
    /// [`crate::cache::follower`]); with no cursor, the current position
    /// and whatever recent writes the store lists at once (see
    /// [`Changes`]).
    fn changes_since(
        &self,
        cursor: Option<u64>,
    ) -> impl Future<Output = Result<Changes, StoreError>> + Send;

    /// The generated data set the store holds once it is completely
    /// loaded, `None` before: products and their pictures are rendered from
    /// it (see [`crate::generate`]), the same over every backend.
    fn data_set(&self) -> impl Future<Output = Result<Option<DataSet>, StoreError>> + Send;

    /// A client showed a version of `product_id` newer than any this
    /// process has learned of (it carries a write's version made elsewhere):
    /// the next reads of the product go where that write surely is (on
    /// MongoDB, the primary, for a while). Nothing by default: a store
    /// whose every read sees every committed write needs nothing.
    fn newer_elsewhere(&self, product_id: u64) {
        let _ = product_id;
    }

    /// The loaded data set's product count, for a store that checks
    /// products against a count it keeps (MongoDB): the port's change-log
    /// follower reads it once a second and hands it to every process of
    /// the port with [`Store::products_known`]. `None`: the store checks
    /// each product itself (embedded), and nothing is read.
    fn product_count(&self) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        async { Ok(None) }
    }

    /// The port's follower read the product count: `products`, good for a
    /// few seconds without a read of this process's own.
    fn products_known(&self, products: u64) {
        let _ = products;
    }

    /// Product-count reads this store has made so far, whether for the
    /// port's follower or on its own (for `/metrics`).
    fn background_reads(&self) -> u64 {
        0
    }

    /// Change-log entries (documents, on MongoDB) this store's reads of its
    /// change log have fetched so far (for `/metrics`): what following the
    /// log costs the store, beside how often it is polled.
    fn change_log_documents(&self) -> u64 {
        0
    }

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

    /// Shows a reported review again and counts it back into its product's
    /// meta, durably; the review's product, or `None` for an unknown review
    /// or one that is not reported.
    fn restore(
        &self,
        review_id: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        async move {
            let outcome = self
                .write_guarded(Write::Restore { review_id }, WriteGuard::default())
                .await?;
            Ok(outcome.versioned().map(|w| w.value))
        }
    }
}

/// One write of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A new review of `product_id` (answers its review id).
    AddReview {
        /// The product reviewed.
        product_id: u64,
        /// The review as submitted.
        review: NewReview,
    },
    /// One more helpful vote (answers the review's product).
    Helpful {
        /// The review voted on.
        review_id: u64,
    },
    /// Hides a review (answers its product).
    Report {
        /// The review reported.
        review_id: u64,
    },
    /// Shows a reported review again (answers its product).
    Restore {
        /// The review restored.
        review_id: u64,
    },
    /// Sets or clears the seller's answer to a review, reported or not
    /// (answers its product).
    Respond {
        /// The review answered.
        review_id: u64,
        /// The answer; `None` clears it.
        response: Option<String>,
    },
}

/// What guards a write against retries and repeats; the default guards
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteGuard {
    /// The client's `Idempotency-Key` and the request it came with.
    pub idempotency: Option<IdempotencyKey>,
    /// Who casts a helpful vote, for one vote per client per review.
    pub voter: Option<Voter>,
    /// The time of the request, unix milliseconds: what expiries are
    /// compared with.
    pub now_ms: u64,
}

/// An `Idempotency-Key` as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The header's value (1..=255 visible ASCII characters).
    pub key: String,
    /// A hash of the request (route, target, body): the same key with
    /// another request is refused.
    pub fingerprint: u128,
    /// When the key is forgotten, unix milliseconds.
    pub expires_ms: u64,
}

/// The client behind a helpful vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voter {
    /// A hash of the client's address.
    pub id: u64,
    /// Until when, unix milliseconds, a second vote by the client on the
    /// same review changes nothing.
    pub until_ms: u64,
}

/// What [`Store::write_guarded`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written now: its answer (a review id for a new review, the
    /// product otherwise) and the write's version.
    Written(Versioned<u64>),
    /// Nothing written: the key was first used by this same request, whose
    /// answer this is; the version is the store's as of the look-up.
    Replayed(Versioned<u64>),
    /// Nothing written: the voter already voted on the review within the
    /// window. The review's product, and the store's version.
    Unchanged(Versioned<u64>),
    /// Nothing written: no such product, no visible review (or, to restore,
    /// no reported one).
    NotFound,
    /// Nothing written: the key was first used with another request.
    KeyReused,
    /// Nothing written: the write does not fit what the store holds (a new
    /// review's characteristics are not its product's); why, naming what.
    Refused(String),
}

impl Outcome {
    /// The answer of a write that was, or had been, applied.
    pub fn versioned(&self) -> Option<Versioned<u64>> {
        match self {
            Outcome::Written(w) | Outcome::Replayed(w) | Outcome::Unchanged(w) => Some(*w),
            Outcome::NotFound | Outcome::KeyReused | Outcome::Refused(_) => None,
        }
    }
}

/// A product the change log lists, and a version at or above its writes'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Changed {
    /// The product written.
    pub product_id: u64,
    /// At or above the version of every write to it the poll saw.
    pub version: u64,
}

/// What [`Store::changes_since`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Where the next poll starts.
    pub cursor: u64,
    /// Products written since the previous cursor, each once, in id order,
    /// with a version at or above that of every listed write to it.
    pub products: Vec<Changed>,
    /// False when the log no longer reaches back to the previous cursor:
    /// the caller must assume every product changed.
    pub complete: bool,
}
