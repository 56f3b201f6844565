//! The OWASP REST security headers, on every response, errors included.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Headers set on every response.
/// Values are built at compile time: `HeaderValue::from_static` checks every byte, which on
/// every response is measurable.
pub static HEADERS: [(header::HeaderName, HeaderValue); 5] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    ),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
];

static HSTS_VALUE: HeaderValue = HeaderValue::from_static(HSTS);
static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// `Strict-Transport-Security`, sent only when the connection is TLS (browsers ignore it on
/// plain HTTP, and sending it there would be misleading).
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Add the headers; `tls` says whether HSTS applies. A route that sets its own
/// `Cache-Control` means it (the public key set, cached for minutes by design) and keeps it;
/// every other header is ours whatever a route said.
pub fn apply(tls: bool, response: &mut Response) {
    let headers = response.headers_mut();
    // Room for ours at once: one growth of the map instead of one per few inserts.
    headers.reserve(HEADERS.len() + 2);
    for (name, value) in &HEADERS {
        if name == header::CACHE_CONTROL && headers.contains_key(header::CACHE_CONTROL) {
            continue;
        }
        headers.insert(name.clone(), value.clone());
    }
    if tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS_VALUE.clone());
    }
    // Every body we send is JSON; say so even where a layer forgot.
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, JSON.clone());
    }
}
