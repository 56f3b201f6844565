//! Who is calling: every credential the server accepts, tried in a fixed order, with
//! brute-force counting and audit of every refusal. Routes get the result through the
//! `authorize` middleware; services only ever see a `Principal`.
//!
//! Order: an RFC 9421 signature (`Signature-Input`), seed 001's `X-Token-Hash`, then
//! `X-API-Key` / `Authorization: Bearer` (an API key, or a session token `pcs_…`), then the
//! session cookie. The first credential present decides; a bad one is never "rescued" by
//! another.

use super::error::ApiError;
use super::middleware::client_ip::ClientIp;
use super::server::peer;
use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::auth::Role;
use crate::auth::lockout::{Lockout, group as ip_group};
use crate::auth::signature::replay::{Remember, ReplayCache};
use crate::auth::signature::{SignatureError, rfc9421, token_hash};
use crate::auth::{
    AuthError, AuthMethod, KeyVerifier, Principal, Refusal, SessionManager, key_format,
};
use crate::config::RoleRates;
use crate::limits::{self, Decision, Limiter, RateSpec, Refill};
use crate::store::KeyQuota;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Name of the web-login session cookie.
pub const SESSION_COOKIE: &str = "portcullis_session";
/// Header carrying the CSRF token on cookie-authenticated requests that change state.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Settings that shape authentication.
#[derive(Debug, Clone)]
pub struct AuthnPolicy {
    /// Accepted clock difference for signatures, seconds.
    pub window: i64,
    /// Route groups that require a signature.
    pub signed_groups: Vec<String>,
    /// Session tokens accepted as bearer tokens.
    pub session_bearer: bool,
    /// Session cookie accepted.
    pub session_cookie: bool,
    /// `http` or `https`, as clients address this server (for `@target-uri`).
    pub scheme: &'static str,
}

/// How much each caller may do.
#[derive(Debug, Clone)]
pub struct RatePolicy {
    /// Default per key, by role.
    pub roles: RoleRates,
    /// Per address, for unauthenticated routes and failed authentication.
    pub per_address: RateSpec,
    /// Extra per route group.
    pub groups: BTreeMap<String, RateSpec>,
    /// When false, nothing is counted.
    pub enabled: bool,
}

/// The IETF RateLimit headers of a limited response
/// (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateHeaders {
    /// `"<name>";q=<count>;w=<window seconds>`
    pub policy: String,
    /// `"<name>";r=<remaining>;t=<seconds until full>`
    pub state: String,
}

impl RateHeaders {
    fn new(name: &str, spec: &RateSpec, decision: &Decision) -> Self {
        Self {
            policy: format!("\"{name}\";q={};w={}", spec.count, spec.period_secs),
            state: format!(
                "\"{name}\";r={};t={}",
                decision.remaining, decision.reset_secs
            ),
        }
    }

    /// Add the headers to `response`.
    pub fn apply(&self, response: &mut Response) {
        if let (Ok(policy), Ok(state)) = (
            HeaderValue::from_str(&self.policy),
            HeaderValue::from_str(&self.state),
        ) {
            response.headers_mut().insert("ratelimit-policy", policy);
            response.headers_mut().insert("ratelimit", state);
        }
    }
}

/// Authenticates requests.
pub struct Authenticator {
    /// API keys.
    pub verifier: Arc<KeyVerifier>,
    /// Sessions.
    pub sessions: SessionManager,
    /// Failure counters.
    pub lockout: Arc<Lockout>,
    /// Nonces of signed requests (local; Redis is used instead when configured).
    pub replay: ReplayCache,
    /// Audit trail.
    pub audit: AuditLog,
    /// Policy.
    pub policy: AuthnPolicy,
    /// Counts requests.
    pub limiter: Arc<Limiter>,
    /// Rate limits.
    pub rates: RatePolicy,
}

/// A refusal on its way out: the response, and what to log.
struct Failure {
    error: ApiError,
    reason: String,
    kind: &'static str,
    key_prefix: Option<String>,
    /// Whether this looks like guessing a secret (counts towards a lockout).
    guess: bool,
}

