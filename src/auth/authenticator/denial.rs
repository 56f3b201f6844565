//! Why a request was not admitted, as authentication and limits see it. No HTTP status
//! here: `http::error` maps each case to a response, in the one place that does that.

use super::request::BodyError;
use crate::auth::Role;
use crate::auth::signature::SignatureError;
use crate::limits::policy::Counted;
use crate::store::StoreError;
use std::time::Duration;

/// Why a request was turned away.
#[derive(Debug, thiserror::Error)]
pub enum Denial {
    /// No credential, or one that was refused. Deliberately says nothing more.
    #[error("authentication required")]
    Unauthenticated,
    /// A signed request was refused; names the failed check, never a secret.
    #[error("signature refused: {0}")]
    Signature(SignatureError),
    /// The route group requires a signed request (an RFC 9421 one when `rfc9421_only`).
    #[error("signature required")]
    SignatureRequired {
        /// X-Token-Hash is not accepted for this group.
        rfc9421_only: bool,
    },
    /// A cookie-authenticated request that changes state lacks a valid CSRF token.
    #[error("csrf check failed")]
    Csrf,
    /// Too many failed attempts from this client; retry after the given time.
    #[error("too many failed attempts")]
    LockedOut(Duration),
    /// Over a rate limit; retry after the given time.
    #[error("rate limited")]
    RateLimited(Duration),
    /// The key's quota is used up until the given Unix time, or for good.
    #[error("quota exhausted")]
    QuotaExhausted(Option<i64>),
    /// Limits cannot be checked (Redis down with `redis_failure = "closed"`).
    #[error("rate limiter unavailable")]
    LimiterUnavailable,
    /// Authenticated, but the role lacks the permission; names the least role that has it.
    #[error("{} role required", .0.title())]
    Forbidden(Role),
    /// The store could not answer: not the client's fault.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The body a signature covers could not be read.
    #[error(transparent)]
    Body(#[from] BodyError),
}

/// A request turned away: why, the rate limit that decided (for the `RateLimit` headers),
/// and the caller when it was identified before being refused (for the access log).
#[derive(Debug)]
pub struct Denied<'a> {
    /// Why.
    pub denial: Denial,
    /// The limit that counted last, when one did.
    pub rate: Option<Counted<'a>>,
    /// Who was refused, when known (a permission denial, a CSRF failure).
    pub caller: Option<Box<crate::auth::Principal>>,
}

impl From<Denial> for Denied<'_> {
    fn from(denial: Denial) -> Self {
        Self {
            denial,
            rate: None,
            caller: None,
        }
    }
}
