//! `PUT /reviews/:review_id/helpful` and `/report`: 204 once the vote is
//! durable and the product's cached copies are dropped; 404 for an unknown
//! or reported review.
//!
//! One helpful vote per client per review within `--vote-window`: a
//! repeated vote is a 204 that changes nothing (the same answer as the
//! first, so a retry without an `Idempotency-Key` is harmless too, and a
//! client learns nothing it could game). A report hides the review at once.

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, StatusCode};

use super::error::ApiError;
use super::idempotency::{self, Guarding};
use super::reply::{Reply, reply, with_version};
use crate::service::{Outcome, Service, Store, Versioned, Vote, Write};

/// Records `vote` on `review_id`, guarded by the request's key and client.
pub async fn put<S: Store>(
    service: &Service<S>,
    review_id: u64,
    vote: Vote,
    headers: &HeaderMap,
    guarding: &Guarding,
) -> Result<Reply, ApiError> {
    let (name, write) = match vote {
        Vote::Helpful => ("helpful", Write::Helpful { review_id }),
        Vote::Report => ("report", Write::Report { review_id }),
    };
    let id = review_id.to_be_bytes();
    let fingerprint = idempotency::fingerprint(&[b"PUT", name.as_bytes(), &id]);
    let guard = guarding.guard(headers, fingerprint, vote == Vote::Helpful)?;
    let outcome = service.write(write, guard).await.map_err(ApiError::store)?;
    // Every applied outcome answers the review's product and its version.
    let done = |w: Versioned<u64>| {
        with_version(
            reply(StatusCode::NO_CONTENT, Bytes::new()),
            w.value,
            w.version,
        )
    };
    match outcome {
        Outcome::Written(w) | Outcome::Unchanged(w) => Ok(done(w)),
        Outcome::Replayed(w) => {
            let mut done = done(w);
            done.headers_mut()
                .insert(idempotency::REPLAYED, HeaderValue::from_static("true"));
            Ok(done)
        }
        Outcome::NotFound => Err(ApiError::not_found(format!("review {review_id} not found"))),
        Outcome::KeyReused => Err(idempotency::reused(headers)),
        Outcome::Refused(why) => Err(ApiError::unprocessable(why)),
    }
}
