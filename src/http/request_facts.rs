//! Facts read from a request that several layers need: the client address (after trusted
//! proxies), the matched route, and the whole body (already bounded by the body limit).

use crate::http::error::ApiError;
use crate::http::middleware::client_ip::{ClientIp, peer};
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use std::net::IpAddr;

/// The client address of a request: resolved through trusted proxies, else the peer.
pub fn client_ip(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .or_else(|| peer(request.extensions()).map(|a| a.ip()))
}

/// The client address and the matched route of a request, for logs and audit.
pub fn origin(request: &Request) -> (Option<IpAddr>, Option<String>) {
    let client = client_ip(request);
    (
        client,
        request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned()),
    )
}

/// Collect a body bounded by the body-limit layer: 413 when over the limit, 400 otherwise.
pub async fn body_bytes(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, usize::MAX).await.map_err(|err| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if e.is::<http_body_util::LengthLimitError>() {
                return ApiError::PayloadTooLarge;
            }
            source = e.source();
        }
        ApiError::BadRequest("The body could not be read".into())
    })
}
