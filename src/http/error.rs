//! The error contract: every error is JSON `{"error": "..."}` naming what
//! was wrong, with the status the API gives it.

use hyper::StatusCode;

/// A request the service refuses or cannot answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What was wrong, for the `error` field.
    pub message: String,
    /// Methods the path takes (sent as `Allow` with 405).
    pub allow: Option<&'static str>,
    /// Seconds until a retry may succeed (sent as `Retry-After` with 429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// 400: the request's form is wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422: well-formed JSON whose content breaks a rule.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 415: a body that is not JSON.
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }

    /// 413: a body over the limit.
    pub fn payload_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// 408: the client took too long to send its request; the connection
    /// closes after the reply.
    pub fn timeout(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, message)
    }

    /// 501: the request uses something the server does not implement (a
    /// transfer coding other than chunked).
    pub fn not_implemented(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, message)
    }

    /// 404: no such product, review or path.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 405 with the methods the path takes.
    pub fn method_not_allowed(method: &hyper::Method, allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} is not allowed here; allowed: {allow}"),
            )
        }
    }

    /// 401: an admin route without the right bearer token.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: a write from a web page whose origin may not write.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 429: the client is over a rate limit; a token is back in
    /// `retry_after` seconds.
    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
        }
    }

    /// 503: a backend is down; the client may retry shortly.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 503 for a store that failed or cannot be reached.
    pub fn store(e: crate::service::StoreError) -> ApiError {
        ApiError::unavailable(e.to_string())
    }

    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            allow: None,
            retry_after: None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        crate::service::render::error(&self.message)
    }
}
