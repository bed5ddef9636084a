//! The HTTP edge: routes a request, parses it into a typed query, asks the
//! store, and renders JSON — or the JSON error of SPEC §3.
//!
//! Order of checks, as the spec fixes it: path syntax (400), method (405),
//! content type (415), size (413), body and query (400/422), then existence
//! (404). Writes invalidate the product's cached copies before answering.

pub mod error;
pub mod new_review;
pub mod query;
pub mod render;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use self::error::ApiError;
use crate::cache::{CacheKey, Lookup, ReadThrough, Rendered, matches_if_none_match};
use crate::metrics::{Metrics, ROUTES};
use crate::model::limits;
use crate::store::{Store, StoreError};

/// The response type of every route.
pub type Reply = Response<Full<Bytes>>;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const PROMETHEUS_TEXT: HeaderValue = HeaderValue::from_static("text/plain; version=0.0.4");
/// The API in OpenAPI 3.1, served at `/openapi.json` (checked against real
/// responses by `tests/openapi.rs`).
pub const OPENAPI: &[u8] = include_bytes!("openapi.json");
/// The `/metrics` label of requests to unknown paths.
const ROUTE_UNKNOWN: usize = ROUTES.len() - 1;
/// What browsers and CDNs may cache a read for: short, since writes
/// invalidate server-side caches at once but cannot reach a client's.
const READ_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=10");
/// How long `/readyz` waits for the store before calling it unreachable.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The application: the store, the cache in front of it, and what each
/// request needs besides.
pub struct App<S> {
    store: S,
    cache: ReadThrough,
    metrics: Metrics,
    /// Past this many requests in flight, new ones get 503 at once.
    max_in_flight: usize,
    /// Prefix of assigned request ids: unique per process start.
    id_prefix: String,
    next_id: AtomicU64,
}

