//! Session records read from the store, kept for a short while so that a signed request
//! (RFC 9421 by session id, X-Token-Hash by key) does not cost a store query: measured, that
//! query was most of a signed request's CPU (README, Performance).
//!
//! What may go stale, and for how long:
//! - a session ended on this node (logout, a newer login, an admin) is forgotten at once;
//! - any key change this node hears of (its own, the store's revision poll, PostgreSQL's
//!   change feed) drops every cached session, through the key verifier's generation — and a
//!   revoked, disabled or expired key is refused on the next request anyway, because each
//!   request still checks the session's key;
//! - a session ended on another node is trusted here for at most `auth.refresh_interval`
//!   (1 s), the same bound as a key changed elsewhere without the change feed;
//! - a session opened on another node is found at once: a miss reads the store.
//!
//! Expiry is judged on every request from the record itself, never from the cache's age.

use super::cache::TtlCache;
use crate::secret::SecretString;
use crate::store::SessionRecord;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A session and the token derived from it (the HMAC key of its signed requests).
pub type Keyed = (SessionRecord, SecretString);

/// Cached sessions, by id and by the key they were opened with. Each entry carries the
/// generation (see [`SessionCache::generation`]) at which it was read; an entry from an older
/// generation is not used, so a read that raced with a change is never trusted after it.
pub struct SessionCache {
    by_id: TtlCache<(u64, Arc<SessionRecord>)>,
    by_key: TtlCache<(u64, Arc<[Keyed]>)>,
    /// Counts logins and ends on this node.
    changes: AtomicU64,
}

impl SessionCache {
    /// At most `capacity` sessions and as many key lists, each trusted for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            by_id: TtlCache::new(capacity, ttl),
            by_key: TtlCache::new(capacity, ttl),
            changes: AtomicU64::new(0),
        }
    }

    /// The generation to read at, from the key verifier's (which counts key changes): it
    /// moves whenever a key or a session changes, so take it before reading the store.
    pub fn generation(&self, keys: u64) -> u64 {
        keys.wrapping_add(self.changes.load(Ordering::SeqCst))
    }

    /// The session `id`, if read at `generation`.
    pub fn session(&self, id: &str, generation: u64) -> Option<Arc<SessionRecord>> {
        self.by_id
            .get(id)
            .and_then(|(g, record)| (g == generation).then_some(record))
    }

    /// Remember the session `record`, read at `generation`.
    pub fn put_session(&self, record: Arc<SessionRecord>, generation: u64) {
        self.by_id.insert(record.id.clone(), (generation, record));
    }

    /// The live sessions of `key_id` with their tokens, if read at `generation`.
    pub fn for_key(&self, key_id: &str, generation: u64) -> Option<Arc<[Keyed]>> {
        self.by_key
            .get(key_id)
            .and_then(|(g, list)| (g == generation).then_some(list))
    }

    /// Remember the live sessions of `key_id`, read at `generation`.
    pub fn put_for_key(&self, key_id: &str, sessions: Arc<[Keyed]>, generation: u64) {
        self.by_key
            .insert(key_id.to_owned(), (generation, sessions));
    }

    /// A login opened a session (perhaps ending older ones), or sessions ended, on this node:
    /// the generation moves, so nothing cached before is used again. Per-entry removal
    /// would say no more: the ids alone do not say which keys' lists held them.
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}
