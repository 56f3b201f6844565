//! One-time values (signature nonces, envelope token ids) seen within their window.
//!
//! Bounded, and fair: each owner (the key a session belongs to, or a config-service client)
//! may hold at most its share of the cache, so one caller sending signed requests as fast as
//! its rate limit allows fills only its own share and is refused (fail closed) while everyone
//! else is served. A value is never forgotten before its time: forgetting early would let a
//! replay through. Entries expire in the order they were added (all live equally long), so
//! expiry is a pop from the front of a queue: O(1) per entry, never a scan under the lock.
//! The cache stores a 128-bit digest of owner and value, never the value itself, so its memory
//! is a fixed ~64 bytes per entry whatever clients send.

use crate::clock::Clock;
use crate::limits::Limiter;
use crate::store::NonceStore;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest one-time value accepted (a nonce or a token id).
pub const MAX_VALUE_LEN: usize = 128;

type ValueDigest = [u8; 16];
type OwnerDigest = u64;

#[derive(Debug, Default)]
struct Seen {
    /// In insertion order, so in expiry order.
    order: VecDeque<(Instant, OwnerDigest, ValueDigest)>,
    values: HashSet<ValueDigest>,
    per_owner: HashMap<OwnerDigest, usize>,
}

/// The replay cache.
pub struct ReplayCache {
    seen: Mutex<Seen>,
    capacity: usize,
    per_owner: usize,
    ttl: Duration,
    /// A database other nodes share, used when there is no Redis (see
    /// [`ReplayCache::shared_through`]).
    database: Option<(Arc<dyn NonceStore>, Arc<dyn Clock>)>,
}

impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("capacity", &self.capacity)
            .field("per_owner", &self.per_owner)
            .field("ttl", &self.ttl)
            .field("database", &self.database.is_some())
            .finish_non_exhaustive()
    }
}

/// Result of remembering a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remember {
    /// First time seen.
    Fresh,
    /// Seen before within the window.
    Replay,
    /// Cannot remember more for this owner (or at all) right now.
    Full,
}

fn digests(owner: &str, value: &str) -> (OwnerDigest, ValueDigest) {
    let owner_hash = Sha256::digest(owner.as_bytes());
    let mut hasher = Sha256::new();
    hasher.update(owner.as_bytes());
    hasher.update([0u8]);
    hasher.update(value.as_bytes());
    let value_hash = hasher.finalize();
    let mut o = [0u8; 8];
    o.copy_from_slice(&owner_hash[..8]);
    let mut v = [0u8; 16];
    v.copy_from_slice(&value_hash[..16]);
    (u64::from_be_bytes(o), v)
}

impl ReplayCache {
    /// Remember values for `ttl` (twice the signature window covers every accepted
    /// `created`); at most `capacity` in all and `per_owner` for any one owner.
    pub fn new(capacity: usize, per_owner: usize, ttl: Duration) -> Self {
        Self {
            seen: Mutex::new(Seen::default()),
            capacity,
            per_owner: per_owner.clamp(1, capacity.max(1)),
            ttl,
            database: None,
        }
    }

    /// Remember values in `store` when there is no Redis: nodes sharing a database (a
    /// PostgreSQL cluster without Redis) then refuse a value seen on any of them. Only a
    /// digest of owner and value reaches the database.
    pub fn shared_through(mut self, store: Arc<dyn NonceStore>, clock: Arc<dyn Clock>) -> Self {
        self.database = Some((store, clock));
        self
    }

