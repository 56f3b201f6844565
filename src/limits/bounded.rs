//! A map from bucket names to per-bucket state, sharded and bounded: what the in-memory buckets
//! (`memory.rs`) and the Redis leases (`lease.rs`) both keep. Shards keep lock hold times short
//! under load. Entries whose moment has passed (a bucket's TAT, a lease's expiry) are worth
//! nothing, so when a shard is full they are swept, at most once a second. When a shard is
//! full of live entries, an arbitrary one is dropped. That bounds memory under a flood of
//! distinct names, and losing an entry never loosens a limit beyond its own restart.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 16;

/// The bounded, sharded map.
pub struct BoundedMap<V> {
    shards: Vec<Mutex<Shard<V>>>,
    /// Seeded per process (SipHash): names are partly chosen by clients (addresses), so
    /// the shard and the slot must not be predictable.
    hasher: std::collections::hash_map::RandomState,
}

/// One shard, locked: its entries, read and changed in place.
pub struct Shard<V> {
    /// The entries of this shard.
    pub entries: HashMap<Box<str>, V>,
    capacity: usize,
    last_sweep_us: i64,
}

impl<V> BoundedMap<V> {
    /// Room for about `capacity` entries in all.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        entries: HashMap::new(),
                        capacity,
                        last_sweep_us: 0,
                    })
                })
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The shard that holds `name`, locked.
    pub fn shard(&self, name: &str) -> MutexGuard<'_, Shard<V>> {
        let index = (self.hasher.hash_one(name) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Entries held, for tests and measurements.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).entries.len())
            .sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries the map holds (its capacity, rounded up to whole shards).
    pub fn ceiling(&self) -> usize {
        self.shards.first().map_or(0, |s| {
            s.lock().unwrap_or_else(|p| p.into_inner()).capacity * SHARDS
        })
    }
}

impl<V> Shard<V> {
    /// Add an entry for a name this shard does not hold, making room first when it is full:
    /// entries for which `live` is false are swept (at most once a second), and if the
    /// shard is still full, one arbitrary entry is dropped.
    pub fn insert_new(&mut self, name: &str, value: V, now_us: i64, live: impl Fn(&V) -> bool) {
        if self.entries.len() >= self.capacity {
            if now_us - self.last_sweep_us >= 1_000_000 {
                self.last_sweep_us = now_us;
                self.entries.retain(|_, value| live(value));
            }
            if self.entries.len() >= self.capacity
                && let Some(victim) = self.entries.keys().next().cloned()
            {
                self.entries.remove(&victim);
            }
        }
        self.entries.insert(name.into(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_names_stays_within_the_capacity_and_idle_entries_go_first() {
        let map = BoundedMap::new(1_000);
        for i in 0..100_000 {
            map.shard(&format!("n{i}"))
                .insert_new(&format!("n{i}"), i, 0, |_| true);
        }
        assert!(map.len() <= map.ceiling(), "{}", map.len());
        assert_eq!(map.ceiling(), 1_008, "1,000 rounded up to 16 shards of 63");
        // A second later, everything idle is swept before anything live is dropped.
        let live = "still-live";
        map.shard(live).insert_new(live, -1, 2_000_000, |v| *v < 0);
        assert_eq!(map.shard(live).entries.get(live), Some(&-1));
        assert_eq!(map.shard(live).entries.len(), 1);
    }
}
