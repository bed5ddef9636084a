//! Writes: a new review, a helpful vote, a report, a restore.
//!
//! Each request runs in [`MongoStore::run`]: one deadline (the configured
//! timeout) for the whole request — queueing, id reservation, every
//! attempt, every backoff; one token, drawn once, that each attempt writes
//! as its change entry's `_id` in the same transaction. An attempt is one
//! transaction on the primary:
//!
//! 1. if an earlier attempt's commit result is unknown, look the token up
//!    first: found means that attempt committed, and its answer is returned;
//! 2. the guard's look-ups: the `Idempotency-Key`'s record in `idempotency`
//!    (found and live: the attempt answers what it recorded, or refuses a
//!    key used with another request, and writes nothing), and for a helpful
//!    vote the voter's record in `votes` (found and live: nothing changes);
//! 3. the review write (insert, or `findOneAndUpdate` on a visible — to
//!    restore, a reported — review), the meta `$inc` (all seven counters),
//!    the vote's and the key's records (upserts, so an expired record the
//!    TTL monitor has not removed yet is replaced), the change entry;
//! 4. commit, and while the driver answers UnknownTransactionCommitResult,
//!    commit again (its documented advice) until the deadline.
//!
//! A failed attempt is retried after a jittered exponential backoff when the
//! driver marks the error retryable — labels TransientTransactionError,
//! UnknownTransactionCommitResult, RetryableWriteError; network, pool and
//! server-selection error kinds; server codes for write conflicts, lock and
//! time limits, elections and shutdowns — never by reading message text. A
//! duplicate key means an earlier attempt committed, and the next attempt
//! finds its token (if it does not, the review id is taken, and the write
//! stops, unless the write is guarded: then the duplicate is another
//! request's key or vote record, and the next attempt finds it). Two
//! attempts can never both commit, as both insert the same token `_id`;
//! two requests with the same key can never both commit, as both write the
//! same key record (the loser's retry replays the winner's answer).
//!
//! On a standalone server the same steps run in order without isolation:
//! two copies of a keyed request racing each other may both write (a retry
//! that comes after the first answer is replayed as anywhere else).
//!
//! A failed attempt's session is handed to a background task that aborts
//! its transaction and, when the server may still hold it (a timeout, a
//! network error), kills the session once the server answers again, so an
//! outage does not leave transactions holding locks against the next
//! writes until the server's own 60 s limit.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mongodb::ClientSession;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, doc};
use mongodb::error::{
    ErrorKind, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT, WriteFailure,
};
use mongodb::options::{ReturnDocument, TransactionOptions};
use tokio::time::Instant;

use super::docs::{int, meta_inc, review_doc};
use super::{DUPLICATE_KEY, MongoStore, primary};
use crate::hash::mix;
use crate::model::{RELEVANCE_YEAR_SECS, Review};
use crate::store::{Outcome, StoreError, Versioned, Write, WriteGuard};

/// Review ids a process reserves at a time.
pub const ID_BLOCK: u64 = 64;
/// In-process write queues; writes to ids in the same one take turns.
const STRIPES: usize = 64;
/// First and largest backoff between attempts (each drawn uniformly below
/// the doubling bound).
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(250);
/// How long the server keeps an idle transaction by default
/// (`transactionLifetimeLimitSeconds`): past it, there is nothing to kill.
const TRANSACTION_LIFETIME: Duration = Duration::from_secs(60);
/// Background aborts at once; past this, dropped sessions are left to the
/// driver's own abort on drop and the server's lifetime limit.
const REAPERS_MAX: usize = 256;

/// The updates of an existing review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Vote {
    Helpful,
    Report,
    Restore,
}

/// What an attempt's steps came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// Written: the review's product.
    Done(u64),
    /// A repeated vote on a visible review of this product: nothing to write.
    Unchanged(u64),
    /// The key's record answered this: nothing to write.
    Replayed(u64),
    /// The key was used with another request.
    KeyReused,
    /// No review (or product) in the state the write needs.
    NotFound,
}

impl Applied {
    /// The request's outcome, for steps that wrote nothing (or whose
    /// commit has version `version`).
    fn outcome(self, op: Op<'_>, version: u64) -> Outcome {
        let at = |value| Versioned { value, version };
        match self {
            Applied::Done(product) => Outcome::Written(at(op.answer(product))),
            Applied::Unchanged(product) => Outcome::Unchanged(at(product)),
            Applied::Replayed(answer) => Outcome::Replayed(at(answer)),
            Applied::KeyReused => Outcome::KeyReused,
            Applied::NotFound => Outcome::NotFound,
        }
    }
}

