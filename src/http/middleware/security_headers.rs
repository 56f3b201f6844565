//! The OWASP REST security headers, on every response, errors included.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Headers set on every response.
pub const HEADERS: &[(header::HeaderName, &str)] = &[
    (header::CACHE_CONTROL, "no-store"),
    (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// `Strict-Transport-Security`, sent only when the connection is TLS (browsers ignore it on
/// plain HTTP, and sending it there would be misleading).
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Add the headers; `tls` says whether HSTS applies. A route that sets its own
/// `Cache-Control` means it (the public key set, cached for minutes by design) and keeps it;
/// every other header is ours whatever a route said.
pub fn apply(tls: bool, response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        if name == header::CACHE_CONTROL && headers.contains_key(header::CACHE_CONTROL) {
            continue;
        }
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    // Every body we send is JSON; say so even where a layer forgot.
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
}
