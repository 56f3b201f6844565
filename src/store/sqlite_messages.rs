//! SQLite implementation of [`MessageStore`]. Portable SQL: `DELETE … RETURNING` is in both
//! SQLite (3.35+) and PostgreSQL.

use super::StoreError;
use super::messages::{MessageStore, StoredMessage};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Pool, Row, Sqlite, Transaction};

/// Messages in the embedded database.
#[derive(Debug, Clone)]
pub struct SqliteMessages {
    pub(super) pool: Pool<Sqlite>,
}

fn from_row(row: &SqliteRow) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        lookup: row.try_get("lookup")?,
        sealed: row.try_get("sealed")?,
        burn: row.try_get::<i64, _>("burn")? != 0,
        delete_hash: row.try_get("delete_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Take `removed` rows off the live count, in the transaction that removed them.
async fn uncount(tx: &mut Transaction<'_, Sqlite>, removed: u64) -> Result<(), StoreError> {
    if removed > 0 {
        sqlx::query("UPDATE counters SET value = MAX(value - ?, 0) WHERE name = 'messages'")
            .bind(i64::try_from(removed).unwrap_or(i64::MAX))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl MessageStore for SqliteMessages {
    async fn put(
        &self,
        message: &StoredMessage,
        max_live: u64,
        _now: i64,
    ) -> Result<bool, StoreError> {
        // The count and the row change in one transaction, so the cap holds with several
        // writers (and processes). Expired rows count until the next purge.
        let mut tx = self.pool.begin().await?;
        let counted = sqlx::query(
            "UPDATE counters SET value = value + 1 WHERE name = 'messages' AND value < ?",
        )
        .bind(i64::try_from(max_live).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if counted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO messages (lookup, sealed, burn, delete_hash, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (lookup) DO NOTHING",
        )
        .bind(&message.lookup)
        .bind(&message.sealed)
        .bind(i64::from(message.burn))
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
            Some(message) if message.burn => {
                let mut tx = self.pool.begin().await?;
                let claimed = sqlx::query(
                    "DELETE FROM messages WHERE lookup = ? AND expires_at > ? \
                     RETURNING lookup, sealed, burn, delete_hash, created_at, expires_at",
                )
                .bind(lookup)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| from_row(&row))
                .transpose()?;
                if claimed.is_some() {
                    uncount(&mut tx, 1).await?;
                }
                tx.commit().await?;
                Ok(claimed)
            }
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
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM messages WHERE lookup = ?")
            .bind(lookup)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        uncount(&mut tx, removed).await?;
        tx.commit().await?;
        Ok(removed > 0)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        // In batches: one huge DELETE would hold SQLite's single write lock long enough to
        // make logins, key changes and audit appends wait past their busy timeout.
        let mut total = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let purged = sqlx::query(
                "DELETE FROM messages WHERE lookup IN \
                 (SELECT lookup FROM messages WHERE expires_at <= ? LIMIT 500)",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            uncount(&mut tx, purged).await?;
            tx.commit().await?;
            total += purged;
            if purged < 500 {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    fn backend(&self) -> &'static str {
        "sql"
    }
}
