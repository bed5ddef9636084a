//! `/reviews/:product_id` and its meta: reads through the service's cache,
//! and `POST`, whose body is checked in the order the API fixes: content
//! type (415), size (413), body (400/422), then existence (404).

use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::body::Body;
use hyper::header::{self, HeaderMap, HeaderValue};

use super::error::ApiError;
use super::idempotency::{self, Guarding};
use super::reply::{Reply, cached, json, with_version};
use super::{new_review, query};
use crate::model::NewReview;
use crate::service::{Outcome, Service, Store, Write, render, unknown_product};

/// `GET /reviews/:product_id?page&count&sort&min_version`.
pub async fn page<S: Store>(
    service: &Service<S>,
    product_id: u64,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let q = query::parse_page_query(product_id, query)?;
    let at_least = query::parse_min_version(product_id, query)?;
    let lookup = service.page(q, at_least).await.map_err(ApiError::store)?;
    Ok(cached(headers, &lookup))
}

/// `GET /reviews/:product_id/meta?min_version`.
pub async fn meta<S: Store>(
    service: &Service<S>,
    product_id: u64,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let at_least = query::parse_min_version(product_id, query)?;
    let lookup = service
        .meta(product_id, at_least)
        .await
        .map_err(ApiError::store)?;
    Ok(cached(headers, &lookup))
}

/// Reads the body of `POST /reviews/:product_id`, in the order the API
/// fixes: content type (415; 400 when the request names two), size (413,
/// declared or streamed), and a deadline for the whole body to arrive
/// (408).
pub async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    deadline: Duration,
) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !is_json(super::framing::single(headers, &header::CONTENT_TYPE)?) {
        return Err(ApiError::unsupported_media_type(
            "content type must be application/json",
        ));
    }
    super::body::collect(headers, body, deadline).await
}

/// `POST /reviews/:product_id` with its body read: 201 once the review is
/// durable and the product's cached copies are dropped. A retry with the
/// same `Idempotency-Key` and body answers the same 201 and review id,
/// with `Idempotent-Replayed: true`, and writes nothing. Either way the
/// answer carries the product's version as of the write
/// (`X-Reviews-Version`).
pub async fn post<S: Store>(
    service: &Service<S>,
    product_id: u64,
    body: &[u8],
    headers: &HeaderMap,
    guarding: &Guarding,
) -> Result<Reply, ApiError> {
    let review = new_review::parse(body)?;
    create(service, product_id, review, headers, guarding).await
}

/// Writes a parsed new review of `product_id` (whichever route it came
/// by): 201 with its id and the product's version, a replay's answer, or
/// the error of a key reused (422), a product unknown (404) or
/// characteristics not the product's (422).
pub async fn create<S: Store>(
    service: &Service<S>,
    product_id: u64,
    review: NewReview,
    headers: &HeaderMap,
    guarding: &Guarding,
) -> Result<Reply, ApiError> {
    let guard = guarding.guard(headers, fingerprint(product_id, &review), false)?;
    let write = Write::AddReview { product_id, review };
    let outcome = service.write(write, guard).await.map_err(ApiError::store)?;
    let (id, replayed) = match outcome {
        Outcome::Written(w) | Outcome::Unchanged(w) => (w, false),
        Outcome::Replayed(w) => (w, true),
        Outcome::NotFound => return Err(ApiError::not_found(unknown_product(product_id))),
        Outcome::KeyReused => return Err(idempotency::reused(headers)),
        Outcome::Refused(why) => return Err(ApiError::unprocessable(why)),
    };
    let created = json(StatusCode::CREATED, render::created(id.value));
    let mut created = with_version(created, product_id, id.version);
    if replayed {
        created
            .headers_mut()
            .insert(idempotency::REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(created)
}

/// What identifies a new review's request: its product and every field as
/// parsed, so the same review sent with its keys in another order or
/// other spacing is the same request.
fn fingerprint(product_id: u64, r: &NewReview) -> u128 {
    let product = product_id.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![
        b"POST",
        &product,
        std::slice::from_ref(&r.rating),
        r.summary.as_bytes(),
        r.body.as_bytes(),
        if r.recommend { b"1" } else { b"0" },
        r.name.as_bytes(),
        r.email.as_bytes(),
    ];
    parts.extend(r.photos.iter().map(|p| p.as_bytes()));
    let rated: Vec<u8> = r
        .characteristics
        .iter()
        .flat_map(|&(id, value)| id.to_be_bytes().into_iter().chain([value]))
        .collect();
    parts.push(&rated);
    idempotency::fingerprint(&parts)
}

/// Whether a `Content-Type` is `application/json`, with any parameters.
fn is_json(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}