impl Failure {
    fn refused(reason: Refusal, key_prefix: Option<String>) -> Self {
        Self {
            error: ApiError::Unauthenticated,
            reason: reason.as_str().to_owned(),
            kind: "auth.failure",
            key_prefix,
            guess: matches!(
                reason,
                Refusal::Unknown | Refusal::WrongSecret | Refusal::BadChecksum | Refusal::Malformed
            ),
        }
    }

    fn signature(err: SignatureError) -> Self {
        Self {
            guess: matches!(
                err,
                SignatureError::Invalid | SignatureError::UnknownSession
            ),
            reason: err.to_string(),
            error: ApiError::Signature(err),
            kind: "signature.failure",
            key_prefix: None,
        }
    }

    fn from_auth(err: AuthError, key_prefix: Option<String>) -> Self {
        match err {
            AuthError::Refused(reason) => Self::refused(reason, key_prefix),
            AuthError::Store(err) => Self {
                guess: false,
                error: err.into(),
                reason: "store".into(),
                kind: "",
                key_prefix,
            },
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Failure> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| Failure::refused(Refusal::Malformed, None))
        })
        .transpose()
}

/// The client address of a request: resolved through trusted proxies, else the peer.
pub fn client_ip(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .or_else(|| peer(request.extensions()).map(|a| a.ip()))
}

/// The client address and the matched route of a request, for logs and audit.
pub fn origin(request: &Request) -> (Option<IpAddr>, Option<String>) {
    let client = client_ip(request);
    (
        client,
        request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned()),
    )
}

impl Authenticator {
    /// Authenticate `request` for a route in `group`. Returns the principal and the request
    /// (whose body may have been read and put back for signature checks).
    pub async fn authenticate(
        &self,
        request: Request,
        group: &str,
    ) -> Result<(Principal, Request), ApiError> {
        let client = client_ip(&request);
        // A cheap handle (an `Arc` inside); made into text only if something is logged.
        let matched = request.extensions().get::<MatchedPath>().cloned();
        let route = || matched.as_ref().map(|p| p.as_str().to_owned());
        if let Some(ip) = client
            && let Err(wait) = self.lockout.check(ip, None)
        {
            return Err(ApiError::TooManyAttempts(wait));
        }
        match self.identify(request).await {
            Ok((principal, request)) => {
                if self.policy.signed_groups.iter().any(|g| g == group)
                    && !matches!(
                        principal.method,
                        AuthMethod::Signature | AuthMethod::TokenHash
                    )
                {
                    self.refuse(
                        Failure {
                            guess: false,
                            error: ApiError::SignatureRequired,
                            reason: "signature_required".into(),
                            kind: "signature.failure",
                            key_prefix: None,
                        },
                        client,
                        route(),
                        Some(&principal),
                    )
                    .await;
                    return Err(ApiError::SignatureRequired);
                }
                Ok((principal, request))
            }
            Err(failure) => {
                // Failed authentication counts against the address first, so a flood of bad
                // keys turns into 429s at the address limit — without a log line or an audit
                // record for each.
                if let Some(ip) = client
                    && let Err((limited, _)) = self.limit_address(ip, None).await
                {
                    return Err(limited);
                }
                Err(self.refuse_owned(failure, client, route()).await)
            }
        }
    }

