//! The HTTP edge: turns a request into a call of the [`Service`] and its
//! answer into a response. It routes ([`routes`]), parses paths, queries
//! and bodies into typed values ([`query`], [`new_review`]), and renders
//! replies and the JSON error contract ([`reply`], [`error`]); one file per
//! resource holds its handlers ([`reviews`], [`votes`], [`ops`], [`assets`]).
//!
//! Order of checks: path syntax (400), method (405), content type (415),
//! size (413), body and query (400/422), then existence (404). Every
//! response gets `X-Request-Id` (echoed or assigned) and CORS headers, and
//! is counted in `/metrics` under its route.

pub mod assets;
pub mod error;
pub mod new_review;
pub mod ops;
pub mod query;
pub mod reply;
pub mod reviews;
pub mod routes;
pub mod votes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Body;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request};

use self::error::ApiError;
use self::reply::Reply;
use self::routes::Route;
use crate::metrics::Metrics;
use crate::service::{Service, Store};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The edge of one process: the service it calls, and what each request
/// needs besides.
pub struct Edge<S> {
    service: Arc<Service<S>>,
    /// Past this many requests in flight, new ones get 503 at once.
    max_in_flight: usize,
    /// Prefix of assigned request ids: unique per process start.
    id_prefix: String,
    next_id: AtomicU64,
}

impl<S: Store> Edge<S> {
    /// An edge calling `service`, shedding load past `max_in_flight`
    /// requests.
    pub fn new(service: Arc<Service<S>>, max_in_flight: usize) -> Edge<S> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Edge {
            service,
            max_in_flight,
            id_prefix: format!("{:x}{:05x}", std::process::id(), nanos & 0xfffff),
            next_id: AtomicU64::new(1),
        }
    }

    /// The service behind the edge.
    pub fn service(&self) -> &Arc<Service<S>> {
        &self.service
    }

    /// Answers one request. Never panics on any input.
    pub async fn handle<B>(&self, req: Request<B>) -> Reply
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let metrics = self.service.metrics();
        let request_id = req
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| v.len() <= 128 && !v.is_empty())
            .cloned()
            .unwrap_or_else(|| self.assign_request_id());
        let started = Instant::now();
        let uri = req.uri().clone();
        let method = req.method().clone();
        let routed = routes::route(uri.path(), &method);
        let in_flight = metrics.enter();
        let _leave = Leave(metrics);
        let result = match routed.route {
            Ok(route) if in_flight > self.max_in_flight as i64 && !route.exempt_from_shedding() => {
                metrics.shed();
                Err(ApiError::unavailable(format!(
                    "overloaded: more than {} requests in flight; retry shortly",
                    self.max_in_flight
                )))
            }
            Ok(route) => self.dispatch(route, req).await,
            Err(e) => Err(e),
        };
        let mut reply = match result {
            Ok(reply) => reply,
            Err(err) => {
                if err.status.is_server_error() {
                    tracing::warn!(
                        request_id = ?request_id, status = err.status.as_u16(),
                        path = uri.path(), "{}", err.message
                    );
                }
                reply::error(&err)
            }
        };
        let headers = reply.headers_mut();
        headers.insert(X_REQUEST_ID, request_id);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, x-cache, etag"),
        );
        let took = started.elapsed();
        metrics.request(routed.label, reply.status().as_u16(), took);
        tracing::info!(
            target: "reviews::access",
            request_id = ?reply.headers().get(&X_REQUEST_ID),
            method = %method, path = uri.path(), status = reply.status().as_u16(),
            micros = took.as_micros() as u64,
        );
        reply
    }

    /// Method (405), then the route's handler.
    async fn dispatch<B>(&self, route: Route, req: Request<B>) -> Result<Reply, ApiError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let service = &*self.service;
        let method = req.method().clone();
        match (route, method) {
            (route, Method::OPTIONS) => Ok(reply::preflight(route.allow())),
            (Route::Asset(asset), Method::GET | Method::HEAD) => Ok(assets::serve(asset)),
            (Route::Health, Method::GET | Method::HEAD) => Ok(ops::health()),
            (Route::Ready, Method::GET | Method::HEAD) => ops::ready(service).await,
            (Route::Metrics, Method::GET | Method::HEAD) => Ok(ops::metrics(service)),
            (Route::OpenApi, Method::GET | Method::HEAD) => Ok(ops::openapi()),
            (Route::Reviews(product_id), Method::GET | Method::HEAD) => {
                reviews::page(service, product_id, req.headers(), req.uri().query()).await
            }
            (Route::Reviews(product_id), Method::POST) => {
                reviews::post(service, product_id, req).await
            }
            (Route::Meta(product_id), Method::GET | Method::HEAD) => {
                reviews::meta(service, product_id, req.headers()).await
            }
            (Route::Vote(review_id, vote), Method::PUT) => {
                votes::put(service, review_id, vote).await
            }
            (route, method) => Err(ApiError::method_not_allowed(&method, route.allow())),
        }
    }

    /// A request id unique to this process start: `{pid}{random}-{counter}`.
    fn assign_request_id(&self) -> HeaderValue {
        use std::io::Write;
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 48];
        let mut out = &mut buf[..];
        write!(out, "{}-{n:x}", self.id_prefix).expect("48 bytes hold an id");
        let len = 48 - out.len();
        HeaderValue::from_bytes(&buf[..len]).expect("hex is a valid header value")
    }
}

/// Leaves the in-flight count when a request ends, even a cancelled one.
struct Leave<'a>(&'a Metrics);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}
