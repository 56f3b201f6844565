//! The embedded SQLite store: WAL journal for concurrent readers, `synchronous = FULL` so a
//! committed write survives a crash or power loss right after the response.

mod campaigns;
pub(crate) mod errors;
mod messages;
mod portable;
mod sessions_audit;

use crate::store::migrate::MigrationStatus;
use crate::store::models::{
    AuditDraft, AuditFilter, AuditRecord, KeyChange, KeyFilter, KeyLimits, KeyRecord, NewKey,
    NewSession, SessionRecord, SessionScope,
};
use crate::store::{
    AuditStore, ChainHasher, KeyStore, NonceStore, SessionStore, Store, StoreError, migrate, rows,
    sql,
};
use async_trait::async_trait;
use messages::SqliteMessages;
use sessions_audit as extra;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Row, Sqlite, Transaction};
use std::os::unix::fs::OpenOptionsExt;
use std::str::FromStr;
use std::time::Duration;

/// SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool<Sqlite>,
    /// The database file and its identity (device, inode) when opened.
    file: Option<(std::path::PathBuf, (u64, u64))>,
}

/// The identity of a file: a path that now names another file (or none) is not ours.
fn identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl SqliteStore {
    /// Open (creating if needed) the database at `url` and bring its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, super::Create::IfMissing).await
    }

    /// Open the database at `url`, creating it only if `create` allows, and bring its schema
    /// up to date. Failures name the file.
    pub async fn open_with(url: &str, create: super::Create) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(create == super::Create::IfMissing)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // The CLI and the server share the file; wait for the other's write instead of failing.
            .busy_timeout(Duration::from_secs(5));
        let file = options.get_filename().to_owned();
        let failed = |reason: String| StoreError::Open {
            path: file.clone(),
            reason,
        };
        if create == super::Create::Never && file.as_os_str() != ":memory:" && !file.exists() {
            return Err(StoreError::Missing(
                std::path::absolute(&file).unwrap_or_else(|_| file.clone()),
            ));
        }
        if let Some(parent) = file.parent()
            && !parent.as_os_str().is_empty()
        {
            crate::durable::ensure_private_dir(parent).map_err(|e| failed(e.to_string()))?;
        }
        // Created private before SQLite opens it: SQLite gives its -wal and -shm files the
        // database file's mode, so all three are 0600 whatever the umask.
        if file.as_os_str() != ":memory:" {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&file)
            {
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(failed(err.to_string())),
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|err| match err {
                sqlx::Error::Database(db) => failed(db.message().to_owned()),
                sqlx::Error::Io(io) => failed(io.to_string()),
                other => StoreError::from(other),
            })?;
        migrate::run(&pool, migrate::SQLITE).await?;
        let file = identity(&file).map(|id| (file, id));
        Ok(Self { pool, file })
    }

    /// Where the schema of the existing database at `url` stands, without changing it.
    pub async fn migration_status(url: &str) -> Result<MigrationStatus, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?.create_if_missing(false);
        let file = options.get_filename().to_owned();
        if file.as_os_str() != ":memory:" && !file.exists() {
            return Err(StoreError::Missing(
                std::path::absolute(&file).unwrap_or_else(|_| file.clone()),
            ));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let applied = migrate::sqlite_applied(&pool).await?;
        Ok(MigrationStatus::of("sqlite", applied, migrate::SQLITE))
    }

    /// Apply the pending migrations of the database at `url` (creating it if needed).
    pub async fn migrate(url: &str) -> Result<Vec<i64>, StoreError> {
        let before = match Self::migration_status(url).await {
            Ok(status) => status.applied,
            Err(StoreError::Missing(_)) => Vec::new(),
            Err(err) => return Err(err),
        };
        let store = Self::open(url).await?;
        let after = migrate::sqlite_applied(&store.pool).await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    async fn next_revision(tx: &mut Transaction<'_, Sqlite>) -> Result<i64, StoreError> {
        Ok(
            sqlx::query(
                "UPDATE counters SET value = value + 1 WHERE name = 'keys' RETURNING value",
            )
            .fetch_one(&mut **tx)
            .await?
            .try_get("value")?,
        )
    }

    async fn insert_key(
        tx: &mut Transaction<'_, Sqlite>,
        new: &NewKey,
        revision: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO owners (id, name, kind, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
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
             SELECT ?, o.id, ?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, ?, ?, ? FROM owners o WHERE o.name = ?",
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
        .bind(new.source.as_str())
        .bind(&new.owner_name)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn apply_change(
        tx: &mut Transaction<'_, Sqlite>,
        id: &str,
        change: KeyChange,
        revision: i64,
        replaced_by: Option<&str>,
    ) -> Result<u64, StoreError> {
        Ok(sql::change_key::<Sqlite>(id, change, revision, replaced_by)
            .build()
            .execute(&mut **tx)
            .await?
            .rows_affected())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn pool_connections(&self) -> Option<(u32, u32)> {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        Some((self.pool.size().saturating_sub(idle), idle))
    }

    /// A read of a real table, and a check that the database file is still the one opened:
    /// a file deleted or replaced under a running server (a wiped data directory, a restore
    /// done in place) leaves open connections writing to a file nobody will see again.
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT value FROM counters LIMIT 1")
            .execute(&self.pool)
            .await?;
        if let Some((path, opened)) = &self.file
            && identity(path) != Some(*opened)
        {
            return Err(StoreError::Unavailable(format!(
                "the database file {} was removed or replaced while open",
                path.display()
            )));
        }
        Ok(())
    }

    fn messages(&self) -> std::sync::Arc<dyn crate::store::MessageStore> {
        std::sync::Arc::new(SqliteMessages {
            pool: self.pool.clone(),
        })
    }

    fn campaigns(&self) -> std::sync::Arc<dyn crate::store::campaigns::CampaignStore> {
        std::sync::Arc::new(campaigns::SqliteCampaigns {
            pool: self.pool.clone(),
        })
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn count_keys(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM api_keys")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    async fn create_key(&self, new: NewKey) -> Result<KeyRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision = Self::next_revision(&mut tx).await?;
        Self::insert_key(&mut tx, &new, revision).await?;
        tx.commit().await?;
        self.get_key(&new.id)
            .await?
            .ok_or(StoreError::Conflict("key vanished after insert"))
    }

    async fn create_keys(&self, keys: Vec<NewKey>) -> Result<Vec<KeyRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision = Self::next_revision(&mut tx).await?;
        for new in &keys {
            Self::insert_key(&mut tx, new, revision).await?;
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
        // The revision bump takes the write lock first: no other writer until commit.
        let revision = Self::next_revision(&mut tx).await?;
        let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_keys")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if existing > 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        Self::insert_key(&mut tx, &new, revision).await?;
        tx.commit().await?;
        self.get_key(&new.id).await
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        sql::get_key::<Sqlite>(id)
            .build()
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::key)
            .transpose()
    }

    async fn has_imported_keys(&self) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM api_keys WHERE source = 'imported' LIMIT 1")
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    async fn get_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        sql::get_key_by_hash::<Sqlite>(hash)
            .build()
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::key)
            .transpose()
    }

    async fn list_keys(&self, filter: &KeyFilter, now: i64) -> Result<Vec<KeyRecord>, StoreError> {
        sql::list_keys::<Sqlite>(filter, now)
            .build()
            .fetch_all(&self.pool)
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
        let revision = Self::next_revision(&mut tx).await?;
        if Self::apply_change(&mut tx, id, change, revision, None).await? == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
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
        let revision = Self::next_revision(&mut tx).await?;
        if Self::apply_change(&mut tx, old_id, retire, revision, Some(&new.id)).await? == 0 {
            tx.rollback().await?;
            return match self.get_key(old_id).await? {
                None => Ok(None),
                Some(_) => Err(StoreError::Conflict("key is revoked or already rotated")),
            };
        }
        Self::insert_key(&mut tx, &new, revision).await?;
        tx.commit().await?;
        let old = self.get_key(old_id).await?;
        let fresh = self.get_key(&new.id).await?;
        match (old, fresh) {
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
        let revision = Self::next_revision(&mut tx).await?;
        let changed = sqlx::query(
            "UPDATE api_keys SET revision = ?, rate_limit = ?, quota_limit = ?, quota_refill = ?, quota_set_at = ?, \
             quota_used = 0, quota_period_start = NULL WHERE id = ?",
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
        tx.commit().await?;
        self.get_key(id).await
    }

    async fn record_quota_use(&self, uses: &[(String, i64, i64, i64)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, set_at, period_start, used) in uses {
            sqlx::query(
                "UPDATE api_keys SET quota_used = ?, quota_period_start = ? \
                 WHERE id = ? AND quota_set_at = ? AND (quota_period_start IS NULL OR quota_period_start < ? OR quota_used < ?)",
            )
            .bind(used)
            .bind(period_start)
            .bind(id)
            .bind(set_at)
            .bind(period_start)
            .bind(used)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_key_use(&self, uses: &[(String, i64)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
            )
            .bind(at)
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn key_changes_since(&self, revision: i64) -> Result<(i64, Vec<String>), StoreError> {
        let current: i64 = sqlx::query("SELECT value FROM counters WHERE name = 'keys'")
            .fetch_one(&self.pool)
            .await?
            .try_get("value")?;
        if current <= revision {
            return Ok((current, Vec::new()));
        }
        let ids = sqlx::query("SELECT id FROM api_keys WHERE revision > ?")
            .bind(revision)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<Vec<String>, _>>()?;
        Ok((current, ids))
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        new: NewSession,
        end_others: bool,
    ) -> Result<(SessionRecord, Vec<String>), StoreError> {
        extra::create_session(&self.pool, new, end_others).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        extra::get_session(&self.pool, id).await
    }

    async fn live_sessions_for_key(
        &self,
        key_id: &str,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        extra::live_sessions_for_key(&self.pool, key_id, now).await
    }

    async fn end_sessions(
        &self,
        scope: &SessionScope,
        at: i64,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        extra::end_sessions(&self.pool, scope, at, reason).await
    }

    async fn list_sessions(
        &self,
        owner_name: Option<&str>,
        live_at: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        extra::list_sessions(&self.pool, owner_name, live_at, limit).await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(
        &self,
        events: &[AuditDraft],
        hasher: ChainHasher<'_>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        extra::append_audit(&self.pool, events, hasher).await
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        extra::audit_events(&self.pool, filter).await
    }
}

#[async_trait]
impl NonceStore for SqliteStore {
    async fn remember_nonce(
        &self,
        digest: &[u8; 16],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        extra::remember_nonce(&self.pool, digest, expires_at, now).await
    }

    async fn purge_nonces(&self, now: i64) -> Result<u64, StoreError> {
        extra::purge_nonces(&self.pool, now).await
    }
}
