//! A key's life: use, expiry, rotation, disabling, revocation — each effective on the very
//! next request — and the plaintext never reaching the database.

use crate::engines::{Engine, spawn_on};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

async fn a_revoked_key_is_refused_on_the_very_next_request(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_revoked_key_is_refused_on_the_very_next_request",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app.key_with_role("user").await;
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);

    let response = app
        .post(
            &format!("/api/keys/{}/revoke", key.id),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "revoked");
    assert!(body["revoked_at"].is_string());

    assert_401(app.whoami(Some(&key.key)).await).await;
    // Revoking again changes nothing and is not an error.
    let again: Value = app
        .post(
            &format!("/api/keys/{}/revoke", key.id),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["revoked_at"], body["revoked_at"]);
}

async fn a_key_stops_working_when_it_expires(engine: Engine) {
    let Some(app) = spawn_on(engine, "a_key_stops_working_when_it_expires", |_| {}).await else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "o", "role": "user", "expires_in": "2h"}))
        .await;
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
    app.clock.advance(HOUR);
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
    app.clock.advance(HOUR);
    assert_401(app.whoami(Some(&key.key)).await).await;
    let shown: Value = app
        .get(&format!("/api/keys/{}", key.id), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["state"], "expired");
    let expired: Value = app
        .get("/api/keys?state=expired", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expired["keys"][0]["id"], key.id);
}

async fn rotation_without_grace_revokes_the_old_key_at_once(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "rotation_without_grace_revokes_the_old_key_at_once",
        |_| {},
    )
    .await
    else {
        return;
    };
    let old = app.create_key(json!({"owner": "App 1", "role": "device", "label": "phone", "metadata": {"model": "x"}})).await;
    let response = app
        .post(
            &format!("/api/keys/{}/rotate", old.id),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let new_key = body["key"].as_str().unwrap();
    assert_ne!(new_key, old.key);
    assert_eq!(body["owner"], "App 1");
    assert_eq!(body["role"], "device");
    assert_eq!(body["label"], "phone");
    assert_eq!(body["metadata"], json!({"model": "x"}));
    assert_eq!(body["previous"]["id"], old.id);
    assert_eq!(body["previous"]["state"], "revoked");
    assert_eq!(body["previous"]["replaced_by"], body["id"]);

    assert_401(app.whoami(Some(&old.key)).await).await;
    let who: Value = app.whoami(Some(new_key)).await.json().await.unwrap();
    assert_eq!(who["role"], "device");
    assert_eq!(who["owner"], "App 1");
}

