//! What recording an audit event costs the request that records it: `AuditLog::record` only
//! stamps the event and queues it; a background task appends batches to SQLite. Also
//! measured: the time to record and durably write 1,000 events end to end.
//!
//! Run: `cargo bench --bench audit_record`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::audit::{AuditEvent, AuditLog, AuditOptions, Outcome};
use portcullis::clock::{Clock, SystemClock};
use portcullis::store::{AuditFilter, SqliteStore, Store};
use std::sync::Arc;

fn event(i: u64) -> AuditEvent {
    AuditEvent::new("login.failure", Outcome::Failure, "login refused")
        .route(Some("/user/login"))
        .client(Some(std::net::IpAddr::from([127, 0, 0, 1])))
        .with("reason", "wrong_secret")
        .with("n", i)
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    log: AuditLog,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    fixture_with(std::time::Duration::ZERO)
}

/// `refusal_window` zero records every refusal (what the write benchmarks measure); the
/// default of a minute counts repeats instead (what `record_one_repeated_refusal` measures).
fn fixture_with(refusal_window: std::time::Duration) -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (log, store) = runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let key = portcullis::secret::SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        let options = AuditOptions {
            checkpoint: Some(dir.path().join(portcullis::audit::CHECKPOINT_FILE)),
            refusal_window,
        };
        let (log, _writer) = AuditLog::spawn(store.clone(), clock, key, options);
        (log, store)
    });
    Fixture {
        runtime,
        log,
        store,
        _dir: dir,
    }
}

#[divan::bench]
fn record_one_event(bencher: divan::Bencher) {
    let f = fixture();
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        f.runtime.block_on(f.log.record(event(i)))
    });
}

#[divan::bench]
fn record_one_repeated_refusal(bencher: divan::Bencher) {
    let f = fixture_with(std::time::Duration::from_secs(60));
    f.runtime.block_on(f.log.record(event(0)));
    bencher.bench_local(|| f.runtime.block_on(f.log.record(event(0))));
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn record_and_write_1000_events(bencher: divan::Bencher) {
    let f = fixture();
    bencher.bench_local(|| {
        f.runtime.block_on(async {
            let before = f
                .store
                .audit_events(&AuditFilter {
                    limit: u32::MAX,
                    ..AuditFilter::default()
                })
                .await
                .unwrap()
                .len();
            for i in 0..1000 {
                f.log.record(event(i)).await;
            }
            loop {
                let n = f
                    .store
                    .audit_events(&AuditFilter {
                        after: Some((before + 999) as i64),
                        limit: 1,
                        ..AuditFilter::default()
                    })
                    .await
                    .unwrap()
                    .len();
                if n == 1 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        })
    });
}

fn main() {
    divan::main();
}
