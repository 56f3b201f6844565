//! Who is calling, and may they: every credential the server accepts, tried in a fixed
//! order (see [`credential`]), with lockout, rate limits and quota counted at the right
//! moments and every refusal recorded. It reads a request only through [`RequestFacts`] and
//! [`RequestBody`], so the same decision serves the server's own routes (the HTTP layer's
//! `authorize` middleware) and a request forwarded for a decision, whose permission comes
//! from its target rather than from where a route is mounted.
//!
//! The order of the work is the defence: the address's lockout first (free), then the
//! credential's cheap checks, then the key's limits, and only then anything costly (an HMAC
//! over the body, remembering a nonce). A refusal counts against the client address, so a
//! flood of bad credentials turns into 429s at the address limit, without a record for each.

mod credential;
mod denial;
mod login;
mod refusal;
mod request;
mod signed;
mod verification;

pub use credential::{CSRF_HEADER, SESSION_COOKIE};
pub use denial::{Denial, Denied};
pub use login::{LoginDenied, LoginOutcome};
pub use request::{BodyError, NoBody, RequestBody, RequestFacts};
pub use verification::{KeyCheck, RateView, VerifyCode};

use super::authn_policy::AuthnPolicy;
use super::lockout::Lockout;
use super::signature::replay::ReplayCache;
use super::{AuthMethod, KeyVerifier, Permission, Principal, Refusal, SessionManager, key_format};
use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::limits::policy::{Caller, Counted, OverLimit, RatePolicy};
use crate::limits::quota::QuotaRefusal;
use crate::limits::{Limiter, RateSpec};
use crate::telemetry::metrics::metrics;
use credential::Credential;
use http::Method;
use refusal::{Failure, Refused, limited, over_limit};
use std::net::IpAddr;
use std::sync::Arc;

/// Authenticates requests: one per server, shared by every route.
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
#[derive(Debug)]
pub struct Admitted<'a> {
    /// Who is calling.
    pub principal: Principal,
    /// The limit that counted last, whose state the response reports.
    pub rate: Option<Counted<'a>>,
}

