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
    alg: &'a str,
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
            // Any other header component: the test sends it with this value.
            other => format!("value of {other}"),
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
    params.push_str(&format!(";alg=\"{}\"", s.alg));
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
    for c in s.components {
        if !c.starts_with('@') && !["content-digest", "content-type"].contains(c) {
            headers.push(((*c).to_owned(), format!("value of {c}")));
        }
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
        "auth.signature",
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
        alg: "hmac-sha256",
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
        "auth.signature_required",
        "Signature required",
        "This route requires a signed request",
    )
    .await;
    assert_eq!(
        app.whoami(Some(&app.admin_key)).await.status(),
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

fn with_header(
    headers: &[(String, String)],
    name: &str,
    value: impl Into<String>,
) -> Vec<(String, String)> {
    let mut headers: Vec<_> = headers.iter().filter(|(n, _)| n != name).cloned().collect();
    headers.push((name.to_owned(), value.into()));
    headers
}

#[tokio::test]
async fn every_change_to_a_signed_request_is_refused() {
    let app = spawn_app_with(|s| s.auth.lockout_threshold = 1000).await;
    let session = app.login("admin", &app.admin_key).await;
    let covered = Signing {
        path: "/api/whoami?x=1",
        components: &["@method", "@target-uri", "x-covered"],
        ..base(&app, &session)
    };
    let signed = sign(&app, &covered);
    // Another query, method or Host than the one signed; a covered header changed.
    let mut other_query = Signing {
        path: "/api/whoami?x=2",
        ..base(&app, &session)
    };
    other_query.components = covered.components;
    assert_signature_refused(
        send(&app, &other_query, &signed, b"").await,
        "signature does not verify",
    )
    .await;
    // A GET of the key list, signed, sent as a POST to the same path.
    let list = Signing {
        path: "/api/keys",
        nonce: Some("m1"),
        ..base(&app, &session)
    };
    let post = Signing {
        method: Method::POST,
        ..base(&app, &session)
    };
    let post = Signing {
        path: "/api/keys",
        ..post
    };
    assert_signature_refused(
        send(&app, &post, &sign(&app, &list), b"").await,
        "signature does not verify",
    )
    .await;
    let host = with_header(&signed, "host", "evil.example");
    assert_signature_refused(
        send(&app, &covered, &host, b"").await,
        "signature does not verify",
    )
    .await;
    let changed = with_header(&signed, "x-covered", "something else");
    assert_signature_refused(
        send(&app, &covered, &changed, b"").await,
        "signature does not verify",
    )
    .await;
    // The signed request itself still works: each refusal above was the change.
    assert_eq!(
        send(&app, &covered, &signed, b"").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_signature_parameters_are_refused_by_name() {
    let app = spawn_app_with(|s| s.auth.lockout_threshold = 1000).await;
    let session = app.login("admin", &app.admin_key).await;
    let long_nonce = "n".repeat(129);
    let cases: Vec<(Signing<'_>, &str)> = vec![
        (
            Signing {
                components: &["@method", "@target-uri", "X-Upper"],
                nonce: Some("u1"),
                ..base(&app, &session)
            },
            "cannot derive covered component X-Upper",
        ),
        (
            Signing {
                components: &["@method", "@target-uri", "@method"],
                nonce: Some("u2"),
                ..base(&app, &session)
            },
            "malformed signature-input",
        ),
        (
            Signing {
                alg: "hmac-sha512",
                nonce: Some("u3"),
                ..base(&app, &session)
            },
            "unsupported signature algorithm",
        ),
        (
            Signing {
                nonce: Some(&long_nonce),
                ..base(&app, &session)
            },
            "malformed nonce",
        ),
        (
            Signing {
                components: &["@method", "@path"],
                nonce: Some("u4"),
                ..base(&app, &session)
            },
            "the signature must cover @target-uri (or @authority, @path and @query)",
        ),
        (
            Signing {
                keyid: "0123456789abcdef",
                nonce: Some("u5"),
                ..base(&app, &session)
            },
            "unknown or expired session",
        ),
    ];
    for (signing, message) in cases {
        assert_signature_refused(
            send(&app, &signing, &sign(&app, &signing), b"").await,
            message,
        )
        .await;
    }
    // A bogus first signature with a valid second one: the first is the one verified.
    let good = base(&app, &session);
    let headers = sign(&app, &good);
    let input = &headers[0].1;
    let signature = &headers[1].1;
    let bogus = vec![
        (
            "signature-input".to_owned(),
            format!(
                "sig0=(\"@method\" \"@target-uri\");created={};keyid=\"{}\";nonce=\"b\";alg=\"hmac-sha256\", {input}",
                app.clock.unix(),
                session.id
            ),
        ),
        (
            "signature".to_owned(),
            format!("sig0=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:, {signature}"),
        ),
    ];
    assert_signature_refused(
        send(&app, &good, &bogus, b"").await,
        "signature does not verify",
    )
    .await;
}

#[tokio::test]
async fn one_key_flooding_signed_requests_fills_only_its_own_share_of_the_nonce_cache() {
    let app = spawn_app_with(|s| {
        s.auth.replay_cache_capacity = 100;
        s.auth.replay_cache_per_key = 10;
    })
    .await;
    let greedy_key = app
        .create_key(json!({"owner": "greedy", "role": "user"}))
        .await;
    let honest_key = app
        .create_key(json!({"owner": "honest", "role": "user"}))
        .await;
    let greedy = app.login("greedy", &greedy_key.key).await;
    let honest = app.login("honest", &honest_key.key).await;
    for i in 0..10 {
        let nonce = format!("g{i}");
        let s = Signing {
            nonce: Some(&nonce),
            ..base(&app, &greedy)
        };
        assert_eq!(
            send(&app, &s, &sign(&app, &s), b"").await.status(),
            StatusCode::OK
        );
    }
    let s = Signing {
        nonce: Some("g-full"),
        ..base(&app, &greedy)
    };
    assert_signature_refused(
        send(&app, &s, &sign(&app, &s), b"").await,
        "too many signed requests in the window; retry shortly",
    )
    .await;
    let s = Signing {
        nonce: Some("h1"),
        ..base(&app, &honest)
    };
    assert_eq!(
        send(&app, &s, &sign(&app, &s), b"").await.status(),
        StatusCode::OK,
        "another key is not refused because one key filled its share"
    );
}

#[tokio::test]
async fn a_signed_request_over_the_keys_limit_spends_no_nonce_and_can_be_retried() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"owner": "slow", "role": "user", "rate": "2/min"}))
        .await;
    let session = app.login("slow", &key.key).await;
    let mut refused = Vec::new();
    for i in 0..6 {
        let nonce = format!("s{i}");
        let s = Signing {
            nonce: Some(&nonce),
            ..base(&app, &session)
        };
        let headers = sign(&app, &s);
        let response = send(&app, &s, &headers, b"").await;
        if i < 2 {
            assert_eq!(response.status(), StatusCode::OK);
        } else {
            assert_error_code(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
            refused.push(headers);
        }
    }
    // Once the key may send again, the refused request goes through as it was: the limit
    // came before its nonce was remembered.
    app.clock.advance(std::time::Duration::from_secs(30));
    let s = base(&app, &session);
    assert_eq!(
        send(&app, &s, &refused[0], b"").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_ended_session_in_a_signature_is_not_a_guess_but_an_unknown_one_is() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    app.client
        .post(app.url("/user/logout"))
        .header("Authorization", format!("Bearer {}", session.token))
        .send()
        .await
        .unwrap();
    // An honest client retrying after its session ended is never locked out.
    for i in 0..8 {
        let nonce = format!("e{i}");
        let s = Signing {
            nonce: Some(&nonce),
            ..base(&app, &session)
        };
        assert_signature_refused(
            send(&app, &s, &sign(&app, &s), b"").await,
            "unknown or expired session",
        )
        .await;
    }
    // Unknown session ids are guesses: the fifth locks the address out.
    for i in 0..5 {
        let nonce = format!("u{i}");
        let s = Signing {
            nonce: Some(&nonce),
            keyid: "zzzzzzzzzzzzzzzz",
            ..base(&app, &session)
        };
        assert_eq!(
            send(&app, &s, &sign(&app, &s), b"").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let s = Signing {
        nonce: Some("after"),
        ..base(&app, &session)
    };
    assert_error_code(
        send(&app, &s, &sign(&app, &s), b"").await,
        StatusCode::TOO_MANY_REQUESTS,
        "auth.locked_out",
    )
    .await;
}

#[tokio::test]
async fn unsigned_requests_to_a_signed_group_count_against_the_key_and_the_address() {
    let app = spawn_app_with(|s| {
        s.auth.signed_groups = vec!["identity".into()];
        s.limits.per_address = portcullis::limits::RateSpec::parse("4/min").unwrap();
    })
    .await;
    let key = app
        .create_key(json!({"owner": "user1", "role": "user", "rate": "3/min"}))
        .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let response = app.whoami(Some(&key.key)).await;
        codes.push(
            response.headers()["x-error-code"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        codes,
        [
            "auth.signature_required",
            "auth.signature_required",
            "auth.signature_required",
            "rate_limited",
            "rate_limited"
        ],
        "the key's limit counts refusals too"
    );
    // The address spent its share on the three refusals and a bad key: now it is limited.
    let other = app
        .create_key(json!({"owner": "user2", "role": "user"}))
        .await;
    assert_eq!(
        app.whoami(Some("pcl_aaaaaaaaaaaa_bad")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_error_code(
        app.whoami(Some(&other.key)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn token_hash_work_is_done_only_within_the_keys_and_the_addresses_limits() {
    use portcullis::auth::signature::token_hash::compute;
    let app = spawn_app_with(|s| {
        s.auth.lockout_threshold = 1000;
        // The login below spends one of these.
        s.limits.per_address = portcullis::limits::RateSpec::parse("4/min").unwrap();
    })
    .await;
    let key = app
        .create_key(json!({"owner": "user1", "role": "user", "rate": "10/min"}))
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
    // Three wrong hashes spend the address's budget...
    for _ in 0..3 {
        assert_signature_refused(
            get("00".repeat(64)).await.unwrap(),
            "signature does not verify",
        )
        .await;
    }
    // ...so even a right one is not hashed now.
    let right = compute(&session.token, b"", now);
    assert_error_code(
        get(right.clone()).await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;

    // And a key over its own limit is answered before any hashing: a wrong hash gets 429,
    // not 401.
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"owner": "user1", "role": "user", "rate": "2/min"}))
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
    for _ in 0..2 {
        assert_eq!(
            get(compute(&session.token, b"", now))
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    assert_error_code(
        get("00".repeat(64)).await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn signed_groups_can_accept_rfc_9421_only() {
    use portcullis::auth::signature::token_hash::compute;
    use portcullis::config::SignatureScheme;
    let app = spawn_app_with(|s| {
        s.auth.signed_groups = vec!["identity".into()];
        s.auth.signature_schemes = vec![SignatureScheme::Rfc9421];
    })
    .await;
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    let response = app
        .client
        .get(app.url("/api/whoami"))
        .header("X-Token", &key.key)
        .header(
            "X-Token-Hash",
            compute(&session.token, b"", app.clock.unix()),
        )
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "auth.signature_required",
        "Signature required",
        "This route requires an RFC 9421 signed request",
    )
    .await;
    let s = base(&app, &session);
    assert_eq!(
        send(&app, &s, &sign(&app, &s), b"").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn signatures_that_do_not_verify_count_towards_a_lockout() {
    use portcullis::auth::signature::token_hash::compute;
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let session = app.login("user1", &key.key).await;
    // Three RFC 9421 signatures under a wrong key and two wrong X-Token-Hash values: five
    // guesses, the threshold.
    for i in 0..3 {
        let nonce = format!("w{i}");
        let s = Signing {
            nonce: Some(&nonce),
            key: "pcs_not_the_session_token",
            ..base(&app, &session)
        };
        assert_signature_refused(
            send(&app, &s, &sign(&app, &s), b"").await,
            "signature does not verify",
        )
        .await;
    }
    for _ in 0..2 {
        let response = app
            .client
            .get(app.url("/api/whoami"))
            .header("X-Token", &key.key)
            .header(
                "X-Token-Hash",
                compute(&session.token, b"tampered", app.clock.unix()),
            )
            .send()
            .await
            .unwrap();
        assert_signature_refused(response, "signature does not verify").await;
    }
    // The address is locked out now, even for a correct request.
    let s = Signing {
        nonce: Some("right"),
        ..base(&app, &session)
    };
    assert_error_code(
        send(&app, &s, &sign(&app, &s), b"").await,
        StatusCode::TOO_MANY_REQUESTS,
        "auth.locked_out",
    )
    .await;
}
