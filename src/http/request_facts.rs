//! Facts read from a request that several layers need: the client address (after trusted
//! proxies), the matched route, the whole body (already bounded by the body limit), and the
//! framework-neutral view of a request that the authenticator decides on.

use crate::auth::authenticator::{BodyError, RequestBody, RequestFacts};
use crate::http::error::ApiError;
use crate::http::middleware::client_ip::{ClientIp, peer};
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::Extensions;
use axum::http::request::Parts;
use std::net::IpAddr;

/// The client address of a request: resolved through trusted proxies, else the peer.
pub fn client_ip(request: &Request) -> Option<IpAddr> {
    client_ip_in(request.extensions())
}

/// The client address recorded in a request's extensions.
pub fn client_ip_in(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ClientIp>()
        .map(|c| c.0)
        .or_else(|| peer(extensions).map(|a| a.ip()))
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

/// The request as the authenticator sees it. `route` is the matched pattern, borrowed from
/// the extension the router set (`MatchedPath`), so nothing is copied for a request that is
/// admitted.
pub fn facts(parts: &Parts) -> RequestFacts<'_> {
    RequestFacts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        scheme: None,
        client: client_ip_in(&parts.extensions),
        route: parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    }
}

/// Collect a body bounded by the body-limit layer.
async fn collect(body: Body) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, usize::MAX).await.map_err(|err| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if e.is::<http_body_util::LengthLimitError>() {
                return BodyError::TooLarge;
            }
            source = e.source();
        }
        BodyError::Unreadable
    })
}

/// Collect a body bounded by the body-limit layer: 413 when over the limit, 400 otherwise.
pub async fn body_bytes(body: Body) -> Result<Bytes, ApiError> {
    collect(body).await.map_err(ApiError::from)
}

/// A request body the authenticator may read (when a signature covers it); whether read or
/// not, [`BufferedBody::into_body`] gives the handler the same bytes.
pub struct BufferedBody {
    body: Option<Body>,
    read: Option<Bytes>,
}

impl BufferedBody {
    /// Wrap a request's body, unread.
    pub fn new(body: Body) -> Self {
        Self {
            body: Some(body),
            read: None,
        }
    }

    /// The body for the handler: the bytes read, or the untouched stream.
    pub fn into_body(self) -> Body {
        match (self.read, self.body) {
            (Some(bytes), _) => Body::from(bytes),
            (None, Some(body)) => body,
            (None, None) => Body::empty(),
        }
    }
}

impl RequestBody for BufferedBody {
    async fn read(&mut self) -> Result<Bytes, BodyError> {
        if let Some(bytes) = &self.read {
            return Ok(bytes.clone());
        }
        let body = self.body.take().ok_or(BodyError::Unreadable)?;
        let bytes = collect(body).await?;
        self.read = Some(bytes.clone());
        Ok(bytes)
    }
}
