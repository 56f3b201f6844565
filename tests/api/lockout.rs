//! Brute-force protection: lockout per address and per username, growing, recovering, and
//! never locking the real user out from their own address.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A client whose requests come from `ip`, one of 127.0.0.2–4. Linux routes all of 127/8 to
/// loopback; other systems only 127.0.0.1, so the tests that use this are skipped there
/// (marked `ignore` off Linux, with the reason).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    client_builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .build()
        .unwrap()
}

async fn assert_429(response: reqwest::Response, retry_after: &str) {
    assert_eq!(response.headers().get("retry-after").unwrap(), retry_after);
    assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "auth.locked_out",
        "Too many requests",
        "Too many failed attempts; retry later",
    )
    .await;
}

#[tokio::test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "binds 127.0.0.2-4, which only Linux routes to loopback"
)]
async fn failed_key_checks_lock_the_address_out_for_growing_periods() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_401(
            app.whoami(Some("wrong-key-wrong-key-wrong-key-wrong"))
                .await,
        )
        .await;
    }
    // Locked: even the right key is turned away, without being checked.
    assert_429(app.whoami(Some(&app.admin_key)).await, "30").await;
    app.clock.advance(Duration::from_secs(30));
    assert_eq!(
        app.whoami(Some(&app.admin_key)).await.status(),
        StatusCode::OK
    );
    for _ in 0..5 {
        app.whoami(Some("wrong-key-wrong-key-wrong-key-wrong"))
            .await;
    }
    assert_429(app.whoami(Some(&app.admin_key)).await, "60").await;
    // Another address is unaffected.
    let other = client_from([127, 0, 0, 2]);
    let response = other
        .get(app.url("/api/whoami"))
        .header("X-API-Key", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "binds 127.0.0.2-4, which only Linux routes to loopback"
)]
async fn an_attacker_on_a_username_does_not_lock_out_the_real_user() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let user = client_from([127, 0, 0, 2]);
    let attacker = client_from([127, 0, 0, 3]);
    let login = |client: &reqwest::Client, key: &str| {
        client
            .post(app.url("/user/login"))
            .json(&json!({"username": "user1", "key": key}))
            .send()
    };
    assert_eq!(
        login(&user, &key.key).await.unwrap().status(),
        StatusCode::OK
    );
    for _ in 0..5 {
        assert_eq!(
            login(&attacker, "guess-guess-guess-guess-guess-guess")
                .await
                .unwrap()
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = login(&attacker, &key.key).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"success": false, "message": "Too many failed attempts; retry later"})
    );
    // The user, from the address they logged in from before, still gets in.
    assert_eq!(
        login(&user, &key.key).await.unwrap().status(),
        StatusCode::OK
    );
    // A third address trying that username is held back while the lockout lasts.
    let stranger = client_from([127, 0, 0, 4]);
    assert_eq!(
        login(&stranger, &key.key).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(Duration::from_secs(30));
    assert_eq!(
        login(&stranger, &key.key).await.unwrap().status(),
        StatusCode::OK
    );
}
