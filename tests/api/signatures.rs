//! Signed requests: RFC 9421 (recommended) and seed 001's X-Token-Hash. Python's
//! `http-message-signatures` signs requests against the real server in
//! `tests/interop/signatures.py`, run by `.ci/run`; these tests cover every refusal.

use crate::helpers::*;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use portcullis::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

struct Signing<'a> {
    method: Method,
    path: &'a str,
    body: &'a [u8],
    components: &'a [&'a str],
    created: i64,
    nonce: Option<&'a str>,
    keyid: &'a str,
    key: &'a str,
    digest: Option<String>,
}

fn digest_of(body: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
    )
}

/// Sign as RFC 9421 §2.5 describes; returns the headers to add.
fn sign(app: &TestApp, s: &Signing<'_>) -> Vec<(String, String)> {
    let authority = app.address.trim_start_matches("http://").to_owned();
    let digest = s.digest.clone().unwrap_or_else(|| digest_of(s.body));
    let mut base = String::new();
    for c in s.components {
        let value = match *c {
            "@method" => s.method.as_str().to_owned(),
            "@target-uri" => format!("http://{authority}{}", s.path),
            "@authority" => authority.clone(),
            "@path" => s.path.split('?').next().unwrap().to_owned(),
            "@query" => format!("?{}", s.path.split_once('?').map(|(_, q)| q).unwrap_or("")),
            "content-digest" => digest.clone(),
            "content-type" => "application/json".to_owned(),
            other => panic!("{other}"),
        };
        base.push_str(&format!("\"{c}\": {value}\n"));
    }
    let list = s
        .components
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut params = format!("({list});created={};keyid=\"{}\"", s.created, s.keyid);
    if let Some(nonce) = s.nonce {
        params.push_str(&format!(";nonce=\"{nonce}\""));
    }
    params.push_str(";alg=\"hmac-sha256\"");
    base.push_str(&format!("\"@signature-params\": {params}"));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(s.key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut headers = vec![
        ("signature-input".to_owned(), format!("sig1={params}")),
        ("signature".to_owned(), format!("sig1=:{signature}:")),
    ];
    if !s.body.is_empty() || s.digest.is_some() {
        headers.push(("content-digest".to_owned(), digest));
    }
    headers
}

async fn send(
    app: &TestApp,
    s: &Signing<'_>,
    headers: &[(String, String)],
    body: &[u8],
) -> reqwest::Response {
    let mut request = app
        .client
        .request(s.method.clone(), app.url(s.path))
        .body(body.to_vec());
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

async fn assert_signature_refused(response: reqwest::Response, message: &str) {
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "Invalid signature",
        message,
    )
    .await;
}

fn base<'a>(app: &TestApp, session: &'a Session) -> Signing<'a> {
    Signing {
        method: Method::GET,
        path: "/api/whoami",
        body: b"",
        components: &["@method", "@target-uri"],
        created: app.clock.unix(),
        nonce: Some("n-1"),
        keyid: &session.id,
        key: &session.token,
        digest: None,
    }
}

