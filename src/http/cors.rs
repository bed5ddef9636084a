//! CORS: who may call the API from a web page.
//!
//! Reads are open to any page (`Access-Control-Allow-Origin: *`). Writes
//! (and the admin routes) are allowed from the service's own origin, from
//! the origins in `--cors-origins`, and from any origin only when that list
//! says `*`. A request without `Origin` is not a browser's cross-site call
//! and goes ahead; a write whose `Origin` is not allowed is refused (403)
//! even if a browser sent it without asking first. A preflight for a write
//! from an origin that is not allowed gets no `Access-Control-Allow-*`
//! headers, and a read's preflight allows only reads: a browser must never
//! cache a read's answer as leave to write.
//!
//! CORS headers go only on answers to requests that carry `Origin` (every
//! cross-origin call a browser makes does): a server-side caller or a
//! same-origin page has no use for ~130 bytes of them on every answer. So
//! that a shared cache never hands a browser an answer stored for a caller
//! without `Origin` (or for another origin), every answer to a GET or HEAD
//! says `Vary: Origin` (a read's says `Vary: accept-encoding, origin`).

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response};

/// Request headers a read may send cross-origin.
const READ_HEADERS: &str = "if-none-match, x-request-id";
/// Request headers a write may send cross-origin.
const WRITE_HEADERS: &str = "content-type, idempotency-key, authorization, x-request-id";
/// Response headers a page may read.
const EXPOSE: &str =
    "x-request-id, x-cache, etag, retry-after, idempotent-replayed, x-reviews-version";

/// Which origins may write.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    any: bool,
    origins: Vec<String>,
}

/// What a response tells the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// This origin, echoed, with `Vary: Origin`.
    Origin(HeaderValue),
    /// No CORS headers: the page may not read the answer.
    Nothing,
}

/// Parses an origin of `--cors-origins`: `*`, or `http(s)://host[:port]`
/// (no path), normalised to lower case without a default port.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_string());
    }
    normalize(text)
        .ok_or_else(|| format!("{text:?} is not an origin: expected http(s)://host[:port] or *"))
}

/// `scheme://host[:port]` in lower case, the scheme's default port
/// dropped; `None` for anything else (a path, another scheme, `null`).
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://")?;
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let bad = |c: char| c.is_whitespace() || "/?#@".contains(c);
    if rest.is_empty() || rest.chars().any(bad) {
        return None;
    }
    let rest = rest.strip_suffix(default).unwrap_or(rest);
    Some(format!("{scheme}://{rest}"))
}

/// The host and port an origin or a `Host` header names, the port `None`
/// when not given.
fn host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':'));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

impl Cors {
    /// The policy of `origins` (as [`parse_origin`] gives them).
    pub fn new(origins: &[String]) -> Cors {
        Cors {
            any: origins.iter().any(|o| o == "*"),
            origins: origins.iter().filter(|o| *o != "*").cloned().collect(),
        }
    }

    /// The named origins (not `*`): what the widget may take as its API.
    pub fn listed(&self) -> &[String] {
        &self.origins
    }

    /// Whether a write carrying `headers` may go ahead: no `Origin`, the
    /// service's own origin, a listed one, or any when `*` is configured.
    pub fn allows_write(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Some(origin) = origin.to_str().ok().and_then(normalize) else {
            // `null` (a sandboxed frame, a file) or garbage.
            return self.any;
        };
        self.any || self.origins.contains(&origin) || same_origin(&origin, headers)
    }

    /// The grant of a response to a request with `method` and `headers`,
    /// on a route whose non-read methods are writes.
    pub fn grant(&self, method: &Method, headers: &HeaderMap, admin: bool) -> Grant {
        let asked = if method == Method::OPTIONS {
            headers
                .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        } else {
            Some(method.clone())
        };
        match asked {
            // A read, or a plain OPTIONS (not a preflight): open to all —
            // but an admin's reads, which only writers' origins may make.
            None | Some(Method::GET | Method::HEAD) if !admin => Grant::Any,
            _ if !self.allows_write(headers) => Grant::Nothing,
            _ => match headers.get(header::ORIGIN) {
                Some(origin) if !self.any => Grant::Origin(origin.clone()),
                _ => Grant::Any,
            },
        }
    }

