//! Key verification, kept off the database on the hot path.
//!
//! * A presented key is classified by format and checksum first: garbage costs a few
//!   nanoseconds and no lookup.
//! * Verified keys are cached by public id (the record, including its hash); a hit costs one
//!   SHA-256 and one constant-time comparison. Expiry, revocation and the enabled flag are
//!   re-checked against the clock on every request, so a cached key expires on time.
//! * Unknown ids are remembered for `negative_cache_ttl`, and at most
//!   `max_concurrent_lookups` store queries for uncached ids run at once, so a flood of
//!   random well-formed keys cannot become a flood of queries.
//! * Changes on this node invalidate the cache at once; changes made elsewhere (the CLI,
//!   another node) are found by polling the store's change revision every `refresh_interval`.

use super::cache::TtlCache;
use super::env_keys::EnvKeys;
use super::key_format::{self, KeyFormatError, ParsedKey};
use super::policy::Role;
use super::principal::{AuthMethod, KeySource, Principal};
use crate::clock::Clock;
use crate::config::AuthSettings;
use crate::store::{KeyRecord, KeyState, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Why a key was refused. For logs and audit only: every refusal gets the same 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credential in the request.
    Missing,
    /// Not a usable key string.
    Malformed,
    /// Our format, but the checksum is wrong.
    BadChecksum,
    /// No such key.
    Unknown,
    /// The id exists but the secret does not match.
    WrongSecret,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
    /// Disabled by an admin.
    Disabled,
}

impl Refusal {
    /// Stable name for log fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::BadChecksum => "bad_checksum",
            Refusal::Unknown => "unknown_key",
            Refusal::WrongSecret => "wrong_secret",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
            Refusal::Disabled => "disabled",
        }
    }
}

/// Authentication failed, or could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credential was refused.
    #[error("authentication refused: {}", .0.as_str())]
    Refused(Refusal),
    /// The store could not be asked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<KeyFormatError> for AuthError {
    fn from(err: KeyFormatError) -> Self {
        AuthError::Refused(match err {
            KeyFormatError::BadChecksum => Refusal::BadChecksum,
            KeyFormatError::Malformed | KeyFormatError::Unusable => Refusal::Malformed,
        })
    }
}

/// A presented key whose secret matched: an environment key (always usable), or a stored
/// record whose state is still to be checked.
#[derive(Debug)]
pub enum Identified {
    /// One of the keys given in environment variables.
    Environment(Principal),
    /// A stored key.
    Stored(Arc<KeyRecord>),
}

/// The store's imported keys have not been asked about since the last change.
const IMPORTS_UNKNOWN: u8 = 0;
/// The store holds no imported key.
const IMPORTS_NONE: u8 = 1;
/// The store holds imported keys.
const IMPORTS_SOME: u8 = 2;

/// Verifies presented keys; shared by every request on this node.
pub struct KeyVerifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    env: EnvKeys,
    known: TtlCache<Arc<KeyRecord>>,
    unknown: TtlCache<()>,
    /// Imported keys: the id each hash (hex) belongs to.
    hash_ids: TtlCache<String>,
    /// Hashes (hex) that matched no imported key.
    unknown_hashes: TtlCache<()>,
    /// Whether the store holds imported keys: [`IMPORTS_UNKNOWN`], [`IMPORTS_NONE`] or
    /// [`IMPORTS_SOME`]. Until there is one, a string that is not ours costs no look-up; any
    /// key change anywhere makes it unknown again (it may have been an import).
    lookups: Semaphore,
    imports: std::sync::atomic::AtomicU8,
    last_used: Mutex<HashMap<String, i64>>,
    quota_used: Mutex<HashMap<String, (i64, i64, i64)>>,
    /// Bumped by every invalidation: a look-up that raced with one must not cache its result.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for KeyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVerifier")
            .field("cached", &self.known.len())
            .finish_non_exhaustive()
    }
}