    /// Count an authenticated request against its key's rate limit, its route group's, and
    /// its quota.
    pub async fn limit_key(
        &self,
        principal: &Principal,
        group: &str,
    ) -> Result<Option<RateHeaders>, (ApiError, Option<RateHeaders>)> {
        if !self.rates.enabled {
            return Ok(None);
        }
        let spec = principal
            .rate_limit
            .as_deref()
            .and_then(|text| RateSpec::parse(text).ok())
            .unwrap_or(match principal.role {
                Role::Admin => self.rates.roles.admin,
                Role::User => self.rates.roles.user,
                Role::Device => self.rates.roles.device,
            });
        // The rate is part of the bucket name: changing a key's rate starts a fresh bucket
        // instead of judging the new rate by the old one's schedule.
        let bucket = format!("key:{}:{spec}", principal.key_id);
        let decision = self
            .limiter
            .check(&bucket, &spec)
            .await
            .map_err(|_| (ApiError::LimiterUnavailable, None))?;
        let mut headers = RateHeaders::new("key", &spec, &decision);
        if !decision.allowed {
            return Err((
                ApiError::RateLimited(Duration::from_secs(decision.retry_after_secs)),
                Some(headers),
            ));
        }
        if let Some(group_spec) = self.rates.groups.get(group) {
            let bucket = format!("group:{group}:key:{}", principal.key_id);
            let decision = self
                .limiter
                .check(&bucket, group_spec)
                .await
                .map_err(|_| (ApiError::LimiterUnavailable, None))?;
            let group_headers = RateHeaders::new(group, group_spec, &decision);
            if !decision.allowed {
                return Err((
                    ApiError::RateLimited(Duration::from_secs(decision.retry_after_secs)),
                    Some(group_headers),
                ));
            }
            headers = group_headers;
        }
        if let Some(quota) = &principal.quota {
            self.consume_quota(principal, quota)
                .await
                .map_err(|e| (e, Some(headers.clone())))?;
        }
        Ok(Some(headers))
    }

    async fn consume_quota(&self, principal: &Principal, quota: &KeyQuota) -> Result<(), ApiError> {
        let Some(refill) = Refill::parse(&quota.refill) else {
            return Ok(());
        };
        let now = self.sessions.clock_now();
        let (start, end) = limits::quota::period(refill, quota.set_at, now);
        let used = if quota.period_start == Some(start) {
            quota.used
        } else {
            0
        };
        let counter = format!("quota:{}:{}:{}", principal.key_id, quota.set_at, start);
        let ttl = Duration::from_secs(
            u64::try_from(
                end.unwrap_or(now.unix_timestamp() + 400 * 86_400) - now.unix_timestamp(),
            )
            .unwrap_or(0)
                + 86_400,
        );
        match self
            .limiter
            .consume_quota(&counter, quota.limit, used, ttl)
            .await
        {
            Ok(Some(remaining)) => {
                self.verifier.note_quota_use(
                    &principal.key_id,
                    quota.set_at,
                    start,
                    quota.limit - remaining,
                );
                Ok(())
            }
            Ok(None) => {
                self.verifier
                    .note_quota_use(&principal.key_id, quota.set_at, start, quota.limit);
                Err(ApiError::QuotaExhausted(
                    end.and_then(crate::auth::keys::rfc3339),
                ))
            }
            Err(_) => Err(ApiError::LimiterUnavailable),
        }
    }

    /// Count a request from `ip` (an unauthenticated route, or failed authentication), and
    /// against `group`'s limit when one is configured.
    pub async fn limit_address(
        &self,
        ip: IpAddr,
        group: Option<&str>,
    ) -> Result<Option<RateHeaders>, (ApiError, Option<RateHeaders>)> {
        if !self.rates.enabled {
            return Ok(None);
        }
        let spec = self.rates.per_address;
        let decision = self
            .limiter
            .check(&format!("addr:{}", ip_group(ip)), &spec)
            .await
            .map_err(|_| (ApiError::LimiterUnavailable, None))?;
        let mut headers = RateHeaders::new("address", &spec, &decision);
        if !decision.allowed {
            return Err((
                ApiError::RateLimited(Duration::from_secs(decision.retry_after_secs)),
                Some(headers),
            ));
        }
        if let Some(group) = group
            && let Some(group_spec) = self.rates.groups.get(group)
        {
            let decision = self
                .limiter
                .check(&format!("group:{group}:addr:{}", ip_group(ip)), group_spec)
                .await
                .map_err(|_| (ApiError::LimiterUnavailable, None))?;
            headers = RateHeaders::new(group, group_spec, &decision);
            if !decision.allowed {
                return Err((
                    ApiError::RateLimited(Duration::from_secs(decision.retry_after_secs)),
                    Some(headers),
                ));
            }
        }
        Ok(Some(headers))
    }

    async fn refuse_owned(
        &self,
        failure: Failure,
        client: Option<IpAddr>,
        route: Option<String>,
    ) -> ApiError {
        let Failure {
            error,
            reason,
            kind,
            key_prefix,
            guess,
        } = failure;
        self.refuse(
            Failure {
                guess,
                error: ApiError::Unauthenticated,
                reason,
                kind,
                key_prefix,
            },
            client,
            route,
            None,
        )
        .await;
        error
    }