/// The `_id` of a vote's record.
fn vote_id(review_id: u64, voter: u64) -> String {
    format!("{review_id}:{voter:016x}")
}

/// How a request's fingerprint is kept in its key's record.
fn fingerprint_text(fingerprint: u128) -> String {
    format!("{fingerprint:032x}")
}

/// Whether a record's `field` (a date) is still ahead of `now_ms`.
fn live(doc: &mongodb::bson::Document, field: &str, now_ms: u64) -> bool {
    doc.get_datetime(field)
        .is_ok_and(|at| at.timestamp_millis() > now_ms.min(i64::MAX as u64) as i64)
}

/// Review ids reserved by this process and not used yet: `next..end`.
#[derive(Debug, Default)]
pub(super) struct IdBlock {
    next: u64,
    end: u64,
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
    Update(u64, Vote),
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

/// What may follow a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Try again: nothing was written.
    Retry,
    /// Try again, looking the token up first: the write may have committed.
    Verify,
    /// A duplicate key: an earlier attempt committed (its token will be
    /// found), or else the review id is taken and trying again cannot help.
    Duplicate,
    /// Give up: trying again cannot help.
    Stop,
}

/// A failed step of an attempt.
#[derive(Debug)]
struct Failure {
    error: String,
    next: Next,
    /// The server may still hold the attempt's transaction open (the step
    /// timed out or the connection failed): its session must be killed.
    lingering: bool,
}

impl Failure {
    fn stop(e: StoreError) -> Failure {
        Failure {
            error: e.to_string(),
            next: Next::Stop,
            lingering: false,
        }
    }

    fn timed_out() -> Failure {
        Failure {
            error: "MongoDB did not answer before the write's deadline".into(),
            next: Next::Retry,
            lingering: true,
        }
    }
}

impl From<mongodb::error::Error> for Failure {
    fn from(e: mongodb::error::Error) -> Failure {
        // Cut off from the server mid-transaction: it may still hold it.
        let network = matches!(
            *e.kind,
            ErrorKind::Io(_)
                | ErrorKind::ConnectionPoolCleared { .. }
                | ErrorKind::ServerSelection { .. }
        );
        Failure {
            next: next_after(&e),
            lingering: network,
            error: format!("MongoDB: {e}"),
        }
    }
}

/// How a write goes on after the driver's error `e`: by its labels, its
/// kind, and the server's error code.
fn next_after(e: &mongodb::error::Error) -> Next {
    if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) {
        return Next::Verify;
    }
    if e.contains_label(TRANSIENT_TRANSACTION_ERROR) || e.contains_label(RETRYABLE_WRITE_ERROR) {
        return Next::Retry;
    }
    match e.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. } => Next::Retry,
        ErrorKind::Command(c) => next_after_code(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => Next::Duplicate,
        ErrorKind::Write(WriteFailure::WriteError(w)) => next_after_code(w.code),
        // Applied on the primary, not yet acknowledged by enough members.
        ErrorKind::Write(WriteFailure::WriteConcernError(_)) => Next::Verify,
        _ => Next::Stop,
    }
}

/// Server error codes worth another attempt.
fn next_after_code(code: i32) -> Next {
    match code {
        // LockTimeout, WriteConflict, NoSuchTransaction, TransactionTooOld,
        // TransactionExceededLifetimeLimitSeconds.
        24 | 112 | 251 | 225 | 290 => Next::Retry,
        // MaxTimeMSExpired, ExceededTimeLimit, Interrupted.
        50 | 262 | 11601 => Next::Retry,
        // Elections and shutdowns: NotWritablePrimary, NotPrimaryNoSecondaryOk,
        // NotPrimaryOrSecondary, PrimarySteppedDown, InterruptedAtShutdown,
        // InterruptedDueToReplStateChange, ShutdownInProgress.
        10107 | 13435 | 13436 | 189 | 11600 | 11602 | 91 => Next::Retry,
        // HostUnreachable, HostNotFound, NetworkTimeout, SocketException.
        6 | 7 | 89 | 9001 => Next::Retry,
        // WriteConcernFailed: the write may stand.
        64 => Next::Verify,
        _ => Next::Stop,
    }
}

