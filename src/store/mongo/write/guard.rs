//! What guards a write, decided by a unique insert: the `Idempotency-Key`'s
//! record in `idempotency` and the voter's in `votes` are claimed first in
//! the write's transaction by inserting their `_id`. Of two requests that
//! claim the same record at once, on any engine, one insert fails — a
//! duplicate key, or a write conflict that the retry turns into one — so
//! at most one of them writes. Never a look-up followed by an upsert: on
//! an engine where a second transaction waits for the first's lock and
//! then goes on, both would commit.
//!
//! A claim first deletes the record if it is past its date (the TTL
//! monitor removes such records only every minute). When a claim finds
//! the record live, the transaction is dropped and the record read back
//! outside it: the key's answer is replayed (or the key refused, if it
//! came with another request), a repeated vote changes nothing. A record
//! that is gone or expired by then is claimed again by the next attempt.
//!
//! Records carry the token of the request that claimed them; without
//! transactions (a standalone server) an attempt that does not finish
//! removes its own claims, so they never hold back a retry.

use mongodb::ClientSession;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use tokio::time::Instant;

use super::retry::{Failure, is_duplicate, within};
use super::{Change, Op};
use crate::store::mongo::docs::int;
use crate::store::mongo::{MongoStore, primary};
use crate::store::{Outcome, StoreError, Versioned, WriteGuard};

/// A guard's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    /// The `Idempotency-Key`'s.
    Key,
    /// The helpful voter's.
    Vote,
}

/// The `_id` of a vote's record.
fn vote_id(review_id: u64, voter: u64) -> String {
    format!("{review_id}:{voter:016x}")
}

/// How a request's fingerprint is kept in its key's record.
fn fingerprint_text(fingerprint: u128) -> String {
    format!("{fingerprint:032x}")
}

/// The record `claim` inserts for this request, without its token; `None`
/// when the request carries no such guard (no key; no voter, or a write
/// other than a helpful vote).
fn record(claim: Claim, op: Op<'_>, guard: &WriteGuard) -> Option<Document> {
    match (claim, op) {
        (Claim::Key, _) => guard.idempotency.as_ref().map(|key| {
            doc! {
                "_id": &key.key,
                "request": fingerprint_text(key.fingerprint),
                "expires": DateTime::from_millis(millis(key.expires_ms)),
            }
        }),
        (Claim::Vote, Op::Update(review_id, Change::Helpful)) => guard.voter.map(|voter| {
            doc! {
                "_id": vote_id(review_id, voter.id),
                "until": DateTime::from_millis(millis(voter.until_ms)),
            }
        }),
        (Claim::Vote, _) => None,
    }
}

/// Whether a record's `field` (a date) is still ahead of `now_ms`.
fn live(doc: &Document, field: &str, now_ms: u64) -> bool {
    doc.get_datetime(field)
        .is_ok_and(|at| at.timestamp_millis() > millis(now_ms))
}

fn millis(ms: u64) -> i64 {
    ms.min(i64::MAX as u64) as i64
}

impl MongoStore {
    /// Claims the guard's records `op` needs, in `session`: `None` when
    /// all are this request's now, or the first one another request holds.
    pub(super) async fn claim_guards(
        &self,
        session: &mut ClientSession,
        op: Op<'_>,
        guard: &WriteGuard,
        token: ObjectId,
        deadline: Instant,
    ) -> Result<Option<Claim>, Failure> {
        for claim in [Claim::Key, Claim::Vote] {
            let Some(mut record) = record(claim, op, guard) else {
                continue;
            };
            record.insert("token", token);
            if !self
                .claim(session, claim, record, guard.now_ms, deadline)
                .await?
            {
                return Ok(Some(claim));
            }
        }
        Ok(None)
    }

