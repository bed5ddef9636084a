//! The moderator's routes, enabled only when an admin token is configured
//! (`--admin-token` / `REVIEWS_ADMIN_TOKEN`; otherwise they are 404 like
//! any unknown path):
//!
//! - `GET /admin/reported?before=&limit=`: reported (hidden) reviews,
//!   highest id first, with their product; `next_before` pages on;
//! - `PUT /admin/reviews/:review_id/restore`: shows a reported review
//!   again, counted back into its product's meta and every cached copy
//!   dropped, like any write (204; 404 when no reported review has the id).
//!
//! - `PUT /admin/reviews/:review_id/response` with `{"response": "…"}`:
//!   sets the seller's answer to a review (at most 1000 characters, the
//!   text rules of a review's body), `{"response": null}` clears it; 204,
//!   404 for an unknown review; every cached copy of its product is
//!   dropped, like any write.
//!
//! All need `Authorization: Bearer <token>` (401 without it or with
//! another token), compared in constant time.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderMap};

use super::error::ApiError;
use super::reply::{Reply, json, reply, with_version};
use super::{new_review, query};
use crate::service::{Outcome, Service, Store, Write, WriteGuard, render};

/// The shortest admin token accepted: guessing one must be hopeless.
pub const TOKEN_MIN: usize = 16;

/// The admin token, if admin routes are enabled.
#[derive(Clone, Default)]
pub struct Admin {
    token: Option<Vec<u8>>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: configurations end up in logs.
        f.debug_struct("Admin")
            .field("enabled", &self.enabled())
            .finish()
    }
}

impl Admin {
    /// Admin routes behind `token`; none without one.
    pub fn new(token: Option<&str>) -> Admin {
        Admin {
            token: token.map(|t| t.as_bytes().to_vec()),
        }
    }

    /// Whether the admin routes exist.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Checks the request's bearer token: 401 when it is missing or wrong,
    /// 400 when the request carries two `Authorization` headers.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(secret) = &self.token else {
            return Err(ApiError::unauthorized("admin routes are disabled"));
        };
        let given = super::framing::single(headers, &header::AUTHORIZATION)?
            .map(|v| v.as_bytes())
            .and_then(|v| {
                let (scheme, token) = v.split_at_checked(7)?;
                scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
            });
        match given {
            None => Err(ApiError::unauthorized(
                "admin routes need an Authorization: Bearer <admin token> header",
            )),
            Some(token) if same_secret(token.trim_ascii(), secret) => Ok(()),
            Some(_) => Err(ApiError::unauthorized("the admin token is wrong")),
        }
    }
}

/// Whether `given` equals `secret`, in time that depends only on the
/// secret's length: never on where, or whether, they differ.
fn same_secret(given: &[u8], secret: &[u8]) -> bool {
    let mut diff = u64::from(given.len() != secret.len());
    for (i, &s) in secret.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!s);
        diff |= u64::from(g ^ s);
    }
    std::hint::black_box(diff) == 0
}

/// `GET /admin/reported`.
pub async fn reported<S: Store>(
    service: &Service<S>,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let (before, limit) = query::parse_reported_query(query)?;
    let reviews = service
        .reported(before, limit)
        .await
        .map_err(ApiError::store)?;
    let next = (reviews.len() == limit as usize)
        .then(|| reviews.last().map(|r| r.review_id))
        .flatten();
    Ok(json(StatusCode::OK, render::reported(&reviews, next)))
}

/// `PUT /admin/reviews/:review_id/restore`.
pub async fn restore<S: Store>(service: &Service<S>, review_id: u64) -> Result<Reply, ApiError> {
    let guard = WriteGuard {
        now_ms: crate::clock::now_ms(),
        ..WriteGuard::default()
    };
    let outcome = service
        .write(Write::Restore { review_id }, guard)
        .await
        .map_err(ApiError::store)?;
    match outcome {
        Outcome::Written(w) => Ok(with_version(
            reply(StatusCode::NO_CONTENT, Bytes::new()),
            w.value,
            w.version,
        )),
        _ => Err(ApiError::not_found(format!(
            "no reported review {review_id}"
        ))),
    }
}

