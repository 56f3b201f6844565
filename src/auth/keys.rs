//! Key management: the one place where keys are created, rotated, revoked, enabled and
//! disabled. The HTTP API and the CLI both call it, so they cannot drift apart.

mod changes;

mod checks;
mod import;
use super::key_format;
use super::policy::Role;
use super::verifier::KeyVerifier;
use crate::clock::Clock;
use crate::limits::{self, RateSpec, Refill};
use crate::secret::SecretString;
use crate::store::{
    KeyChange, KeyFilter, KeyLimits, KeyOrigin, KeyQuota, KeyRecord, KeyState, NewKey, OwnerKind,
    SessionScope, Store, StoreError,
};
pub use changes::ChangedBy;
pub use checks::parse_lifetime;
use checks::{check_id, parse_role, validate_limits, validate_metadata, validate_name};
pub use import::{ImportFormat, ImportKey, MAX_IMPORT, parse_hash, read_import};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Longest owner name or label.
pub const MAX_NAME_LEN: usize = 128;
/// Largest metadata object, serialized.
pub const MAX_METADATA_BYTES: usize = 4096;
/// Longest key lifetime or rotation grace period: ten years.
pub const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Largest page of a key listing.
pub const MAX_PAGE: u32 = 200;

/// Errors of key management, mapped to HTTP statuses in `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key with that id.
    #[error("no such key")]
    NotFound,
    /// The request is invalid; the message says which field and why.
    #[error("{0}")]
    Invalid(String),
    /// The key's state forbids the change.
    #[error("{0}")]
    Conflict(&'static str),
    /// A key with that hash exists already (an import names the lines).
    #[error("{0}")]
    Exists(String),
    /// Keys from the environment are managed by the environment.
    #[error("environment keys cannot be changed through the API")]
    EnvironmentKey,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random generator failed.
    #[error("random generator failed: {0}")]
    Random(#[from] getrandom::Error),
}

/// What is needed to create a key.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Owner name (created on first use).
    #[schema(value_type = crate::http::openapi::Name)]
    pub owner: String,
    /// Person or program; used only when the owner is new.
    #[serde(default)]
    pub owner_kind: OwnerKind,
    /// Role name.
    #[schema(value_type = Role)]
    pub role: String,
    /// Optional label.
    #[serde(default)]
    #[schema(value_type = Option<crate::http::openapi::Name>)]
    pub label: Option<String>,
    /// Lifetime, e.g. `"90d"`; none means no expiry.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// Free-form JSON object.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// This key's rate limit, e.g. `"100/min"` (default: its role's).
    #[serde(default)]
    pub rate: Option<String>,
    /// A usage quota.
    #[serde(default)]
    pub quota: Option<QuotaRequest>,
}

/// A quota as requested: `{"limit": 1000, "refill": "daily"}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaRequest {
    /// Uses per period.
    #[serde(deserialize_with = "crate::whole_number::i64")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub limit: i64,
    /// `never` (default), `daily` or `monthly`.
    #[serde(default = "never")]
    pub refill: Refill,
}

fn never() -> Refill {
    Refill::Never
}

/// New limits for an existing key (`POST /api/keys/{id}/limits`); absent fields are removed.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLimits {
    /// Rate limit; absent: back to the role default.
    #[serde(default)]
    pub rate: Option<String>,
    /// Quota; absent: none. Setting a quota starts a fresh count.
    #[serde(default)]
    pub quota: Option<QuotaRequest>,
}

/// A quota as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// Uses per period.
    pub limit: i64,
    /// Refill.
    pub refill: Refill,
    /// Uses left in the current period.
    pub remaining: i64,
    /// When the next refill happens, if it does.
    pub resets_at: Option<String>,
}