impl<S: Store> App<S> {
    /// An application reading from `store` through `cache`, shedding load
    /// past `max_in_flight` requests.
    pub fn new(store: S, cache: ReadThrough, max_in_flight: usize) -> App<S> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        App {
            store,
            cache,
            metrics: Metrics::default(),
            max_in_flight,
            id_prefix: format!("{:x}{:05x}", std::process::id(), nanos & 0xfffff),
            next_id: AtomicU64::new(1),
        }
    }

    /// The store behind the application.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The cache in front of the store.
    pub fn cache(&self) -> &ReadThrough {
        &self.cache
    }

    /// Answers one request. Never panics on any input.
    pub async fn handle<B>(&self, req: Request<B>) -> Reply
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request_id = req
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| v.len() <= 128 && !v.is_empty())
            .cloned()
            .unwrap_or_else(|| self.assign_request_id());
        let started = Instant::now();
        let uri = req.uri().clone();
        let method = req.method().clone();
        let route = Route::parse(uri.path());
        let label = route_label(uri.path(), &method);
        let in_flight = self.metrics.enter();
        let _leave = Leave(&self.metrics);
        let exempt = matches!(route, Ok(Route::Health | Route::Ready | Route::Metrics));
        let result = match route {
            _ if in_flight > self.max_in_flight as i64 && !exempt => {
                self.metrics.shed();
                Err(ApiError::unavailable(format!(
                    "overloaded: more than {} requests in flight; retry shortly",
                    self.max_in_flight
                )))
            }
            Ok(route) => self.route(route, req).await,
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
                error_reply(&err)
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
        self.metrics.request(label, reply.status().as_u16(), took);
        tracing::info!(
            target: "reviews::access",
            request_id = ?reply.headers().get(&X_REQUEST_ID),
            method = %method, path = uri.path(), status = reply.status().as_u16(),
            micros = took.as_micros() as u64,
        );
        reply
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

    /// Method (405), then the route's own checks (the path was parsed).
    async fn route<B>(&self, route: Route, req: Request<B>) -> Result<Reply, ApiError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let method = req.method().clone();
        match (route, method) {
            (route, Method::OPTIONS) => Ok(preflight(route.allow())),
            (Route::Asset(asset), Method::GET | Method::HEAD) => {
                let mut reply = reply(StatusCode::OK, Bytes::from_static(asset.body));
                let headers = reply.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                );
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(asset.cache_control),
                );
                Ok(reply)
            }
            (Route::Health, Method::GET | Method::HEAD) => {
                Ok(json(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()))
            }
            (Route::Ready, Method::GET | Method::HEAD) => self.ready().await,
            (Route::Metrics, Method::GET | Method::HEAD) => {
                let text = self
                    .metrics
                    .render(&self.cache.stats(), self.cache.breaker_state());
                let mut reply = reply(StatusCode::OK, Bytes::from(text));
                reply
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, PROMETHEUS_TEXT);
                Ok(reply)
            }
            (Route::OpenApi, Method::GET | Method::HEAD) => {
                Ok(json_static(StatusCode::OK, OPENAPI))
            }
            (Route::Reviews(product_id), Method::GET | Method::HEAD) => {
                let q = query::parse_page_query(product_id, req.uri().query())?;
                let lookup = self
                    .cache
                    .get(CacheKey::page(&q), || async {
                        let page = self.timed(self.store.page(q)).await?;
                        Ok(rendered(
                            product_id,
                            page.map(|page| render::page(&q, &page)),
                        ))
                    })
                    .await
                    .map_err(store_error)?;
                Ok(cached(&req, &lookup))
            }
            (Route::Reviews(product_id), Method::POST) => self.add_review(product_id, req).await,
            (Route::Meta(product_id), Method::GET | Method::HEAD) => {
                let lookup = self
                    .cache
                    .get(CacheKey::meta(product_id), || async {
                        let meta = self.timed(self.store.meta(product_id)).await?;
                        Ok(rendered(
                            product_id,
                            meta.map(|meta| render::meta(product_id, &meta)),
                        ))
                    })
                    .await
                    .map_err(store_error)?;
                Ok(cached(&req, &lookup))
            }
            (Route::Vote(review_id, vote), Method::PUT) => {
                let product = match vote {
                    Vote::Helpful => self.timed(self.store.vote_helpful(review_id)).await,
                    Vote::Report => self.timed(self.store.report(review_id)).await,
                }
                .map_err(store_error)?
                .ok_or_else(|| ApiError::not_found(format!("review {review_id} not found")))?;
                self.cache.invalidate(product).await;
                Ok(reply(StatusCode::NO_CONTENT, Bytes::new()))
            }
            (route, method) => Err(ApiError::method_not_allowed(&method, route.allow())),
        }
    }

    /// `POST /reviews/:product_id`: content type (415), size (413), body
    /// (400/422), then existence (404); 201 once the review is durable and
    /// the product's cached copies are dropped.
    async fn add_review<B>(&self, product_id: u64, req: Request<B>) -> Result<Reply, ApiError>
    where
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
        let id = self
            .timed(self.store.add_review(product_id, review))
            .await
            .map_err(store_error)?
            .ok_or_else(|| unknown_product(product_id))?;
        self.cache.invalidate(product_id).await;
        let body = serde_json::to_vec(&serde_json::json!({ "review_id": id })).expect("JSON");
        Ok(json(StatusCode::CREATED, body))
    }

    /// Runs a store call, timing it for `/metrics`.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics.store_call(started.elapsed(), result.is_ok());
        result
    }

    async fn ready(&self) -> Result<Reply, ApiError> {
        match tokio::time::timeout(READY_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(json(StatusCode::OK, br#"{"status":"ready"}"#.to_vec())),
            Ok(Err(e)) => Err(ApiError::unavailable(e.to_string())),
            Err(_) => Err(ApiError::unavailable("store did not answer in time")),
        }
    }
}

/// What a path names.
#[derive(Debug, Clone, Copy)]
enum Route {
    Asset(&'static Asset),
    Health,
    Ready,
    Metrics,
    OpenApi,
    Reviews(u64),
    Meta(u64),
    Vote(u64, Vote),
}

#[derive(Debug, Clone, Copy)]
enum Vote {
    Helpful,
    Report,
}

impl Route {
    /// Parses a path: malformed ids are 400, unknown paths 404.
    fn parse(path: &str) -> Result<Route, ApiError> {
        let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
        let parts = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        );
        Ok(match parts {
            (Some(""), None, ..) => Route::Asset(&ASSETS[0]),
            (Some("static"), Some(name), None, _) => match ASSETS.iter().find(|a| a.name == name) {
                Some(asset) => Route::Asset(asset),
                None => {
                    return Err(ApiError::not_found(format!(
                        "no such path: {}",
                        shorten_path(path)
                    )));
                }
            },
            (Some("healthz"), None, ..) => Route::Health,
            (Some("readyz"), None, ..) => Route::Ready,
            (Some("metrics"), None, ..) => Route::Metrics,
            (Some("openapi.json"), None, ..) => Route::OpenApi,
            (Some("reviews"), Some(id), None, _) => {
                Route::Reviews(query::parse_id("product_id", id)?)
            }
            (Some("reviews"), Some(id), Some("meta"), None) => {
                Route::Meta(query::parse_id("product_id", id)?)
            }
            (Some("reviews"), Some(id), Some(vote @ ("helpful" | "report")), None) => {
                let vote = if vote == "helpful" {
                    Vote::Helpful
                } else {
                    Vote::Report
                };
                Route::Vote(query::parse_id("review_id", id)?, vote)
            }
            _ => {
                return Err(ApiError::not_found(format!(
                    "no such path: {}",
                    shorten_path(path)
                )));
            }
        })
    }

    /// The methods the path takes (`Allow`).
    fn allow(self) -> &'static str {
        match self {
            Route::Asset(_)
            | Route::Health
            | Route::Ready
            | Route::Metrics
            | Route::OpenApi
            | Route::Meta(_) => "GET, HEAD, OPTIONS",
            Route::Reviews(_) => "GET, HEAD, POST, OPTIONS",
            Route::Vote(..) => "PUT, OPTIONS",
        }
    }
}

