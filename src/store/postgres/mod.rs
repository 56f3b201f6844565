//! The PostgreSQL store, for several stateless nodes sharing one database. Every area of
//! the SQLite store, with the same columns (`store::rows`) and the same run-time statements
//! (`store::sql`); what differs is here: the pool and its timeouts, transient errors retried
//! where an operation is idempotent, the advisory lock around migrations, row locks that
//! serialise the audit chain and the message drop's size check across nodes, and key changes
//! announced with `NOTIFY` inside their transaction.

mod campaigns;
pub(crate) mod errors;
mod keys;
mod listen;
mod messages;
mod migrate;
mod portable;
mod sessions_audit;

use crate::store::migrate::{MigrationStatus, POSTGRES};
use crate::store::{Engine, KeyChangeFeed, Store, StoreError, StoreOptions};
use async_trait::async_trait;
use errors::retry;
use messages::PgMessages;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};
use std::str::FromStr;
use std::sync::Arc;

/// The `NOTIFY` channel on which key changes are announced (payload: the key id).
pub(crate) const KEY_CHANNEL: &str = "portcullis_keys";
/// The payload on [`KEY_CHANNEL`] that says sessions ended (never a key id: those are 12
/// characters).
pub(crate) const SESSIONS_ENDED: &str = "sessions-ended";

/// PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool<Postgres>,
}

impl PgStore {
    /// Connect to the database at `url` (`sslmode`, `sslrootcert` and the rest read from it
    /// as libpq reads them) and bring its schema up to date.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let store = Self::connect(url, options).await?;
        migrate::run(&store.pool, POSTGRES).await?;
        Ok(store)
    }

    /// Connect without migrating (`portcullis migrate --check`).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)
            .map_err(|err| StoreError::UnsupportedUrl(format!("postgres URL: {err}")))?
            .application_name("portcullis")
            // Bounded work per statement: a statement that runs longer is cancelled and the
            // request answered 503, instead of holding a connection without end.
            .options([("statement_timeout", timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|err| StoreError::Connect {
                target: crate::redis_client::redacted(url),
                reason: err.to_string(),
            })?;
        Ok(Self { pool })
    }

    /// Where the schema stands.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let applied = migrate::applied(&mut conn).await?;
        Ok(MigrationStatus::of("postgres", applied, POSTGRES))
    }

    /// Apply what is pending; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        migrate::run(&self.pool, POSTGRES).await
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        retry(|| sqlx::query("SELECT value FROM counters LIMIT 1").execute(&self.pool)).await?;
        Ok(())
    }

    fn messages(&self) -> Arc<dyn crate::store::MessageStore> {
        Arc::new(PgMessages {
            pool: self.pool.clone(),
        })
    }

    fn campaigns(&self) -> Arc<dyn crate::store::campaigns::CampaignStore> {
        Arc::new(campaigns::PgCampaigns {
            pool: self.pool.clone(),
        })
    }

    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn pool_connections(&self) -> Option<(u32, u32)> {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        Some((self.pool.size().saturating_sub(idle), idle))
    }

    async fn listen_key_changes(&self) -> Result<Option<Box<dyn KeyChangeFeed>>, StoreError> {
        Ok(Some(Box::new(
            listen::KeyListener::start(&self.pool).await?,
        )))
    }
}
