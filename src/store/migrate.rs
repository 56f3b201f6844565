//! Embedded schema migrations, one list per engine, applied at start. Written by hand (~40
//! lines an engine) rather than with `sqlx::migrate!` to avoid the proc-macro stack and to
//! let several processes start at once safely: on SQLite each migration claims its version
//! row first, in the same transaction as its DDL; on PostgreSQL the whole run holds an
//! advisory lock, so of several nodes starting together one migrates and the others wait and
//! find nothing left to do.

use super::StoreError;
use sqlx::{Pool, Row, Sqlite};

/// One migration: version, file name, SQL. Never edit a released migration; add a new one.
pub type Migration = (i64, &'static str, &'static str);

macro_rules! migration {
    ($version:expr, $engine:literal, $file:literal) => {
        (
            $version,
            $file,
            include_str!(concat!("../../migrations/", $engine, "/", $file)),
        )
    };
}

/// SQLite's migrations, in order.
pub const SQLITE: &[Migration] = &[
    migration!(1, "sqlite", "0001_api_keys.sql"),
    migration!(2, "sqlite", "0002_sessions_audit.sql"),
    migration!(3, "sqlite", "0003_key_limits.sql"),
    migration!(4, "sqlite", "0004_messages.sql"),
    migration!(5, "sqlite", "0005_message_count.sql"),
    migration!(6, "sqlite", "0006_message_count_triggers.sql"),
    migration!(7, "sqlite", "0007_nonces.sql"),
    migration!(8, "sqlite", "0008_campaigns.sql"),
    migration!(9, "sqlite", "0009_imported_keys.sql"),
];

/// PostgreSQL's migrations, in order (the first is SQLite's 1–7 in one schema).
pub const POSTGRES: &[Migration] = &[
    migration!(1, "postgres", "0001_schema.sql"),
    migration!(2, "postgres", "0002_campaigns.sql"),
    migration!(3, "postgres", "0003_imported_keys.sql"),
];

/// Where a store's schema stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    /// Versions applied.
    pub applied: Vec<i64>,
    /// Migrations not applied yet: version and file name.
    pub pending: Vec<(i64, &'static str)>,
}

impl MigrationStatus {
    /// Compare the versions applied with an engine's list.
    pub(super) fn of(engine: &'static str, applied: Vec<i64>, all: &[Migration]) -> Self {
        let pending = all
            .iter()
            .filter(|(version, _, _)| !applied.contains(version))
            .map(|(version, name, _)| (*version, *name))
            .collect();
        Self {
            engine,
            applied,
            pending,
        }
    }
}

/// The table every engine records its migrations in.
pub(super) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// The versions recorded in `schema_migrations` of a SQLite store (none before the first run).
pub(super) async fn sqlite_applied(pool: &Pool<Sqlite>) -> Result<Vec<i64>, StoreError> {
    sqlx::query(CREATE_TABLE).execute(pool).await?;
    sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("version")?))
        .collect()
}

/// Apply every SQLite migration not yet recorded in `schema_migrations`; returns the
/// versions applied by this call.
pub(super) async fn run(
    pool: &Pool<Sqlite>,
    migrations: &[Migration],
) -> Result<Vec<i64>, StoreError> {
    sqlx::query(CREATE_TABLE).execute(pool).await?;
    let mut applied = Vec::new();
    for &(version, _, sql) in migrations {
        let fail = |source| StoreError::Migration { version, source };
        let mut tx = pool.begin().await.map_err(fail)?;
        let claimed = sqlx::query(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, strftime('%s','now')) ON CONFLICT (version) DO NOTHING",
        )
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(fail)?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await.map_err(fail)?;
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(version, "applied database migration");
        applied.push(version);
    }
    Ok(applied)
}
