//! SQLite's side of `store copy`.

use super::SqliteStore;
use super::messages::from_row as message;
use crate::store::copy::{Counts, Import, Portable, rows as load};
use crate::store::messages::StoredMessage;
use crate::store::models::{AuditRecord, KeyRecord, SessionRecord};
use crate::store::{StoreError, rows};
use async_trait::async_trait;
use sqlx::{Sqlite, Transaction};

#[async_trait]
impl Portable for SqliteStore {
    async fn counts(&self) -> Result<Counts, StoreError> {
        load::counts(&sqlx::query(load::COUNTS).fetch_one(&self.pool).await?)
    }

    async fn sessions_after(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        load::sessions_after::<Sqlite>(after, limit)
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
        load::messages_after::<Sqlite>(after, limit)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(message)
            .collect()
    }

    async fn import(&self) -> Result<Box<dyn Import>, StoreError> {
        Ok(Box::new(SqliteImport {
            tx: self.pool.begin().await?,
        }))
    }
}

struct SqliteImport {
    tx: Transaction<'static, Sqlite>,
}

#[async_trait]
impl Import for SqliteImport {
    async fn counts(&mut self) -> Result<Counts, StoreError> {
        load::counts(&sqlx::query(load::COUNTS).fetch_one(&mut *self.tx).await?)
    }

    async fn clear(&mut self) -> Result<(), StoreError> {
        sqlx::raw_sql(load::CLEAR).execute(&mut *self.tx).await?;
        Ok(())
    }

    async fn keys(&mut self, keys: &[KeyRecord], revision: i64) -> Result<(), StoreError> {
        load::owners::<Sqlite>(keys)
            .build()
            .execute(&mut *self.tx)
            .await?;
        load::keys::<Sqlite>(keys, revision)
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn sessions(&mut self, sessions: &[SessionRecord]) -> Result<(), StoreError> {
        load::sessions::<Sqlite>(sessions)
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn audit(&mut self, records: &[AuditRecord]) -> Result<(), StoreError> {
        load::audit::<Sqlite>(records)
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn messages(&mut self, messages: &[StoredMessage]) -> Result<(), StoreError> {
        load::messages::<Sqlite>(messages)
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>, revision: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE counters SET value = MAX(value, ?) WHERE name = 'keys'")
            .bind(revision)
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
