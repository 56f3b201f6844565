//! A fresh PostgreSQL database per test, on the server named by
//! `PORTCULLIS_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`): created
//! when the test starts, dropped when it ends. Where the URL is unset, a test says `NOT RUN`
//! and passes — unless `CI` is set, where a suite that did not run is a failure.

#![allow(dead_code)]

use sqlx::Connection;

/// The server's URL for the PostgreSQL suites, when set.
pub fn postgres_url() -> Option<String> {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The URL, or `None` after saying on stderr that `test` did not run. Under CI a missing URL
/// fails the test: skipped must never count as passed there.
pub fn require_postgres(test: &str) -> Option<String> {
    if let Some(url) = postgres_url() {
        return Some(url);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: PORTCULLIS_TEST_POSTGRES_URL is not set, and under CI every suite must run"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "NOT RUN: {test} on PostgreSQL — set PORTCULLIS_TEST_POSTGRES_URL \
         (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
    );
    None
}

/// A database of its own, dropped (with any connection still open to it) on drop.
pub struct TestDatabase {
    /// The URL of the new database.
    pub url: String,
    server: String,
    name: String,
}

impl TestDatabase {
    /// A new empty database for `test`, or `None` where PostgreSQL suites cannot run.
    pub async fn create(test: &str) -> Option<Self> {
        let server = require_postgres(test)?;
        let name = format!("pctest_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{test}: cannot reach PostgreSQL at {server}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let _ = admin.close().await;
        Some(Self {
            url: with_database(&server, &name),
            server,
            name,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Dropped from a test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&server).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// `url` with its database replaced by `name` (the query string, such as `sslmode`, kept).
pub fn with_database(url: &str, name: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).expect("a postgres:// URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}
