//! Who is calling: the result of authentication, handed to services and policy.

use super::policy::{Permission, Role};
use crate::store::KeyQuota;
use serde::Serialize;

/// Where a key is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// Created through the API or CLI and kept in the store.
    Store,
    /// Given in an environment variable at start (`ADMIN_API_KEY`, …); never stored.
    Environment,
}

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An API key in `X-API-Key` or `Authorization: Bearer`.
    ApiKey,
    /// A session token in `Authorization: Bearer`.
    SessionBearer,
    /// A session cookie from a web login.
    SessionCookie,
    /// An RFC 9421 HTTP message signature from a session.
    Signature,
    /// Seed 001's `X-Token` + `X-Token-Hash`.
    TokenHash,
}

impl AuthMethod {
    /// The wire name, as serialized (for metrics and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ApiKey => "api_key",
            AuthMethod::SessionBearer => "session_bearer",
            AuthMethod::SessionCookie => "session_cookie",
            AuthMethod::Signature => "signature",
            AuthMethod::TokenHash => "token_hash",
        }
    }
}

/// An authenticated caller. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Public id of the key used.
    pub key_id: String,
    /// Stable id of the key's owner.
    pub owner_id: String,
    /// Display name of the owner.
    pub owner: String,
    /// The key's role.
    pub role: Role,
    /// Unix seconds after which the key stops working.
    pub expires_at: Option<i64>,
    /// Store or environment.
    pub source: KeySource,
    /// The session the request belongs to, if any.
    pub session_id: Option<String>,
    /// How the caller authenticated.
    pub method: AuthMethod,
    /// The key's own rate limit, if it has one (else its role's default applies).
    pub rate_limit: Option<String>,
    /// The key's usage quota, if it has one.
    pub quota: Option<KeyQuota>,
}

impl Principal {
    /// Whether this caller may do `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.role.grants(permission)
    }
}