impl Authenticator {
    /// Authenticate a request for a route in `group` that needs `permission`: who is
    /// calling, counted against the key's limits (a denied request spends them too), then
    /// whether the key's role grants the permission (a denial is logged and audited).
    pub async fn authorize<'a>(
        &'a self,
        facts: &RequestFacts<'_>,
        body: &mut impl RequestBody,
        group: &'a str,
        permission: Permission,
    ) -> Result<Admitted<'a>, Denied<'a>> {
        let admitted = self.authenticate(facts, body, group).await?;
        let principal = &admitted.principal;
        if principal.may(permission) {
            return Ok(admitted);
        }
        tracing::warn!(
            key_id = %principal.key_id,
            role = %principal.role,
            permission = %permission.as_str(),
            client = %facts.client.map(|ip| ip.to_string()).as_deref().unwrap_or("-"),
            route = %facts.route.unwrap_or("-"),
            "permission denied"
        );
        self.audit
            .record(
                AuditEvent::new("permission.denied", Outcome::Denied, "permission denied")
                    .route(facts.route)
                    .client(facts.client)
                    .actor_ids(Some(&principal.owner_id), Some(&principal.key_id))
                    .with("permission", permission.as_str())
                    .with("role", principal.role.as_str()),
            )
            .await;
        Err(Denied {
            denial: Denial::Forbidden(permission.required_role()),
            rate: None,
            caller: Some(Box::new(admitted.principal)),
        })
    }

    /// Authenticate a request for a route in `group`, and count it against the caller's key
    /// (and the group's) limits and quota. Costly checks (an HMAC over the body, remembering
    /// a nonce) run only after the key's limit has allowed the request; a refusal counts
    /// against the client address, and against the key when the key was identified.
    pub async fn authenticate<'a>(
        &'a self,
        facts: &RequestFacts<'_>,
        body: &mut impl RequestBody,
        group: &'a str,
    ) -> Result<Admitted<'a>, Denied<'a>> {
        if let Some(ip) = facts.client
            && let Err(wait) = self.lockout.check(ip, None)
        {
            metrics().locked_out();
            return Err(Denial::LockedOut(wait).into());
        }
        let failure = match self.identify(facts, body, group).await {
            Ok(admitted) => match self.unsigned_refusal(&admitted.principal, group) {
                None => {
                    metrics().authenticated(admitted.principal.method.as_str());
                    return Ok(admitted);
                }
                Some(refused) => Failure::Refused(Box::new(refused)),
            },
            Err(failure) => failure,
        };
        match failure {
            Failure::Limited(denied) => Err(denied),
            Failure::Error(denial) => Err(denial.into()),
            Failure::Refused(refused) => {
                if let Some(ip) = facts.client {
                    self.limit_address(ip, None).await?;
                }
                self.record_refusal(&refused, facts.client, facts.route)
                    .await;
                Err(refused.denial.into())
            }
        }
    }

    /// Count a request from `ip` (a route without authentication, or failed
    /// authentication), and against `group`'s limit when one is configured.
    pub async fn limit_address<'a>(
        &'a self,
        ip: IpAddr,
        group: Option<&'a str>,
    ) -> Result<Option<Counted<'a>>, Denied<'a>> {
        self.rates
            .count(&self.limiter, &Caller::Address(ip), group)
            .await
            .map_err(over_limit)
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
            denial: Denial::SignatureRequired {
                rfc9421_only: !self.policy.token_hash_signs,
            },
            reason: "signature_required",
            kind: "signature.failure",
            key_prefix: None,
            guess: false,
            actor: Some(principal.clone()),
        })
    }

    /// Count an authenticated request against its key's rate limit, its route group's, and
    /// its quota; a refusal is answered at once.
    async fn limit_key<'a>(
        &'a self,
        principal: &Principal,
        group: &'a str,
    ) -> Result<Option<Counted<'a>>, Failure<'a>> {
        self.count_key_use(principal, Some(group), 1)
            .await
            .map_err(limited)
    }

    /// Count one use of a key: its rate limit, its route group's when there is one, and
    /// `cost` uses of its quota; a counted quota use is noted on the key's cached record.
    /// Requests and verifications on behalf of another service both count here.
    async fn count_key_use<'a>(
        &'a self,
        principal: &Principal,
        group: Option<&'a str>,
        cost: i64,
    ) -> Result<Option<Counted<'a>>, OverLimit<'a>> {
        let caller = Caller::Key {
            id: &principal.key_id,
            rate: principal
                .rate_limit
                .as_deref()
                .and_then(|text| RateSpec::parse(text).ok()),
            role: principal.role.as_str(),
        };
        let verdict = self
            .rates
            .admit_key(
                &self.limiter,
                &caller,
                group,
                principal.quota.as_ref(),
                cost,
                || self.sessions.clock_now(),
            )
            .await;
        let note = |usage: crate::limits::quota::QuotaUse| {
            self.verifier.note_quota_use(
                &principal.key_id,
                usage.set_at,
                usage.period_start,
                usage.used,
            );
        };
        match verdict {
            Ok(admission) => {
                if let Some(usage) = admission.quota {
                    note(usage);
                }
                Ok(admission.counted)
            }
            Err(over) => {
                if let OverLimit::Quota {
                    refusal: QuotaRefusal::Exhausted { usage, .. },
                    ..
                } = &over
                {
                    note(*usage);
                }
                Err(over)
            }
        }
    }

    /// Find the credential, verify it, and count the request against the key's limits.
    async fn identify<'a>(
        &'a self,
        facts: &RequestFacts<'_>,
        body: &mut impl RequestBody,
        group: &'a str,
    ) -> Result<Admitted<'a>, Failure<'a>> {
        let credential = credential::find(facts.headers, self.policy.session_cookie)?;
        let (token, api_key_header) = match credential {
            Credential::Signature => return self.rfc9421(facts, body, group).await,
            Credential::TokenHash { key, presented } => {
                return self.token_hash(facts, body, group, key, presented).await;
            }
            Credential::Cookie(token) => return self.cookie(facts, group, token).await,
            Credential::None => return Err(Failure::refused(Refusal::Missing, None)),
            Credential::Token {
                token,
                api_key_header,
            } => (token, api_key_header),
        };
        let principal = if SessionManager::is_session_token(token) {
            if !self.policy.session_bearer || api_key_header {
                return Err(Failure::malformed());
            }
            self.sessions
                .authenticate(token, AuthMethod::SessionBearer)
                .await
        } else {
            self.verifier.verify(token).await
        };
        let principal =
            principal.map_err(|err| Failure::from_auth(err, key_format::public_prefix(token)))?;
        let rate = self.limit_key(&principal, group).await?;
        Ok(Admitted { principal, rate })
    }

    /// The session cookie of a web login: a request that changes state must also carry the
    /// session's CSRF token.
    async fn cookie<'a>(
        &'a self,
        facts: &RequestFacts<'_>,
        group: &'a str,
        token: &str,
    ) -> Result<Admitted<'a>, Failure<'a>> {
        let principal = self
            .sessions
            .authenticate(token, AuthMethod::SessionCookie)
            .await
            .map_err(|err| Failure::from_auth(err, None))?;
        // Counted before the CSRF check: a refusal spends the key's budget too.
        let rate = self.limit_key(&principal, group).await?;
        if !matches!(*facts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let session = principal.session_id.as_deref().unwrap_or_default();
            let presented = credential::header_str(facts.headers, CSRF_HEADER)?.unwrap_or_default();
            if !self.sessions.csrf_matches(session, presented) {
                return Err(Failure::Refused(Box::new(Refused {
                    guess: false,
                    denial: Denial::Csrf,
                    reason: "csrf",
                    kind: "auth.failure",
                    key_prefix: None,
                    actor: Some(principal),
                })));
            }
        }
        Ok(Admitted { principal, rate })
    }
}

#[cfg(test)]
mod tests;