/// The `route` label of a request in `/metrics` (an index of [`ROUTES`]),
/// from the path's shape alone, so a malformed id still counts under its route.
fn route_label(path: &str, method: &Method) -> usize {
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let name = match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("reviews"), Some(_), None, _) if method == Method::POST => "post_review",
        (Some("reviews"), Some(_), None, _) => "reviews",
        (Some("reviews"), Some(_), Some("meta"), None) => "meta",
        (Some("reviews"), Some(_), Some("helpful"), None) => "helpful",
        (Some("reviews"), Some(_), Some("report"), None) => "report",
        (Some("healthz"), None, ..) => "healthz",
        (Some("readyz"), None, ..) => "readyz",
        (Some("metrics" | "openapi.json" | ""), None, ..) | (Some("static"), ..) => "ops",
        _ => "unknown",
    };
    ROUTES
        .iter()
        .position(|r| *r == name)
        .unwrap_or(ROUTE_UNKNOWN)
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

fn unknown_product(product_id: u64) -> ApiError {
    ApiError::not_found(format!("product {product_id} not found"))
}

/// A store answer as the cache keeps it: the body, or the 404 of an
/// unknown product (cached briefly too).
fn rendered(product_id: u64, body: Option<Vec<u8>>) -> Rendered {
    match body {
        Some(body) => Rendered { status: 200, body },
        None => Rendered {
            status: 404,
            body: unknown_product(product_id).body(),
        },
    }
}

/// The reply of a cached read: the stored bytes as they are, with `ETag`,
/// `Cache-Control` and `X-Cache`; a 304 when `If-None-Match` matches.
fn cached<B>(req: &Request<B>, lookup: &Lookup) -> Reply {
    let entry = &lookup.entry;
    let not_modified = entry.status == 200
        && req
            .headers()
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| matches_if_none_match(v.as_bytes(), &entry.etag));
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        let status = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::OK);
        (status, entry.body.clone())
    };
    let mut reply = reply(status, body);
    let headers = reply.headers_mut();
    if !not_modified {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    headers.insert(header::ETAG, entry.etag.clone());
    headers.insert(header::CACHE_CONTROL, READ_CACHE_CONTROL);
    headers.insert(X_CACHE, HeaderValue::from_static(lookup.status.as_str()));
    reply
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::unavailable(e.to_string())
}

fn shorten_path(path: &str) -> &str {
    match path.char_indices().nth(100) {
        Some((cut, _)) => &path[..cut],
        None => path,
    }
}

/// A reply with room for every header the service sets, so none regrows.
fn reply(status: StatusCode, body: Bytes) -> Reply {
    let mut reply = Response::new(Full::new(body));
    *reply.status_mut() = status;
    reply.headers_mut().reserve(12);
    reply
}

fn json_static(status: StatusCode, body: &'static [u8]) -> Reply {
    let mut reply = reply(status, Bytes::from_static(body));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}

/// A file of the storefront widget, compiled into the binary.
#[derive(Debug)]
struct Asset {
    name: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static [u8],
}

/// The widget: `/` is the page, `/static/*` its script and style.
static ASSETS: [Asset; 3] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        cache_control: "no-cache",
        body: include_bytes!("../../static/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: "public, max-age=300",
        body: include_bytes!("../../static/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        cache_control: "public, max-age=300",
        body: include_bytes!("../../static/app.css"),
    },
];

/// Leaves the in-flight count when a request ends, even a cancelled one.
struct Leave<'a>(&'a Metrics);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Reply {
    let mut reply = reply(status, Bytes::from(body));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}

/// The answer to `OPTIONS`: what the path takes, for CORS preflight too.
fn preflight(allow: &'static str) -> Reply {
    let mut reply = reply(StatusCode::NO_CONTENT, Bytes::new());
    let headers = reply.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(allow),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, if-none-match, x-request-id"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    reply
}

/// The JSON reply of an error, with `Allow` on 405 and `Retry-After` on 503.
pub fn error_reply(err: &ApiError) -> Reply {
    let mut reply = json(err.status, err.body());
    if let Some(allow) = err.allow {
        reply
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if err.status == StatusCode::SERVICE_UNAVAILABLE {
        reply
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    reply
}
