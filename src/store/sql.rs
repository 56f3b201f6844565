//! SQL built at run time, the same for every engine: the statements whose shape depends on a
//! filter or a change. Each engine runs them on its own pool; placeholders (`?` or `$n`) are
//! the query builder's business. What differs between engines stays in the engine's folder.

use super::models::{AuditFilter, KeyChange, KeyFilter, KeyState, SessionScope};
use super::rows::{KEY_COLUMNS, SESSION_COLUMNS};
use sqlx::{Database, Postgres, QueryBuilder, Sqlite};

/// The three kinds of value these statements bind. One implementation per engine, so that
/// the builders below need no bound per type.
pub(crate) trait Binds: Database + Sized {
    /// Bind an integer.
    fn int(query: &mut QueryBuilder<Self>, value: i64);
    /// Bind a text.
    fn text(query: &mut QueryBuilder<Self>, value: String);
    /// Bind a boolean.
    fn flag(query: &mut QueryBuilder<Self>, value: bool);
    /// Bind bytes.
    fn bytes(query: &mut QueryBuilder<Self>, value: Vec<u8>);
    /// Bind an integer that may be NULL.
    fn int_opt(query: &mut QueryBuilder<Self>, value: Option<i64>);
    /// Bind a text that may be NULL.
    fn text_opt(query: &mut QueryBuilder<Self>, value: Option<String>);
}

impl Binds for Sqlite {
    fn int(query: &mut QueryBuilder<Self>, value: i64) {
        query.push_bind(value);
    }
    fn text(query: &mut QueryBuilder<Self>, value: String) {
        query.push_bind(value);
    }
    fn flag(query: &mut QueryBuilder<Self>, value: bool) {
        query.push_bind(value);
    }
    fn bytes(query: &mut QueryBuilder<Self>, value: Vec<u8>) {
        query.push_bind(value);
    }
    fn int_opt(query: &mut QueryBuilder<Self>, value: Option<i64>) {
        query.push_bind(value);
    }
    fn text_opt(query: &mut QueryBuilder<Self>, value: Option<String>) {
        query.push_bind(value);
    }
}

impl Binds for Postgres {
    fn int(query: &mut QueryBuilder<Self>, value: i64) {
        query.push_bind(value);
    }
    fn text(query: &mut QueryBuilder<Self>, value: String) {
        query.push_bind(value);
    }
    fn flag(query: &mut QueryBuilder<Self>, value: bool) {
        query.push_bind(value);
    }
    fn bytes(query: &mut QueryBuilder<Self>, value: Vec<u8>) {
        query.push_bind(value);
    }
    fn int_opt(query: &mut QueryBuilder<Self>, value: Option<i64>) {
        query.push_bind(value);
    }
    fn text_opt(query: &mut QueryBuilder<Self>, value: Option<String>) {
        query.push_bind(value);
    }
}

/// One key by public id.
pub(crate) fn get_key<DB: Binds>(id: &str) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(KEY_COLUMNS);
    query.push(" WHERE k.id = ");
    DB::text(&mut query, id.to_owned());
    query
}

/// One key by the SHA-256 of its key string (an imported key, whose string holds no id).
pub(crate) fn get_key_by_hash<DB: Binds>(hash: &[u8; 32]) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(KEY_COLUMNS);
    query.push(" WHERE k.key_hash = ");
    DB::bytes(&mut query, hash.to_vec());
    query
}

/// A page of keys matching `filter`, oldest first, states judged at `now`.
pub(crate) fn list_keys<DB: Binds>(filter: &KeyFilter, now: i64) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(KEY_COLUMNS);
    query.push(" WHERE k.seq > ");
    DB::int(&mut query, filter.after.unwrap_or(0));
    if let Some(owner) = &filter.owner {
        query.push(" AND o.name = ");
        DB::text(&mut query, owner.clone());
    }
    if let Some(role) = &filter.role {
        query.push(" AND k.role = ");
        DB::text(&mut query, role.clone());
    }
    let not_revoked = |q: &mut QueryBuilder<DB>| {
        q.push(" AND (k.revoked_at IS NULL OR k.revoked_at > ");
        DB::int(q, now);
        q.push(")");
    };
    let not_expired = |q: &mut QueryBuilder<DB>| {
        q.push(" AND (k.expires_at IS NULL OR k.expires_at > ");
        DB::int(q, now);
        q.push(")");
    };
    match filter.state {
        None => {}
        Some(KeyState::Revoked) => {
            query.push(" AND k.revoked_at <= ");
            DB::int(&mut query, now);
        }
        Some(KeyState::Expired) => {
            not_revoked(&mut query);
            query.push(" AND k.expires_at <= ");
            DB::int(&mut query, now);
        }
        Some(KeyState::Disabled) => {
            not_revoked(&mut query);
            not_expired(&mut query);
            query.push(" AND k.enabled = FALSE");
        }
        Some(KeyState::Active) => {
            not_revoked(&mut query);
            not_expired(&mut query);
            query.push(" AND k.enabled = TRUE");
        }
    }
    query.push(" ORDER BY k.seq LIMIT ");
    DB::int(&mut query, i64::from(filter.limit));
    query
}

