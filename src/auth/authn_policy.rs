//! The settings that shape authentication, as the authenticator reads them (made from
//! `[auth]` at start).

/// Settings that shape authentication.
#[derive(Debug, Clone)]
pub struct AuthnPolicy {
    /// Accepted clock difference for signatures, seconds.
    pub window: i64,
    /// Route groups that require a signature.
    pub signed_groups: Vec<String>,
    /// Session tokens accepted as bearer tokens.
    pub session_bearer: bool,
    /// Session cookie accepted.
    pub session_cookie: bool,
    /// `http` or `https`, as clients address this server (for `@target-uri`).
    pub scheme: &'static str,
    /// Whether seed 001's X-Token-Hash satisfies `signed_groups` (else only RFC 9421 does).
    pub token_hash_signs: bool,
}
