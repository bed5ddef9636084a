//! Writes: a new review, a helpful vote, a report, a restore, a seller's
//! response.
//!
//! Each request runs in [`MongoStore::run`]: one deadline (the configured
//! timeout) for the whole request — queueing, id reservation, every
//! attempt, every backoff; one token, drawn once, that each attempt writes
//! as its change entry's `_id` in the same transaction. An attempt is one
//! transaction on the primary (see [`steps`]):
//!
//! 1. if an earlier attempt's commit result is unknown, look the token up
//!    first: found means that attempt committed, and its answer is returned;
//! 2. claim the guard's records by unique inserts ([`guard`]); one that
//!    another request holds ends the attempt, and what the record says is
//!    answered (a replay, a refused key, an unchanged vote);
//! 3. the review write (insert, or `findOneAndUpdate` on a visible — to
//!    restore, a reported — review), the key's answer, the product's meta
//!    (`$inc` of its counters and of its version `v`, which answers the
//!    write's version), the next number of the product's change-log bucket
//!    and the change entry at it (with the version);
//! 4. commit, and while the driver answers UnknownTransactionCommitResult,
//!    commit again (its documented advice) until the deadline.
//!
//! A failed attempt is retried after a jittered exponential backoff when
//! the error is retryable ([`retry`]). A duplicate key on the review or the
//! token means an earlier attempt committed, and the next attempt finds
//! its token (if it does not, the review id is taken, and the write
//! stops). Two attempts can never both commit, as both insert the same
//! token `_id`; two requests with the same key, or two votes of one voter,
//! can never both commit, as both insert the same guard `_id`.
//!
//! On a standalone server the same steps run in order without isolation:
//! an attempt that does not finish removes its guard claims, and one that
//! fails after its review write is not retried (those steps stand).
//!
//! A failed attempt's session is handed to a background task that aborts
//! its transaction and, when the server may still hold it (a timeout, a
//! network error), kills the session once the server answers again, so an
//! outage does not leave transactions holding locks against the next
//! writes until the server's own 60 s limit.

mod guard;
mod ids;
pub(super) mod retry;
mod steps;

use std::sync::atomic::Ordering;
use std::time::Duration;

use mongodb::ClientSession;
use mongodb::bson::doc;
use mongodb::bson::oid::ObjectId;
use mongodb::options::TransactionOptions;
use tokio::time::Instant;

pub(super) use self::ids::IdBlock;
use self::retry::{Failure, Next, backoff, retry_until, within};
use super::docs::{int, meta_from, version_from};
use super::{MongoStore, changes, primary};
use crate::hash::mix;
use crate::model::{Characteristics, Review};
use crate::store::{Outcome, StoreError, Versioned, Write, WriteGuard};

/// In-process write queues; writes to ids in the same one take turns.
const STRIPES: usize = 64;
/// How long the server keeps an idle transaction by default
/// (`transactionLifetimeLimitSeconds`): past it, there is nothing to kill.
const TRANSACTION_LIFETIME: Duration = Duration::from_secs(60);
/// Background aborts at once; past this, dropped sessions are left to the
/// driver's own abort on drop and the server's lifetime limit.
const REAPERS_MAX: usize = 256;

/// The updates of an existing review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change<'a> {
    Helpful,
    Report,
    Restore,
    /// Sets (or clears) the seller's response.
    Respond(Option<&'a str>),
}

/// What an attempt's steps came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// Written (once committed): the review's product, and the version the
    /// write gave it.
    Done(Versioned<u64>),
    /// A guard's record stands: what it says is read after the attempt.
    Taken(guard::Claim),
    /// No review (or product) in the state the write needs.
    NotFound,
}

/// In-process queues, so that writes from one process to one product or
/// review wait for each other here instead of conflicting in the database.
pub(super) struct Turns(Box<[tokio::sync::Mutex<()>]>);

