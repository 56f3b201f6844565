//! SQLite implementation of [`MessageStore`]. Portable SQL: `DELETE … RETURNING` is in both
//! SQLite (3.35+) and PostgreSQL. The live count for `max_live` is the `counters` row
//! `messages`, kept by triggers on the table (migration 0006), so that every writer — this
//! code, an operator's hand-run `DELETE`, a restored backup — keeps it right.

use crate::store::StoreError;
use crate::store::messages::{MessageStore, StoredMessage};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Pool, Row, Sqlite};

/// Messages in the embedded database.
#[derive(Debug, Clone)]
pub struct SqliteMessages {
    pub(super) pool: Pool<Sqlite>,
}

pub(super) fn from_row(row: &SqliteRow) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        lookup: row.try_get("lookup")?,
        sealed: row.try_get("sealed")?,
        burn: row.try_get::<i64, _>("burn")? != 0,
        delete_hash: row.try_get("delete_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Expired rows deleted per statement when purging.
const PURGE_BATCH: u64 = 500;

#[async_trait]
impl MessageStore for SqliteMessages {
    async fn put(
        &self,
        message: &StoredMessage,
        max_live: u64,
        _now: i64,
    ) -> Result<bool, StoreError> {
        // One statement: the count check and the insert cannot be split by another writer.
        // Expired rows count until the next purge.
        let inserted = sqlx::query(
            "INSERT INTO messages (lookup, sealed, burn, delete_hash, created_at, expires_at) \
             SELECT ?, ?, ?, ?, ?, ? \
             WHERE (SELECT value FROM counters WHERE name = 'messages') < ? \
             ON CONFLICT (lookup) DO NOTHING",
        )
        .bind(&message.lookup)
        .bind(&message.sealed)
        .bind(i64::from(message.burn))
        .bind(&message.delete_hash)
        .bind(message.created_at)
        .bind(message.expires_at)
        .bind(i64::try_from(max_live).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted > 0 {
            return Ok(true);
        }
        // Refused: full, or (never in practice) the lookup key is taken.
        let taken = sqlx::query("SELECT 1 FROM messages WHERE lookup = ?")
            .bind(&message.lookup)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict("message id already in use"));
        }
        Ok(false)
    }

    async fn read(&self, lookup: &str, now: i64) -> Result<Option<StoredMessage>, StoreError> {
        // One indexed read for every id, known or not; a burn-after-reading message is then
        // claimed by a DELETE, and only the reader whose DELETE returns the row gets it.
        let found = sqlx::query(
            "SELECT lookup, sealed, burn, delete_hash, created_at, expires_at \
             FROM messages WHERE lookup = ? AND expires_at > ?",
        )
        .bind(lookup)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| from_row(&row))
        .transpose()?;
        match found {
            Some(message) if message.burn => sqlx::query(
                "DELETE FROM messages WHERE lookup = ? AND expires_at > ? \
                 RETURNING lookup, sealed, burn, delete_hash, created_at, expires_at",
            )
            .bind(lookup)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| from_row(&row))
            .transpose(),
            other => Ok(other),
        }
    }

    async fn delete_hash(&self, lookup: &str, now: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT delete_hash FROM messages WHERE lookup = ? AND expires_at > ?")
                .bind(lookup)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get("delete_hash"))
                .transpose()?,
        )
    }

    async fn delete(&self, lookup: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM messages WHERE lookup = ?")
            .bind(lookup)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        // In batches: one huge DELETE would hold SQLite's single write lock long enough to
        // make logins, key changes and audit appends wait past their busy timeout.
        let mut total = 0;
        loop {
            let purged = sqlx::query(
                "DELETE FROM messages WHERE lookup IN \
                 (SELECT lookup FROM messages WHERE expires_at <= ? LIMIT ?)",
            )
            .bind(now)
            .bind(i64::try_from(PURGE_BATCH).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += purged;
            if purged < PURGE_BATCH {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    async fn live(&self, _now: i64) -> Result<u64, StoreError> {
        let live: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'messages'")
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(0);
        Ok(u64::try_from(live).unwrap_or(0))
    }

    fn backend(&self) -> &'static str {
        "sql"
    }
}
