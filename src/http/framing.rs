//! What HTTP/1.1 asks of every request before its route is looked at
//! (RFC 9110, RFC 9112), checked on the head hyper parsed:
//!
//! - **Method** (RFC 9110 §9.1): one the server recognizes — those of RFC
//!   9110, `PATCH` (RFC 5789) and `QUERY` (the IETF's safe method with a
//!   body) — or 501. Methods are case-sensitive: `get` is not `GET`. A
//!   recognized method a path does not take is the route's 405 with
//!   `Allow`.
//! - **`Host`** (RFC 9112 §3.2): exactly one on an HTTP/1.1 request (at
//!   most one on HTTP/1.0), and a valid `uri-host[:port]` (RFC 3986 §3.2.2:
//!   no user info, no spaces); otherwise 400. The service never uses it to
//!   decide anything (its own origins are configuration, see [`super::cors`]).
//! - **`Transfer-Encoding`** (RFC 9112 §6.1): `chunked` at most once, and
//!   no other coding: a coding the server does not implement is a 501 (a
//!   body sent `gzip, chunked` must not be read as if it were plain), and
//!   `chunked` twice a 400 — a proxy in front may frame such a body
//!   differently (request smuggling). Either way the body is left unread,
//!   so the answer closes the connection (see [`super::body`]).
//!
//! Fields a request may carry once and the service reads (`Content-Type`
//! of a write, `Authorization` of an admin call) are checked where they
//! are read ([`single`]): two of them are a 400, never "the first wins".
//!
//! On the hot path (a GET with one `Host`) this is one header look-up, a
//! scan of the `Host` value's bytes, one of `Transfer-Encoding` (absent)
//! and a comparison of the method: no allocation.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Version};

use super::error::ApiError;
use super::query::shorten;

/// The methods the server recognizes, as the 501 names them.
pub const RECOGNIZED: &str = "GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, QUERY";

/// Checks a request's method, `Host` and transfer codings (see the module
/// docs): 501 or 400, naming what is wrong.
pub fn check(parts: &Parts) -> Result<(), ApiError> {
    recognized(&parts.method)?;
    host(&parts.headers, parts.version)?;
    codings(&parts.headers)
}

/// 501 for a method the server does not recognize.
fn recognized(method: &Method) -> Result<(), ApiError> {
    let known = *method == Method::GET
        || *method == Method::HEAD
        || *method == Method::POST
        || *method == Method::PUT
        || *method == Method::OPTIONS
        || *method == Method::DELETE
        || *method == Method::PATCH
        || *method == Method::TRACE
        || *method == Method::CONNECT
        || method.as_str() == "QUERY";
    if known {
        return Ok(());
    }
    Err(ApiError::not_implemented(format!(
        "method {} is not one this server recognizes ({RECOGNIZED}; methods are \
         case-sensitive)",
        shorten(method.as_str())
    )))
}

/// 400 for a missing (HTTP/1.1), repeated or invalid `Host`.
fn host(headers: &HeaderMap, version: Version) -> Result<(), ApiError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => Err(ApiError::bad_request(
            "an HTTP/1.1 request must carry a Host header",
        )),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "the request carries more than one Host header",
        )),
        (Some(host), None) if valid_host(host.as_bytes()) => Ok(()),
        (Some(host), None) => Err(ApiError::bad_request(format!(
            "the Host header must be a host name or address with an optional port, got \"{}\"",
            shorten(&String::from_utf8_lossy(host.as_bytes()))
        ))),
    }
}

/// Whether `value` is `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986
/// §3.2.2): a registered name or IPv4 address of unreserved characters,
/// sub-delimiters and percent-escapes, or a bracketed IPv6 address (or
/// IPvFuture); then an optional port of digits. Empty is valid (the field
/// of a request whose target has no authority).
pub fn valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.strip_prefix(b"[") {
        Some(rest) => {
            let Some(end) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            if !ip_literal(&rest[..end]) {
                return false;
            }
            (&[][..], &rest[end + 1..])
        }
        None => {
            let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
            (&value[..end], &value[end..])
        }
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    port_ok && reg_name(host)
}

/// `*( unreserved / pct-encoded / sub-delims )`.
fn reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        match name[i] {
            b'%' => {
                let escape = name.get(i + 1..i + 3);
                if !escape.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
                continue;
            }
            b if unreserved_or_sub_delim(b) => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

fn unreserved_or_sub_delim(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b)
}

