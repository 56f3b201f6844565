//! `POST /api/keys/verify`: another service asks whether a key its client presented is good.
//! Every verdict code, the same limits and quota as the key's own requests (on the memory
//! and the Redis backend), who may ask, bad questions, and the audit records.

use crate::backends::{Backend, on};
use crate::helpers::*;
use portcullis::auth::EnvKeys;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

crate::on_each_backend!(
    the_rate_limit_and_quota_are_the_ones_requests_spend,
    a_cost_of_zero_only_looks,
);

async fn verify(app: &TestApp, by: &str, question: Value) -> Value {
    let response = app.post_json("/api/keys/verify", Some(by), &question).await;
    assert_eq!(response.status(), StatusCode::OK, "{question}");
    assert_hardened(&response);
    response.json().await.unwrap()
}

/// A verdict for a key that was not identified: every field about the key is null.
fn not_found() -> Value {
    json!({
        "valid": false, "code": "NOT_FOUND", "key_id": null, "owner": null,
        "owner_id": null, "role": null, "permissions": null, "expires_at": null,
        "ratelimit": null, "quota": null,
    })
}

#[tokio::test]
async fn a_valid_key_is_described_and_counted() {
    let app = spawn_app().await;
    let verifier = app.key_with_role("verifier").await;
    let client = app
        .create_key(json!({"owner": "Client 7", "role": "user", "rate": "10/min"}))
        .await;
    let verdict = verify(&app, &verifier.key, json!({"key": client.key})).await;
    assert_eq!(
        verdict,
        json!({
            "valid": true, "code": "VALID", "key_id": client.id, "owner": "Client 7",
            "owner_id": client.body["owner_id"], "role": "user",
            "permissions": ["identity.read", "messages.create", "campaigns.use"],
            "expires_at": null,
            "ratelimit": {"limit": 10, "period_secs": 60, "remaining": 9, "reset_secs": 6},
            "quota": null,
        })
    );
    // The verification was a use of the key: its own next request sees one less.
    let response = app.whoami(Some(&client.key)).await;
    assert_eq!(response.headers()["ratelimit"], "\"key\";r=8;t=12");
    // Admins may ask too, and a permission the role holds is no obstacle.
    let verdict = verify(
        &app,
        &app.admin_key,
        json!({"key": client.key, "permissions": ["identity.read", "campaigns.use"]}),
    )
    .await;
    assert_eq!(verdict["code"], "VALID");
    assert_eq!(verdict["ratelimit"]["remaining"], 7);
}

#[tokio::test]
async fn keys_that_are_not_ours_are_not_found_whatever_is_wrong_with_them() {
    let app = spawn_app().await;
    let verifier = app.key_with_role("verifier").await;
    let real = app.key_with_role("user").await;
    // The same id with another secret (and a valid checksum): must not reveal the id.
    let forged = forge_secret(&real.key);
    assert_eq!(
        portcullis::auth::key_format::parse(&forged),
        Ok(portcullis::auth::key_format::ParsedKey::Issued { id: &real.id }),
        "the forged key passes the checksum, so the secret comparison is what refuses it"
    );
    let session = app.login("user owner", &real.key).await;
    let mut mistyped = real.key.clone();
    mistyped.pop();
    mistyped.push(if real.key.ends_with('A') { 'B' } else { 'A' });
    for key in [
        "not a key at all, but long enough to be a legacy one".to_owned(),
        "x".to_owned(),
        mistyped,
        forged,
        session.token.clone(),
        format!("{} ", real.key),
        "k".repeat(5000),
    ] {
        let verdict = verify(&app, &verifier.key, json!({ "key": key })).await;
        assert_eq!(verdict, not_found(), "{key}");
    }
}