#[tokio::test]
async fn a_signed_request_from_a_live_session_needs_no_other_credential() {
    let app = spawn_app().await;
    let session = app.login("admin", &app.admin_key).await;
    let s = base(&app, &session);
    let response = send(&app, &s, &sign(&app, &s), b"").await;
    assert_eq!(response.status(), StatusCode::OK);
    let who: Value = response.json().await.unwrap();
    assert_eq!(who["owner"], "admin");

    let body = br#"{"owner":"signed","role":"user"}"#;
    let s = Signing {
        method: Method::POST,
        path: "/api/keys",
        body,
        components: &[
            "@method",
            "@path",
            "@query",
            "@authority",
            "content-digest",
            "content-type",
        ],
        nonce: Some("n-2"),
        ..base(&app, &session)
    };
    let response = send(&app, &s, &sign(&app, &s), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_replayed_signature_is_refused() {
    let app = spawn_app().await;
    let session = app.login("admin", &app.admin_key).await;
    let s = base(&app, &session);
    let headers = sign(&app, &s);
    assert_eq!(send(&app, &s, &headers, b"").await.status(), StatusCode::OK);
    assert_signature_refused(send(&app, &s, &headers, b"").await, "nonce already used").await;
}

#[tokio::test]
async fn stale_and_future_signatures_are_refused() {
    let app = spawn_app().await;
    let session = app.login("admin", &app.admin_key).await;
    let now = app.clock.unix();
    for (created, nonce) in [(now - 31, "a"), (now + 31, "b")] {
        let s = Signing {
            created,
            nonce: Some(nonce),
            ..base(&app, &session)
        };
        assert_signature_refused(
            send(&app, &s, &sign(&app, &s), b"").await,
            "signature is stale or from the future",
        )
        .await;
    }
    let s = Signing {
        created: now - 30,
        nonce: Some("c"),
        ..base(&app, &session)
    };
    assert_eq!(
        send(&app, &s, &sign(&app, &s), b"").await.status(),
        StatusCode::OK,
        "the window edge is inside"
    );
}

#[tokio::test]
async fn a_body_that_does_not_match_its_digest_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let session = app.login("admin", &app.admin_key).await;
    let signed_body = br#"{"owner":"a","role":"user"}"#;
    let s = Signing {
        method: Method::POST,
        path: "/api/keys",
        body: signed_body,
        components: &["@method", "@target-uri", "content-digest"],
        ..base(&app, &session)
    };
    let headers = sign(&app, &s);
    let response = send(&app, &s, &headers, br#"{"owner":"a","role":"admin"}"#).await;
    assert_signature_refused(response, "content-digest does not match the body").await;
    let listing: Value = app
        .get("/api/keys?owner=a", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["keys"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn each_missing_piece_is_named() {
    let app = spawn_app().await;
    let session = app.login("admin", &app.admin_key).await;
    let body = br#"{"owner":"a","role":"user"}"#;
    let post = Signing {
        method: Method::POST,
        path: "/api/keys",
        body,
        components: &["@method", "@target-uri"],
        ..base(&app, &session)
    };
    // A body whose digest is sent but not covered.
    assert_signature_refused(
        send(&app, &post, &sign(&app, &post), body).await,
        "the signature must cover content-digest",
    )
    .await;
    // A body with no digest at all.
    let headers: Vec<_> = sign(&app, &post)
        .into_iter()
        .filter(|(n, _)| n != "content-digest")
        .collect();
    assert_signature_refused(
        send(&app, &post, &headers, body).await,
        "content-digest is required for a request with a body",
    )
    .await;
    let s = Signing {
        nonce: None,
        ..base(&app, &session)
    };
    assert_signature_refused(
        send(&app, &s, &sign(&app, &s), b"").await,
        "signature parameter `nonce` is required",
    )
    .await;
    let s = Signing {
        components: &["@target-uri"],
        nonce: Some("x1"),
        ..base(&app, &session)
    };
    assert_signature_refused(
        send(&app, &s, &sign(&app, &s), b"").await,
        "the signature must cover @method",
    )
    .await;
    let s = Signing {
        components: &["@method", "@authority"],
        nonce: Some("x2"),
        ..base(&app, &session)
    };
    assert_signature_refused(
        send(&app, &s, &sign(&app, &s), b"").await,
        "the signature must cover @target-uri (or @authority, @path and @query)",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_key_or_an_ended_session_is_refused() {
    let app = spawn_app().await;
    let session = app.login("admin", &app.admin_key).await;
    let s = Signing {
        key: "pcs_wrong",
        ..base(&app, &session)
    };
    assert_signature_refused(
        send(&app, &s, &sign(&app, &s), b"").await,
        "signature does not verify",
    )
    .await;
    let s = Signing {
        keyid: "zzzzzzzzzzzzzzzz",
        nonce: Some("n2"),
        ..base(&app, &session)
    };
    assert_signature_refused(
        send(&app, &s, &sign(&app, &s), b"").await,
        "unknown or expired session",
    )
    .await;
    app.client
        .post(app.url("/user/logout"))
        .header("Authorization", format!("Bearer {}", session.token))
        .send()
        .await
        .unwrap();
    let s = Signing {
        nonce: Some("n3"),
        ..base(&app, &session)
    };
    assert_signature_refused(
        send(&app, &s, &sign(&app, &s), b"").await,
        "unknown or expired session",
    )
    .await;
    let failures = app.wait_for_audit("signature.failure", 3).await;
    let reasons: Vec<&str> = failures
        .iter()
        .map(|e| e["extra"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["invalid", "unknown_session", "session_ended"]);
}

#[tokio::test]
async fn a_route_group_can_require_signatures() {
    let app = spawn_app_with(|s| s.auth.signed_groups = vec!["keys".into()]).await;
    let response = app.get("/api/keys", Some(&app.admin_key)).await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "Signature required",
        "This route requires a signed request",
    )
    .await;
    assert_eq!(
        app.get("/api/whoami", Some(&app.admin_key)).await.status(),
        StatusCode::OK,
        "other groups are unaffected"
    );
    let session = app.login("admin", &app.admin_key).await;
    let s = Signing {
        path: "/api/keys",
        ..base(&app, &session)
    };
    assert_eq!(
        send(&app, &s, &sign(&app, &s), b"").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn seed_001_token_hash_requests_are_accepted_within_the_window() {
    use portcullis::auth::signature::token_hash::compute;
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    let now = app.clock.unix();
    let get = |hash: String| {
        app.client
            .get(app.url("/api/whoami"))
            .header("X-Token", &key.key)
            .header("X-Token-Hash", hash)
            .send()
    };
    let response = get(compute(&session.token, b"", now)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["owner"], "user1");
    assert_eq!(
        get(compute(&session.token, b"", now - 30))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_signature_refused(
        get(compute(&session.token, b"", now - 31)).await.unwrap(),
        "signature does not verify",
    )
    .await;
    assert_signature_refused(
        get(compute(&session.token, b"x", now)).await.unwrap(),
        "signature does not verify",
    )
    .await;
    // After logout there is no session to sign with.
    app.client
        .post(app.url("/user/logout"))
        .header("Authorization", format!("Bearer {}", session.token))
        .send()
        .await
        .unwrap();
    assert_signature_refused(
        get(compute(&session.token, b"", now)).await.unwrap(),
        "unknown or expired session",
    )
    .await;
}