/// The longest seller's response, in characters.
pub const RESPONSE_MAX: usize = 1000;

/// `PUT /admin/reviews/:review_id/response` with its body read.
pub async fn respond<S: Store>(
    service: &Service<S>,
    review_id: u64,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let response = response(body)?;
    let guard = WriteGuard {
        now_ms: crate::clock::now_ms(),
        ..WriteGuard::default()
    };
    let write = Write::Respond {
        review_id,
        response,
    };
    let outcome = service.write(write, guard).await.map_err(ApiError::store)?;
    match outcome {
        Outcome::Written(w) => Ok(with_version(
            reply(StatusCode::NO_CONTENT, Bytes::new()),
            w.value,
            w.version,
        )),
        _ => Err(ApiError::not_found(format!("review {review_id} not found"))),
    }
}

/// The body of a response: `{"response": "text"}` or `{"response": null}`.
fn response(body: &[u8]) -> Result<Option<String>, ApiError> {
    let fields = new_review::object(body)?;
    if let Some(unknown) = fields.keys().find(|k| *k != "response") {
        return Err(ApiError::unprocessable(format!(
            "unknown field `{}`; expected response",
            new_review::shorten(unknown)
        )));
    }
    match new_review::required(&fields, "response")? {
        serde_json::Value::Null => Ok(None),
        _ => new_review::text(&fields, "response", 1..=RESPONSE_MAX, true)
            .map(Some)
            .map_err(|e| {
                if e.message.ends_with("must not be blank") {
                    ApiError::unprocessable("response must not be blank; send null to clear it")
                } else {
                    e
                }
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_text_or_null() {
        assert_eq!(response(br#"{"response": null}"#).unwrap(), None);
        assert_eq!(
            response(br#"{"response": "Thanks!\nWe fixed the zipper."}"#).unwrap(),
            Some("Thanks!\nWe fixed the zipper.".into())
        );
        for (body, needle) in [
            (r#"{"response": "  "}"#, "send null to clear"),
            (r#"{"response": 5}"#, "response must be a string"),
            (r#"{}"#, "missing field `response`"),
            (r#"{"response": null, "x": 1}"#, "unknown field `x`"),
            (r#"{"response": "a\u0000"}"#, "control characters"),
        ] {
            let e = response(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 422, "{body}");
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
        let long = format!(r#"{{"response": "{}"}}"#, "é".repeat(1001));
        assert!(
            response(long.as_bytes())
                .unwrap_err()
                .message
                .contains("got 1001")
        );
    }

    #[test]
    fn tokens_compare_whole() {
        let secret = b"correct horse battery staple";
        assert!(same_secret(secret, secret));
        assert!(!same_secret(b"correct horse battery stapl", secret));
        assert!(!same_secret(b"correct horse battery staple!", secret));
        assert!(!same_secret(b"", secret));
        assert!(!same_secret(b"Correct horse battery staple", secret));
    }

    #[test]
    fn bearer_tokens() {
        let admin = Admin::new(Some("0123456789abcdef"));
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            admin.authorize(&h)
        };
        assert!(with("Bearer 0123456789abcdef").is_ok());
        assert!(with("bearer 0123456789abcdef").is_ok());
        assert_eq!(with("Bearer 0123456789abcdeF").unwrap_err().status, 401);
        assert_eq!(with("Basic 0123456789abcdef").unwrap_err().status, 401);
        assert_eq!(admin.authorize(&HeaderMap::new()).unwrap_err().status, 401);
        let mut twice = HeaderMap::new();
        twice.append(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef".parse().unwrap(),
        );
        twice.append(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert_eq!(admin.authorize(&twice).unwrap_err().status, 400);
        assert!(format!("{admin:?}").contains("enabled: true"));
        assert!(!format!("{admin:?}").contains("0123"));
    }
}