/// `key` with its secret replaced and the checksum recomputed: our format, a known id, the
/// wrong secret.
fn forge_secret(key: &str) -> String {
    let (prefix, _) = key.split_at("pcl_".len() + 12 + 1);
    let body = format!("{prefix}{}", "Z".repeat(44));
    let checksum = crc32fast::hash(body.as_bytes());
    format!("{body}{}", base62_6(checksum))
}

fn base62_6(mut n: u32) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

#[tokio::test]
async fn revoked_expired_and_disabled_keys_say_so_and_whose_they_are() {
    let app = spawn_app().await;
    let verifier = app.key_with_role("verifier").await;
    let revoked = app.key_with_role("user").await;
    let disabled = app.key_with_role("device").await;
    let expiring = app
        .create_key(json!({"owner": "Temp", "role": "user", "expires_in": "2h"}))
        .await;
    for (key, action) in [(&revoked, "revoke"), (&disabled, "disable")] {
        let response = app
            .post(
                &format!("/api/keys/{}/{action}", key.id),
                Some(&app.admin_key),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    app.clock.advance(Duration::from_secs(3 * 3600));
    for (key, code, role) in [
        (&revoked, "REVOKED", "user"),
        (&disabled, "DISABLED", "device"),
        (&expiring, "EXPIRED", "user"),
    ] {
        let verdict = verify(&app, &verifier.key, json!({"key": key.key})).await;
        assert_eq!(verdict["valid"], false, "{code}");
        assert_eq!(verdict["code"], code);
        assert_eq!(verdict["key_id"], key.id.as_str());
        assert_eq!(verdict["role"], role);
        assert_eq!(
            verdict["ratelimit"],
            Value::Null,
            "nothing counted for {code}"
        );
    }
    let verdict = verify(&app, &verifier.key, json!({"key": expiring.key})).await;
    assert_eq!(verdict["expires_at"], expiring.body["expires_at"]);
}

#[tokio::test]
async fn a_permission_the_role_lacks_is_insufficient_and_spends_nothing() {
    let app = spawn_app().await;
    let verifier = app.key_with_role("verifier").await;
    let client = app
        .create_key(json!({"owner": "C", "role": "user", "rate": "3/min"}))
        .await;
    for _ in 0..5 {
        let verdict = verify(
            &app,
            &verifier.key,
            json!({"key": client.key, "permissions": ["campaigns.use", "keys.manage"]}),
        )
        .await;
        assert_eq!(verdict["code"], "INSUFFICIENT_PERMISSIONS");
        assert_eq!(verdict["valid"], false);
        assert_eq!(verdict["key_id"], client.id.as_str());
        assert_eq!(verdict["ratelimit"], Value::Null);
    }
    let response = app.whoami(Some(&client.key)).await;
    assert_eq!(response.headers()["ratelimit"], "\"key\";r=2;t=20");
}

async fn the_rate_limit_and_quota_are_the_ones_requests_spend(backend: Backend) {
    let Some(run) = on(backend, "verify limits") else {
        return;
    };
    let app = spawn_app_full(|s| run.apply(s), EnvKeys::none()).await;
    let verifier = app.key_with_role("verifier").await;
    let client = app
        .create_key(json!({"owner": "C", "role": "user", "rate": "2/min",
            "quota": {"limit": 5, "refill": "never"}}))
        .await;
    let verdict = verify(&app, &verifier.key, json!({"key": client.key, "cost": 3})).await;
    assert_eq!(verdict["code"], "VALID");
    assert_eq!(
        verdict["quota"],
        json!({"limit": 5, "refill": "never", "remaining": 2, "resets_at": null})
    );
    // The key's own request is counted in the same rate bucket and quota.
    let who: Value = app.whoami(Some(&client.key)).await.json().await.unwrap();
    assert_eq!(who["quota"]["remaining"], 1);
    let verdict = verify(&app, &verifier.key, json!({"key": client.key})).await;
    assert_eq!(verdict["code"], "RATE_LIMITED");
    assert_eq!(verdict["valid"], false);
    assert_eq!(
        verdict["ratelimit"],
        json!({"limit": 2, "period_secs": 60, "remaining": 0, "reset_secs": 60})
    );
    assert_eq!(
        verdict["quota"]["remaining"], 1,
        "a refused rate spends no quota"
    );
    app.clock.advance(Duration::from_secs(60));
    let verdict = verify(&app, &verifier.key, json!({"key": client.key, "cost": 2})).await;
    assert_eq!(verdict["code"], "USAGE_EXCEEDED");
    assert_eq!(verdict["quota"]["remaining"], 1);
    let verdict = verify(&app, &verifier.key, json!({"key": client.key, "cost": 1})).await;
    assert_eq!(verdict["code"], "VALID");
    assert_eq!(verdict["quota"]["remaining"], 0);
    app.clock.advance(Duration::from_secs(60));
    let response = app.whoami(Some(&client.key)).await;
    assert_error_code(response, StatusCode::TOO_MANY_REQUESTS, "quota_exhausted").await;
}

async fn a_cost_of_zero_only_looks(backend: Backend) {
    let Some(run) = on(backend, "verify cost 0") else {
        return;
    };
    let app = spawn_app_full(|s| run.apply(s), EnvKeys::none()).await;
    let verifier = app.key_with_role("verifier").await;
    let client = app
        .create_key(json!({"owner": "C", "role": "user", "quota": {"limit": 1}}))
        .await;
    for _ in 0..3 {
        let verdict = verify(&app, &verifier.key, json!({"key": client.key, "cost": 0})).await;
        assert_eq!(verdict["code"], "VALID");
        assert_eq!(verdict["quota"]["remaining"], 1);
    }
    let verdict = verify(&app, &verifier.key, json!({"key": client.key})).await;
    assert_eq!(verdict["quota"]["remaining"], 0);
    let verdict = verify(&app, &verifier.key, json!({"key": client.key, "cost": 0})).await;
    assert_eq!(verdict["code"], "USAGE_EXCEEDED");
}

#[tokio::test]
async fn only_keys_verify_may_ask() {
    let app = spawn_app().await;
    let client = app.key_with_role("user").await;
    for role in ["user", "device", "monitor"] {
        let asker = app.key_with_role(role).await;
        let response = app
            .post_json(
                "/api/keys/verify",
                Some(&asker.key),
                &json!({"key": client.key}),
            )
            .await;
        assert_error(
            response,
            StatusCode::FORBIDDEN,
            "auth.forbidden",
            "Insufficient permissions",
            "Verifier role required",
        )
        .await;
    }
    let response = app
        .post_json("/api/keys/verify", None, &json!({"key": client.key}))
        .await;
    assert_401(response).await;
    // The verifier role holds nothing else.
    let verifier = app.key_with_role("verifier").await;
    assert_403_admin(app.get("/api/keys", Some(&verifier.key)).await).await;
    let who: Value = app.whoami(Some(&verifier.key)).await.json().await.unwrap();
    assert_eq!(who["permissions"], json!(["identity.read", "keys.verify"]));
}

#[tokio::test]
async fn bad_questions_are_400_and_count_nothing() {
    let app = spawn_app().await;
    let verifier = app.key_with_role("verifier").await;
    let client = app
        .create_key(json!({"owner": "C", "role": "user", "quota": {"limit": 3}}))
        .await;
    let cases = [
        (
            json!({"key": client.key, "cost": -1}),
            "cost must be between 0 and 10000",
        ),
        (
            json!({"key": client.key, "cost": 10001}),
            "cost must be between 0 and 10000",
        ),
        (json!({"key": ""}), "key must not be empty"),
        (
            json!({"key": client.key, "permissions": ["keys.manage", "root"]}),
            "unknown permission \"root\"",
        ),
    ];
    for (question, message) in cases {
        let response = app
            .post_json("/api/keys/verify", Some(&verifier.key), &question)
            .await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            "request.invalid",
            "Bad request",
            message,
        )
        .await;
    }
    for body in [
        r#"{"key": "#,
        r#"{"key": 5}"#,
        r#"{"key": "a", "extra": 1}"#,
        r#"["key"]"#,
    ] {
        let response = app
            .client
            .post(app.url("/api/keys/verify"))
            .header("X-API-Key", &verifier.key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_hardened(&response);
    }
    let response = app.get("/api/keys/verify", Some(&verifier.key)).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let verdict = verify(&app, &verifier.key, json!({"key": client.key, "cost": 0})).await;
    assert_eq!(
        verdict["quota"]["remaining"], 3,
        "no bad question spent quota"
    );
}

#[tokio::test]
async fn verifications_are_audited_and_repeats_counted() {
    let app = spawn_app().await;
    let verifier = app.key_with_role("verifier").await;
    let client = app.key_with_role("user").await;
    for _ in 0..4 {
        verify(&app, &verifier.key, json!({"key": client.key})).await;
    }
    verify(
        &app,
        &verifier.key,
        json!({"key": "nope, not a key of ours at all"}),
    )
    .await;
    let events = app.wait_for_refusals("key.verify", 5).await;
    let valid: Vec<&Value> = events
        .iter()
        .filter(|e| e["extra"]["reason"] == "VALID")
        .collect();
    let counted: u64 = valid
        .iter()
        .map(|e| e["extra"]["repeated"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(counted, 4, "{events:#?}");
    let first = valid
        .iter()
        .find(|e| e["extra"].get("repeated").is_none())
        .unwrap();
    assert_eq!(first["outcome"], "success");
    assert_eq!(first["key_id"], verifier.id.as_str());
    assert_eq!(first["extra"]["subject"], client.id.as_str());
    assert_eq!(first["extra"]["cost"], 1);
    let summary = valid
        .iter()
        .find(|e| e["extra"].get("repeated").is_some())
        .unwrap();
    assert_eq!(summary["extra"]["repeated"], 3);
    assert_eq!(summary["extra"]["cost"], 3, "the repeats' cost, summed");
    assert_eq!(summary["message"], "repeated, counted");
    let missing = events
        .iter()
        .find(|e| e["extra"]["reason"] == "NOT_FOUND")
        .unwrap();
    assert_eq!(missing["outcome"], "failure");
    assert_eq!(missing["extra"].get("subject"), None);
    // Nothing of the presented key reaches the trail.
    assert!(!events.iter().any(|e| e.to_string().contains(&client.key)));
}

#[tokio::test]
async fn an_asker_whose_keys_keep_not_being_found_is_slowed() {
    let app = spawn_app_with(|s| {
        s.limits.verify_misses = portcullis::limits::RateSpec::parse("3/min").unwrap();
    })
    .await;
    let verifier = app.key_with_role("verifier").await;
    let other = app.key_with_role("verifier").await;
    let client = app.key_with_role("user").await;
    // Valid verdicts are not misses.
    for _ in 0..5 {
        let verdict = verify(&app, &verifier.key, json!({"key": client.key})).await;
        assert_eq!(verdict["code"], "VALID");
    }
    for i in 0..3 {
        let guess = format!("a-guessed-legacy-key-number-{i:04}-of-many");
        assert_eq!(
            verify(&app, &verifier.key, json!({"key": guess})).await,
            not_found()
        );
    }
    // Spent: the next question is not judged at all, whatever key it names.
    let response = app
        .post_json(
            "/api/keys/verify",
            Some(&verifier.key),
            &json!({"key": client.key}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "20");
    assert_error_code(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another asker is not affected, and the bucket refills.
    let verdict = verify(&app, &other.key, json!({"key": client.key})).await;
    assert_eq!(verdict["code"], "VALID");
    app.clock.advance(Duration::from_secs(20));
    let verdict = verify(&app, &verifier.key, json!({"key": client.key})).await;
    assert_eq!(verdict["code"], "VALID");
}