/// A key as shown to admins: no hash, no plaintext, times as RFC 3339.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// Public id.
    pub id: String,
    /// The prefix of the key string, as it appears in logs.
    pub prefix: String,
    /// Owner name.
    pub owner: String,
    /// Owner id.
    pub owner_id: String,
    /// Owner kind.
    pub owner_kind: OwnerKind,
    /// Role name.
    pub role: String,
    /// `issued` here, or `imported` by its hash from another system.
    pub source: KeyOrigin,
    /// Label.
    pub label: Option<String>,
    /// State now.
    pub state: KeyState,
    /// Enabled flag.
    pub enabled: bool,
    /// Creation time.
    pub created_at: Option<String>,
    /// Expiry time.
    pub expires_at: Option<String>,
    /// Last use.
    pub last_used_at: Option<String>,
    /// Revocation time.
    pub revoked_at: Option<String>,
    /// Successor after rotation.
    pub replaced_by: Option<String>,
    /// Free-form metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The key's own rate limit (absent: the role default applies).
    pub rate_limit: Option<String>,
    /// The key's quota, with uses left now.
    pub quota: Option<QuotaView>,
}

/// Unix seconds as RFC 3339, for responses.
pub fn rfc3339(unix: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
}

/// A page of keys.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyPage {
    /// The keys.
    pub keys: Vec<KeyView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A newly issued key: the only time the plaintext exists outside the caller's hands.
#[derive(Debug)]
pub struct IssuedKey {
    /// The stored record.
    pub record: KeyRecord,
    /// The key string.
    pub token: SecretString,
}

/// Creates and changes keys, and records each change in the audit trail (one place for the
/// API and the command line).
#[derive(Clone)]
pub struct KeyManager {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    verifier: Option<Arc<KeyVerifier>>,
    audit: Option<crate::audit::AuditLog>,
}