    /// How long values are remembered.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Remember `value` for `owner` on every node: through Redis when the limiter has it, so
    /// that a value captured on one node cannot be replayed on another; otherwise (or while
    /// Redis is down and fail-open) in this cache. Redis down with fail-closed answers
    /// [`Remember::Full`].
    pub async fn remember_shared(
        &self,
        limiter: &Limiter,
        kind: &str,
        owner: &str,
        value: &str,
    ) -> Remember {
        let key = format!("{kind}:{owner}:{value}");
        match limiter.remember_once(&key, self.ttl).await {
            Ok(Some(true)) => Remember::Fresh,
            Ok(Some(false)) => Remember::Replay,
            Ok(None) => match &self.database {
                Some((store, clock)) => {
                    let (_, digest) = digests(kind, &format!("{owner}\0{value}"));
                    let now = clock.unix();
                    let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
                    match store
                        .remember_nonce(&digest, now.saturating_add(ttl), now)
                        .await
                    {
                        Ok(true) => Remember::Fresh,
                        Ok(false) => Remember::Replay,
                        // Fail closed: a value that cannot be remembered is not accepted.
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot remember a one-time value");
                            Remember::Full
                        }
                    }
                }
                None => self.remember(owner, value),
            },
            Err(_) => Remember::Full,
        }
    }

    /// Remember `value` for `owner` in this node's memory.
    pub fn remember(&self, owner: &str, value: &str) -> Remember {
        self.remember_at(owner, value, Instant::now())
    }

    fn remember_at(&self, owner: &str, value: &str, now: Instant) -> Remember {
        let (owner, value) = digests(owner, value);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(expires, gone_owner, gone_value)) = seen.order.front() {
            if expires > now {
                break;
            }
            seen.order.pop_front();
            seen.values.remove(&gone_value);
            if let Some(count) = seen.per_owner.get_mut(&gone_owner) {
                *count -= 1;
                if *count == 0 {
                    seen.per_owner.remove(&gone_owner);
                }
            }
        }
        if seen.values.contains(&value) {
            return Remember::Replay;
        }
        let held = seen.per_owner.get(&owner).copied().unwrap_or(0);
        if held >= self.per_owner || seen.order.len() >= self.capacity {
            return Remember::Full;
        }
        seen.order.push_back((now + self.ttl, owner, value));
        seen.values.insert(value);
        *seen.per_owner.entry(owner).or_insert(0) += 1;
        Remember::Fresh
    }

    /// Values held (for tests).
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .order
            .len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_accepted_once_and_a_full_cache_refuses() {
        let cache = ReplayCache::new(2, 2, Duration::from_secs(60));
        assert_eq!(cache.remember("s", "a"), Remember::Fresh);
        assert_eq!(cache.remember("s", "a"), Remember::Replay);
        assert_eq!(cache.remember("s", "b"), Remember::Fresh);
        assert_eq!(cache.remember("t", "c"), Remember::Full);
    }

    #[test]
    fn one_owner_filling_its_share_does_not_block_another() {
        let cache = ReplayCache::new(100, 10, Duration::from_secs(60));
        for i in 0..10 {
            assert_eq!(cache.remember("greedy", &i.to_string()), Remember::Fresh);
        }
        assert_eq!(cache.remember("greedy", "one more"), Remember::Full);
        assert_eq!(cache.remember("honest", "n1"), Remember::Fresh);
        // The same value under another owner is another value.
        assert_eq!(cache.remember("honest", "0"), Remember::Fresh);
    }

    #[test]
    fn values_expire_in_order_and_free_their_owners_share() {
        let cache = ReplayCache::new(100, 3, Duration::from_secs(60));
        let start = Instant::now();
        for (i, value) in ["a", "b", "c"].iter().enumerate() {
            let at = start + Duration::from_secs(i as u64);
            assert_eq!(cache.remember_at("k", value, at), Remember::Fresh);
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(
            cache.remember_at("k", "d", later),
            Remember::Fresh,
            "a expired"
        );
        assert_eq!(
            cache.remember_at("k", "b", later),
            Remember::Replay,
            "b lives on"
        );
        assert_eq!(cache.remember_at("k", "e", later), Remember::Full);
        assert_eq!(cache.len(), 3);
        let much_later = start + Duration::from_secs(1000);
        assert_eq!(cache.remember_at("k", "a", much_later), Remember::Fresh);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_million_values_cost_no_scan() {
        // Expiry pops from the front: inserting far past capacity over time stays fast and
        // bounded (a scan per insert would take minutes here).
        let cache = ReplayCache::new(1000, 1000, Duration::from_millis(1));
        let start = Instant::now();
        for i in 0..1_000_000u64 {
            let at = start + Duration::from_micros(i);
            assert_eq!(cache.remember_at("k", &i.to_string(), at), Remember::Fresh);
        }
        assert!(cache.len() <= 1000);
    }
}
