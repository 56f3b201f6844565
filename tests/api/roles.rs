//! The role matrix: who may call what, and the exact 401/403 bodies.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every admin route with a request that succeeds for an admin.
fn admin_routes(target: &str) -> Vec<(Method, String, Option<Value>, StatusCode)> {
    vec![
        (Method::GET, "/api/keys".into(), None, StatusCode::OK),
        (
            Method::POST,
            "/api/keys".into(),
            Some(json!({"owner": "m", "role": "user"})),
            StatusCode::CREATED,
        ),
        (
            Method::GET,
            format!("/api/keys/{target}"),
            None,
            StatusCode::OK,
        ),
        (
            Method::POST,
            format!("/api/keys/{target}/disable"),
            None,
            StatusCode::OK,
        ),
        (
            Method::POST,
            format!("/api/keys/{target}/enable"),
            None,
            StatusCode::OK,
        ),
        (
            Method::POST,
            format!("/api/keys/{target}/rotate"),
            Some(json!({"grace": "1h"})),
            StatusCode::CREATED,
        ),
        (
            Method::POST,
            format!("/api/keys/{target}/limits"),
            Some(json!({"rate": "100/min"})),
            StatusCode::OK,
        ),
        (Method::GET, "/api/sessions".into(), None, StatusCode::OK),
        (
            Method::POST,
            "/api/sessions/end".into(),
            Some(json!({"owner": "nobody"})),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/sessions/0123456789abcdef/end".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (Method::GET, "/api/audit".into(), None, StatusCode::OK),
        (
            Method::POST,
            format!("/api/keys/{target}/revoke"),
            None,
            StatusCode::OK,
        ),
    ]
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: &Option<Value>,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn user_and_device_keys_get_403_on_every_admin_route() {
    let app = spawn_app().await;
    let target = app.key_with_role("user").await;
    for role in ["user", "device"] {
        let key = app.key_with_role(role).await;
        for (method, path, body, _) in admin_routes(&target.id) {
            let response = call(&app, &method, &path, &body, Some(&key.key)).await;
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{role} {method} {path}"
            );
            assert_403_admin(response).await;
        }
    }
    // Nothing changed: the target is still active.
    let shown: Value = app
        .get(&format!("/api/keys/{}", target.id), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["state"], "active");
}

#[tokio::test]
async fn no_key_or_a_bad_key_gets_401_on_every_protected_route() {
    // Many failures from one address: raise the lockout threshold so 401s, not 429s, are seen.
    let app = spawn_app_with(|s| {
        s.auth.lockout_threshold = 1000;
        s.limits.per_address = portcullis::limits::RateSpec::parse("1000/s").unwrap();
    })
    .await;
    let target = app.key_with_role("user").await;
    // Change the last character (never to itself, or the "forgery" would be the real key).
    let last = if app.admin_key.ends_with('x') {
        'y'
    } else {
        'x'
    };
    let forged = format!("{}{last}", &app.admin_key[..app.admin_key.len() - 1]);
    for key in [None, Some("nonsense"), Some(forged.as_str()), Some("")] {
        for (method, path, body, _) in admin_routes(&target.id) {
            assert_401(call(&app, &method, &path, &body, key).await).await;
        }
        assert_401(call(&app, &Method::GET, "/api/whoami", &None, key).await).await;
    }
}

#[tokio::test]
async fn admin_keys_may_call_every_admin_route() {
    let app = spawn_app().await;
    let target = app.key_with_role("user").await;
    for (method, path, body, expected) in admin_routes(&target.id) {
        let response = call(&app, &method, &path, &body, Some(&app.admin_key)).await;
        assert_eq!(response.status(), expected, "{method} {path}");
        assert_hardened(&response);
    }
}

#[tokio::test]
async fn whoami_names_owner_role_key_and_expiry_for_every_role() {
    let app = spawn_app().await;
    for role in ["admin", "user", "device"] {
        let key = app.create_key(json!({"owner": format!("App {role}"), "owner_kind": "app", "role": role, "expires_in": "90d"})).await;
        for header in ["X-API-Key", "Authorization"] {
            let value = if header == "Authorization" {
                format!("Bearer {}", key.key)
            } else {
                key.key.clone()
            };
            let response = app
                .client
                .get(app.url("/api/whoami"))
                .header(header, value)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["owner"], format!("App {role}"));
            assert_eq!(body["role"], role);
            assert_eq!(body["key_id"], key.id);
            assert_eq!(body["expires_at"], key.body["expires_at"]);
            assert_eq!(body["source"], "store");
        }
    }
}

#[tokio::test]
async fn sending_both_headers_is_ambiguous_and_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/whoami"))
        .header("X-API-Key", &app.admin_key)
        .header("Authorization", format!("Bearer {}", app.admin_key))
        .send()
        .await
        .unwrap();
    assert_401(response).await;
}

#[tokio::test]
async fn other_authorization_schemes_are_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/whoami"))
        .header("Authorization", format!("Basic {}", app.admin_key))
        .send()
        .await
        .unwrap();
    assert_401(response).await;
}
