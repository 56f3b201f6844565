//! PostgreSQL's errors that mean "not now" rather than "wrong": the server restarting or
//! refusing connections, a connection reset, a serialization failure or deadlock, a
//! statement cut off by `statement_timeout`, the pool out of connections. They become a 503
//! with `Retry-After` (never a 500), and the idempotent operations try them again first.

use std::future::Future;
use std::time::Duration;

/// SQLSTATE codes that a retry may clear (Appendix A of the PostgreSQL manual).
const TRANSIENT_STATES: &[&str] = &[
    "40001", // serialization_failure
    "40P01", // deadlock_detected
    "57P01", // admin_shutdown (the server is restarting)
    "57P02", // crash_shutdown
    "57P03", // cannot_connect_now (starting up, or in recovery)
    "53300", // too_many_connections
    "55P03", // lock_not_available
];

/// Whether `err` is worth trying again: the connection or the server, not the statement.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exceptions.
            code.starts_with("08") || TRANSIENT_STATES.contains(&code.as_ref())
        }),
        _ => false,
    }
}

/// Whether `err` means the database cannot answer now (a 503): every transient error, and a
/// statement cancelled by `statement_timeout` (not retried: it would only add load).
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    is_transient(err)
        || matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("57014"))
}

/// Run an idempotent operation, trying again twice (after 50 ms, then 250 ms) when it fails
/// for a transient reason: a PostgreSQL restart or a failover drops every pooled
/// connection, and the first statement on each finds out.
pub async fn retry<T, F, Fut>(mut operation: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut delay = Duration::from_millis(50);
    let mut attempts = 0;
    loop {
        match operation().await {
            Err(err) if attempts < 2 && is_transient(&err) => {
                attempts += 1;
                tracing::debug!(error = %err, attempts, "retrying a PostgreSQL operation");
                tokio::time::sleep(delay).await;
                delay *= 5;
            }
            other => return other,
        }
    }
}
