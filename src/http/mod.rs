//! The HTTP edge: turns a request into a call of the [`Service`] and its
//! answer into a response. It routes ([`routes`]), parses paths, queries
//! and bodies into typed values ([`query`], [`new_review`]), and renders
//! replies and the JSON error contract ([`reply`], [`error`]); one file per
//! resource holds its handlers ([`reviews`], [`votes`], [`admin`],
//! [`products`], [`photos`], [`ops`], [`assets`]).
//!
//! Writes are guarded here ([`WriteSafety`]): who the client is
//! ([`client`]), which web pages may write ([`cors`]), per-client rate
//! limits ([`crate::limits`]), and the `Idempotency-Key` and voter each
//! write carries to the store ([`idempotency`]).
//!
//! Order of checks: the request's framing ([`framing`]) — a method the
//! server recognizes (501), one valid `Host` (400), no transfer coding but
//! chunked, once (501, 400) — path syntax (400), method (405); for a write
//! or an admin call, its origin (403), the admin token (401), the client's
//! rate limit (429);
//! content type (415), size (413), body, query and `Idempotency-Key`
//! (400/422), then existence (404). Every response gets `X-Request-Id`
//! (echoed or assigned) and CORS headers, and is counted in `/metrics`
//! under its route.

pub mod admin;
pub mod assets;
pub mod atelier;
pub mod body;
pub mod client;
pub mod cors;
pub mod error;
pub mod framing;
pub mod idempotency;
pub mod new_review;
pub mod ops;
pub mod photos;
pub mod products;
pub mod query;
pub mod reply;
pub mod reviews;
pub mod routes;
pub mod votes;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Body;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode};