/// The pause before attempt `attempt + 1`: uniform in zero to a bound that
/// doubles from [`BACKOFF_FIRST`] up to [`BACKOFF_MAX`] ("full jitter"), so
/// writers that collided once spread out.
fn backoff(attempt: u32) -> Duration {
    let bound = BACKOFF_FIRST
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_MAX);
    bound.mul_f64(fastrand::f64())
}

/// Runs `op` if it is done by `deadline`.
async fn within<T>(
    deadline: Instant,
    op: impl IntoFuture<Output = mongodb::error::Result<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout_at(deadline, op.into_future()).await {
        Ok(result) => result.map_err(Failure::from),
        Err(_) => Err(Failure::timed_out()),
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
        let (review_id, vote) = match write {
            Write::AddReview { product_id, review } => {
                if !self.product_exists(product_id).await? {
                    return Ok(Outcome::NotFound);
                }
                let _turn = self.take_turn(product_id, deadline).await?;
                let review_id = self.next_review_id(deadline).await?;
                let now = crate::clock::unix_seconds();
                let review = Review::submitted(review_id, product_id, now, review);
                let outcome = self.run(Op::Add(&review), guard, deadline).await;
                // Failed too: it may have committed.
                if !matches!(outcome, Ok(Outcome::NotFound | Outcome::KeyReused)) {
                    self.note_write(product_id);
                }
                return outcome;
            }
            Write::Helpful { review_id } => (review_id, Vote::Helpful),
            Write::Report { review_id } => (review_id, Vote::Report),
            Write::Restore { review_id } => (review_id, Vote::Restore),
        };
        // Keyed apart from products, which share the stripes.
        let _turn = self.take_turn(!review_id, deadline).await?;
        let outcome = self
            .run(Op::Update(review_id, vote), guard, deadline)
            .await?;
        if let Outcome::Written(w) = outcome {
            self.note_write(w.value);
        }
        Ok(outcome)
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

    /// The next review id, from this process's block; a new block is
    /// reserved with one `$inc` outside any transaction.
    async fn next_review_id(&self, deadline: Instant) -> Result<u64, StoreError> {
        let mut block = tokio::time::timeout_at(deadline, self.ids.lock())
            .await
            .map_err(|_| StoreError::Unavailable("MongoDB: no review id in time".into()))?;
        if block.next >= block.end {
            let start = self.reserve_ids(deadline).await?;
            *block = IdBlock {
                next: start,
                end: start + ID_BLOCK,
            };
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    async fn reserve_ids(&self, deadline: Instant) -> Result<u64, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reserve = self
                .info
                .find_one_and_update(
                    doc! { "_id": "counters" },
                    doc! { "$inc": { "next_review_id": ID_BLOCK as i64 } },
                )
                .return_document(ReturnDocument::Before);
            // A reservation whose answer is lost only leaves a gap of ids.
            let failure = match within(deadline, reserve).await {
                Ok(Some(counters)) => return Ok(int(&counters, "next_review_id")? as u64),
                Ok(None) => {
                    return Err(StoreError::Corrupt(
                        "no review id counter: the data set was not loaded by `seed`".into(),
                    ));
                }
                Err(failure) => failure,
            };
            let pause = backoff(attempt);
            if failure.next == Next::Stop || Instant::now() + pause >= deadline {
                return Err(StoreError::Unavailable(failure.error));
            }
            tokio::time::sleep(pause).await;
        }
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
            if failure.next == Next::Stop
                || !self.transactions
                || Instant::now() + pause >= deadline
            {
                let outcome = if !self.transactions {
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
            if let Some((product, version)) = self.look_up(token, deadline).await? {
                return Ok(Outcome::Written(Versioned {
                    value: op.answer(product),
                    version,
                }));
            }
            // A guarded write's duplicate may be another request's key or
            // vote record: the next steps find it.
            let guarded = guard.idempotency.is_some() || guard.voter.is_some();
            if duplicate && !guarded {
                return Err(Failure::stop(StoreError::Corrupt(
                    "duplicate key, yet no earlier attempt of this write committed: \
                     the review id counter is behind the reviews"
                        .into(),
                )));
            }
        }
        let mut session = within(deadline, self.client.start_session()).await?;
        if !self.transactions {
            let applied = self.apply(&mut session, op, guard, token, deadline).await?;
            return Ok(applied.outcome(op, version_of(&session)));
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
            Ok(Applied::Done(product)) => self
                .commit(session, product, deadline)
                .await
                .map(|version| Applied::Done(product).outcome(op, version)),
            Ok(nothing) => {
                let version = version_of(&session);
                self.abandon(session, false, None);
                Ok(nothing.outcome(op, version))
            }
            Err(failure) => {
                self.abandon(session, failure.lingering, None);
                Err(failure)
            }
        }
    }

    /// The write's steps in `session` (see the module docs).
    async fn apply(
        &self,
        session: &mut ClientSession,
        op: Op<'_>,
        guard: &WriteGuard,
        token: ObjectId,
        deadline: Instant,
    ) -> Result<Applied, Failure> {
        if let Some(key) = &guard.idempotency {
            let find = self
                .idempotency
                .find_one(doc! { "_id": &key.key })
                .session(&mut *session);
            if let Some(found) = within(deadline, find).await?
                && live(&found, "expires", guard.now_ms)
            {
                let same = found.get_str("request").ok()
                    == Some(fingerprint_text(key.fingerprint).as_str());
                if !same {
                    return Ok(Applied::KeyReused);
                }
                let answer = int(&found, "answer").map_err(Failure::stop)? as u64;
                return Ok(Applied::Replayed(answer));
            }
        }
        let product = match op {
            Op::Add(review) => {
                let insert = self.reviews.insert_one(review_doc(review));
                within(deadline, insert.session(&mut *session)).await?;
                self.count_in_meta(
                    session,
                    review.product_id,
                    review.rating,
                    review.recommend,
                    1,
                    deadline,
                )
                .await?;
                review.product_id
            }
            Op::Update(review_id, vote) => {
                let voter = guard.voter.filter(|_| vote == Vote::Helpful);
                if let Some(voter) = voter {
                    let find = self
                        .votes
                        .find_one(doc! { "_id": vote_id(review_id, voter.id) })
                        .session(&mut *session);
                    if within(deadline, find)
                        .await?
                        .is_some_and(|found| live(&found, "until", guard.now_ms))
                    {
                        // Still visible? A vote on a hidden review is a 404.
                        let find = self
                            .reviews
                            .find_one(doc! { "_id": review_id as i64, "reported": false })
                            .projection(doc! { "product_id": 1 })
                            .session(&mut *session);
                        return match within(deadline, find).await? {
                            Some(doc) => Ok(Applied::Unchanged(
                                int(&doc, "product_id").map_err(Failure::stop)? as u64,
                            )),
                            None => Ok(Applied::NotFound),
                        };
                    }
                }
                let (reported, update) = match vote {
                    Vote::Helpful => (
                        false,
                        doc! { "$inc": { "helpfulness": 1_i64, "relevance": RELEVANCE_YEAR_SECS } },
                    ),
                    Vote::Report => (false, doc! { "$set": { "reported": true } }),
                    Vote::Restore => (true, doc! { "$set": { "reported": false } }),
                };
                let find = self
                    .reviews
                    .find_one_and_update(
                        doc! { "_id": review_id as i64, "reported": reported },
                        update,
                    )
                    .projection(doc! { "product_id": 1, "rating": 1, "recommend": 1 })
                    .session(&mut *session);
                let Some(doc) = within(deadline, find).await? else {
                    return Ok(Applied::NotFound);
                };
                let product = int(&doc, "product_id").map_err(Failure::stop)? as u64;
                if vote != Vote::Helpful {
                    let rating = int(&doc, "rating").map_err(Failure::stop)? as u8;
                    let recommend = doc
                        .get_bool("recommend")
                        .map_err(|e| Failure::stop(StoreError::Corrupt(e.to_string())))?;
                    let by = if vote == Vote::Report { -1 } else { 1 };
                    self.count_in_meta(session, product, rating, recommend, by, deadline)
                        .await?;
                }
                if let Some(voter) = voter {
                    let until = DateTime::from_millis(voter.until_ms.min(i64::MAX as u64) as i64);
                    let record = doc! { "$set": { "until": until } };
                    let upsert = self
                        .votes
                        .update_one(doc! { "_id": vote_id(review_id, voter.id) }, record)
                        .upsert(true)
                        .session(&mut *session);
                    within(deadline, upsert).await?;
                }
                product
            }
        };
        if let Some(key) = &guard.idempotency {
            let record = doc! { "$set": {
                "request": fingerprint_text(key.fingerprint),
                "answer": op.answer(product) as i64,
                "expires": DateTime::from_millis(key.expires_ms.min(i64::MAX as u64) as i64),
            } };
            let upsert = self
                .idempotency
                .update_one(doc! { "_id": &key.key }, record)
                .upsert(true)
                .session(&mut *session);
            within(deadline, upsert).await?;
        }
        // Last, so that without a transaction followers never hear of a
        // write before it is there.
        let entry = doc! { "_id": token, "at": DateTime::now(), "product_id": product as i64 };
        within(
            deadline,
            self.changes.insert_one(entry).session(&mut *session),
        )
        .await?;
        Ok(Applied::Done(product))
    }

    async fn count_in_meta(
        &self,
        session: &mut ClientSession,
        product_id: u64,
        rating: u8,
        recommend: bool,
        by: i64,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let update = self
            .meta
            .update_one(
                doc! { "_id": product_id as i64 },
                meta_inc(rating, recommend, by),
            )
            .upsert(true)
            .session(&mut *session);
        within(deadline, update).await.map(|_| ())
    }

    /// Commits, committing again while the result is unknown, as the
    /// driver documents, until the deadline; the commit's version.
    async fn commit(
        &self,
        mut session: ClientSession,
        product_id: u64,
        deadline: Instant,
    ) -> Result<u64, Failure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match within(deadline, session.commit_transaction()).await {
                Ok(()) => return Ok(version_of(&session)),
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

    /// The product the write with `token` logged, if it committed, and a
    /// version at or after its commit (the primary's, when it saw it).
    async fn look_up(
        &self,
        token: ObjectId,
        deadline: Instant,
    ) -> Result<Option<(u64, u64)>, Failure> {
        let mut session = within(deadline, self.client.start_session()).await?;
        let find = self
            .changes
            .find_one(doc! { "_id": token })
            .projection(doc! { "product_id": 1 })
            .selection_criteria(primary())
            .session(&mut session);
        match within(deadline, find).await? {
            Some(entry) => {
                let product = int(&entry, "product_id").map_err(Failure::stop)? as u64;
                Ok(Some((product, version_of(&session))))
            }
            None => Ok(None),
        }
    }

    /// Ends a failed attempt's transaction in the background: aborts it,
    /// kills its session once the server answers when the server may still
    /// hold it (`kill`), and when its commit may have gone through after
    /// all (`relog`), logs the product once more so followers drop what
    /// they cached before that late commit.
    fn abandon(&self, mut session: ClientSession, kill: bool, relog: Option<u64>) {
        if self.reapers.fetch_add(1, Ordering::AcqRel) >= REAPERS_MAX {
            self.reapers.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let reapers = self.reapers.clone();
        let admin = self.client.database("admin");
        let changes = self.changes.clone();
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
                retry_until(give_up, timeout, || {
                    let entry = doc! {
                        "_id": ObjectId::new(), "at": DateTime::now(), "product_id": product as i64,
                    };
                    changes.insert_one(entry)
                })
                .await;
            }
            drop(session);
            reapers.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// Repeats `op` with backoff until it succeeds, fails for good, or `give_up`.
async fn retry_until<F: IntoFuture<Output = mongodb::error::Result<T>>, T>(
    give_up: Instant,
    timeout: Duration,
    op: impl Fn() -> F,
) {
    let mut attempt = 0;
    while Instant::now() < give_up {
        attempt += 1;
        match tokio::time::timeout(timeout, op().into_future()).await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) if next_after(&e) == Next::Stop => return,
            _ => tokio::time::sleep(backoff(attempt + 4)).await,
        }
    }
}

/// The version of what `session` last did: the deployment's cluster time
/// of its last operation (`operationTime`), as one ordered number.
pub(super) fn version_of(session: &ClientSession) -> u64 {
    session
        .operation_time()
        .map_or(0, |t| (u64::from(t.time) << 32) | u64::from(t.increment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_below_a_doubling_cap() {
        for attempt in 0..40 {
            let bound = BACKOFF_FIRST
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_MAX);
            let pause = backoff(attempt);
            assert!(pause <= bound, "attempt {attempt}: {pause:?} > {bound:?}");
        }
        let pauses: std::collections::HashSet<_> = (0..20).map(|_| backoff(10)).collect();
        assert!(pauses.len() > 1, "pauses are drawn, not fixed");
    }

    #[test]
    fn server_codes_retry_or_stop() {
        // WriteConflict and LockTimeout retry with or without a label.
        assert_eq!(next_after_code(112), Next::Retry);
        assert_eq!(next_after_code(24), Next::Retry);
        assert_eq!(next_after_code(64), Next::Verify);
        // A validation failure will fail again.
        assert_eq!(next_after_code(121), Next::Stop);
    }
}
