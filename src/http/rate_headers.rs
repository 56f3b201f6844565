//! The IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy`
//! and `RateLimit`, from the limit that counted a request last.

use crate::limits::policy::Counted;
use axum::http::HeaderValue;
use axum::response::Response;

/// Add the headers of `counted` to `response`:
/// `RateLimit-Policy: "<name>";q=<count>;w=<window seconds>` and
/// `RateLimit: "<name>";r=<remaining>;t=<seconds until full>`.
pub fn apply(counted: &Counted<'_>, response: &mut Response) {
    let name = counted.name;
    let policy = format!(
        "\"{name}\";q={};w={}",
        counted.spec.count, counted.spec.period_secs
    );
    let state = format!(
        "\"{name}\";r={};t={}",
        counted.decision.remaining, counted.decision.reset_secs
    );
    if let (Ok(policy), Ok(state)) = (
        HeaderValue::from_str(&policy),
        HeaderValue::from_str(&state),
    ) {
        response.headers_mut().insert("ratelimit-policy", policy);
        response.headers_mut().insert("ratelimit", state);
    }
}