async fn rotation_with_grace_keeps_the_old_key_working_until_the_grace_ends(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "rotation_with_grace_keeps_the_old_key_working_until_the_grace_ends",
        |_| {},
    )
    .await
    else {
        return;
    };
    let old = app.key_with_role("user").await;
    let body: Value = app
        .post_json(
            &format!("/api/keys/{}/rotate", old.id),
            Some(&app.admin_key),
            &json!({"grace": "1h"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let new_key = body["key"].as_str().unwrap().to_owned();
    assert_eq!(body["previous"]["state"], "active");
    assert_eq!(app.whoami(Some(&old.key)).await.status(), StatusCode::OK);
    app.clock.advance(HOUR + Duration::from_secs(1));
    assert_401(app.whoami(Some(&old.key)).await).await;
    assert_eq!(app.whoami(Some(&new_key)).await.status(), StatusCode::OK);
}

async fn a_revoked_key_cannot_be_rotated_and_bad_grace_is_refused(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_revoked_key_cannot_be_rotated_and_bad_grace_is_refused",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app.key_with_role("user").await;
    let response = app
        .post_json(
            &format!("/api/keys/{}/rotate", key.id),
            Some(&app.admin_key),
            &json!({"grace": "forever"}),
        )
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "grace must be a duration such as \"90d\" or \"12h\"",
    )
    .await;
    app.post(
        &format!("/api/keys/{}/revoke", key.id),
        Some(&app.admin_key),
    )
    .await;
    let response = app
        .post(
            &format!("/api/keys/{}/rotate", key.id),
            Some(&app.admin_key),
        )
        .await;
    assert_error(
        response,
        StatusCode::CONFLICT,
        "conflict",
        "Conflict",
        "a revoked key cannot be rotated",
    )
    .await;
    let listing: Value = app
        .get("/api/keys?owner=user%20owner", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listing["keys"].as_array().unwrap().len(),
        1,
        "no successor was created"
    );
}

async fn a_disabled_key_is_refused_until_enabled_again(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_disabled_key_is_refused_until_enabled_again",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app.key_with_role("user").await;
    let body: Value = app
        .post(
            &format!("/api/keys/{}/disable", key.id),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["state"], "disabled");
    assert_401(app.whoami(Some(&key.key)).await).await;
    let body: Value = app
        .post(
            &format!("/api/keys/{}/enable", key.id),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["state"], "active");
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
}

async fn a_mistyped_or_truncated_key_is_refused(engine: Engine) {
    let Some(app) = spawn_on(engine, "a_mistyped_or_truncated_key_is_refused", |_| {}).await else {
        return;
    };
    let key = app.key_with_role("user").await;
    let mut typo = key.key.clone().into_bytes();
    let at = 30;
    typo[at] = if typo[at] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    assert_401(app.whoami(Some(&typo)).await).await;
    assert_401(app.whoami(Some(&key.key[..60])).await).await;
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
}

async fn last_use_is_recorded(engine: Engine) {
    let Some(app) = spawn_on(engine, "last_use_is_recorded", |_| {}).await else {
        return;
    };
    let key = app.key_with_role("user").await;
    assert!(key.body["last_used_at"].is_null());
    app.clock.advance(std::time::Duration::from_secs(90));
    app.whoami(Some(&key.key)).await;
    let shown: Value = app
        .get(&format!("/api/keys/{}", key.id), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    let at = |field: &str| {
        time::OffsetDateTime::parse(
            shown[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(
        at("last_used_at") - at("created_at"),
        time::Duration::seconds(90),
        "the use, 90 s after the creation: {shown}"
    );
}

async fn the_database_files_never_contain_a_plaintext_key(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "the_database_files_never_contain_a_plaintext_key",
        |_| {},
    )
    .await
    else {
        return;
    };
    let mut keys = vec![app.admin_key.clone()];
    for role in ["admin", "user", "device"] {
        let key = app.key_with_role(role).await;
        app.whoami(Some(&key.key)).await;
        keys.push(key.key.clone());
        let rotated: Value = app
            .post(
                &format!("/api/keys/{}/rotate", key.id),
                Some(&app.admin_key),
            )
            .await
            .json()
            .await
            .unwrap();
        keys.push(rotated["key"].as_str().unwrap().to_owned());
    }
    let bytes = app.stored_bytes().await;
    for key in &keys {
        let secret = &key[17..61];
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "secret part of a key found in the database"
        );
    }
    // The hashes are there, as the only trace of the keys (raw in SQLite's file, hex in
    // PostgreSQL's text form of a `bytea`).
    let hash = portcullis::auth::key_format::hash(&keys[1]);
    let hex = hex::encode(hash);
    assert!(bytes.windows(32).any(|w| w == hash) || bytes.windows(64).any(|w| w == hex.as_bytes()));
}

async fn a_key_is_rotated_once_and_a_disabled_key_not_at_all(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_key_is_rotated_once_and_a_disabled_key_not_at_all",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app.key_with_role("user").await;
    let response = app
        .post_json(
            &format!("/api/keys/{}/rotate", key.id),
            Some(&app.admin_key),
            &json!({"grace": "1h"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .post_json(
            &format!("/api/keys/{}/rotate", key.id),
            Some(&app.admin_key),
            &json!({"grace": "1h"}),
        )
        .await;
    assert_error(
        response,
        StatusCode::CONFLICT,
        "conflict",
        "Conflict",
        "this key has already been rotated",
    )
    .await;
    let other = app.key_with_role("user").await;
    app.post(
        &format!("/api/keys/{}/disable", other.id),
        Some(&app.admin_key),
    )
    .await;
    let response = app
        .post(
            &format!("/api/keys/{}/rotate", other.id),
            Some(&app.admin_key),
        )
        .await;
    assert_error(
        response,
        StatusCode::CONFLICT,
        "conflict",
        "Conflict",
        "a disabled key cannot be rotated; enable it first",
    )
    .await;
}

crate::on_each_engine!(
    a_revoked_key_is_refused_on_the_very_next_request,
    a_key_stops_working_when_it_expires,
    rotation_without_grace_revokes_the_old_key_at_once,
    rotation_with_grace_keeps_the_old_key_working_until_the_grace_ends,
    a_revoked_key_cannot_be_rotated_and_bad_grace_is_refused,
    a_disabled_key_is_refused_until_enabled_again,
    a_mistyped_or_truncated_key_is_refused,
    last_use_is_recorded,
    the_database_files_never_contain_a_plaintext_key,
    a_key_is_rotated_once_and_a_disabled_key_not_at_all,
);