    /// Inserts `record` (its `_id` unique) after deleting an expired one:
    /// false when a live one stands (or a concurrent claim committed first).
    async fn claim(
        &self,
        session: &mut ClientSession,
        claim: Claim,
        record: Document,
        now_ms: u64,
        deadline: Instant,
    ) -> Result<bool, Failure> {
        let (records, date) = self.records(claim);
        let id = record.get("_id").cloned().unwrap_or_default();
        let expired = doc! { "_id": id, date: { "$lte": DateTime::from_millis(millis(now_ms)) } };
        within(deadline, records.delete_one(expired).session(&mut *session)).await?;
        let insert = records.insert_one(record).session(&mut *session);
        match tokio::time::timeout_at(deadline, insert.into_future()).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) if is_duplicate(&e) => Ok(false),
            Ok(Err(e)) => Err(Failure::from(e)),
            Err(_) => Err(Failure::timed_out()),
        }
    }

    /// Records the answer of a write in its key's record (same transaction).
    pub(super) async fn record_answer(
        &self,
        session: &mut ClientSession,
        guard: &WriteGuard,
        answer: u64,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let Some(key) = &guard.idempotency else {
            return Ok(());
        };
        let set = doc! { "$set": { "answer": answer as i64 } };
        let update = self
            .idempotency
            .update_one(doc! { "_id": &key.key }, set)
            .session(&mut *session);
        within(deadline, update).await.map(|_| ())
    }

    /// What a claim that found its record taken answers, read outside the
    /// dropped transaction from the primary: a replay, a refused key, an
    /// unchanged vote (or an unknown review) — or, when the record is gone
    /// or expired by now, or holds no answer yet (a request in progress
    /// without a transaction), another attempt.
    pub(super) async fn resolve(
        &self,
        claim: Claim,
        op: Op<'_>,
        guard: &WriteGuard,
        deadline: Instant,
    ) -> Result<Outcome, Failure> {
        let (records, date) = self.records(claim);
        let Some(id) = record(claim, op, guard).and_then(|r| r.get("_id").cloned()) else {
            return Err(Failure::stop(StoreError::Corrupt("no such claim".into())));
        };
        let find = records
            .find_one(doc! { "_id": &id })
            .selection_criteria(primary());
        let Some(found) = within(deadline, find)
            .await?
            .filter(|found| live(found, date, guard.now_ms))
        else {
            return Err(Failure::taken("a guard's record was gone when read back"));
        };
        match (claim, op) {
            (Claim::Key, _) => {
                let key = guard.idempotency.as_ref().expect("a keyed request");
                if found.get_str("request").ok() != Some(fingerprint_text(key.fingerprint).as_str())
                {
                    return Ok(Outcome::KeyReused);
                }
                if !found.contains_key("answer") {
                    return Err(Failure::taken(
                        "an earlier request with the same Idempotency-Key is still being written",
                    ));
                }
                let answer = int(&found, "answer")? as u64;
                let product = match op {
                    Op::Add(review) => review.product_id,
                    Op::Update(..) => answer,
                };
                let version = self.current_version(product, deadline).await?;
                Ok(Outcome::Replayed(Versioned {
                    value: answer,
                    version,
                }))
            }
            (Claim::Vote, Op::Update(review_id, _)) => {
                // Still visible? A vote on a hidden review is a 404.
                let find = self
                    .reviews
                    .find_one(doc! { "_id": review_id as i64, "reported": false })
                    .projection(doc! { "product_id": 1 })
                    .selection_criteria(primary());
                let Some(review) = within(deadline, find).await? else {
                    return Ok(Outcome::NotFound);
                };
                let product = int(&review, "product_id")? as u64;
                let version = self.current_version(product, deadline).await?;
                Ok(Outcome::Unchanged(Versioned {
                    value: product,
                    version,
                }))
            }
            (Claim::Vote, Op::Add(_)) => unreachable!("new reviews take no vote"),
        }
    }

    /// Removes the claims `token` made (a write without a transaction that
    /// did not finish), in the background.
    pub(super) fn release_claims(&self, guard: &WriteGuard, op: Op<'_>, token: ObjectId) {
        let claims: Vec<_> = [Claim::Key, Claim::Vote]
            .into_iter()
            .filter_map(|claim| {
                let id = record(claim, op, guard)?.get("_id").cloned()?;
                Some((self.records(claim).0.clone(), id))
            })
            .collect();
        let timeout = self.timeout;
        tokio::spawn(async move {
            for (records, id) in claims {
                let mine = doc! { "_id": id, "token": token };
                let _ = tokio::time::timeout(timeout, records.delete_one(mine).into_future()).await;
            }
        });
    }

    /// The collection of a claim's records and the date they expire at.
    fn records(&self, claim: Claim) -> (&mongodb::Collection<Document>, &'static str) {
        match claim {
            Claim::Key => (&self.idempotency, "expires"),
            Claim::Vote => (&self.votes, "until"),
        }
    }
}
