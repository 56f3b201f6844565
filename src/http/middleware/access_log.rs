//! The access log (seed 004's request logging): one line per request, written when the
//! response is ready, on the `portcullis::access` target so it can be filtered or routed on
//! its own. It holds the method, the matched route pattern (`/msg/{id}`: never the raw path,
//! which holds message ids, nor the query string, which can hold secrets), the status, the
//! latency to the response head, the client address and the request id. Never a body.

use crate::http::authn::client_ip;
use crate::http::middleware::request_id::RequestId;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// The `tracing` target of access lines.
pub const TARGET: &str = "portcullis::access";

/// Log the request once it has been answered.
pub async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let client = client_ip(&request).map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let response = next.run(request).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: TARGET,
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = format_args!("{latency_ms:.3}"),
        client = %client,
        request_id = %request_id,
        "request"
    );
    response
}
