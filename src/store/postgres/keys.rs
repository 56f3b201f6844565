//! PostgreSQL: API keys and owners. Every change bumps the `keys` counter (whose row lock
//! serialises key changes across nodes) and announces the key with `NOTIFY` in the same
//! transaction, so other nodes hear of it exactly when it commits.

use super::errors::retry;
use super::{KEY_CHANNEL, PgStore};
use crate::store::models::{KeyChange, KeyFilter, KeyLimits, KeyRecord, NewKey};
use crate::store::{KeyStore, StoreError, rows, sql};
use async_trait::async_trait;
use sqlx::{Postgres, Row, Transaction};

/// Bump the change revision (locking the counter row until commit).
async fn next_revision(tx: &mut Transaction<'_, Postgres>) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'keys' RETURNING value")
            .fetch_one(&mut **tx)
            .await?
            .try_get("value")?,
    )
}

/// Tell every node's listener that `id` changed; delivered only if the transaction commits.
async fn announce(tx: &mut Transaction<'_, Postgres>, id: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(KEY_CHANNEL)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_key(
    tx: &mut Transaction<'_, Postgres>,
    new: &NewKey,
    revision: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO owners (id, name, kind, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().simple().to_string())
    .bind(&new.owner_name)
    .bind(new.owner_kind.as_str())
    .bind(new.created_at)
    .execute(&mut **tx)
    .await?;
    let metadata = serde_json::to_string(&new.metadata)
        .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?;
    sqlx::query(
        "INSERT INTO api_keys (id, owner_id, role, label, key_hash, metadata, enabled, created_at, expires_at, revision, \
         rate_limit, quota_limit, quota_refill, quota_set_at, source) \
         SELECT $1, o.id, $2, $3, $4, $5, TRUE, $6, $7, $8, $9, $10, $11, $12, $14 FROM owners o WHERE o.name = $13",
    )
    .bind(&new.id)
    .bind(&new.role)
    .bind(&new.label)
    .bind(&new.key_hash[..])
    .bind(metadata)
    .bind(new.created_at)
    .bind(new.expires_at)
    .bind(revision)
    .bind(&new.limits.rate_limit)
    .bind(new.limits.quota.as_ref().map(|q| q.0))
    .bind(new.limits.quota.as_ref().map(|q| q.1.clone()))
    .bind(new.limits.quota.as_ref().map(|_| new.created_at))
    .bind(&new.owner_name)
    .bind(new.source.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl KeyStore for PgStore {
    async fn count_keys(&self) -> Result<i64, StoreError> {
        Ok(
            retry(|| sqlx::query("SELECT COUNT(*) AS n FROM api_keys").fetch_one(&self.pool))
                .await?
                .try_get("n")?,
        )
    }

    async fn create_key(&self, new: NewKey) -> Result<KeyRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision = next_revision(&mut tx).await?;
        insert_key(&mut tx, &new, revision).await?;
        announce(&mut tx, &new.id).await?;
        tx.commit().await?;
        self.get_key(&new.id)
            .await?
            .ok_or(StoreError::Conflict("key vanished after insert"))
    }

    async fn create_keys(&self, keys: Vec<NewKey>) -> Result<Vec<KeyRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision = next_revision(&mut tx).await?;
        for new in &keys {
            insert_key(&mut tx, new, revision).await?;
            announce(&mut tx, &new.id).await?;
        }
        tx.commit().await?;
        let mut created = Vec::with_capacity(keys.len());
        for new in &keys {
            created.push(
                self.get_key(&new.id)
                    .await?
                    .ok_or(StoreError::Conflict("key vanished after insert"))?,
            );
        }
        Ok(created)
    }

    async fn create_first_key(&self, new: NewKey) -> Result<Option<KeyRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The counter row's lock serialises this against every other key change.
        let revision = next_revision(&mut tx).await?;
        let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_keys")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if existing > 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        insert_key(&mut tx, &new, revision).await?;
        announce(&mut tx, &new.id).await?;
        tx.commit().await?;
        self.get_key(&new.id).await
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        retry(|| async {
            sql::get_key::<Postgres>(id)
                .build()
                .fetch_optional(&self.pool)
                .await
        })
        .await?
        .as_ref()
        .map(rows::key)
        .transpose()
    }

    async fn has_imported_keys(&self) -> Result<bool, StoreError> {
        Ok(retry(|| async {
            sqlx::query("SELECT 1 FROM api_keys WHERE source = 'imported' LIMIT 1")
                .fetch_optional(&self.pool)
                .await
        })
        .await?
        .is_some())
    }

    async fn get_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        retry(|| async {
            sql::get_key_by_hash::<Postgres>(hash)
                .build()
                .fetch_optional(&self.pool)
                .await
        })
        .await?
        .as_ref()
        .map(rows::key)
        .transpose()
    }

    async fn list_keys(&self, filter: &KeyFilter, now: i64) -> Result<Vec<KeyRecord>, StoreError> {
        retry(|| async {
            sql::list_keys::<Postgres>(filter, now)
                .build()
                .fetch_all(&self.pool)
                .await
        })
        .await?
        .iter()
        .map(rows::key)
        .collect()
    }

    async fn update_key(
        &self,
        id: &str,
        change: KeyChange,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision = next_revision(&mut tx).await?;
        let changed = sql::change_key::<Postgres>(id, change, revision, None)
            .build()
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        announce(&mut tx, id).await?;
        tx.commit().await?;
        self.get_key(id).await
    }

    async fn rotate_key(
        &self,
        old_id: &str,
        retire: KeyChange,
        new: NewKey,
    ) -> Result<Option<(KeyRecord, KeyRecord)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision = next_revision(&mut tx).await?;
        let changed = sql::change_key::<Postgres>(old_id, retire, revision, Some(&new.id))
            .build()
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return match self.get_key(old_id).await? {
                None => Ok(None),
                Some(_) => Err(StoreError::Conflict("key is revoked or already rotated")),
            };
        }
        insert_key(&mut tx, &new, revision).await?;
        announce(&mut tx, old_id).await?;
        announce(&mut tx, &new.id).await?;
        tx.commit().await?;
        match (self.get_key(old_id).await?, self.get_key(&new.id).await?) {
            (Some(old), Some(fresh)) => Ok(Some((old, fresh))),
            _ => Err(StoreError::Conflict("key vanished after rotation")),
        }
    }

    async fn set_key_limits(
        &self,
        id: &str,
        limits: &KeyLimits,
        at: i64,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision = next_revision(&mut tx).await?;
        let changed = sqlx::query(
            "UPDATE api_keys SET revision = $1, rate_limit = $2, quota_limit = $3, quota_refill = $4, quota_set_at = $5, \
             quota_used = 0, quota_period_start = NULL WHERE id = $6",
        )
        .bind(revision)
        .bind(&limits.rate_limit)
        .bind(limits.quota.as_ref().map(|q| q.0))
        .bind(limits.quota.as_ref().map(|q| q.1.clone()))
        .bind(limits.quota.as_ref().map(|_| at))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        announce(&mut tx, id).await?;
        tx.commit().await?;
        self.get_key(id).await
    }

    /// Idempotent (a count only ever moves forward), so retried.
    async fn record_quota_use(&self, uses: &[(String, i64, i64, i64)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        retry(|| async {
            let mut tx = self.pool.begin().await?;
            for (id, set_at, period_start, used) in uses {
                sqlx::query(
                    "UPDATE api_keys SET quota_used = $1, quota_period_start = $2 \
                     WHERE id = $3 AND quota_set_at = $4 AND (quota_period_start IS NULL OR quota_period_start < $2 OR quota_used < $1)",
                )
                .bind(used)
                .bind(period_start)
                .bind(id)
                .bind(set_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })
        .await?;
        Ok(())
    }

    /// Idempotent (the newest time wins), so retried.
    async fn record_key_use(&self, uses: &[(String, i64)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        retry(|| async {
            let mut tx = self.pool.begin().await?;
            for (id, at) in uses {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })
        .await?;
        Ok(())
    }

    async fn key_changes_since(&self, revision: i64) -> Result<(i64, Vec<String>), StoreError> {
        let current: i64 = retry(|| {
            sqlx::query("SELECT value FROM counters WHERE name = 'keys'").fetch_one(&self.pool)
        })
        .await?
        .try_get("value")?;
        if current <= revision {
            return Ok((current, Vec::new()));
        }
        let ids = retry(|| {
            sqlx::query("SELECT id FROM api_keys WHERE revision > $1")
                .bind(revision)
                .fetch_all(&self.pool)
        })
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<Vec<String>, _>>()?;
        Ok((current, ids))
    }
}
