//! A small bounded map with a time-to-live, for verified and unknown keys.
//!
//! Hand-written (~70 lines) because the job is narrow: a hard capacity that a flood of random
//! ids cannot exceed, per-entry expiry, and explicit invalidation on revocation. A general
//! cache crate (moka) would bring a large dependency tree for no extra safety.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bounded, expiring map from key id to `V`.
#[derive(Debug)]
pub struct TtlCache<V> {
    inner: Mutex<Inner<V>>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug)]
struct Inner<V> {
    entries: HashMap<String, (Instant, V)>,
    last_sweep: Instant,
}

impl<V: Clone> TtlCache<V> {
    /// A cache of at most `capacity` entries, each living `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::with_capacity(capacity.min(1024)),
                last_sweep: Instant::now(),
            }),
            capacity,
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // A panic while holding the lock cannot leave the map logically broken: recover it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live entry for `key`, if any.
    pub fn get(&self, key: &str) -> Option<V> {
        let mut inner = self.lock();
        match inner.entries.get(key) {
            Some((at, value)) if at.elapsed() < self.ttl => Some(value.clone()),
            Some(_) => {
                inner.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Insert or replace, evicting to stay within capacity.
    pub fn insert(&self, key: String, value: V) {
        let mut inner = self.lock();
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&key) {
            // Sweep expired entries at most twice per TTL, so a flood cannot make every insert
            // scan the whole map; otherwise evict one arbitrary entry (HashMap order is random).
            if inner.last_sweep.elapsed() >= self.ttl / 2 {
                let ttl = self.ttl;
                inner.entries.retain(|_, (at, _)| at.elapsed() < ttl);
                inner.last_sweep = Instant::now();
            }
            if inner.entries.len() >= self.capacity
                && let Some(victim) = inner.entries.keys().next().cloned()
            {
                inner.entries.remove(&victim);
            }
        }
        inner.entries.insert(key, (Instant::now(), value));
    }

    /// Forget `key`.
    pub fn remove(&self, key: &str) {
        self.lock().entries.remove(key);
    }

    /// Forget everything.
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    /// Number of entries, live or not yet swept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_distinct_keys_never_exceeds_capacity() {
        let cache = TtlCache::new(100, Duration::from_secs(60));
        for i in 0..10_000 {
            cache.insert(format!("id{i}"), ());
        }
        assert_eq!(cache.len(), 100);
        assert_eq!(cache.get("id9999"), Some(()));
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = TtlCache::new(10, Duration::ZERO);
        cache.insert("a".to_owned(), 1);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn removed_entries_are_gone() {
        let cache = TtlCache::new(10, Duration::from_secs(60));
        cache.insert("a".to_owned(), 1);
        cache.remove("a");
        assert_eq!(cache.get("a"), None);
    }
}
