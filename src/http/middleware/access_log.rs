//! The access log (seed 004's request logging): one line per request, written when the
//! response is ready, on the `portcullis::access` target so it can be filtered or routed on
//! its own. It holds the method, the matched route pattern (`/msg/{id}`: never the raw path,
//! which holds message ids, nor the query string, which can hold secrets), the status, the
//! latency to the response head, the client address, the request id, and for an
//! authenticated request the key's public id and its owner's id (never the key). Never a body.

use crate::auth::Principal;
use crate::http::middleware::request_id::RequestId;
use crate::http::request_facts::client_ip;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use std::time::Instant;

/// The `tracing` target of access lines.
pub use crate::telemetry::access_format::TARGET;

/// What the line needs from the request, taken before the request is handed on: only cheap
/// clones (the route is shared, the address is a copy).
pub struct Pending {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
    client: Option<std::net::IpAddr>,
    request_id: Option<RequestId>,
}

impl Pending {
    /// Start a line for `request`, or nothing when no `info` line can be written at all (the
    /// whole log at `warn`); the filter still decides per target when the line is written.
    pub fn start(request: &Request, started: Instant) -> Option<Self> {
        tracing::level_enabled!(tracing::Level::INFO).then(|| Self {
            started,
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            client: client_ip(request),
            request_id: request.extensions().get::<RequestId>().cloned(),
        })
    }

    /// Write the line for `response`. Values go as plain strings and numbers: the text
    /// formatter (`telemetry::access_format`) copies them in, and JSON has them as strings
    /// as before.
    pub fn write(self, response: &Response) {
        let caller = response.extensions().get::<Caller>();
        let latency = Millis::of(self.started.elapsed());
        let client = self.client.map(|ip| ip.to_string());
        tracing::info!(
            target: TARGET,
            method = self.method.as_str(),
            route = self.route.as_ref().map_or("<unmatched>", MatchedPath::as_str),
            status = response.status().as_u16(),
            latency_ms = latency.as_str(),
            client = client.as_deref().unwrap_or("-"),
            request_id = self.request_id.as_ref().map_or("", |r| r.0.as_str()),
            key_id = caller.map_or("-", |c| c.key_id.as_str()),
            owner_id = caller.map_or("-", |c| c.owner_id.as_str()),
            "request"
        );
    }
}

/// A latency in milliseconds with three decimals (`0.003`), written without float formatting.
struct Millis {
    buf: [u8; 24],
    len: usize,
}

impl Millis {
    fn of(elapsed: std::time::Duration) -> Self {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut buf = [0u8; 24];
        let mut digits = itoa::Buffer::new();
        let whole = digits.format(micros / 1000).as_bytes();
        let mut len = whole.len().min(19);
        buf[..len].copy_from_slice(&whole[..len]);
        let frac = micros % 1000;
        for digit in [
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ] {
            buf[len] = digit;
            len += 1;
        }
        Self { buf, len }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0.000")
    }
}

/// Who made an authenticated request, handed from the authorization layer (inside) to the
/// access log (outside) on the response. Made only when access lines are written.
#[derive(Clone)]
pub struct Caller {
    key_id: String,
    owner_id: String,
}

impl Caller {
    /// The caller of `principal`'s request, if an access line will be written.
    pub fn of(principal: &Principal) -> Option<Self> {
        tracing::enabled!(target: TARGET, tracing::Level::INFO).then(|| Self {
            key_id: principal.key_id.clone(),
            owner_id: principal.owner_id.clone(),
        })
    }
}

/// Attach the caller (when there is one) to the response, for the access line.
pub trait AttachCaller {
    /// Put it in `response`'s extensions.
    fn attach(self, response: &mut Response);
}

impl AttachCaller for Option<Caller> {
    fn attach(self, response: &mut Response) {
        if let Some(caller) = self {
            response.extensions_mut().insert(caller);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Millis;
    use std::time::Duration;

    #[test]
    fn latencies_read_as_milliseconds_with_three_decimals() {
        for (micros, text) in [
            (3, "0.003"),
            (1_250, "1.250"),
            (999_999, "999.999"),
            (12_345_678, "12345.678"),
        ] {
            assert_eq!(Millis::of(Duration::from_micros(micros)).as_str(), text);
        }
    }
}
