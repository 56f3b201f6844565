//! Signed requests, two schemes:
//!
//! * [`rfc9421`] — RFC 9421 HTTP Message Signatures with `hmac-sha256`, `keyid` = session id,
//!   key = the session token; `created` within a window, a `nonce` never seen twice, and an
//!   RFC 9530 `Content-Digest` that must match the body. The recommended scheme.
//! * [`token_hash`] — seed 001's `X-Token` (the API key) and `X-Token-Hash` (hex
//!   HMAC-SHA512 of the body keyed by `session ‖ unix seconds`), accepted within the same
//!   window so existing clients of that design work. It has no replay protection of its own
//!   (identical bodies in the same second give identical hashes): prefer RFC 9421.

pub mod digest;
pub mod replay;
pub mod rfc9421;
pub mod token_hash;

/// Why a signed request was refused. The message is safe to show: it names the failed check,
/// never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header does not parse.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Only `hmac-sha256` is accepted.
    #[error("unsupported signature algorithm")]
    Algorithm,
    /// A required parameter is missing.
    #[error("signature parameter `{0}` is required")]
    MissingParameter(&'static str),
    /// A required component is not covered.
    #[error("the signature must cover {0}")]
    MissingComponent(&'static str),
    /// A covered component cannot be derived.
    #[error("cannot derive covered component {0}")]
    Component(String),
    /// `created` outside the window, or `expires` passed.
    #[error("signature is stale or from the future")]
    Stale,
    /// The nonce was used before.
    #[error("nonce already used")]
    Replayed,
    /// Too many nonces in flight to remember another safely.
    #[error("too many signed requests in the window; retry shortly")]
    ReplayCacheFull,
    /// No `Content-Digest` although there is a body.
    #[error("content-digest is required for a request with a body")]
    DigestMissing,
    /// The body does not match `Content-Digest`.
    #[error("content-digest does not match the body")]
    DigestMismatch,
    /// No session has the id in `keyid` (or the key presented has no live session): counts
    /// as a guess towards a lockout.
    #[error("unknown or expired session")]
    UnknownSession,
    /// The session existed but has ended or expired, or its key is no longer usable. Not a
    /// guess: honest clients retry after expiry, and a NAT of them must not be locked out.
    /// The client sees the same message as for an unknown session.
    #[error("unknown or expired session")]
    SessionEnded,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Invalid,
    /// The body is too large for the X-Token-Hash scheme.
    #[error("X-Token-Hash accepts bodies up to 64 KiB; sign larger requests with RFC 9421")]
    BodyTooLarge,
}

impl SignatureError {
    /// A stable name for logs and the audit trail: bounded, never a value the client chose.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Algorithm => "algorithm",
            Self::MissingParameter(_) => "missing_parameter",
            Self::MissingComponent(_) => "missing_component",
            Self::Component(_) => "component",
            Self::Stale => "stale",
            Self::Replayed => "replayed",
            Self::ReplayCacheFull => "replay_cache_full",
            Self::DigestMissing => "digest_missing",
            Self::DigestMismatch => "digest_mismatch",
            Self::UnknownSession => "unknown_session",
            Self::SessionEnded => "session_ended",
            Self::Invalid => "invalid",
            Self::BodyTooLarge => "body_too_large",
        }
    }

    /// Whether this refusal looks like guessing a secret (an unknown session id or a MAC that
    /// does not verify), and so counts towards a lockout.
    pub fn is_guess(&self) -> bool {
        matches!(self, Self::Invalid | Self::UnknownSession)
    }

    /// A covered component we cannot derive, named in the message cut to 64 characters.
    pub fn component(name: &str) -> Self {
        Self::Component(name.chars().take(64).collect())
    }
}

/// Verification outcome: the session that signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Public session id.
    pub session_id: String,
}
