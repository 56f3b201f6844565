//! The session cache seen from outside: what a request on this node notices of sessions
//! opened or ended elsewhere, and when (the bounds `auth::session_cache` and the README state).

use super::*;

/// A seed 001 X-Token-Hash request of `key` signed with `token`, now.
async fn token_hash_request(
    fixture: &Fixture,
    key: &str,
    token: &str,
) -> Result<Principal, Denial> {
    let now = fixture.authn.sessions.now();
    let hash = crate::auth::signature::token_hash::compute(token, b"", now);
    let headers = headers(&[("x-token", key), ("x-token-hash", &hash)]);
    let (method, uri) = (Method::GET, Uri::from_static("/test"));
    fixture
        .authn
        .authenticate(&facts(&method, &uri, &headers), &mut Empty, "identity")
        .await
        .map(|admitted| admitted.principal)
        .map_err(|refused| refused.denial)
}

#[tokio::test]
async fn sessions_opened_or_ended_behind_the_caches_back_are_seen_as_the_readme_says() {
    let fixture = fixture().await;
    let key = key(&fixture, "user").await;
    let first = fixture
        .authn
        .login(Some(CLIENT), None, "alice", &key)
        .await
        .unwrap();
    let sessions = &fixture.authn.sessions;
    let bearer = |token: String| async move {
        sessions
            .authenticate(&token, AuthMethod::SessionBearer)
            .await
            .map(|p| p.session_id)
    };
    let first_token = first.token.expose().to_owned();
    // Both caches now hold the first session: by id, and in the key's list.
    assert!(bearer(first_token.clone()).await.is_ok());
    let admitted = token_hash_request(&fixture, &key, &first_token)
        .await
        .unwrap();
    assert_eq!(
        admitted.session_id.as_deref(),
        Some(first.record.id.as_str())
    );

    // Another node opens a session (straight into the store, where no cache here hears of
    // it): it works at once, because a cached list without a match is read again.
    let now = sessions.now();
    let (second, _) = fixture
        .store
        .create_session(
            crate::store::NewSession {
                id: "elsewhere0000001".into(),
                salt: vec![9; 32],
                owner_id: first.record.owner_id.clone(),
                key_id: first.record.key_id.clone(),
                created_at: now,
                expires_at: now + 3600,
            },
            false,
        )
        .await
        .unwrap();
    let second_token = sessions.token_for(&second).expose().to_owned();
    let admitted = token_hash_request(&fixture, &key, &second_token)
        .await
        .unwrap();
    assert_eq!(admitted.session_id.as_deref(), Some("elsewhere0000001"));
    assert!(bearer(second_token.clone()).await.is_ok());

    // Another node ends the first session: trusted here until the change feed's notice
    // (or `auth.refresh_interval`), then refused.
    fixture
        .store
        .end_sessions(
            &crate::store::SessionScope::One("elsewhere0000001".into()),
            now,
            "logout",
        )
        .await
        .unwrap();
    assert!(
        bearer(second_token.clone()).await.is_ok(),
        "cached until told"
    );
    fixture.authn.verifier.sessions_ended();
    assert!(matches!(
        bearer(second_token.clone()).await,
        Err(crate::auth::AuthError::Refused(Refusal::Expired))
    ));
    assert!(matches!(
        token_hash_request(&fixture, &key, &second_token).await,
        Err(Denial::Signature(SignatureError::Invalid))
    ));

    // Ended on this node: refused at once, by id and in the key's list.
    sessions
        .end(
            &crate::store::SessionScope::One(first.record.id.clone()),
            "logout",
        )
        .await
        .unwrap();
    assert!(matches!(
        bearer(first_token.clone()).await,
        Err(crate::auth::AuthError::Refused(Refusal::Expired))
    ));
    assert!(matches!(
        token_hash_request(&fixture, &key, &first_token).await,
        Err(Denial::Signature(SignatureError::SessionEnded))
    ));
}
