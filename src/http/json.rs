//! JSON responses, built for the headers every response of ours carries.
//!
//! `axum::Json` serializes into a 128-byte buffer (most of our bodies are larger, so it grows
//! and copies) and leaves a header map sized for its one header; the edge then adds the
//! security headers, the request id and the `RateLimit` pair, and the map grows again. This
//! one starts both at the size they end at: on the request path the difference showed in
//! the profile (`realloc`, `HeaderMap::try_grow`).

use super::error::ApiError;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Headers a response ends with: content type and length, five security headers, HSTS,
/// the request id, `RateLimit-Policy` and `RateLimit`, the error code, `Retry-After`,
/// `WWW-Authenticate` — one growth of the map at the start instead of two on the way.
const HEADERS: usize = 16;

/// Room for a typical body (an identity, a key view, an error) without a regrowth.
const BODY: usize = 512;

static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON response body (responses only; requests are read with `extract::ApiJson`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(BODY);
        if let Err(err) = serde_json::to_writer(&mut body, &self.0) {
            // Our own types, serialized: only a bug gets here (a map with non-string keys).
            return ApiError::Internal(format!("response body did not serialize: {err}"))
                .into_response();
        }
        with_room(Body::from(body))
    }
}

/// A response whose JSON body is a constant (the common `/healthz` answer, asked for many
/// times a second): no serialization, and the same room for the headers.
pub fn fixed(body: &'static str) -> Response {
    with_room(Body::from(body))
}

fn with_room(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.reserve(HEADERS);
    headers.insert(header::CONTENT_TYPE, JSON.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_body_is_json_with_room_for_our_headers() {
        let response = Json(serde_json::json!({"status": "ok"})).into_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(response.headers().capacity() >= HEADERS);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"status":"ok"}"#);
    }

    #[tokio::test]
    async fn a_fixed_body_is_sent_as_it_is_with_the_same_room() {
        let response = fixed(r#"{"status":"ok"}"#);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(response.headers().capacity() >= HEADERS);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"status":"ok"}"#);
    }

    #[tokio::test]
    async fn a_value_that_cannot_serialize_is_a_500_not_a_panic() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        let response = Json(map).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