impl Turns {
    pub(super) fn new() -> Turns {
        Turns((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect())
    }
}

/// One write request.
#[derive(Clone, Copy)]
enum Op<'a> {
    Add(&'a Review),
    Update(u64, Change<'a>),
}

impl Op<'_> {
    /// What the request answers once written, given the review's product.
    fn answer(self, product_id: u64) -> u64 {
        match self {
            Op::Add(review) => review.review_id,
            Op::Update(..) => product_id,
        }
    }
}

impl MongoStore {
    /// [`crate::store::Store::write_guarded`].
    pub(super) async fn write(
        &self,
        write: Write,
        guard: &WriteGuard,
    ) -> Result<Outcome, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let (review_id, change) = match &write {
            Write::AddReview { product_id, review } => {
                let product_id = *product_id;
                if !self.product_exists(product_id).await? {
                    return Ok(Outcome::NotFound);
                }
                // A product's characteristics never change once loaded, so
                // checking them before the transaction is as good as in it.
                let rated = match self
                    .characteristics(product_id, deadline)
                    .await?
                    .resolve(&review.characteristics)
                {
                    Ok(rated) => rated,
                    Err(why) => return Ok(Outcome::Refused(why.0)),
                };
                let _turn = self.take_turn(product_id, deadline).await?;
                let review_id = self.next_review_id(deadline).await?;
                let now = crate::clock::unix_seconds();
                let review = Review::submitted(review_id, product_id, now, review.clone(), rated);
                let outcome = self.run(Op::Add(&review), guard, deadline).await;
                // Failed too: it may have committed.
                if !matches!(outcome, Ok(Outcome::NotFound | Outcome::KeyReused)) {
                    self.note_write(product_id);
                }
                return outcome;
            }
            Write::Helpful { review_id } => (*review_id, Change::Helpful),
            Write::Report { review_id } => (*review_id, Change::Report),
            Write::Restore { review_id } => (*review_id, Change::Restore),
            Write::Respond {
                review_id,
                response,
            } => (*review_id, Change::Respond(response.as_deref())),
        };
        // Keyed apart from products, which share the stripes.
        let _turn = self.take_turn(!review_id, deadline).await?;
        let outcome = self
            .run(Op::Update(review_id, change), guard, deadline)
            .await?;
        if let Outcome::Written(w) = outcome {
            self.note_write(w.value);
        }
        Ok(outcome)
    }

    /// The characteristics product `product_id` has, as its meta document
    /// on the primary names them (none without one).
    async fn characteristics(
        &self,
        product_id: u64,
        deadline: Instant,
    ) -> Result<Characteristics, StoreError> {
        let find = self
            .meta
            .find_one(doc! { "_id": product_id as i64 })
            .projection(doc! { "characteristics": 1 })
            .selection_criteria(primary());
        let found = super::until(deadline, find).await?;
        Ok(match found {
            Some(meta) => meta_from(&meta)?.characteristics,
            None => Characteristics::default(),
        })
    }

