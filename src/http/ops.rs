//! The operator's routes: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`;
//! and `/widget.json`, what the widget's page is told by its server.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use super::cors::Cors;
use super::error::ApiError;
use super::reply::{Reply, json, reply};
use crate::service::{Service, Store};

/// The API in OpenAPI 3.1, served at `/openapi.json` (checked against real
/// responses by `tests/ops.rs`).
pub const OPENAPI: &[u8] = include_bytes!("openapi.json");
const PROMETHEUS_TEXT: HeaderValue = HeaderValue::from_static("text/plain; version=0.0.4");

/// `GET /healthz`: the process is alive.
pub fn health() -> Reply {
    json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
}

/// `GET /readyz`: the store answers (503 otherwise).
pub async fn ready<S: Store>(service: &Service<S>) -> Result<Reply, ApiError> {
    match service.ready().await {
        Ok(()) => Ok(json(
            StatusCode::OK,
            Bytes::from_static(br#"{"status":"ready"}"#),
        )),
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}

/// `GET /metrics`: the counters of the whole port (every worker's, summed)
/// in Prometheus text.
pub fn metrics<S: Store>(service: &Service<S>) -> Reply {
    let breaker = service.cache().breaker_state();
    let text = service.metrics().render(breaker);
    let mut reply = reply(StatusCode::OK, Bytes::from(text));
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, PROMETHEUS_TEXT);
    reply
}

/// `GET /widget.json`: the origins the widget may take as its API (its
/// `?api=` parameter), besides the page's own: the named origins of
/// `--cors-origins`, never `*`.
pub fn widget(cors: &Cors) -> Reply {
    let body = serde_json::json!({ "api_origins": cors.listed() });
    json(StatusCode::OK, body.to_string())
}

/// `GET /openapi.json`.
pub fn openapi() -> Reply {
    json(StatusCode::OK, Bytes::from_static(OPENAPI))
}
