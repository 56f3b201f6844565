//! The IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy`
//! and `RateLimit`, from the limit that counted a request last.
//!
//! These go out on every limited response, so they are written into a stack buffer with
//! `itoa` rather than through `format!` (which a profile of the request path showed among
//! its larger costs), and the header names are constants, not strings parsed per request.

use crate::limits::policy::Counted;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// `RateLimit-Policy`.
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Add the headers of `counted` to `response`:
/// `RateLimit-Policy: "<name>";q=<count>;w=<window seconds>` and
/// `RateLimit: "<name>";r=<remaining>;t=<seconds until full>`.
pub fn apply(counted: &Counted<'_>, response: &mut Response) {
    let name = counted.name.as_bytes();
    let policy = item(
        name,
        b"q",
        counted.spec.count.into(),
        b"w",
        counted.spec.period_secs.into(),
    );
    let state = item(
        name,
        b"r",
        counted.decision.remaining.into(),
        b"t",
        counted.decision.reset_secs,
    );
    if let (Some(policy), Some(state)) = (policy, state) {
        let headers = response.headers_mut();
        headers.insert(RATELIMIT_POLICY.clone(), policy);
        headers.insert(RATELIMIT.clone(), state);
    }
}

/// `"<name>";<a>=<x>;<b>=<y>` as a header value; `None` if the name is too long for the
/// buffer or not a valid header value (names are ours: route groups from the config).
fn item(name: &[u8], a: &[u8], x: u64, b: &[u8], y: u64) -> Option<HeaderValue> {
    let mut buf = [0u8; 128];
    let mut len = 0;
    let (mut first, mut second) = (itoa::Buffer::new(), itoa::Buffer::new());
    let x = first.format(x).as_bytes();
    let y = second.format(y).as_bytes();
    for part in [b"\"", name, b"\";", a, b"=", x, b";", b, b"=", y] {
        let end = len + part.len();
        buf.get_mut(len..end)?.copy_from_slice(part);
        len = end;
    }
    HeaderValue::from_bytes(&buf[..len]).ok()
}
