//! In-memory buckets and quota counters, bounded. The buckets live in a `BoundedMap`: a
//! bucket whose TAT has passed is equivalent to no bucket, so idle ones are swept when a shard
//! fills; if a shard is full of active buckets an arbitrary one is dropped (it restarts
//! full), which bounds memory at the price of a little leniency under a flood of distinct
//! keys.

use super::QuotaCount;
use super::bounded::BoundedMap;
use super::gcra::{self, Decision};
use super::spec::RateSpec;
use std::collections::HashMap;
use std::sync::Mutex;

/// Bounded in-memory rate limiter.
pub struct MemoryLimiter {
    /// Each bucket's TAT.
    buckets: BoundedMap<i64>,
    quotas: Mutex<HashMap<String, i64>>,
}

impl MemoryLimiter {
    /// A limiter holding at most about `capacity` buckets.
    pub fn new(capacity: usize) -> Self {
        Self {
            buckets: BoundedMap::new(capacity),
            quotas: Mutex::new(HashMap::new()),
        }
    }

    /// Check and count one request in bucket `key`.
    pub fn check(&self, key: &str, spec: &RateSpec, now_us: i64) -> Decision {
        let mut shard = self.buckets.shard(key);
        let (decision, tat) = gcra::check(spec, shard.entries.get(key).copied(), now_us);
        if decision.allowed {
            match shard.entries.get_mut(key) {
                Some(slot) => *slot = tat,
                None => shard.insert_new(key, tat, now_us, |tat| *tat > now_us),
            }
        }
        decision
    }

    /// Whether one request in bucket `key` would be allowed now, without counting it.
    pub fn peek(&self, key: &str, spec: &RateSpec, now_us: i64) -> bool {
        let shard = self.buckets.shard(key);
        gcra::check(spec, shard.entries.get(key).copied(), now_us)
            .0
            .allowed
    }

    /// Count one use against a quota counter; `Some(remaining)` when allowed, `None` when
    /// exhausted. `used` seeds a counter seen for the first time (from the store).
    ///
    /// `cost` uses are counted at once (a verification may weigh more than one request);
    /// a cost of 0 only looks: the answer is what a cost of 1 would get, and nothing is
    /// counted.
    pub fn consume_quota(&self, counter: &str, limit: i64, used: i64, cost: i64) -> QuotaCount {
        let mut quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        // Quota counters exist only for keys that carry a quota: bounded by the key count.
        let count = quotas.entry(counter.to_owned()).or_insert(used);
        let granted = count.saturating_add(cost.max(1)) <= limit;
        if granted {
            *count += cost;
        }
        QuotaCount {
            granted,
            remaining: (limit - *count).max(0),
        }
    }

    /// Buckets held, for measurements.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_distinct_keys_stays_within_capacity() {
        let limiter = MemoryLimiter::new(1_000);
        let spec = RateSpec::parse("10/min").unwrap();
        for i in 0..100_000 {
            assert!(
                limiter
                    .check(&format!("addr:{i}"), &spec, 1_000_000_000)
                    .allowed
            );
        }
        assert!(limiter.len() <= 1_000 + 16, "{}", limiter.len());
    }

    #[test]
    fn quota_counts_down_and_stops_at_zero() {
        let limiter = MemoryLimiter::new(10);
        let count = |granted, remaining| QuotaCount { granted, remaining };
        assert_eq!(limiter.consume_quota("q", 3, 1, 1), count(true, 1));
        assert_eq!(limiter.consume_quota("q", 3, 1, 0), count(true, 1));
        assert_eq!(limiter.consume_quota("q", 3, 1, 2), count(false, 1));
        assert_eq!(limiter.consume_quota("q", 3, 1, 1), count(true, 0));
        assert_eq!(limiter.consume_quota("q", 3, 1, 1), count(false, 0));
        assert_eq!(limiter.consume_quota("q", 3, 1, 0), count(false, 0));
        assert_eq!(limiter.consume_quota("w", 10, 0, 4), count(true, 6));
    }
}
