//! The store's contract, told as one story per area and run against every engine: SQLite,
//! and PostgreSQL (a fresh database per story; `NOT RUN` without
//! `PORTCULLIS_TEST_POSTGRES_URL`, a failure under CI). Each story drives the store directly
//! through the area trait, as the managers above it do, and asserts what an engine must
//! keep: ids, owners, states, revisions, ordering, atomic replacement, one-time values.

use crate::postgres::TestDatabase;
use portcullis::store::Engine;
use portcullis::store::{
    self, AuditDraft, AuditFilter, KeyChange, KeyFilter, KeyLimits, KeyOrigin, KeyState, NewKey,
    NewSession, OwnerKind, SessionScope, Store, StoreError, StoredMessage,
};
use std::sync::Arc;

/// An engine to tell a story on: its name, the store, and the database it lives in (dropped
/// after the story).
type OnEngine = (&'static str, Arc<dyn Store>, Option<TestDatabase>);

/// Every engine to tell the stories on. Each gets a fresh database.
async fn engines(dir: &std::path::Path, story: &str) -> Vec<OnEngine> {
    let sqlite = format!("sqlite://{}", dir.join("story.db").display());
    let mut engines: Vec<OnEngine> = vec![("sqlite", store::connect(&sqlite).await.unwrap(), None)];
    if let Some(database) = TestDatabase::create(&format!("store story {story}")).await {
        let store = store::connect(&database.url).await.unwrap();
        assert_eq!(store.engine(), Engine::Postgres);
        engines.push(("postgres", store, Some(database)));
    }
    engines
}

fn new_key(id: &str, owner: &str, role: &str, at: i64) -> NewKey {
    NewKey {
        id: id.to_owned(),
        owner_name: owner.to_owned(),
        owner_kind: OwnerKind::User,
        role: role.to_owned(),
        label: Some(format!("label of {id}")),
        key_hash: [id.as_bytes()[0]; 32],
        source: KeyOrigin::Issued,
        metadata: serde_json::Map::new(),
        created_at: at,
        expires_at: None,
        limits: KeyLimits {
            rate_limit: None,
            quota: None,
        },
    }
}

async fn keys_story(name: &str, store: &dyn Store) {
    assert_eq!(store.count_keys().await.unwrap(), 0, "{name}");
    let (_, first_revision) = (0, store.key_changes_since(0).await.unwrap().0);
    let a = store
        .create_key(new_key("aaaaaaaaaaaa", "Ann", "admin", 100))
        .await
        .unwrap();
    let b = store
        .create_key(new_key("bbbbbbbbbbbb", "Ann", "user", 101))
        .await
        .unwrap();
    let c = store
        .create_key(new_key("cccccccccccc", "Bob", "user", 102))
        .await
        .unwrap();
    assert_eq!(store.count_keys().await.unwrap(), 3, "{name}");
    // One owner for Ann's two keys, created on first use.
    assert_eq!(a.owner.id, b.owner.id, "{name}");
    assert_ne!(a.owner.id, c.owner.id, "{name}");
    assert_eq!(a.key_hash, [b'a'; 32], "{name}");
    // Found by its hash (an imported key's only handle), and a hash belongs to one key.
    let by_hash = store.get_key_by_hash(&[b'c'; 32]).await.unwrap().unwrap();
    assert_eq!(by_hash.id, "cccccccccccc", "{name}");
    assert_eq!(by_hash.source, KeyOrigin::Issued, "{name}");
    assert!(
        store.get_key_by_hash(&[b'z'; 32]).await.unwrap().is_none(),
        "{name}"
    );
    let mut twin = new_key("tttttttttttt", "Ann", "user", 103);
    twin.key_hash = [b'a'; 32];
    twin.source = KeyOrigin::Imported;
    assert!(
        matches!(store.create_key(twin).await, Err(StoreError::Conflict(_))),
        "{name}: a second key with a known hash"
    );
    assert_eq!(store.count_keys().await.unwrap(), 3, "{name}");
    let read = store.get_key("bbbbbbbbbbbb").await.unwrap().unwrap();
    assert_eq!(
        read.label.as_deref(),
        Some("label of bbbbbbbbbbbb"),
        "{name}"
    );
    assert!(
        store.get_key("zzzzzzzzzzzz").await.unwrap().is_none(),
        "{name}"
    );
    // Listing: oldest first, filters, cursor.
    let all = store
        .list_keys(
            &KeyFilter {
                limit: 10,
                ..KeyFilter::default()
            },
            200,
        )
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"],
        "{name}"
    );
    let anns = store
        .list_keys(
            &KeyFilter {
                owner: Some("Ann".into()),
                limit: 10,
                ..KeyFilter::default()
            },
            200,
        )
        .await
        .unwrap();
    assert_eq!(anns.len(), 2, "{name}");
    let page = store
        .list_keys(
            &KeyFilter {
                after: Some(all[0].seq),
                limit: 1,
                ..KeyFilter::default()
            },
            200,
        )
        .await
        .unwrap();
    assert_eq!(page[0].id, "bbbbbbbbbbbb", "{name}");
    // Changes bump the revision and name the key.
    let disabled = store
        .update_key("cccccccccccc", KeyChange::SetEnabled(false))
        .await
        .unwrap()
        .unwrap();
    assert!(!disabled.enabled, "{name}");
    let (revision, changed) = store.key_changes_since(first_revision).await.unwrap();
    assert!(revision > first_revision, "{name}");
    assert!(changed.contains(&"cccccccccccc".to_owned()), "{name}");
    let states = |state| KeyFilter {
        state: Some(state),
        limit: 10,
        ..KeyFilter::default()
    };
    assert_eq!(
        store
            .list_keys(&states(KeyState::Disabled), 200)
            .await
            .unwrap()
            .len(),
        1,
        "{name}"
    );
    // Rotation: new key created and old one revoked in one step; a revoked key cannot rotate.
    let (old, new) = store
        .rotate_key(
            "bbbbbbbbbbbb",
            KeyChange::Revoke(300),
            new_key("dddddddddddd", "Ann", "user", 300),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.revoked_at, Some(300), "{name}");
    assert_eq!(old.replaced_by.as_deref(), Some("dddddddddddd"), "{name}");
    assert_eq!(new.owner.id, a.owner.id, "{name}");
    assert!(
        store
            .rotate_key(
                "bbbbbbbbbbbb",
                KeyChange::Revoke(301),
                new_key("eeeeeeeeeeee", "Ann", "user", 301)
            )
            .await
            .is_err(),
        "{name}: a revoked key rotated"
    );
    assert!(
        store.get_key("eeeeeeeeeeee").await.unwrap().is_none(),
        "{name}: half a rotation"
    );
    // Limits and usage.
    let limited = store
        .set_key_limits(
            "aaaaaaaaaaaa",
            &KeyLimits {
                rate_limit: Some("10/min".into()),
                quota: Some((5, "daily".into())),
            },
            400,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(limited.rate_limit.as_deref(), Some("10/min"), "{name}");
    assert_eq!(limited.quota.as_ref().map(|q| q.limit), Some(5), "{name}");
    store
        .record_key_use(&[("aaaaaaaaaaaa".into(), 500), ("aaaaaaaaaaaa".into(), 450)])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_key("aaaaaaaaaaaa")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(500),
        "{name}"
    );
    assert!(!store.has_imported_keys().await.unwrap(), "{name}");
    // A batch is one transaction: a known hash in it, and none of it is written.
    let mut fresh = new_key("uuuuuuuuuuuu", "Ann", "user", 104);
    fresh.source = KeyOrigin::Imported;
    let mut twin = new_key("vvvvvvvvvvvv", "Ann", "user", 104);
    twin.key_hash = [b'b'; 32];
    assert!(
        matches!(
            store.create_keys(vec![fresh, twin]).await,
            Err(StoreError::Conflict(_))
        ),
        "{name}: a batch with a known hash"
    );
    assert_eq!(store.count_keys().await.unwrap(), 4, "{name}");
    assert!(
        store.get_key("uuuuuuuuuuuu").await.unwrap().is_none(),
        "{name}"
    );
    let mut first = new_key("wwwwwwwwwwww", "Ann", "user", 105);
    first.source = KeyOrigin::Imported;
    let created = store.create_keys(vec![first]).await.unwrap();
    assert_eq!(created[0].source, KeyOrigin::Imported, "{name}");
    assert!(store.has_imported_keys().await.unwrap(), "{name}");
    assert_eq!(store.count_keys().await.unwrap(), 5, "{name}");
}

