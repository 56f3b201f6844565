//! PostgreSQL's side of `store copy`.

use super::PgStore;
use super::messages::from_row as message;
use crate::store::copy::{Counts, Import, Portable, rows as load};
use crate::store::messages::StoredMessage;
use crate::store::models::{AuditRecord, KeyRecord, SessionRecord};
use crate::store::{StoreError, rows};
use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

#[async_trait]
impl Portable for PgStore {
    async fn counts(&self) -> Result<Counts, StoreError> {
        load::counts(&sqlx::query(load::COUNTS).fetch_one(&self.pool).await?)
    }

    async fn sessions_after(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        load::sessions_after::<Postgres>(after, limit)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::session)
            .collect()
    }

    async fn messages_after(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        load::messages_after::<Postgres>(after, limit)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(message)
            .collect()
    }

    async fn import(&self) -> Result<Box<dyn Import>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A copy may write millions of rows: no statement timeout inside it.
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await?;
        Ok(Box::new(PgImport { tx }))
    }
}

struct PgImport {
    tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl Import for PgImport {
    async fn counts(&mut self) -> Result<Counts, StoreError> {
        load::counts(&sqlx::query(load::COUNTS).fetch_one(&mut *self.tx).await?)
    }

    async fn clear(&mut self) -> Result<(), StoreError> {
        sqlx::raw_sql(load::CLEAR).execute(&mut *self.tx).await?;
        Ok(())
    }

    async fn keys(&mut self, keys: &[KeyRecord], revision: i64) -> Result<(), StoreError> {
        load::owners::<Postgres>(keys)
            .build()
            .execute(&mut *self.tx)
            .await?;
        load::keys::<Postgres>(keys, revision)
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn sessions(&mut self, sessions: &[SessionRecord]) -> Result<(), StoreError> {
        load::sessions::<Postgres>(sessions)
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn audit(&mut self, records: &[AuditRecord]) -> Result<(), StoreError> {
        load::audit::<Postgres>(records)
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn messages(&mut self, messages: &[StoredMessage]) -> Result<(), StoreError> {
        load::messages::<Postgres>(messages)
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>, revision: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE counters SET value = GREATEST(value, $1) WHERE name = 'keys'")
            .bind(revision)
            .execute(&mut *self.tx)
            .await?;
        // New keys continue after the copied ones.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('api_keys', 'seq'), \
             COALESCE((SELECT MAX(seq) FROM api_keys), 0) + 1, false)",
        )
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
