//! The key-management API: creation, listing, showing, and refusal of bad input.

use crate::engines::{Engine, spawn_on};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn a_created_key_is_shown_once_with_its_attributes(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_created_key_is_shown_once_with_its_attributes",
        |_| {},
    )
    .await
    else {
        return;
    };
    let response = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({
                "owner": "App 1", "owner_kind": "app", "role": "user", "label": "billing",
                "expires_in": "90d", "metadata": {"team": "payments"}
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id_from_location = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let key = body["key"].as_str().unwrap();
    assert!(key.starts_with(&format!("pcl_{}_", body["id"].as_str().unwrap())));
    assert_eq!(key.len(), 67);
    assert_eq!(
        id_from_location,
        format!("/api/keys/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(body["owner"], "App 1");
    assert_eq!(body["owner_kind"], "app");
    assert_eq!(body["role"], "user");
    assert_eq!(body["label"], "billing");
    assert_eq!(body["state"], "active");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["metadata"], json!({"team": "payments"}));
    let created = time::OffsetDateTime::parse(
        body["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires - created).whole_days(), 90);

    // Shown again: everything but the key.
    let shown: Value = app
        .get(
            &format!("/api/keys/{}", body["id"].as_str().unwrap()),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(shown.get("key").is_none());
    assert!(shown.get("key_hash").is_none());
    assert_eq!(shown["label"], "billing");
    assert!(!shown.to_string().contains(key));
}

async fn an_owner_can_hold_several_keys(engine: Engine) {
    let Some(app) = spawn_on(engine, "an_owner_can_hold_several_keys", |_| {}).await else {
        return;
    };
    let a = app
        .create_key(json!({"owner": "User 1", "role": "user", "label": "laptop"}))
        .await;
    let b = app
        .create_key(json!({"owner": "User 1", "role": "user", "label": "ci"}))
        .await;
    assert_ne!(a.key, b.key);
    assert_eq!(a.body["owner_id"], b.body["owner_id"]);
    let listing: Value = app
        .get("/api/keys?owner=User%201", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    let labels: Vec<&str> = listing["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["laptop", "ci"]);
}

async fn listing_filters_by_owner_role_and_state_and_never_shows_secrets(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "listing_filters_by_owner_role_and_state_and_never_shows_secrets",
        |_| {},
    )
    .await
    else {
        return;
    };
    let user = app.create_key(json!({"owner": "u", "role": "user"})).await;
    let device = app
        .create_key(json!({"owner": "phone", "role": "device"}))
        .await;
    app.post(
        &format!("/api/keys/{}/revoke", device.id),
        Some(&app.admin_key),
    )
    .await;

    let page = |q: &'static str| {
        let app = &app;
        async move {
            let response = app
                .get(&format!("/api/keys{q}"), Some(&app.admin_key))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("?role=device").await, vec![device.id.clone()]);
    assert_eq!(page("?state=revoked").await, vec![device.id.clone()]);
    assert_eq!(page("?state=active&role=user").await, vec![user.id.clone()]);
    assert_eq!(
        page("?owner=phone&state=active").await,
        Vec::<String>::new()
    );

    let text = app
        .get("/api/keys", Some(&app.admin_key))
        .await
        .text()
        .await
        .unwrap();
    for secret in [&user.key, &device.key, &app.admin_key] {
        assert!(!text.contains(secret.as_str()));
    }
    assert!(!text.contains("hash"));
}

async fn listing_is_paginated_with_a_cursor(engine: Engine) {
    let Some(app) = spawn_on(engine, "listing_is_paginated_with_a_cursor", |_| {}).await else {
        return;
    };
    for i in 0..5 {
        app.create_key(json!({"owner": format!("o{i}"), "role": "user"}))
            .await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/keys?limit=2".to_owned();
    loop {
        let body: Value = app
            .get(&path, Some(&app.admin_key))
            .await
            .json()
            .await
            .unwrap();
        let keys = body["keys"].as_array().unwrap();
        assert!(keys.len() <= 2);
        seen.extend(keys.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/keys?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        6,
        "five keys and the initial admin key, each once"
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6);
}

async fn bad_create_requests_get_400_with_a_reason_and_create_nothing(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "bad_create_requests_get_400_with_a_reason_and_create_nothing",
        |_| {},
    )
    .await
    else {
        return;
    };
    let cases = [
        (
            json!({"owner": "x", "role": "root"}),
            "role must be one of: admin, user, device, verifier, monitor",
        ),
        (
            json!({"owner": "", "role": "user"}),
            "owner must be 1 to 128 characters without control characters",
        ),
        (
            json!({"owner": "a\u{0007}b", "role": "user"}),
            "owner must be 1 to 128 characters without control characters",
        ),
        (
            json!({"owner": "x", "role": "user", "expires_in": "soon"}),
            "expires_in must be a duration such as \"90d\" or \"12h\"",
        ),
        (
            json!({"owner": "x", "role": "user", "expires_in": "0s"}),
            "expires_in must be more than zero and at most ten years",
        ),
        (
            json!({"owner": "x", "role": "user", "metadata": {"blob": "y".repeat(5000)}}),
            "metadata must serialize to at most 4096 bytes",
        ),
    ];
    for (body, message) in cases {
        let response = app
            .post_json("/api/keys", Some(&app.admin_key), &body)
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
    let response = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({"owner": "x", "role": "user", "metadata": [1]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let listing: Value = app
        .get("/api/keys", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["keys"].as_array().unwrap().len(), 1);
}

async fn bad_list_queries_get_400(engine: Engine) {
    let Some(app) = spawn_on(engine, "bad_list_queries_get_400", |_| {}).await else {
        return;
    };
    for query in [
        "?limit=0",
        "?limit=1000",
        "?limit=abc",
        "?state=gone",
        "?cursor=-4",
        "?cursor=zz",
        "?role=root",
        "?sort=id",
    ] {
        let response = app
            .get(&format!("/api/keys{query}"), Some(&app.admin_key))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_hardened(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "Bad request", "{query}");
    }
}

async fn unknown_ids_and_path_tricks_are_404(engine: Engine) {
    let Some(app) = spawn_on(engine, "unknown_ids_and_path_tricks_are_404", |_| {}).await else {
        return;
    };
    for path in [
        "/api/keys/aaaaaaaaaaaa",
        "/api/keys/..%2F..%2Fetc%2Fpasswd",
        "/api/keys/%00",
        "/api/keys/AAAAAAAAAAAA",
        "/api/keys/aaaaaaaaaaaa/revoke",
    ] {
        let response = if path.ends_with("revoke") {
            app.post(path, Some(&app.admin_key)).await
        } else {
            app.get(path, Some(&app.admin_key)).await
        };
        assert_error(
            response,
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "The requested resource does not exist",
        )
        .await;
    }
    let response = app
        .post("/api/keys/ADMIN_API_KEY/revoke", Some(&app.admin_key))
        .await;
    assert_error(
        response,
        StatusCode::CONFLICT,
        "conflict",
        "Conflict",
        "environment keys cannot be changed through the API",
    )
    .await;
}

crate::on_each_engine!(
    a_created_key_is_shown_once_with_its_attributes,
    an_owner_can_hold_several_keys,
    listing_filters_by_owner_role_and_state_and_never_shows_secrets,
    listing_is_paginated_with_a_cursor,
    bad_create_requests_get_400_with_a_reason_and_create_nothing,
    bad_list_queries_get_400,
    unknown_ids_and_path_tricks_are_404,
);
