//! `[auth]`: keys, sessions, signed requests and lockout.

use super::*;

/// A scheme of signed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// RFC 9421 HTTP Message Signatures: binds method, target, body and a nonce.
    Rfc9421,
    /// Seed 001's X-Token-Hash: binds the body only, and can be replayed within its window.
    TokenHash,
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Accept the keys in `ADMIN_API_KEY`, `USER_API_KEY` and `TERMUX_API_KEY` (seed 000 style).
    pub env_keys: bool,
    /// How many verified keys to keep in memory.
    pub cache_capacity: usize,
    /// How long a verified key is trusted from memory before it is read again.
    #[serde(with = "human_duration")]
    pub cache_ttl: Duration,
    /// How long an unknown key id is remembered as unknown.
    #[serde(with = "human_duration")]
    pub negative_cache_ttl: Duration,
    /// How often to look for keys changed by another process (the CLI, another node).
    #[serde(with = "human_duration")]
    pub refresh_interval: Duration,
    /// How often the last-used times of keys are written to the store.
    #[serde(with = "human_duration")]
    pub last_used_flush: Duration,
    /// At most this many store look-ups for uncached keys run at once.
    pub max_concurrent_lookups: usize,
    /// Lifetime of a login session.
    #[serde(with = "human_duration")]
    pub session_ttl: Duration,
    /// A new login ends the same user+key's older sessions (seed 001's rule).
    pub single_session: bool,
    /// Accept a session token as `Authorization: Bearer`.
    pub session_bearer: bool,
    /// Set and accept a session cookie (browser use; CSRF token required to change state).
    pub session_cookie: bool,
    /// 64 hex characters shared by all nodes; default: `<data_dir>/session.key`, created once.
    pub session_secret: Option<crate::secret::SecretString>,
    /// 64 hex characters keying the audit chain; default: `<data_dir>/audit.key`, created once.
    /// Keep a copy away from the database: whoever holds both can rewrite history.
    pub audit_secret: Option<crate::secret::SecretString>,
    /// Accepted clock difference for signed requests, either way.
    #[serde(with = "human_duration")]
    pub signature_window: Duration,
    /// Route groups (`identity`, `keys`, `sessions`, `audit`) that require a signed request.
    #[serde(deserialize_with = "lists::one_or_many")]
    pub signed_groups: Vec<String>,
    /// Schemes that satisfy `signed_groups`: `rfc9421` and `token_hash`. Leave out
    /// `token_hash` where a replayed or re-targeted request would matter: it binds neither
    /// method nor URI, and can be replayed within the signature window.
    #[serde(deserialize_with = "lists::one_or_many")]
    pub signature_schemes: Vec<SignatureScheme>,
    /// Nonces remembered at most (replay protection for signed requests without Redis).
    pub replay_cache_capacity: usize,
    /// Nonces any one key may have remembered at once; a key sending signed requests faster
    /// than this per window (twice `signature_window`) is refused, not everyone else.
    pub replay_cache_per_key: usize,
    /// Failures (per address or username) that trigger a lockout.
    pub lockout_threshold: u32,
    /// Failures are counted within this window.
    #[serde(with = "human_duration")]
    pub lockout_window: Duration,
    /// First lockout; each further one doubles.
    #[serde(with = "human_duration")]
    pub lockout_base: Duration,
    /// Longest lockout.
    #[serde(with = "human_duration")]
    pub lockout_max: Duration,
    /// Addresses and usernames tracked at most (each).
    pub lockout_capacity: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            env_keys: true,
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(300),
            negative_cache_ttl: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(1),
            last_used_flush: Duration::from_secs(10),
            max_concurrent_lookups: 4,
            session_ttl: Duration::from_secs(3600),
            single_session: true,
            session_bearer: true,
            session_cookie: true,
            session_secret: None,
            audit_secret: None,
            signature_window: Duration::from_secs(30),
            signed_groups: Vec::new(),
            signature_schemes: vec![SignatureScheme::Rfc9421, SignatureScheme::TokenHash],
            replay_cache_capacity: 1_000_000,
            replay_cache_per_key: 10_000,
            lockout_threshold: 5,
            lockout_window: Duration::from_secs(900),
            lockout_base: Duration::from_secs(30),
            lockout_max: Duration::from_secs(3600),
            lockout_capacity: 100_000,
        }
    }
}
