//! PostgreSQL: sessions, the audit chain and one-time values.

use super::PgStore;
use super::errors::retry;
use crate::store::models::{
    AuditDraft, AuditFilter, AuditRecord, NewSession, SessionRecord, SessionScope,
};
use crate::store::rows::{self, hash32};
use crate::store::{AuditStore, ChainHasher, NonceStore, SessionStore, StoreError, sql};
use async_trait::async_trait;
use sqlx::{Postgres, Row};

/// Tell every node's listener that sessions ended, so each forgets the sessions it cached
/// (see `auth::session_cache`); sent inside `tx` when given (delivered at commit), else at once.
async fn announce_ended<'e, E>(executor: E) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(super::KEY_CHANNEL)
        .bind(super::SESSIONS_ENDED)
        .execute(executor)
        .await?;
    Ok(())
}

fn ids(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<String>, StoreError> {
    Ok(rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<Vec<String>, _>>()?)
}

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(
        &self,
        new: NewSession,
        end_others: bool,
    ) -> Result<(SessionRecord, Vec<String>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut ended = Vec::new();
        if end_others {
            let rows = sqlx::query(
                "UPDATE sessions SET ended_at = $1, end_reason = 'superseded' \
                 WHERE owner_id = $2 AND key_id = $3 AND ended_at IS NULL AND expires_at > $1 RETURNING id",
            )
            .bind(new.created_at)
            .bind(&new.owner_id)
            .bind(&new.key_id)
            .fetch_all(&mut *tx)
            .await?;
            ended = ids(&rows)?;
            if !ended.is_empty() {
                announce_ended(&mut *tx).await?;
            }
        }
        sqlx::query(
            "INSERT INTO sessions (id, salt, owner_id, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
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
        let record = self
            .get_session(&new.id)
            .await?
            .ok_or(StoreError::Conflict("session vanished after insert"))?;
        Ok((record, ended))
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        retry(|| async {
            sql::get_session::<Postgres>(id)
                .build()
                .fetch_optional(&self.pool)
                .await
        })
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn live_sessions_for_key(
        &self,
        key_id: &str,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        retry(|| async {
            sql::live_sessions_for_key::<Postgres>(key_id, now)
                .build()
                .fetch_all(&self.pool)
                .await
        })
        .await?
        .iter()
        .map(rows::session)
        .collect()
    }

    /// Idempotent (ending an ended session changes nothing), so retried.
    async fn end_sessions(
        &self,
        scope: &SessionScope,
        at: i64,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = retry(|| async {
            sql::end_sessions::<Postgres>(scope, at, reason)
                .build()
                .fetch_all(&self.pool)
                .await
        })
        .await?;
        let ended = ids(&rows)?;
        if !ended.is_empty() {
            announce_ended(&self.pool).await?;
        }
        Ok(ended)
    }

    async fn list_sessions(
        &self,
        owner_name: Option<&str>,
        live_at: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        retry(|| async {
            sql::list_sessions::<Postgres>(owner_name, live_at, limit)
                .build()
                .fetch_all(&self.pool)
                .await
        })
        .await?
        .iter()
        .map(rows::session)
        .collect()
    }
}

#[async_trait]
impl AuditStore for PgStore {
    /// One chain for every node: the `audit` counter row is locked first, so appends from
    /// several nodes queue on it, and the tip read after the lock is the committed one
    /// (READ COMMITTED takes a new snapshot per statement).
    async fn append_audit(
        &self,
        events: &[AuditDraft],
        hasher: ChainHasher<'_>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'audit'")
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
            sqlx::query(
                "INSERT INTO audit_events (seq, at_ms, kind, outcome, route, message, context, owner_id, key_id, client, extra, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
            .bind(&extra)
            .bind(&prev[..])
            .bind(&hash[..])
            .execute(&mut *tx)
            .await?;
            records.push(AuditRecord {
                seq,
                event: event.clone(),
                prev_hash: prev,
                hash,
                stored_extra: extra,
            });
            prev = hash;
        }
        tx.commit().await?;
        Ok(records)
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        retry(|| async {
            sql::audit_events::<Postgres>(filter)
                .build()
                .fetch_all(&self.pool)
                .await
        })
        .await?
        .iter()
        .map(rows::audit)
        .collect()
    }
}

#[async_trait]
impl NonceStore for PgStore {
    async fn remember_nonce(
        &self,
        digest: &[u8; 16],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        // New, or the old entry has expired: taken. Live: a replay. One statement, so two
        // nodes presenting the same value at once cannot both take it.
        let taken = sqlx::query(
            "INSERT INTO nonces (digest, expires_at) VALUES ($1, $2) \
             ON CONFLICT (digest) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE nonces.expires_at <= $3",
        )
        .bind(&digest[..])
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken > 0)
    }

    async fn purge_nonces(&self, now: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM nonces WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
