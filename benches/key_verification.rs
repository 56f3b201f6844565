//! How much a request pays for authentication on the hot path, where no database is touched:
//! a valid key (cached), an unknown key (negatively cached) and a malformed one (no lookup);
//! and off it: a valid key whose cache entry is gone (the first request after a start, or
//! after another node changed it), which costs one store look-up — on SQLite, and on
//! PostgreSQL over loopback when `PORTCULLIS_TEST_POSTGRES_URL` names a server (a database
//! is created for the run and dropped after).
//!
//! Run: `cargo bench --bench key_verification`. Each iteration includes a `block_on` on a
//! current-thread runtime (tens of nanoseconds), since verification is async.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::auth::keys::CreateKey;
use portcullis::auth::{EnvKeys, KeyManager, KeyVerifier, key_format};
use portcullis::clock::{Clock, SystemClock};
use portcullis::config::AuthSettings;
use portcullis::store::{OwnerKind, Store};
use std::sync::Arc;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: Arc<KeyVerifier>,
    valid: String,
    unknown: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    fixture_on(&url, dir)
}

fn fixture_on(url: &str, dir: tempfile::TempDir) -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (verifier, valid, unknown) = runtime.block_on(async {
        let store: Arc<dyn Store> = portcullis::store::connect(url).await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let verifier = Arc::new(KeyVerifier::new(
            store.clone(),
            clock.clone(),
            EnvKeys::none(),
            &AuthSettings::default(),
        ));
        let keys = KeyManager::new(store, clock, Some(verifier.clone()));
        let issued = keys
            .create(
                CreateKey {
                    owner: "bench".into(),
                    owner_kind: OwnerKind::App,
                    role: "user".into(),
                    label: None,
                    expires_in: None,
                    metadata: None,
                    rate: None,
                    quota: None,
                },
                portcullis::auth::keys::ChangedBy::Unrecorded,
            )
            .await
            .unwrap();
        let valid = issued.token.expose().to_owned();
        let unknown = key_format::generate().unwrap().token.expose().to_owned();
        // Warm both caches.
        verifier.verify(&valid).await.unwrap();
        let _ = verifier.verify(&unknown).await;
        (verifier, valid, unknown)
    });
    Fixture {
        runtime,
        verifier,
        valid,
        unknown,
        _dir: dir,
    }
}

#[divan::bench]
fn verify_valid_key(bencher: divan::Bencher) {
    let f = fixture();
    bencher.bench_local(|| {
        f.runtime
            .block_on(f.verifier.verify(divan::black_box(&f.valid)))
            .is_ok()
    });
}

#[divan::bench]
fn reject_unknown_key(bencher: divan::Bencher) {
    let f = fixture();
    bencher.bench_local(|| {
        f.runtime
            .block_on(f.verifier.verify(divan::black_box(&f.unknown)))
            .is_err()
    });
}

#[divan::bench]
fn reject_bad_checksum(bencher: divan::Bencher) {
    let f = fixture();
    let mut typo = f.valid.clone();
    typo.pop();
    typo.push('!');
    bencher.bench_local(|| {
        f.runtime
            .block_on(f.verifier.verify(divan::black_box(&typo)))
            .is_err()
    });
}

/// The first verification of a valid key after its cache entry went: one look-up.
fn cold(bencher: divan::Bencher, f: &Fixture) {
    bencher.bench_local(|| {
        f.verifier.invalidate_all();
        f.runtime
            .block_on(f.verifier.verify(divan::black_box(&f.valid)))
            .is_ok()
    });
}

#[divan::bench]
fn verify_uncached_key_sqlite(bencher: divan::Bencher) {
    cold(bencher, &fixture());
}

/// A database of its own on the PostgreSQL server named by `PORTCULLIS_TEST_POSTGRES_URL`.
struct PgDatabase {
    server: String,
    name: String,
}

impl PgDatabase {
    fn create() -> Option<(Self, String)> {
        let server = std::env::var("PORTCULLIS_TEST_POSTGRES_URL").ok()?;
        let name = format!("pcbench_{}", std::process::id());
        Self::admin(&server, &format!("CREATE DATABASE {name}"));
        let (base, _) = server.rsplit_once('/')?;
        let url = format!("{base}/{name}");
        Some((Self { server, name }, url))
    }

    fn admin(server: &str, sql: &str) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(server).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await
                .unwrap();
        });
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        Self::admin(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

#[divan::bench]
fn verify_valid_key_postgres(bencher: divan::Bencher) {
    let Some((_database, url)) = PgDatabase::create() else {
        eprintln!("NOT RUN: set PORTCULLIS_TEST_POSTGRES_URL for the PostgreSQL cases");
        return;
    };
    let f = fixture_on(&url, tempfile::tempdir().unwrap());
    bencher.bench_local(|| {
        f.runtime
            .block_on(f.verifier.verify(divan::black_box(&f.valid)))
            .is_ok()
    });
}

#[divan::bench]
fn verify_uncached_key_postgres(bencher: divan::Bencher) {
    let Some((_database, url)) = PgDatabase::create() else {
        eprintln!("NOT RUN: set PORTCULLIS_TEST_POSTGRES_URL for the PostgreSQL cases");
        return;
    };
    cold(bencher, &fixture_on(&url, tempfile::tempdir().unwrap()));
}

fn main() {
    divan::main();
}
