//! Login must not tell an attacker which usernames exist: an unknown user and a known one,
//! each with a random well-formed key, take the same path (the key is checked first, the
//! name only after) and so the same time. Compare the medians of the two benchmarks below;
//! they are a timing claim, so they are measured here, not asserted in a test.
//!
//! Run: `cargo bench --bench login_timing`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/app.rs"]
mod app;

use app::{Fixture, fixture_with, post_json};

fn fixture() -> Fixture {
    fixture_with(|settings| {
        // Every attempt below fails: no lockout and no limit may cut the measurement short.
        settings.limits.enabled = false;
        settings.auth.lockout_threshold = u32::MAX;
        settings.audit.refusal_window = std::time::Duration::from_secs(3600);
    })
}

fn random_key() -> String {
    portcullis::auth::key_format::generate()
        .unwrap()
        .token
        .expose()
        .to_owned()
}

fn attempt(f: &Fixture, username: &str) -> u16 {
    let body = serde_json::json!({"username": username, "key": random_key()}).to_string();
    post_json(f, "/user/login", &body)
}

#[divan::bench(sample_count = 1000)]
fn known_user_random_key(bencher: divan::Bencher) {
    let f = fixture();
    assert_eq!(attempt(&f, "admin"), 401);
    bencher.bench_local(|| attempt(&f, "admin"));
}

#[divan::bench(sample_count = 1000)]
fn unknown_user_random_key(bencher: divan::Bencher) {
    let f = fixture();
    assert_eq!(attempt(&f, "nobody-by-this-name"), 401);
    bencher.bench_local(|| attempt(&f, "nobody-by-this-name"));
}

fn main() {
    divan::main();
}
