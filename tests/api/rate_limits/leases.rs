//! Limits leased from Redis (`limits::lease`), against a real Redis: small buckets stay exact,
//! big ones never admit more than their burst across nodes, and unused cells go back.

use super::redis_nodes;
use crate::backends::require_redis;
use std::time::Duration;

async fn redis_tat(url: &str, key: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async::<i64>(&mut connection)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_small_bucket_is_exact_across_nodes_with_no_lease() {
    let Some(url) = require_redis("small buckets stay exact") else {
        return;
    };
    let (a, b, _, _) = redis_nodes(&url);
    let spec = portcullis::limits::RateSpec::parse("63/min").unwrap();
    let mut allowed = Vec::new();
    for i in 0..70 {
        let node = if i % 2 == 0 { &a } else { &b };
        allowed.push(node.check("key:small", &spec).await.unwrap().allowed);
    }
    assert_eq!(allowed.iter().filter(|a| **a).count(), 63);
    assert!(allowed[..63].iter().all(|a| *a), "the first 63 in order");
}

#[tokio::test]
async fn a_busy_big_bucket_leases_cells_and_all_nodes_together_never_exceed_it() {
    let Some(url) = require_redis("leased cells stay within the bucket") else {
        return;
    };
    let (a, b, clock, prefix) = redis_nodes(&url);
    let spec = portcullis::limits::RateSpec::parse("100/min burst 640").unwrap();
    let start = portcullis::clock::Clock::unix_us(&*clock);
    // Ten requests on one node: batches of 1, 2, 4, then 8 with five of them held.
    for _ in 0..10 {
        assert!(a.check("key:big", &spec).await.unwrap().allowed);
    }
    let interval = spec.interval_us();
    assert_eq!(
        redis_tat(&url, &format!("{prefix}key:big")).await,
        start + 15 * interval,
        "15 cells counted in Redis for 10 requests"
    );
    // The clock is stopped, so nothing refills: both nodes together admit exactly the burst,
    // and when one is first refused the other holds at most 16 cells.
    let mut admitted = 10;
    let mut first_refusal = None;
    for i in 0..2000 {
        let node = if i % 2 == 0 { &a } else { &b };
        if node.check("key:big", &spec).await.unwrap().allowed {
            admitted += 1;
        } else if first_refusal.is_none() {
            first_refusal = Some(admitted);
        }
    }
    assert_eq!(admitted, 640);
    let first = first_refusal.unwrap();
    assert!(
        (640 - 16..640).contains(&first),
        "first refused after {first}"
    );
}

#[tokio::test]
async fn unused_leased_cells_go_back_to_the_shared_bucket() {
    let Some(url) = require_redis("unused leased cells go back") else {
        return;
    };
    let (a, _b, clock, prefix) = redis_nodes(&url);
    let spec = portcullis::limits::RateSpec::parse("3600/hour").unwrap(); // a cell a second
    let start = portcullis::clock::Clock::unix_us(&*clock);
    let key = format!("{prefix}key:slow");
    for _ in 0..4 {
        assert!(a.check("key:slow", &spec).await.unwrap().allowed);
    }
    // Batches of 1, 2 and 4: seven cells counted, four used, three held.
    assert_eq!(redis_tat(&url, &key).await, start + 7_000_000);
    clock.advance(Duration::from_micros(
        portcullis::limits::lease::LEASE_US.unsigned_abs(),
    ));
    // The lease has expired: its three cells go back (one more has refilled), and a batch
    // of two is leased.
    let decision = a.check("key:slow", &spec).await.unwrap();
    assert!(decision.allowed);
    assert_eq!(redis_tat(&url, &key).await, start + 6_000_000);
    assert_eq!(decision.remaining, 3600 - 5 + 1);
}
