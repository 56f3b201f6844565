//! Suites that run once per storage engine: SQLite (a file in the test's directory) and
//! PostgreSQL (a fresh database on `PORTCULLIS_TEST_POSTGRES_URL`, dropped after the test).
//! Where the URL is unset, the PostgreSQL half prints `NOT RUN` and passes — unless `CI` is
//! set, where a suite that did not run is a failure.

#![allow(dead_code)]

use crate::helpers::{TestApp, spawn_app_with};
use crate::postgres::TestDatabase;
use portcullis::config::Settings;
use portcullis::secret::SecretString;

/// Where a test server keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The embedded default.
    Sqlite,
    /// A database of its own on the test PostgreSQL server (no Redis: nonces and token ids
    /// go through the database, as in a PostgreSQL-only cluster).
    Postgres,
}

/// Session and audit secrets every PostgreSQL test server shares, as nodes of one cluster
/// must.
pub const SESSION_SECRET: &str = "5e55105e55105e55105e55105e55105e55105e55105e55105e55105e55105e55";
pub const AUDIT_SECRET: &str = "a0d17a0d17a0d17a0d17a0d17a0d17a0d17a0d17a0d17a0d17a0d17a0d17a0d1";

/// Point `settings` at `database`, with the shared secrets and a small pool.
pub fn on_database(settings: &mut Settings, database: &TestDatabase) {
    settings.storage.url = Some(database.url.clone());
    settings.storage.pool_size = 4;
    settings.auth.session_secret = Some(SecretString::new(SESSION_SECRET.to_owned()));
    settings.auth.audit_secret = Some(SecretString::new(AUDIT_SECRET.to_owned()));
}

/// An in-process server on `engine`, or `None` when the engine cannot run here.
pub async fn spawn_on(
    engine: Engine,
    test: &str,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    match engine {
        Engine::Sqlite => Some(spawn_app_with(configure).await),
        Engine::Postgres => {
            let database = TestDatabase::create(test).await?;
            let mut app = spawn_app_with(|s| {
                on_database(s, &database);
                configure(s);
            })
            .await;
            app.database = Some(database);
            Some(app)
        }
    }
}

/// An in-process server on `database` (which the caller keeps until the server is done).
pub async fn spawn_on_database(
    database: &TestDatabase,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_with(|s| {
        on_database(s, database);
        configure(s);
    })
    .await
}

/// `on_each_engine!(a, b, c)`: each async fn `a(Engine)` becomes `sqlite::a` and
/// `on_postgres::a`.
#[macro_export]
macro_rules! on_each_engine {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                super::$name($crate::engines::Engine::Sqlite).await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $name() {
                super::$name($crate::engines::Engine::Postgres).await;
            })*
        }
    };
}
