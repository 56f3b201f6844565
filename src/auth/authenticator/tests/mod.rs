//! The authenticator decided on facts made by hand, with no web framework: the way a
//! forward-auth endpoint will call it. The store is real SQLite in a temporary directory; the
//! audit log writes each event before returning, so what it recorded can be read back.

use super::*;
use crate::audit::AuditLog;
use crate::auth::keys::{ChangedBy, CreateKey, KeyManager};
use crate::auth::lockout::LockoutPolicy;
use crate::auth::signature::SignatureError;
use crate::auth::{EnvKeys, Role, SessionKey};
use crate::clock::{Clock, ManualClock};
use crate::config::{AuthSettings, LimitSettings};
use crate::secret::SecretKey;
use crate::store::{AuditFilter, OwnerKind, SqliteStore, Store};
use http::{HeaderMap, HeaderValue, Method, Uri};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use zeroize::Zeroizing;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    keys: KeyManager,
    authn: Authenticator,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
    let settings = AuthSettings::default();
    let verifier = Arc::new(KeyVerifier::new(
        Arc::clone(&store),
        Arc::clone(&clock),
        EnvKeys::none(),
        &settings,
    ));
    let keys = KeyManager::new(
        Arc::clone(&store),
        Arc::clone(&clock),
        Some(verifier.clone()),
    );
    let sessions = SessionManager::new(
        Arc::clone(&store),
        Arc::clone(&clock),
        Arc::clone(&verifier),
        SessionKey::new(Zeroizing::new([7; 32])),
        Duration::from_secs(3600),
        true,
        crate::auth::session_cache::SessionCache::new(1000, Duration::from_secs(1)),
    );
    let limits = LimitSettings::default();
    let authn = Authenticator {
        verifier,
        sessions,
        lockout: Arc::new(Lockout::new(
            LockoutPolicy {
                threshold: 5,
                window: Duration::from_secs(900),
                base: Duration::from_secs(30),
                max: Duration::from_secs(3600),
                capacity: 100,
            },
            Arc::clone(&clock),
        )),
        replay: ReplayCache::new(1000, 100, Duration::from_secs(61)),
        audit: AuditLog::direct(
            Arc::clone(&store),
            Arc::clone(&clock),
            SecretKey::new(Zeroizing::new([9; 32])),
            None,
        ),
        policy: AuthnPolicy {
            window: 30,
            signed_groups: Vec::new(),
            session_bearer: true,
            session_cookie: true,
            scheme: "http",
            token_hash_signs: true,
        },
        limiter: Arc::new(Limiter::memory(1000, Arc::clone(&clock))),
        rates: RatePolicy {
            roles: limits.roles.clone(),
            per_address: limits.per_address,
            verify_misses: limits.verify_misses,
            groups: limits.groups.clone(),
            enabled: limits.enabled,
        },
    };
    Fixture {
        _dir: dir,
        store,
        keys,
        authn,
    }
}

