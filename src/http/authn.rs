//! Who is calling: every credential the server accepts, tried in a fixed order, with
//! brute-force counting and audit of every refusal. Routes get the result through the
//! `authorize` middleware; services only ever see a `Principal`.
//!
//! Order: an RFC 9421 signature (`Signature-Input`), seed 001's `X-Token-Hash`, then
//! `X-API-Key` / `Authorization: Bearer` (an API key, or a session token `pcs_…`), then the
//! session cookie. The first credential present decides; a bad one is never "rescued" by
//! another.

use super::error::ApiError;
use crate::audit::{AuditEvent, AuditLog};
pub use crate::auth::authn_policy::AuthnPolicy;
use crate::auth::lockout::Lockout;
use crate::auth::signature::replay::{Remember, ReplayCache};
use crate::auth::signature::{SignatureError, rfc9421, token_hash};
use crate::auth::{
    AuthError, AuthMethod, KeyVerifier, Principal, Refusal, SessionManager, key_format,
};
pub use crate::http::cookies::{CSRF_HEADER, SESSION_COOKIE, cookie, session_cookie};
pub use crate::http::rate_headers::RateHeaders;
use crate::http::rate_headers::over_limit;
pub use crate::http::request_facts::{body_bytes, client_ip, origin};
use crate::limits::policy::Caller;
pub use crate::limits::policy::RatePolicy;
use crate::limits::{self, Limiter, RateSpec, Refill};
use crate::store::KeyQuota;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

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

/// An authenticated request, counted against its key's limits.
pub struct Admitted {
    /// Who is calling.
    pub principal: Principal,
    /// The request (its body read and put back when a signature covered it).
    pub request: Request,
    /// The RateLimit headers for the response.
    pub rate: Option<RateHeaders>,
}

/// A request turned away: the error, and the RateLimit headers when a limit decided.
pub struct Denied {
    /// The answer.
    pub error: ApiError,
    /// RateLimit headers of the limit that refused, if one did.
    pub rate: Option<RateHeaders>,
}

impl From<ApiError> for Denied {
    fn from(error: ApiError) -> Self {
        Self { error, rate: None }
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(rate) = self.rate {
            rate.apply(&mut response);
        }
        response
    }
}

/// Why authentication did not admit a request.
enum Failure {
    /// Over a limit: answered at once, without an audit record or a lockout count (the
    /// limit itself is the defence, and recording each would undo it).
    Limited(Denied),
    /// Not decided by the client (the store is down, the body could not be read).
    Error(ApiError),
    /// Refused: counted against the address, recorded (aggregated) in the audit trail.
    Refused(Box<Refused>),
}

/// A refusal on its way out: the response, and what to record. Every field recorded is
/// bounded by construction: a code, a kind, a public key id.
struct Refused {
    error: ApiError,
    reason: &'static str,
    kind: &'static str,
    key_prefix: Option<String>,
    /// Whether this looks like guessing a secret (counts towards a lockout).
    guess: bool,
    /// The caller, when it was identified before being refused.
    actor: Option<(String, String)>,
}

impl Failure {
    fn refused(reason: Refusal, key_prefix: Option<String>) -> Self {
        Self::Refused(Box::new(Refused {
            error: ApiError::Unauthenticated,
            reason: reason.as_str(),
            kind: "auth.failure",
            key_prefix,
            guess: matches!(
                reason,
                Refusal::Unknown | Refusal::WrongSecret | Refusal::BadChecksum | Refusal::Malformed
            ),
            actor: None,
        }))
    }

    fn signature(err: SignatureError) -> Self {
        Self::Refused(Box::new(Refused {
            guess: err.is_guess(),
            reason: err.code(),
            error: ApiError::Signature(err),
            kind: "signature.failure",
            key_prefix: None,
            actor: None,
        }))
    }

