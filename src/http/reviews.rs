//! `/reviews/:product_id` and its meta: reads through the service's cache,
//! and `POST`, whose body is checked in the order the API fixes: content
//! type (415), size (413), body (400/422), then existence (404).

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};

use super::error::ApiError;
use super::reply::{Reply, cached, json};
use super::{new_review, query};
use crate::model::limits;
use crate::service::{Service, Store, render, unknown_product};

/// `GET /reviews/:product_id?page&count&sort`.
pub async fn page<S: Store>(
    service: &Service<S>,
    product_id: u64,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let q = query::parse_page_query(product_id, query)?;
    let lookup = service.page(q).await.map_err(ApiError::store)?;
    Ok(cached(headers, &lookup))
}

/// `GET /reviews/:product_id/meta`.
pub async fn meta<S: Store>(
    service: &Service<S>,
    product_id: u64,
    headers: &HeaderMap,
) -> Result<Reply, ApiError> {
    let lookup = service.meta(product_id).await.map_err(ApiError::store)?;
    Ok(cached(headers, &lookup))
}

/// `POST /reviews/:product_id`: 201 once the review is durable and the
/// product's cached copies are dropped.
pub async fn post<S, B>(
    service: &Service<S>,
    product_id: u64,
    req: Request<B>,
) -> Result<Reply, ApiError>
where
    S: Store,
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    if !is_json(parts.headers.get(header::CONTENT_TYPE)) {
        return Err(ApiError::unsupported_media_type(
            "content type must be application/json",
        ));
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits::BODY_BYTES_MAX as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(body, limits::BODY_BYTES_MAX).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "could not read the body: {e}"
            )));
        }
    };
    let review = new_review::parse(&bytes)?;
    let id = service
        .add_review(product_id, review)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(unknown_product(product_id)))?;
    Ok(json(StatusCode::CREATED, render::created(id)))
}

/// Whether a `Content-Type` is `application/json`, with any parameters.
fn is_json(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn too_large() -> ApiError {
    ApiError::payload_too_large(format!(
        "the body must be at most {} bytes",
        limits::BODY_BYTES_MAX
    ))
}
