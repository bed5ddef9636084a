//! What a failed step means for the write: another attempt, a look for
//! the write's token first, or an end; the jittered backoff between
//! attempts; and the deadline every call of a request runs under.
//!
//! Decided by the driver's labels (TransientTransactionError,
//! UnknownTransactionCommitResult, RetryableWriteError), its error kinds
//! (network, pool, server selection) and the server's codes (write
//! conflicts, lock and time limits, elections and shutdowns) — never by
//! reading message text.

use std::time::Duration;

use mongodb::error::{
    ErrorKind, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT, WriteFailure,
};
use tokio::time::Instant;

use super::super::DUPLICATE_KEY;
use crate::store::StoreError;

/// First and largest backoff between attempts (each drawn uniformly below
/// the doubling bound).
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(250);

/// What may follow a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Try again: nothing was written.
    Retry,
    /// Try again, looking the token up first: the write may have committed.
    Verify,
    /// A duplicate key: an earlier attempt committed (its token will be
    /// found), or else the review id is taken and trying again cannot help.
    Duplicate,
    /// A guard's record stood (another request holds the key or the vote)
    /// but what it says could not be read back yet: nothing of this
    /// attempt stands, so try again — even without transactions.
    Taken,
    /// Give up: trying again cannot help.
    Stop,
}

/// A failed step of an attempt.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: String,
    pub(super) next: Next,
    /// The server may still hold the attempt's transaction open (the step
    /// timed out or the connection failed): its session must be killed.
    pub(super) lingering: bool,
}

impl Failure {
    pub(super) fn stop(e: StoreError) -> Failure {
        Failure {
            error: e.to_string(),
            next: Next::Stop,
            lingering: false,
        }
    }

    pub(super) fn taken(why: &str) -> Failure {
        Failure {
            error: why.into(),
            next: Next::Taken,
            lingering: false,
        }
    }

    pub(super) fn timed_out() -> Failure {
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

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::stop(e)
    }
}

/// Whether `e` is a duplicate key: an insert on a unique key that stands.
pub(in crate::store::mongo) fn is_duplicate(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// How a write goes on after the driver's error `e`: by its labels, its
/// kind, and the server's error code.
pub(super) fn next_after(e: &mongodb::error::Error) -> Next {
    if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) {
        return Next::Verify;
    }
    if e.contains_label(TRANSIENT_TRANSACTION_ERROR) || e.contains_label(RETRYABLE_WRITE_ERROR) {
        return Next::Retry;
    }
    if is_duplicate(e) {
        return Next::Duplicate;
    }
    match e.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. } => Next::Retry,
        ErrorKind::Command(c) => next_after_code(c.code),
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
pub(super) fn backoff(attempt: u32) -> Duration {
    let bound = BACKOFF_FIRST
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_MAX);
    bound.mul_f64(fastrand::f64())
}

/// Runs `op` if it is done by `deadline`.
pub(super) async fn within<T>(
    deadline: Instant,
    op: impl IntoFuture<Output = mongodb::error::Result<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout_at(deadline, op.into_future()).await {
        Ok(result) => result.map_err(Failure::from),
        Err(_) => Err(Failure::timed_out()),
    }
}

/// Repeats `op` with backoff until it succeeds, fails for good, or
/// `give_up`; its answer, if it had one.
pub(super) async fn retry_until<F: IntoFuture<Output = mongodb::error::Result<T>>, T>(
    give_up: Instant,
    timeout: Duration,
    op: impl Fn() -> F,
) -> Option<T> {
    let mut attempt = 0;
    while Instant::now() < give_up {
        attempt += 1;
        match tokio::time::timeout(timeout, op().into_future()).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(e)) if next_after(&e) == Next::Stop => return None,
            _ => tokio::time::sleep(backoff(attempt + 4)).await,
        }
    }
    None
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
