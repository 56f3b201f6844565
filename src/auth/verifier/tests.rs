//! The verifier: caching, revocation, bounded look-ups.

//! The caching promises, checked against the real SQLite store wrapped in a decorator that
//! counts look-ups.
use super::*;
use crate::auth::keys::{ChangedBy, CreateKey, KeyManager};
use crate::clock::ManualClock;
use crate::store::{
    AuditDraft, AuditFilter, AuditRecord, AuditStore, ChainHasher, KeyChange, KeyFilter, KeyStore,
    NewKey, NewSession, OwnerKind, SessionRecord, SessionScope, SessionStore, SqliteStore,
};
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting {
    inner: SqliteStore,
    lookups: AtomicUsize,
    /// Look-ups running now, and the most seen at once.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Each look-up waits for a permit here before it reads (a slow database).
    gate: tokio::sync::Semaphore,
}

#[async_trait]
impl Store for Counting {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    fn messages(&self) -> std::sync::Arc<dyn crate::store::MessageStore> {
        self.inner.messages()
    }

    fn campaigns(&self) -> std::sync::Arc<dyn crate::store::campaigns::CampaignStore> {
        self.inner.campaigns()
    }
}

#[async_trait]
impl crate::store::NonceStore for Counting {
    async fn remember_nonce(&self, d: &[u8; 16], e: i64, n: i64) -> Result<bool, StoreError> {
        self.inner.remember_nonce(d, e, n).await
    }

    async fn purge_nonces(&self, now: i64) -> Result<u64, StoreError> {
        self.inner.purge_nonces(now).await
    }
}

#[async_trait]
impl KeyStore for Counting {
    async fn count_keys(&self) -> Result<i64, StoreError> {
        self.inner.count_keys().await
    }

    async fn create_key(&self, new: NewKey) -> Result<KeyRecord, StoreError> {
        self.inner.create_key(new).await
    }

    async fn create_first_key(&self, new: NewKey) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.create_first_key(new).await
    }

    async fn create_keys(&self, keys: Vec<NewKey>) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.create_keys(keys).await
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let permit = self.gate.acquire().await;
        let found = self.inner.get_key(id).await;
        drop(permit);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        found
    }

    async fn has_imported_keys(&self) -> Result<bool, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.has_imported_keys().await
    }

    async fn get_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.get_key_by_hash(hash).await
    }

    async fn list_keys(&self, f: &KeyFilter, now: i64) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list_keys(f, now).await
    }

    async fn update_key(&self, id: &str, c: KeyChange) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.update_key(id, c).await
    }

    async fn rotate_key(
        &self,
        id: &str,
        c: KeyChange,
        n: NewKey,
    ) -> Result<Option<(KeyRecord, KeyRecord)>, StoreError> {
        self.inner.rotate_key(id, c, n).await
    }

    async fn record_key_use(&self, uses: &[(String, i64)]) -> Result<(), StoreError> {
        self.inner.record_key_use(uses).await
    }

    async fn set_key_limits(
        &self,
        id: &str,
        l: &crate::store::KeyLimits,
        at: i64,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.set_key_limits(id, l, at).await
    }

    async fn record_quota_use(&self, u: &[(String, i64, i64, i64)]) -> Result<(), StoreError> {
        self.inner.record_quota_use(u).await
    }

    async fn key_changes_since(&self, r: i64) -> Result<(i64, Vec<String>), StoreError> {
        self.inner.key_changes_since(r).await
    }
}

#[async_trait]
impl SessionStore for Counting {
    async fn create_session(
        &self,
        n: NewSession,
        e: bool,
    ) -> Result<(SessionRecord, Vec<String>), StoreError> {
        self.inner.create_session(n, e).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.get_session(id).await
    }

    async fn live_sessions_for_key(
        &self,
        k: &str,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.live_sessions_for_key(k, now).await
    }

    async fn end_sessions(
        &self,
        s: &SessionScope,
        at: i64,
        r: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.end_sessions(s, at, r).await
    }

    async fn list_sessions(
        &self,
        o: Option<&str>,
        l: Option<i64>,
        n: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_sessions(o, l, n).await
    }
}

#[async_trait]
impl AuditStore for Counting {
    async fn append_audit(
        &self,
        e: &[AuditDraft],
        h: ChainHasher<'_>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.append_audit(e, h).await
    }

    async fn audit_events(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit_events(f).await
    }
}

async fn setup() -> (
    tempfile::TempDir,
    Arc<Counting>,
    Arc<KeyVerifier>,
    KeyManager,
) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Arc::new(Counting {
        inner: SqliteStore::open(&url).await.unwrap(),
        lookups: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
        gate: tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS),
    });
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
    let dyn_store: Arc<dyn Store> = store.clone();
    let verifier = Arc::new(KeyVerifier::new(
        dyn_store.clone(),
        clock.clone(),
        EnvKeys::none(),
        &AuthSettings::default(),
    ));
    let keys = KeyManager::new(dyn_store, clock, Some(verifier.clone()));
    (dir, store, verifier, keys)
}

fn request(role: &str) -> CreateKey {
    CreateKey {
        owner: "o".into(),
        owner_kind: OwnerKind::User,
        role: role.into(),
        label: None,
        expires_in: None,
        metadata: None,
        rate: None,
        quota: None,
    }
}

