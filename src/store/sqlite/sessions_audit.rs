//! SQLite: sessions, the audit chain and one-time values.

use crate::store::models::{
    AuditDraft, AuditFilter, AuditRecord, NewSession, SessionRecord, SessionScope,
};
use crate::store::rows::{self, hash32};
use crate::store::{ChainHasher, StoreError, sql};
use sqlx::{Pool, Row, Sqlite};

pub(super) async fn create_session(
    pool: &Pool<Sqlite>,
    new: NewSession,
    end_others: bool,
) -> Result<(SessionRecord, Vec<String>), StoreError> {
    let mut tx = pool.begin().await?;
    let mut ended = Vec::new();
    if end_others {
        ended = sqlx::query(
            "UPDATE sessions SET ended_at = ?, end_reason = 'superseded' \
             WHERE owner_id = ? AND key_id = ? AND ended_at IS NULL AND expires_at > ? RETURNING id",
        )
        .bind(new.created_at)
        .bind(&new.owner_id)
        .bind(&new.key_id)
        .bind(new.created_at)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<Vec<String>, _>>()?;
    }
    sqlx::query(
        "INSERT INTO sessions (id, salt, owner_id, key_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&new.id)
    .bind(&new.salt)
    .bind(&new.owner_id)
    .bind(&new.key_id)
    .bind(new.created_at)
    .bind(new.expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let record = get_session(pool, &new.id)
        .await?
        .ok_or(StoreError::Conflict("session vanished after insert"))?;
    Ok((record, ended))
}

pub(super) async fn get_session(
    pool: &Pool<Sqlite>,
    id: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    sql::get_session::<Sqlite>(id)
        .build()
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
}

pub(super) async fn live_sessions_for_key(
    pool: &Pool<Sqlite>,
    key_id: &str,
    now: i64,
) -> Result<Vec<SessionRecord>, StoreError> {
    sql::live_sessions_for_key::<Sqlite>(key_id, now)
        .build()
        .fetch_all(pool)
        .await?
        .iter()
        .map(rows::session)
        .collect()
}

pub(super) async fn end_sessions(
    pool: &Pool<Sqlite>,
    scope: &SessionScope,
    at: i64,
    reason: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sql::end_sessions::<Sqlite>(scope, at, reason)
        .build()
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<Vec<String>, _>>()?)
}

pub(super) async fn list_sessions(
    pool: &Pool<Sqlite>,
    owner_name: Option<&str>,
    live_at: Option<i64>,
    limit: u32,
) -> Result<Vec<SessionRecord>, StoreError> {
    sql::list_sessions::<Sqlite>(owner_name, live_at, limit)
        .build()
        .fetch_all(pool)
        .await?
        .iter()
        .map(rows::session)
        .collect()
}

pub(super) async fn append_audit(
    pool: &Pool<Sqlite>,
    events: &[AuditDraft],
    hasher: ChainHasher<'_>,
) -> Result<Vec<AuditRecord>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await?;
    // Take the write lock first (a write as the first statement), then read the chain's tip:
    // no other writer can extend the chain between the read and the insert.
    sqlx::query("INSERT INTO counters (name, value) VALUES ('audit', 0) ON CONFLICT (name) DO UPDATE SET value = value + 1")
        .execute(&mut *tx)
        .await?;
    let tip = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?;
    let (mut seq, mut prev) = match tip {
        Some(row) => (row.try_get::<i64, _>("seq")?, hash32(&row, "hash")?),
        None => (0, [0u8; 32]),
    };
    let mut records = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let hash = hasher(&prev, seq, event);
        let extra = serde_json::to_string(&event.extra)
            .map_err(|e| StoreError::Corrupt(format!("audit extra: {e}")))?;
        let stored_extra = extra.clone();
        sqlx::query(
            "INSERT INTO audit_events (seq, at_ms, kind, outcome, route, message, context, owner_id, key_id, client, extra, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(event.at_ms)
        .bind(&event.kind)
        .bind(&event.outcome)
        .bind(&event.route)
        .bind(&event.message)
        .bind(&event.context)
        .bind(&event.owner_id)
        .bind(&event.key_id)
        .bind(&event.client)
        .bind(extra)
        .bind(&prev[..])
        .bind(&hash[..])
        .execute(&mut *tx)
        .await?;
        records.push(AuditRecord {
            seq,
            event: event.clone(),
            prev_hash: prev,
            hash,
            stored_extra,
        });
        prev = hash;
    }
    tx.commit().await?;
    Ok(records)
}

pub(super) async fn audit_events(
    pool: &Pool<Sqlite>,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, StoreError> {
    sql::audit_events::<Sqlite>(filter)
        .build()
        .fetch_all(pool)
        .await?
        .iter()
        .map(rows::audit)
        .collect()
}

pub(super) async fn remember_nonce(
    pool: &Pool<Sqlite>,
    digest: &[u8; 16],
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    // New, or the old entry has expired: taken. Live: a replay.
    let taken = sqlx::query(
        "INSERT INTO nonces (digest, expires_at) VALUES (?, ?) \
         ON CONFLICT (digest) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ?",
    )
    .bind(&digest[..])
    .bind(expires_at)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(taken > 0)
}

pub(super) async fn purge_nonces(pool: &Pool<Sqlite>, now: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM nonces WHERE expires_at <= ?")
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected())
}
