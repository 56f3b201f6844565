//! What a limit check costs: in memory (a hash-map update under a sharded lock) and on Redis
//! (one round trip running the GCRA script). The Redis cases run when
//! `PORTCULLIS_TEST_REDIS_URL` is set (e.g. `redis://127.0.0.1:6379`).
//!
//! Run: `PORTCULLIS_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --bench limits`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::clock::{Clock, SystemClock};
use portcullis::limits::{Limiter, RateSpec};
use std::sync::Arc;
use std::time::Duration;

fn spec() -> RateSpec {
    RateSpec::parse("1000000/s").unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[divan::bench]
fn memory_check_one_key(bencher: divan::Bencher) {
    let rt = runtime();
    let limiter = Limiter::memory(100_000, clock());
    let spec = spec();
    bencher.bench_local(|| {
        rt.block_on(limiter.check("key:abc", &spec))
            .unwrap()
            .allowed
    });
}

#[divan::bench]
fn memory_check_distinct_addresses(bencher: divan::Bencher) {
    let rt = runtime();
    let limiter = Limiter::memory(100_000, clock());
    let spec = spec();
    let mut i = 0u64;
    bencher.bench_local(|| {
        i += 1;
        rt.block_on(limiter.check(
            &format!("addr:10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            &spec,
        ))
        .unwrap()
        .allowed
    });
}

#[divan::bench]
fn redis_check_one_key(bencher: divan::Bencher) {
    let Ok(url) = std::env::var("PORTCULLIS_TEST_REDIS_URL") else {
        eprintln!("redis_check_one_key: PORTCULLIS_TEST_REDIS_URL unset, not measured");
        return;
    };
    let rt = runtime();
    let limiter = rt.block_on(async {
        Limiter::redis(
            &url,
            "pcbench:",
            Duration::from_millis(500),
            false,
            1000,
            clock(),
        )
        .unwrap()
    });
    let spec = spec();
    bencher.bench_local(|| {
        rt.block_on(limiter.check("key:abc", &spec))
            .unwrap()
            .allowed
    });
}

fn main() {
    divan::main();
}