use self::admin::Admin;
use self::client::{Peer, TrustedProxies};
use self::cors::{Cors, Grant};
use self::error::ApiError;
use self::idempotency::Guarding;
use self::reply::Reply;
use self::routes::Route;
use crate::limits::{Class, ClientKey, Decision, Limiter};
use crate::metrics::{Metrics, RouteLabel};
use crate::service::{Service, Store};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest request head the edge accepts (the server's read buffer):
/// past it, a 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What guards the API's writes (see the README's "Write safety").
pub struct WriteSafety {
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// Which web pages may write.
    pub cors: Cors,
    /// The admin routes' token, if they are enabled.
    pub admin: Admin,
    /// Per-client rate limits on posts and votes.
    pub limiter: Limiter,
    /// How long an `Idempotency-Key` is kept.
    pub idempotency_ttl: Duration,
    /// How long a client's helpful vote on a review is remembered (zero:
    /// every vote counts).
    pub vote_window: Duration,
}

impl Default for WriteSafety {
    /// Keys honoured for a day; no proxies trusted; writes from the
    /// service's own origin only; no admin routes, no limits, every vote
    /// counted.
    fn default() -> WriteSafety {
        WriteSafety {
            trusted_proxies: TrustedProxies::default(),
            cors: Cors::default(),
            admin: Admin::default(),
            limiter: Limiter::unlimited(),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            vote_window: Duration::ZERO,
        }
    }
}

/// The edge of one process: the service it calls, and what each request
/// needs besides.
pub struct Edge<S> {
    service: Arc<Service<S>>,
    safety: WriteSafety,
    /// Past this many requests in flight, new ones get 503 at once.
    max_in_flight: usize,
    /// How long a request body may take to arrive.
    body_timeout: Duration,
    /// This worker's slot under a supervisor, for the logs.
    worker: Option<String>,
    /// Prefix of assigned request ids: unique per process start.
    id_prefix: String,
    next_id: AtomicU64,
}

impl<S: Store> Edge<S> {
    /// An edge calling `service`, shedding load past `max_in_flight`
    /// requests, giving a body `body_timeout` to arrive; `worker` names the
    /// process in its log lines.
    pub fn new(
        service: Arc<Service<S>>,
        max_in_flight: usize,
        body_timeout: Duration,
        worker: Option<String>,
    ) -> Edge<S> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Edge {
            service,
            safety: WriteSafety::default(),
            max_in_flight,
            body_timeout,
            worker,
            id_prefix: format!("{:x}{:05x}", std::process::id(), nanos & 0xfffff),
            next_id: AtomicU64::new(1),
        }
    }

    /// Guards writes with `safety`.
    pub fn with_safety(mut self, safety: WriteSafety) -> Edge<S> {
        self.safety = safety;
        self
    }

    /// The service behind the edge.
    pub fn service(&self) -> &Arc<Service<S>> {
        &self.service
    }

    /// Answers one request from the connection's `peer`. Never panics on
    /// any input.
    pub async fn handle<B>(&self, req: Request<B>, peer: Peer) -> Reply
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| v.len() <= 128 && !v.is_empty())
            .cloned()
            .unwrap_or_else(|| self.assign_request_id());
        let (parts, body) = req.into_parts();
        let announced = body::announced(&parts.headers);
        let read_to_end = std::sync::atomic::AtomicBool::new(false);
        let body = body::Tracked::new(body, &read_to_end);
        let routed = routes::route(parts.uri.path(), &parts.method);
        let grant = match routed.route {
            // Only a page's cross-origin call needs CORS headers, and a
            // browser sends `Origin` with every one: a request without it
            // (a server, a same-origin page) gets none (see `cors`).
            _ if !parts.headers.contains_key(header::ORIGIN) => Grant::Nothing,
            Ok(route) if route.takes_writes() => {
                self.safety
                    .cors
                    .grant(&parts.method, &parts.headers, route.is_admin())
            }
            _ => Grant::Any,
        };
        let preflight = match routed.route {
            Ok(route) if parts.method == Method::OPTIONS => Some(route.allow()),
            _ => None,
        };
        let result = match (framing::check(&parts), routed.route) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(route)) => self.answer(route, &parts, body, peer, announced).await,
        };
        let mut reply = match result {
            Ok(reply) => reply,
            Err(err) => {
                // 501 answers what a client sent (a method or coding the
                // server does not implement), not a failure of the server.
                if err.status.is_server_error() && err.status != StatusCode::NOT_IMPLEMENTED {
                    tracing::warn!(
                        request_id = %String::from_utf8_lossy(request_id.as_bytes()),
                        worker = %self.worker.as_deref().unwrap_or("none"),
                        status = err.status.as_u16(),
                        path = parts.uri.path(), "{}", err.message
                    );
                }
                reply::error(&err)
            }
        };
        let preflight = preflight.filter(|_| reply.status() == StatusCode::NO_CONTENT);
        self.safety
            .cors
            .apply(&grant, &parts.method, &mut reply, preflight);
        // A body left (partly) unread stands before the next request: the
        // server closes the connection after this answer, which says so.
        if announced && !read_to_end.load(Ordering::Acquire) {
            reply
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        self.finish(reply, request_id, routed.label, &parts, started)
    }

    /// Method (405); then, for a write, its body — read before the request
    /// counts as in flight, so slow bodies cannot crowd out reads; then the
    /// load check and the route's handler.
    async fn answer<B>(
        &self,
        route: Route,
        parts: &Parts,
        body: B,
        peer: Peer,
        announced: bool,
    ) -> Result<Reply, ApiError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let service = &*self.service;
        let metrics = service.metrics();
        let safety = &self.safety;
        if route.is_admin() && !safety.admin.enabled() {
            return Err(routes::no_such_path(parts.uri.path()));
        }
        // The method comes before the checks below (the documented order);
        // a bodiless read skips this: its handler's match answers the 405.
        if (route.is_admin() || announced) && !takes(route, &parts.method) {
            return Err(ApiError::method_not_allowed(&parts.method, route.allow()));
        }
        let writes = match (route, &parts.method) {
            (Route::Reviews(_) | Route::AtelierReviews, &Method::POST) => Some(Some(Class::Posts)),
            (Route::Vote(..), &Method::PUT) => Some(Some(Class::Votes)),
            (Route::AdminRestore(_) | Route::AdminRespond(_), &Method::PUT) => Some(None),
            _ => None,
        };
        let admin_call = route.is_admin() && parts.method != Method::OPTIONS;
        // Reads never pay for any of this.
        if (writes.is_some() || admin_call) && !safety.cors.allows_write(&parts.headers) {
            return Err(ApiError::forbidden(format!(
                "writes and admin calls are not allowed from the web page origin {}: only \
                 from this service's own origins (--public-origins) and those in --cors-origins",
                origin_shown(&parts.headers)
            )));
        }
        if admin_call {
            safety.admin.authorize(&parts.headers)?;
        }
        let mut guarding = None;
        if let Some(class) = writes {
            let client = ClientKey::of(self.client(peer, parts));
            if let Some(class) = class
                && let Decision::Limited(wait) = Box::pin(safety.limiter.check(class, client)).await
            {
                return Err(self.limited(class, wait));
            }
            guarding = Some(Guarding {
                client,
                now_ms: crate::clock::now_ms(),
                key_ttl: safety.idempotency_ttl,
                vote_window: safety.vote_window,
            });
        }
        let guarding = guarding.as_ref();
        let body = match (route, &parts.method) {
            (Route::Reviews(_) | Route::AtelierReviews, &Method::POST)
            | (Route::AdminRespond(_), &Method::PUT) => {
                Some(Box::pin(reviews::read_body(&parts.headers, body, self.body_timeout)).await?)
            }
            // A body the route does not take: checked as a write's would
            // be, then dropped, so the connection goes on.
            _ if announced => {
                let write = writes.is_some();
                Box::pin(body::discard(
                    &parts.headers,
                    body,
                    self.body_timeout,
                    write,
                ))
                .await?;
                None
            }
            _ => None,
        };
        let in_flight = metrics.enter();
        let _leave = Leave(metrics);
        if in_flight > self.max_in_flight as i64 && !route.exempt_from_shedding() {
            metrics.shed();
            return Err(self.overloaded());
        }
        let headers = &parts.headers;
        // Every route that awaits, but the reads a storefront makes on each
        // page view (pages, meta), runs boxed: a future holds the state of every
        // branch it may take, so the writes' and the rarer reads' state
        // would otherwise be part of, and copied with, every hot read's.
        match (route, parts.method.clone()) {
            (route, Method::OPTIONS) => Ok(reply::preflight(route.allow())),
            (Route::Asset(asset), Method::GET | Method::HEAD) => Ok(assets::serve(asset)),
            (Route::Health, Method::GET | Method::HEAD) => Ok(ops::health()),
            (Route::Ready, Method::GET | Method::HEAD) => {
                // A process at its in-flight bound sheds every API request:
                // not ready, so a load balancer sends traffic elsewhere.
                if in_flight > self.max_in_flight as i64 {
                    return Err(self.overloaded());
                }
                Box::pin(ops::ready(service)).await
            }
            (Route::Metrics, Method::GET | Method::HEAD) => Ok(ops::metrics(service)),
            (Route::OpenApi, Method::GET | Method::HEAD) => Ok(ops::openapi()),
            (Route::Reviews(product_id), Method::GET | Method::HEAD) => {
                reviews::page(service, product_id, headers, parts.uri.query()).await
            }
            (Route::Reviews(product_id), Method::POST) => {
                let body = body.expect("a POST's body was read above");
                let guarding = guarding.expect("a write is guarded");
                Box::pin(reviews::post(service, product_id, &body, headers, guarding)).await
            }
            (Route::Meta(product_id), Method::GET | Method::HEAD) => {
                reviews::meta(service, product_id, headers, parts.uri.query()).await
            }
            (Route::AtelierReviews, Method::GET | Method::HEAD) => {
                atelier::page(service, headers, parts.uri.query()).await
            }
            (Route::AtelierMeta, Method::GET | Method::HEAD) => {
                atelier::meta(service, headers, parts.uri.query()).await
            }
            (Route::AtelierReviews, Method::POST) => {
                let body = body.expect("a POST's body was read above");
                let guarding = guarding.expect("a write is guarded");
                let query = parts.uri.query();
                Box::pin(atelier::post(service, &body, headers, query, guarding)).await
            }
            (Route::Products, Method::GET | Method::HEAD) => {
                Box::pin(products::search(service, headers, parts.uri.query())).await
            }
            (Route::Product(product_id), Method::GET | Method::HEAD) => {
                Box::pin(products::get(service, product_id, headers)).await
            }
            (Route::Photo(tag, picture), Method::GET | Method::HEAD) => {
                Box::pin(photos::get(service, tag, picture, headers)).await
            }
            (Route::Vote(review_id, vote), Method::PUT) => {
                let guarding = guarding.expect("a write is guarded");
                Box::pin(votes::put(service, review_id, vote, headers, guarding)).await
            }
            (Route::Widget, Method::GET | Method::HEAD) => Ok(ops::widget(&safety.cors)),
            (Route::AdminReported, Method::GET | Method::HEAD) => {
                Box::pin(admin::reported(service, parts.uri.query())).await
            }
            (Route::AdminRestore(review_id), Method::PUT) => {
                Box::pin(admin::restore(service, review_id)).await
            }
            (Route::AdminRespond(review_id), Method::PUT) => {
                let body = body.expect("a response's body was read above");
                Box::pin(admin::respond(service, review_id, &body)).await
            }
            (route, method) => Err(ApiError::method_not_allowed(&method, route.allow())),
        }
    }

    /// The client of a request: its peer, or whom trusted proxies name.
    fn client(&self, peer: Peer, parts: &Parts) -> IpAddr {
        self.safety
            .trusted_proxies
            .client(peer.0.ip(), &parts.headers)
    }

    /// The 429 of a client over `class`'s limit, a token back in `wait`.
    fn limited(&self, class: Class, wait: Duration) -> ApiError {
        let rate = self
            .safety
            .limiter
            .rate(class)
            .expect("only a limited class limits");
        let what = match class {
            Class::Posts => "reviews posted",
            Class::Votes => "votes and reports",
        };
        let seconds = wait.as_millis().div_ceil(1000).max(1) as u64;
        ApiError::too_many_requests(
            format!(
                "too many {what} from this address: at most {} at once, then one every {} s; \
                 retry in {seconds} s",
                rate.burst,
                rate.interval_ms().div_ceil(1000)
            ),
            seconds,
        )
    }

    fn overloaded(&self) -> ApiError {
        ApiError::unavailable(format!(
            "overloaded: more than {} requests in flight; retry shortly",
            self.max_in_flight
        ))
    }

    /// Adds the headers every reply carries, counts it and logs it.
    fn finish(
        &self,
        mut reply: Reply,
        request_id: HeaderValue,
        label: RouteLabel,
        parts: &Parts,
        started: Instant,
    ) -> Reply {
        reply.headers_mut().insert(X_REQUEST_ID, request_id);
        let took = started.elapsed();
        self.service
            .metrics()
            .request(label, reply.status().as_u16(), took);
        tracing::info!(
            target: "reviews::access",
            request_id = %String::from_utf8_lossy(reply.headers()[&X_REQUEST_ID].as_bytes()),
            worker = %self.worker.as_deref().unwrap_or("none"),
            method = %parts.method, path = parts.uri.path(), status = reply.status().as_u16(),
            micros = took.as_micros() as u64,
        );
        reply
    }

    /// The raw bytes of the JSON error reply for a request hyper could not
    /// parse (`status` is what hyper chose: 400, 414 or 431), or 503 for a
    /// connection there is no room for. Counted under the `unknown` route.
    pub fn protocol_error(&self, status: u16) -> Vec<u8> {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let message = match status.as_u16() {
            414 => format!(
                "the request target is too long (the request head may be at most {} bytes)",
                MAX_HEAD_BYTES
            ),
            431 => format!(
                "the request head is too large (at most {} bytes and 100 headers)",
                MAX_HEAD_BYTES
            ),
            503 => "too many open connections; retry shortly".to_string(),
            _ => "malformed request: the request line or a header could not be parsed \
                  (path and headers must be valid HTTP/1.1, the body framing unambiguous)"
                .to_string(),
        };
        let body = crate::service::render::error(&message);
        let id = self.assign_request_id();
        self.service
            .metrics()
            .request(RouteLabel::Unknown, status.as_u16(), Duration::ZERO);
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             x-request-id: {}\r\naccess-control-allow-origin: *\r\nconnection: close\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len(),
            String::from_utf8_lossy(id.as_bytes()),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            out.push_str("retry-after: 1\r\n");
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(&body);
        out
    }

    /// A request id unique to this process start: `{pid}{random}-{counter}`.
    /// Ids are cut from a shared buffer, so assigning one rarely allocates.
    fn assign_request_id(&self) -> HeaderValue {
        thread_local! {
            static SLAB: std::cell::RefCell<bytes::BytesMut> =
                std::cell::RefCell::new(bytes::BytesMut::new());
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = SLAB.with_borrow_mut(|slab| {
            if slab.capacity() < 64 {
                *slab = bytes::BytesMut::with_capacity(8192);
            }
            use std::fmt::Write;
            write!(slab, "{}-{n:x}", self.id_prefix).expect("writing to memory");
            slab.split().freeze()
        });
        HeaderValue::from_maybe_shared(id).expect("hex is a valid header value")
    }
}

/// Whether `route` takes `method` (its `Allow` lists it).
fn takes(route: Route, method: &Method) -> bool {
    route.allow().split(", ").any(|m| m == method.as_str())
}

/// A request's `Origin`, shortened for an error message.
fn origin_shown(headers: &hyper::HeaderMap) -> String {
    let origin = headers
        .get(header::ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
        .unwrap_or_default();
    origin.chars().take(100).collect()
}

/// Leaves the in-flight count when a request ends, even a cancelled one.
struct Leave<'a>(&'a Metrics);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}
