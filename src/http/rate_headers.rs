//! The IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers), and the limits
//! verdict as an HTTP answer.

use crate::http::error::ApiError;
use crate::limits::policy::{Counted, OverLimit};
use crate::limits::{Decision, RateSpec};
use axum::http::HeaderValue;
use axum::response::Response;
use std::time::Duration;

/// The IETF RateLimit headers of a limited response
/// (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateHeaders {
    /// `"<name>";q=<count>;w=<window seconds>`
    pub policy: String,
    /// `"<name>";r=<remaining>;t=<seconds until full>`
    pub state: String,
}

impl RateHeaders {
    pub(crate) fn new(name: &str, spec: &RateSpec, decision: &Decision) -> Self {
        Self {
            policy: format!("\"{name}\";q={};w={}", spec.count, spec.period_secs),
            state: format!(
                "\"{name}\";r={};t={}",
                decision.remaining, decision.reset_secs
            ),
        }
    }

    /// Add the headers to `response`.
    pub fn apply(&self, response: &mut Response) {
        if let (Ok(policy), Ok(state)) = (
            HeaderValue::from_str(&self.policy),
            HeaderValue::from_str(&self.state),
        ) {
            response.headers_mut().insert("ratelimit-policy", policy);
            response.headers_mut().insert("ratelimit", state);
        }
    }
}

/// A limits verdict as the HTTP answer: the headers of the limit that counted last, or the
/// 429 (with the refusing limit's headers) or 503 that stops the request.
pub(crate) fn over_limit(
    verdict: Result<Option<Counted<'_>>, OverLimit<'_>>,
) -> Result<Option<RateHeaders>, (ApiError, Option<RateHeaders>)> {
    let headers = |c: &Counted| RateHeaders::new(c.name, &c.spec, &c.decision);
    match verdict {
        Ok(counted) => Ok(counted.as_ref().map(headers)),
        Err(OverLimit::Refused(counted)) => Err((
            ApiError::RateLimited(Duration::from_secs(counted.decision.retry_after_secs)),
            Some(headers(&counted)),
        )),
        Err(OverLimit::Unavailable) => Err((ApiError::LimiterUnavailable, None)),
    }
}
