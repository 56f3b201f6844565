//! PostgreSQL migrations under an advisory lock: nodes that start together take turns, the
//! first applies what is pending, the others find nothing left. The lock is a session lock
//! on one connection, so a node killed mid-migration releases it with its connection (and
//! its transaction rolls back).

use crate::store::StoreError;
use crate::store::migrate::{CREATE_TABLE, Migration};
use sqlx::{PgConnection, Pool, Postgres, Row};

/// The advisory lock's key: any constant no other program on the database uses.
const LOCK: i64 = 0x7063_6c5f_6d69_6772; // "pcl_migr"

/// Versions recorded in `schema_migrations` (none before the first run).
pub(super) async fn applied(conn: &mut PgConnection) -> Result<Vec<i64>, StoreError> {
    let exists: bool = sqlx::query("SELECT to_regclass('schema_migrations') IS NOT NULL AS e")
        .fetch_one(&mut *conn)
        .await?
        .try_get("e")?;
    if !exists {
        return Ok(Vec::new());
    }
    sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("version")?))
        .collect()
}

/// Apply every migration of `migrations` not yet recorded, holding the advisory lock;
/// returns the versions this call applied.
pub(super) async fn run(
    pool: &Pool<Postgres>,
    migrations: &[Migration],
) -> Result<Vec<i64>, StoreError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await?;
    let result = apply(&mut conn, migrations).await;
    // Released whatever happened; a failed unlock ends with the connection anyway.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await;
    result
}

async fn apply(conn: &mut PgConnection, migrations: &[Migration]) -> Result<Vec<i64>, StoreError> {
    // Asked first: `CREATE TABLE IF NOT EXISTS` on an existing table makes PostgreSQL send a
    // notice that every start would log.
    let done = applied(conn).await?;
    if done.is_empty() {
        sqlx::query(CREATE_TABLE).execute(&mut *conn).await?;
    }
    let mut applied = Vec::new();
    for &(version, _, sql) in migrations {
        if done.contains(&version) {
            continue;
        }
        let fail = |source| StoreError::Migration { version, source };
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(fail)?;
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
        )
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(version, "applied database migration");
        applied.push(version);
    }
    Ok(applied)
}