impl KeyVerifier {
    /// A verifier over `store`, accepting also the given environment keys.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        env: EnvKeys,
        settings: &AuthSettings,
    ) -> Self {
        Self {
            store,
            clock,
            env,
            known: TtlCache::new(settings.cache_capacity, settings.cache_ttl),
            unknown: TtlCache::new(settings.cache_capacity, settings.negative_cache_ttl),
            hash_ids: TtlCache::new(settings.cache_capacity, settings.cache_ttl),
            unknown_hashes: TtlCache::new(settings.cache_capacity, settings.negative_cache_ttl),
            imports: std::sync::atomic::AtomicU8::new(IMPORTS_UNKNOWN),
            lookups: Semaphore::new(settings.max_concurrent_lookups),
            last_used: Mutex::new(HashMap::new()),
            quota_used: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Authenticate a presented key string.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        match self.identify(token).await? {
            Identified::Environment(principal) => Ok(principal),
            Identified::Stored(record) => self.admit(&record),
        }
    }

    /// Whose key this is, without asking whether it may be used now: the format and
    /// checksum, then the environment keys, then the stored record, whose hash must match
    /// in constant time. [`KeyVerifier::admit`] then checks its state; the two are apart so
    /// that a verification on behalf of another service can say whose revoked key it saw.
    pub async fn identify(&self, token: &str) -> Result<Identified, AuthError> {
        let parsed = key_format::parse(token)?;
        let hash = key_format::hash(token);
        if let Some(env) = self.env.find(&hash) {
            return Ok(Identified::Environment(Principal {
                key_id: env.variable.to_owned(),
                owner_id: env.variable.to_owned(),
                owner: env.variable.to_owned(),
                role: env.role,
                expires_at: None,
                source: KeySource::Environment,
                session_id: None,
                method: AuthMethod::ApiKey,
                rate_limit: None,
                quota: None,
            }));
        }
        let record = match parsed {
            ParsedKey::Issued { id } => self.record(id).await?,
            // Not ours: an imported key, found by its hash (our keys never come this way, so
            // their checksum still refuses a mistyped one before any look-up).
            ParsedKey::Legacy if token.len() >= key_format::MIN_IMPORTED_LEN => {
                self.imported(&hash).await?
            }
            ParsedKey::Legacy => return Err(AuthError::Refused(Refusal::Unknown)),
        };
        if !bool::from(record.key_hash.ct_eq(&hash)) {
            return Err(AuthError::Refused(Refusal::WrongSecret));
        }
        Ok(Identified::Stored(record))
    }

    /// The imported key whose hash is `hash`. Which id a hash belongs to never changes, so
    /// that is cached like a record (never invalidated by a change); the record itself then
    /// comes through [`KeyVerifier::record`] and its cache, which every change invalidates.
    /// A hash that matched nothing is remembered for `negative_cache_ttl`, forgotten when
    /// any key changes (an import may have added it), and looked up under the same bound on
    /// concurrent queries as an unknown id.
    async fn imported(&self, hash: &[u8; 32]) -> Result<Arc<KeyRecord>, AuthError> {
        let name = hex::encode(hash);
        if let Some(id) = self.hash_ids.get(&name) {
            return self.record(&id).await;
        }
        if self.unknown_hashes.get(&name).is_some() {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        let _permit = self
            .lookups
            .acquire()
            .await
            .map_err(|_| AuthError::Refused(Refusal::Unknown))?;
        // Another request may have asked the store while this one waited.
        if let Some(id) = self.hash_ids.get(&name) {
            return self.record(&id).await;
        }
        if self.unknown_hashes.get(&name).is_some() {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        if !self.any_imported(generation).await? {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        // Only an imported key is found this way: one of ours has its id in its string.
        let found = self
            .store
            .get_key_by_hash(hash)
            .await?
            .filter(|record| record.source == crate::store::KeyOrigin::Imported);
        let cache = self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation;
        match found {
            Some(record) => {
                self.hash_ids.insert(name, record.id.clone());
                let record = Arc::new(record);
                if cache {
                    self.known.insert(record.id.clone(), Arc::clone(&record));
                }
                Ok(record)
            }
            None => {
                if cache {
                    self.unknown_hashes.insert(name, ());
                }
                Err(AuthError::Refused(Refusal::Unknown))
            }
        }
    }

    /// The principal of a stored key known by id, if the key is usable now. For sessions,
    /// which prove possession of the key at login and must stop when the key does.
    pub async fn principal_for_key(&self, id: &str) -> Result<Principal, AuthError> {
        let record = self.record(id).await?;
        self.admit(&record)
    }

    /// The principal of an identified stored key, if its state lets it be used now (and the
    /// use is noted for its last-used time).
    pub fn admit(&self, record: &KeyRecord) -> Result<Principal, AuthError> {
        let now = self.clock.unix();
        match record.state(now) {
            KeyState::Active => {}
            KeyState::Revoked => return Err(AuthError::Refused(Refusal::Revoked)),
            KeyState::Expired => return Err(AuthError::Refused(Refusal::Expired)),
            KeyState::Disabled => return Err(AuthError::Refused(Refusal::Disabled)),
        }
        let principal = Self::principal_of(record)?;
        {
            let mut last_used = self.lock_last_used();
            match last_used.get_mut(&record.id) {
                Some(at) => *at = now,
                None => {
                    last_used.insert(record.id.clone(), now);
                }
            }
        }
        Ok(principal)
    }

    /// Who a stored key speaks for, whatever its state.
    pub fn principal_of(record: &KeyRecord) -> Result<Principal, StoreError> {
        let role = Role::parse(&record.role)
            .ok_or_else(|| StoreError::Corrupt(format!("key {} has unknown role", record.id)))?;
        Ok(Principal {
            key_id: record.id.clone(),
            owner_id: record.owner.id.clone(),
            owner: record.owner.name.clone(),
            role,
            expires_at: record.expires_at,
            source: KeySource::Store,
            session_id: None,
            method: AuthMethod::ApiKey,
            rate_limit: record.rate_limit.clone(),
            quota: record.quota.clone(),
        })
    }

    async fn record(&self, id: &str) -> Result<Arc<KeyRecord>, AuthError> {
        if let Some(record) = self.known.get(id) {
            return Ok(record);
        }
        if self.unknown.get(id).is_some() {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        // The semaphore is never closed, so acquiring only fails if it were; treat as busy.
        let _permit = self
            .lookups
            .acquire()
            .await
            .map_err(|_| AuthError::Refused(Refusal::Unknown))?;
        // Another request may have filled the cache while this one waited.
        if let Some(record) = self.known.get(id) {
            return Ok(record);
        }
        if self.unknown.get(id).is_some() {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let found = self.store.get_key(id).await?;
        // If a key changed while we read, what we read may be stale: use it for this request
        // only (it was current when read) and let the next one read again.
        let cache = self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation;
        match found {
            Some(record) => {
                let record = Arc::new(record);
                if cache {
                    self.known.insert(id.to_owned(), Arc::clone(&record));
                }
                Ok(record)
            }
            None => {
                if cache {
                    self.unknown.insert(id.to_owned(), ());
                }
                Err(AuthError::Refused(Refusal::Unknown))
            }
        }
    }

    /// Whether the store holds any imported key, asked once after each key change.
    async fn any_imported(&self, generation: u64) -> Result<bool, AuthError> {
        use std::sync::atomic::Ordering::SeqCst;
        match self.imports.load(SeqCst) {
            IMPORTS_NONE => return Ok(false),
            IMPORTS_SOME => return Ok(true),
            _ => {}
        }
        let some = self.store.has_imported_keys().await?;
        // Remembered only if no key changed meanwhile: checked after the write too, so a
        // change that lands between the check and the write cannot leave a stale answer.
        let state = if some { IMPORTS_SOME } else { IMPORTS_NONE };
        if self
            .imports
            .compare_exchange(IMPORTS_UNKNOWN, state, SeqCst, SeqCst)
            .is_ok()
            && self.generation.load(SeqCst) != generation
        {
            self.imports.store(IMPORTS_UNKNOWN, SeqCst);
        }
        Ok(some)
    }

    /// Whether `hash` is one of the environment keys' (which are checked first, so a stored
    /// key with that hash could never be told apart from it).
    pub fn is_environment_hash(&self, hash: &[u8; 32]) -> bool {
        self.env.find(hash).is_some()
    }

    /// Forget what is cached about `id`, so the next request reads the store.
    pub fn invalidate(&self, id: &str) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.known.remove(id);
        self.unknown.remove(id);
        // The changed key may be a new import of a hash remembered as unknown.
        self.imports
            .store(IMPORTS_UNKNOWN, std::sync::atomic::Ordering::SeqCst);
        self.unknown_hashes.clear();
    }

    /// Sessions ended on another node: move the generation, so every session read before
    /// (`SessionCache`) is read again. Cached keys stay.
    pub fn sessions_ended(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Counts every invalidation: whatever was read from the store at an older generation
    /// (a key, a session of `SessionCache`) may be stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forget every cached key (and every remembered unknown id): after a gap in the key
    /// change feed, any of them may be stale.
    pub fn invalidate_all(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.known.clear();
        self.unknown.clear();
        self.hash_ids.clear();
        self.imports
            .store(IMPORTS_UNKNOWN, std::sync::atomic::Ordering::SeqCst);
        self.unknown_hashes.clear();
    }

    fn lock_last_used(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.last_used
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Last use of `id` seen on this node and not yet written to the store.
    pub fn pending_last_used(&self, id: &str) -> Option<i64> {
        self.lock_last_used().get(id).copied()
    }

    /// Remember quota use seen on this node: `(quota set_at, period start, used)`.
    pub fn note_quota_use(&self, id: &str, set_at: i64, period_start: i64, used: i64) {
        let mut pending = self.quota_used.lock().unwrap_or_else(|p| p.into_inner());
        pending.insert(id.to_owned(), (set_at, period_start, used));
    }

    /// Quota use seen on this node and not yet written.
    pub fn pending_quota(&self, id: &str) -> Option<(i64, i64, i64)> {
        self.quota_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied()
    }

    /// Write pending last-used times and quota use to the store.
    ///
    /// Entries are copied, written, and only then forgotten (if unchanged meanwhile), so a
    /// reader never sees a use that is neither pending nor stored.
    pub async fn flush_last_used(&self) -> Result<(), StoreError> {
        let batch: Vec<(String, i64)> = self
            .lock_last_used()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.store.record_key_use(&batch).await?;
        {
            let mut pending = self.lock_last_used();
            for (id, at) in &batch {
                if pending.get(id) == Some(at) {
                    pending.remove(id);
                }
            }
        }
        let quotas: Vec<(String, (i64, i64, i64))> = self
            .quota_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let rows: Vec<(String, i64, i64, i64)> = quotas
            .iter()
            .map(|(id, (a, b, c))| (id.clone(), *a, *b, *c))
            .collect();
        self.store.record_quota_use(&rows).await?;
        let mut pending = self.quota_used.lock().unwrap_or_else(|p| p.into_inner());
        for (id, value) in &quotas {
            if pending.get(id) == Some(value) {
                pending.remove(id);
            }
        }
        Ok(())
    }

    /// Invalidate keys changed after `revision` by any process; returns the new revision.
    pub async fn refresh(&self, revision: i64) -> Result<i64, StoreError> {
        let (current, changed) = self.store.key_changes_since(revision).await?;
        for id in &changed {
            self.invalidate(id);
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests;
