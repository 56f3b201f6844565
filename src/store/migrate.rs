//! Embedded schema migrations, applied at start. Written by hand (~40 lines) rather than with
//! `sqlx::migrate!` to avoid the proc-macro stack and to let two processes (the server and
//! the CLI) start at the same moment safely: each migration claims its version row first, in
//! the same transaction as its DDL, so only one process applies it.

use super::StoreError;
use sqlx::{Pool, Sqlite};

/// `(version, SQL)` in order. Never edit a released migration; add a new one.
pub(super) const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_api_keys.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_sessions_audit.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_key_limits.sql"),
    ),
    (4, include_str!("../../migrations/sqlite/0004_messages.sql")),
    (
        5,
        include_str!("../../migrations/sqlite/0005_message_count.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite/0006_message_count_triggers.sql"),
    ),
];

/// Apply every migration not yet recorded in `schema_migrations`.
pub(super) async fn run(
    pool: &Pool<Sqlite>,
    migrations: &[(i64, &'static str)],
) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    for &(version, sql) in migrations {
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
    }
    Ok(())
}