/// What goes between `[` and `]`: an IPv6 address, or `v` HEXDIG+ `.`
/// followed by unreserved characters, sub-delimiters and colons.
fn ip_literal(inside: &[u8]) -> bool {
    if let Some(future) = inside.strip_prefix(b"v").or(inside.strip_prefix(b"V")) {
        let dot = future.iter().position(|&b| b == b'.');
        return dot.is_some_and(|dot| {
            dot > 0
                && future[..dot].iter().all(u8::is_ascii_hexdigit)
                && future.len() > dot + 1
                && future[dot + 1..]
                    .iter()
                    .all(|&b| b == b':' || unreserved_or_sub_delim(b))
        });
    }
    std::str::from_utf8(inside).is_ok_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
}

/// 501 for a transfer coding other than `chunked`, 400 for `chunked`
/// more than once (in one field or over several lines).
fn codings(headers: &HeaderMap) -> Result<(), ApiError> {
    let mut chunked = 0;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        let text = value.to_str().unwrap_or("?");
        for coding in text.split(',').map(str::trim) {
            if !coding.eq_ignore_ascii_case("chunked") {
                return Err(ApiError::not_implemented(format!(
                    "Transfer-Encoding {} is not supported: send the body chunked or with \
                     Content-Length",
                    shorten(coding)
                )));
            }
            chunked += 1;
        }
    }
    if chunked > 1 {
        return Err(ApiError::bad_request(
            "Transfer-Encoding names chunked more than once: the body's framing is \
             ambiguous (the connection is closed)",
        ));
    }
    Ok(())
}

/// The one value of a field a request may carry once: `None` when absent,
/// a 400 naming the field when it is there twice.
pub fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (first, None) => Ok(first),
        (Some(_), Some(_)) | (None, Some(_)) => Err(ApiError::bad_request(format!(
            "the request carries more than one {} header",
            canonical(name)
        ))),
    }
}

/// A field's name as RFC 9110 spells it, for messages.
fn canonical(name: &HeaderName) -> &'static str {
    match *name {
        header::CONTENT_TYPE => "Content-Type",
        header::AUTHORIZATION => "Authorization",
        header::HOST => "Host",
        _ => "such",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_by_rfc_3986() {
        for good in [
            "shop.example",
            "shop.example:3000",
            "127.0.0.1:80",
            "[::1]:3000",
            "[2001:db8::7]",
            "[v1.fe80::a+en1]",
            "xn--bcher-kva.example",
            "a_b~c!$&'()*+,;=",
            "sh%6fp.example",
            "",
            "host:",
        ] {
            assert!(valid_host(good.as_bytes()), "{good}");
        }
        for bad in [
            "a b",
            "u@a.example",
            "a.example:80:80",
            "a.example:8o",
            "[::1",
            "[::1]x",
            "[nope]",
            "[v.x]",
            "a.example/path",
            "%zz.example",
            "shop.example\t",
            "é.example",
            "a\"b",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = hyper::Request::builder().method(method).uri("/healthz");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn methods_hosts_and_codings() {
        let status = |method, headers: &[(&str, &str)]| {
            check(&parts(method, headers)).map_err(|e| e.status.as_u16())
        };
        let host = ("Host", "shop.example");
        assert_eq!(status("GET", &[host]), Ok(()));
        assert_eq!(status("QUERY", &[host]), Ok(()));
        assert_eq!(status("PATCH", &[host]), Ok(()));
        assert_eq!(status("get", &[host]), Err(501));
        assert_eq!(status("BREW", &[host]), Err(501));
        assert_eq!(status("GET", &[]), Err(400));
        assert_eq!(status("GET", &[host, ("Host", "other.example")]), Err(400));
        assert_eq!(status("GET", &[("Host", "u@a.example")]), Err(400));
        let chunked = ("Transfer-Encoding", "chunked");
        assert_eq!(status("POST", &[host, chunked]), Ok(()));
        assert_eq!(status("POST", &[host, chunked, chunked]), Err(400));
        assert_eq!(
            status("POST", &[host, ("Transfer-Encoding", "chunked, Chunked")]),
            Err(400)
        );
        assert_eq!(
            status("POST", &[host, ("Transfer-Encoding", "gzip, chunked")]),
            Err(501)
        );
    }

    #[test]
    fn fields_read_once_are_refused_twice() {
        let mut headers = HeaderMap::new();
        assert_eq!(single(&headers, &header::CONTENT_TYPE).unwrap(), None);
        headers.append(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(single(&headers, &header::CONTENT_TYPE).unwrap().is_some());
        headers.append(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let err = single(&headers, &header::CONTENT_TYPE).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("Content-Type"), "{}", err.message);
    }
}