    fn from_auth(err: AuthError, key_prefix: Option<String>) -> Self {
        match err {
            AuthError::Refused(reason) => Self::refused(reason, key_prefix),
            AuthError::Store(err) => Self::Error(err.into()),
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

fn limited((error, rate): (ApiError, Option<RateHeaders>)) -> Failure {
    Failure::Limited(Denied { error, rate })
}

impl Authenticator {
    /// Authenticate `request` for a route in `group`, and count it against the caller's key
    /// (and the group's) limits and quota. Costly checks (an HMAC over the body, remembering
    /// a nonce) run only after the key's limit has allowed the request; a refusal counts
    /// against the client address, and against the key when the key was identified.
    pub async fn authenticate(&self, request: Request, group: &str) -> Result<Admitted, Denied> {
        let client = client_ip(&request);
        // A cheap handle (an `Arc` inside); made into text only if something is recorded.
        let matched = request.extensions().get::<MatchedPath>().cloned();
        let route = || matched.as_ref().map(|p| p.as_str().to_owned());
        if let Some(ip) = client
            && let Err(wait) = self.lockout.check(ip, None)
        {
            return Err(ApiError::TooManyAttempts(wait).into());
        }
        let failure = match self.identify(request, group, client).await {
            Ok(admitted) => match self.unsigned_refusal(&admitted.principal, group) {
                None => return Ok(admitted),
                Some(refused) => Failure::Refused(Box::new(refused)),
            },
            Err(failure) => failure,
        };
        match failure {
            Failure::Limited(denied) => Err(denied),
            Failure::Error(error) => Err(error.into()),
            Failure::Refused(refused) => {
                // A refusal counts against the address first, so a flood of bad credentials
                // turns into 429s at the address limit, without a record for each.
                if let Some(ip) = client
                    && let Err(limit) = self.limit_address(ip, None).await
                {
                    return Err(Denied {
                        error: limit.0,
                        rate: limit.1,
                    });
                }
                self.record_refusal(&refused, client, route()).await;
                Err(refused.error.into())
            }
        }
    }

    /// The refusal of a request in a group that requires a signature, when it is not signed
    /// (or signed with a scheme the settings do not accept there).
    fn unsigned_refusal(&self, principal: &Principal, group: &str) -> Option<Refused> {
        if !self.policy.signed_groups.iter().any(|g| g == group) {
            return None;
        }
        let accepted = match principal.method {
            AuthMethod::Signature => true,
            AuthMethod::TokenHash => self.policy.token_hash_signs,
            _ => false,
        };
        (!accepted).then(|| Refused {
            error: ApiError::SignatureRequired {
                rfc9421_only: !self.policy.token_hash_signs,
            },
            reason: "signature_required",
            kind: "signature.failure",
            key_prefix: None,
            guess: false,
            actor: Some((principal.owner_id.clone(), principal.key_id.clone())),
        })
    }

    /// Count an authenticated request against its key's rate limit, its route group's, and
    /// its quota.
    pub async fn limit_key(
        &self,
        principal: &Principal,
        group: &str,
    ) -> Result<Option<RateHeaders>, (ApiError, Option<RateHeaders>)> {
        let caller = Caller::Key {
            id: &principal.key_id,
            rate: principal
                .rate_limit
                .as_deref()
                .and_then(|text| RateSpec::parse(text).ok()),
            role: principal.role.as_str(),
        };
        let headers = over_limit(self.rates.count(&self.limiter, &caller, Some(group)).await)?;
        if let Some(quota) = &principal.quota {
            self.consume_quota(principal, quota)
                .await
                .map_err(|e| (e, headers.clone()))?;
        }
        Ok(headers)
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
        over_limit(
            self.rates
                .count(&self.limiter, &Caller::Address(ip), group)
                .await,
        )
    }

    /// Whether `ip` is still within its address limit (refusals spend it), without counting
    /// this request: costly work is not done for an address that has spent it already.
    async fn address_has_room(&self, ip: IpAddr) -> Result<(), Failure> {
        match self.rates.address_has_room(&self.limiter, ip).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Limited(
                ApiError::RateLimited(Duration::from_secs(1)).into(),
            )),
            Err(_) => Err(Failure::Limited(ApiError::LimiterUnavailable.into())),
        }
    }

    /// Record a refusal: a log line, a lockout count when it looks like guessing, and an
    /// audit event of bounded fields (repeats from one address are aggregated by the log).
    async fn record_refusal(
        &self,
        refused: &Refused,
        client: Option<IpAddr>,
        route: Option<String>,
    ) {
        let client_text = client.map(|ip| ip.to_string());
        tracing::warn!(
            reason = refused.reason,
            key_prefix = %refused.key_prefix.as_deref().unwrap_or("-"),
            client = %client_text.as_deref().unwrap_or("-"),
            route = %route.as_deref().unwrap_or("-"),
            "authentication refused"
        );
        // Only guesses count towards a lockout: a missing credential, a stale signature, an
        // ended session or a failed CSRF check is not an attempt to find a secret.
        if refused.guess
            && let Some(ip) = client
        {
            self.lockout.failure(ip, None);
        }
        let event = AuditEvent::refused(
            refused.kind,
            "request refused",
            route.as_deref(),
            client,
            refused.reason,
        );
        let event = match &refused.actor {
            Some((owner_id, key_id)) => event.actor_ids(Some(owner_id), Some(key_id)),
            None => event.actor_ids(
                None,
                refused
                    .key_prefix
                    .as_deref()
                    .and_then(|p| p.strip_prefix(key_format::PREFIX)),
            ),
        };
        self.audit.record(event).await;
    }

    /// Find the credential, verify it, and count the request against the key's limits.
    async fn identify(
        &self,
        request: Request,
        group: &str,
        client: Option<IpAddr>,
    ) -> Result<Admitted, Failure> {
        let headers = request.headers();
        if headers.contains_key("signature-input") || headers.contains_key("signature") {
            return self.rfc9421(request, group).await;
        }
        if headers.contains_key("x-token-hash") {
            return self.token_hash(request, group, client).await;
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
            let principal = principal
                .map_err(|err| Failure::from_auth(err, key_format::public_prefix(token)))?;
            let rate = self.limit_key(&principal, group).await.map_err(limited)?;
            return Ok(Admitted {
                principal,
                request,
                rate,
            });
        }
        if self.policy.session_cookie
            && let Some(token) = single_cookie(headers, SESSION_COOKIE)?
        {
            let principal = self
                .sessions
                .authenticate(token, AuthMethod::SessionCookie)
                .await
                .map_err(|err| Failure::from_auth(err, None))?;
            // Counted before the CSRF check: a refusal spends the key's budget too.
            let rate = self.limit_key(&principal, group).await.map_err(limited)?;
            if !matches!(
                *request.method(),
                Method::GET | Method::HEAD | Method::OPTIONS
            ) {
                let session = principal.session_id.as_deref().unwrap_or_default();
                let presented = header_str(request.headers(), CSRF_HEADER)?.unwrap_or_default();
                if !self.sessions.csrf_matches(session, presented) {
                    return Err(Failure::Refused(Box::new(Refused {
                        guess: false,
                        error: ApiError::Csrf,
                        reason: "csrf",
                        kind: "auth.failure",
                        key_prefix: None,
                        actor: Some((principal.owner_id.clone(), principal.key_id.clone())),
                    })));
                }
            }
            return Ok(Admitted {
                principal,
                request,
                rate,
            });
        }
        Err(Failure::refused(Refusal::Missing, None))
    }

    /// RFC 9421: parse and check the signature's parameters (cheap), find the session,
    /// verify the HMAC over the signature base (one HMAC), then count the key's limit, and
    /// only then read the body, check its digest and remember the nonce.
    async fn rfc9421(&self, request: Request, group: &str) -> Result<Admitted, Failure> {
        let now = self.sessions.now();
        let (parts, body) = request.into_parts();
        let claim = rfc9421::claim(
            &rfc9421::RequestParts {
                method: &parts.method,
                uri: &parts.uri,
                headers: &parts.headers,
                scheme: self.policy.scheme,
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
            Err(AuthError::Refused(Refusal::Unknown)) => {
                return Err(Failure::signature(SignatureError::UnknownSession));
            }
            // It existed: ended, expired, or its key is no longer usable.
            Err(AuthError::Refused(_)) => {
                return Err(Failure::signature(SignatureError::SessionEnded));
            }
            Err(err) => return Err(Failure::from_auth(err, None)),
        };
        let token = self.sessions.token_for(&record);
        rfc9421::verify(&claim, token.expose().as_bytes()).map_err(Failure::signature)?;
        let rate = self.limit_key(&principal, group).await.map_err(limited)?;
        let body = read_body(body).await?;
        rfc9421::check_body(&claim, &body).map_err(Failure::signature)?;
        // Nonces are shared through Redis when it is configured, so a request captured on one
        // node cannot be replayed on another; otherwise (or while Redis is down) this node's
        // memory decides, where each key has its own share.
        let value = format!("{}:{}", claim.keyid, claim.nonce);
        match self
            .replay
            .remember_shared(&self.limiter, "nonce", &principal.key_id, &value)
            .await
        {
            Remember::Fresh => {}
            Remember::Replay => return Err(Failure::signature(SignatureError::Replayed)),
            Remember::Full => return Err(Failure::signature(SignatureError::ReplayCacheFull)),
        }
        Ok(Admitted {
            principal,
            request: Request::from_parts(parts, Body::from(body)),
            rate,
        })
    }

    /// Seed 001's X-Token-Hash: the key in `X-Token` is checked (cheap), the key's limit
    /// counted and the address's checked, and only then is the body hashed, at most
    /// `token_hash::MAX_WORK_BYTES` for the whole request.
    async fn token_hash(
        &self,
        request: Request,
        group: &str,
        client: Option<IpAddr>,
    ) -> Result<Admitted, Failure> {
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
        let rate = self.limit_key(&principal, group).await.map_err(limited)?;
        if let Some(ip) = client {
            self.address_has_room(ip).await?;
        }
        let (parts, body) = request.into_parts();
        let body = read_body(body).await?;
        if body.len() > token_hash::MAX_BODY {
            return Err(Failure::signature(SignatureError::BodyTooLarge));
        }
        let now = self.sessions.now();
        let mut sessions = self
            .sessions
            .live_for_key(&principal.key_id)
            .await
            .map_err(|err| Failure::from_auth(err.into(), prefix.clone()))?;
        sessions.truncate(token_hash::sessions_within_budget(
            body.len(),
            self.policy.window,
        ));
        let signer = sessions.iter().find(|(_, token)| {
            token_hash::matches(token.expose(), &body, &presented, now, self.policy.window)
        });
        let Some((session, _)) = signer else {
            return Err(Failure::signature(if sessions.is_empty() {
                // The key is good; its sessions have ended. Not a guess.
                SignatureError::SessionEnded
            } else {
                SignatureError::Invalid
            }));
        };
        principal.session_id = Some(session.id.clone());
        principal.method = AuthMethod::TokenHash;
        Ok(Admitted {
            principal,
            request: Request::from_parts(parts, Body::from(body)),
            rate,
        })
    }
}

/// Read the whole body (already bounded by the body-limit layer) so a signature can cover it.
async fn read_body(body: Body) -> Result<axum::body::Bytes, Failure> {
    body_bytes(body).await.map_err(Failure::Error)
}

/// The value of cookie `name` when it appears once; two of them (a cookie tossed in from a
/// sibling domain beside ours, say) are refused rather than one picked.
fn single_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Failure> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim());
    let first = found.next();
    if found.next().is_some() {
        return Err(Failure::refused(Refusal::Malformed, None));
    }
    Ok(first)
}
