//! Rows into models, the same for every engine: both keep the same columns under the same
//! names, so the mapping is written once over [`Columns`], which each engine's row type has
//! (one blanket implementation, where the engine's types decode the five column kinds).

use super::StoreError;
use super::models::{
    AuditDraft, AuditRecord, KeyOrigin, KeyQuota, KeyRecord, Owner, OwnerKind, SessionRecord,
};
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

/// The columns a row can give: what the mappings below read.
pub(crate) trait Columns {
    /// A text column.
    fn text(&self, name: &str) -> Result<String, StoreError>;
    /// A text column that may be NULL.
    fn text_opt(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    /// An integer column that may be NULL.
    fn int_opt(&self, name: &str) -> Result<Option<i64>, StoreError>;
    /// A byte column (BLOB, BYTEA).
    fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError>;
    /// A boolean column.
    fn flag(&self, name: &str) -> Result<bool, StoreError>;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    bool: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    R::Database: Database,
{
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn text_opt(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn int_opt(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn flag(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.try_get(name)?)
    }
}

/// The columns of a key joined with its owner, as [`key`] reads them.
pub(crate) const KEY_COLUMNS: &str = "SELECT k.seq, k.id, k.role, k.label, k.key_hash, k.metadata, k.enabled, \
     k.created_at, k.expires_at, k.last_used_at, k.revoked_at, k.replaced_by, \
     k.source, k.rate_limit, k.quota_limit, k.quota_refill, k.quota_set_at, k.quota_used, k.quota_period_start, \
     o.id AS owner_id, o.name AS owner_name, o.kind AS owner_kind, o.created_at AS owner_created_at \
     FROM api_keys k JOIN owners o ON o.id = k.owner_id";

/// The columns of a session joined with its owner, as [`session`] reads them.
pub(crate) const SESSION_COLUMNS: &str = "SELECT s.id, s.salt, s.owner_id, o.name AS owner_name, s.key_id, \
     s.created_at, s.expires_at, s.ended_at, s.end_reason FROM sessions s JOIN owners o ON o.id = s.owner_id";

/// A 32-byte hash column.
pub(crate) fn hash32(row: &impl Columns, column: &str) -> Result<[u8; 32], StoreError> {
    row.bytes(column)?
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{column} is not 32 bytes")))
}

/// A key row (see [`KEY_COLUMNS`]).
pub(crate) fn key(row: &impl Columns) -> Result<KeyRecord, StoreError> {
    let metadata = row.text("metadata")?;
    let metadata = serde_json::from_str(&metadata)
        .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
    let kind = row.text("owner_kind")?;
    Ok(KeyRecord {
        seq: row.int("seq")?,
        id: row.text("id")?,
        owner: Owner {
            id: row.text("owner_id")?,
            name: row.text("owner_name")?,
            kind: OwnerKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("owner kind `{kind}`")))?,
            created_at: row.int("owner_created_at")?,
        },
        role: row.text("role")?,
        label: row.text_opt("label")?,
        key_hash: hash32(row, "key_hash")?,
        metadata,
        enabled: row.flag("enabled")?,
        created_at: row.int("created_at")?,
        expires_at: row.int_opt("expires_at")?,
        last_used_at: row.int_opt("last_used_at")?,
        revoked_at: row.int_opt("revoked_at")?,
        replaced_by: row.text_opt("replaced_by")?,
        source: {
            let source = row.text("source")?;
            KeyOrigin::parse(&source)
                .ok_or_else(|| StoreError::Corrupt(format!("key source `{source}`")))?
        },
        rate_limit: row.text_opt("rate_limit")?,
        quota: match (row.int_opt("quota_limit")?, row.text_opt("quota_refill")?) {
            (Some(limit), Some(refill)) => Some(KeyQuota {
                limit,
                refill,
                set_at: row.int_opt("quota_set_at")?.unwrap_or(0),
                used: row.int("quota_used")?,
                period_start: row.int_opt("quota_period_start")?,
            }),
            _ => None,
        },
    })
}

/// A session row (see [`SESSION_COLUMNS`]).
pub(crate) fn session(row: &impl Columns) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.text("id")?,
        salt: row.bytes("salt")?,
        owner_id: row.text("owner_id")?,
        owner_name: row.text("owner_name")?,
        key_id: row.text("key_id")?,
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        ended_at: row.int_opt("ended_at")?,
        end_reason: row.text_opt("end_reason")?,
    })
}

/// An audit row (`SELECT *` of `audit_events`), with the exact stored `extra` kept for the
/// chain check.
pub(crate) fn audit(row: &impl Columns) -> Result<AuditRecord, StoreError> {
    let extra = row.text("extra")?;
    Ok(AuditRecord {
        seq: row.int("seq")?,
        event: AuditDraft {
            at_ms: row.int("at_ms")?,
            kind: row.text("kind")?,
            outcome: row.text("outcome")?,
            route: row.text_opt("route")?,
            message: row.text("message")?,
            context: row.text("context")?,
            owner_id: row.text_opt("owner_id")?,
            key_id: row.text_opt("key_id")?,
            client: row.text_opt("client")?,
            extra: serde_json::from_str(&extra)
                .map_err(|e| StoreError::Corrupt(format!("audit extra: {e}")))?,
        },
        prev_hash: hash32(row, "prev_hash")?,
        hash: hash32(row, "hash")?,
        stored_extra: extra,
    })
}
