//! The statements that load copied rows, the same for every engine: multi-row `INSERT`s of
//! the exact stored values (key hashes, audit hashes and the audit `extra` text byte for
//! byte, so the chain verifies on the target under the same audit key).

use crate::store::messages::StoredMessage;
use crate::store::models::{AuditRecord, KeyRecord, SessionRecord};
use crate::store::sql::Binds;
use sqlx::QueryBuilder;

/// `(v1, v2, …), (…)` for `rows`, each row's values pushed by `row`.
fn values<DB: Binds, T>(
    query: &mut QueryBuilder<DB>,
    rows: &[T],
    mut row: impl FnMut(&mut Row<'_, DB>, &T),
) {
    for (i, item) in rows.iter().enumerate() {
        query.push(if i == 0 { "(" } else { ", (" });
        let mut values = Row { query, first: true };
        row(&mut values, item);
        query.push(")");
    }
}

/// The values of one row, comma-separated.
struct Row<'q, DB: Binds> {
    query: &'q mut QueryBuilder<DB>,
    first: bool,
}

impl<DB: Binds> Row<'_, DB> {
    fn next(&mut self) -> &mut QueryBuilder<DB> {
        if !self.first {
            self.query.push(", ");
        }
        self.first = false;
        self.query
    }
    fn int(&mut self, v: i64) {
        DB::int(self.next(), v);
    }
    fn int_opt(&mut self, v: Option<i64>) {
        DB::int_opt(self.next(), v);
    }
    fn text(&mut self, v: &str) {
        DB::text(self.next(), v.to_owned());
    }
    fn text_opt(&mut self, v: Option<&str>) {
        DB::text_opt(self.next(), v.map(str::to_owned));
    }
    fn bytes(&mut self, v: &[u8]) {
        DB::bytes(self.next(), v.to_vec());
    }
    fn flag(&mut self, v: bool) {
        DB::flag(self.next(), v);
    }
}

/// The owners of `keys` (each once), kept if already there.
pub(crate) fn owners<DB: Binds>(keys: &[KeyRecord]) -> QueryBuilder<DB> {
    let mut seen = std::collections::BTreeSet::new();
    let owners: Vec<&KeyRecord> = keys.iter().filter(|k| seen.insert(&k.owner.id)).collect();
    let mut query = QueryBuilder::new("INSERT INTO owners (id, name, kind, created_at) VALUES ");
    values(&mut query, &owners, |row, key| {
        row.text(&key.owner.id);
        row.text(&key.owner.name);
        row.text(key.owner.kind.as_str());
        row.int(key.owner.created_at);
    });
    query.push(" ON CONFLICT (id) DO NOTHING");
    query
}

/// `keys` as they are, at change `revision`.
pub(crate) fn keys<DB: Binds>(keys: &[KeyRecord], revision: i64) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(
        "INSERT INTO api_keys (seq, id, owner_id, role, label, key_hash, metadata, enabled, \
         created_at, expires_at, last_used_at, revoked_at, replaced_by, revision, rate_limit, \
         quota_limit, quota_refill, quota_set_at, quota_used, quota_period_start, source) VALUES ",
    );
    values(&mut query, keys, |row, key| {
        row.int(key.seq);
        row.text(&key.id);
        row.text(&key.owner.id);
        row.text(&key.role);
        row.text_opt(key.label.as_deref());
        row.bytes(&key.key_hash);
        row.text(&serde_json::Value::Object(key.metadata.clone()).to_string());
        row.flag(key.enabled);
        row.int(key.created_at);
        row.int_opt(key.expires_at);
        row.int_opt(key.last_used_at);
        row.int_opt(key.revoked_at);
        row.text_opt(key.replaced_by.as_deref());
        row.int(revision);
        row.text_opt(key.rate_limit.as_deref());
        row.int_opt(key.quota.as_ref().map(|q| q.limit));
        row.text_opt(key.quota.as_ref().map(|q| q.refill.as_str()));
        row.int_opt(key.quota.as_ref().map(|q| q.set_at));
        row.int(key.quota.as_ref().map_or(0, |q| q.used));
        row.int_opt(key.quota.as_ref().and_then(|q| q.period_start));
        row.text(key.source.as_str());
    });
    query
}

