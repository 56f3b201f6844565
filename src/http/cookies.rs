//! The session cookie: reading one cookie from a request, and the `Set-Cookie` value.

use axum::http::{HeaderMap, header};
use std::time::Duration;

/// Name of the web-login session cookie.
pub const SESSION_COOKIE: &str = "portcullis_session";
/// Header carrying the CSRF token on cookie-authenticated requests that change state.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name`, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value for the session cookie (`max_age` zero clears it).
pub fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}