async fn key(fixture: &Fixture, role: &str) -> String {
    let issued = fixture
        .keys
        .create(
            CreateKey {
                owner: "alice".into(),
                owner_kind: OwnerKind::User,
                role: role.into(),
                label: None,
                expires_in: None,
                metadata: None,
                rate: None,
                quota: None,
            },
            ChangedBy::Unrecorded,
        )
        .await
        .unwrap();
    issued.token.expose().to_owned()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// Facts as a forward-auth endpoint would make them: the forwarded method and target, no
/// matched route of ours.
fn facts<'a>(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> RequestFacts<'a> {
    RequestFacts {
        method,
        uri,
        headers,
        scheme: Some("https"),
        client: Some(CLIENT),
        route: Some("/upstream/**"),
    }
}

/// A request whose body is known to be empty.
struct Empty;

impl RequestBody for Empty {
    async fn read(&mut self) -> Result<bytes::Bytes, BodyError> {
        Ok(bytes::Bytes::new())
    }
}

async fn events(fixture: &Fixture, kind: &str) -> Vec<crate::store::AuditRecord> {
    fixture
        .store
        .audit_events(&AuditFilter {
            kind: Some(kind.to_owned()),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_key_in_hand_made_facts_is_admitted_with_its_principal_and_rate_state() {
    let fixture = fixture().await;
    let key = key(&fixture, "user").await;
    let (method, uri) = (Method::GET, Uri::from_static("/route1/items?page=2"));
    let headers = headers(&[("x-api-key", &key)]);

    let admitted = fixture
        .authn
        .authorize(
            &facts(&method, &uri, &headers),
            &mut NoBody,
            "identity",
            Permission::IdentityRead,
        )
        .await
        .unwrap();

    assert_eq!(admitted.principal.owner, "alice");
    assert_eq!(admitted.principal.role, Role::User);
    assert_eq!(admitted.principal.method, AuthMethod::ApiKey);
    let rate = admitted.rate.unwrap();
    assert_eq!(rate.name, "key");
    assert_eq!(rate.decision.remaining, rate.spec.burst - 1);
}

#[tokio::test]
async fn a_role_without_the_permission_is_denied_naming_the_least_role_and_audited() {
    let fixture = fixture().await;
    let key = key(&fixture, "user").await;
    let (method, uri) = (Method::POST, Uri::from_static("/admin/reindex"));
    let headers = headers(&[("authorization", &format!("Bearer {key}"))]);

    let denied = fixture
        .authn
        .authorize(
            &facts(&method, &uri, &headers),
            &mut NoBody,
            "keys",
            Permission::KeysManage,
        )
        .await
        .unwrap_err();

    assert!(matches!(denied.denial, Denial::Forbidden(Role::Admin)));
    let caller = denied.caller.unwrap();
    assert_eq!(caller.owner, "alice");
    let recorded = events(&fixture, "permission.denied").await;
    assert_eq!(recorded.len(), 1);
    let event = &recorded[0].event;
    assert_eq!(event.route.as_deref(), Some("/upstream/**"));
    assert_eq!(event.client.as_deref(), Some("192.0.2.7"));
    assert_eq!(event.key_id.as_deref(), Some(caller.key_id.as_str()));
    assert_eq!(event.extra["permission"], "keys.manage");
}

#[tokio::test]
async fn a_body_covering_credential_without_the_body_is_refused_not_admitted() {
    let fixture = fixture().await;
    let key = key(&fixture, "user").await;
    let (method, uri) = (Method::POST, Uri::from_static("/test"));
    let headers = headers(&[("x-token", &key), ("x-token-hash", &"0".repeat(128))]);

    let denied = fixture
        .authn
        .authenticate(&facts(&method, &uri, &headers), &mut NoBody, "identity")
        .await
        .unwrap_err();

    assert!(matches!(
        denied.denial,
        Denial::Body(BodyError::Unavailable)
    ));
    assert!(events(&fixture, "signature.failure").await.is_empty());
}

#[tokio::test]
async fn a_refused_key_is_recorded_with_its_public_id_and_a_second_credential_never_rescues_it() {
    let fixture = fixture().await;
    let good = key(&fixture, "admin").await;
    let mut wrong = good.clone();
    // Same id and checksum shape, other secret: the checksum fails, which is a guess.
    wrong.replace_range(20..21, if &good[20..21] == "a" { "b" } else { "a" });
    let (method, uri) = (Method::GET, Uri::from_static("/anything"));
    let headers = headers(&[("x-api-key", &wrong)]);

    let denied = fixture
        .authn
        .authenticate(&facts(&method, &uri, &headers), &mut NoBody, "identity")
        .await
        .unwrap_err();

    assert!(matches!(denied.denial, Denial::Unauthenticated));
    let recorded = events(&fixture, "auth.failure").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].event.key_id.as_deref(), Some(&good[4..16]));
    assert_eq!(recorded[0].event.extra["reason"], "bad_checksum");

    let both = headers_of_both(&good);
    let denied = fixture
        .authn
        .authenticate(&facts(&method, &uri, &both), &mut NoBody, "identity")
        .await
        .unwrap_err();
    assert!(matches!(denied.denial, Denial::Unauthenticated));
}

fn headers_of_both(key: &str) -> HeaderMap {
    headers(&[
        ("x-api-key", key),
        ("authorization", &format!("Bearer {key}")),
    ])
}

#[tokio::test]
async fn a_cookie_request_that_changes_state_needs_its_sessions_csrf_token() {
    let fixture = fixture().await;
    let key = key(&fixture, "user").await;
    let login = fixture
        .authn
        .login(Some(CLIENT), Some("/user/login"), "alice", &key)
        .await
        .unwrap();
    let cookie = format!("{SESSION_COOKIE}={}", login.token.expose());
    let uri = Uri::from_static("/api/whoami");
    let (get, post) = (Method::GET, Method::POST);
    let without = headers(&[("cookie", &cookie)]);
    let with = headers(&[("cookie", &cookie), (CSRF_HEADER, login.csrf.expose())]);

    let read = fixture
        .authn
        .authenticate(&facts(&get, &uri, &without), &mut NoBody, "identity")
        .await;
    let forged = fixture
        .authn
        .authenticate(&facts(&post, &uri, &without), &mut NoBody, "identity")
        .await;
    let honest = fixture
        .authn
        .authenticate(&facts(&post, &uri, &with), &mut NoBody, "identity")
        .await;

    assert_eq!(read.unwrap().principal.method, AuthMethod::SessionCookie);
    assert!(matches!(forged.unwrap_err().denial, Denial::Csrf));
    assert_eq!(
        honest.unwrap().principal.session_id.as_deref(),
        Some(login.record.id.as_str())
    );
}

#[tokio::test]
async fn a_signature_is_checked_against_the_target_in_the_facts() {
    let fixture = fixture().await;
    let key = key(&fixture, "user").await;
    let login = fixture
        .authn
        .login(Some(CLIENT), None, "alice", &key)
        .await
        .unwrap();
    let now = fixture.authn.sessions.now();
    let input = format!(
        r#"sig1=("@method" "@target-uri");created={now};keyid="{}";nonce="n1";alg="hmac-sha256""#,
        login.record.id
    );
    let base = format!(
        "\"@method\": GET\n\"@target-uri\": https://app.example/route1\n\"@signature-params\": {}",
        &input["sig1=".len()..]
    );
    let mac = {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(login.token.expose().as_bytes())
                .unwrap();
        mac.update(base.as_bytes());
        mac.finalize().into_bytes()
    };
    let signature = format!("sig1=:{}:", crate::auth::signature::rfc9421::encode(&mac));
    let signed = headers(&[
        ("host", "app.example"),
        ("signature-input", &input),
        ("signature", &signature),
    ]);
    let method = Method::GET;

    let elsewhere = Uri::from_static("/route2");
    let moved = fixture
        .authn
        .authenticate(&facts(&method, &elsewhere, &signed), &mut Empty, "identity")
        .await;
    let target = Uri::from_static("/route1");
    let right = fixture
        .authn
        .authenticate(&facts(&method, &target, &signed), &mut Empty, "identity")
        .await;

    let moved = moved.unwrap_err().denial;
    assert!(
        matches!(moved, Denial::Signature(SignatureError::Invalid)),
        "{moved:?}"
    );
    assert_eq!(right.unwrap().principal.method, AuthMethod::Signature);
}

mod session_cache;
