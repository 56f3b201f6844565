//! In-memory buckets and quota counters, bounded. Buckets are sharded to keep lock hold
//! times short under load. A bucket whose TAT has passed is equivalent to no bucket, so idle
//! entries are swept when a shard fills; if a shard is full of active buckets an arbitrary
//! one is dropped (it restarts full), which bounds memory at the price of a little leniency
//! under a flood of distinct keys.

use super::gcra::{self, Decision};
use super::spec::RateSpec;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

const SHARDS: usize = 16;

struct Shard {
    buckets: HashMap<Box<str>, i64>,
    last_sweep_us: i64,
}

/// Bounded in-memory rate limiter.
pub struct MemoryLimiter {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    quotas: Mutex<HashMap<String, i64>>,
}

impl MemoryLimiter {
    /// A limiter holding at most about `capacity` buckets.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        buckets: HashMap::new(),
                        last_sweep_us: 0,
                    })
                })
                .collect(),
            per_shard,
            hasher: std::collections::hash_map::RandomState::new(),
            quotas: Mutex::new(HashMap::new()),
        }
    }

    /// Check and count one request in bucket `key`.
    pub fn check(&self, key: &str, spec: &RateSpec, now_us: i64) -> Decision {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let (decision, tat) = gcra::check(spec, shard.buckets.get(key).copied(), now_us);
        if decision.allowed {
            if let Some(slot) = shard.buckets.get_mut(key) {
                *slot = tat;
            } else {
                if shard.buckets.len() >= self.per_shard {
                    // Sweep idle buckets at most once a second per shard.
                    if now_us - shard.last_sweep_us >= 1_000_000 {
                        shard.last_sweep_us = now_us;
                        shard.buckets.retain(|_, tat| *tat > now_us);
                    }
                    if shard.buckets.len() >= self.per_shard
                        && let Some(victim) = shard.buckets.keys().next().cloned()
                    {
                        shard.buckets.remove(&victim);
                    }
                }
                shard.buckets.insert(key.into(), tat);
            }
        }
        decision
    }

    /// Whether one request in bucket `key` would be allowed now, without counting it.
    pub fn peek(&self, key: &str, spec: &RateSpec, now_us: i64) -> bool {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        gcra::check(spec, shard.buckets.get(key).copied(), now_us)
            .0
            .allowed
    }

    /// Count one use against a quota counter; `Some(remaining)` when allowed, `None` when
    /// exhausted. `used` seeds a counter seen for the first time (from the store).
    pub fn consume_quota(&self, counter: &str, limit: i64, used: i64) -> Option<i64> {
        let mut quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        // Quota counters exist only for keys that carry a quota: bounded by the key count.
        let count = quotas.entry(counter.to_owned()).or_insert(used);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(limit - *count)
    }

    /// Buckets held, for measurements.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).buckets.len())
            .sum()
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
        assert!(limiter.len() <= 1_000 + SHARDS, "{}", limiter.len());
    }

    #[test]
    fn quota_counts_down_and_stops_at_zero() {
        let limiter = MemoryLimiter::new(10);
        assert_eq!(limiter.consume_quota("q", 3, 1), Some(1));
        assert_eq!(limiter.consume_quota("q", 3, 1), Some(0));
        assert_eq!(limiter.consume_quota("q", 3, 1), None);
    }
}
