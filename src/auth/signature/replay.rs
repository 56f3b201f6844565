//! Nonces seen within the signature window. Bounded: when full of live nonces, new signed
//! requests are refused (fail closed) rather than forgetting a nonce early, which would let
//! a replay through. Only requests with a valid signature reach it, so only authenticated
//! clients can fill it.

use crate::limits::Limiter;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The replay cache.
#[derive(Debug)]
pub struct ReplayCache {
    seen: Mutex<HashMap<String, Instant>>,
    capacity: usize,
    ttl: Duration,
}

/// Result of remembering a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remember {
    /// First time seen.
    Fresh,
    /// Seen before within the window.
    Replay,
    /// Cannot remember more right now.
    Full,
}

impl ReplayCache {
    /// Remember nonces for `ttl` (twice the signature window covers every accepted `created`).
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            capacity,
            ttl,
        }
    }

    /// Remember `key` on every node: through Redis when the limiter has it, so that a value
    /// captured on one node cannot be replayed on another; otherwise (or while Redis is down
    /// and fail-open) in this cache. Redis down with fail-closed answers [`Remember::Full`].
    pub async fn remember_shared(&self, limiter: &Limiter, key: String) -> Remember {
        match limiter.remember_once(&key, self.ttl).await {
            Ok(Some(true)) => Remember::Fresh,
            Ok(Some(false)) => Remember::Replay,
            Ok(None) => self.remember(key),
            Err(_) => Remember::Full,
        }
    }

    /// Remember `key` (`<keyid> <nonce>`).
    pub fn remember(&self, key: String) -> Remember {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = seen.get(&key)
            && at.elapsed() < self.ttl
        {
            return Remember::Replay;
        }
        if seen.len() >= self.capacity {
            let ttl = self.ttl;
            seen.retain(|_, at| at.elapsed() < ttl);
            if seen.len() >= self.capacity {
                return Remember::Full;
            }
        }
        seen.insert(key, Instant::now());
        Remember::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_and_a_full_cache_refuses() {
        let cache = ReplayCache::new(2, Duration::from_secs(60));
        assert_eq!(cache.remember("s a".into()), Remember::Fresh);
        assert_eq!(cache.remember("s a".into()), Remember::Replay);
        assert_eq!(cache.remember("s b".into()), Remember::Fresh);
        assert_eq!(cache.remember("s c".into()), Remember::Full);
    }
}
