//! PostgreSQL implementation of [`MessageStore`]. The size cap holds across nodes: a post
//! locks the `messages` counter row (kept by a trigger) before it checks and inserts, so two
//! nodes cannot both take the last place. A burn-after-reading read is one `DELETE …
//! RETURNING`: of concurrent readers on any nodes, the one whose delete returns the row gets
//! it, the others find nothing.

use super::errors::retry;
use crate::store::StoreError;
use crate::store::messages::{MessageStore, StoredMessage};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Pool, Postgres, Row};

/// Messages in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgMessages {
    pub(super) pool: Pool<Postgres>,
}

pub(super) fn from_row(row: &PgRow) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        lookup: row.try_get("lookup")?,
        sealed: row.try_get("sealed")?,
        burn: row.try_get("burn")?,
        delete_hash: row.try_get("delete_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Expired rows deleted per statement when purging.
const PURGE_BATCH: i64 = 500;

#[async_trait]
impl MessageStore for PgMessages {
    async fn put(
        &self,
        message: &StoredMessage,
        max_live: u64,
        _now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let live: i64 =
            sqlx::query("SELECT value FROM counters WHERE name = 'messages' FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?
                .try_get("value")?;
        if live >= i64::try_from(max_live).unwrap_or(i64::MAX) {
            tx.rollback().await?;
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO messages (lookup, sealed, burn, delete_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (lookup) DO NOTHING",
        )
        .bind(&message.lookup)
        .bind(&message.sealed)
        .bind(message.burn)
        .bind(&message.delete_hash)
        .bind(message.created_at)
        .bind(message.expires_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Err(StoreError::Conflict("message id already in use"));
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn read(&self, lookup: &str, now: i64) -> Result<Option<StoredMessage>, StoreError> {
        let found = retry(|| {
            sqlx::query(
                "SELECT lookup, sealed, burn, delete_hash, created_at, expires_at \
                 FROM messages WHERE lookup = $1 AND expires_at > $2",
            )
            .bind(lookup)
            .bind(now)
            .fetch_optional(&self.pool)
        })
        .await?
        .map(|row| from_row(&row))
        .transpose()?;
        match found {
            Some(message) if message.burn => sqlx::query(
                "DELETE FROM messages WHERE lookup = $1 AND expires_at > $2 \
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
        Ok(retry(|| {
            sqlx::query("SELECT delete_hash FROM messages WHERE lookup = $1 AND expires_at > $2")
                .bind(lookup)
                .bind(now)
                .fetch_optional(&self.pool)
        })
        .await?
        .map(|row| row.try_get("delete_hash"))
        .transpose()?)
    }

    async fn delete(&self, lookup: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM messages WHERE lookup = $1")
            .bind(lookup)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let purged = sqlx::query(
                "DELETE FROM messages WHERE lookup IN \
                 (SELECT lookup FROM messages WHERE expires_at <= $1 LIMIT $2)",
            )
            .bind(now)
            .bind(PURGE_BATCH)
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += purged;
            if purged < u64::try_from(PURGE_BATCH).unwrap_or(u64::MAX) {
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
