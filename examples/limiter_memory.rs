//! Memory ceiling of the in-memory limiter under a flood of distinct client addresses:
//! one million addresses, one request each, into a limiter of the default capacity
//! (100,000 buckets). Prints resident memory before and after.
//!
//! Run: `cargo run --release --example limiter_memory`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::clock::SystemClock;
use portcullis::limits::{Limiter, RateSpec};
use std::sync::Arc;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let capacity = 100_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let limiter = Limiter::memory(capacity, Arc::new(SystemClock));
    let spec = RateSpec::parse("60/min burst 20").unwrap();
    let before = rss_kib();
    runtime.block_on(async {
        for i in 0u32..1_000_000 {
            let ip = std::net::Ipv4Addr::from(0x0A00_0000 | i);
            limiter.check(&format!("addr:{ip}"), &spec).await.unwrap();
        }
    });
    let after = rss_kib();
    println!("capacity {capacity} buckets; 1,000,000 distinct addresses");
    println!(
        "resident memory: {before} KiB before, {after} KiB after, +{} KiB",
        after.saturating_sub(before)
    );
}
