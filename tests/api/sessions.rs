//! Login sessions (seed 001): the login shape, uniform failures, expiry, the one-session rule,
//! logout, revocation, bearer and cookie use with CSRF, and the admin view.

use crate::engines::{Engine, spawn_on};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn assert_login_refused(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_hardened(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": false, "message": "Invalid credentials"})
    );
}

async fn login_with_username_and_key_returns_a_session_in_the_seed_shape(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "login_with_username_and_key_returns_a_session_in_the_seed_shape",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    // Form-encoded, as the seed's curl example.
    let response = app
        .client
        .post(app.url("/user/login"))
        .form(&[("username", "user1"), ("key", key.key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_hardened(&response);
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    let token = body["session"].as_str().unwrap();
    assert!(token.starts_with(&format!("pcs_{}_", body["session_id"].as_str().unwrap())));
    assert_eq!(token.len(), 4 + 16 + 1 + 64);
    assert!(body["expires_at"].is_string());
    assert!(
        cookie.starts_with(&format!(
            "portcullis_session={token}; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict"
        )),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "no TLS here");

    let who: Value = app
        .get_bearer("/api/whoami", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["owner"], "user1");
    assert_eq!(who["key_id"], key.id);
    // /api/login is the same endpoint.
    app.post_json(
        "/api/login",
        None,
        &json!({"username": "user1", "key": key.key}),
    )
    .await
    .error_for_status()
    .unwrap();
}

async fn every_login_failure_looks_the_same(engine: Engine) {
    let Some(app) = spawn_on(engine, "every_login_failure_looks_the_same", |s| {
        s.auth.lockout_threshold = 100
    })
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let other = app
        .create_key(json!({"owner": "user2", "role": "user"}))
        .await;
    let revoked = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    app.post(
        &format!("/api/keys/{}/revoke", revoked.id),
        Some(&app.admin_key),
    )
    .await;
    let disabled = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    app.post(
        &format!("/api/keys/{}/disable", disabled.id),
        Some(&app.admin_key),
    )
    .await;
    let cases = [
        json!({"username": "user1"}),
        json!({"key": key.key}),
        json!({"username": "", "key": key.key}),
        json!({"username": "nobody", "key": key.key}),
        json!({"username": "user1", "key": other.key}),
        json!({"username": "user1", "key": format!("{}{}", &key.key[..key.key.len() - 1], if key.key.ends_with('x') { 'y' } else { 'x' })}),
        json!({"username": "user1", "key": revoked.key}),
        json!({"username": "user1", "key": disabled.key}),
        json!({"username": "user1", "key": "not-a-key"}),
    ];
    for body in cases {
        assert_login_refused(app.post_json("/user/login", None, &body).await).await;
    }
    let response = app
        .client
        .post(app.url("/user/login"))
        .body("username=user1")
        .send()
        .await
        .unwrap();
    assert_login_refused(response).await;
    let response = app
        .client
        .post(app.url("/user/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_login_refused(response).await;
    let failures = app.wait_for_refusals("login.failure", 11).await;
    assert_eq!(failures[0]["outcome"], "failure");
    assert_eq!(failures[0]["extra"]["reason"], "missing_field");
    assert!(
        failures
            .iter()
            .any(|e| e["extra"]["reason"] == "wrong_user")
    );
    assert!(failures.iter().any(|e| e["extra"]["reason"] == "revoked"));
}

async fn credentials_never_go_in_a_url(engine: Engine) {
    let Some(app) = spawn_on(engine, "credentials_never_go_in_a_url", |_| {}).await else {
        return;
    };
    let response = app.get("/user/login?username=a&key=b", None).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get("allow").unwrap(), "POST");
}

async fn a_session_expires_after_an_hour(engine: Engine) {
    let Some(app) = spawn_on(engine, "a_session_expires_after_an_hour", |_| {}).await else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    app.clock.advance(Duration::from_secs(3599));
    assert_eq!(
        app.get_bearer("/api/whoami", &session.token).await.status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(1));
    assert_401(app.get_bearer("/api/whoami", &session.token).await).await;
    // The key itself still works.
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
}

async fn a_new_login_ends_the_older_session_of_the_same_user_and_key(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_new_login_ends_the_older_session_of_the_same_user_and_key",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let second_key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let first = app.login("user1", &key.key).await;
    let other_key_session = app.login("user1", &second_key.key).await;
    let second = app.login("user1", &key.key).await;
    assert_401(app.get_bearer("/api/whoami", &first.token).await).await;
    assert_eq!(
        app.get_bearer("/api/whoami", &second.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_bearer("/api/whoami", &other_key_session.token)
            .await
            .status(),
        StatusCode::OK,
        "another key's session is untouched"
    );
}

async fn with_single_session_off_several_sessions_live_side_by_side(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "with_single_session_off_several_sessions_live_side_by_side",
        |s| s.auth.single_session = false,
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let first = app.login("user1", &key.key).await;
    let second = app.login("user1", &key.key).await;
    assert_eq!(
        app.get_bearer("/api/whoami", &first.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_bearer("/api/whoami", &second.token).await.status(),
        StatusCode::OK
    );
}

async fn logout_ends_the_current_session_and_clears_the_cookie(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "logout_ends_the_current_session_and_clears_the_cookie",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    let response = app
        .client
        .post(app.url("/user/logout"))
        .header("Authorization", format!("Bearer {}", session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    assert_401(app.get_bearer("/api/whoami", &session.token).await).await;
    // Logging out with a plain key is a bad request: there is no session to end.
    let response = app.post("/user/logout", Some(&key.key)).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "Not a session; log in first",
    )
    .await;
}

async fn a_session_ends_when_its_key_expires_even_before_its_own_hour(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_session_ends_when_its_key_expires_even_before_its_own_hour",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user", "expires_in": "30m"}))
        .await;
    let session = app.login("user1", &key.key).await;
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        app.get_bearer("/api/whoami", &session.token).await.status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(60));
    assert_401(app.get_bearer("/api/whoami", &session.token).await).await;
}

async fn revoking_or_disabling_the_key_ends_its_sessions_at_once(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "revoking_or_disabling_the_key_ends_its_sessions_at_once",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    app.post(
        &format!("/api/keys/{}/disable", key.id),
        Some(&app.admin_key),
    )
    .await;
    assert_401(app.get_bearer("/api/whoami", &session.token).await).await;
    // Re-enabling the key does not bring back a session that may have been taken meanwhile.
    app.post(
        &format!("/api/keys/{}/enable", key.id),
        Some(&app.admin_key),
    )
    .await;
    assert_401(app.get_bearer("/api/whoami", &session.token).await).await;
    let listing: Value = app
        .get("/api/sessions?owner=user1", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["sessions"][0]["end_reason"], "key disabled");
    app.clock.advance(Duration::from_secs(1));
    let session = app.login("user1", &key.key).await;
    app.post(
        &format!("/api/keys/{}/revoke", key.id),
        Some(&app.admin_key),
    )
    .await;
    assert_401(app.get_bearer("/api/whoami", &session.token).await).await;
    let listing: Value = app
        .get("/api/sessions?owner=user1", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["sessions"][0]["state"], "ended");
    assert_eq!(listing["sessions"][0]["end_reason"], "key revoked");
}

async fn a_forged_or_foreign_session_token_is_refused(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_forged_or_foreign_session_token_is_refused",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    let forged = format!("{}{}", &session.token[..session.token.len() - 4], "0000");
    assert_401(app.get_bearer("/api/whoami", &forged).await).await;
    assert_401(
        app.get_bearer("/api/whoami", "pcs_aaaaaaaaaaaaaaaa_00")
            .await,
    )
    .await;
    // A session token is not an API key.
    assert_401(app.whoami(Some(&session.token)).await).await;
}

async fn bearer_sessions_can_be_switched_off(engine: Engine) {
    let Some(app) = spawn_on(engine, "bearer_sessions_can_be_switched_off", |s| {
        s.auth.session_bearer = false
    })
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    assert_401(app.get_bearer("/api/whoami", &session.token).await).await;
}

async fn a_cookie_session_needs_the_csrf_token_to_change_state(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_cookie_session_needs_the_csrf_token_to_change_state",
        |_| {},
    )
    .await
    else {
        return;
    };
    let admin = app.login("admin", &app.admin_key).await;
    let cookie = format!("portcullis_session={}", admin.token);
    // Reading with the cookie alone is fine.
    let response = app
        .client
        .get(app.url("/api/whoami"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Changing state without the CSRF token is refused, and nothing is created.
    let body = json!({"owner": "via-cookie", "role": "user"});
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::FORBIDDEN,
        "auth.csrf",
        "CSRF check failed",
        "Send the X-CSRF-Token header given at login",
    )
    .await;
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("cookie", &cookie)
        .header("x-csrf-token", "0".repeat(64))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error_code(response, StatusCode::FORBIDDEN, "auth.csrf").await;
    // A "simple" cross-site form post (text/plain, no preflight) gets no further, nor does
    // a GET that asks to be treated as a POST.
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("cookie", &cookie)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_error_code(response, StatusCode::FORBIDDEN, "auth.csrf").await;
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("cookie", &cookie)
        .header("x-http-method-override", "GET")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error_code(response, StatusCode::FORBIDDEN, "auth.csrf").await;
    let listing: Value = app
        .get("/api/keys?owner=via-cookie", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["keys"].as_array().unwrap().len(), 0);
    // With it, the request goes through.
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &admin.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn admins_list_and_end_a_users_sessions(engine: Engine) {
    let Some(app) = spawn_on(engine, "admins_list_and_end_a_users_sessions", |s| {
        s.auth.single_session = false
    })
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let a = app.login("user1", &key.key).await;
    let b = app.login("user1", &key.key).await;
    let listing: Value = app
        .get(
            "/api/sessions?owner=user1&active=true",
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listing["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&a.id.as_str()) && ids.contains(&b.id.as_str()));
    assert!(
        !listing.to_string().contains(&a.token),
        "tokens are never listed"
    );

    let response = app
        .post(&format!("/api/sessions/{}/end", a.id), Some(&app.admin_key))
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"ended": [a.id]})
    );
    assert_401(app.get_bearer("/api/whoami", &a.token).await).await;
    assert_eq!(
        app.get_bearer("/api/whoami", &b.token).await.status(),
        StatusCode::OK
    );

    let response = app
        .post_json(
            "/api/sessions/end",
            Some(&app.admin_key),
            &json!({"owner": "user1"}),
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"ended": [b.id]})
    );
    assert_401(app.get_bearer("/api/whoami", &b.token).await).await;
    let response = app
        .post(&format!("/api/sessions/{}/end", a.id), Some(&app.admin_key))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Users cannot.
    assert_403_admin(app.get("/api/sessions", Some(&key.key)).await).await;
}

crate::on_each_engine!(
    login_with_username_and_key_returns_a_session_in_the_seed_shape,
    every_login_failure_looks_the_same,
    credentials_never_go_in_a_url,
    a_session_expires_after_an_hour,
    a_new_login_ends_the_older_session_of_the_same_user_and_key,
    with_single_session_off_several_sessions_live_side_by_side,
    logout_ends_the_current_session_and_clears_the_cookie,
    a_session_ends_when_its_key_expires_even_before_its_own_hour,
    revoking_or_disabling_the_key_ends_its_sessions_at_once,
    a_forged_or_foreign_session_token_is_refused,
    bearer_sessions_can_be_switched_off,
    a_cookie_session_needs_the_csrf_token_to_change_state,
    admins_list_and_end_a_users_sessions,
);
