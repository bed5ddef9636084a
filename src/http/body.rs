//! Request bodies the edge does not keep: whether a request has one, a
//! body that tells when it was read to its end, and reading one only to
//! let the connection go on.
//!
//! A request whose body is left unread cannot be followed by another on
//! the same connection: its bytes stand in the way. The server then
//! closes the connection after the answer, so the answer says so
//! (`Connection: close`) instead of the client's next request failing on a
//! connection cut under it. A body a route does not take is read (at most
//! 64 KiB, within the client timeout) and dropped, so the connection goes
//! on; on a write (a vote, a report, a restore) it must be JSON, as every
//! write's body must.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{self, HeaderMap};

use super::error::ApiError;
use crate::model::limits;

/// Whether a request's head announces a body (RFC 9112 §6.3).
pub fn announced(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|n| n.as_bytes() != b"0")
}

/// A body that records, in a flag its caller owns, when it has been read
/// to its end.
pub struct Tracked<'a, B> {
    inner: B,
    ended: &'a AtomicBool,
}

impl<'a, B> Tracked<'a, B> {
    /// `body`, setting `ended` once it is read to its end.
    pub fn new(body: B, ended: &'a AtomicBool) -> Tracked<'a, B> {
        Tracked { inner: body, ended }
    }
}

impl<B: Body + Unpin> Body for Tracked<'_, B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads a whole body of at most 64 KiB (413, declared or streamed) within
/// `deadline` (408).
pub async fn collect<B>(headers: &HeaderMap, body: B, deadline: Duration) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits::BODY_BYTES_MAX as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(body, limits::BODY_BYTES_MAX).collect();
    match tokio::time::timeout(deadline, collect).await {
        Err(_) => Err(ApiError::timeout(format!(
            "the body did not arrive within {} ms",
            deadline.as_millis()
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "could not read the body: {e}"
        ))),
    }
}

/// Reads a body a route does not take, and drops it. A write's must be
/// JSON like any write's — its content type (415) and its text (400:
/// well-formed JSON, whatever it holds; an empty body is no body) — though
/// its content is not used; every body must fit the limit (413) and arrive
/// within `deadline` (408).
pub async fn discard<B>(
    headers: &HeaderMap,
    body: B,
    deadline: Duration,
    write: bool,
) -> Result<(), ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !write {
        collect(headers, body, deadline).await?;
        return Ok(());
    }
    // The same checks, in the same order, as a body a write does take.
    let bytes = super::reviews::read_body(headers, body, deadline).await?;
    if bytes.is_empty() {
        return Ok(());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map(drop)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

fn too_large() -> ApiError {
    ApiError::payload_too_large(format!(
        "the body must be at most {} bytes",
        limits::BODY_BYTES_MAX
    ))
}
