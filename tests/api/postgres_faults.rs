//! PostgreSQL as operators meet it: TLS chosen by `sslmode` as libpq users expect, and a
//! restart under load (on a private server the test may stop): requests that need the
//! database get 503 with `Retry-After` in our error shape — never a 500 — while it is down,
//! service resumes by itself, and nothing acknowledged is lost.

use crate::engines::{AUDIT_SECRET, SESSION_SECRET};
use crate::helpers::{ServerProcess, client};
use crate::postgres::{TestDatabase, with_database};
use crate::private_postgres::PrivatePostgres;
use portcullis::store::{self, StoreError};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::{Duration, Instant};

/// Whether the store's own connections to `database` are encrypted, as the server sees them.
async fn store_connections_use_tls(database: &TestDatabase) -> Vec<bool> {
    let mut conn = sqlx::PgConnection::connect(&database.url).await.unwrap();
    let name = database
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let rows: Vec<(bool,)> = sqlx::query_as(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'portcullis' AND a.datname = $1",
    )
    .bind(name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|(ssl,)| ssl).collect()
}

fn with_query(url: &str, query: &str) -> String {
    format!("{url}?{query}")
}

#[tokio::test]
async fn sslmode_in_the_url_decides_tls_as_libpq_users_expect() {
    let Some(database) = TestDatabase::create("sslmode").await else {
        return;
    };
    // `require`: encrypted (this server offers TLS with a self-signed certificate).
    let required = store::connect(&with_query(&database.url, "sslmode=require"))
        .await
        .unwrap();
    required.ping().await.unwrap();
    let tls = store_connections_use_tls(&database).await;
    assert!(!tls.is_empty() && tls.iter().all(|t| *t), "{tls:?}");
    drop(required);

    // `disable`: plain.
    let second = TestDatabase::create("sslmode disable").await.unwrap();
    let plain = store::connect(&with_query(&second.url, "sslmode=disable"))
        .await
        .unwrap();
    plain.ping().await.unwrap();
    let tls = store_connections_use_tls(&second).await;
    assert!(!tls.is_empty() && tls.iter().all(|t| !*t), "{tls:?}");
    drop(plain);

    // `verify-full`: the self-signed certificate is not trusted, and the start says so.
    match store::connect(&with_query(&database.url, "sslmode=verify-full")).await {
        Err(StoreError::Connect { target, reason }) => {
            assert!(target.contains("sslmode=verify-full"), "{target}");
            assert!(reason.to_lowercase().contains("certificate"), "{reason}");
        }
        Err(other) => panic!("expected a connect error, got {other}"),
        Ok(_) => panic!("an untrusted certificate was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_answers_503_then_resumes_and_loses_nothing_acknowledged() {
    let Some(postgres) = PrivatePostgres::start("PostgreSQL restart under load") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = with_database(&postgres.url(), "postgres");
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("PORTCULLIS_STORAGE__URL", &url),
            ("PORTCULLIS_STORAGE__ACQUIRE_TIMEOUT", "1s"),
            ("PORTCULLIS_AUTH__SESSION_SECRET", SESSION_SECRET),
            ("PORTCULLIS_AUTH__AUDIT_SECRET", AUDIT_SECRET),
        ],
    );
    let admin = server.admin_key();
    let http = client();
    let create = |i: usize| {
        http.post(format!("{}/api/keys", server.address))
            .header("x-api-key", &admin)
            .json(&json!({"owner": format!("load {i}"), "role": "user"}))
            .send()
    };
    let mut acked = Vec::new();
    let mut unavailable = 0;
    let mut resumed_after_restart = false;
    let started = Instant::now();
    let (mut down_at, mut up_at) = (None, None);
    let mut i = 0;
    while !resumed_after_restart {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "service did not resume"
        );
        if down_at.is_none() && started.elapsed() > Duration::from_millis(500) {
            tokio::task::block_in_place(|| postgres.down());
            down_at = Some(Instant::now());
        }
        if up_at.is_none() && down_at.is_some_and(|at| at.elapsed() > Duration::from_secs(2)) {
            tokio::task::block_in_place(|| postgres.up());
            up_at = Some(Instant::now());
        }
        i += 1;
        let response = create(i).await.unwrap();
        match response.status() {
            StatusCode::CREATED => {
                let body: Value = response.json().await.unwrap();
                acked.push(body["id"].as_str().unwrap().to_owned());
                resumed_after_restart = up_at.is_some();
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                unavailable += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                assert_eq!(response.headers()["x-error-code"], "unavailable");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "Service Unavailable");
                let message = body["message"].as_str().unwrap();
                assert!(
                    message.starts_with("Something went wrong on our side. Reference: "),
                    "the cause stays in the log: {message}"
                );
            }
            other => panic!("answered {other} while PostgreSQL restarted"),
        }
        let health = http
            .get(format!("{}/healthz", server.address))
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            health == StatusCode::OK || health == StatusCode::SERVICE_UNAVAILABLE,
            "{health}"
        );
    }
    assert!(unavailable > 0, "no request met the outage");
    assert!(acked.len() > 2, "{} acknowledged", acked.len());
    for id in &acked {
        let response = http
            .get(format!("{}/api/keys/{id}", server.address))
            .header("x-api-key", &admin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "acknowledged key {id} lost"
        );
    }
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_and_answered_503() {
    let Some(database) = TestDatabase::create("statement timeout").await else {
        return;
    };
    let app = crate::engines::spawn_on_database(&database, |s| {
        s.storage.statement_timeout = Duration::from_millis(300);
    })
    .await;
    // Another session holds the key-change lock, as a stuck transaction would.
    let mut blocker = sqlx::PgConnection::connect(&database.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("SELECT value FROM counters WHERE name = 'keys' FOR UPDATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let started = Instant::now();
    let response = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({"owner": "App 1", "role": "user"}),
        )
        .await;
    let waited = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["x-error-code"], "unavailable");
    assert!(
        waited < Duration::from_secs(3),
        "cancelled after {waited:?}"
    );
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let response = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({"owner": "App 1", "role": "user"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}