    /// Waits for this process's earlier writes to the same stripe.
    async fn take_turn(
        &self,
        key: u64,
        deadline: Instant,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, StoreError> {
        let stripe = &self.turns.0[(mix(key) % STRIPES as u64) as usize];
        tokio::time::timeout_at(deadline, stripe.lock())
            .await
            .map_err(|_| {
                StoreError::Unavailable(
                    "MongoDB: earlier writes to the same product or review did not finish \
                     in time"
                        .into(),
                )
            })
    }

    /// Runs `op` to the end: attempts with backoff until one commits, one
    /// fails for good, or the deadline comes (see the module docs).
    async fn run(
        &self,
        op: Op<'_>,
        guard: &WriteGuard,
        deadline: Instant,
    ) -> Result<Outcome, StoreError> {
        let token = ObjectId::new();
        let started = Instant::now();
        let mut unsure = false;
        let mut duplicate = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let attempt_now = self.attempt(op, guard, token, unsure, duplicate, deadline);
            let failure = match attempt_now.await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            unsure |= matches!(failure.next, Next::Verify | Next::Duplicate);
            duplicate = failure.next == Next::Duplicate;
            let pause = backoff(attempt);
            // Without transactions only a claim that found its record in
            // flux is tried again: other failures may leave steps done.
            let again = match failure.next {
                Next::Stop => false,
                Next::Taken => true,
                _ => self.transactions,
            };
            if !again || Instant::now() + pause >= deadline {
                let outcome = if !self.transactions && failure.next != Next::Taken {
                    "; without a transaction, the steps done before the failure stand"
                } else if unsure {
                    "; it may have been written"
                } else {
                    "; nothing was written"
                };
                return Err(StoreError::Unavailable(format!(
                    "write failed after {attempt} attempt(s) in {:?}: {}{outcome}",
                    started.elapsed(),
                    failure.error
                )));
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// One attempt: a transaction where the deployment has them, the same
    /// steps in order otherwise.
    async fn attempt(
        &self,
        op: Op<'_>,
        guard: &WriteGuard,
        token: ObjectId,
        unsure: bool,
        duplicate: bool,
        deadline: Instant,
    ) -> Result<Outcome, Failure> {
        if unsure {
            if let Some(w) = self.look_up(token, deadline).await? {
                return Ok(Outcome::Written(Versioned {
                    value: op.answer(w.value),
                    version: w.version,
                }));
            }
            if duplicate {
                return Err(Failure::stop(StoreError::Corrupt(
                    "duplicate key, yet no earlier attempt of this write committed: \
                     the review id counter is behind the reviews"
                        .into(),
                )));
            }
        }
        let mut session = within(deadline, self.client.start_session()).await?;
        if !self.transactions {
            let applied = self.apply(&mut session, op, guard, token, deadline).await;
            if !matches!(applied, Ok(Applied::Done(_))) {
                self.release_claims(guard, op, token);
            }
            return self.finish(applied?, op, guard, deadline).await;
        }
        let options = TransactionOptions::builder()
            .selection_criteria(primary())
            // At least 1 ms: 0 would mean no limit.
            .max_commit_time(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            )
            .build();
        within(deadline, session.start_transaction().with_options(options)).await?;
        match self.apply(&mut session, op, guard, token, deadline).await {
            Ok(Applied::Done(written)) => {
                self.commit(session, written.value, deadline).await?;
                self.finish(Applied::Done(written), op, guard, deadline)
                    .await
            }
            Ok(nothing) => {
                self.abandon(session, false, None);
                self.finish(nothing, op, guard, deadline).await
            }
            Err(failure) => {
                self.abandon(session, failure.lingering, None);
                Err(failure)
            }
        }
    }

    /// The request's outcome once an attempt's steps are done with.
    async fn finish(
        &self,
        applied: Applied,
        op: Op<'_>,
        guard: &WriteGuard,
        deadline: Instant,
    ) -> Result<Outcome, Failure> {
        match applied {
            Applied::Done(w) => Ok(Outcome::Written(Versioned {
                value: op.answer(w.value),
                version: w.version,
            })),
            Applied::Taken(claim) => self.resolve(claim, op, guard, deadline).await,
            Applied::NotFound => Ok(Outcome::NotFound),
        }
    }

    /// Commits, committing again while the result is unknown, as the
    /// driver documents, until the deadline.
    async fn commit(
        &self,
        mut session: ClientSession,
        product_id: u64,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match within(deadline, session.commit_transaction()).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let pause = backoff(attempt);
            match failure.next {
                Next::Verify if Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                }
                // Not committed, and the server has let go of it.
                Next::Retry | Next::Stop if !failure.lingering => {
                    self.abandon(session, false, None);
                    return Err(failure);
                }
                // Sent, but no answer by the deadline: it may yet commit.
                _ => {
                    self.abandon(session, failure.lingering, Some(product_id));
                    return Err(Failure {
                        next: Next::Verify,
                        ..failure
                    });
                }
            }
        }
    }

    /// The product and version the write with `token` logged, if it
    /// committed.
    async fn look_up(
        &self,
        token: ObjectId,
        deadline: Instant,
    ) -> Result<Option<Versioned<u64>>, Failure> {
        let find = self
            .changes
            .find_one(doc! { "_id": token })
            .projection(doc! { "product_id": 1, "v": 1 })
            .selection_criteria(primary());
        match within(deadline, find).await? {
            Some(entry) => Ok(Some(Versioned {
                value: int(&entry, "product_id")? as u64,
                version: version_from(&entry)?,
            })),
            None => Ok(None),
        }
    }

    /// The version of `product_id` on the primary now (what a write that
    /// changed nothing answers).
    async fn current_version(&self, product_id: u64, deadline: Instant) -> Result<u64, Failure> {
        let find = self
            .meta
            .find_one(doc! { "_id": product_id as i64 })
            .projection(doc! { "v": 1 })
            .selection_criteria(primary());
        match within(deadline, find).await? {
            Some(meta) => Ok(version_from(&meta)?),
            None => Ok(0),
        }
    }

    /// Ends a failed attempt's transaction in the background: aborts it,
    /// kills its session once the server answers when the server may still
    /// hold it (`kill`), and when its commit may have gone through after
    /// all (`relog`), logs the product once more, at its version then, so
    /// followers drop what they cached before that late commit.
    fn abandon(&self, mut session: ClientSession, kill: bool, relog: Option<u64>) {
        if self.reapers.fetch_add(1, Ordering::AcqRel) >= REAPERS_MAX {
            self.reapers.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let reapers = self.reapers.clone();
        let admin = self.client.database("admin");
        let log = self.changes.clone();
        let buckets = self.buckets.clone();
        let meta = self.meta.clone();
        let timeout = self.timeout;
        tokio::spawn(async move {
            // The driver sends abortTransaction once and ignores its errors;
            // after a commit it refuses, which is as it should be.
            let _ = tokio::time::timeout(timeout, session.abort_transaction()).await;
            let give_up = Instant::now() + TRANSACTION_LIFETIME;
            if kill {
                let command = doc! { "killSessions": [session.id().clone()] };
                retry_until(give_up, timeout, || admin.run_command(command.clone())).await;
            }
            if let Some(product) = relog {
                let current = retry_until(give_up, timeout, || {
                    meta.find_one(doc! { "_id": product as i64 })
                        .projection(doc! { "v": 1 })
                        .selection_criteria(primary())
                })
                .await;
                let version = current
                    .flatten()
                    .and_then(|m| version_from(&m).ok())
                    .unwrap_or(0);
                // Outside a transaction: a number taken and not logged is a
                // hole, which polls ask for until the window has passed.
                let bucket = changes::bucket_of(product);
                let counter =
                    retry_until(give_up, timeout, || changes::next_number(&buckets, bucket)).await;
                if let Some(n) = counter.flatten().and_then(|c| changes::number(&c).ok()) {
                    let pos = changes::position(bucket, n);
                    retry_until(give_up, timeout, || {
                        log.insert_one(changes::entry(ObjectId::new(), product, version, pos))
                    })
                    .await;
                }
            }
            drop(session);
            reapers.fetch_sub(1, Ordering::AcqRel);
        });
    }
}
