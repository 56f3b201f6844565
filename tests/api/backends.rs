//! Suites that run once per backend: with nothing shared (in-memory limits, messages in
//! SQL) and with Redis (`PORTCULLIS_TEST_REDIS_URL`). The Redis runs are fail-closed, so a
//! Redis that is down or never used fails them instead of letting a local fallback pass.
//! Where the URL is unset, the Redis half prints `NOT RUN` and passes — unless `CI` is set,
//! where a suite that did not run is a failure.

#![allow(dead_code)]

use portcullis::config::{RedisFailure, Settings};

/// Where shared state lives for one run of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Nothing shared: limits in memory, messages in the SQL store.
    Local,
    /// Limits, nonces and messages in Redis.
    Redis,
    /// Messages and nonces in a PostgreSQL database of the test's own, limits in memory
    /// (the suite making the server creates the database; see `crate::engines`).
    Postgres,
}

/// The settings a run on a backend needs: the Redis URL, and a key prefix of its own.
#[derive(Clone, Debug)]
pub struct OnBackend {
    pub backend: Backend,
    pub redis_url: Option<String>,
    pub prefix: String,
}

impl OnBackend {
    /// Point `settings` at this backend. On Redis, limits fail closed: a check that does not
    /// reach Redis answers 503 rather than passing on local counts.
    pub fn apply(&self, settings: &mut Settings) {
        settings.storage.redis_url = self.redis_url.clone();
        settings.limits.redis_prefix = self.prefix.clone();
        if self.redis_url.is_some() {
            settings.limits.redis_failure = RedisFailure::Closed;
        }
    }

    /// Keys under this run's prefix in Redis matching `pattern` (e.g. `addr:*`): proof that
    /// the run used Redis, not a fallback.
    pub async fn redis_keys(&self, pattern: &str) -> Vec<String> {
        let Some(url) = &self.redis_url else {
            return Vec::new();
        };
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("KEYS")
            .arg(format!("{}{pattern}", self.prefix))
            .query_async(&mut connection)
            .await
            .unwrap()
    }
}

/// The Redis URL of the Redis-backed suites, when `PORTCULLIS_TEST_REDIS_URL` is set.
pub fn redis_url() -> Option<String> {
    std::env::var("PORTCULLIS_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The Redis URL, or `None` after saying on stderr that `test` did not run. Under CI (`CI`
/// set) a missing URL fails the test: skipped must never count as passed there.
pub fn require_redis(test: &str) -> Option<String> {
    if let Some(url) = redis_url() {
        return Some(url);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: PORTCULLIS_TEST_REDIS_URL is not set, and under CI every suite must run"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "NOT RUN: {test} on Redis — set PORTCULLIS_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run it"
    );
    None
}

/// The settings for a run of `test` on `backend`, or `None` when it cannot run here.
pub fn on(backend: Backend, test: &str) -> Option<OnBackend> {
    let redis_url = match backend {
        Backend::Local => None,
        Backend::Redis => Some(require_redis(test)?),
        Backend::Postgres => {
            crate::postgres::require_postgres(test)?;
            None
        }
    };
    Some(OnBackend {
        backend,
        redis_url,
        prefix: format!("pctest:{}:", uuid::Uuid::new_v4().simple()),
    })
}

/// `on_each_backend!(a, b, c)`: each async fn `a(Backend)` becomes `local::a` and
/// `on_redis::a`.
#[macro_export]
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(#[tokio::test] async fn $name() {
                super::$name($crate::backends::Backend::Local).await;
            })*
        }
        mod on_redis {
            $(#[tokio::test] async fn $name() {
                super::$name($crate::backends::Backend::Redis).await;
            })*
        }
    };
}

/// `on_each_store!(a, b)`: as [`on_each_backend!`], and a third run, `on_postgres::a`, with
/// the state in PostgreSQL.
#[macro_export]
macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {
        $crate::on_each_backend!($($name),*);
        mod on_postgres {
            $(#[tokio::test] async fn $name() {
                super::$name($crate::backends::Backend::Postgres).await;
            })*
        }
    };
}