    async fn refuse(
        &self,
        failure: Failure,
        client: Option<IpAddr>,
        route: Option<String>,
        principal: Option<&Principal>,
    ) {
        if failure.kind.is_empty() {
            return; // A store error: not the client's fault, logged where it is mapped.
        }
        let client_text = client.map(|ip| ip.to_string());
        tracing::warn!(
            reason = %failure.reason,
            key_prefix = %failure.key_prefix.as_deref().unwrap_or("-"),
            client = %client_text.as_deref().unwrap_or("-"),
            route = %route.as_deref().unwrap_or("-"),
            "authentication refused"
        );
        // Only guesses count towards a lockout: a missing credential, a stale signature or a
        // failed CSRF check is not an attempt to find a secret.
        if failure.guess
            && let Some(ip) = client
        {
            self.lockout.failure(ip, None);
        }
        let key_id = failure
            .key_prefix
            .as_deref()
            .and_then(|p| p.strip_prefix(key_format::PREFIX));
        let mut event = AuditEvent::new(failure.kind, Outcome::Failure, "request refused")
            .route(route.as_deref())
            .client(client_text)
            .with(
                "reason",
                failure.reason.chars().take(128).collect::<String>(),
            );
        event = match principal {
            Some(p) => event.actor_ids(Some(&p.owner_id), Some(&p.key_id)),
            None => event.actor_ids(None, key_id),
        };
        self.audit.record(event).await;
    }

    async fn identify(&self, request: Request) -> Result<(Principal, Request), Failure> {
        let headers = request.headers();
        if headers.contains_key("signature-input") || headers.contains_key("signature") {
            return self.rfc9421(request).await;
        }
        if headers.contains_key("x-token-hash") {
            return self.token_hash(request).await;
        }
        let api_key = header_str(headers, "x-api-key")?;
        let bearer = match header_str(headers, header::AUTHORIZATION.as_str())? {
            None => None,
            Some(value) => {
                let (scheme, token) = value
                    .split_once(' ')
                    .ok_or(Failure::refused(Refusal::Malformed, None))?;
                if !scheme.eq_ignore_ascii_case("bearer") {
                    return Err(Failure::refused(Refusal::Malformed, None));
                }
                Some(token.trim())
            }
        };
        let token = match (api_key, bearer) {
            (Some(_), Some(_)) => return Err(Failure::refused(Refusal::Malformed, None)),
            (Some(key), None) => Some(key),
            (None, bearer) => bearer,
        };
        if let Some(token) = token {
            let principal = if SessionManager::is_session_token(token) {
                if !self.policy.session_bearer || api_key.is_some() {
                    return Err(Failure::refused(Refusal::Malformed, None));
                }
                self.sessions
                    .authenticate(token, AuthMethod::SessionBearer)
                    .await
            } else {
                self.verifier.verify(token).await
            };
            return match principal {
                Ok(principal) => Ok((principal, request)),
                Err(err) => Err(Failure::from_auth(err, key_format::public_prefix(token))),
            };
        }
        if self.policy.session_cookie
            && let Some(token) = cookie(headers, SESSION_COOKIE)
        {
            let principal = self
                .sessions
                .authenticate(token, AuthMethod::SessionCookie)
                .await
                .map_err(|err| Failure::from_auth(err, None))?;
            if !matches!(
                *request.method(),
                Method::GET | Method::HEAD | Method::OPTIONS
            ) {
                let session = principal.session_id.as_deref().unwrap_or_default();
                let presented = header_str(request.headers(), CSRF_HEADER)?.unwrap_or_default();
                if !self.sessions.csrf_matches(session, presented) {
                    return Err(Failure {
                        guess: false,
                        error: ApiError::Csrf,
                        reason: "csrf".into(),
                        kind: "auth.failure",
                        key_prefix: None,
                    });
                }
            }
            return Ok((principal, request));
        }
        Err(Failure::refused(Refusal::Missing, None))
    }