async fn sessions_story(name: &str, store: &dyn Store) {
    let key = store
        .create_key(new_key("ssssssssssss", "Sue", "user", 100))
        .await
        .unwrap();
    let session = |id: &str, at: i64| NewSession {
        id: id.to_owned(),
        salt: vec![7; 16],
        owner_id: key.owner.id.clone(),
        key_id: key.id.clone(),
        created_at: at,
        expires_at: at + 3600,
    };
    let (first, ended) = store
        .create_session(session("s1", 100), true)
        .await
        .unwrap();
    assert!(ended.is_empty(), "{name}");
    assert_eq!(first.owner_name, "Sue", "{name}");
    // Seed 001's one-session rule: the second login ends the first, in the same step.
    let (_, ended) = store
        .create_session(session("s2", 200), true)
        .await
        .unwrap();
    assert_eq!(ended, ["s1"], "{name}");
    let (_, ended) = store
        .create_session(session("s3", 300), false)
        .await
        .unwrap();
    assert!(ended.is_empty(), "{name}");
    let live = store.live_sessions_for_key(&key.id, 400).await.unwrap();
    let mut ids: Vec<_> = live.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["s2", "s3"], "{name}");
    let old = store.get_session("s1").await.unwrap().unwrap();
    assert!(old.ended_at.is_some(), "{name}");
    assert_eq!(
        store
            .end_sessions(&SessionScope::One("s2".into()), 500, "logout")
            .await
            .unwrap(),
        ["s2"],
        "{name}"
    );
    assert_eq!(
        store
            .end_sessions(&SessionScope::Owner(key.owner.id.clone()), 600, "admin")
            .await
            .unwrap(),
        ["s3"],
        "{name}"
    );
    assert!(
        store
            .live_sessions_for_key(&key.id, 700)
            .await
            .unwrap()
            .is_empty(),
        "{name}"
    );
    let listed = store.list_sessions(Some("Sue"), None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s3", "s2", "s1"],
        "{name}: newest first"
    );
    assert!(
        store
            .list_sessions(Some("Sue"), Some(700), 10)
            .await
            .unwrap()
            .is_empty(),
        "{name}"
    );
}

