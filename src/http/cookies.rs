//! The session cookie's `Set-Cookie` value (reading it is the authenticator's).

pub use crate::auth::authenticator::{CSRF_HEADER, SESSION_COOKIE};
use std::time::Duration;

/// A `Set-Cookie` value for the session cookie (`max_age` zero clears it).
pub fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}
