//! CORS: who may call the API from a web page.
//!
//! Reads are open to any page (`Access-Control-Allow-Origin: *`). Writes
//! (and the admin routes) are allowed from the service's own origins, from
//! the origins in `--cors-origins`, and from any origin only when that list
//! says `*`. The service's own origins are configuration
//! (`--public-origins`, by default the listen address and `localhost` on
//! its port: [`default_public_origins`]), never the request's `Host`: a
//! page served from any name that resolves to the service (DNS rebinding)
//! names that name in both `Host` and `Origin`, and must not pass for the
//! service's own. A request without `Origin` is not a browser's cross-site call
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

use std::net::SocketAddr;

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
    /// `--cors-origins` but `*`: other sites' pages that may write.
    origins: Vec<String>,
    /// The service's own origins (`--public-origins`), normalised.
    own: Vec<String>,
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

/// Parses an origin of `--public-origins`: `http(s)://host[:port]`, as
/// [`parse_origin`] but never `*` (the service's own origins are names).
pub fn parse_public_origin(text: &str) -> Result<String, String> {
    match parse_origin(text)? {
        any if any == "*" => Err(
            "a public origin names the scheme, host and port shoppers' browsers use              (http(s)://host[:port]); * is for --cors-origins"
                .to_string(),
        ),
        origin => Ok(origin),
    }
}

/// The service's own origins when `--public-origins` does not name them:
/// `http://` the address it listens on, and `http://localhost` on its port
/// (on an unspecified address such as `0.0.0.0`, the loopback address in
/// its place).
pub fn default_public_origins(listening: SocketAddr) -> Vec<String> {
    let port = listening.port();
    let ip = match listening.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let mut own = vec![format!("http://{}", SocketAddr::new(ip, port))];
    own.push(format!("http://localhost:{port}"));
    own.iter().filter_map(|o| normalize(o)).collect()
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

impl Cors {
    /// The policy of `origins` (as [`parse_origin`] gives them) for a
    /// service whose own origins are `own` (as [`parse_public_origin`]
    /// gives them).
    pub fn new(origins: &[String], own: &[String]) -> Cors {
        Cors {
            any: origins.iter().any(|o| o == "*"),
            origins: origins.iter().filter(|o| *o != "*").cloned().collect(),
            own: own.to_vec(),
        }
    }

    /// The named origins (not `*`): what the widget may take as its API.
    pub fn listed(&self) -> &[String] {
        &self.origins
    }

    /// Whether a write carrying `headers` may go ahead: no `Origin`, one of
    /// the service's own origins, a listed one, or any when `*` is
    /// configured. The request's `Host` plays no part.
    pub fn allows_write(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Some(origin) = origin.to_str().ok().and_then(normalize) else {
            // `null` (a sandboxed frame, a file) or garbage.
            return self.any;
        };
        self.any || self.origins.contains(&origin) || self.own.contains(&origin)
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
    fn writes_come_from_the_own_origins_and_listed_ones_whatever_the_host() {
        let own = [parse_public_origin("https://api.example").unwrap()];
        let cors = Cors::new(&["https://shop.example".into()], &own);
        let host = "api.example";
        assert!(cors.allows_write(&request(None, host)), "not a browser");
        assert!(cors.allows_write(&request(Some("https://shop.example"), host)));
        assert!(
            cors.allows_write(&request(Some("https://api.example"), host)),
            "own origin"
        );
        assert!(
            cors.allows_write(&request(Some("https://API.example:443"), "other.example")),
            "own origin, whatever Host says"
        );
        // DNS rebinding: a page served from a name that resolves to the
        // service names that name in Host and in Origin alike.
        for (origin, host) in [
            ("http://evil.example:3801", "evil.example:3801"),
            ("http://api.example", "api.example"),
            ("http://127.0.0.1:3000", "127.0.0.1:3000"),
        ] {
            assert!(!cors.allows_write(&request(Some(origin), host)), "{origin}");
        }
        assert!(!cors.allows_write(&request(Some("https://evil.example"), host)));
        assert!(!cors.allows_write(&request(Some("null"), host)));
        let any = Cors::new(&["*".into()], &own);
        assert!(any.allows_write(&request(Some("https://evil.example"), host)));
    }

    #[test]
    fn public_origins_default_to_the_listen_address_and_localhost() {
        let listening = |a: &str| default_public_origins(a.parse().unwrap());
        assert_eq!(
            listening("127.0.0.1:3000"),
            ["http://127.0.0.1:3000", "http://localhost:3000"]
        );
        assert_eq!(
            listening("0.0.0.0:80"),
            ["http://127.0.0.1", "http://localhost"]
        );
        assert_eq!(
            listening("[::]:3000"),
            ["http://[::1]:3000", "http://localhost:3000"]
        );
        assert_eq!(
            parse_public_origin("HTTPS://Shop.Example.com/").unwrap(),
            "https://shop.example.com"
        );
        assert!(parse_public_origin("*").is_err());
    }

    #[test]
    fn grants() {
        let cors = Cors::new(&["https://shop.example".into()], &[]);
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