async fn audit_story(name: &str, store: &dyn Store) {
    let draft = |kind: &str, at_ms: i64| AuditDraft {
        at_ms,
        kind: kind.to_owned(),
        outcome: "success".to_owned(),
        route: None,
        message: format!("{kind} happened"),
        context: "api".to_owned(),
        owner_id: None,
        key_id: Some("aaaaaaaaaaaa".to_owned()),
        client: None,
        extra: serde_json::Map::new(),
    };
    // A stand-in for the audit key's HMAC: enough to see that each record is hashed from
    // the previous hash, its position and its content, inside the append.
    let hasher = |prev: &[u8; 32], seq: i64, event: &AuditDraft| {
        let mut hash = *prev;
        hash[0] = hash[0].wrapping_add(seq as u8);
        hash[1] = event.kind.len() as u8;
        hash
    };
    let first = store
        .append_audit(
            &[draft("key.create", 1_000), draft("login.success", 2_000)],
            &hasher,
        )
        .await
        .unwrap();
    let second = store
        .append_audit(&[draft("key.revoke", 3_000)], &hasher)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2],
        "{name}"
    );
    assert_eq!(second[0].seq, 3, "{name}");
    assert_eq!(first[0].prev_hash, [0; 32], "{name}");
    assert_eq!(first[1].prev_hash, first[0].hash, "{name}");
    assert_eq!(second[0].prev_hash, first[1].hash, "{name}");
    let all = store
        .audit_events(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all,
        [first.clone(), second.clone()].concat(),
        "{name}: read back as written"
    );
    let newest = store
        .audit_events(&AuditFilter {
            limit: 1,
            descending: true,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(newest[0].seq, 3, "{name}");
    let logins = store
        .audit_events(&AuditFilter {
            kind: Some("login.success".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(logins.len(), 1, "{name}");
    let window = store
        .audit_events(&AuditFilter {
            since_ms: Some(1_500),
            until_ms: Some(2_500),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(window[0].seq, 2, "{name}");
}

async fn messages_story(name: &str, store: &dyn Store) {
    let messages = store.messages();
    let message = |lookup: &str, burn: bool, expires_at: i64| StoredMessage {
        lookup: lookup.to_owned(),
        sealed: vec![1, 2, 3],
        burn,
        delete_hash: format!("delete-{lookup}"),
        created_at: 100,
        expires_at,
    };
    assert!(
        messages
            .put(&message("m1", false, 1_000), 2, 100)
            .await
            .unwrap(),
        "{name}"
    );
    assert!(
        messages
            .put(&message("m2", true, 1_000), 2, 100)
            .await
            .unwrap(),
        "{name}"
    );
    assert!(
        !messages
            .put(&message("m3", false, 1_000), 2, 100)
            .await
            .unwrap(),
        "{name}: over max_live"
    );
    assert!(
        messages
            .put(&message("m1", false, 1_000), 10, 100)
            .await
            .is_err(),
        "{name}: overwrite"
    );
    assert_eq!(
        messages.read("m1", 200).await.unwrap().unwrap().sealed,
        [1, 2, 3],
        "{name}"
    );
    assert!(messages.read("m2", 200).await.unwrap().is_some(), "{name}");
    assert!(
        messages.read("m2", 200).await.unwrap().is_none(),
        "{name}: burned"
    );
    assert_eq!(
        messages.delete_hash("m1", 200).await.unwrap().as_deref(),
        Some("delete-m1"),
        "{name}"
    );
    assert!(messages.delete("m1").await.unwrap(), "{name}");
    assert!(!messages.delete("m1").await.unwrap(), "{name}");
    assert!(
        messages
            .put(&message("m4", false, 300), 10, 200)
            .await
            .unwrap(),
        "{name}"
    );
    assert!(
        messages.read("m4", 300).await.unwrap().is_none(),
        "{name}: expired at its time"
    );
    assert_eq!(messages.purge_expired(400).await.unwrap(), 1, "{name}");
}

async fn nonces_story(name: &str, store: &dyn Store) {
    let a = [1u8; 16];
    let b = [2u8; 16];
    assert!(
        store.remember_nonce(&a, 200, 100).await.unwrap(),
        "{name}: new"
    );
    assert!(
        !store.remember_nonce(&a, 250, 150).await.unwrap(),
        "{name}: a replay"
    );
    assert!(
        store.remember_nonce(&b, 300, 150).await.unwrap(),
        "{name}: another value"
    );
    assert!(
        store.remember_nonce(&a, 400, 200).await.unwrap(),
        "{name}: an expired entry is taken again"
    );
    assert!(
        !store.remember_nonce(&a, 500, 399).await.unwrap(),
        "{name}: with its new expiry"
    );
    assert_eq!(
        store.purge_nonces(300).await.unwrap(),
        1,
        "{name}: b expired"
    );
    assert_eq!(store.purge_nonces(300).await.unwrap(), 0, "{name}");
    assert!(
        !store.remember_nonce(&a, 500, 300).await.unwrap(),
        "{name}: a kept"
    );
}

#[tokio::test]
async fn every_engine_keeps_the_store_contract() {
    for (name, story) in [
        ("keys", 0),
        ("sessions", 1),
        ("audit", 2),
        ("messages", 3),
        ("nonces", 4),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for (engine, store, _database) in engines(dir.path(), name).await {
            let told = format!("{engine}/{name}");
            match story {
                0 => keys_story(&told, &*store).await,
                1 => sessions_story(&told, &*store).await,
                2 => audit_story(&told, &*store).await,
                3 => messages_story(&told, &*store).await,
                _ => nonces_story(&told, &*store).await,
            }
        }
    }
}
