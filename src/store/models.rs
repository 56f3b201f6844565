//! Plain data as stored. Timestamps are Unix seconds; roles are names, interpreted by `auth`
//! (the store sits below the policy layer and must not depend on it).

use serde::{Deserialize, Serialize};

/// Whether a key holder is a person or a program (seed 003's "User 1" vs "App 1").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    /// A person.
    #[default]
    User,
    /// An application or service.
    App,
}

impl OwnerKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::App => "app",
        }
    }

    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(OwnerKind::User),
            "app" => Some(OwnerKind::App),
            _ => None,
        }
    }
}

/// The holder of one or more keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Public, stable id.
    pub id: String,
    /// Unique display name.
    pub name: String,
    /// Person or program.
    pub kind: OwnerKind,
    /// Unix seconds.
    pub created_at: i64,
}

/// A key as stored: never holds the plaintext, only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Public id, also embedded in the key string.
    pub id: String,
    /// Who holds the key.
    pub owner: Owner,
    /// Role name.
    pub role: String,
    /// Free text to tell keys of one owner apart.
    pub label: Option<String>,
    /// SHA-256 of the full key string.
    pub key_hash: [u8; 32],
    /// Free-form JSON object.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// A disabled key is refused until enabled again.
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; refused from this instant on.
    pub expires_at: Option<i64>,
    /// Unix seconds, as last flushed.
    pub last_used_at: Option<i64>,
    /// Unix seconds; refused from this instant on, for good.
    pub revoked_at: Option<i64>,
    /// The key that replaced this one by rotation.
    pub replaced_by: Option<String>,
    /// Position in the listing order, used as the pagination cursor.
    pub seq: i64,
    /// Issued here, or imported from another system by its hash.
    pub source: KeyOrigin,
    /// The key's own rate limit (e.g. `"100/min"`), overriding its role's default.
    pub rate_limit: Option<String>,
    /// The key's usage quota, if it has one.
    pub quota: Option<KeyQuota>,
}

/// A usage quota as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyQuota {
    /// Uses per period.
    pub limit: i64,
    /// `never`, `daily` or `monthly`.
    pub refill: String,
    /// Unix seconds when the quota was set (starts a fresh count).
    pub set_at: i64,
    /// Uses counted in the period starting at `period_start`, as last flushed.
    pub used: i64,
    /// Unix seconds.
    pub period_start: Option<i64>,
}

/// New limits for a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// Rate limit text; `None` falls back to the role default.
    pub rate_limit: Option<String>,
    /// `(limit, refill)`; `None` removes the quota.
    pub quota: Option<(i64, String)>,
}

// The hash is not secret in the way the key is, but it is a lookup token for the key: keep it
// out of logs anyway.
impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("owner", &self.owner.name)
            .field("role", &self.role)
            .field("key_hash", &"***")
            .field("enabled", &self.enabled)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// The life-cycle state of a key at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Usable.
    Active,
    /// Switched off by an admin; can be switched on again.
    Disabled,
    /// Past its expiry.
    Expired,
    /// Revoked for good.
    Revoked,
}

impl KeyRecord {
    /// State at `now` (Unix seconds). Revocation wins over everything else.
    pub fn state(&self, now: i64) -> KeyState {
        if self.revoked_at.is_some_and(|at| at <= now) {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyState::Expired
        } else if !self.enabled {
            KeyState::Disabled
        } else {
            KeyState::Active
        }
    }
}

/// A key to be created.
#[derive(Clone)]
pub struct NewKey {
    /// Public id.
    pub id: String,
    /// Owner name; the owner is created on first use.
    pub owner_name: String,
    /// Used only when the owner is created.
    pub owner_kind: OwnerKind,
    /// Role name.
    pub role: String,
    /// Optional label.
    pub label: Option<String>,
    /// SHA-256 of the key string.
    pub key_hash: [u8; 32],
    /// Issued here, or imported by its hash.
    pub source: KeyOrigin,
    /// Free-form JSON object.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Rate limit and quota.
    pub limits: KeyLimits,
}

/// Where a key comes from. An issued key is ours (`pcl_…`, its id inside it); an imported
/// one is a key another system issued, known here only by its SHA-256, found by that hash,
/// and accepted as its holder always sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyOrigin {
    /// Issued by Portcullis.
    Issued,
    /// Imported by its hash.
    Imported,
}

impl KeyOrigin {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOrigin::Issued => "issued",
            KeyOrigin::Imported => "imported",
        }
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "issued" => Some(KeyOrigin::Issued),
            "imported" => Some(KeyOrigin::Imported),
            _ => None,
        }
    }
}

/// One change to an existing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    /// Revoke at this time (kept if already revoked earlier).
    Revoke(i64),
    /// Expire at this time, or keep an earlier expiry.
    ExpireBy(i64),
    /// Enable or disable.
    SetEnabled(bool),
}

/// Filters and cursor for listing keys.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Exact owner name.
    pub owner: Option<String>,
    /// Exact role name.
    pub role: Option<String>,
    /// State at the time of listing.
    pub state: Option<KeyState>,
    /// Only keys after this `seq`.
    pub after: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// A login session as stored: no token, only what is needed to re-derive and check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public id (the `keyid` of signed requests).
    pub id: String,
    /// Random per-session input to the token derivation.
    pub salt: Vec<u8>,
    /// The owner who logged in.
    pub owner_id: String,
    /// Owner name, joined in.
    pub owner_name: String,
    /// The key used to log in.
    pub key_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, when ended by logout, a newer login, revocation or an admin.
    pub ended_at: Option<i64>,
    /// Why it ended.
    pub end_reason: Option<String>,
}

impl SessionRecord {
    /// Whether the session can be used at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }
}

/// A session to be created.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Public id.
    pub id: String,
    /// Random salt.
    pub salt: Vec<u8>,
    /// Owner.
    pub owner_id: String,
    /// Key used to log in.
    pub key_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Which sessions to end.
#[derive(Debug, Clone)]
pub enum SessionScope {
    /// One session.
    One(String),
    /// All of one key's sessions.
    Key(String),
    /// All of one owner's sessions.
    Owner(String),
}

/// An audit event before it is chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// What happened, e.g. `login.failure`.
    pub kind: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Matched route, if any.
    pub route: Option<String>,
    /// Human-readable summary.
    pub message: String,
    /// Where it happened (`api`, `cli`, `system`).
    pub context: String,
    /// Acting owner.
    pub owner_id: Option<String>,
    /// Acting key.
    pub key_id: Option<String>,
    /// Client address.
    pub client: Option<String>,
    /// Anything else, as a JSON object.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// The event.
    pub event: AuditDraft,
    /// Hash of the previous record (zeros for the first).
    pub prev_hash: [u8; 32],
    /// Hash of this record.
    pub hash: [u8; 32],
    /// `extra` exactly as stored. The hash covers the canonical form of `extra`; verification
    /// checks that the stored text is that form, so an edit that a JSON parser would hide
    /// (a repeated key, whose last value wins) cannot pass as the original.
    pub stored_extra: String,
}

/// Filters for reading the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// From this time (Unix ms), inclusive.
    pub since_ms: Option<i64>,
    /// Until this time (Unix ms), exclusive.
    pub until_ms: Option<i64>,
    /// Acting owner id or key id.
    pub actor: Option<String>,
    /// Exact kind.
    pub kind: Option<String>,
    /// Exact outcome.
    pub outcome: Option<String>,
    /// Only records after this seq.
    pub after: Option<i64>,
    /// Page size.
    pub limit: u32,
    /// Newest first (the default is chain order).
    pub descending: bool,
}
