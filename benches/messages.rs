//! What reading a message costs, by case, so the claim "an unknown or malformed id is a 404
//! that takes the same time as a known one" is a measured figure and not a hope:
//!
//! - `known`: a live 1 KiB message (hash the id, one indexed read, AES-GCM open);
//! - `unknown`: a well-formed id with no message (hash, one indexed read that misses);
//! - `malformed`: not an id at all (a random stand-in id is drawn, then as `unknown`).
//!
//! On the SQL store (SQLite in a temporary directory) and, when `PORTCULLIS_TEST_REDIS_URL`
//! is set, on Redis. Run: `PORTCULLIS_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench
//! --bench messages`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::clock::SystemClock;
use portcullis::config::MessageSettings;
use portcullis::secret::SecretString;
use portcullis::services::messages::{Messages, NewMessage};
use portcullis::store::{MessageStore, RedisMessages, SqliteStore, Store};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    divan::main();
}

const CASES: &[&str] = &["known", "unknown", "malformed"];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn service(store: Arc<dyn MessageStore>) -> Messages {
    Messages::new(store, Arc::new(SystemClock), MessageSettings::default())
}

fn bench_read(
    bencher: divan::Bencher,
    rt: &tokio::runtime::Runtime,
    messages: &Messages,
    case: &str,
) {
    let created = rt
        .block_on(messages.create(NewMessage {
            text: SecretString::new("x".repeat(1024)),
            expires_in: Some(Duration::from_secs(3600)),
            burn_after_reading: false,
        }))
        .unwrap();
    let id = match case {
        "known" => created.id.to_string(),
        "unknown" => uuid::Uuid::new_v4().to_string(),
        _ => "definitely-not-a-uuid".to_owned(),
    };
    bencher.bench_local(|| rt.block_on(messages.read(&id)).is_ok());
}

#[divan::bench(args = CASES)]
fn sql_read(bencher: divan::Bencher, case: &str) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt.block_on(SqliteStore::open(&url)).unwrap();
    bench_read(bencher, &rt, &service(store.messages()), case);
}

#[divan::bench(args = CASES)]
fn redis_read(bencher: divan::Bencher, case: &str) {
    let Ok(url) = std::env::var("PORTCULLIS_TEST_REDIS_URL") else {
        eprintln!("NOT RUN: redis_read — set PORTCULLIS_TEST_REDIS_URL");
        return;
    };
    let rt = runtime();
    let _inside = rt.enter();
    let prefix = format!("pcbench:{}:", uuid::Uuid::new_v4().simple());
    let store = RedisMessages::new(&url, &prefix, Duration::from_secs(2)).unwrap();
    bench_read(bencher, &rt, &service(Arc::new(store)), case);
}
