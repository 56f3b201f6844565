//! Framework layers (routing, body limits, timeouts) answer errors with plain-text or empty
//! bodies. This middleware gives every such response our JSON error shape, keeping the
//! headers that matter (`Allow`, `Retry-After`, `WWW-Authenticate`).

use crate::http::error::ApiError;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

const KEPT: &[header::HeaderName] = &[header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE];

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Rewrite a non-JSON error response into our shape.
pub fn shape(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, _body) = response.into_parts();
    let mut shaped = ApiError::from_status(status).into_response();
    for name in KEPT {
        if let Some(value) = parts.headers.get(name) {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}
