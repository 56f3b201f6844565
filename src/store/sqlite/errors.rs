//! SQLite's own error codes: busy (5) or locked (6) past the busy timeout means overloaded,
//! not broken — the same 503 a Redis-backed store gives when it cannot answer.

/// Whether `err` is SQLite saying "busy" or "locked".
pub fn is_busy(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("5" | "6")))
}
