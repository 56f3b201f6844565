//! Rate limits and quotas: one suite run against the in-memory backend and against Redis
//! (`PORTCULLIS_TEST_REDIS_URL`; when unset the Redis half says so on stderr and passes).

use crate::backends::{Backend, OnBackend, on, require_redis};
use crate::helpers::*;
use portcullis::auth::EnvKeys;
use portcullis::config::Settings;
use portcullis::limits::RateSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn rate(text: &str) -> RateSpec {
    RateSpec::parse(text).unwrap()
}

/// An app on `backend`, or `None` (after saying so) when Redis is not configured.
async fn app_on(
    backend: Backend,
    test: &str,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    Some(app_with_env(&on(backend, test)?, EnvKeys::none(), configure).await)
}

async fn app_with_env(
    run: &OnBackend,
    env: EnvKeys,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let run = run.clone();
    spawn_app_full(
        move |s| {
            run.apply(s);
            s.auth.lockout_threshold = 1000;
            configure(s);
        },
        env,
    )
    .await
}

crate::on_each_backend!(
    a_key_over_its_rate_gets_429_with_retry_after_and_ratelimit_headers,
    the_role_default_applies_to_keys_without_their_own_rate,
    failed_authentication_counts_against_the_address,
    a_route_group_limit_applies_per_address_on_login,
    a_quota_counts_down_to_429_and_refills_the_next_day,
    forwarded_addresses_count_only_through_trusted_proxies,
);