impl KeyManager {
    /// A manager over `store`; with a `verifier`, changes take effect on its cache at once.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        verifier: Option<Arc<KeyVerifier>>,
    ) -> Self {
        Self {
            store,
            clock,
            verifier,
            audit: None,
        }
    }

    /// Record every change made through this manager in `audit`.
    pub fn with_audit(mut self, audit: crate::audit::AuditLog) -> Self {
        self.audit = Some(audit);
        self
    }

    fn view(&self, record: &KeyRecord) -> KeyView {
        let pending = self
            .verifier
            .as_ref()
            .and_then(|v| v.pending_last_used(&record.id));
        let last_used = match (record.last_used_at, pending) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        KeyView {
            id: record.id.clone(),
            prefix: format!("{}{}", key_format::PREFIX, record.id),
            owner: record.owner.name.clone(),
            owner_id: record.owner.id.clone(),
            owner_kind: record.owner.kind,
            role: record.role.clone(),
            source: record.source,
            label: record.label.clone(),
            state: record.state(self.clock.unix()),
            enabled: record.enabled,
            created_at: rfc3339(record.created_at),
            expires_at: record.expires_at.and_then(rfc3339),
            last_used_at: last_used.and_then(rfc3339),
            revoked_at: record.revoked_at.and_then(rfc3339),
            replaced_by: record.replaced_by.clone(),
            metadata: record.metadata.clone(),
            rate_limit: record.rate_limit.clone(),
            quota: record.quota.as_ref().and_then(|q| {
                let pending = self
                    .verifier
                    .as_ref()
                    .and_then(|v| v.pending_quota(&record.id));
                quota_view(q, pending, self.clock.now())
            }),
        }
    }

    /// Present a record as admins see it.
    pub fn present(&self, record: &KeyRecord) -> KeyView {
        self.view(record)
    }

    fn invalidate(&self, id: &str) {
        if let Some(verifier) = &self.verifier {
            verifier.invalidate(id);
        }
    }

    /// Create a key; the plaintext is returned once, here.
    pub async fn create(
        &self,
        request: CreateKey,
        by: ChangedBy<'_>,
    ) -> Result<IssuedKey, KeyError> {
        let (new, token) = self.prepare(request)?;
        let record = self.store.create_key(new).await?;
        self.invalidate(&record.id);
        self.record(by, "key.create", &record.id).await;
        Ok(IssuedKey { record, token })
    }

    /// Create the store's first key, unless a key exists already (`None`): of several nodes
    /// starting together on an empty database, exactly one issues it.
    pub async fn create_first(
        &self,
        request: CreateKey,
        by: ChangedBy<'_>,
    ) -> Result<Option<IssuedKey>, KeyError> {
        let (new, token) = self.prepare(request)?;
        let Some(record) = self.store.create_first_key(new).await? else {
            return Ok(None);
        };
        self.invalidate(&record.id);
        self.record(by, "key.create", &record.id).await;
        Ok(Some(IssuedKey { record, token }))
    }

    /// Check a creation request and generate the key it asks for.
    fn prepare(&self, request: CreateKey) -> Result<(NewKey, SecretString), KeyError> {
        let owner = validate_name("owner", &request.owner)?;
        let label = request
            .label
            .as_deref()
            .map(|l| validate_name("label", l))
            .transpose()?;
        let role = parse_role(&request.role)?;
        let metadata = validate_metadata(request.metadata.unwrap_or_default())?;
        let now = self.clock.unix();
        let expires_at = match request.expires_in.as_deref() {
            Some(text) => Some(now + parse_lifetime("expires_in", text)?),
            None => None,
        };
        let limits = validate_limits(request.rate.as_deref(), request.quota)?;
        let generated = key_format::generate()?;
        let new = NewKey {
            limits,
            id: generated.id.clone(),
            owner_name: owner,
            owner_kind: request.owner_kind,
            role: role.as_str().to_owned(),
            label,
            key_hash: key_format::hash(generated.token.expose()),
            source: KeyOrigin::Issued,
            metadata,
            created_at: now,
            expires_at,
        };
        Ok((new, generated.token))
    }

    /// One key.
    pub async fn get(&self, id: &str) -> Result<KeyRecord, KeyError> {
        check_id(id)?;
        self.store.get_key(id).await?.ok_or(KeyError::NotFound)
    }

    /// A page of keys matching `filter`; `cursor` comes from the previous page.
    pub async fn list(
        &self,
        mut filter: KeyFilter,
        cursor: Option<&str>,
    ) -> Result<KeyPage, KeyError> {
        if filter.limit == 0 || filter.limit > MAX_PAGE {
            return Err(KeyError::Invalid(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        if let Some(role) = &filter.role {
            parse_role(role)?;
        }
        filter.after = match cursor {
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| KeyError::Invalid("cursor is not valid".to_owned()))?,
            ),
            None => None,
        };
        let records = self.store.list_keys(&filter, self.clock.unix()).await?;
        let next_cursor = (records.len() == filter.limit as usize)
            .then(|| records.last().map(|r| r.seq.to_string()))
            .flatten();
        Ok(KeyPage {
            keys: records.iter().map(|r| self.view(r)).collect(),
            next_cursor,
        })
    }

    /// Set a key's rate limit and quota; effective on this node's next request.
    pub async fn set_limits(
        &self,
        id: &str,
        request: SetLimits,
        by: ChangedBy<'_>,
    ) -> Result<KeyRecord, KeyError> {
        check_id(id)?;
        let limits = validate_limits(request.rate.as_deref(), request.quota)?;
        let record = self
            .store
            .set_key_limits(id, &limits, self.clock.unix())
            .await?
            .ok_or(KeyError::NotFound)?;
        self.invalidate(id);
        self.record(by, "key.limits", &record.id).await;
        Ok(record)
    }

    /// Revoke a key for good, effective on this node's next request. Revoking twice is harmless.
    pub async fn revoke(&self, id: &str, by: ChangedBy<'_>) -> Result<KeyRecord, KeyError> {
        check_id(id)?;
        let record = self
            .store
            .update_key(id, KeyChange::Revoke(self.clock.unix()))
            .await?
            .ok_or(KeyError::NotFound)?;
        self.invalidate(id);
        self.store
            .end_sessions(
                &SessionScope::Key(id.to_owned()),
                self.clock.unix(),
                "key revoked",
            )
            .await?;
        self.record(by, "key.revoke", &record.id).await;
        Ok(record)
    }

    /// Enable or disable a key. A revoked key stays revoked.
    pub async fn set_enabled(
        &self,
        id: &str,
        enabled: bool,
        by: ChangedBy<'_>,
    ) -> Result<KeyRecord, KeyError> {
        check_id(id)?;
        let record = self
            .store
            .update_key(id, KeyChange::SetEnabled(enabled))
            .await?
            .ok_or(KeyError::NotFound)?;
        self.invalidate(id);
        if !enabled {
            // Re-enabling must not bring back sessions that may have been taken meanwhile.
            self.store
                .end_sessions(
                    &SessionScope::Key(id.to_owned()),
                    self.clock.unix(),
                    "key disabled",
                )
                .await?;
        }
        self.record(
            by,
            if enabled { "key.enable" } else { "key.disable" },
            &record.id,
        )
        .await;
        Ok(record)
    }

    /// Issue a successor with the same owner, role, label and metadata. The old key works for
    /// `grace` more (none by default: it is revoked at once). Returns (old, new).
    pub async fn rotate(
        &self,
        id: &str,
        grace: Option<&str>,
        by: ChangedBy<'_>,
    ) -> Result<(KeyRecord, IssuedKey), KeyError> {
        let old = self.get(id).await?;
        let now = self.clock.unix();
        match old.state(now) {
            KeyState::Revoked => return Err(KeyError::Conflict("a revoked key cannot be rotated")),
            KeyState::Expired => {
                return Err(KeyError::Conflict("an expired key cannot be rotated"));
            }
            KeyState::Disabled => {
                return Err(KeyError::Conflict(
                    "a disabled key cannot be rotated; enable it first",
                ));
            }
            KeyState::Active => {}
        }
        if old.replaced_by.is_some() {
            return Err(KeyError::Conflict("this key has already been rotated"));
        }
        let retire = match grace {
            Some(text) => KeyChange::ExpireBy(now + parse_lifetime("grace", text)?),
            None => KeyChange::Revoke(now),
        };
        let generated = key_format::generate()?;
        // The successor keeps the remaining lifetime of the old key, not a fresh one.
        let new = NewKey {
            limits: KeyLimits {
                rate_limit: old.rate_limit.clone(),
                quota: old.quota.as_ref().map(|q| (q.limit, q.refill.clone())),
            },
            id: generated.id.clone(),
            owner_name: old.owner.name.clone(),
            owner_kind: old.owner.kind,
            role: old.role.clone(),
            label: old.label.clone(),
            key_hash: key_format::hash(generated.token.expose()),
            // An imported key's successor is one of ours.
            source: KeyOrigin::Issued,
            metadata: old.metadata.clone(),
            created_at: now,
            expires_at: old.expires_at,
        };
        let (old, record) = match self.store.rotate_key(id, retire, new).await {
            Ok(Some(pair)) => pair,
            Ok(None) => return Err(KeyError::NotFound),
            Err(StoreError::Conflict(_)) => {
                return Err(KeyError::Conflict(
                    "a revoked or already rotated key cannot be rotated",
                ));
            }
            Err(err) => return Err(err.into()),
        };
        self.invalidate(id);
        self.invalidate(&record.id);
        if grace.is_none() {
            self.store
                .end_sessions(&SessionScope::Key(id.to_owned()), now, "key rotated")
                .await?;
        }
        self.record(by, "key.rotate", &old.id).await;
        Ok((
            old,
            IssuedKey {
                record,
                token: generated.token,
            },
        ))
    }
}

/// The quota as shown at `now`, counting uses seen on this node but not yet flushed.
pub fn quota_view(
    quota: &KeyQuota,
    pending: Option<(i64, i64, i64)>,
    now: OffsetDateTime,
) -> Option<QuotaView> {
    let refill = Refill::parse(&quota.refill)?;
    let (start, end) = limits::quota::period(refill, quota.set_at, now);
    let stored = if quota.period_start == Some(start) {
        quota.used
    } else {
        0
    };
    let pending = pending
        .filter(|(set_at, period, _)| *set_at == quota.set_at && *period == start)
        .map(|(_, _, used)| used)
        .unwrap_or(0);
    Some(QuotaView {
        limit: quota.limit,
        refill,
        remaining: (quota.limit - stored.max(pending)).max(0),
        resets_at: end.and_then(rfc3339),
    })
}

#[cfg(test)]
mod tests;