#[tokio::test]
async fn a_valid_key_is_read_from_the_store_once_then_from_memory() {
    let (_dir, store, verifier, keys) = setup().await;
    let issued = keys
        .create(request("user"), ChangedBy::Unrecorded)
        .await
        .unwrap();
    for _ in 0..100 {
        verifier.verify(issued.token.expose()).await.unwrap();
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_repeated_unknown_key_costs_one_lookup_and_garbage_costs_none() {
    let (_dir, store, verifier, _keys) = setup().await;
    let ghost = key_format::generate().unwrap();
    for _ in 0..100 {
        let err = verifier.verify(ghost.token.expose()).await.unwrap_err();
        assert!(matches!(err, AuthError::Refused(Refusal::Unknown)));
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
    // Shorter than an importable key: refused unread. (32 characters and more could be an
    // imported key: see the next test.)
    for garbage in ["pcl_short", "0123456789abcdef0123456789abcde", "x"] {
        assert!(verifier.verify(garbage).await.is_err());
    }
    let mut typo = ghost.token.expose().to_owned();
    typo.pop();
    typo.push('!');
    assert!(verifier.verify(&typo).await.is_err());
    assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
}

fn import(legacy: &str) -> (usize, crate::auth::keys::ImportKey) {
    (
        1,
        crate::auth::keys::ImportKey {
            hash: hex::encode(key_format::hash(legacy)),
            owner: "legacy owner".into(),
            owner_kind: OwnerKind::App,
            role: "user".into(),
            label: None,
            expires_at: None,
            metadata: None,
        },
    )
}

#[tokio::test]
async fn an_imported_key_is_found_by_its_hash_once_and_follows_every_change() {
    let (_dir, store, verifier, keys) = setup().await;
    let legacy = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let unknown = "an-unknown-legacy-key-of-forty-characters";
    for _ in 0..10 {
        assert!(matches!(
            verifier.verify(unknown).await,
            Err(AuthError::Refused(Refusal::Unknown))
        ));
    }
    // While the store holds no imported key, the first unknown string asks whether it holds
    // any, and the others ask nothing.
    assert_eq!(
        store.lookups.load(Ordering::SeqCst),
        1,
        "no imported keys: remembered"
    );
    let record = keys
        .import(vec![import(legacy)], ChangedBy::Unrecorded)
        .await
        .unwrap()
        .remove(0);
    for _ in 0..100 {
        let principal = verifier.verify(legacy).await.unwrap();
        assert_eq!(principal.key_id, record.id);
        assert_eq!(principal.owner, "legacy owner");
    }
    // That one, the import's own check for a known hash, then (the import changed a key)
    // whether imported keys exist and the look-up by hash: the other 99 come from memory.
    assert_eq!(store.lookups.load(Ordering::SeqCst), 4);
    // A key imported after its hash was remembered as unknown is found at once.
    keys.import(vec![import(unknown)], ChangedBy::Unrecorded)
        .await
        .unwrap();
    assert!(verifier.verify(unknown).await.is_ok());
    // Revocation reaches the imported key through the id's cache entry.
    keys.revoke(&record.id, ChangedBy::Unrecorded)
        .await
        .unwrap();
    assert!(matches!(
        verifier.verify(legacy).await,
        Err(AuthError::Refused(Refusal::Revoked))
    ));
    // Importing a known hash again is refused, and nothing is written.
    let err = keys
        .import(vec![import(legacy)], ChangedBy::Unrecorded)
        .await
        .unwrap_err();
    assert!(matches!(err, crate::auth::KeyError::Exists(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_max_concurrent_lookups_reach_a_slow_store_at_once() {
    let (_dir, store, verifier, _keys) = setup().await;
    // The database stops answering: every look-up waits at the gate.
    let open = store
        .gate
        .forget_permits(tokio::sync::Semaphore::MAX_PERMITS);
    assert_eq!(open, tokio::sync::Semaphore::MAX_PERMITS);
    let limit = AuthSettings::default().max_concurrent_lookups;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let verifier = Arc::clone(&verifier);
        let ghost = key_format::generate().unwrap();
        tasks.push(tokio::spawn(async move {
            verifier.verify(ghost.token.expose()).await
        }));
    }
    // Wait until the look-ups that may run are all waiting on the store...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.in_flight.load(Ordering::SeqCst) < limit {
        assert!(
            std::time::Instant::now() < deadline,
            "look-ups never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // ...and give the other 28 every chance to pile in too.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(store.in_flight.load(Ordering::SeqCst), limit);
    store.gate.add_permits(1000);
    for task in tasks {
        assert!(matches!(
            task.await.unwrap(),
            Err(AuthError::Refused(Refusal::Unknown))
        ));
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 32);
    assert_eq!(store.most_in_flight.load(Ordering::SeqCst), limit);
}

#[tokio::test]
async fn revocation_through_the_manager_takes_effect_at_once_despite_the_cache() {
    let (_dir, _store, verifier, keys) = setup().await;
    let issued = keys
        .create(request("admin"), ChangedBy::Unrecorded)
        .await
        .unwrap();
    verifier.verify(issued.token.expose()).await.unwrap();
    keys.revoke(&issued.record.id, ChangedBy::Unrecorded)
        .await
        .unwrap();
    let err = verifier.verify(issued.token.expose()).await.unwrap_err();
    assert!(matches!(err, AuthError::Refused(Refusal::Revoked)));
}

#[tokio::test]
async fn a_change_made_by_another_process_is_found_by_refresh() {
    let (_dir, store, verifier, keys) = setup().await;
    let issued = keys
        .create(request("user"), ChangedBy::Unrecorded)
        .await
        .unwrap();
    let revision = verifier.refresh(i64::MAX).await.unwrap();
    verifier.verify(issued.token.expose()).await.unwrap();
    // Revoke behind the verifier's back, as the CLI or another node would.
    store
        .inner
        .update_key(&issued.record.id, KeyChange::Revoke(0))
        .await
        .unwrap();
    assert!(
        verifier.verify(issued.token.expose()).await.is_ok(),
        "still cached"
    );
    verifier.refresh(revision).await.unwrap();
    assert!(verifier.verify(issued.token.expose()).await.is_err());
}
