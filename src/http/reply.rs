//! Building replies: the one response type, JSON and error replies, the
//! reply of a cached read (ETag, `304`, `Cache-Control`, `X-Cache`), and
//! the answer to `OPTIONS`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};

use super::error::ApiError;
use crate::service::{Lookup, Origin};

/// The response type of every route.
pub type Reply = Response<Full<Bytes>>;

/// Where a read came from, for the client.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
/// A write's version, `<product_id>:<version>`: sent back as a read's
/// `min_version`, it reads the write on any process or host.
pub const X_REVIEWS_VERSION: HeaderName = HeaderName::from_static("x-reviews-version");
/// What browsers and CDNs may cache a read for: short, since writes
/// invalidate server-side caches at once but cannot reach a client's.
const READ_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=10");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");
/// What a read's answer depends on besides its URL: the gzip form, and
/// whether CORS headers are sent (see [`super::cors`]).
const READ_VARY: HeaderValue = HeaderValue::from_static("accept-encoding, origin");

/// A reply with room for every header the service sets, so none regrows.
pub fn reply(status: StatusCode, body: Bytes) -> Reply {
    let mut reply = Response::new(Full::new(body));
    *reply.status_mut() = status;
    reply.headers_mut().reserve(12);
    reply
}

/// Marks `reply` with the version a write to `product_id` left it at.
pub fn with_version(mut reply: Reply, product_id: u64, version: u64) -> Reply {
    let token = format!("{product_id}:{version}");
    let value = HeaderValue::from_str(&token).expect("digits and a colon");
    reply.headers_mut().insert(X_REVIEWS_VERSION, value);
    reply
}

/// A JSON reply.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut reply = reply(status, body.into());
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, APPLICATION_JSON);
    reply
}

/// The JSON reply of an error, with `Allow` on 405, `Retry-After` on 429
/// and 503, `WWW-Authenticate` on 401, and `Connection: close` on 408.
pub fn error(err: &ApiError) -> Reply {
    let mut reply = json(err.status, err.body());
    if let Some(allow) = err.allow {
        reply
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if err.status == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body may still be on its way: don't read it.
        reply
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if err.status == StatusCode::SERVICE_UNAVAILABLE {
        reply
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Some(seconds) = err.retry_after {
        reply
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if err.status == StatusCode::UNAUTHORIZED {
        reply.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"reviews admin\""),
        );
    }
    reply
}

/// The reply of a cached read: the stored bytes as they are — the gzip
/// form when the client accepts it — with `ETag` (one per form),
/// `Vary: accept-encoding, origin`, `Cache-Control` and `X-Cache`; a 304 when
/// `If-None-Match` matches the form it would get.
pub fn cached(request: &HeaderMap, lookup: &Lookup) -> Reply {
    let entry = &lookup.entry;
    let gzip = if accepts_gzip(request.get(header::ACCEPT_ENCODING)) {
        entry.gzip()
    } else {
        None
    };
    let (body, etag) = match gzip {
        Some(gzip) => (gzip, &entry.gzip_etag),
        None => (&entry.body, &entry.etag),
    };
    let etag = HeaderValue::from_maybe_shared(etag.clone()).expect("an ETag is quoted hex");
    let not_modified = entry.found
        && request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| matches_if_none_match(v.as_bytes(), etag.as_bytes()));
    let mut reply = if not_modified {
        reply(StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        let status = if entry.found {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        json(status, body.clone())
    };
    let headers = reply.headers_mut();
    if gzip.is_some() && !not_modified {
        headers.insert(header::CONTENT_ENCODING, GZIP);
    }
    headers.insert(header::ETAG, etag);
    headers.insert(header::VARY, READ_VARY);
    headers.insert(header::CACHE_CONTROL, READ_CACHE_CONTROL);
    headers.insert(X_CACHE, HeaderValue::from_static(x_cache(lookup.origin)));
    reply
}

/// Whether an `Accept-Encoding` value accepts gzip (`gzip` or `*`, with a
/// q-value above zero).
fn accepts_gzip(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
    })
}

/// The `X-Cache` value of a read's origin.
fn x_cache(origin: Origin) -> &'static str {
    match origin {
        Origin::L1 => "HIT-L1",
        Origin::Redis => "HIT-REDIS",
        Origin::Store => "MISS",
        Origin::Stale => "STALE",
    }
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, lists, `*`).
pub fn matches_if_none_match(header: &[u8], etag: &[u8]) -> bool {
    header.split(|&b| b == b',').any(|candidate| {
        let candidate = candidate.trim_ascii();
        let candidate = candidate.strip_prefix(b"W/").unwrap_or(candidate);
        candidate == b"*" || candidate == etag
    })
}

/// The answer to `OPTIONS`: what the path takes. What a CORS preflight
/// may do is added by [`super::cors::Cors::apply`], per origin.
pub fn preflight(allow: &'static str) -> Reply {
    let mut reply = reply(StatusCode::NO_CONTENT, Bytes::new());
    reply
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_takes_q_values_and_star() {
        let accepts = |v: &str| accepts_gzip(Some(&HeaderValue::from_str(v).unwrap()));
        assert!(accepts("gzip"));
        assert!(accepts("br, gzip;q=0.8"));
        assert!(accepts("*"));
        assert!(accepts("GZIP"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("br, deflate"));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_star() {
        let tag = b"\"00ff\"";
        assert!(matches_if_none_match(b"\"00ff\"", tag));
        assert!(matches_if_none_match(b"\"x\", W/\"00ff\"", tag));
        assert!(matches_if_none_match(b"*", tag));
        assert!(!matches_if_none_match(b"\"0000\"", tag));
    }
}
