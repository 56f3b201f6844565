//! SQLite: sessions and the audit chain.

use crate::store::models::{
    AuditDraft, AuditFilter, AuditRecord, NewSession, SessionRecord, SessionScope,
};
use crate::store::{ChainHasher, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Pool, QueryBuilder, Row, Sqlite};

const SESSION_COLUMNS: &str = "SELECT s.id, s.salt, s.owner_id, o.name AS owner_name, s.key_id, \
     s.created_at, s.expires_at, s.ended_at, s.end_reason FROM sessions s JOIN owners o ON o.id = s.owner_id";

fn session_from_row(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        salt: row.try_get("salt")?,
        owner_id: row.try_get("owner_id")?,
        owner_name: row.try_get("owner_name")?,
        key_id: row.try_get("key_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: row.try_get("end_reason")?,
    })
}

fn hash32(row: &SqliteRow, column: &str) -> Result<[u8; 32], StoreError> {
    let bytes: Vec<u8> = row.try_get(column)?;
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{column} is not 32 bytes")))
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    let extra: String = row.try_get("extra")?;
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        event: AuditDraft {
            at_ms: row.try_get("at_ms")?,
            kind: row.try_get("kind")?,
            outcome: row.try_get("outcome")?,
            route: row.try_get("route")?,
            message: row.try_get("message")?,
            context: row.try_get("context")?,
            owner_id: row.try_get("owner_id")?,
            key_id: row.try_get("key_id")?,
            client: row.try_get("client")?,
            extra: serde_json::from_str(&extra)
                .map_err(|e| StoreError::Corrupt(format!("audit extra: {e}")))?,
        },
        prev_hash: hash32(row, "prev_hash")?,
        hash: hash32(row, "hash")?,
        stored_extra: extra,
    })
}

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
    let mut query = QueryBuilder::<Sqlite>::new(SESSION_COLUMNS);
    query.push(" WHERE s.id = ").push_bind(id.to_owned());
    query
        .build()
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
}

pub(super) async fn live_sessions_for_key(
    pool: &Pool<Sqlite>,
    key_id: &str,
    now: i64,
) -> Result<Vec<SessionRecord>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(SESSION_COLUMNS);
    query
        .push(" WHERE s.key_id = ")
        .push_bind(key_id.to_owned())
        .push(" AND s.ended_at IS NULL AND s.expires_at > ")
        .push_bind(now)
        .push(" ORDER BY s.created_at DESC LIMIT 16");
    query
        .build()
        .fetch_all(pool)
        .await?
        .iter()
        .map(session_from_row)
        .collect()
}

pub(super) async fn end_sessions(
    pool: &Pool<Sqlite>,
    scope: &SessionScope,
    at: i64,
    reason: &str,
) -> Result<Vec<String>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new("UPDATE sessions SET ended_at = ");
    query
        .push_bind(at)
        .push(", end_reason = ")
        .push_bind(reason.to_owned());
    match scope {
        SessionScope::One(id) => query.push(" WHERE id = ").push_bind(id.clone()),
        SessionScope::Key(id) => query.push(" WHERE key_id = ").push_bind(id.clone()),
        SessionScope::Owner(id) => query.push(" WHERE owner_id = ").push_bind(id.clone()),
    };
    query
        .push(" AND ended_at IS NULL AND expires_at > ")
        .push_bind(at)
        .push(" RETURNING id");
    Ok(query
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
    let mut query = QueryBuilder::<Sqlite>::new(SESSION_COLUMNS);
    query.push(" WHERE 1 = 1");
    if let Some(name) = owner_name {
        query.push(" AND o.name = ").push_bind(name.to_owned());
    }
    if let Some(now) = live_at {
        query
            .push(" AND s.ended_at IS NULL AND s.expires_at > ")
            .push_bind(now);
    }
    query
        .push(" ORDER BY s.created_at DESC, s.id LIMIT ")
        .push_bind(i64::from(limit));
    query
        .build()
        .fetch_all(pool)
        .await?
        .iter()
        .map(session_from_row)
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
    let mut query = QueryBuilder::<Sqlite>::new("SELECT * FROM audit_events WHERE seq > ");
    query.push_bind(filter.after.unwrap_or(0));
    if let Some(since) = filter.since_ms {
        query.push(" AND at_ms >= ").push_bind(since);
    }
    if let Some(until) = filter.until_ms {
        query.push(" AND at_ms < ").push_bind(until);
    }
    if let Some(actor) = &filter.actor {
        query
            .push(" AND (owner_id = ")
            .push_bind(actor.clone())
            .push(" OR key_id = ")
            .push_bind(actor.clone())
            .push(")");
    }
    if let Some(kind) = &filter.kind {
        query.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(outcome) = &filter.outcome {
        query.push(" AND outcome = ").push_bind(outcome.clone());
    }
    query
        .push(if filter.descending {
            " ORDER BY seq DESC LIMIT "
        } else {
            " ORDER BY seq LIMIT "
        })
        .push_bind(i64::from(filter.limit));
    query
        .build()
        .fetch_all(pool)
        .await?
        .iter()
        .map(audit_from_row)
        .collect()
}
