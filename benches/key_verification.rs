//! How much a request pays for authentication on the hot path, where no database is touched:
//! a valid key (cached), an unknown key (negatively cached) and a malformed one (no lookup).
//!
//! Run: `cargo bench --bench key_verification`. Each iteration includes a `block_on` on a
//! current-thread runtime (tens of nanoseconds), since verification is async.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::auth::keys::CreateKey;
use portcullis::auth::{EnvKeys, KeyManager, KeyVerifier, key_format};
use portcullis::clock::{Clock, SystemClock};
use portcullis::config::AuthSettings;
use portcullis::store::{OwnerKind, SqliteStore, Store};
use std::sync::Arc;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: Arc<KeyVerifier>,
    valid: String,
    unknown: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (verifier, valid, unknown) = runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
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

fn main() {
    divan::main();
}