async fn a_key_over_its_rate_gets_429_with_retry_after_and_ratelimit_headers(backend: Backend) {
    let Some(run) = on(backend, "key rate limit") else {
        return;
    };
    let app = app_with_env(&run, EnvKeys::none(), |_| {}).await;
    let limited = app
        .create_key(json!({"owner": "App 1", "role": "user", "rate": "3/min"}))
        .await;
    let other = app
        .create_key(json!({"owner": "App 2", "role": "user"}))
        .await;
    for remaining in [2, 1, 0] {
        let response = app.whoami(Some(&limited.key)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-policy"], "\"key\";q=3;w=60");
        assert_eq!(
            response.headers()["ratelimit"].to_str().unwrap(),
            format!("\"key\";r={remaining};t={}", 20 * (3 - remaining))
        );
    }
    let response = app.whoami(Some(&limited.key)).await;
    assert_eq!(response.headers()["retry-after"], "20");
    assert_eq!(response.headers()["ratelimit"], "\"key\";r=0;t=60");
    assert_eq!(response.headers()["x-error-code"], "rate_limited");
    assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
        "Rate limit exceeded; retry later",
    )
    .await;
    // The buckets are where the backend says: in Redis on the Redis run.
    let in_redis = run.redis_keys("key:*").await;
    assert_eq!(
        in_redis.len(),
        if backend == Backend::Redis { 2 } else { 0 },
        "{in_redis:?}"
    );
    // Another caller is untouched (seed 003: throttle one caller, not the others).
    assert_eq!(app.whoami(Some(&other.key)).await.status(), StatusCode::OK);
    app.clock.advance(Duration::from_secs(20));
    assert_eq!(
        app.whoami(Some(&limited.key)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.whoami(Some(&limited.key)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn the_role_default_applies_to_keys_without_their_own_rate(backend: Backend) {
    let Some(app) = app_on(backend, "role default rate", |s| {
        s.limits.roles.device = rate("2/min")
    })
    .await
    else {
        return;
    };
    let device = app.key_with_role("device").await;
    let user = app.key_with_role("user").await;
    assert_eq!(app.whoami(Some(&device.key)).await.status(), StatusCode::OK);
    assert_eq!(app.whoami(Some(&device.key)).await.status(), StatusCode::OK);
    assert_eq!(
        app.whoami(Some(&device.key)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.whoami(Some(&user.key)).await.status(), StatusCode::OK);
    // A key's own rate overrides its role's.
    let response = app
        .post_json(
            &format!("/api/keys/{}/limits", device.id),
            Some(&app.admin_key),
            &json!({"rate": "100/min"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["rate_limit"],
        "100/min"
    );
    assert_eq!(app.whoami(Some(&device.key)).await.status(), StatusCode::OK);
}

async fn failed_authentication_counts_against_the_address(backend: Backend) {
    let Some(app) = app_on(backend, "address limit", |s| {
        s.limits.per_address = rate("3/min")
    })
    .await
    else {
        return;
    };
    for _ in 0..3 {
        assert_401(app.whoami(Some("pcl_aaaaaaaaaaaa_nope")).await).await;
    }
    let response = app.whoami(Some("pcl_aaaaaaaaaaaa_nope")).await;
    assert_eq!(response.headers()["retry-after"], "20");
    assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
        "Rate limit exceeded; retry later",
    )
    .await;
    // A valid key is limited by key, not by address.
    assert_eq!(
        app.whoami(Some(&app.admin_key)).await.status(),
        StatusCode::OK
    );
}

async fn a_route_group_limit_applies_per_address_on_login(backend: Backend) {
    let Some(app) = app_on(backend, "route group limit", |s| {
        s.limits.groups.insert("login".into(), rate("2/min"));
    })
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let body = json!({"username": "user1", "key": key.key});
    let login = || app.post_json("/user/login", None, &body);
    let first = login().await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["ratelimit-policy"], "\"login\";q=2;w=60");
    assert_eq!(login().await.status(), StatusCode::OK);
    let third = login().await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.headers()["retry-after"], "30");
}

async fn a_quota_counts_down_to_429_and_refills_the_next_day(backend: Backend) {
    let Some(app) = app_on(backend, "quota", |_| {}).await else {
        return;
    };
    let key = app
        .create_key(
            json!({"owner": "App 1", "role": "user", "quota": {"limit": 2, "refill": "daily"}}),
        )
        .await;
    assert_eq!(key.body["quota"]["remaining"], 2);
    let who: Value = app.whoami(Some(&key.key)).await.json().await.unwrap();
    assert_eq!(who["quota"]["remaining"], 1);
    assert_eq!(who["quota"]["limit"], 2);
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
    let response = app.whoami(Some(&key.key)).await;
    let resets_at = who["quota"]["resets_at"].as_str().unwrap().to_owned();
    assert!(resets_at.ends_with("T00:00:00Z"), "{resets_at}");
    assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exhausted",
        "Quota exhausted",
        &format!("This key has used its quota; it refills at {resets_at}",),
    )
    .await;
    let shown: Value = app
        .get(&format!("/api/keys/{}", key.id), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["quota"]["remaining"], 0);
    app.clock.advance(Duration::from_secs(86_400));
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
    // Setting a quota again starts a fresh count.
    let response = app
        .post_json(
            &format!("/api/keys/{}/limits", key.id),
            Some(&app.admin_key),
            &json!({"quota": {"limit": 1}}),
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["quota"],
        json!({"limit": 1, "refill": "never", "remaining": 1, "resets_at": null})
    );
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
    let response = app.whoami(Some(&key.key)).await;
    assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exhausted",
        "Quota exhausted",
        "This key has used its quota",
    )
    .await;
}

async fn forwarded_addresses_count_only_through_trusted_proxies(backend: Backend) {
    let Some(app) = app_on(backend, "trusted proxies", |s| {
        s.limits.per_address = rate("2/min");
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let bad = |xff: &'static str| {
        app.client
            .get(app.url("/api/whoami"))
            .header("X-API-Key", "nope-nope-nope")
            .header("X-Forwarded-For", xff)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            bad("203.0.113.1").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        bad("203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own budget.
    assert_eq!(
        bad("203.0.113.2").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // A client spoofing an extra hop is still counted by the right-most untrusted entry.
    assert_eq!(
        bad("198.51.100.7, 203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_proxy_written_in_ipv4_mapped_form_is_trusted_and_ipv6_clients_count_per_64() {
    let app = spawn_app_with(|s| {
        s.limits.per_address = rate("2/min");
        s.auth.lockout_threshold = 1000;
        s.server.trusted_proxies = vec!["::ffff:127.0.0.1".into()];
    })
    .await;
    let bad = |xff: &'static str| {
        app.client
            .get(app.url("/api/whoami"))
            .header("X-API-Key", "nope-nope-nope")
            .header("X-Forwarded-For", xff)
            .send()
    };
    let statuses = |xffs: [&'static str; 4]| async move {
        let mut out = Vec::new();
        for xff in xffs {
            out.push(bad(xff).await.unwrap().status().as_u16());
        }
        out
    };
    // Believed: each forwarded client has its own budget.
    assert_eq!(
        statuses(["203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2"]).await,
        [401, 401, 429, 401]
    );
    // One IPv6 /64 is one client; the next /64 is another.
    assert_eq!(
        statuses([
            "2001:db8::1",
            "2001:db8::ffff:2",
            "2001:db8::3",
            "2001:db8:0:1::1"
        ])
        .await,
        [401, 401, 429, 401]
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(|s| {
        s.limits.per_address = rate("2/min");
        s.auth.lockout_threshold = 1000;
    })
    .await;
    for (i, expected) in [
        StatusCode::UNAUTHORIZED,
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
    ]
    .into_iter()
    .enumerate()
    {
        // A fresh spoofed address each time does not buy a fresh budget.
        let response = app
            .client
            .get(app.url("/api/whoami"))
            .header("X-API-Key", "nope-nope-nope")
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
}

#[tokio::test]
async fn two_nodes_on_one_redis_share_the_limit() {
    let Some(run) = on(Backend::Redis, "two nodes share the limit") else {
        return;
    };
    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let env = || EnvKeys::from_lookup(|n| (n == "ADMIN_API_KEY").then(|| KEY.to_owned())).unwrap();
    let configure = |s: &mut Settings| s.limits.roles.admin = rate("4/min");
    let a = app_with_env(&run, env(), configure).await;
    let b = app_with_env(&run, env(), configure).await;
    for node in [&a, &b, &a, &b] {
        assert_eq!(node.whoami(Some(KEY)).await.status(), StatusCode::OK);
    }
    assert_eq!(
        a.whoami(Some(KEY)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        b.whoami(Some(KEY)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn an_unreachable_redis_fails_open_to_local_limits_and_says_so() {
    let app = spawn_app_with(|s| {
        s.storage.redis_url = Some("redis://127.0.0.1:1".into());
        s.limits.redis_timeout = Duration::from_millis(200);
    })
    .await;
    // True from the start: Redis was asked at start, before any limited request.
    let health: Value = app.healthz().await.json().await.unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "redis": "unreachable", "rate_limits": "local"})
    );
    let key = app
        .create_key(json!({"owner": "App 1", "role": "user", "rate": "2/min"}))
        .await;
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
    assert_eq!(app.whoami(Some(&key.key)).await.status(), StatusCode::OK);
    assert_eq!(
        app.whoami(Some(&key.key)).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "local limits still apply"
    );
    // Reported at once: health reads the limiter's state, not a cache.
    let health: Value = app.healthz().await.json().await.unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "redis": "unreachable", "rate_limits": "local"})
    );
}

#[tokio::test]
async fn an_unreachable_redis_with_fail_closed_refuses_with_503() {
    let app = spawn_app_with(|s| {
        s.storage.redis_url = Some("redis://127.0.0.1:1".into());
        s.limits.redis_timeout = Duration::from_millis(200);
        s.limits.redis_failure = portcullis::config::RedisFailure::Closed;
    })
    .await;
    let health: Value = app.healthz().await.json().await.unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "redis": "unreachable", "rate_limits": "unavailable"})
    );
    let response = app.whoami(Some(&app.admin_key)).await;
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service unavailable",
        "Rate limits cannot be checked right now; retry shortly",
    )
    .await;
}

#[tokio::test]
async fn bad_limits_are_refused_with_400() {
    let app = spawn_app().await;
    let key = app.key_with_role("user").await;
    for (body, message) in [
        (
            json!({"rate": "lots"}),
            "rate: `lots` is not a rate such as \"100/min\", \"10/s burst 20\" or \"5000/day\"",
        ),
        (
            json!({"quota": {"limit": 0}}),
            "quota.limit must be between 1 and 10^12",
        ),
    ] {
        let response = app
            .post_json(
                &format!("/api/keys/{}/limits", key.id),
                Some(&app.admin_key),
                &body,
            )
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
            &format!("/api/keys/{}/limits", key.id),
            Some(&app.admin_key),
            &json!({"quota": {"limit": 5, "refill": "hourly"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({"owner": "x", "role": "user", "rate": "0/s"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn signature_nonces_are_shared_between_nodes_through_redis() {
    let Some(url) = require_redis("shared nonces") else {
        return;
    };
    let (a, b, _, _) = redis_nodes(&url);
    let ttl = Duration::from_secs(61);
    assert_eq!(a.remember_once("nonce:s1:n1", ttl).await, Ok(Some(true)));
    assert_eq!(
        b.remember_once("nonce:s1:n1", ttl).await,
        Ok(Some(false)),
        "replayed on another node"
    );
    assert_eq!(b.remember_once("nonce:s1:n2", ttl).await, Ok(Some(true)));
}

#[tokio::test]
async fn a_replayed_signature_is_refused_with_nonces_in_redis() {
    let Some(app) = app_on(Backend::Redis, "replay through redis", |_| {}).await else {
        return;
    };
    let session = app.login("admin", &app.admin_key).await;
    let created = portcullis::clock::Clock::unix(&*app.clock);
    let authority = app.address.trim_start_matches("http://").to_owned();
    let params = format!(
        "(\"@method\" \"@target-uri\");created={created};keyid=\"{}\";nonce=\"r1\";alg=\"hmac-sha256\"",
        session.id
    );
    let base = format!(
        "\"@method\": GET\n\"@target-uri\": http://{authority}/api/whoami\n\"@signature-params\": {params}"
    );
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(session.token.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let send = || {
        app.client
            .get(app.url("/api/whoami"))
            .header("signature-input", format!("sig1={params}"))
            .header("signature", format!("sig1=:{signature}:"))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), StatusCode::OK);
    assert_error(
        send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "auth.signature",
        "Invalid signature",
        "nonce already used",
    )
    .await;
}

#[tokio::test]
async fn a_redis_that_answers_is_reported_shared_from_the_start() {
    let Some(url) = crate::backends::require_redis("a_redis_that_answers_is_reported_shared")
    else {
        return;
    };
    let app = spawn_app_with(|s| s.storage.redis_url = Some(url)).await;
    let health: Value = app.healthz().await.json().await.unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "redis": "ok", "rate_limits": "shared"})
    );
}

/// Two limiter nodes on one Redis prefix, with a clock that only moves when told to.
fn redis_nodes(
    url: &str,
) -> (
    portcullis::limits::Limiter,
    portcullis::limits::Limiter,
    std::sync::Arc<portcullis::clock::ManualClock>,
    String,
) {
    use portcullis::limits::Limiter;
    let prefix = format!("pctest:{}:", uuid::Uuid::new_v4().simple());
    let clock = std::sync::Arc::new(portcullis::clock::ManualClock::new());
    let node = || {
        Limiter::redis(
            url,
            &prefix,
            Duration::from_millis(500),
            false,
            100,
            clock.clone(),
        )
        .unwrap()
    };
    (node(), node(), clock, prefix)
}

mod leases;