    async fn rfc9421(&self, request: Request) -> Result<(Principal, Request), Failure> {
        let (parts, body) = read_body(request).await?;
        let now = self.sessions.now();
        let claim = rfc9421::claim(
            &rfc9421::RequestParts {
                method: &parts.method,
                uri: &parts.uri,
                headers: &parts.headers,
                scheme: self.policy.scheme,
                body: &body,
            },
            now,
            self.policy.window,
        )
        .map_err(Failure::signature)?;
        let (record, principal) = match self
            .sessions
            .live(&claim.keyid, AuthMethod::Signature)
            .await
        {
            Ok(found) => found,
            Err(AuthError::Refused(_)) => {
                return Err(Failure::signature(SignatureError::UnknownSession));
            }
            Err(err) => return Err(Failure::from_auth(err, None)),
        };
        let token = self.sessions.token_for(&record);
        rfc9421::verify(&claim, token.expose().as_bytes()).map_err(Failure::signature)?;
        // Nonces are shared through Redis when it is configured, so a request captured on one
        // node cannot be replayed on another; otherwise (or while Redis is down) this node's
        // memory decides.
        let nonce_key = format!("nonce:{}:{}", claim.keyid, claim.nonce);
        match self.replay.remember_shared(&self.limiter, nonce_key).await {
            Remember::Fresh => {}
            Remember::Replay => return Err(Failure::signature(SignatureError::Replayed)),
            Remember::Full => return Err(Failure::signature(SignatureError::ReplayCacheFull)),
        }
        Ok((principal, Request::from_parts(parts, Body::from(body))))
    }

    async fn token_hash(&self, request: Request) -> Result<(Principal, Request), Failure> {
        let key = header_str(request.headers(), "x-token")?
            .ok_or(Failure::signature(SignatureError::MissingParameter(
                "X-Token",
            )))?
            .to_owned();
        let presented = header_str(request.headers(), "x-token-hash")?
            .unwrap_or_default()
            .to_owned();
        let prefix = key_format::public_prefix(&key);
        let mut principal = self
            .verifier
            .verify(&key)
            .await
            .map_err(|err| Failure::from_auth(err, prefix.clone()))?;
        let (parts, body) = read_body(request).await?;
        // Each candidate second costs an HMAC over the whole body: bound the body and the
        // number of sessions tried, so one key holder cannot make a request cost seconds.
        if body.len() > token_hash::MAX_BODY {
            return Err(Failure::signature(SignatureError::BodyTooLarge));
        }
        let now = self.sessions.now();
        let mut sessions = self
            .sessions
            .live_for_key(&principal.key_id)
            .await
            .map_err(|err| Failure::from_auth(err.into(), prefix.clone()))?;
        sessions.truncate(token_hash::MAX_SESSIONS);
        let signer = sessions.iter().find(|(_, token)| {
            token_hash::matches(token.expose(), &body, &presented, now, self.policy.window)
        });
        let Some((session, _)) = signer else {
            return Err(Failure::signature(if sessions.is_empty() {
                SignatureError::UnknownSession
            } else {
                SignatureError::Invalid
            }));
        };
        principal.session_id = Some(session.id.clone());
        principal.method = AuthMethod::TokenHash;
        Ok((principal, Request::from_parts(parts, Body::from(body))))
    }
}

/// Read the whole body (already bounded by the body-limit layer) so a signature can cover it.
async fn read_body(
    request: Request,
) -> Result<(axum::http::request::Parts, axum::body::Bytes), Failure> {
    let (parts, body) = request.into_parts();
    match body_bytes(body).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(error) => Err(Failure {
            guess: false,
            error,
            reason: "body".into(),
            kind: "",
            key_prefix: None,
        }),
    }
}

/// Collect a body bounded by the body-limit layer: 413 when over the limit, 400 otherwise.
pub async fn body_bytes(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, usize::MAX).await.map_err(|err| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if e.is::<http_body_util::LengthLimitError>() {
                return ApiError::PayloadTooLarge;
            }
            source = e.source();
        }
        ApiError::BadRequest("The body could not be read".into())
    })
}

/// The value of cookie `name`, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value for the session cookie (`max_age` zero clears it).
pub fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}
