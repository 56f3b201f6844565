//! The body size limit, enforced while the body streams in (413 past it): the server's
//! `limits.max_body_bytes` everywhere, and `sms.max_upload_bytes` on the CSV upload routes.
//! One layer rather than tower-http's per-router one, because the upload routes need a
//! larger bound than the layer that wraps every route would allow.

use crate::http::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use std::sync::Arc;

/// The limits, by path.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// Everywhere else.
    pub default: usize,
    /// Paths (after any mount path) with their own limit.
    pub special: Arc<Vec<(String, usize)>>,
}

impl BodyLimits {
    fn for_path(&self, path: &str) -> usize {
        self.special
            .iter()
            .find(|(suffix, _)| path.ends_with(suffix.as_str()))
            .map_or(self.default, |(_, limit)| *limit)
    }
}

/// Refuse a declared length over the limit at once; bound the rest as it streams.
pub fn apply(limits: &BodyLimits, request: Request) -> Result<Request, ApiError> {
    let limit = limits.for_path(request.uri().path());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(request.map(|body| Body::new(http_body_util::Limited::new(body, limit))))
}