/// `sessions` as they are.
pub(crate) fn sessions<DB: Binds>(sessions: &[SessionRecord]) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(
        "INSERT INTO sessions (id, salt, owner_id, key_id, created_at, expires_at, ended_at, \
         end_reason) VALUES ",
    );
    values(&mut query, sessions, |row, s| {
        row.text(&s.id);
        row.bytes(&s.salt);
        row.text(&s.owner_id);
        row.text(&s.key_id);
        row.int(s.created_at);
        row.int(s.expires_at);
        row.int_opt(s.ended_at);
        row.text_opt(s.end_reason.as_deref());
    });
    query
}

/// Audit records as stored: position, exact `extra` text, both hashes.
pub(crate) fn audit<DB: Binds>(records: &[AuditRecord]) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(
        "INSERT INTO audit_events (seq, at_ms, kind, outcome, route, message, context, \
         owner_id, key_id, client, extra, prev_hash, hash) VALUES ",
    );
    values(&mut query, records, |row, r| {
        row.int(r.seq);
        row.int(r.event.at_ms);
        row.text(&r.event.kind);
        row.text(&r.event.outcome);
        row.text_opt(r.event.route.as_deref());
        row.text(&r.event.message);
        row.text(&r.event.context);
        row.text_opt(r.event.owner_id.as_deref());
        row.text_opt(r.event.key_id.as_deref());
        row.text_opt(r.event.client.as_deref());
        row.text(&r.stored_extra);
        row.bytes(&r.prev_hash);
        row.bytes(&r.hash);
    });
    query
}

/// Sealed messages as stored.
pub(crate) fn messages<DB: Binds>(messages: &[StoredMessage]) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(
        "INSERT INTO messages (lookup, sealed, burn, delete_hash, created_at, expires_at) VALUES ",
    );
    values(&mut query, messages, |row, m| {
        row.text(&m.lookup);
        row.bytes(&m.sealed);
        row.flag(m.burn);
        row.text(&m.delete_hash);
        row.int(m.created_at);
        row.int(m.expires_at);
    });
    query
}

/// What a store holds, one row.
pub(crate) const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM owners) AS n_owners, \
     (SELECT COUNT(*) FROM api_keys) AS n_keys, (SELECT COUNT(*) FROM sessions) AS n_sessions, \
     (SELECT COUNT(*) FROM audit_events) AS n_audit, (SELECT COUNT(*) FROM messages) AS n_messages";

/// Everything a forced copy replaces (sessions and keys before the owners they name).
pub(crate) const CLEAR: &str = "DELETE FROM sessions; DELETE FROM api_keys; DELETE FROM owners; \
     DELETE FROM audit_events; DELETE FROM messages; DELETE FROM nonces;";

/// The [`COUNTS`] row as counts.
pub(crate) fn counts(
    row: &impl crate::store::rows::Columns,
) -> Result<super::Counts, crate::store::StoreError> {
    let n = |name| row.int(name).map(|v| u64::try_from(v).unwrap_or(0));
    Ok(super::Counts {
        owners: n("n_owners")?,
        keys: n("n_keys")?,
        sessions: n("n_sessions")?,
        audit_events: n("n_audit")?,
        messages: n("n_messages")?,
    })
}

/// Sessions after an id, in id order (paging a copy).
pub(crate) fn sessions_after<DB: Binds>(after: &str, limit: u32) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(crate::store::rows::SESSION_COLUMNS);
    query.push(" WHERE s.id > ");
    DB::text(&mut query, after.to_owned());
    query.push(" ORDER BY s.id LIMIT ");
    DB::int(&mut query, i64::from(limit));
    query
}

/// Messages after a lookup key, in that order (paging a copy).
pub(crate) fn messages_after<DB: Binds>(after: &str, limit: u32) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(
        "SELECT lookup, sealed, burn, delete_hash, created_at, expires_at FROM messages \
         WHERE lookup > ",
    );
    DB::text(&mut query, after.to_owned());
    query.push(" ORDER BY lookup LIMIT ");
    DB::int(&mut query, i64::from(limit));
    query
}
