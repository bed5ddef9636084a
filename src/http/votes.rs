//! `PUT /reviews/:review_id/helpful` and `/report`: 204 once the vote is
//! durable and the product's cached copies are dropped; 404 for an unknown
//! or reported review.

use bytes::Bytes;
use hyper::StatusCode;

use super::error::ApiError;
use super::reply::{Reply, reply};
use crate::service::{Service, Store, Vote};

/// Records `vote` on `review_id`.
pub async fn put<S: Store>(
    service: &Service<S>,
    review_id: u64,
    vote: Vote,
) -> Result<Reply, ApiError> {
    if !service
        .vote(review_id, vote)
        .await
        .map_err(ApiError::store)?
    {
        return Err(ApiError::not_found(format!("review {review_id} not found")));
    }
    Ok(reply(StatusCode::NO_CONTENT, Bytes::new()))
}