/// Apply `change` to key `id` at `revision`; with `replaced_by`, only to a key that is
/// neither revoked nor rotated already (a key is rotated once: a second rotation would leave
/// two live successors).
pub(crate) fn change_key<DB: Binds>(
    id: &str,
    change: KeyChange,
    revision: i64,
    replaced_by: Option<&str>,
) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new("UPDATE api_keys SET revision = ");
    DB::int(&mut query, revision);
    match change {
        KeyChange::Revoke(at) => {
            query.push(", revoked_at = COALESCE(revoked_at, ");
            DB::int(&mut query, at);
            query.push(")");
        }
        KeyChange::ExpireBy(at) => {
            query.push(", expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < ");
            DB::int(&mut query, at);
            query.push(" THEN expires_at ELSE ");
            DB::int(&mut query, at);
            query.push(" END");
        }
        KeyChange::SetEnabled(enabled) => {
            query.push(", enabled = ");
            DB::flag(&mut query, enabled);
        }
    }
    if let Some(new_id) = replaced_by {
        query.push(", replaced_by = ");
        DB::text(&mut query, new_id.to_owned());
    }
    query.push(" WHERE id = ");
    DB::text(&mut query, id.to_owned());
    if replaced_by.is_some() {
        query.push(" AND revoked_at IS NULL AND replaced_by IS NULL");
    }
    query
}

/// One session by public id.
pub(crate) fn get_session<DB: Binds>(id: &str) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(SESSION_COLUMNS);
    query.push(" WHERE s.id = ");
    DB::text(&mut query, id.to_owned());
    query
}

/// The newest live sessions opened with `key_id` (at most 16: seed 001's token hash tries
/// each, so their number is bounded).
pub(crate) fn live_sessions_for_key<DB: Binds>(key_id: &str, now: i64) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(SESSION_COLUMNS);
    query.push(" WHERE s.key_id = ");
    DB::text(&mut query, key_id.to_owned());
    query.push(" AND s.ended_at IS NULL AND s.expires_at > ");
    DB::int(&mut query, now);
    query.push(" ORDER BY s.created_at DESC LIMIT 16");
    query
}

/// End the live sessions in `scope` at `at`, returning their ids.
pub(crate) fn end_sessions<DB: Binds>(
    scope: &SessionScope,
    at: i64,
    reason: &str,
) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new("UPDATE sessions SET ended_at = ");
    DB::int(&mut query, at);
    query.push(", end_reason = ");
    DB::text(&mut query, reason.to_owned());
    let (column, id) = match scope {
        SessionScope::One(id) => (" WHERE id = ", id),
        SessionScope::Key(id) => (" WHERE key_id = ", id),
        SessionScope::Owner(id) => (" WHERE owner_id = ", id),
    };
    query.push(column);
    DB::text(&mut query, id.clone());
    query.push(" AND ended_at IS NULL AND expires_at > ");
    DB::int(&mut query, at);
    query.push(" RETURNING id");
    query
}

/// Sessions of one owner (by name) or all, newest first; only live ones with `live_at`.
pub(crate) fn list_sessions<DB: Binds>(
    owner_name: Option<&str>,
    live_at: Option<i64>,
    limit: u32,
) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new(SESSION_COLUMNS);
    query.push(" WHERE 1 = 1");
    if let Some(name) = owner_name {
        query.push(" AND o.name = ");
        DB::text(&mut query, name.to_owned());
    }
    if let Some(now) = live_at {
        query.push(" AND s.ended_at IS NULL AND s.expires_at > ");
        DB::int(&mut query, now);
    }
    query.push(" ORDER BY s.created_at DESC, s.id LIMIT ");
    DB::int(&mut query, i64::from(limit));
    query
}

/// Audit records matching `filter`, in chain order (or newest first).
pub(crate) fn audit_events<DB: Binds>(filter: &AuditFilter) -> QueryBuilder<DB> {
    let mut query = QueryBuilder::new("SELECT * FROM audit_events WHERE seq > ");
    DB::int(&mut query, filter.after.unwrap_or(0));
    if let Some(since) = filter.since_ms {
        query.push(" AND at_ms >= ");
        DB::int(&mut query, since);
    }
    if let Some(until) = filter.until_ms {
        query.push(" AND at_ms < ");
        DB::int(&mut query, until);
    }
    if let Some(actor) = &filter.actor {
        query.push(" AND (owner_id = ");
        DB::text(&mut query, actor.clone());
        query.push(" OR key_id = ");
        DB::text(&mut query, actor.clone());
        query.push(")");
    }
    if let Some(kind) = &filter.kind {
        query.push(" AND kind = ");
        DB::text(&mut query, kind.clone());
    }
    if let Some(outcome) = &filter.outcome {
        query.push(" AND outcome = ");
        DB::text(&mut query, outcome.clone());
    }
    query.push(if filter.descending {
        " ORDER BY seq DESC LIMIT "
    } else {
        " ORDER BY seq LIMIT "
    });
    DB::int(&mut query, i64::from(filter.limit));
    query
}
