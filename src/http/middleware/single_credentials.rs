//! One of each credential header. HTTP lets a header appear more than once, and parsers
//! disagree about which line counts: this server used to read the first `X-API-Key`, a
//! proxy or WAF in front may read the last, so an admin key and a user key in one request
//! could be judged by two different identities. A request that repeats any header carrying
//! a credential or covering one is refused with 400 before anything reads it.

use crate::http::error::ApiError;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName};

/// The headers that must appear at most once, with the names used in the error message.
static SINGLE: [(HeaderName, &str); 8] = [
    (HeaderName::from_static("x-api-key"), "X-API-Key"),
    (AUTHORIZATION, "Authorization"),
    (HeaderName::from_static("x-token"), "X-Token"),
    (HeaderName::from_static("x-token-hash"), "X-Token-Hash"),
    (HeaderName::from_static("signature"), "Signature"),
    (
        HeaderName::from_static("signature-input"),
        "Signature-Input",
    ),
    (HeaderName::from_static("content-digest"), "Content-Digest"),
    (HeaderName::from_static("x-csrf-token"), "X-CSRF-Token"),
];

/// Refuse a request that repeats a credential header.
pub fn check(headers: &HeaderMap) -> Result<(), ApiError> {
    // As many values as names: no header repeats at all, so none of these does (two O(1)
    // counts instead of eight look-ups on nearly every request).
    if headers.len() == headers.keys_len() {
        return Ok(());
    }
    for (name, shown) in &SINGLE {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(ApiError::DuplicateHeader(shown));
        }
    }
    Ok(())
}
