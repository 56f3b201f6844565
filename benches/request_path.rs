//! The CPU cost of a whole request through the application (middleware stack, routing,
//! authentication, limits, handler, JSON) without the network: `GET /healthz` against
//! `GET /api/whoami` with a valid key, limits on and off. Stable where wrk on a shared
//! two-core machine is not.
//!
//! Run: `cargo bench --bench request_path`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/app.rs"]
mod app;

use app::{call, fixture};

#[divan::bench]
fn healthz(bencher: divan::Bencher) {
    let f = fixture(true);
    bencher.bench_local(|| call(&f, "/healthz", None));
}

#[divan::bench]
fn whoami_limits_on(bencher: divan::Bencher) {
    let f = fixture(true);
    let key = f.key.clone();
    assert_eq!(call(&f, "/api/whoami", Some(&key)), 200);
    bencher.bench_local(|| call(&f, "/api/whoami", Some(&key)));
}

#[divan::bench]
fn whoami_limits_off(bencher: divan::Bencher) {
    let f = fixture(false);
    let key = f.key.clone();
    bencher.bench_local(|| call(&f, "/api/whoami", Some(&key)));
}

fn main() {
    divan::main();
}