    /// Adds the grant's headers to a reply; for a preflight, also what it
    /// allows: `methods` (what the route takes) for a write, reads only
    /// for a read.
    pub fn apply<B>(
        &self,
        grant: &Grant,
        method: &Method,
        reply: &mut Response<B>,
        preflight: Option<&'static str>,
    ) {
        let headers = reply.headers_mut();
        let read = method == Method::GET || method == Method::HEAD;
        if (read || matches!(grant, Grant::Origin(_))) && !headers.contains_key(header::VARY) {
            // A read's answer from the cache names Origin in its own Vary.
            headers.insert(header::VARY, HeaderValue::from_static("origin"));
        }
        let origin = match grant {
            Grant::Nothing => return,
            Grant::Any => HeaderValue::from_static("*"),
            Grant::Origin(origin) => origin.clone(),
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        let Some(methods) = preflight else {
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE),
            );
            return;
        };
        let (methods, allowed) = match grant {
            Grant::Any if !self.any => ("GET, HEAD", READ_HEADERS),
            _ => (methods, WRITE_HEADERS),
        };
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(allowed),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
}

/// Whether `origin` (normalised) names the host the request was sent to.
/// Only the host and port are compared: behind a proxy that ends TLS the
/// scheme differs, and a proxy may pass `Host` without the port.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let (scheme, authority) = origin.split_once("://").unwrap_or(("", origin));
    let (origin_host, origin_port) = host_port(authority);
    let (host, port) = host_port(host.trim());
    let default = if scheme == "https" { "443" } else { "80" };
    origin_host.eq_ignore_ascii_case(host)
        && port.is_none_or(|port| port == origin_port.unwrap_or(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins_are_parsed_and_normalised() {
        assert_eq!(
            parse_origin("HTTPS://Shop.Example:443/").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            parse_origin("http://a.example:8080").unwrap(),
            "http://a.example:8080"
        );
        assert_eq!(parse_origin("*").unwrap(), "*");
        for bad in [
            "shop.example",
            "ftp://a.example",
            "https://a.example/path",
            "null",
            "https://",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_come_from_the_own_origin_and_listed_ones() {
        let cors = Cors::new(&["https://shop.example".into()]);
        let host = "api.example";
        assert!(cors.allows_write(&request(None, host)), "not a browser");
        assert!(cors.allows_write(&request(Some("https://shop.example"), host)));
        assert!(
            cors.allows_write(&request(Some("https://api.example"), host)),
            "own origin"
        );
        assert!(cors.allows_write(&request(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")));
        assert!(!cors.allows_write(&request(Some("http://127.0.0.1:3001"), "127.0.0.1:3000")));
        assert!(!cors.allows_write(&request(Some("https://evil.example"), host)));
        assert!(!cors.allows_write(&request(Some("null"), host)));
        let any = Cors::new(&["*".into()]);
        assert!(any.allows_write(&request(Some("https://evil.example"), host)));
    }

    #[test]
    fn grants() {
        let cors = Cors::new(&["https://shop.example".into()]);
        let mut preflight = request(Some("https://evil.example"), "api.example");
        preflight.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            "PUT".parse().unwrap(),
        );
        assert_eq!(
            cors.grant(&Method::OPTIONS, &preflight, false),
            Grant::Nothing
        );
        preflight.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            "GET".parse().unwrap(),
        );
        assert_eq!(cors.grant(&Method::OPTIONS, &preflight, false), Grant::Any);
        let listed = request(Some("https://shop.example"), "api.example");
        assert_eq!(
            cors.grant(&Method::POST, &listed, false),
            Grant::Origin("https://shop.example".parse().unwrap())
        );
        assert_eq!(cors.grant(&Method::GET, &preflight, false), Grant::Any);
        // An admin's read is open only to the origins that may write.
        assert_eq!(
            cors.grant(&Method::OPTIONS, &preflight, true),
            Grant::Nothing
        );
        assert_eq!(cors.grant(&Method::GET, &preflight, true), Grant::Nothing);
        assert_eq!(
            cors.grant(&Method::GET, &listed, true),
            Grant::Origin("https://shop.example".parse().unwrap())
        );
    }
}
